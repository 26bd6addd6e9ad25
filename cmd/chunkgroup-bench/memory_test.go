package main

import (
	"testing"

	"github.com/chunkgroup/chunkgroup/core/recv"
)

// TestMemoryRunConsumerThread: the memory run delivers every heap with
// the consumer goroutine on a thread of its own as well as without, and
// names the variant in "impl", since bench.py puts the two side by side.
func TestMemoryRunConsumerThread(t *testing.T) {
	sc, err := scenario("small")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := buildPackets(sc, 2, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, thread := range []bool{false, true} {
		res, err := memoryRun(ps, rigConfig{sc: sc, streams: 2, maxChunks: 4, streamChunks: 2, chunks: 16,
			maxHeaps: recv.DefaultMaxHeaps, lossless: true, consumerThread: thread})
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{false: "go", true: "go-thread"}[thread]
		if res["impl"] != want || res["heaps"] != uint64(ps.heaps) || res["chunks"] != uint64(ps.heaps/sc.HeapsPerChunk) {
			t.Fatalf("consumerThread=%v: impl %v, %v heaps in %v chunks; want %s, %d in %d",
				thread, res["impl"], res["heaps"], res["chunks"], want, ps.heaps, ps.heaps/sc.HeapsPerChunk)
		}
	}
}
