package recv

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/spead"
)

// newTestStream makes a standalone chunk stream with the test geometry.
func newTestStream(t *testing.T, maxChunks int, mod func(*StreamConfig, *ChunkStreamConfig)) (*Stream, *recorder) {
	t.Helper()
	rec := newRecorder(tHeapsPerChunk, tChunkSize, 0)
	return newTestStreamWith(t, rec, maxChunks, mod), rec
}

// newTestStreamWith is newTestStream with a caller-made recorder (other
// chunk sizes, nil allocations).
func newTestStreamWith(t *testing.T, rec *recorder, maxChunks int, mod func(*StreamConfig, *ChunkStreamConfig)) *Stream {
	t.Helper()
	cfg := DefaultStreamConfig()
	ccfg := DefaultChunkStreamConfig()
	ccfg.MaxChunks = maxChunks
	ccfg.Items = []uint64{1, 2}
	ccfg.Place = gridPlace(tHeapsPerChunk, tHeapSize)
	ccfg.Allocate = rec.allocate
	ccfg.Ready = rec.readyFn
	if mod != nil {
		mod(&cfg, &ccfg)
	}
	s, err := NewChunkStream(cfg, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

func TestInOrder(t *testing.T) {
	s, rec := newTestStream(t, 2, nil)
	pkts := heapsPackets(t, seq(0, 8)...)
	if !s.AddBatch(pkts) {
		t.Fatal("stream stopped")
	}
	s.Stop()
	if got := rec.readyIDs(); !equalIDs(got, []int64{0, 1}) {
		t.Fatalf("ready %v", got)
	}
	if !equalIDs(rec.allocated, []int64{0, 1}) {
		t.Fatalf("allocated %v", rec.allocated)
	}
	for cnt := uint64(0); cnt < 8; cnt++ {
		checkHeap(t, rec.chunkByID(t, int64(cnt/4)), cnt, int(cnt%4), true)
	}
	wantStats(t, s, map[string]uint64{"packets": 32, "heaps": 8, "batches": 1, "max_batch": 32})
}

// stdPlacement is the standard test placement from items [HEAP_CNT,
// HEAP_LENGTH], without the heap length check of gridPlace: chunk cnt/4,
// slot cnt%4, offset slot*tHeapSize. It returns the heap counter so
// PlacerFuncs can adjust the placement of particular heaps.
func stdPlacement(d *PlaceData) int64 {
	cnt := d.ItemValues(2)[0]
	d.ChunkID = cnt / tHeapsPerChunk
	d.HeapIndex = uintptr(cnt % tHeapsPerChunk)
	d.HeapOffset = d.HeapIndex * tHeapSize
	return cnt
}

// withPlacer installs a PlacerFunc.
func withPlacer(f func(d *PlaceData)) func(*StreamConfig, *ChunkStreamConfig) {
	return func(_ *StreamConfig, c *ChunkStreamConfig) { c.Place = PlacerFunc(f) }
}

// presencePlacer places standard heaps with packet presence (payload size
// tPacketPayload): slot s of the chunk owns present[4s..4s+3]. bad, if >= 0,
// is a heap counter given the presence index badIndex instead.
func presencePlacer(bad int64, badIndex uintptr) func(*StreamConfig, *ChunkStreamConfig) {
	return func(_ *StreamConfig, c *ChunkStreamConfig) {
		c.PacketPresencePayloadSize = tPacketPayload
		c.Place = PlacerFunc(func(d *PlaceData) {
			cnt := stdPlacement(d)
			d.HeapIndex *= tHeapSize / tPacketPayload
			if cnt == bad {
				d.HeapIndex = badIndex
			}
		})
	}
}

// extraFor is the 8 bytes of extra data the extra placers write for heap cnt.
func extraFor(cnt int64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(0x10*cnt + int64(i) + 1)
	}
	return b
}

// extraPlacer places standard heaps with 8 extra bytes at slot*8, letting
// adjust change the placement of heap cnt afterwards.
func extraPlacer(maxExtra int, adjust func(cnt int64, d *PlaceData)) func(*StreamConfig, *ChunkStreamConfig) {
	return func(_ *StreamConfig, c *ChunkStreamConfig) {
		c.MaxHeapExtra = maxExtra
		c.Place = PlacerFunc(func(d *PlaceData) {
			cnt := stdPlacement(d)
			copy(d.ExtraScratch(maxExtra), extraFor(cnt))
			d.ExtraOffset = d.HeapIndex * 8
			d.ExtraSize = 8
			if adjust != nil {
				adjust(cnt, d)
			}
		})
	}
}

// sp is the single packet of a standard-size heap sent whole.
func sp(cnt uint64) []byte { return encodeHeap(cnt, tHeapSize, tHeapSize)[0] }

// streamCase is one deterministic chunk stream scenario: batches go to
// AddBatch in order, then the stream is stopped, and everything observable
// is compared exactly.
//
// search_dist is part of "every statistic": the heap table charges
// max_heaps (per substream) for a packet of a heap not in the table and
// k+1 for a heap found in entry k of its substream; a new heap takes the
// first free entry.
type streamCase struct {
	name        string
	maxChunks   int    // 0: 2
	sizes       [3]int // present, data, extra of each chunk; zero: the standard geometry
	mod         func(*StreamConfig, *ChunkStreamConfig)
	nilFor      []int64 // allocate returns nil for these IDs
	batches     [][][]byte
	wantAdd     []bool               // AddBatch results; nil: all true
	readyBefore []int64              // chunks readied before Stop
	alloc       []int64              // every allocate call, in order
	ready       []int64              // every ready call, in order
	chunks      map[int64]*chunkWant // exact content of every readied chunk
	stats       map[string]uint64    // every statistic; absent means 0
	asBuffer    bool                 // each batch goes to AddBuffer as one buffer
}

func runStreamCase(t *testing.T, c streamCase) {
	t.Helper()
	sizes := c.sizes
	if sizes == [3]int{} {
		sizes = [3]int{tHeapsPerChunk, tChunkSize, 0}
	}
	rec := newRecorder(sizes[0], sizes[1], sizes[2])
	for _, id := range c.nilFor {
		rec.nilFor[id] = true
	}
	maxChunks := c.maxChunks
	if maxChunks == 0 {
		maxChunks = 2
	}
	s := newTestStreamWith(t, rec, maxChunks, c.mod)
	for i, b := range c.batches {
		want := true
		if c.wantAdd != nil {
			want = c.wantAdd[i]
		}
		if c.asBuffer {
			buf := bytes.Join(b, nil)
			used, got, err := s.AddBuffer(buf, len(b))
			if err != nil || got != want || used != len(buf) {
				t.Fatalf("AddBuffer %d returned %d, %v, %v; want %d, %v, nil", i, used, got, err, len(buf), want)
			}
		} else if got := s.AddBatch(b); got != want {
			t.Fatalf("AddBatch %d returned %v, want %v", i, got, want)
		}
	}
	if got := rec.readyIDs(); !equalIDs(got, c.readyBefore) {
		t.Errorf("readied before stop: %v, want %v", got, c.readyBefore)
	}
	s.Stop()
	rec.mu.Lock()
	alloc := append([]int64(nil), rec.allocated...)
	rec.mu.Unlock()
	if !equalIDs(alloc, c.alloc) {
		t.Errorf("allocated %v, want %v", alloc, c.alloc)
	}
	if got := rec.readyIDs(); !equalIDs(got, c.ready) {
		t.Errorf("readied %v, want %v", got, c.ready)
	}
	for _, id := range c.ready {
		w, ok := c.chunks[id]
		if !ok {
			t.Errorf("test case has no expected content for chunk %d", id)
			continue
		}
		if slices.Contains(rec.readyIDs(), id) {
			checkChunk(t, rec.chunkByID(t, id), w)
		}
	}
	if len(c.chunks) != len(c.ready) {
		t.Errorf("test case lists %d chunks, %d readied", len(c.chunks), len(c.ready))
	}
	wantExactStats(t, s, c.stats)
}

func TestChunkStreamCases(t *testing.T) {
	bad := bytes.Repeat([]byte{0xEE}, 80) // payload of a heap with the wrong length
	cases := []streamCase{
		{
			name:    "in order, heap split across batches",
			batches: [][][]byte{cat(pks(0), pk(1, 0, 1)), cat(pk(1, 2, 3), pks(2, 3, 4, 5, 6, 7))},
			alloc:   []int64{0, 1}, ready: []int64{0, 1},
			chunks: map[int64]*chunkWant{
				0: wantChunk().full(0, 0).full(1, 1).full(2, 2).full(3, 3),
				1: wantChunk().full(0, 4).full(1, 5).full(2, 6).full(3, 7),
			},
			stats: map[string]uint64{"packets": 32, "batches": 2, "max_batch": 26, "heaps": 8, "search_dist": 8 * (4 + 3)},
		},
		{
			name:    "reordered, out of order allowed: complete",
			mod:     func(c *StreamConfig, _ *ChunkStreamConfig) { c.AllowOutOfOrder = true },
			batches: [][][]byte{cat(pk(0, 2, 0, 3, 1), pk(1, 3, 2, 1, 0), pk(2, 1, 0, 2, 3))},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).full(1, 1).full(2, 2)},
			stats:  map[string]uint64{"packets": 12, "batches": 1, "max_batch": 12, "heaps": 3, "search_dist": 3 * (4 + 3)},
		},
		{
			// Heap 0: p2 dropped (no heap yet), p0 starts it, p3 dropped
			// (gap), p1 taken. Heap 1: only p0 (last) is taken. Heap 2: p1
			// dropped, p0 taken, then p2 and p3 dropped (p1 is the gap).
			// All three stay incomplete, not present, flushed at stop.
			name:    "reordered, in order required: packets dropped, heaps incomplete",
			batches: [][][]byte{cat(pk(0, 2, 0, 3, 1), pk(1, 3, 2, 1, 0), pk(2, 1, 0, 2, 3))},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().part(0, 0, 0, 1).part(1, 1, 0).part(2, 2, 0)},
			stats: map[string]uint64{"packets": 12, "batches": 1, "max_batch": 12, "heaps": 3, "incomplete_heaps_flushed": 3,
				"search_dist": (4 + 4 + 1 + 1) + (4 * 4) + (4 + 4 + 3 + 3)},
		},
		{
			name:    "duplicates, in order",
			batches: [][][]byte{cat(pk(0, 0, 1, 0, 1, 2, 1, 3), pk(1, 0, 0, 1, 2, 2, 3))},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).full(1, 1)},
			stats:  map[string]uint64{"packets": 13, "batches": 1, "max_batch": 13, "heaps": 2, "search_dist": (4 + 6) + (4 + 5)},
		},
		{
			name:    "duplicates, out of order allowed",
			mod:     func(c *StreamConfig, _ *ChunkStreamConfig) { c.AllowOutOfOrder = true },
			batches: [][][]byte{cat(pk(0, 0, 1, 0, 1, 2, 1, 3), pk(1, 2, 0, 2, 3, 0, 1))},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).full(1, 1)},
			stats:  map[string]uint64{"packets": 13, "batches": 1, "max_batch": 13, "heaps": 2, "search_dist": (4 + 6) + (4 + 5)},
		},
		{
			// Heap 1 lacks its first packet (so in order it never starts),
			// heap 2 its last, heap 3 its second.
			name:    "missing packets, in order",
			batches: [][][]byte{cat(pks(0), pk(1, 1, 2, 3), pk(2, 0, 1, 2), pk(3, 0, 2, 3))},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).part(2, 2, 0, 1, 2).part(3, 3, 0)},
			stats: map[string]uint64{"packets": 13, "batches": 1, "max_batch": 13, "heaps": 3, "incomplete_heaps_flushed": 2,
				"search_dist": 7 + 3*4 + (4 + 1 + 1) + (4 + 2 + 2)},
		},
		{
			name:    "missing packets, out of order allowed",
			mod:     func(c *StreamConfig, _ *ChunkStreamConfig) { c.AllowOutOfOrder = true },
			batches: [][][]byte{cat(pks(0), pk(1, 1, 2, 3), pk(2, 0, 1, 2), pk(3, 0, 2, 3))},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).part(1, 1, 1, 2, 3).part(2, 2, 0, 1, 2).part(3, 3, 0, 2, 3)},
			stats: map[string]uint64{"packets": 13, "batches": 1, "max_batch": 13, "heaps": 4, "incomplete_heaps_flushed": 3,
				"search_dist": 7 + (4 + 1 + 1) + (4 + 2 + 2) + (4 + 3 + 3)},
		},
		{
			// Regression (issue 12): a zero-length packet inside a heap
			// recorded an empty range, so the packet that really covers its
			// offset was taken for a duplicate and heap 0 never completed.
			name: "zero-length packet inside a heap, out of order allowed",
			mod:  func(c *StreamConfig, _ *ChunkStreamConfig) { c.AllowOutOfOrder = true },
			batches: [][][]byte{cat(pk(0, 0), [][]byte{craftPacket(0, tHeapSize, 2*tPacketPayload+8, nil)},
				pk(0, 2, 1, 3))},
			alloc: []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0)},
			stats:  map[string]uint64{"packets": 5, "batches": 1, "max_batch": 5, "heaps": 1, "search_dist": 4 + 4},
		},
		{
			name:    "truncated packets, in order",
			batches: [][][]byte{truncatedBatch()},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().part(0, 0, 0, 1).full(1, 1)},
			stats: map[string]uint64{"packets": 7, "malformed_packets": 2, "batches": 1, "max_batch": 9, "heaps": 2,
				"incomplete_heaps_flushed": 1, "search_dist": (4 + 1 + 1) + (4 + 3*2)},
		},
		{
			name:    "truncated packets, out of order allowed",
			mod:     func(c *StreamConfig, _ *ChunkStreamConfig) { c.AllowOutOfOrder = true },
			batches: [][][]byte{truncatedBatch()},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().part(0, 0, 0, 1, 3).full(1, 1)},
			stats: map[string]uint64{"packets": 7, "malformed_packets": 2, "batches": 1, "max_batch": 9, "heaps": 2,
				"incomplete_heaps_flushed": 1, "search_dist": (4 + 1 + 1) + (4 + 3*2)},
		},
		{
			name:    "packet without heap length",
			batches: [][][]byte{cat([][]byte{craftPacket(0, -1, 0, heapPayload(0, tPacketPayload))}, pks(0))},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0)},
			stats:  map[string]uint64{"packets": 5, "malformed_packets": 1, "batches": 1, "max_batch": 5, "heaps": 1, "search_dist": 7},
		},
		{
			// A packet of heap 0 claiming heap length 80 is dropped and its
			// 0xEE bytes never written (bytes 32..63 of heap 0 stay 0); one
			// inside heap 2 does not stop heap 2 completing.
			name: "packets disagreeing with the heap length",
			batches: [][][]byte{cat(pk(0, 0, 1), encodePayload(0, bad, tPacketPayload)[2:3], pks(1),
				pk(2, 0), encodePayload(2, bad, tPacketPayload)[1:2], pk(2, 1, 2, 3))},
			alloc: []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().part(0, 0, 0, 1).full(1, 1).full(2, 2)},
			stats: map[string]uint64{"packets": 12, "malformed_packets": 2, "batches": 1, "max_batch": 12, "heaps": 3,
				"incomplete_heaps_flushed": 1, "search_dist": (4 + 1 + 1) + (4 + 3*2) + (4 + 4*2)},
		},
		{
			name:        "window slides by one",
			batches:     [][][]byte{pks(0), pks(8)},
			readyBefore: []int64{0},
			alloc:       []int64{0, 1, 2}, ready: []int64{0, 1, 2},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0), 1: wantChunk(), 2: wantChunk().full(0, 8)},
			stats:  map[string]uint64{"packets": 8, "batches": 2, "max_batch": 4, "heaps": 2, "search_dist": 14},
		},
		{
			name:        "heap too old after the window moved on",
			batches:     [][][]byte{pks(0, 8), pks(1)},
			readyBefore: []int64{0},
			alloc:       []int64{0, 1, 2}, ready: []int64{0, 1, 2},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0), 1: wantChunk(), 2: wantChunk().full(0, 8)},
			stats:  map[string]uint64{"packets": 12, "batches": 2, "max_batch": 8, "heaps": 3, "too_old_heaps": 1, "search_dist": 21},
		},
		{
			name:        "far jump re-bases the window at id-max_chunks+1",
			batches:     [][][]byte{pks(0), pks(40)},
			readyBefore: []int64{0},
			alloc:       []int64{0, 9, 10}, ready: []int64{0, 9, 10},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0), 9: wantChunk(), 10: wantChunk().full(0, 40)},
			stats:  map[string]uint64{"packets": 8, "batches": 2, "max_batch": 4, "heaps": 2, "search_dist": 14},
		},
		{
			// Heap 5 (chunk 1) is incomplete when chunk 10 arrives: it is
			// evicted with its chunk, and its later packets go nowhere.
			// Heap 5 is half done when heap 40 moves the window past its
			// chunk: it writes nothing more, and completing later counts it
			// as too old (behaviour.md section 3). It keeps its table slot,
			// so heap 40 takes slot 1 (probe 2) and heap 5's last packets
			// find it at probe 1.
			name:        "far jump leaves an incomplete heap behind: too old when it completes",
			batches:     [][][]byte{cat(pks(0), pk(5, 0, 1)), pks(40), pk(5, 2, 3)},
			readyBefore: []int64{0, 1},
			alloc:       []int64{0, 1, 9, 10}, ready: []int64{0, 1, 9, 10},
			chunks: map[int64]*chunkWant{
				0: wantChunk().full(0, 0), 1: wantChunk().part(1, 5, 0, 1), 9: wantChunk(), 10: wantChunk().full(0, 40),
			},
			stats: map[string]uint64{"packets": 12, "batches": 3, "max_batch": 6, "heaps": 3, "too_old_heaps": 1,
				"search_dist": 7 + (4 + 1) + (4 + 3*2) + 1 + 1},
		},
		{
			// Heap 100 is rejected on its first packet; the window moving
			// on while its other packets are due must not turn it into an
			// evicted heap (and, out of order, a second rejected one).
			name: "rejected heap in progress while the window moves",
			mod: func(c *StreamConfig, cc *ChunkStreamConfig) {
				c.AllowOutOfOrder = true
				cc.Place = PlacerFunc(func(d *PlaceData) {
					if stdPlacement(d) == 100 {
						d.ChunkID = -1
					}
				})
			},
			batches:     [][][]byte{cat(pk(100, 0), pks(0, 8), pk(100, 1, 2, 3))},
			readyBefore: []int64{0},
			alloc:       []int64{0, 1, 2}, ready: []int64{0, 1, 2},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0), 1: wantChunk(), 2: wantChunk().full(0, 8)},
			stats: map[string]uint64{"packets": 12, "batches": 1, "max_batch": 12, "heaps": 3, "rejected_heaps": 1,
				"search_dist": 4 + (4 + 3*2) + (4 + 3*2) + 3},
		},
		{
			name: "rejected heap in progress while the window moves, in order",
			mod: withPlacer(func(d *PlaceData) {
				if stdPlacement(d) == 100 {
					d.ChunkID = -1
				}
			}),
			batches:     [][][]byte{cat(pk(100, 0), pks(0, 8), pk(100, 1, 2, 3))},
			readyBefore: []int64{0},
			alloc:       []int64{0, 1, 2}, ready: []int64{0, 1, 2},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0), 1: wantChunk(), 2: wantChunk().full(0, 8)},
			stats: map[string]uint64{"packets": 12, "batches": 1, "max_batch": 12, "heaps": 3, "rejected_heaps": 1,
				"search_dist": 4 + (4 + 3*2) + (4 + 3*2) + 3},
		},
		{
			name:      "far jump with max_chunks 1",
			maxChunks: 1,
			batches:   [][][]byte{pks(0), pks(12), pks(1)},
			alloc:     []int64{0, 3}, ready: []int64{0, 3}, readyBefore: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0), 3: wantChunk().full(0, 12)},
			stats:  map[string]uint64{"packets": 12, "batches": 3, "max_batch": 4, "heaps": 3, "too_old_heaps": 1, "search_dist": 21},
		},
		{
			// Heap 1 (length 32, two packets) and heap 2 (length 16, a
			// single-packet heap) are rejected by the grid's length check.
			name:    "rejected heaps: wrong heap length (grid placer)",
			batches: [][][]byte{cat(pks(0), encodeHeap(1, 32, tPacketPayload), encodeHeap(2, 16, tPacketPayload), pks(3))},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).full(3, 3)},
			stats: map[string]uint64{"packets": 11, "batches": 1, "max_batch": 11, "heaps": 4, "rejected_heaps": 2,
				"single_packet_heaps": 1, "search_dist": 7 + (4 + 1) + 4 + 7},
		},
		{
			name: "rejected heaps: chunk_id -1 from a PlacerFunc",
			mod: withPlacer(func(d *PlaceData) {
				if stdPlacement(d) == 1 {
					d.ChunkID = -1
				}
			}),
			batches: [][][]byte{pks(0, 1, 2)},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).full(2, 2)},
			stats:  map[string]uint64{"packets": 12, "batches": 1, "max_batch": 12, "heaps": 3, "rejected_heaps": 1, "search_dist": 21},
		},
		{
			name: "bad placement: offset+length beyond data",
			mod: withPlacer(func(d *PlaceData) {
				if stdPlacement(d) == 1 {
					d.HeapOffset = tChunkSize - tHeapSize/2 // last 32 bytes of heap 3's slot must stay 0
				}
			}),
			batches: [][][]byte{pks(0, 1, 2)},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).full(2, 2)},
			stats:  map[string]uint64{"packets": 12, "batches": 1, "max_batch": 12, "heaps": 3, "bad_placement_heaps": 1, "search_dist": 21},
		},
		{
			name: "bad placement: offset overflows",
			mod: withPlacer(func(d *PlaceData) {
				if stdPlacement(d) == 1 {
					d.HeapOffset = ^uintptr(0) - 8
				}
			}),
			batches: [][][]byte{pks(0, 1, 2)},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).full(2, 2)},
			stats:  map[string]uint64{"packets": 12, "batches": 1, "max_batch": 12, "heaps": 3, "bad_placement_heaps": 1, "search_dist": 21},
		},
		{
			// Heap 1's data slot (offset 64) is valid: it must not be written.
			name: "bad placement: index outside present",
			mod: withPlacer(func(d *PlaceData) {
				if stdPlacement(d) == 1 {
					d.HeapIndex = tHeapsPerChunk
				}
			}),
			batches: [][][]byte{pks(0, 1, 2)},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).full(2, 2)},
			stats:  map[string]uint64{"packets": 12, "batches": 1, "max_batch": 12, "heaps": 3, "bad_placement_heaps": 1, "search_dist": 21},
		},
		{
			name:  "bad placement: extra range outside extra",
			sizes: [3]int{tHeapsPerChunk, tChunkSize, 32},
			mod: extraPlacer(8, func(cnt int64, d *PlaceData) {
				if cnt == 1 {
					d.ExtraOffset = 28 // 28+8 > 32
				}
			}),
			batches: [][][]byte{pks(0, 1, 2)},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunkSized(tHeapsPerChunk, tChunkSize, 32).full(0, 0).full(2, 2).
				ext(0, extraFor(0)...).ext(16, extraFor(2)...)},
			stats: map[string]uint64{"packets": 12, "batches": 1, "max_batch": 12, "heaps": 3, "bad_placement_heaps": 1, "search_dist": 21},
		},
		{
			name:  "bad placement: extra_size over max_heap_extra",
			sizes: [3]int{tHeapsPerChunk, tChunkSize, 64},
			mod: extraPlacer(8, func(cnt int64, d *PlaceData) {
				if cnt == 1 {
					d.ExtraSize = 16 // fits in chunk.extra, but over max_heap_extra
				}
			}),
			batches: [][][]byte{pks(0, 1, 2)},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunkSized(tHeapsPerChunk, tChunkSize, 64).full(0, 0).full(2, 2).
				ext(0, extraFor(0)...).ext(16, extraFor(2)...)},
			stats: map[string]uint64{"packets": 12, "batches": 1, "max_batch": 12, "heaps": 3, "bad_placement_heaps": 1, "search_dist": 21},
		},
		{
			// With packet presence a heap needs 4 flags: index 13 of 16 is
			// inside present, but 13+4 is not.
			name:    "bad placement: packet presence slots outside present",
			sizes:   [3]int{16, tChunkSize, 0},
			mod:     presencePlacer(1, 13),
			batches: [][][]byte{pks(0, 1, 2)},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunkSized(16, tChunkSize, 0).part(0, 0, 0, 1, 2, 3).part(2, 2, 0, 1, 2, 3).
				flags(0, 1, 2, 3, 8, 9, 10, 11)},
			stats: map[string]uint64{"packets": 12, "batches": 1, "max_batch": 12, "heaps": 3, "bad_placement_heaps": 1, "search_dist": 21},
		},
		{
			name:    "packet presence, out of order allowed: a missing packet leaves exactly its flag 0",
			sizes:   [3]int{16, tChunkSize, 0},
			mod:     func(c *StreamConfig, cc *ChunkStreamConfig) { presencePlacer(-1, 0)(c, cc); c.AllowOutOfOrder = true },
			batches: [][][]byte{cat(pks(0), pk(1, 0, 1, 3), pk(2, 3, 2, 1, 0), pks(3))},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunkSized(16, tChunkSize, 0).
				part(0, 0, 0, 1, 2, 3).part(1, 1, 0, 1, 3).part(2, 2, 0, 1, 2, 3).part(3, 3, 0, 1, 2, 3).
				flags(0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15)},
			stats: map[string]uint64{"packets": 15, "batches": 1, "max_batch": 15, "heaps": 4, "incomplete_heaps_flushed": 1,
				"search_dist": 7 + (4 + 1 + 1) + (4 + 3*2) + (4 + 3*2)},
		},
		{
			name:    "packet presence, in order",
			sizes:   [3]int{16, tChunkSize, 0},
			mod:     presencePlacer(-1, 0),
			batches: [][][]byte{cat(pks(0), pk(1, 0, 1, 3), pks(2))},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunkSized(16, tChunkSize, 0).
				part(0, 0, 0, 1, 2, 3).part(1, 1, 0, 1).part(2, 2, 0, 1, 2, 3).flags(0, 1, 2, 3, 4, 5, 8, 9, 10, 11)},
			stats: map[string]uint64{"packets": 11, "batches": 1, "max_batch": 11, "heaps": 3, "incomplete_heaps_flushed": 1,
				"search_dist": 7 + (4 + 1 + 1) + (4 + 3*2)},
		},
		{
			// Regression: a zero-length packet at offset == heap length of
			// the last heap slot indexed present out of range (a panic),
			// and one inside a heap flagged a packet that never came.
			name:  "packet presence, zero-length packets",
			sizes: [3]int{16, tChunkSize, 0},
			mod:   func(c *StreamConfig, cc *ChunkStreamConfig) { presencePlacer(-1, 0)(c, cc); c.AllowOutOfOrder = true },
			batches: [][][]byte{cat([][]byte{craftPacket(3, tHeapSize, tHeapSize, nil)}, pks(3),
				pk(2, 0), [][]byte{craftPacket(2, tHeapSize, tPacketPayload, nil)})},
			alloc: []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunkSized(16, tChunkSize, 0).
				part(3, 3, 0, 1, 2, 3).part(2, 2, 0).flags(12, 13, 14, 15, 8)},
			stats: map[string]uint64{"packets": 7, "batches": 1, "max_batch": 7, "heaps": 2, "incomplete_heaps_flushed": 1,
				"search_dist": (4 + 4) + (4 + 1)},
		},
		{
			// Heap 1 is incomplete: its extra bytes are copied anyway.
			name:    "extra data copied, even for incomplete heaps",
			sizes:   [3]int{tHeapsPerChunk, tChunkSize, 32},
			mod:     extraPlacer(8, nil),
			batches: [][][]byte{cat(pks(0), pk(1, 0, 1))},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunkSized(tHeapsPerChunk, tChunkSize, 32).full(0, 0).part(1, 1, 0, 1).
				ext(0, extraFor(0)...).ext(8, extraFor(1)...)},
			stats: map[string]uint64{"packets": 6, "batches": 1, "max_batch": 6, "heaps": 2, "incomplete_heaps_flushed": 1,
				"search_dist": 7 + (4 + 1)},
		},
		{
			// The stop heap stops the stream mid-batch: heap 2 after it is
			// never looked at, heap 1 is flushed, chunk 0 readied at once,
			// and a later batch is refused.
			name:        "stop item",
			batches:     [][][]byte{cat(pks(0), pk(1, 0, 1), [][]byte{stopPacketCnt(100)}, pks(2)), pks(3)},
			wantAdd:     []bool{false, false},
			readyBefore: []int64{0},
			alloc:       []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).part(1, 1, 0, 1)},
			stats: map[string]uint64{"packets": 7, "batches": 1, "max_batch": 11, "heaps": 2, "incomplete_heaps_flushed": 1,
				"search_dist": 7 + (4 + 1)},
		},
		{
			// Without stop_on_stop_item the stop heap is an ordinary empty
			// single-packet heap, which the grid rejects (length 0).
			name:    "stop item ignored without stop_on_stop_item",
			mod:     func(c *StreamConfig, _ *ChunkStreamConfig) { c.StopOnStopItem = false },
			batches: [][][]byte{cat(pks(0), [][]byte{stopPacketCnt(100)}, pks(1))},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).full(1, 1)},
			stats: map[string]uint64{"packets": 9, "batches": 1, "max_batch": 9, "heaps": 3, "rejected_heaps": 1,
				"single_packet_heaps": 1, "search_dist": 7 + 4 + 7},
		},
		{
			// Five interleaved incomplete heaps, max_heaps 4: heap 4 evicts
			// heap 0 (the oldest), whose next packet then has no heap.
			name:    "max_heaps eviction",
			batches: [][][]byte{cat(pk(0, 0), pk(1, 0), pk(2, 0), pk(3, 0), pk(4, 0), pk(0, 1))},
			alloc:   []int64{0, 1}, ready: []int64{0, 1},
			chunks: map[int64]*chunkWant{
				0: wantChunk().part(0, 0, 0).part(1, 1, 0).part(2, 2, 0).part(3, 3, 0),
				1: wantChunk().part(0, 4, 0),
			},
			stats: map[string]uint64{"packets": 6, "batches": 1, "max_batch": 6, "heaps": 5, "incomplete_heaps_evicted": 1,
				"incomplete_heaps_flushed": 4, "search_dist": 6 * 4},
		},
		{
			// Substreams 2 x max_heaps 2: heap 5 (odd) evicts heap 1, not
			// heap 0, which is in the other substream and still takes its
			// second packet.
			name: "max_heaps eviction per substream",
			mod: func(c *StreamConfig, _ *ChunkStreamConfig) {
				c.MaxHeaps, c.Substreams = 2, 2
			},
			batches: [][][]byte{cat(pk(0, 0), pk(1, 0), pk(2, 0), pk(3, 0), pk(5, 0), pk(0, 1), pk(1, 1))},
			alloc:   []int64{0, 1}, ready: []int64{0, 1},
			chunks: map[int64]*chunkWant{
				0: wantChunk().part(0, 0, 0, 1).part(1, 1, 0).part(2, 2, 0).part(3, 3, 0),
				1: wantChunk().part(1, 5, 0),
			},
			stats: map[string]uint64{"packets": 7, "batches": 1, "max_batch": 7, "heaps": 5, "incomplete_heaps_evicted": 1,
				"incomplete_heaps_flushed": 4, "search_dist": 5*2 + 1 + 2},
		},
		{
			// The first heap is in chunk 1: chunk 0 is back-filled. The
			// maximum statistic keeps batch 1's 7 over batch 2's 3.
			name: "custom statistics",
			mod: func(c *StreamConfig, cc *ChunkStreamConfig) {
				counter, _ := c.AddStat("placed", StatCounter)
				maximum, _ := c.AddStat("max_cnt", StatMaximum)
				n := c.NextStatIndex()
				cc.Place = PlacerFunc(func(d *PlaceData) {
					cnt := stdPlacement(d)
					st := d.Stats(n)
					st[counter]++
					st[maximum] = max(st[maximum], uint64(cnt))
				})
			},
			batches: [][][]byte{pks(4, 5, 6, 7), pks(0, 1, 2, 3)},
			alloc:   []int64{0, 1}, ready: []int64{0, 1},
			chunks: map[int64]*chunkWant{
				0: wantChunk().full(0, 0).full(1, 1).full(2, 2).full(3, 3),
				1: wantChunk().full(0, 4).full(1, 5).full(2, 6).full(3, 7),
			},
			stats: map[string]uint64{"packets": 32, "batches": 2, "max_batch": 16, "heaps": 8, "search_dist": 56,
				"placed": 8, "max_cnt": 7},
		},
		{
			name:        "allocate returns nil: heaps for that chunk skipped and counted",
			nilFor:      []int64{1},
			batches:     [][][]byte{pks(seq(0, 12)...)},
			readyBefore: []int64{0},
			alloc:       []int64{0, 1, 2}, ready: []int64{0, 2},
			chunks: map[int64]*chunkWant{
				0: wantChunk().full(0, 0).full(1, 1).full(2, 2).full(3, 3),
				2: wantChunk().full(0, 8).full(1, 9).full(2, 10).full(3, 11),
			},
			stats: map[string]uint64{"packets": 48, "batches": 1, "max_batch": 48, "heaps": 12, "search_dist": 12 * 7,
				"no_chunk_heaps": 4}, // heaps 4-7 (spead2 drops them uncounted)
		},
		{
			name:    "single-packet heaps",
			batches: [][][]byte{{sp(0), sp(1), sp(5)}},
			alloc:   []int64{0, 1}, ready: []int64{0, 1},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).full(1, 1), 1: wantChunk().full(1, 5)},
			stats:  map[string]uint64{"packets": 3, "batches": 1, "max_batch": 3, "heaps": 3, "single_packet_heaps": 3, "search_dist": 12},
		},
		{
			// max_chunks 1: the first heap in chunk 1 moves the window
			// past chunk 0 before any allocation.
			name:      "single-packet heaps too old, rejected and badly placed",
			maxChunks: 1,
			mod: withPlacer(func(d *PlaceData) {
				switch stdPlacement(d) {
				case 6:
					d.ChunkID = -1
				case 7:
					d.HeapIndex = 9
				}
			}),
			batches: [][][]byte{{sp(4), sp(0), sp(6), sp(7), sp(5)}},
			alloc:   []int64{1}, ready: []int64{1},
			chunks: map[int64]*chunkWant{1: wantChunk().full(0, 4).full(1, 5)},
			stats: map[string]uint64{"packets": 5, "batches": 1, "max_batch": 5, "heaps": 5, "single_packet_heaps": 5,
				"too_old_heaps": 1, "rejected_heaps": 1, "bad_placement_heaps": 1, "search_dist": 20},
		},
		{
			name:    "heap of length 0",
			mod:     withPlacer(func(d *PlaceData) { stdPlacement(d) }),
			batches: [][][]byte{cat(encodeHeap(1, 0, tPacketPayload), pks(0))},
			alloc:   []int64{0}, ready: []int64{0},
			chunks: map[int64]*chunkWant{0: wantChunk().full(0, 0).flags(1)},
			stats:  map[string]uint64{"packets": 5, "batches": 1, "max_batch": 5, "heaps": 2, "single_packet_heaps": 1, "search_dist": 4 + 7},
		},
	}
	buffered := 0
	for _, c := range cases {
		// Each case runs with the place function called per heap, and
		// again through a BatchPlacer (as the C ABI's place functions are):
		// the outcome must be the same, with the same number of calls.
		// Where every packet could be stored back to back in memory (each
		// is whole, so a reader could cut it) and the stream does not stop
		// mid-batch, both run again with each batch handed over as one
		// buffer (AddBuffer, the memory reader's path), to the same end.
		variants := []struct {
			suffix            string
			batched, asBuffer bool
		}{{"", false, false}, {" (batch placer)", true, false}}
		if cuttable(c) {
			variants = append(variants, struct {
				suffix            string
				batched, asBuffer bool
			}{" (buffer)", false, true}, struct {
				suffix            string
				batched, asBuffer bool
			}{" (buffer, batch placer)", true, true})
			buffered++
		}
		calls := make([]int, len(variants))
		for v, vr := range variants {
			vc := c
			vc.asBuffer = vr.asBuffer
			vc.mod = func(sc *StreamConfig, cc *ChunkStreamConfig) {
				if c.mod != nil {
					c.mod(sc, cc)
				}
				counting := &countingPlacer{inner: cc.Place, calls: &calls[v]}
				cc.Place = counting
				if vr.batched {
					cc.Place = &testBatchPlacer{counting}
				}
			}
			t.Run(c.name+vr.suffix, func(t *testing.T) { runStreamCase(t, vc) })
		}
		for v := 1; v < len(variants); v++ {
			if calls[v] != calls[0] {
				t.Errorf("%s: place called %d times per heap, %d times%s", c.name, calls[0], calls[v], variants[v].suffix)
			}
		}
	}
	if buffered < len(cases)/2 {
		t.Errorf("only %d of %d cases ran as buffers", buffered, len(cases))
	}
}

