package recv

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/ring"
)

// Fault tests (issue 12): the consumer stops consuming, allocation gives no
// chunk, the free ring runs dry. Members are fed from one goroutine in
// lock-step (heap i to member i % 4), so every outcome is fixed.

// gSum adds statistic name over the members.
func gSum(f *gFixture, name string) uint64 {
	var n uint64
	for _, s := range f.members {
		n += s.Stats().Map()[name]
	}
	return n
}

// gPopN pops n chunks from data (each within gBound), snapshots them and,
// if g is not nil, gives them back to its free ring.
func gPopN(t *testing.T, data *ring.Ring, g *Group, n int) []readyChunk {
	t.Helper()
	var got []readyChunk
	for i := 0; i < n; i++ {
		c, err := data.PopTimeout(gBound)
		if err != nil {
			t.Errorf("chunk %d of %d: %v", i, n, err)
			return got
		}
		got = append(got, gSnapshot(c))
		if g != nil {
			if err := g.AddFreeChunk(c); err != nil {
				t.Errorf("AddFreeChunk: %v", err)
			}
		}
	}
	return got
}

// gExpectChunks asserts the chunk IDs (in order) and full, exact contents.
func gExpectChunks(t *testing.T, got []readyChunk, ids []int64) {
	t.Helper()
	rec := &recorder{ready: got}
	gExpect(t, rec, ids, gStdHeap(gAll))
}

// LOSSY, consumer gone: no member blocks. Readied chunks that do not fit in
// the data ring wait in the group's queue (counted in worker_blocked); once
// the free ring has stayed empty for FreeRingWait the group is starved and
// every later heap is dropped at once and counted in no_chunk_heaps, so the
// members keep taking their input. When the consumer comes back it gets
// every queued chunk, in order and exact, and the chunks it returns end the
// starvation: later data arrives exactly again. Stop hands back the rest.
func TestRingGroupLossyConsumerGone(t *testing.T) {
	const nfree = 10
	gcfg := GroupConfig{MaxChunks: 2, EvictionMode: Lossy, FreeRingWait: 100 * time.Millisecond}
	f, data, free, all := gRingSetupCfg(t, gMembers, 2, gcfg, 2, nfree)
	cnts := seq(0, 120) // chunks 0-29, 4 packets per heap
	f.prepare(t, cnts)
	feed := func(a, b int) {
		t.Helper()
		var err error
		gWithin(t, gBound, "feeding with no consumer", gGo(func() { err = f.lockstep(cnts[a:b]) }))
		if err != nil {
			t.Fatal(err)
		}
	}

	// Chunks 0-9 use the 10 free chunks. Needing chunk 9 readies 0-7: 0 and
	// 1 fill the data ring, 2-7 wait in the queue.
	feed(0, 40)
	if data.Len() != 2 || free.Len() != 0 {
		t.Fatalf("data ring %d, free ring %d; want 2, 0", data.Len(), free.Len())
	}
	if wb, nc := gSum(f, "worker_blocked"), gSum(f, "no_chunk_heaps"); wb != 6 || nc != 0 {
		t.Fatalf("worker_blocked %d no_chunk_heaps %d, want 6, 0", wb, nc)
	}

	// Chunks 10-19: no free chunk comes back. One wait of FreeRingWait,
	// then all 40 heaps are taken in and dropped, counted; 8 and 9 join the
	// queue.
	start := time.Now()
	feed(40, 80)
	if d := time.Since(start); d < gcfg.FreeRingWait {
		t.Fatalf("the group gave up after %v, before FreeRingWait", d)
	}
	if st := [4]uint64{gSum(f, "packets"), gSum(f, "heaps"), gSum(f, "no_chunk_heaps"), gSum(f, "worker_blocked")}; st != [4]uint64{320, 80, 40, 8} {
		t.Fatalf("packets, heaps, no_chunk_heaps, worker_blocked = %v, want [320 80 40 8]", st)
	}
	for _, s := range f.members {
		if st := s.Stats().Map(); st["no_chunk_heaps"] != 10 || st["too_old_heaps"] != 0 || st["incomplete_heaps_evicted"] != 0 {
			t.Fatalf("member %d: %v", s.index, st)
		}
	}

	// The consumer comes back: chunks 0-9 in order, exact.
	gExpectChunks(t, gPopN(t, data, f.g, 10), gIDs(0, 10))

	// Chunks 20-29 with the consumer running: 20-27 arrive exactly, none
	// dropped; 28 and 29 are still in the window at Stop and come back.
	var late []readyChunk
	consumer := gGo(func() { late = gPopN(t, data, f.g, 8) })
	feed(80, 120)
	gWithin(t, gBound, "consumer", consumer)
	gExpectChunks(t, late, gIDs(20, 28))
	if nc, h := gSum(f, "no_chunk_heaps"), gSum(f, "heaps"); nc != 40 || h != 120 {
		t.Fatalf("no_chunk_heaps %d heaps %d, want 40, 120", nc, h)
	}
	kept := gStop(t, f.g)
	var keptSnap []readyChunk
	for _, c := range kept {
		keptSnap = append(keptSnap, gSnapshot(c))
	}
	gExpectChunks(t, keptSnap, gIDs(28, 30))
	gAccount(t, all, map[string][]*chunk.Chunk{"kept aside": kept, "free ring": free.Drain(), "data ring": data.Drain()})
}

