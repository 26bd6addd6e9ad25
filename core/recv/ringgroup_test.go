package recv

import (
	"errors"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/ring"
)

// Ring group tests (behaviour.md section 5): allocation from a free ring,
// ready into a data ring, members as producers, Stop with a consumer that
// stopped servicing the rings, AddFreeChunk, standalone ring streams.

// gRingSetup makes a ring group of n members with a data ring of capacity
// dataCap and a free ring holding nfree fresh chunks (all returned).
func gRingSetup(t *testing.T, n, gmax, smax int, mode EvictionMode, dataCap, nfree int) (*gFixture, *ring.Ring, *ring.Ring, []*chunk.Chunk) {
	t.Helper()
	return gRingSetupCfg(t, n, smax, GroupConfig{MaxChunks: gmax, EvictionMode: mode}, dataCap, nfree)
}

// gRingSetupCfg is gRingSetup with a whole group configuration.
func gRingSetupCfg(t *testing.T, n, smax int, gcfg GroupConfig, dataCap, nfree int) (*gFixture, *ring.Ring, *ring.Ring, []*chunk.Chunk) {
	t.Helper()
	data, err := ring.New(dataCap)
	if err != nil {
		t.Fatal(err)
	}
	free, err := ring.New(nfree)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewRingGroup(gcfg, data, free)
	if err != nil {
		t.Fatal(err)
	}
	if g.DataRing() != data || g.FreeRing() != free {
		t.Fatal("rings")
	}
	var all []*chunk.Chunk
	for i := 0; i < nfree; i++ {
		c := chunk.New(make([]byte, tHeapsPerChunk), make([]byte, tChunkSize), nil)
		c.Present()[0] = 1 // AddFreeChunk must clear it
		all = append(all, c)
		if err := g.AddFreeChunk(c); err != nil {
			t.Fatal(err)
		}
	}
	f := &gFixture{g: g, pkts: map[uint64][][]byte{}}
	for i := 0; i < n; i++ {
		cfg := DefaultStreamConfig()
		cfg.StreamID = uintptr(100 + i)
		s, err := g.EmplaceBack(cfg, gChunkConfig(smax, gridPlace(tHeapsPerChunk, tHeapSize), []uint64{1, 2}))
		if err != nil {
			t.Fatal(err)
		}
		f.members = append(f.members, s)
	}
	t.Cleanup(func() { gStop(t, g) })
	return f, data, free, all
}

// gSnapshot records a chunk the way the recorder does.
func gSnapshot(c *chunk.Chunk) readyChunk {
	return readyChunk{id: c.ChunkID, streamID: c.StreamID,
		present: append([]byte(nil), c.Present()...),
		data:    append([]byte(nil), c.Data()...)}
}

// gAccount asserts that every chunk in all appears exactly once among the
// given lists.
func gAccount(t testing.TB, all []*chunk.Chunk, lists map[string][]*chunk.Chunk) {
	t.Helper()
	seen := map[*chunk.Chunk]string{}
	for name, l := range lists {
		for _, c := range l {
			if c == nil {
				t.Fatalf("nil chunk in %s", name)
			}
			if prev, ok := seen[c]; ok {
				t.Fatalf("chunk %d both in %s and %s", c.ChunkID, prev, name)
			}
			seen[c] = name
		}
	}
	for i, c := range all {
		if _, ok := seen[c]; !ok {
			t.Fatalf("chunk %d of %d (ID %d) is lost", i, len(all), c.ChunkID)
		}
	}
	if len(seen) != len(all) {
		t.Fatalf("%d chunks accounted for, %d exist", len(seen), len(all))
	}
}

