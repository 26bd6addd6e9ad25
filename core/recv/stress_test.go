package recv

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
)

// Randomised stress test of chunk stream groups: random member counts,
// windows, modes, interleavings and losses, members fed from goroutines of
// their own. It checks invariants rather than exact outcomes (which depend
// on scheduling in LOSSY mode), plus exact contents where the outcome is
// fixed (LOSSLESS with complete input).

const gStressHeapSize = 32

// gStressRec is the stress test's allocate/ready pair: it checks the
// ordering invariants as they happen and snapshots each chunk at ready so
// that a later write to it can be detected at the end.
type gStressRec struct {
	mu         sync.Mutex
	hpc        int
	nilChunk   func(id int64) bool
	lastAlloc  int64
	lastReady  int64
	allocated  []int64
	live       map[*chunk.Chunk]int64
	readied    []gReadied
	streamIDs  map[uintptr]bool
	afterStop  bool
	violations []string
}

type gReadied struct {
	c       *chunk.Chunk
	id      int64
	present []byte
	data    []byte
}

func (r *gStressRec) failf(format string, args ...any) {
	if len(r.violations) < 20 {
		r.violations = append(r.violations, fmt.Sprintf(format, args...))
	}
}

func (r *gStressRec) allocate(id int64, _ []uint64) *chunk.Chunk {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.afterStop {
		r.failf("allocate(%d) after Stop returned", id)
	}
	if id <= r.lastAlloc {
		r.failf("allocate(%d) after allocate(%d): IDs not strictly increasing", id, r.lastAlloc)
	}
	r.lastAlloc = id
	r.allocated = append(r.allocated, id)
	if r.nilChunk(id) {
		return nil
	}
	c := chunk.New(make([]byte, r.hpc), make([]byte, r.hpc*gStressHeapSize), nil)
	r.live[c] = id
	return c
}

func (r *gStressRec) ready(c *chunk.Chunk, _ []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.afterStop {
		r.failf("ready(%d) after Stop returned", c.ChunkID)
	}
	id, ok := r.live[c]
	if !ok {
		r.failf("chunk %d readied twice or never allocated", c.ChunkID)
		return
	}
	delete(r.live, c)
	if c.ChunkID != id {
		r.failf("chunk allocated as %d readied as %d", id, c.ChunkID)
	}
	if id <= r.lastReady {
		r.failf("ready(%d) after ready(%d): out of order", id, r.lastReady)
	}
	r.lastReady = id
	if !r.streamIDs[c.StreamID] {
		r.failf("chunk %d has stream ID %d, not a member's", id, c.StreamID)
	}
	r.readied = append(r.readied, gReadied{c: c, id: id,
		present: append([]byte(nil), c.Present()...),
		data:    append([]byte(nil), c.Data()...)})
}

// gStressCase is one seed's scenario.
type gStressCase struct {
	seed          int64
	n             int
	mode          EvictionMode
	gmax, smax    int
	hpc           int // heaps per chunk
	packetPayload int
	nHeaps        int
	lossy         bool // drops, duplicates, reordering, missing chunks
	allStop       bool // every member ends its input with a stop item
	earlyStop     bool // the test calls Stop while members are running
	idle          int  // this member sends nothing but (maybe) its stop item; -1: none
	lateMember    int  // this member starts after a delay; -1: none
}

func (c gStressCase) String() string {
	mode := "LOSSY"
	if c.mode == Lossless {
		mode = "LOSSLESS"
	}
	return fmt.Sprintf("seed %d: %d members %s group window %d member window %d, %d heaps/chunk, %d heaps of %d-byte packets, lossy input %v, all stop %v, early stop %v, idle member %d, late member %d",
		c.seed, c.n, mode, c.gmax, c.smax, c.hpc, c.nHeaps, c.packetPayload, c.lossy, c.allStop, c.earlyStop, c.idle, c.lateMember)
}

func gStressScenario(seed int64) gStressCase {
	rng := rand.New(rand.NewSource(seed))
	c := gStressCase{seed: seed}
	c.n = 1 + rng.Intn(8)
	if rng.Intn(2) == 1 {
		c.mode = Lossless
	}
	c.gmax = 1 + rng.Intn(4)
	c.smax = 1 + rng.Intn(c.gmax)
	c.hpc = 1 + rng.Intn(8)
	c.packetPayload = []int{8, 16, 32}[rng.Intn(3)]
	c.nHeaps = 20 + rng.Intn(130)
	c.lossy = rng.Intn(3) == 0
	c.allStop = rng.Intn(5) != 0
	c.earlyStop = rng.Intn(8) == 0
	c.idle, c.lateMember = -1, -1
	if rng.Intn(6) == 0 {
		c.idle = rng.Intn(c.n)
	}
	if rng.Intn(6) == 0 {
		c.lateMember = rng.Intn(c.n)
	}
	return c
}

// gHeapInput is what the test sent of one heap.
type gHeapInput struct {
	packets int // packets of the heap
	sent    int // distinct packets delivered
}