// cuttable reports whether every batch of c can be handed over as one
// buffer of packets back to back, to the same effect: each packet's length
// is what its header says, and every batch is taken whole.
func cuttable(c streamCase) bool {
	for i, b := range c.batches {
		if c.wantAdd != nil && !c.wantAdd[i] {
			return false
		}
		for _, p := range b {
			if n, err := spead.Cut(p); err != nil || n != len(p) {
				return false
			}
		}
	}
	return true
}

// countingPlacer counts the placements it makes.
type countingPlacer struct {
	inner Placer
	calls *int
}

func (p *countingPlacer) Place(d *PlaceData) { *p.calls++; p.inner.Place(d) }

// testBatchPlacer places a batch by calling Place on each entry, as the C
// ABI's trampoline does on the C side.
type testBatchPlacer struct{ Placer }

func (p *testBatchPlacer) PlaceBatch(first *PlaceData, n int) {
	ds := unsafe.Slice(first, n)
	for i := range ds {
		p.Place(&ds[i])
	}
}

// truncatedBatch is heap 0 with packet 2 cut short by one byte, heap 1
// whole, and a 5-byte stub of a packet.
func truncatedBatch() [][]byte {
	h0 := pk(0)
	return cat(h0[:2], [][]byte{h0[2][:len(h0[2])-1], h0[3]}, pks(1), [][]byte{h0[0][:5]})
}

