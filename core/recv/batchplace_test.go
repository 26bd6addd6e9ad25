package recv

import (
	"math/rand"
	"reflect"
	"testing"
)

// Placing a slice's heaps ahead through a BatchPlacer gives exactly the
// outcome of placing each heap when its first packet is processed: the
// same chunks, bytes, statistics and number of place calls, for random
// batches larger than one slice with reordering, duplicates, losses,
// evictions (max_heaps 2) and heaps spanning slice boundaries.
func TestBatchPlacerEquivalence(t *testing.T) {
	for seed := int64(0); seed < 60; seed++ {
		rng := rand.New(rand.NewSource(seed))
		ooo := rng.Intn(2) == 0
		var pkts [][]byte
		for cnt := uint64(0); cnt < 40; cnt++ {
			hp := heapPackets(t, cnt, tHeapSize, tPacketPayload)
			if ooo {
				rng.Shuffle(len(hp), func(i, j int) { hp[i], hp[j] = hp[j], hp[i] })
			}
			for _, p := range hp {
				switch r := rng.Intn(20); {
				case r == 0: // lost
				case r == 1:
					pkts = append(pkts, p, p) // duplicated
				default:
					pkts = append(pkts, p)
				}
			}
		}
		// Interleave neighbouring heaps a little.
		for i := 0; i+1 < len(pkts); i++ {
			if rng.Intn(6) == 0 {
				pkts[i], pkts[i+1] = pkts[i+1], pkts[i]
			}
		}
		split := 1 + rng.Intn(len(pkts)-1)
		batches := [][][]byte{pkts[:split], pkts[split:]}

		type outcome struct {
			Ready []readyChunk
			Alloc []int64
			Stats map[string]uint64
			Calls int
		}
		run := func(batched bool) outcome {
			rec := newRecorder(tHeapsPerChunk, tChunkSize, 0)
			calls := 0
			s := newTestStreamWith(t, rec, 3, func(sc *StreamConfig, cc *ChunkStreamConfig) {
				sc.AllowOutOfOrder = ooo
				sc.MaxHeaps = 2
				counting := &countingPlacer{inner: cc.Place, calls: &calls}
				cc.Place = counting
				if batched {
					cc.Place = &testBatchPlacer{counting}
				}
			})
			for _, b := range batches {
				s.AddBatch(b)
			}
			s.Stop()
			return outcome{rec.ready, rec.allocated, statsOf(s), calls}
		}
		plain, batched := run(false), run(true)
		if !reflect.DeepEqual(plain, batched) {
			t.Fatalf("seed %d (out of order %v): outcomes differ\nper heap: %+v\nbatched:  %+v", seed, ooo, plain.Stats, batched.Stats)
		}
	}
}

// markStarted is a set over one slice's heap counters: true the first
// time a counter is marked, false after, for a full slice of counters
// from anywhere in the 64-bit range (nearby, far apart, the largest),
// and empty again once cleared.
func TestPrePlacerMarkStarted(t *testing.T) {
	var pp prePlacer
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 200; round++ {
		clear(pp.started[:])
		cnts := make([]uint64, 0, prePlaceCap)
		seen := map[uint64]bool{}
		for i := 0; len(cnts) < prePlaceCap; i++ {
			var c uint64
			switch round % 3 {
			case 0:
				c = uint64(round*prePlaceCap + i) // consecutive, as in a stream
			case 1:
				c = rng.Uint64() >> uint(rng.Intn(64))
			default:
				c = ^uint64(0) - 1 - uint64(i)*(1<<40) // near the top, far apart
			}
			if !seen[c] {
				seen[c] = true
				cnts = append(cnts, c)
			}
		}
		for i, c := range cnts {
			if !pp.markStarted(c) {
				t.Fatalf("round %d: counter %d (#%d) reported started before it was marked", round, c, i)
			}
			if pp.markStarted(c) {
				t.Fatalf("round %d: counter %d marked twice", round, c)
			}
		}
		for _, c := range cnts {
			if pp.markStarted(c) {
				t.Fatalf("round %d: counter %d forgotten after %d marks", round, c, len(cnts))
			}
		}
	}
}