// LOSSY, consumer gone, then Stop: the queued chunks are handed back by
// Stop (kept aside) with the data ring's and the window's, each once.
func TestRingGroupLossyStopWithQueuedChunks(t *testing.T) {
	const nfree = 10
	f, data, free, all := gRingSetup(t, gMembers, 2, 2, Lossy, 2, nfree)
	cnts := seq(0, 40)
	f.prepare(t, cnts)
	gWithin(t, gBound, "feeding with no consumer", gGo(func() { _ = f.lockstep(cnts) }))
	start := time.Now()
	kept := gStop(t, f.g)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Stop took %v", d)
	}
	inData := data.Drain()
	gAccount(t, all, map[string][]*chunk.Chunk{"data ring": inData, "kept aside": kept, "free ring": free.Drain()})
	var snap []readyChunk
	for _, c := range inData {
		snap = append(snap, gSnapshot(c))
	}
	gExpectChunks(t, snap, gIDs(0, 2))
	// Queued 2-7 and window 8-9, in whichever order they were set aside.
	byID := map[int64]readyChunk{}
	for _, c := range kept {
		byID[c.ChunkID] = gSnapshot(c)
	}
	var keptSnap []readyChunk
	for id := int64(2); id < 10; id++ {
		c, ok := byID[id]
		if !ok {
			t.Fatalf("chunk %d not handed back (kept %d chunks)", id, len(kept))
		}
		keptSnap = append(keptSnap, c)
	}
	gExpectChunks(t, keptSnap, gIDs(2, 10))
}

// Allocate gives no chunk for IDs 2 and 5: every heap of those chunks is
// dropped and counted in no_chunk_heaps (one per member per chunk), the
// chunks are never readied, and every other chunk arrives exactly.
func TestGroupAllocateNoChunk(t *testing.T) {
	gModes(t, func(t *testing.T, mode EvictionMode) {
		gmax, smax := gLockstepWindows(mode)
		f := gNewGroup(t, gMembers, gmax, smax, mode, nil, nil)
		f.rec.nilFor[2], f.rec.nilFor[5] = true, true
		cnts := seq(0, 32)
		f.prepare(t, cnts)
		var err error
		gWithin(t, gBound, "lock-step feed", gGo(func() { err = f.lockstep(cnts) }))
		if err != nil {
			t.Fatal(err)
		}
		gStop(t, f.g)
		gAllocated(t, f.rec, gIDs(0, 8))
		gExpect(t, f.rec, []int64{0, 1, 3, 4, 6, 7}, gStdHeap(gAll))
		for _, s := range f.members {
			wantExactStats(t, s, map[string]uint64{"packets": 32, "batches": 8, "max_batch": 4,
				"heaps": 8, "no_chunk_heaps": 2, "search_dist": s.Stats().Map()["search_dist"]})
		}
	})
}