// TestPlaceItems checks what the place function is given: the requested
// items' immediate values, -1 for an absent or addressed item, the special
// items, initialised outputs, the first packet's bytes and the statistics.
func TestPlaceItems(t *testing.T) {
	type call struct {
		items   []int64
		outs    [5]int64
		packet  []byte
		nstats  int
		scratch int
	}
	var calls []call
	items := []uint64{spead.HeapCntID, spead.HeapLengthID, spead.PayloadOffsetID, spead.PayloadLengthID, 0x1600, 0x1601, 0x1602}
	heapItems := []spead.Item{{ID: 0x1600, Immediate: true, Value: 77}, {ID: 0x1602, Value: 0}}
	rec := newRecorder(tHeapsPerChunk, tChunkSize, 0)
	s := newTestStreamWith(t, rec, 2, func(c *StreamConfig, cc *ChunkStreamConfig) {
		c.AllowOutOfOrder = true
		cc.Items = items
		cc.MaxHeapExtra = 24
		cc.Place = PlacerFunc(func(d *PlaceData) {
			calls = append(calls, call{
				items:   append([]int64(nil), d.ItemValues(len(items))...),
				outs:    [5]int64{d.ChunkID, int64(d.HeapIndex), int64(d.HeapOffset), int64(d.ExtraOffset), int64(d.ExtraSize)},
				packet:  append([]byte(nil), d.PacketBytes()...),
				nstats:  len(d.Stats(NumStandardStats)),
				scratch: len(d.ExtraScratch(24)),
			})
			cnt := d.ItemValues(1)[0]
			d.ChunkID = cnt / tHeapsPerChunk
			d.HeapIndex = uintptr(cnt % tHeapsPerChunk)
			d.HeapOffset = d.HeapIndex * tHeapSize
		})
	})
	h5 := encodeHeap(5, tHeapSize, tPacketPayload, heapItems...)
	h6 := encodeHeap(6, tHeapSize, tPacketPayload) // no extra items at all
	// Heap 5 starts with its third packet (out of order allowed).
	if !s.AddBatch(cat(h5[2:3], h5[:2], h5[3:], h6)) {
		t.Fatal("stream stopped")
	}
	s.Stop()
	want := []call{
		{items: []int64{5, tHeapSize, 2 * tPacketPayload, tPacketPayload, 77, -1, -1}, outs: [5]int64{-1, 0, 0, 0, 0}, packet: h5[2]},
		{items: []int64{6, tHeapSize, 0, tPacketPayload, -1, -1, -1}, outs: [5]int64{-1, 0, 0, 0, 0}, packet: h6[0]},
	}
	if len(calls) != len(want) {
		t.Fatalf("place called %d times, want %d: %+v", len(calls), len(want), calls)
	}
	for i, w := range want {
		g := calls[i]
		if !slices.Equal(g.items, w.items) || g.outs != w.outs || !bytes.Equal(g.packet, w.packet) {
			t.Errorf("call %d: items %v outs %v packet %d bytes; want items %v outs %v packet %d bytes",
				i, g.items, g.outs, len(g.packet), w.items, w.outs, len(w.packet))
		}
		if g.nstats != NumStandardStats || g.scratch != 24 {
			t.Errorf("call %d: %d stats, %d scratch bytes", i, g.nstats, g.scratch)
		}
	}
	if !equalIDs(rec.readyIDs(), []int64{0, 1}) || !equalIDs(rec.allocated, []int64{0, 1}) {
		t.Fatalf("allocated %v ready %v", rec.allocated, rec.readyIDs())
	}
	checkChunk(t, rec.chunkByID(t, 0), wantChunk())
	checkChunk(t, rec.chunkByID(t, 1), wantChunk().full(1, 5).full(2, 6))
	wantExactStats(t, s, map[string]uint64{"packets": 8, "batches": 1, "max_batch": 8, "heaps": 2, "search_dist": 14})
}

