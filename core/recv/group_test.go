package recv

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
)

// Group tests: 4 member streams, heap i going to member i % 4, with the
// standard test geometry of helpers_test.go (64-byte heaps in 16-byte
// packets, 4 heaps per chunk), so each chunk holds one heap of each member.
// Feeding calls AddBatch directly; where the outcome depends on timing
// (members racing each other) the tests either use a window wider than
// the data (behaviour.md section 4, testing note) or wait until the racing
// goroutines have reached a state with a fixed outcome.

const (
	gMembers = 4
	gBound   = 5 * time.Second // every wait fails loudly after this
)

// gStacks returns every goroutine's stack, for deadlock reports.
func gStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// gGo runs f on a goroutine and returns a channel closed when it returns.
func gGo(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	return done
}

// gWithin fails the test (with a goroutine dump) unless done is closed
// within d.
func gWithin(t testing.TB, d time.Duration, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: not finished within %v\n%s", what, d, gStacks())
	}
}

// gWaitFor polls cond until it holds, failing after gBound.
func gWaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(gBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, gStacks())
		}
		time.Sleep(time.Millisecond)
	}
}

// gStop stops the group and fails unless Stop returns within gBound.
func gStop(t testing.TB, g *Group) []*chunk.Chunk {
	t.Helper()
	var kept []*chunk.Chunk
	gWithin(t, gBound, "group Stop", gGo(func() { kept = g.Stop() }))
	return kept
}

type gFixture struct {
	g       *Group
	rec     *recorder
	members []*Stream
	pkts    map[uint64][][]byte // packets of heap cnt, built on demand
}

func gChunkConfig(smax int, place Placer, items []uint64) ChunkStreamConfig {
	ccfg := DefaultChunkStreamConfig()
	ccfg.MaxChunks = smax
	ccfg.Items = items
	ccfg.Place = place
	return ccfg
}

// gNewGroup makes a group of n members (stream IDs 100+i) with the given
// windows, the standard grid placement unless place is given, and a
// recorder; the group is stopped (within a bound) at cleanup.
func gNewGroup(t *testing.T, n, gmax, smax int, mode EvictionMode, place Placer, items []uint64) *gFixture {
	t.Helper()
	if place == nil {
		place, items = gridPlace(tHeapsPerChunk, tHeapSize), []uint64{1, 2}
	}
	rec := newRecorder(tHeapsPerChunk, tChunkSize, 0)
	g, err := NewGroup(GroupConfig{MaxChunks: gmax, EvictionMode: mode, Allocate: rec.allocate, Ready: rec.readyFn})
	if err != nil {
		t.Fatal(err)
	}
	f := &gFixture{g: g, rec: rec, pkts: map[uint64][][]byte{}}
	for i := 0; i < n; i++ {
		cfg := DefaultStreamConfig()
		cfg.StreamID = uintptr(100 + i)
		s, err := g.EmplaceBack(cfg, gChunkConfig(smax, place, items))
		if err != nil {
			t.Fatal(err)
		}
		f.members = append(f.members, s)
	}
	if g.Len() != n || g.At(n-1) != f.members[n-1] {
		t.Fatalf("group has %d members", g.Len())
	}
	t.Cleanup(func() { gStop(t, g) })
	return f
}

// packets returns (and caches) the packets of heap cnt. Test goroutine only.
func (f *gFixture) packets(t testing.TB, cnt uint64) [][]byte {
	if p, ok := f.pkts[cnt]; ok {
		return p
	}
	p := heapPackets(t, cnt, tHeapSize, tPacketPayload)
	f.pkts[cnt] = p
	return p
}

// lockstep feeds the heaps in the given order from the calling goroutine,
// each heap as one batch to member cnt % n. The packets must have been
// built (prepare) when called off the test goroutine.
func (f *gFixture) lockstep(cnts []uint64) error {
	n := uint64(len(f.members))
	for _, c := range cnts {
		if !f.members[c%n].AddBatch(f.pkts[c]) {
			return fmt.Errorf("member %d stopped at heap %d", c%n, c)
		}
	}
	return nil
}

func (f *gFixture) prepare(t testing.TB, cnts []uint64) {
	for _, c := range cnts {
		f.packets(t, c)
	}
}

// concurrent feeds each member its heaps from cnts (heap i to member
// i % n, one heap per batch) from a goroutine of its own, skipping members
// for which skip is true. Feeding ends early, without error, when a
// member reports it stopped. It returns one done channel per member
// (closed at once for skipped ones) and a channel collecting errors.
func (f *gFixture) concurrent(t testing.TB, cnts []uint64, skip func(m int) bool) []<-chan struct{} {
	f.prepare(t, cnts)
	n := len(f.members)
	var done []<-chan struct{}
	for m := 0; m < n; m++ {
		var mine [][][]byte
		for _, c := range cnts {
			if int(c%uint64(n)) == m {
				mine = append(mine, f.pkts[c])
			}
		}
		s := f.members[m]
		if skip != nil && skip(m) {
			mine = nil
		}
		done = append(done, gGo(func() {
			for _, p := range mine {
				if !s.AddBatch(p) {
					return
				}
			}
		}))
	}
	return done
}

