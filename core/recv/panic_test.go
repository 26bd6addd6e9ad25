package recv

import (
	"strings"
	"testing"
	"time"
)

// A Go place function that panics (issue 12) stops its stream with an
// error instead of crashing the process or leaving a lock held: the other
// members go on, statistics can be read, and Stop returns.
func TestPanickingGoPlacementStopsOnlyItsStream(t *testing.T) {
	rec := newRecorder(tHeapsPerChunk, tChunkSize, 0)
	g, err := NewGroup(GroupConfig{MaxChunks: 4, Allocate: rec.allocate, Ready: rec.readyFn})
	if err != nil {
		t.Fatal(err)
	}
	var members [2]*Stream
	for i := range members {
		ccfg := gChunkConfig(2, gridPlace(tHeapsPerChunk, tHeapSize), []uint64{1, 2})
		if i == 0 {
			ccfg.Place = PlacerFunc(func(d *PlaceData) {
				if stdPlacement(d) == 4 {
					panic("bad placement code")
				}
			})
		}
		if members[i], err = g.EmplaceBack(DefaultStreamConfig(), ccfg); err != nil {
			t.Fatal(err)
		}
	}
	// Member 0 gets even heaps (it panics at heap 4), member 1 odd ones.
	var even, odd [][]byte
	for cnt := uint64(0); cnt < 16; cnt++ {
		if cnt%2 == 0 {
			even = append(even, pk(cnt)...)
		} else {
			odd = append(odd, pk(cnt)...)
		}
	}
	if err := members[0].AddReader(&sliceReader{pkts: even, batch: 4}); err != nil {
		t.Fatal(err)
	}
	if err := members[1].AddReader(&sliceReader{pkts: odd, batch: 4}); err != nil {
		t.Fatal(err)
	}
	waitReaders(t, members[0], 10*time.Second)
	waitReaders(t, members[1], 10*time.Second)
	if e := members[0].Err(); e == nil || !strings.Contains(e.Error(), "panic while processing packets: bad placement code") {
		t.Fatalf("member 0 error: %v", e)
	}
	if e := members[1].Err(); e != nil {
		t.Fatalf("member 1 error: %v", e)
	}
	if st := statsOf(members[1]); st["heaps"] != 8 {
		t.Fatalf("member 1 stats %v", st)
	}
	statsOf(members[0]) // readable: no lock left held
	done := make(chan struct{})
	go func() { g.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return: a lock was left held")
	}
	// Member 1's heaps all arrived; member 0's before the panic (0, 2).
	for _, cnt := range []uint64{0, 1, 2, 3, 5, 7, 9, 11, 13, 15} {
		checkHeap(t, rec.chunkByID(t, int64(cnt/4)), cnt, int(cnt%4), true)
	}
}
