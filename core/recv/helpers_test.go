package recv

import (
	"fmt"
	"sync"
	"testing"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// Test geometry: 64-byte heaps in 16-byte packets, 4 heaps per chunk.
const (
	tHeapSize      = 64
	tPacketPayload = 16
	tHeapsPerChunk = 4
	tChunkSize     = tHeapSize * tHeapsPerChunk
)

// patternByte is the payload byte at offset off of heap cnt.
func patternByte(cnt uint64, off int) byte { return byte(cnt*7 + uint64(off)*13 + 1) }

func heapPayload(cnt uint64, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = patternByte(cnt, i)
	}
	return b
}

// heapPackets returns the packets of heap cnt (pointers repeated).
func heapPackets(t testing.TB, cnt uint64, size, packetPayload int, items ...spead.Item) [][]byte {
	t.Helper()
	enc, err := spead.NewEncoder(spead.EncoderConfig{PacketPayload: packetPayload, RepeatPointers: true})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	err = enc.Packets(&spead.Heap{Cnt: cnt, Items: items, Payload: heapPayload(cnt, size)}, func(p []byte) error {
		out = append(out, append([]byte(nil), p...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// heapsPackets returns all packets of heaps cnts, in order.
func heapsPackets(t testing.TB, cnts ...uint64) [][]byte {
	var out [][]byte
	for _, c := range cnts {
		out = append(out, heapPackets(t, c, tHeapSize, tPacketPayload)...)
	}
	return out
}

func stopPacket(t testing.TB) []byte {
	enc, _ := spead.NewEncoder(spead.EncoderConfig{})
	b, err := enc.AppendHeap(nil, spead.StopHeap(0))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seq(a, b uint64) []uint64 {
	var out []uint64
	for i := a; i < b; i++ {
		out = append(out, i)
	}
	return out
}

// gridPlace is the standard test placement: items [HEAP_CNT, HEAP_LENGTH].
func gridPlace(heapsPerChunk, heapSize int64) *GridPlacer {
	return &GridPlacer{
		Time:           GridDim{Item: 0, Step: 1, Count: heapsPerChunk, Stride: 1},
		HeapSize:       heapSize,
		HeapLengthItem: 1,
		NumItems:       2,
	}
}

// readyChunk is what a test ready callback saw.
type readyChunk struct {
	id       int64
	streamID uintptr
	present  []byte
	data     []byte
	extra    []byte
}

// recorder allocates fresh chunks and records allocations and readies.
type recorder struct {
	mu          sync.Mutex
	presentSize int
	dataSize    int
	extraSize   int
	allocated   []int64
	ready       []readyChunk
	live        map[*chunk.Chunk]bool
	nilFor      map[int64]bool // allocate returns nil for these IDs
	onReady     func(c *chunk.Chunk)
}

func newRecorder(presentSize, dataSize, extraSize int) *recorder {
	return &recorder{presentSize: presentSize, dataSize: dataSize, extraSize: extraSize, live: map[*chunk.Chunk]bool{}, nilFor: map[int64]bool{}}
}

func (r *recorder) allocate(id int64, _ []uint64) *chunk.Chunk {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.allocated = append(r.allocated, id)
	if r.nilFor[id] {
		return nil
	}
	var extra []byte
	if r.extraSize > 0 {
		extra = make([]byte, r.extraSize)
	}
	c := chunk.New(make([]byte, r.presentSize), make([]byte, r.dataSize), extra)
	r.live[c] = true
	return c
}

func (r *recorder) readyFn(c *chunk.Chunk, _ []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.live[c] {
		panic(fmt.Sprintf("chunk %d readied twice or never allocated", c.ChunkID))
	}
	delete(r.live, c)
	r.ready = append(r.ready, readyChunk{
		id: c.ChunkID, streamID: c.StreamID,
		present: append([]byte(nil), c.Present()...),
		data:    append([]byte(nil), c.Data()...),
		extra:   append([]byte(nil), c.Extra()...),
	})
	if r.onReady != nil {
		r.onReady(c)
	}
}

func (r *recorder) readyIDs() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []int64
	for _, c := range r.ready {
		ids = append(ids, c.id)
	}
	return ids
}

func (r *recorder) chunkByID(t testing.TB, id int64) readyChunk {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.ready {
		if c.id == id {
			return c
		}
	}
	t.Fatalf("chunk %d was not readied (ready: %v)", id, r.ready)
	return readyChunk{}
}

// checkHeap asserts the bytes of heap cnt in chunk c at slot index and
// whether it is marked present.
func checkHeap(t testing.TB, c readyChunk, cnt uint64, index int, present bool) {
	t.Helper()
	if got := c.present[index] != 0; got != present {
		t.Fatalf("chunk %d slot %d: present=%v, want %v", c.id, index, got, present)
	}
	if !present {
		return
	}
	for i := 0; i < tHeapSize; i++ {
		if got, want := c.data[index*tHeapSize+i], patternByte(cnt, i); got != want {
			t.Fatalf("chunk %d heap %d byte %d: got %d want %d", c.id, cnt, i, got, want)
		}
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func statsOf(s *Stream) map[string]uint64 { return s.Stats().Map() }

// wantStats compares the named statistics; unnamed standard ones must be 0
// except packets/batches/max_batch/search_dist when not named.
func wantStats(t testing.TB, s *Stream, want map[string]uint64) {
	t.Helper()
	got := statsOf(s)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("stat %s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	for _, k := range []string{"incomplete_heaps_evicted", "incomplete_heaps_flushed", "too_old_heaps", "rejected_heaps", "bad_placement_heaps", "malformed_packets", "worker_blocked"} {
		if _, named := want[k]; !named && got[k] != 0 {
			t.Errorf("stat %s = %d, want 0 (all: %v)", k, got[k], got)
		}
	}
}