func gWaitAll(t testing.TB, what string, done []<-chan struct{}) {
	t.Helper()
	for i, d := range done {
		gWithin(t, gBound, fmt.Sprintf("%s (member %d)", what, i), d)
	}
}

// gIDs returns a..b-1 as chunk IDs.
func gIDs(a, b int64) []int64 {
	var out []int64
	for i := a; i < b; i++ {
		out = append(out, i)
	}
	return out
}

// gExpect asserts that exactly the chunks ids were readied, in that order,
// and that each holds what heapAt says: the heap counter in each slot, or
// -1 for a slot that must be absent and untouched (all zero bytes).
func gExpect(t testing.TB, rec *recorder, ids []int64, heapAt func(id int64, slot int) int64) {
	t.Helper()
	if got := rec.readyIDs(); !equalIDs(got, ids) {
		t.Fatalf("ready %v, want %v", got, ids)
	}
	rec.mu.Lock()
	ready := append([]readyChunk(nil), rec.ready...)
	rec.mu.Unlock()
	for _, c := range ready {
		if c.streamID < 100 || c.streamID >= 100+gMembers {
			t.Fatalf("chunk %d: stream ID %d is not a member's", c.id, c.streamID)
		}
		for slot := 0; slot < tHeapsPerChunk; slot++ {
			cnt := heapAt(c.id, slot)
			if cnt >= 0 {
				checkHeap(t, c, uint64(cnt), slot, true)
				continue
			}
			if c.present[slot] != 0 {
				t.Fatalf("chunk %d slot %d: present, want absent", c.id, slot)
			}
			for i, b := range c.data[slot*tHeapSize : (slot+1)*tHeapSize] {
				if b != 0 {
					t.Fatalf("chunk %d slot %d byte %d: %d written for an absent heap", c.id, slot, i, b)
				}
			}
		}
	}
}

// gAllocated asserts the allocation sequence.
func gAllocated(t testing.TB, rec *recorder, ids []int64) {
	t.Helper()
	rec.mu.Lock()
	got := append([]int64(nil), rec.allocated...)
	rec.mu.Unlock()
	if !equalIDs(got, ids) {
		t.Fatalf("allocated %v, want %v", got, ids)
	}
}

// gStdHeap is heapAt for the standard placement: slot s of chunk id holds
// heap 4*id+s when present(cnt).
func gStdHeap(present func(cnt int64) bool) func(id int64, slot int) int64 {
	return func(id int64, slot int) int64 {
		cnt := id*tHeapsPerChunk + int64(slot)
		if present(cnt) {
			return cnt
		}
		return -1
	}
}

func gAll(int64) bool { return true }

func gModes(t *testing.T, f func(t *testing.T, mode EvictionMode)) {
	t.Run("lossy", func(t *testing.T) { f(t, Lossy) })
	t.Run("lossless", func(t *testing.T) { f(t, Lossless) })
}

// gLockstepWindows returns the windows for feeding all members from one
// goroutine: LOSSY evicts (member window = group window, so members must
// be flushed), LOSSLESS needs a group window wider than the members'
// windows, or the single feeding goroutine would wait for itself.
func gLockstepWindows(mode EvictionMode) (gmax, smax int) {
	if mode == Lossless {
		return 2, 1
	}
	return 2, 2
}

// All data in order, members fed in lock-step from one goroutine.
func TestGroupInOrderLockstep(t *testing.T) {
	gModes(t, func(t *testing.T, mode EvictionMode) {
		gmax, smax := gLockstepWindows(mode)
		f := gNewGroup(t, gMembers, gmax, smax, mode, nil, nil)
		cnts := seq(0, 32)
		f.prepare(t, cnts)
		var err error
		gWithin(t, gBound, "lock-step feed", gGo(func() { err = f.lockstep(cnts) }))
		if err != nil {
			t.Fatal(err)
		}
		// LOSSY (member window 2): needing chunk 7 flushed everyone to 6.
		// LOSSLESS (member window 1): every member has moved to chunk 7.
		before := gIDs(0, 6)
		if mode == Lossless {
			before = gIDs(0, 7)
		}
		gExpect(t, f.rec, before, gStdHeap(gAll))
		gStop(t, f.g)
		gExpect(t, f.rec, gIDs(0, 8), gStdHeap(gAll))
		gAllocated(t, f.rec, gIDs(0, 8))
		for _, s := range f.members {
			wantStats(t, s, map[string]uint64{"packets": 32, "heaps": 8, "batches": 8, "max_batch": 4})
		}
	})
}

// All data in order, each member fed from its own goroutine. LOSSY uses a
// group window wider than the data (members race); LOSSLESS a narrow one.
func TestGroupInOrderConcurrent(t *testing.T) {
	gModes(t, func(t *testing.T, mode EvictionMode) {
		gmax, smax := 2, 2
		if mode == Lossy {
			gmax = 16
		}
		f := gNewGroup(t, gMembers, gmax, smax, mode, nil, nil)
		done := f.concurrent(t, seq(0, 32), nil)
		gWaitAll(t, "concurrent feed", done)
		gStop(t, f.g)
		gExpect(t, f.rec, gIDs(0, 8), gStdHeap(gAll))
		gAllocated(t, f.rec, gIDs(0, 8))
		for _, s := range f.members {
			wantStats(t, s, map[string]uint64{"packets": 32, "heaps": 8, "batches": 8, "max_batch": 4})
		}
	})
}