// gStressInput builds each member's packet list (heap i to member i % n)
// and records, per heap, how much of it was sent.
func gStressInput(t testing.TB, c gStressCase, rng *rand.Rand) ([][][]byte, []gHeapInput) {
	heaps := make([]gHeapInput, c.nHeaps)
	perMember := make([][][][]byte, c.n) // member -> heaps -> packets
	for cnt := 0; cnt < c.nHeaps; cnt++ {
		pk := heapPackets(t, uint64(cnt), gStressHeapSize, c.packetPayload)
		heaps[cnt].packets = len(pk)
		var out [][]byte
		if c.lossy && rng.Intn(10) == 0 {
			pk = nil // the whole heap is lost
		}
		for _, p := range pk {
			if c.lossy && rng.Intn(25) == 0 {
				continue // packet lost
			}
			out = append(out, p)
			heaps[cnt].sent++
			if c.lossy && rng.Intn(25) == 0 {
				out = append(out, p) // duplicate
			}
		}
		perMember[cnt%c.n] = append(perMember[cnt%c.n], out)
	}
	stop := stopPacket(t)
	lists := make([][][]byte, c.n)
	for m, hs := range perMember {
		if c.lossy {
			for i := 0; i+1 < len(hs); i++ {
				if rng.Intn(8) == 0 {
					hs[i], hs[i+1] = hs[i+1], hs[i] // heaps out of order
				}
			}
		}
		var list [][]byte
		if m == c.idle {
			hs = nil
		}
		for i := 0; i < len(hs); i++ {
			if c.lossy && i+1 < len(hs) && rng.Intn(6) == 0 {
				// Interleave two heaps' packets (each still in offset order).
				a, b := hs[i], hs[i+1]
				for j := 0; j < max(len(a), len(b)); j++ {
					if j < len(a) {
						list = append(list, a[j])
					}
					if j < len(b) {
						list = append(list, b[j])
					}
				}
				i++
				continue
			}
			list = append(list, hs[i]...)
		}
		if c.allStop {
			list = append(list, stop)
		}
		lists[m] = list
	}
	return lists, heaps
}

// gStressSeeds overrides the number of seeds (go test -run TestGroupStress
// -args -group.stress.seeds=N), and gStressFirst the first one, for soaking.
var (
	gStressSeeds = flag.Int("group.stress.seeds", 0, "seeds for TestGroupStress (0: default)")
	gStressFirst = flag.Int64("group.stress.first", 1, "first seed for TestGroupStress")
)

func TestGroupStress(t *testing.T) {
	seeds := 1000
	if testing.Short() {
		seeds = 100
	}
	if *gStressSeeds > 0 {
		seeds = *gStressSeeds
	}
	start := time.Now()
	totals := map[string]uint64{}
	for seed := *gStressFirst; seed < *gStressFirst+int64(seeds); seed++ {
		c := gStressScenario(seed)
		if !t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { gStressOne(t, c, totals) }) {
			t.Fatalf("stopping at the first failing seed (%v)", c)
		}
	}
	// Shows that the interesting paths ran (evictions, too-old heaps).
	t.Logf("%d seeds in %v; summed member statistics: %v", seeds, time.Since(start), totals)
}