// Stop with the consumer not servicing the data ring (LOSSLESS): a member
// blocks in ready on the full data ring; Stop returns within the bound, and
// every chunk is accounted for exactly once (data ring, kept aside, free
// ring). LOSSY no longer blocks there (its readied chunks wait in the
// group's queue): TestRingGroupLossyConsumerGone in fault_test.go.
func TestRingGroupStopConsumerGone(t *testing.T) {
	t.Run("lossless", func(t *testing.T) {
		mode := Lossless
		gmax, smax := gLockstepWindows(mode)
		const nfree = 10
		f, data, free, all := gRingSetup(t, gMembers, gmax, smax, mode, 2, nfree)
		cnts := seq(0, 40)
		f.prepare(t, cnts)
		feed := gGo(func() { _ = f.lockstep(cnts) })
		// Chunks 0 and 1 fill the data ring. The last member moving to
		// chunk 3 (heap 15) readies chunk 2 and blocks; whether heap 15
		// still lands in chunk 3 depends on whether it got there before
		// Stop, which its heaps counter tells afterwards.
		lastDone := f.members[2] // heap 14 done
		gWaitFor(t, "a member blocked on the full data ring", func() bool {
			return data.Len() == 2 && free.Len() == nfree-4 && lastDone.Stats().Map()["heaps"] == 4
		})
		time.Sleep(20 * time.Millisecond)
		select {
		case <-feed:
			t.Fatal("feeder finished although the data ring is full")
		default:
		}
		kept := gStop(t, f.g)
		gWithin(t, gBound, "feeder after Stop", feed)
		var inData []*chunk.Chunk
		for {
			c, err := data.TryPop()
			if err != nil {
				if !errors.Is(err, ring.ErrStopped) {
					t.Fatalf("data ring: %v", err)
				}
				break
			}
			inData = append(inData, c)
		}
		inFree := free.Drain()
		gAccount(t, all, map[string][]*chunk.Chunk{"data ring": inData, "kept aside": kept, "free ring": inFree})
		dataRec := &recorder{}
		for _, c := range inData {
			dataRec.ready = append(dataRec.ready, gSnapshot(c))
		}
		gExpect(t, dataRec, []int64{0, 1}, gStdHeap(gAll))
		heap15 := f.members[3].Stats().Map()["heaps"] == 4
		rec := &recorder{}
		for _, c := range kept {
			rec.ready = append(rec.ready, gSnapshot(c))
		}
		gExpect(t, rec, []int64{2, 3}, gStdHeap(func(cnt int64) bool { return cnt != 15 || heap15 }))
		if len(inFree) != nfree-4 {
			t.Fatalf("free ring holds %d chunks, want %d", len(inFree), nfree-4)
		}
		for _, s := range f.members {
			if s.Stats().Map()["worker_blocked"] > 1 {
				t.Fatalf("worker_blocked %v", s.Stats().Map())
			}
		}
	})
}

// Members as producers of the data ring: each member's reader ends its
// input, the data ring stops after the last one, and the consumer loop
// ends by itself.
func TestRingGroupMembersAsProducers(t *testing.T) {
	gModes(t, func(t *testing.T, mode EvictionMode) {
		gmax, smax, nfree := 2, 2, 6
		if mode == Lossy {
			gmax, nfree = 16, 20 // members race: window wider than the data
		}
		f, data, _, _ := gRingSetup(t, gMembers, gmax, smax, mode, 2, nfree)
		cnts := seq(0, 32)
		var readers []*gSliceReader
		for m := range f.members {
			readers = append(readers, &gSliceReader{pkts: f.memberPackets(t, m, cnts), batch: 3})
		}
		var got []readyChunk
		var consumerErr error
		consumer := gGo(func() {
			for {
				c, err := data.Pop()
				if err != nil {
					if !errors.Is(err, ring.ErrStopped) {
						consumerErr = err
					}
					return
				}
				got = append(got, gSnapshot(c))
				if err := f.g.AddFreeChunk(c); err != nil {
					consumerErr = err
					return
				}
			}
		})
		for m, s := range f.members {
			if err := s.AddReader(readers[m]); err != nil {
				t.Fatal(err)
			}
		}
		gWithin(t, gBound, "consumer loop ending by itself", consumer)
		if consumerErr != nil {
			t.Fatal(consumerErr)
		}
		if !data.Stopped() {
			t.Fatal("data ring not stopped")
		}
		if f.g.Stopped() {
			t.Fatal("end of input stopped the group itself")
		}
		rec := &recorder{ready: got}
		gExpect(t, rec, gIDs(0, 8), gStdHeap(gAll))
		if kept := gStop(t, f.g); len(kept) != 0 {
			t.Fatalf("Stop kept %d chunks aside", len(kept))
		}
		for m, s := range f.members {
			if readers[m].runs.Load() != 1 {
				t.Fatalf("reader %d ran %d times", m, readers[m].runs.Load())
			}
			gWantCounts(t, s, 32, 8)
		}
	})
}