// One stream missing (member 3 idle), LOSSY: chunks are readied with that
// member's slots absent and the feeder never blocks on the idle member.
func TestGroupOneStreamMissingLossy(t *testing.T) {
	f := gNewGroup(t, gMembers, 2, 2, Lossy, nil, nil)
	var cnts []uint64
	for c := uint64(0); c < 32; c++ {
		if c%4 != 3 {
			cnts = append(cnts, c)
		}
	}
	f.prepare(t, cnts)
	// The idle member has a reader that never delivers (blocked in its
	// input, holding no lock), as a member on a dead network path would.
	dead := newGDeadReader()
	if err := f.members[3].AddReader(dead); err != nil {
		t.Fatal(err)
	}
	gWithin(t, gBound, "dead reader start", dead.running)
	var err error
	gWithin(t, gBound, "LOSSY feed with an idle member", gGo(func() { err = f.lockstep(cnts) }))
	if err != nil {
		t.Fatal(err)
	}
	missing := gStdHeap(func(cnt int64) bool { return cnt%4 != 3 })
	// Needing chunk 7 flushed everybody (the idle member too) to 6.
	gExpect(t, f.rec, gIDs(0, 6), missing)
	gStop(t, f.g)
	gExpect(t, f.rec, gIDs(0, 8), missing)
	gAllocated(t, f.rec, gIDs(0, 8))
	wantStats(t, f.members[3], map[string]uint64{"packets": 0, "heaps": 0})
}

// One stream missing, LOSSLESS: the group stalls on the idle member, and
// Stop unblocks the stalled members.
func TestGroupOneStreamMissingLossless(t *testing.T) {
	f := gNewGroup(t, gMembers, 2, 2, Lossless, nil, nil)
	done := f.concurrent(t, seq(0, 32), func(m int) bool { return m == 3 })
	// Each live member completes its heaps of chunks 0 and 1 and then
	// waits, inside its batch for chunk 2, for the idle member.
	gWaitFor(t, "live members to reach chunk 2", func() bool {
		for _, s := range f.members[:3] {
			if s.Stats().Map()["heaps"] != 2 {
				return false
			}
		}
		return true
	})
	time.Sleep(20 * time.Millisecond) // let them block (the outcome does not depend on it)
	for i, d := range done[:3] {
		select {
		case <-d:
			t.Fatalf("member %d finished although the group should be stalled", i)
		default:
		}
	}
	gStop(t, f.g)
	gWaitAll(t, "stalled members after Stop", done)
	gExpect(t, f.rec, gIDs(0, 2), gStdHeap(func(cnt int64) bool { return cnt%4 != 3 }))
	gAllocated(t, f.rec, gIDs(0, 2))
}

// One stream missing after a point: member 3 delivers chunks 0-3 only.
func TestGroupStreamMissingAfterPoint(t *testing.T) {
	sent := func(cnt int64) bool { return cnt%4 != 3 || cnt < 16 }
	var cnts []uint64
	for c := uint64(0); c < 32; c++ {
		if sent(int64(c)) {
			cnts = append(cnts, c)
		}
	}
	t.Run("lossy", func(t *testing.T) {
		f := gNewGroup(t, gMembers, 2, 2, Lossy, nil, nil)
		f.prepare(t, cnts)
		var err error
		gWithin(t, gBound, "feed", gGo(func() { err = f.lockstep(cnts) }))
		if err != nil {
			t.Fatal(err)
		}
		gStop(t, f.g)
		gExpect(t, f.rec, gIDs(0, 8), gStdHeap(sent))
		gAllocated(t, f.rec, gIDs(0, 8))
	})
	t.Run("lossless", func(t *testing.T) {
		f := gNewGroup(t, gMembers, 2, 2, Lossless, nil, nil)
		done := f.concurrent(t, cnts, nil)
		gWithin(t, gBound, "member 3's feed", done[3])
		// Member 3's head stays at 2 (its window [2,4) after chunk 3): the
		// others complete chunks up to 3 and wait for chunk 4.
		gWaitFor(t, "live members to reach chunk 4", func() bool {
			for _, s := range f.members[:3] {
				if s.Stats().Map()["heaps"] != 4 {
					return false
				}
			}
			return true
		})
		gStop(t, f.g)
		gWaitAll(t, "members after Stop", done)
		gExpect(t, f.rec, gIDs(0, 4), gStdHeap(gAll))
		gAllocated(t, f.rec, gIDs(0, 4))
	})
}