// The free ring runs dry: 3 free chunks for 40 chunks of data and a slow
// consumer (1 ms per chunk). The members wait for chunks to come back (in
// LOSSY well within FreeRingWait), and every chunk arrives, in order and
// exact, with nothing dropped.
func TestRingGroupFreeRingDrySlowConsumer(t *testing.T) {
	gModes(t, func(t *testing.T, mode EvictionMode) {
		gmax, smax := gLockstepWindows(mode)
		f, data, _, _ := gRingSetup(t, gMembers, gmax, smax, mode, 8, 3)
		cnts := seq(0, 160)
		f.prepare(t, cnts)
		var got []readyChunk
		consumer := gGo(func() {
			for {
				c, err := data.PopTimeout(gBound)
				if err != nil {
					return // stopped: every member has ended
				}
				got = append(got, gSnapshot(c))
				time.Sleep(time.Millisecond)
				if err := f.g.AddFreeChunk(c); err != nil {
					t.Errorf("AddFreeChunk: %v", err)
				}
			}
		})
		stop := stopPacket(t)
		var err error
		gWithin(t, 4*gBound, "feeding through a dry free ring", gGo(func() {
			if err = f.lockstep(cnts); err == nil {
				for _, s := range f.members { // end of input: the data ring stops
					if s.AddBatch([][]byte{stop}) {
						t.Errorf("member %d did not stop", s.index)
					}
				}
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		gWithin(t, gBound, "consumer to see the data ring stop", consumer)
		gExpectChunks(t, got, gIDs(0, 40))
		if nc, h := gSum(f, "no_chunk_heaps"), gSum(f, "heaps"); nc != 0 || h != 160 {
			t.Fatalf("no_chunk_heaps %d heaps %d, want 0, 160", nc, h)
		}
	})
}

// Randomised LOSSY ring groups with a consumer that pauses at random (now
// and then for longer than FreeRingWait) and members fed concurrently:
// chunk IDs leave the data ring strictly increasing, no chunk is delivered
// twice, nothing deadlocks (every wait bounded), and after Stop every chunk
// is accounted for exactly once.
func TestRingGroupLossyStress(t *testing.T) {
	seeds := 60
	if testing.Short() {
		seeds = 10
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		rng := rand.New(rand.NewSource(seed))
		n := 1 + rng.Intn(4)
		gmax := 1 + rng.Intn(4)
		gcfg := GroupConfig{MaxChunks: gmax, EvictionMode: Lossy, FreeRingWait: time.Duration(1+rng.Intn(5)) * time.Millisecond}
		f, data, free, all := gRingSetupCfg(t, n, 1+rng.Intn(gmax), gcfg, 1+rng.Intn(4), 1+rng.Intn(8))
		nheaps := uint64(40 + rng.Intn(200))
		var feeders []<-chan struct{}
		for m := 0; m < n; m++ {
			var pkts [][]byte
			for cnt := uint64(m); cnt < nheaps; cnt += uint64(n) {
				pkts = append(pkts, heapPackets(t, cnt, tHeapSize, tPacketPayload)...)
			}
			s, batch := f.members[m], 1+rng.Intn(8)
			feeders = append(feeders, gGo(func() {
				for i := 0; i < len(pkts); i += batch {
					if !s.AddBatch(pkts[i:min(i+batch, len(pkts))]) {
						return
					}
				}
			}))
		}
		pauses := make([]time.Duration, 64)
		for i := range pauses {
			if rng.Intn(8) == 0 {
				pauses[i] = time.Duration(rng.Intn(8)) * time.Millisecond
			}
		}
		quit := make(chan struct{})
		var held []*chunk.Chunk // popped after the consumer was told to quit
		var order []int64
		consumer := gGo(func() {
			for i := 0; ; i++ {
				c, err := data.PopTimeout(5 * time.Millisecond)
				if err == nil {
					order = append(order, c.ChunkID)
					time.Sleep(pauses[i%len(pauses)])
					select {
					case <-quit:
						held = append(held, c)
						continue
					default:
					}
					// Not AddFreeChunk: it drops a chunk silently once the
					// free ring has stopped, and we account for every one.
					c.ClearPresent()
					if err := free.TryPush(c); err != nil {
						held = append(held, c) // free ring stopped: ours
					}
					continue
				}
				select {
				case <-quit:
					return
				default:
				}
			}
		})
		for m, done := range feeders {
			gWithin(t, 4*gBound, fmt.Sprintf("seed %d: feeder %d", seed, m), done)
		}
		kept := gStop(t, f.g)
		close(quit)
		gWithin(t, gBound, fmt.Sprintf("seed %d: consumer", seed), consumer)
		for i := 1; i < len(order); i++ {
			if order[i] <= order[i-1] {
				t.Fatalf("seed %d: chunk %d left the data ring after chunk %d", seed, order[i], order[i-1])
			}
		}
		gAccount(t, all, map[string][]*chunk.Chunk{"kept aside": kept, "free ring": free.Drain(),
			"data ring": data.Drain(), "consumer": held})
		var heaps uint64
		for _, s := range f.members {
			heaps += s.Stats().Map()["heaps"]
		}
		if heaps > nheaps {
			t.Fatalf("seed %d: %d heaps counted, %d sent", seed, heaps, nheaps)
		}
	}
}

// A standalone ring stream has no eviction mode: with the consumer gone it
// blocks as spead2's ring stream does (nothing dropped), and once the
// consumer is back every chunk arrives, in order and exact.
func TestRingStreamConsumerGoneBlocks(t *testing.T) {
	data, _ := ring.New(2)
	free, _ := ring.New(4)
	cfg := DefaultStreamConfig()
	cfg.StreamID = 100 // a member's ID, as gExpect checks
	s, err := NewRingStream(cfg, gChunkConfig(2, gridPlace(tHeapsPerChunk, tHeapSize), []uint64{1, 2}), data, free)
	if err != nil {
		t.Fatal(err)
	}
	g := s.Group()
	for i := 0; i < 4; i++ {
		if err := g.AddFreeChunk(chunk.New(make([]byte, tHeapsPerChunk), make([]byte, tChunkSize), nil)); err != nil {
			t.Fatal(err)
		}
	}
	defer gStop(t, g)
	pkts := heapsPackets(t, seq(0, 40)...) // chunks 0-9
	stop := stopPacket(t)
	fed := gGo(func() { s.AddBatch(pkts); s.AddBatch([][]byte{stop}) })
	time.Sleep(1500 * time.Millisecond) // longer than a LOSSY group would wait
	select {
	case <-fed:
		t.Fatal("the ring stream did not wait for the consumer")
	default:
	}
	var got []readyChunk
	for {
		c, err := data.PopTimeout(gBound)
		if err != nil {
			break // stopped: the stream's input ended
		}
		got = append(got, gSnapshot(c))
		g.AddFreeChunk(c)
	}
	gWithin(t, gBound, "feeder", fed)
	gExpectChunks(t, got, gIDs(0, 10))
	if st := s.Stats().Map(); st["no_chunk_heaps"] != 0 || st["heaps"] != 40 {
		t.Fatalf("stats %v", st)
	}
}