func gStressOne(t *testing.T, c gStressCase, totals map[string]uint64) {
	rng := rand.New(rand.NewSource(c.seed * 7919))
	lists, heaps := gStressInput(t, c, rng)
	nilSeed := rng.Int63()
	rec := &gStressRec{hpc: c.hpc, lastAlloc: -1, lastReady: -1, live: map[*chunk.Chunk]int64{}, streamIDs: map[uintptr]bool{},
		nilChunk: func(id int64) bool {
			return c.lossy && rand.New(rand.NewSource(nilSeed^id)).Intn(20) == 0
		}}
	g, err := NewGroup(GroupConfig{MaxChunks: c.gmax, EvictionMode: c.mode, Allocate: rec.allocate, Ready: rec.ready})
	if err != nil {
		t.Fatal(err)
	}
	place := gridPlace(int64(c.hpc), gStressHeapSize)
	var members []*Stream
	for m := 0; m < c.n; m++ {
		cfg := DefaultStreamConfig()
		cfg.StreamID = uintptr(1000 + m)
		rec.streamIDs[cfg.StreamID] = true
		s, err := g.EmplaceBack(cfg, gChunkConfig(c.smax, place, []uint64{1, 2}))
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, s)
	}

	const bound = 10 * time.Second
	deadline := time.Now().Add(bound)
	fail := func(what string) {
		t.Helper()
		t.Fatalf("%v: %s within %v\n%s", c, what, bound, gStacks())
	}
	waitDone := func(what string, done <-chan struct{}) {
		t.Helper()
		select {
		case <-done:
		case <-time.After(time.Until(deadline)):
			fail(what)
		}
	}

	var feeders []<-chan struct{}
	for m, s := range members {
		frng := rand.New(rand.NewSource(c.seed*131 + int64(m)))
		list := lists[m]
		late := m == c.lateMember
		feeders = append(feeders, gGo(func() {
			if late {
				time.Sleep(time.Duration(1+frng.Intn(3)) * time.Millisecond)
			}
			for i := 0; i < len(list); {
				n := 1 + frng.Intn(8)
				end := min(i+n, len(list))
				if !s.AddBatch(list[i:end]) {
					return
				}
				i = end
				if frng.Intn(4) == 0 {
					runtime.Gosched()
				}
			}
		}))
	}
	if c.earlyStop {
		delay := time.Duration(rng.Intn(2000)) * time.Microsecond
		stopped := gGo(func() {
			time.Sleep(delay)
			g.Stop()
		})
		waitDone("early Stop did not return", stopped)
	}
	if c.mode == Lossless && !c.allStop && !c.earlyStop {
		// A member whose input ended without a stop item holds a LOSSLESS
		// group back for good: wait until nothing moves, then Stop.
		var last uint64
		quiet := 0
		for quiet < 20 {
			var sum uint64
			all := true
			for i, s := range members {
				sum += s.Stats().Map()["packets"]
				select {
				case <-feeders[i]:
				default:
					all = false
				}
			}
			if all {
				break
			}
			if sum == last {
				quiet++
			} else {
				quiet, last = 0, sum
			}
			if time.Now().After(deadline) {
				fail("members still moving")
			}
			time.Sleep(time.Millisecond)
		}
	}
	if c.mode == Lossy || c.allStop || c.earlyStop {
		// LOSSY never waits for anybody; LOSSLESS with every input ended
		// by a stop item always finishes. Either way the feeders end alone.
		for m, d := range feeders {
			waitDone(fmt.Sprintf("member %d's feeder did not finish", m), d)
		}
	}
	stopped := gGo(func() { g.Stop() })
	waitDone("Stop did not return", stopped)
	for m, d := range feeders {
		waitDone(fmt.Sprintf("member %d's feeder did not end after Stop", m), d)
	}
	rec.mu.Lock()
	rec.afterStop = true
	rec.mu.Unlock()
	for _, s := range members {
		for k, v := range s.Stats().Map() {
			totals[k] += v
		}
	}
	totals["chunks_readied"] += uint64(len(rec.readied))

	// Invariants.
	for _, v := range rec.violations {
		t.Errorf("%v: %s", c, v)
	}
	if len(rec.live) != 0 {
		for ch, id := range rec.live {
			t.Errorf("%v: chunk %d allocated but never readied", c, id)
			_ = ch
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	byID := map[int64]gReadied{}
	for _, r := range rec.readied {
		byID[r.id] = r
		if !bytes.Equal(r.c.Present(), r.present) || !bytes.Equal(r.c.Data(), r.data) {
			t.Fatalf("%v: chunk %d written after it was readied", c, r.id)
		}
	}
	hpc := int64(c.hpc)
	for _, r := range rec.readied {
		for slot := int64(0); slot < hpc; slot++ {
			cnt := r.id*hpc + slot
			var in gHeapInput
			if cnt < int64(c.nHeaps) && int(cnt%int64(c.n)) != c.idle {
				in = heaps[cnt]
			}
			data := r.data[slot*gStressHeapSize : (slot+1)*gStressHeapSize]
			if r.present[slot] != 0 {
				if in.packets == 0 || in.sent != in.packets {
					t.Fatalf("%v: chunk %d slot %d (heap %d) present but %d of %d packets sent", c, r.id, slot, cnt, in.sent, in.packets)
				}
				for i, b := range data {
					if b != patternByte(uint64(cnt), i) {
						t.Fatalf("%v: chunk %d heap %d byte %d: got %d want %d", c, r.id, cnt, i, b, patternByte(uint64(cnt), i))
					}
				}
			} else if in.sent == 0 && !bytes.Equal(data, make([]byte, gStressHeapSize)) {
				t.Fatalf("%v: chunk %d slot %d: bytes written for heap %d, never sent", c, r.id, slot, cnt)
			}
		}
	}
	if c.mode == Lossless && !c.lossy && c.allStop && !c.earlyStop && c.idle < 0 {
		// LOSSLESS with complete input loses nothing.
		for cnt := int64(0); cnt < int64(c.nHeaps); cnt++ {
			r, ok := byID[cnt/hpc]
			if !ok {
				t.Fatalf("%v: chunk %d (heap %d) never readied; readied %d chunks", c, cnt/hpc, cnt, len(rec.readied))
			}
			if r.present[cnt%hpc] == 0 {
				t.Fatalf("%v: heap %d lost in LOSSLESS mode", c, cnt)
			}
		}
		last := (int64(c.nHeaps) - 1) / hpc
		if len(rec.allocated) != int(last+1) {
			t.Fatalf("%v: allocated %v, want 0..%d", c, rec.allocated, last)
		}
		for m, s := range members {
			st := s.Stats().Map()
			want := uint64((c.nHeaps - m + c.n - 1) / c.n)
			if st["heaps"] != want || st["too_old_heaps"] != 0 || st["incomplete_heaps_evicted"] != 0 || st["incomplete_heaps_flushed"] != 0 {
				t.Fatalf("%v: member %d stats %v, want %d heaps and no losses", c, m, st, want)
			}
		}
	}
}