// AddFreeChunk zeroes present, reports Full when full and is silent once
// the free ring has stopped; it is an error on a group without rings.
func TestRingGroupAddFreeChunk(t *testing.T) {
	f, _, free, all := gRingSetup(t, 1, 2, 2, Lossy, 2, 2)
	for _, c := range all {
		if c.Present()[0] != 0 {
			t.Fatal("AddFreeChunk did not clear present")
		}
	}
	extra := chunk.New([]byte{1, 1, 1, 1}, make([]byte, tChunkSize), nil)
	if err := f.g.AddFreeChunk(extra); !errors.Is(err, ring.ErrFull) {
		t.Fatalf("full free ring: %v", err)
	}
	if free.Len() != 2 {
		t.Fatalf("free ring len %d", free.Len())
	}
	c, err := free.TryPop()
	if err != nil {
		t.Fatal(err)
	}
	c.Present()[2] = 1
	if err := f.g.AddFreeChunk(c); err != nil {
		t.Fatal(err)
	}
	if c.Present()[2] != 0 {
		t.Fatal("present not cleared")
	}
	free.Stop()
	if err := f.g.AddFreeChunk(extra); err != nil {
		t.Fatalf("stopped free ring: %v, want nil", err)
	}
	if free.Len() != 2 {
		t.Fatal("a chunk was taken by a stopped free ring")
	}
	plain := gNewGroup(t, 1, 2, 2, Lossy, nil, nil)
	if err := plain.g.AddFreeChunk(extra); !errors.Is(err, ErrState) {
		t.Fatalf("AddFreeChunk on a group without rings: %v", err)
	}
}

// A standalone ring stream (one member): the data ring stops when its
// input ends with a stop item, and the consumer sees every chunk.
func TestRingStreamStandalone(t *testing.T) {
	data, _ := ring.New(2)
	free, _ := ring.New(4)
	ccfg := gChunkConfig(2, gridPlace(tHeapsPerChunk, tHeapSize), []uint64{1, 2})
	cfg := DefaultStreamConfig()
	cfg.StreamID = 100
	s, err := NewRingStream(cfg, ccfg, data, free)
	if err != nil {
		t.Fatal(err)
	}
	g := s.Group()
	t.Cleanup(func() { gStop(t, g) })
	if g.Len() != 1 || g.At(0) != s {
		t.Fatal("a ring stream is a group of one")
	}
	for i := 0; i < 4; i++ {
		if err := g.AddFreeChunk(chunk.New(make([]byte, tHeapsPerChunk), make([]byte, tChunkSize), nil)); err != nil {
			t.Fatal(err)
		}
	}
	var got []readyChunk
	consumer := gGo(func() {
		for {
			c, err := data.Pop()
			if err != nil {
				return
			}
			got = append(got, gSnapshot(c))
			_ = g.AddFreeChunk(c)
		}
	})
	pkts := append(heapsPackets(t, seq(0, 24)...), stopPacket(t))
	r := &gSliceReader{pkts: pkts, batch: 5}
	if err := s.AddReader(r); err != nil {
		t.Fatal(err)
	}
	gWithin(t, gBound, "consumer", consumer)
	gExpect(t, &recorder{ready: got}, gIDs(0, 6), gStdHeap(gAll))
	if kept := gStop(t, g); len(kept) != 0 {
		t.Fatalf("kept %d", len(kept))
	}
	gWantCounts(t, s, 97, 24)
}

// Stop while a member is blocked allocating from an empty free ring (the
// consumer keeps its chunks): Stop returns within the bound and every chunk
// is accounted for once.
func TestRingGroupStopFreeRingEmpty(t *testing.T) {
	gModes(t, func(t *testing.T, mode EvictionMode) {
		gmax, smax := gLockstepWindows(mode)
		f, data, free, all := gRingSetup(t, gMembers, gmax, smax, mode, 8, 2)
		cnts := seq(0, 16)
		f.prepare(t, cnts)
		feed := gGo(func() { _ = f.lockstep(cnts) })
		// Chunks 0 and 1 are taken; chunk 0 is readied once every member has
		// moved on, and the member needing chunk 2 waits for a free chunk.
		gWaitFor(t, "a member blocked on the empty free ring", func() bool {
			return data.Len() == 1 && free.Len() == 0 && f.members[3].Stats().Map()["heaps"] == 2
		})
		kept := gStop(t, f.g)
		gWithin(t, gBound, "feeder after Stop", feed)
		inData := data.Drain()
		gAccount(t, all, map[string][]*chunk.Chunk{"data ring": inData, "kept aside": kept, "free ring": free.Drain()})
		dataRec := &recorder{}
		for _, c := range inData {
			dataRec.ready = append(dataRec.ready, gSnapshot(c))
		}
		gExpect(t, dataRec, []int64{0}, gStdHeap(gAll))
		if len(kept) != 1 || kept[0].ChunkID != 1 {
			t.Fatalf("kept %d chunks, want chunk 1", len(kept))
		}
	})
}