// Whole chunks missing: allocation back-fills the IDs entering the window,
// and allocate sees strictly increasing IDs.
func TestGroupWholeChunksMissing(t *testing.T) {
	dataChunks := map[int64]bool{0: true, 1: true, 4: true, 5: true, 9: true}
	var cnts []uint64
	for id := int64(0); id < 10; id++ {
		if dataChunks[id] {
			cnts = append(cnts, seq(uint64(4*id), uint64(4*id+4))...)
		}
	}
	sent := func(cnt int64) bool { return dataChunks[cnt/4] }
	gModes(t, func(t *testing.T, mode EvictionMode) {
		// LOSSY: window 4 forces evictions at chunks 4 and 9. LOSSLESS from
		// one goroutine needs a window that never has to wait.
		gmax, smax := 4, 4
		if mode == Lossless {
			gmax = 16
		}
		f := gNewGroup(t, gMembers, gmax, smax, mode, nil, nil)
		f.prepare(t, cnts)
		var err error
		gWithin(t, gBound, "feed", gGo(func() { err = f.lockstep(cnts) }))
		if err != nil {
			t.Fatal(err)
		}
		gStop(t, f.g)
		gExpect(t, f.rec, gIDs(0, 10), gStdHeap(sent))
		gAllocated(t, f.rec, gIDs(0, 10))
	})
	// A jump far ahead re-bases the window: IDs never in the window are
	// never allocated.
	t.Run("far jump lossy", func(t *testing.T) {
		cnts := append(seq(0, 8), seq(400, 404)...)
		f := gNewGroup(t, gMembers, 4, 2, Lossy, nil, nil)
		f.prepare(t, cnts)
		var err error
		gWithin(t, gBound, "feed", gGo(func() { err = f.lockstep(cnts) }))
		if err != nil {
			t.Fatal(err)
		}
		// Chunks 97 and 98 only held members 1-3 back until they moved to 100.
		gExpect(t, f.rec, []int64{0, 1, 97, 98}, gStdHeap(func(cnt int64) bool { return cnt < 8 }))
		gStop(t, f.g)
		ids := []int64{0, 1, 97, 98, 99, 100}
		gExpect(t, f.rec, ids, gStdHeap(func(cnt int64) bool { return cnt < 8 || cnt >= 400 }))
		gAllocated(t, f.rec, ids)
	})
	// LOSSLESS with members racing: which skipped IDs get back-filled
	// depends on timing, but allocation still rises strictly, everything
	// allocated is readied in order, and no heap is lost.
	t.Run("lossless concurrent", func(t *testing.T) {
		f := gNewGroup(t, gMembers, 2, 2, Lossless, nil, nil)
		done := f.concurrent(t, cnts, nil)
		gWaitAll(t, "feed", done)
		gStop(t, f.g)
		f.rec.mu.Lock()
		alloc := append([]int64(nil), f.rec.allocated...)
		f.rec.mu.Unlock()
		for i := 1; i < len(alloc); i++ {
			if alloc[i] <= alloc[i-1] {
				t.Fatalf("allocate saw %v: not strictly increasing", alloc)
			}
		}
		for id := range dataChunks {
			found := false
			for _, a := range alloc {
				found = found || a == id
			}
			if !found {
				t.Fatalf("chunk %d with data was never allocated (%v)", id, alloc)
			}
		}
		gExpect(t, f.rec, alloc, gStdHeap(sent))
	})
}

// A late stream in LOSSLESS: member 3 starts only once the others have
// gone as far as the group window lets them; nothing is lost.
func TestGroupLateStreamLossless(t *testing.T) {
	f := gNewGroup(t, gMembers, 2, 2, Lossless, nil, nil)
	cnts := seq(0, 64)
	start := make(chan struct{})
	f.prepare(t, cnts)
	done := f.concurrent(t, cnts, func(m int) bool { return m == 3 })
	gWaitFor(t, "early members to stall", func() bool {
		for _, s := range f.members[:3] {
			if s.Stats().Map()["heaps"] != 2 {
				return false
			}
		}
		return true
	})
	late := gGo(func() {
		<-start
		for c := uint64(3); c < 64; c += 4 {
			if !f.members[3].AddBatch(f.pkts[c]) {
				return
			}
		}
	})
	close(start)
	gWithin(t, gBound, "late member", late)
	gWaitAll(t, "early members", done)
	gStop(t, f.g)
	gExpect(t, f.rec, gIDs(0, 16), gStdHeap(gAll))
	gAllocated(t, f.rec, gIDs(0, 16))
	for _, s := range f.members {
		wantStats(t, s, map[string]uint64{"packets": 64, "heaps": 16, "batches": 16, "max_batch": 4})
	}
}

// gTopPlace places heap cnt in chunk top+cnt/4, slot cnt%4 (items:
// HEAP_CNT), so chunk IDs reach 2^63-1.
func gTopPlace(top int64) Placer {
	return PlacerFunc(func(d *PlaceData) {
		cnt := d.ItemValues(1)[0]
		d.ChunkID = top + cnt/tHeapsPerChunk
		d.HeapIndex = uintptr(cnt % tHeapsPerChunk)
		d.HeapOffset = d.HeapIndex * tHeapSize
	})
}