// TestAddBatchAfterStop: a stopped stream refuses batches and its
// statistics no longer change.
func TestAddBatchAfterStop(t *testing.T) {
	s, rec := newTestStream(t, 2, nil)
	if !s.AddBatch(pks(0)) {
		t.Fatal("stream stopped")
	}
	s.Stop()
	s.Stop() // idempotent
	if s.AddBatch(pks(1)) {
		t.Fatal("AddBatch after Stop returned true")
	}
	if !equalIDs(rec.readyIDs(), []int64{0}) {
		t.Fatalf("ready %v", rec.readyIDs())
	}
	checkChunk(t, rec.chunkByID(t, 0), wantChunk().full(0, 0))
	wantExactStats(t, s, map[string]uint64{"packets": 4, "batches": 1, "max_batch": 4, "heaps": 1, "search_dist": 7})
}

// TestStatsWhileRunning takes snapshots while another goroutine feeds the
// stream (run it with -race): each snapshot is consistent (one whole heap
// per batch, so packets = 4 batches = 4 heaps) and totals never go down.
func TestStatsWhileRunning(t *testing.T) {
	const nHeaps = 2000
	s, rec := newTestStream(t, 2, nil)
	batches := make([][][]byte, nHeaps)
	for i := range batches {
		batches[i] = pk(uint64(i))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, b := range batches {
			if !s.AddBatch(b) {
				return
			}
		}
	}()
	var prev []uint64
	snapshots := 0
	deadline := time.After(30 * time.Second)
	check := func() {
		v := s.Stats().Values
		snapshots++
		if v[StatPackets] != 4*v[StatBatches] || v[StatHeaps] != v[StatBatches] {
			t.Fatalf("inconsistent snapshot: packets %d batches %d heaps %d", v[StatPackets], v[StatBatches], v[StatHeaps])
		}
		for i := range prev {
			if v[i] < prev[i] {
				t.Fatalf("statistic %d went down: %d -> %d", i, prev[i], v[i])
			}
		}
		prev = v
	}
loop:
	for {
		select {
		case <-done:
			break loop
		case <-deadline:
			t.Fatal("feeder still running after 30s")
		default:
			check()
		}
	}
	check()
	s.Stop()
	if n := len(rec.readyIDs()); n != nHeaps/tHeapsPerChunk {
		t.Fatalf("%d chunks readied, want %d", n, nHeaps/tHeapsPerChunk)
	}
	wantExactStats(t, s, map[string]uint64{"packets": 4 * nHeaps, "batches": nHeaps, "max_batch": 4, "heaps": nHeaps, "search_dist": 7 * nHeaps})
	t.Logf("%d snapshots", snapshots)
}

