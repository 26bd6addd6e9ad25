package recv

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// Test geometry: 64-byte heaps in 16-byte packets, 4 heaps per chunk.
const (
	tHeapSize      = 64
	tPacketPayload = 16
	tHeapsPerChunk = 4
	tChunkSize     = tHeapSize * tHeapsPerChunk

	tPacketsPerHeap = tHeapSize / tPacketPayload
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
	return CounterGrid(heapsPerChunk, heapSize)
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

// ---- Table-driven stream test helpers (added for the engine tests) ----

// encodeHeap is heapPackets without a testing.TB, for table literals: the
// packets of heap cnt with size payload bytes cut into packetPayload-byte
// packets, 64-48, pointers repeated. It panics on encoder errors (a broken
// test, not a failing engine).
func encodeHeap(cnt uint64, size, packetPayload int, items ...spead.Item) [][]byte {
	return encodePayload(cnt, heapPayload(cnt, size), packetPayload, items...)
}

// encodePayload encodes a heap with the given payload.
func encodePayload(cnt uint64, payload []byte, packetPayload int, items ...spead.Item) [][]byte {
	enc, err := spead.NewEncoder(spead.EncoderConfig{PacketPayload: packetPayload, RepeatPointers: true})
	if err != nil {
		panic(err)
	}
	var out [][]byte
	err = enc.Packets(&spead.Heap{Cnt: cnt, Items: items, Payload: payload}, func(p []byte) error {
		out = append(out, append([]byte(nil), p...))
		return nil
	})
	if err != nil {
		panic(err)
	}
	return out
}

// pk returns the packets idx (all four if none given) of standard test heap
// cnt (tHeapSize bytes in tPacketPayload-byte packets), in the order given.
func pk(cnt uint64, idx ...int) [][]byte {
	all := encodeHeap(cnt, tHeapSize, tPacketPayload)
	if len(idx) == 0 {
		return all
	}
	out := make([][]byte, len(idx))
	for i, j := range idx {
		out[i] = all[j]
	}
	return out
}

// pks returns all packets of the standard test heaps cnts, in order.
func pks(cnts ...uint64) [][]byte {
	var out [][]byte
	for _, c := range cnts {
		out = append(out, pk(c)...)
	}
	return out
}

// cat concatenates packet lists.
func cat(parts ...[][]byte) [][]byte {
	var out [][]byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// stopPacketCnt is a stop heap with the given heap counter.
func stopPacketCnt(cnt uint64) []byte {
	enc, err := spead.NewEncoder(spead.EncoderConfig{})
	if err != nil {
		panic(err)
	}
	b, err := enc.AppendHeap(nil, spead.StopHeap(cnt))
	if err != nil {
		panic(err)
	}
	return b
}

// craftPacket builds one SPEAD-64-48 packet by hand, so tests can make
// packets the encoder refuses to (zero-length payloads at the end of a
// heap, for instance): heap_cnt, heap_length (omitted if heapLen < 0),
// payload_offset, payload_length = len(payload).
func craftPacket(cnt uint64, heapLen, off int64, payload []byte) []byte {
	ptr := func(id, v uint64) []byte {
		return binary.BigEndian.AppendUint64(nil, 1<<63|id<<48|v)
	}
	var ptrs [][]byte
	ptrs = append(ptrs, ptr(spead.HeapCntID, cnt))
	if heapLen >= 0 {
		ptrs = append(ptrs, ptr(spead.HeapLengthID, uint64(heapLen)))
	}
	ptrs = append(ptrs, ptr(spead.PayloadOffsetID, uint64(off)), ptr(spead.PayloadLengthID, uint64(len(payload))))
	b := []byte{spead.Magic, spead.Version, 2, 6, 0, 0, 0, byte(len(ptrs))}
	for _, p := range ptrs {
		b = append(b, p...)
	}
	return append(b, payload...)
}

// chunkWant is the exact expected content of a readied chunk: every byte of
// present, data and extra, so bytes a test expects untouched are checked
// too.
type chunkWant struct {
	present, data, extra []byte
}

// wantChunk expects a chunk of the standard test geometry, all zero.
func wantChunk() *chunkWant { return wantChunkSized(tHeapsPerChunk, tChunkSize, 0) }

// wantChunkSized expects an all-zero chunk of the given sizes.
func wantChunkSized(presentSize, dataSize, extraSize int) *chunkWant {
	return &chunkWant{present: make([]byte, presentSize), data: make([]byte, dataSize), extra: make([]byte, extraSize)}
}

// full expects standard heap cnt complete at slot (bytes at slot*tHeapSize,
// present[slot] = 1).
func (w *chunkWant) full(slot int, cnt uint64) *chunkWant {
	w.part(slot, cnt, 0, 1, 2, 3)
	w.present[slot] = 1
	return w
}

// part expects only packets pkts of standard heap cnt written at slot, with
// no presence flag (an incomplete heap).
func (w *chunkWant) part(slot int, cnt uint64, pkts ...int) *chunkWant {
	for _, p := range pkts {
		for i := p * tPacketPayload; i < (p+1)*tPacketPayload; i++ {
			w.data[slot*tHeapSize+i] = patternByte(cnt, i)
		}
	}
	return w
}

// flags sets present flags.
func (w *chunkWant) flags(idx ...int) *chunkWant {
	for _, i := range idx {
		w.present[i] = 1
	}
	return w
}

// ext expects bytes b at extra offset off.
func (w *chunkWant) ext(off int, b ...byte) *chunkWant {
	copy(w.extra[off:], b)
	return w
}

// checkChunk asserts a readied chunk's exact content.
func checkChunk(t testing.TB, got readyChunk, want *chunkWant) {
	t.Helper()
	cmp := func(what string, g, w []byte) {
		t.Helper()
		if len(g) != len(w) {
			t.Errorf("chunk %d %s: %d bytes, want %d", got.id, what, len(g), len(w))
			return
		}
		for i := range g {
			if g[i] != w[i] {
				t.Errorf("chunk %d %s[%d] = %d, want %d (first difference)\n got %v\nwant %v", got.id, what, i, g[i], w[i], g, w)
				return
			}
		}
	}
	cmp("present", got.present, want.present)
	cmp("data", got.data, want.data)
	cmp("extra", got.extra, want.extra)
}

// wantExactStats asserts every statistic of the stream, standard and
// custom: those not named in want must be 0.
func wantExactStats(t testing.TB, s *Stream, want map[string]uint64) {
	t.Helper()
	st := s.Stats()
	for k := range want {
		if _, ok := st.Get(k); !ok {
			t.Errorf("no statistic named %q", k)
		}
	}
	for i, c := range st.Config {
		if got, w := st.Values[i], want[c.Name]; got != w {
			t.Errorf("stat %s = %d, want %d (all: %v)", c.Name, got, w, st.Map())
		}
	}
}

// sliceReader is a minimal Reader: it feeds its packets in batches and then
// returns err (nil: end of input).
type sliceReader struct {
	pkts    [][]byte
	batch   int
	err     error
	closed  atomic.Bool
	closes  atomic.Int32
	stopped atomic.Bool // AddBatch returned false
}

func (r *sliceReader) Run(sink Sink) error {
	for i := 0; i < len(r.pkts); i += r.batch {
		if r.closed.Load() {
			return nil
		}
		if !sink.AddBatch(r.pkts[i:min(i+r.batch, len(r.pkts))]) {
			r.stopped.Store(true)
			return nil
		}
	}
	return r.err
}

func (r *sliceReader) Close() error {
	r.closed.Store(true)
	r.closes.Add(1)
	return nil
}

// waitReaders waits until every reader goroutine of s has finished
// (including the stream's stop-on-end-of-input work), failing after d.
func waitReaders(t testing.TB, s *Stream, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		s.readerWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("readers still running after %v", d)
	}
}
