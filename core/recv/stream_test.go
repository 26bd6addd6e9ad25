package recv

import (
	"testing"
)

// newTestStream makes a standalone chunk stream with the test geometry.
func newTestStream(t *testing.T, maxChunks int, mod func(*StreamConfig, *ChunkStreamConfig)) (*Stream, *recorder) {
	t.Helper()
	rec := newRecorder(tHeapsPerChunk, tChunkSize, 0)
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
	return s, rec
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