// TestReaderEndOfBuffer: a reader that reaches the end of its input stops
// the stream by itself, which readies every chunk, without an error.
func TestReaderEndOfBuffer(t *testing.T) {
	s, rec := newTestStream(t, 2, nil)
	r := &sliceReader{pkts: cat(pks(seq(0, 10)...), pk(10, 0, 1)), batch: 3}
	if err := s.AddReader(r); err != nil {
		t.Fatal(err)
	}
	waitReaders(t, s, 10*time.Second)
	if !s.isStopped() {
		t.Fatal("stream did not stop at the end of its input")
	}
	if err := s.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}
	if r.closes.Load() == 0 {
		t.Fatal("reader never closed")
	}
	if got := rec.readyIDs(); !equalIDs(got, []int64{0, 1, 2}) || !equalIDs(rec.allocated, []int64{0, 1, 2}) {
		t.Fatalf("ready %v allocated %v", got, rec.allocated)
	}
	checkChunk(t, rec.chunkByID(t, 0), wantChunk().full(0, 0).full(1, 1).full(2, 2).full(3, 3))
	checkChunk(t, rec.chunkByID(t, 1), wantChunk().full(0, 4).full(1, 5).full(2, 6).full(3, 7))
	checkChunk(t, rec.chunkByID(t, 2), wantChunk().full(0, 8).full(1, 9).part(2, 10, 0, 1))
	wantExactStats(t, s, map[string]uint64{"packets": 42, "batches": 14, "max_batch": 3, "heaps": 11,
		"incomplete_heaps_flushed": 1, "search_dist": 10*7 + 4 + 1})
	s.Stop()
}

