package main

import (
	"testing"

	"github.com/chunkgroup/chunkgroup/core/recv"
)

// TestMemoryRunVariants: the memory run delivers every heap with the
// consumer goroutine on a thread of its own as well as without, and with
// the batch placement path as well as inline, and names the variant in
// "impl", since bench.py and docs/tuning.md put them side by side.
func TestMemoryRunVariants(t *testing.T) {
	sc, err := scenario("small")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := buildPackets(sc, 2, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		thread, batch bool
		impl          string
	}{{false, false, "go"}, {true, false, "go-thread"}, {false, true, "go-batch"}} {
		res, err := memoryRun(ps, rigConfig{sc: sc, streams: 2, maxChunks: 4, streamChunks: 2, chunks: 16,
			maxHeaps: recv.DefaultMaxHeaps, lossless: true, consumerThread: v.thread, batchPlace: v.batch})
		if err != nil {
			t.Fatal(err)
		}
		if res["impl"] != v.impl || res["heaps"] != uint64(ps.heaps) || res["chunks"] != uint64(ps.heaps/sc.HeapsPerChunk) ||
			res["rejected_heaps"] != uint64(0) {
			t.Fatalf("%+v: impl %v, %v heaps in %v chunks, %v rejected; want %s, %d in %d, 0",
				v, res["impl"], res["heaps"], res["chunks"], res["rejected_heaps"], v.impl, ps.heaps, ps.heaps/sc.HeapsPerChunk)
		}
	}
}