// Chunk IDs near 2^63-1: no overflow, correct ready order.
func TestGroupChunkIDsNearMax(t *testing.T) {
	const top = int64(1<<63 - 3)
	heapAt := func(id int64, slot int) int64 {
		if id < top {
			return -1
		}
		return (id-top)*tHeapsPerChunk + int64(slot)
	}
	cnts := seq(0, 12)
	t.Run("lossy", func(t *testing.T) {
		f := gNewGroup(t, gMembers, 2, 2, Lossy, gTopPlace(top), []uint64{1})
		f.prepare(t, cnts)
		var err error
		gWithin(t, gBound, "feed", gGo(func() { err = f.lockstep(cnts) }))
		if err != nil {
			t.Fatal(err)
		}
		// The first heap flushes the (empty) window from 0 to top-1, which
		// then enters the window and is back-filled.
		gExpect(t, f.rec, []int64{top - 1, top}, heapAt)
		gStop(t, f.g)
		ids := []int64{top - 1, top, top + 1, top + 2}
		gExpect(t, f.rec, ids, heapAt)
		gAllocated(t, f.rec, ids)
	})
	t.Run("lossless", func(t *testing.T) {
		f := gNewGroup(t, gMembers, 2, 1, Lossless, gTopPlace(top), []uint64{1})
		done := f.concurrent(t, cnts, nil)
		gWaitAll(t, "feed", done)
		gExpect(t, f.rec, []int64{top, top + 1}, heapAt)
		gStop(t, f.g)
		ids := []int64{top, top + 1, top + 2}
		gExpect(t, f.rec, ids, heapAt)
		gAllocated(t, f.rec, ids)
	})
}

// gSliceReader is a Reader feeding a fixed list of packets in batches, then
// returning nil (end of input).
type gSliceReader struct {
	pkts   [][]byte
	batch  int
	closed atomic.Bool
	runs   atomic.Int32
}

func (r *gSliceReader) Run(sink Sink) error {
	r.runs.Add(1)
	for i := 0; i < len(r.pkts); i += r.batch {
		if r.closed.Load() {
			return nil
		}
		if !sink.AddBatch(r.pkts[i:min(i+r.batch, len(r.pkts))]) {
			return nil
		}
	}
	return nil
}

func (r *gSliceReader) Close() error { r.closed.Store(true); return nil }

// gDeadReader is a Reader that never delivers anything: Run blocks until
// Close (a member on a network path that is down).
type gDeadReader struct {
	once    sync.Once
	ch      chan struct{}
	running chan struct{}
}

func newGDeadReader() *gDeadReader {
	return &gDeadReader{ch: make(chan struct{}), running: make(chan struct{})}
}

func (r *gDeadReader) Run(Sink) error {
	close(r.running)
	<-r.ch
	return nil
}

func (r *gDeadReader) Close() error { r.once.Do(func() { close(r.ch) }); return nil }

// memberPackets returns member m's packets of heaps cnts (heap i to member
// i % n), in order.
func (f *gFixture) memberPackets(t testing.TB, m int, cnts []uint64) [][]byte {
	var out [][]byte
	for _, c := range cnts {
		if int(c%uint64(len(f.members))) == m {
			out = append(out, f.packets(t, c)...)
		}
	}
	return out
}