// TestReaderError: a failing reader stops its stream and Err reports why.
func TestReaderError(t *testing.T) {
	boom := errors.New("boom")
	s, rec := newTestStream(t, 2, nil)
	r := &sliceReader{pkts: cat(pks(0), pk(1, 0)), batch: 64, err: boom}
	if err := s.AddReader(r); err != nil {
		t.Fatal(err)
	}
	waitReaders(t, s, 10*time.Second)
	if err := s.Err(); !errors.Is(err, boom) {
		t.Fatalf("Err() = %v, want %v", err, boom)
	}
	if !s.isStopped() {
		t.Fatal("stream did not stop")
	}
	if got := rec.readyIDs(); !equalIDs(got, []int64{0}) {
		t.Fatalf("ready %v", got)
	}
	checkChunk(t, rec.chunkByID(t, 0), wantChunk().full(0, 0).part(1, 1, 0))
	wantExactStats(t, s, map[string]uint64{"packets": 5, "batches": 1, "max_batch": 5, "heaps": 2,
		"incomplete_heaps_flushed": 1, "search_dist": 7 + 4})
	s.Stop()
	if err := s.AddReader(&sliceReader{batch: 1}); !errors.Is(err, ErrState) {
		t.Fatalf("AddReader on a stopped stream: %v", err)
	}
}