// Adding a reader to one member must not wait for the consumer while
// another member is blocked on an empty free ring holding the group lock
// (spead2-style code adds every reader before it starts consuming).
func TestRingGroupAddReaderWhileAllocateBlocks(t *testing.T) {
	f, _, free, _ := gRingSetup(t, 4, 2, 2, Lossy, 4, 4)
	// 48 heaps = 12 chunks for member 0 alone: it uses up the 4 free chunks
	// and then blocks in allocate, holding the group lock.
	r0 := &gSliceReader{pkts: f.memberPackets(t, 0, seq(0, 48)), batch: 4}
	if err := f.members[0].AddReader(r0); err != nil {
		t.Fatal(err)
	}
	gWaitFor(t, "the free ring to run dry", func() bool { return free.Len() == 0 })
	done := gGo(func() {
		if err := f.members[1].AddReader(&gSliceReader{pkts: f.memberPackets(t, 1, seq(0, 8)), batch: 4}); err != nil {
			t.Error(err)
		}
	})
	gWithin(t, 5*time.Second, "AddReader on member 1 while member 0 waits for a free chunk", done)
}

// Two groups started and stopped together can share their rings: the data
// ring has a producer per member of both, so it stops only once the last
// member of either group has finished, and every chunk of both groups
// arrives once, with exact contents.
func TestRingsSharedBetweenGroups(t *testing.T) {
	data, _ := ring.New(16)
	free, _ := ring.New(16)
	var groups []*Group
	for gi := 0; gi < 2; gi++ {
		g, err := NewRingGroup(GroupConfig{MaxChunks: 8}, data, free)
		if err != nil {
			t.Fatal(err)
		}
		// Both groups make chunks 0-3; stream IDs (10*group + member) tell
		// them apart.
		place := PlacerFunc(func(d *PlaceData) { stdPlacement(d) })
		for m := 0; m < 2; m++ {
			cfg := DefaultStreamConfig()
			cfg.StreamID = uintptr(10*gi + m)
			if _, err := g.EmplaceBack(cfg, gChunkConfig(4, place, []uint64{1, 2})); err != nil {
				t.Fatal(err)
			}
		}
		groups = append(groups, g)
	}
	for i := 0; i < 16; i++ {
		if err := groups[i%2].AddFreeChunk(chunk.New(make([]byte, tHeapsPerChunk), make([]byte, tChunkSize), nil)); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range groups {
		for m := 0; m < 2; m++ {
			var pkts [][]byte
			for cnt := uint64(m); cnt < 16; cnt += 2 {
				pkts = append(pkts, heapPackets(t, cnt, tHeapSize, tPacketPayload)...)
			}
			if err := g.At(m).AddReader(&gSliceReader{pkts: pkts, batch: 8}); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := map[[2]int64]readyChunk{} // (group, chunk ID)
	done := gGo(func() {
		for {
			c, err := data.Pop()
			if err != nil {
				return // stopped: the last member of both groups has finished
			}
			key := [2]int64{int64(c.StreamID / 10), c.ChunkID}
			if _, dup := got[key]; dup {
				t.Errorf("chunk %v delivered twice", key)
			}
			got[key] = gSnapshot(c)
		}
	})
	gWithin(t, 10*time.Second, "the shared data ring to stop after all four members", done)
	for _, g := range groups {
		gStop(t, g)
	}
	if len(got) != 8 {
		t.Fatalf("got %d chunks, want chunks 0-3 of each group", len(got))
	}
	for gi := int64(0); gi < 2; gi++ {
		for id := int64(0); id < 4; id++ {
			c, ok := got[[2]int64{gi, id}]
			if !ok {
				t.Fatalf("group %d chunk %d missing", gi, id)
			}
			for slot := 0; slot < tHeapsPerChunk; slot++ {
				checkHeap(t, c, uint64(id)*tHeapsPerChunk+uint64(slot), slot, true)
			}
		}
	}
}
