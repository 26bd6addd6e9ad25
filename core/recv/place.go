package recv

import (
	"encoding/binary"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/spead"
)

// PlaceData has exactly the memory layout of cg_place_data in
// include/chunkgroup.h, which is field for field spead2's
// chunk_place_data, so C place functions written for spead2 work. Each
// stream allocates one outside the Go heap, with its items array, batch
// statistics and extra scratch, so it can be handed to C unchanged.
type PlaceData struct {
	Packet      *byte   // the first packet of the heap
	PacketSize  uintptr // its size
	Items       *int64  // values of the requested items, -1 where absent
	ChunkID     int64   // out: -1 rejects the heap
	HeapIndex   uintptr // out: slot in present
	HeapOffset  uintptr // out: byte offset in the chunk payload
	BatchStats  *uint64 // per-batch statistics, by index
	Extra       *byte   // scratch of max_heap_extra bytes
	ExtraOffset uintptr // out: where the scratch goes in chunk.extra
	ExtraSize   uintptr // out: how many scratch bytes to copy
}

// PlaceDataSize is sizeof(cg_place_data).
const PlaceDataSize = unsafe.Sizeof(PlaceData{})

// Placer decides where a heap goes, from the first packet of the heap.
// Go placements implement it directly; the C ABI implements it by calling
// a C function pointer with the same struct.
type Placer interface {
	Place(d *PlaceData)
}

// PlacerFunc adapts a Go function to Placer.
type PlacerFunc func(d *PlaceData)

// Place calls f.
func (f PlacerFunc) Place(d *PlaceData) { f(d) }

// ItemValues returns the requested items' values as a slice of n values.
func (d *PlaceData) ItemValues(n int) []int64 {
	if n == 0 || d.Items == nil {
		return nil
	}
	return unsafe.Slice(d.Items, n)
}

// Stats returns the per-batch statistics as a slice of n counters.
func (d *PlaceData) Stats(n int) []uint64 {
	if n == 0 || d.BatchStats == nil {
		return nil
	}
	return unsafe.Slice(d.BatchStats, n)
}

// ExtraScratch returns the extra scratch area as a slice of n bytes.
func (d *PlaceData) ExtraScratch(n int) []byte {
	if n == 0 || d.Extra == nil {
		return nil
	}
	return unsafe.Slice(d.Extra, n)
}

// PacketBytes returns the first packet of the heap.
func (d *PlaceData) PacketBytes() []byte {
	if d.Packet == nil {
		return nil
	}
	return unsafe.Slice(d.Packet, d.PacketSize)
}

// GridDim is one axis of a GridPlacer.
type GridDim struct {
	Item   int   // index into the stream's Items of the value for this axis
	Origin int64 // value at grid position 0
	Step   int64 // value difference between adjacent positions (>= 1)
	Count  int64 // positions along the axis (per chunk, for the time axis)
	Stride int64 // heap slots between adjacent positions
}

// GridPlacer is the built-in placement most streams need, computed in Go
// (no compiler, no cgo call per heap):
//
//	t        = (items[Time.Item] - Time.Origin) / Time.Step
//	chunk_id = t / Time.Count
//	index    = (t % Time.Count) * Time.Stride + sum over Dims of ((items[d.Item] - d.Origin) / d.Step) * d.Stride
//	offset   = index * HeapSize
//
// A heap is rejected (chunk_id -1) when an item is absent, a value lies
// before its origin or (for Dims) beyond Count positions, or the heap length
// item (HeapLengthItem >= 0) differs from HeapSize. ExtraItems lists items
// whose values are stored as little-endian int64s at extra offset
// index*8*len(ExtraItems).
type GridPlacer struct {
	Time           GridDim
	Dims           []GridDim
	HeapSize       int64
	HeapLengthItem int // index into Items of HEAP_LENGTH, or -1
	ExtraItems     []int
	NumItems       int // len(Items) of the stream configuration
}

// Validate checks the grid's parameters against the number of items.
func (g *GridPlacer) Validate() error {
	check := func(name string, d GridDim) error {
		if d.Item < 0 || d.Item >= g.NumItems {
			return invalidf("grid %s item index %d outside the %d requested items", name, d.Item, g.NumItems)
		}
		if d.Step < 1 || d.Count < 1 || d.Stride < 0 {
			return invalidf("grid %s needs step >= 1, count >= 1, stride >= 0", name)
		}
		return nil
	}
	if err := check("time", g.Time); err != nil {
		return err
	}
	for _, d := range g.Dims {
		if err := check("dimension", d); err != nil {
			return err
		}
	}
	if g.HeapSize < 0 {
		return invalidf("grid heap size must not be negative")
	}
	if g.HeapLengthItem >= g.NumItems {
		return invalidf("grid heap length item index %d outside the items", g.HeapLengthItem)
	}
	for _, e := range g.ExtraItems {
		if e < 0 || e >= g.NumItems {
			return invalidf("grid extra item index %d outside the items", e)
		}
	}
	return nil
}

// ExtraSize is the number of extra bytes each heap needs (max_heap_extra).
func (g *GridPlacer) ExtraSize() int { return 8 * len(g.ExtraItems) }

// Place implements Placer.
func (g *GridPlacer) Place(d *PlaceData) {
	items := d.ItemValues(g.NumItems)
	if g.HeapLengthItem >= 0 && items[g.HeapLengthItem] != g.HeapSize {
		return
	}
	tv := items[g.Time.Item]
	if tv < g.Time.Origin {
		return
	}
	t := (tv - g.Time.Origin) / g.Time.Step
	index := (t % g.Time.Count) * g.Time.Stride
	for i := range g.Dims {
		dim := &g.Dims[i]
		v := items[dim.Item]
		if v < dim.Origin {
			return
		}
		p := (v - dim.Origin) / dim.Step
		if p >= dim.Count {
			return
		}
		index += p * dim.Stride
	}
	d.ChunkID = t / g.Time.Count
	d.HeapIndex = uintptr(index)
	d.HeapOffset = uintptr(index * g.HeapSize)
	if n := len(g.ExtraItems); n > 0 {
		scratch := d.ExtraScratch(8 * n)
		for i, e := range g.ExtraItems {
			binary.LittleEndian.PutUint64(scratch[8*i:], uint64(items[e]))
		}
		d.ExtraOffset = uintptr(index) * uintptr(8*n)
		d.ExtraSize = uintptr(8 * n)
	}
}

// BatchPlacer is a Placer that can place several heaps in one call: n
// PlaceData laid out back to back from first (stride PlaceDataSize), each
// as Place would see it. The C ABI implements it so that the place
// function is called in a loop on the C side: one cgo transition per batch
// of packets instead of one per heap, which costs more than the place
// function itself.
type BatchPlacer interface {
	Placer
	PlaceBatch(first *PlaceData, n int)
}

// CounterItems returns the items a CounterGrid placement reads: the heap
// counter and the heap length.
func CounterItems() []uint64 { return []uint64{spead.HeapCntID, spead.HeapLengthID} }

// CounterGrid is the placement of the benchmark scenarios and the tools:
// with the stream's items set to CounterItems, heap cnt goes to chunk
// cnt / heapsPerChunk, slot cnt % heapsPerChunk, offset slot * heapSize;
// a heap whose length is not heapSize is rejected.
func CounterGrid(heapsPerChunk, heapSize int64) *GridPlacer {
	return &GridPlacer{
		Time:           GridDim{Item: 0, Step: 1, Count: heapsPerChunk, Stride: 1},
		HeapSize:       heapSize,
		HeapLengthItem: 1,
		NumItems:       2, // CounterItems
	}
}
