package recv

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The grid formula of GridPlacer's comment, written out: what Place must
// compute. ok false: the heap is rejected.
func referenceGrid(g *GridPlacer, items []int64) (chunkID int64, index int64, ok bool) {
	if g.HeapLengthItem >= 0 && items[g.HeapLengthItem] != g.HeapSize {
		return -1, 0, false
	}
	tv := items[g.Time.Item]
	if tv < g.Time.Origin || tv-g.Time.Origin < 0 {
		return -1, 0, false
	}
	t := (tv - g.Time.Origin) / g.Time.Step
	index = (t % g.Time.Count) * g.Time.Stride
	for _, d := range g.Dims {
		v := items[d.Item]
		if v < d.Origin || v-d.Origin < 0 {
			return -1, 0, false
		}
		p := (v - d.Origin) / d.Step
		if p >= d.Count {
			return -1, 0, false
		}
		index += p * d.Stride
	}
	return t / g.Time.Count, index, true
}

// Place gives the formula's placement for steps and counts that are powers
// of two and those that are not, values on and around every boundary, and
// rejects (a negative chunk ID) heaps of the wrong length, values before an
// origin or beyond a dimension, and values whose distance from the origin
// overflows.
func TestGridPlacerFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int64{1, 2, 3, 4, 7, 8, 1000, 1024, 1 << 20, 1<<20 + 1}
	pick := func() int64 { return sizes[rng.IntN(len(sizes))] }
	for trial := 0; trial < 20000; trial++ {
		g := &GridPlacer{
			Time:           GridDim{Item: 0, Origin: rng.Int64N(2000) - 1000, Step: pick(), Count: pick(), Stride: pick()},
			HeapSize:       64,
			HeapLengthItem: 2,
			NumItems:       3,
		}
		if trial%2 == 0 {
			g.Dims = []GridDim{{Item: 1, Origin: rng.Int64N(10), Step: pick(), Count: pick(), Stride: 1}}
		}
		if err := g.Validate(); err != nil {
			t.Fatal(err)
		}
		items := []int64{0, 0, 64}
		switch trial % 5 {
		case 0:
			items[0] = math.MaxInt64 - rng.Int64N(3) // overflows against a negative origin
		case 1:
			items[0] = g.Time.Origin + rng.Int64N(3) - 1
		default:
			items[0] = g.Time.Origin + rng.Int64N(1<<40)
		}
		items[1] = rng.Int64N(1 << 22)
		if trial%7 == 0 {
			items[2] = 63 // wrong heap length
		}
		d := PlaceData{ChunkID: -1, Items: &items[0]}
		g.Place(&d)
		wantID, wantIndex, ok := referenceGrid(g, items)
		if !ok {
			if d.ChunkID >= 0 {
				t.Fatalf("grid %+v items %v: placed in chunk %d, want rejected", g, items, d.ChunkID)
			}
			continue
		}
		if d.ChunkID != wantID || int64(d.HeapIndex) != wantIndex || int64(d.HeapOffset) != wantIndex*g.HeapSize {
			t.Fatalf("grid %+v items %v: chunk %d index %d offset %d, want %d %d %d",
				g, items, d.ChunkID, d.HeapIndex, d.HeapOffset, wantID, wantIndex, wantIndex*g.HeapSize)
		}
	}
}