// TestReaderStopItem: a stop item ends the reader's Run (AddBatch returns
// false) and the stream, without an error.
func TestReaderStopItem(t *testing.T) {
	s, rec := newTestStream(t, 2, nil)
	r := &sliceReader{pkts: cat(pks(0), [][]byte{stopPacketCnt(9)}, pks(1)), batch: 2}
	if err := s.AddReader(r); err != nil {
		t.Fatal(err)
	}
	waitReaders(t, s, 10*time.Second)
	if !r.stopped.Load() || s.Err() != nil {
		t.Fatalf("reader saw AddBatch false: %v, Err() = %v", r.stopped.Load(), s.Err())
	}
	if got := rec.readyIDs(); !equalIDs(got, []int64{0}) {
		t.Fatalf("ready %v", got)
	}
	checkChunk(t, rec.chunkByID(t, 0), wantChunk().full(0, 0))
	// Batches: [p0 p1] [p2 p3] [stop, heap 1 p0 (not processed)].
	wantExactStats(t, s, map[string]uint64{"packets": 5, "batches": 3, "max_batch": 2, "heaps": 1, "search_dist": 7})
}

// TestAddBuffer covers what only a buffer of packets back to back has: a
// batch is at most maxPackets packets, cut in order across several slices
// for a batch placer; a packet that cannot be cut ends the call with its
// error after those before it; a stop item ends it early. Each run is
// compared with the same packets given to AddBatch, to the byte.
func TestAddBuffer(t *testing.T) {
	const nheaps = 150 // 600 packets: several prePlaceCap slices per batch
	pkts := heapsPackets(t, seq(0, nheaps)...)
	buf := bytes.Join(pkts, nil)
	for _, batched := range []bool{false, true} {
		mod := func(_ *StreamConfig, cc *ChunkStreamConfig) {
			if batched {
				cc.Place = &testBatchPlacer{cc.Place}
			}
		}
		name := "place"
		if batched {
			name = "batch placer"
		}
		t.Run(name, func(t *testing.T) {
			// Whole buffer in batches of at most 250 packets.
			ref, refRec := newTestStream(t, 40, mod)
			for i := 0; i < len(pkts); i += 250 {
				ref.AddBatch(pkts[i:min(i+250, len(pkts))])
			}
			ref.Stop()
			s, rec := newTestStream(t, 40, mod)
			var sizes []int
			for off := 0; off < len(buf); {
				used, ok, err := s.AddBuffer(buf[off:], 250)
				if !ok || err != nil || used == 0 {
					t.Fatalf("AddBuffer at %d: %d, %v, %v", off, used, ok, err)
				}
				sizes = append(sizes, used)
				off += used
			}
			s.Stop()
			if n := len(pkts[0]); len(sizes) != 3 || sizes[0] != 250*n || sizes[1] != 250*n || sizes[2] != 100*n {
				t.Fatalf("batches took %v bytes, want 250, 250 and 100 packets of %d", sizes, n)
			}
			sameOutcome(t, rec, refRec, s, ref)
			wantStats(t, s, map[string]uint64{"packets": 600, "heaps": nheaps, "batches": 3, "max_batch": 250})

			// A bad packet: those before it are taken, the call reports
			// the error and stops at its offset. (A packet cut short can
			// only be told at the end of the buffer: in the middle its
			// header takes the next packet's first bytes as its own.)
			for _, c := range []struct {
				name string
				tail []byte
				err  error
			}{
				{"bad magic", append([]byte{0x54, 4, 2, 6, 0, 0, 0, 0}, pkts[128]...), spead.ErrMagic},
				{"cut short", pkts[128][:len(pkts[128])-1], spead.ErrShort},
			} {
				s, rec := newTestStream(t, 40, mod)
				good := bytes.Join(pkts[:128], nil)
				bad := append(append([]byte(nil), good...), c.tail...)
				used, ok, err := s.AddBuffer(bad, 1000)
				if used != len(good) || !ok || !errors.Is(err, c.err) {
					t.Fatalf("%s: AddBuffer returned %d, %v, %v; want %d, true, %v", c.name, used, ok, err, len(good), c.err)
				}
				// Nothing at all to take: no batch.
				if used, ok, err := s.AddBuffer(bad[len(good):], 1000); used != 0 || !ok || !errors.Is(err, c.err) {
					t.Fatalf("%s at the start: AddBuffer returned %d, %v, %v", c.name, used, ok, err)
				}
				s.Stop()
				ref, refRec := newTestStream(t, 40, mod)
				ref.AddBatch(pkts[:128])
				ref.Stop()
				sameOutcome(t, rec, refRec, s, ref)
				wantStats(t, s, map[string]uint64{"packets": 128, "heaps": 32, "batches": 1, "max_batch": 128})
			}

			// A stop item after 70 packets, or as the last packet of the
			// first slice a batch placer is given: the stream stops there.
			for _, at := range []int{70, prePlaceCap - 1} {
				s, rec = newTestStream(t, 40, mod)
				stop := stopPacket(t)
				stopped := append(append(bytes.Join(pkts[:at], nil), stop...), bytes.Join(pkts[at:], nil)...)
				if used, ok, err := s.AddBuffer(stopped, 1000); ok || err != nil || used != len(pkts[0])*at+len(stop) {
					t.Fatalf("stop item after %d: AddBuffer returned %d, %v, %v", at, used, ok, err)
				}
				if used, ok, _ := s.AddBuffer(buf, 10); ok || used != 0 {
					t.Fatalf("after the stop: AddBuffer returned %d, %v", used, ok)
				}
				whole, part := at/tPacketsPerHeap, at%tPacketsPerHeap
				want := map[string]uint64{"packets": uint64(at + 1), "heaps": uint64(whole), "batches": 1, "max_batch": uint64(at + 1)}
				if part > 0 {
					want["heaps"]++
					want["incomplete_heaps_flushed"] = 1
				}
				wantStats(t, s, want)
				var ids []int64
				for id := int64(0); id <= int64((at-1)/tPacketsPerHeap/tHeapsPerChunk); id++ {
					ids = append(ids, id)
				}
				if got := rec.readyIDs(); !equalIDs(got, ids) {
					t.Fatalf("stop item after %d: readied %v, want %v", at, got, ids)
				}
			}
		})
	}
}

// sameOutcome checks that two streams fed the same packets readied the
// same chunks with the same contents and count the same statistics, apart
// from the per-batch ones.
func sameOutcome(t *testing.T, rec, refRec *recorder, s, ref *Stream) {
	t.Helper()
	ids, refIDs := rec.readyIDs(), refRec.readyIDs()
	if !equalIDs(ids, refIDs) || len(ids) == 0 {
		t.Fatalf("readied %v, want %v", ids, refIDs)
	}
	for _, id := range ids {
		got, want := rec.chunkByID(t, id), refRec.chunkByID(t, id)
		if !bytes.Equal(got.present, want.present) || !bytes.Equal(got.data, want.data) {
			t.Fatalf("chunk %d differs from the AddBatch run", id)
		}
	}
	got, want := statsOf(s), statsOf(ref)
	for k, v := range want {
		if k != "batches" && k != "max_batch" && got[k] != v {
			t.Errorf("stat %s = %d, want %d as with AddBatch", k, got[k], v)
		}
	}
}