// Stop while a LOSSLESS group is stalled on a dead member (readers
// attached): Stop returns within the bound, wakes the dead reader and ends
// the stalled ones.
func TestGroupStopStalledLossless(t *testing.T) {
	f := gNewGroup(t, gMembers, 2, 2, Lossless, nil, nil)
	cnts := seq(0, 40)
	dead := newGDeadReader()
	var live []*gSliceReader
	for m := 0; m < 3; m++ {
		live = append(live, &gSliceReader{pkts: f.memberPackets(t, m, cnts), batch: 4})
	}
	for m := 0; m < 3; m++ {
		if err := f.members[m].AddReader(live[m]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.members[3].AddReader(dead); err != nil {
		t.Fatal(err)
	}
	gWithin(t, gBound, "dead reader start", dead.running)
	gWaitFor(t, "live members to stall", func() bool {
		for _, s := range f.members[:3] {
			if s.Stats().Map()["heaps"] != 2 {
				return false
			}
		}
		return true
	})
	gStop(t, f.g)
	gExpect(t, f.rec, gIDs(0, 2), gStdHeap(func(cnt int64) bool { return cnt%4 != 3 }))
	for m, s := range f.members {
		if err := s.Err(); err != nil {
			t.Fatalf("member %d: %v", m, err)
		}
		if s.AddBatch(f.packets(t, 100)) {
			t.Fatalf("member %d accepts data after Stop", m)
		}
	}
	if !f.g.Stopped() {
		t.Fatal("group not stopped")
	}
}

// A member stopped by a stop item no longer holds the group back: LOSSLESS
// continues with the other members.
func TestGroupStopItemReleasesLossless(t *testing.T) {
	gmax, smax := gLockstepWindows(Lossless)
	f := gNewGroup(t, gMembers, gmax, smax, Lossless, nil, nil)
	var cnts []uint64
	for c := uint64(0); c < 32; c++ {
		if c%4 != 3 || c < 8 {
			cnts = append(cnts, c)
		}
	}
	f.prepare(t, cnts)
	stop := stopPacket(t)
	var err error
	gWithin(t, gBound, "feed", gGo(func() {
		if err = f.lockstep(cnts[:8]); err != nil {
			return
		}
		if f.members[3].AddBatch([][]byte{stop}) {
			err = errors.New("member 3 still running after its stop item")
			return
		}
		err = f.lockstep(cnts[8:])
	}))
	if err != nil {
		t.Fatal(err)
	}
	sent := gStdHeap(func(cnt int64) bool { return cnt%4 != 3 || cnt < 8 })
	gExpect(t, f.rec, gIDs(0, 7), sent)
	if f.g.Stopped() {
		t.Fatal("a stop item stopped the whole group")
	}
	gStop(t, f.g)
	gExpect(t, f.rec, gIDs(0, 8), sent)
	wantStats(t, f.members[3], map[string]uint64{"packets": 9, "heaps": 2, "batches": 3, "max_batch": 4})
}

// Stopping one member from the user's side stops the whole group.
func TestGroupMemberStopStopsGroup(t *testing.T) {
	gModes(t, func(t *testing.T, mode EvictionMode) {
		gmax, smax := gLockstepWindows(mode)
		f := gNewGroup(t, gMembers, gmax, smax, mode, nil, nil)
		cnts := seq(0, 10)
		f.prepare(t, cnts)
		if err := f.lockstep(cnts); err != nil {
			t.Fatal(err)
		}
		gWithin(t, gBound, "member Stop", gGo(func() { f.members[1].Stop() }))
		if !f.g.Stopped() {
			t.Fatal("group not stopped by a member's Stop")
		}
		for m, s := range f.members {
			if s.AddBatch(f.packets(t, 12+uint64(m))) {
				t.Fatalf("member %d accepts data after a member's Stop", m)
			}
		}
		gExpect(t, f.rec, gIDs(0, 3), gStdHeap(func(cnt int64) bool { return cnt < 10 }))
		if kept := gStop(t, f.g); kept != nil {
			t.Fatalf("a second Stop returned %d chunks", len(kept))
		}
	})
}

// Configuration errors.
func TestGroupErrors(t *testing.T) {
	rec := newRecorder(tHeapsPerChunk, tChunkSize, 0)
	place := gridPlace(tHeapsPerChunk, tHeapSize)
	if _, err := NewGroup(GroupConfig{MaxChunks: 0, Allocate: rec.allocate, Ready: rec.readyFn}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("group window 0: %v", err)
	}
	if _, err := NewGroup(GroupConfig{MaxChunks: 2}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no callbacks: %v", err)
	}
	if _, err := NewGroup(GroupConfig{MaxChunks: 2, EvictionMode: 7, Allocate: rec.allocate, Ready: rec.readyFn}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad mode: %v", err)
	}
	newG := func() *Group {
		g, err := NewGroup(GroupConfig{MaxChunks: 2, Allocate: rec.allocate, Ready: rec.readyFn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { gStop(t, g) })
		return g
	}
	items := []uint64{1, 2}

	g := newG()
	if _, err := g.EmplaceBack(DefaultStreamConfig(), gChunkConfig(3, place, items)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("member window larger than the group's: %v", err)
	}
	if g.Len() != 0 {
		t.Fatal("a rejected member was added")
	}
	if _, err := g.EmplaceBack(DefaultStreamConfig(), gChunkConfig(2, nil, items)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no place function: %v", err)
	}

	// After a reader was added but before any data: allowed (the seed's
	// rule is "once a group has received some data", as in spead2).
	s, err := g.EmplaceBack(DefaultStreamConfig(), gChunkConfig(2, place, items))
	if err != nil {
		t.Fatal(err)
	}
	dead := newGDeadReader()
	if err := s.AddReader(dead); err != nil {
		t.Fatal(err)
	}
	if _, err := g.EmplaceBack(DefaultStreamConfig(), gChunkConfig(1, place, items)); err != nil {
		t.Fatalf("EmplaceBack after a reader, before data: %v", err)
	}
	if g.Len() != 2 {
		t.Fatalf("group has %d members, want 2", g.Len())
	}

	// After data arrived.
	g = newG()
	s, err = g.EmplaceBack(DefaultStreamConfig(), gChunkConfig(2, place, items))
	if err != nil {
		t.Fatal(err)
	}
	if !s.AddBatch(heapPackets(t, 0, tHeapSize, tPacketPayload)) {
		t.Fatal("stopped")
	}
	if _, err := g.EmplaceBack(DefaultStreamConfig(), gChunkConfig(2, place, items)); !errors.Is(err, ErrState) ||
		err.Error() != "invalid state: "+MsgAddStreamAfterData {
		t.Fatalf("EmplaceBack after data: %v", err)
	}
	if g.Len() != 1 {
		t.Fatalf("group has %d members", g.Len())
	}

	// After Stop.
	g = newG()
	gStop(t, g)
	if _, err := g.EmplaceBack(DefaultStreamConfig(), gChunkConfig(2, place, items)); !errors.Is(err, ErrState) {
		t.Fatalf("EmplaceBack after Stop: %v", err)
	}
}

// gWantCounts checks packets and heaps and that nothing was lost or
// refused (worker_blocked may be anything: the data ring can fill).
func gWantCounts(t testing.TB, s *Stream, packets, heaps uint64) {
	t.Helper()
	got := s.Stats().Map()
	want := map[string]uint64{"packets": packets, "heaps": heaps}
	for _, k := range []string{"incomplete_heaps_evicted", "incomplete_heaps_flushed", "too_old_heaps", "rejected_heaps", "bad_placement_heaps", "malformed_packets"} {
		want[k] = 0
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("stat %s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

// A LOSSLESS member stalled in the group's wait publishes the statistics of
// the batch it is stuck in (issue 13): its packets show while it waits.
func TestGroupStalledMemberStatsVisible(t *testing.T) {
	f := gNewGroup(t, gMembers, 2, 2, Lossless, nil, nil)
	cnts := seq(0, 40)
	dead := newGDeadReader()
	// One batch holding all of member 0's packets: it stalls inside it.
	pk := f.memberPackets(t, 0, cnts)
	if err := f.members[0].AddReader(&gSliceReader{pkts: pk, batch: len(pk)}); err != nil {
		t.Fatal(err)
	}
	if err := f.members[1].AddReader(dead); err != nil { // members 1-3 send nothing: member 0 stalls
		t.Fatal(err)
	}
	gWithin(t, gBound, "dead reader start", dead.running)
	gWaitFor(t, "the stalled member's packets to show", func() bool {
		st := f.members[0].Stats().Map()
		return st["packets"] > 0 && st["heaps"] > 0
	})
	st := f.members[0].Stats().Map()
	if st["batches"] != 0 {
		t.Fatalf("the batch is not finished, yet batches = %d", st["batches"])
	}
	gStop(t, f.g)
}

// A ready callback that blocks (a slow consumer) holds up only the member
// delivering it: ready runs outside the group lock, so another member keeps
// moving into chunks of the group window meanwhile. Chunks still arrive in
// order, each once, with exact contents.
func TestGroupBlockedReadyDoesNotHoldOtherMembers(t *testing.T) {
	rec := newRecorder(tHeapsPerChunk, tChunkSize, 0)
	entered := make(chan struct{})
	release := make(chan struct{})
	ready := func(c *chunk.Chunk, bs []uint64) {
		if c.ChunkID == 0 {
			close(entered)
			<-release
		}
		rec.readyFn(c, bs)
	}
	g, members, feed := gCallbackGroup(t, GroupConfig{MaxChunks: 4, EvictionMode: Lossless, Allocate: rec.allocate, Ready: ready}, 2, 1, release)
	// Member 0 takes the even heaps, member 1 the odd ones; 4 heaps per chunk.
	feed(0, 0, 2, 4) // member 0 moves to chunk 1 (window of one chunk)
	// Member 1 moving to chunk 1 frees chunk 0: its ready blocks in member 1.
	blocked := gGo(func() { feed(1, 1, 3, 5) })
	gWithin(t, gBound, "ready of chunk 0 to start", entered)
	// Member 0 still moves into chunk 2 (inside the group window), which
	// takes the group lock: under the old design, held by the blocked ready.
	gWithin(t, gBound, "member 0 to move on while ready blocks", gGo(func() { feed(0, 6, 8, 10) }))
	if got := statsOf(members[0])["heaps"]; got != 6 { // 0 to 10, even
		t.Fatalf("member 0 completed %d heaps while ready blocked, want 6", got)
	}
	select {
	case <-blocked:
		t.Fatal("member 1 finished while its ready callback was blocked")
	default:
	}
	close(release)
	gWithin(t, gBound, "member 1 after release", blocked)
	feed(1, 7, 9, 11)
	gStop(t, g)
	gExpectFull(t, rec, 3)
}

// An allocate that blocks (a ring group waiting for the consumer to return
// a free chunk) runs without the group lock: the other members keep
// filling the chunks they have meanwhile. Allocations stay one at a time
// and in ID order; chunks arrive in order with exact contents.
func TestGroupBlockedAllocateDoesNotHoldOtherMembers(t *testing.T) {
	rec := newRecorder(tHeapsPerChunk, tChunkSize, 0)
	entered := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	var asked []int64
	allocate := func(id int64, bs []uint64) *chunk.Chunk {
		mu.Lock()
		asked = append(asked, id)
		mu.Unlock()
		if id == 2 {
			close(entered)
			<-release
		}
		return rec.allocate(id, bs)
	}
	g, members, feed := gCallbackGroup(t, GroupConfig{MaxChunks: 4, EvictionMode: Lossless, Allocate: allocate, Ready: rec.readyFn}, 2, 2, release)
	feed(0, 0, 2, 4, 6)                       // chunks 0 and 1
	blocked := gGo(func() { feed(0, 8, 10) }) // chunk 2: its allocate blocks
	gWithin(t, gBound, "allocate of chunk 2 to start", entered)
	// Member 1 moves from chunk 0 to chunk 1, which takes the group lock:
	// under the old design, held by the blocked allocate.
	gWithin(t, gBound, "member 1 to fill chunks 0 and 1 while allocate blocks", gGo(func() { feed(1, 1, 3, 5, 7) }))
	if got := statsOf(members[1])["heaps"]; got != 4 {
		t.Fatalf("member 1 completed %d heaps while allocate blocked, want 4", got)
	}
	select {
	case <-blocked:
		t.Fatal("member 0 finished while its allocate was blocked")
	default:
	}
	close(release)
	gWithin(t, gBound, "member 0 after release", blocked)
	feed(1, 9, 11)
	gStop(t, g)
	mu.Lock()
	if !equalIDs(asked, []int64{0, 1, 2}) {
		t.Errorf("allocate asked for %v, want [0 1 2]", asked)
	}
	mu.Unlock()
	gExpectFull(t, rec, 3)
}

// LOSSY grace: a member still receiving, only slower, is given time to
// finish its chunks before the fast member evicts them, so its heaps are
// not lost to drift (too_old_heaps); an idle member costs one grace and is
// then flushed without waiting.
func TestLossyGraceKeepsBusySlowMember(t *testing.T) {
	rec := newRecorder(tHeapsPerChunk, tChunkSize, 0)
	g, members, _ := gCallbackGroup(t, GroupConfig{MaxChunks: 2, EvictionMode: Lossy, Allocate: rec.allocate, Ready: rec.readyFn,
		LossyGrace: 2 * time.Second}, 3, 1, nil)
	const chunks = 12
	// Member 0 takes heaps 4k and 4k+1, member 1 heaps 4k+2 and 4k+3
	// (slowly), member 2 nothing at all after its first heap (idle).
	var fast, slow [][]byte
	for c := uint64(0); c < chunks; c++ {
		fast = append(fast, heapPackets(t, 4*c, tHeapSize, tPacketPayload)...)
		fast = append(fast, heapPackets(t, 4*c+1, tHeapSize, tPacketPayload)...)
		slow = append(slow, heapPackets(t, 4*c+2, tHeapSize, tPacketPayload)...)
		slow = append(slow, heapPackets(t, 4*c+3, tHeapSize, tPacketPayload)...)
	}
	perHeap := tHeapSize / tPacketPayload
	if !members[2].AddBatch(heapPackets(t, 0, tHeapSize, tPacketPayload)[:1]) { // a start, then silence
		t.Fatal("member 2 refused its packet")
	}
	slowDone := gGo(func() {
		for i := 0; i < len(slow); i += perHeap {
			if !members[1].AddBatch(slow[i : i+perHeap]) {
				t.Errorf("member 1 refused a heap")
				return
			}
			time.Sleep(200 * time.Microsecond) // receiving, but slower than member 0
		}
	})
	fastDone := gGo(func() {
		for i := 0; i < len(fast); i += perHeap {
			if !members[0].AddBatch(fast[i : i+perHeap]) {
				t.Errorf("member 0 refused a heap")
				return
			}
		}
	})
	gWithin(t, 20*time.Second, "the slow member", slowDone)
	gWithin(t, 20*time.Second, "the fast member", fastDone)
	if got := statsOf(members[1])["too_old_heaps"]; got != 0 {
		t.Fatalf("the slow but busy member lost %d heaps to eviction, want 0", got)
	}
	gStop(t, g)
	gExpectFull(t, rec, chunks)
}

// gCallbackGroup makes a group from cfg with n members of window smax
// (grid placement, stream IDs 100+i), stopped at cleanup (after closing
// release, if given and still open), and a function that feeds whole
// heaps to a member.
func gCallbackGroup(t *testing.T, cfg GroupConfig, n, smax int, release chan struct{}) (*Group, []*Stream, func(m int, cnts ...uint64)) {
	t.Helper()
	g, err := NewGroup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var members []*Stream
	for i := 0; i < n; i++ {
		scfg := DefaultStreamConfig()
		scfg.StreamID = uintptr(100 + i)
		s, err := g.EmplaceBack(scfg, gChunkConfig(smax, gridPlace(tHeapsPerChunk, tHeapSize), []uint64{1, 2}))
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, s)
	}
	t.Cleanup(func() {
		if release != nil {
			select {
			case <-release:
			default:
				close(release)
			}
		}
		gStop(t, g)
	})
	feed := func(m int, cnts ...uint64) {
		for _, c := range cnts {
			if !members[m].AddBatch(heapPackets(t, c, tHeapSize, tPacketPayload)) {
				t.Errorf("member %d refused heap %d", m, c)
			}
		}
	}
	return g, members, feed
}

// gExpectFull checks that chunks 0..n-1 were readied in order, each with
// every heap present and exact.
func gExpectFull(t *testing.T, rec *recorder, n int64) {
	t.Helper()
	var want []int64
	for id := int64(0); id < n; id++ {
		want = append(want, id)
	}
	if ids := rec.readyIDs(); !equalIDs(ids, want) {
		t.Fatalf("ready order %v, want %v", ids, want)
	}
	for id := int64(0); id < n; id++ {
		c := rec.chunkByID(t, id)
		for i := 0; i < tHeapsPerChunk; i++ {
			checkHeap(t, c, uint64(id)*tHeapsPerChunk+uint64(i), i, true)
		}
	}
}
