package recv

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/logx"
	"github.com/chunkgroup/chunkgroup/core/memcopy"
	"github.com/chunkgroup/chunkgroup/core/ring"
	"golang.org/x/sys/cpu"
)

// Group is a chunk stream group: member streams sharing one sequence of
// chunks, each writing a disjoint part of every chunk (behaviour.md
// section 4).
//
// The group window is [head, tail): chunks allocated and not yet readied,
// at most MaxChunks of them. head is the smallest head among the members,
// so a chunk is readied only once every member's window has moved past it
// and no member can write to it again.
//
// Locking: a member's mutex, then the group's; never the reverse, except
// TryLock, which cannot deadlock. Members take the group lock only at chunk
// boundaries (a chunk not yet in their cached window, or a head move).
//
// Ready runs outside the group lock: a chunk leaving the window is queued
// in pending (g.mu), and the member that queued it delivers the queue after
// releasing g.mu (deliverReady). One goroutine at a time delivers (readyMu,
// taken with TryLock, so a member never waits for another's delivery), in
// queue order, so ready calls keep increasing chunk IDs and never overlap,
// while a ready that blocks (a full data ring, a slow callback) no longer
// holds every other member at its next chunk boundary. Allocate runs
// outside the lock too (allocateLocked), one at a time, with the slot
// reserved by a marker. A member never sleeps, or blocks in allocate,
// while chunks it could deliver wait in readyQ: the consumer may need them
// before it can give back the chunk that would wake it.
type Group struct {
	cfg   GroupConfig
	gmax  uint64
	grace time.Duration // LOSSY grace (GroupConfig.LossyGrace); 0: none
	// moreProcsThanCPUs: GOMAXPROCS exceeded the CPUs when the group was
	// made (as in a C or Python program); read once here, not at every
	// spin (runtime.GOMAXPROCS takes the scheduler's lock). See spinForHead.
	moreProcsThanCPUs bool

	mu      sync.Mutex
	cond    *sync.Cond
	waiters int           // members asleep in cond.Wait (g.mu held to change)
	headPub atomic.Uint64 // head, for members spinning without g.mu
	members []*Stream
	heads   []uint64 // each member's head as last published, by index
	head    uint64
	tail    uint64
	slots   []*chunk.Chunk // slots[id % gmax] for id in [head, tail)
	stopped bool
	readyQ  []*chunk.Chunk // readied, not yet delivered, in ID order
	queued  atomic.Int64   // len(readyQ), for deliverReady's check without g.mu
	// allocBusy: a member is in allocate (g.mu released) for the slot
	// marked allocating; allocations are one at a time, in ID order.
	allocBusy bool

	readyMu    sync.Mutex     // held by the one goroutine delivering pending
	deliverBuf []*chunk.Chunk // the deliverer's copy of pending (readyMu)

	// view is a copy of members for Len/At, which must not wait for mu: a
	// member may hold mu while blocked on a ring.
	view atomic.Pointer[[]*Stream]
	// Read by every member at every batch: kept off the lines that the
	// group lock and the head change at every chunk boundary.
	_        cpu.CacheLinePad
	hasData  atomic.Bool
	stopping atomic.Bool
	_        cpu.CacheLinePad
	stopOnce sync.Once
	stopDone chan struct{}

	// Ring groups only.
	data, free *ring.Ring
	keptAside  []*chunk.Chunk // readied after the data ring stopped; readyMu
	readyCtx   *Stream        // the deliverer, whose batch readyToRing counts in (its lock held); readyMu
	freeWait   time.Duration  // LOSSY: see GroupConfig.FreeRingWait; < 0: wait as long as it takes
	blocking   bool           // ready blocks on a full data ring (LOSSLESS, standalone ring streams)
	starved    bool           // LOSSY: a wait for a free chunk timed out; the allocator's (allocBusy)

	// LOSSY ring groups never block readying a chunk: a chunk that finds
	// the data ring full waits here, in chunk ID order, and one flusher
	// goroutine pushes the queue (blocking, outside every group lock) as
	// the consumer makes room. The queue holds at most the chunks in
	// circulation. pendMu is taken after readyMu, never before; the flusher
	// takes only pendMu, so a deliverer never waits for the consumer.
	pendMu   sync.Mutex
	pending  []*chunk.Chunk // pending[pendHead:] wait for the data ring
	pendHead int
	flushing bool           // a flusher is running; readies must queue behind it
	pendKept []*chunk.Chunk // the flusher found the data ring stopped
	flushWG  sync.WaitGroup
}

// NewGroup makes a group that obtains chunks from cfg.Allocate and passes
// them to cfg.Ready.
func NewGroup(cfg GroupConfig) (*Group, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Allocate == nil || cfg.Ready == nil {
		return nil, invalidf("a group needs allocate and ready callbacks")
	}
	return newGroup(cfg), nil
}

func newGroup(cfg GroupConfig) *Group {
	g := &Group{cfg: cfg, gmax: uint64(cfg.MaxChunks), slots: make([]*chunk.Chunk, cfg.MaxChunks), stopDone: make(chan struct{}),
		readyQ: make([]*chunk.Chunk, 0, 2*cfg.MaxChunks), deliverBuf: make([]*chunk.Chunk, 0, 2*cfg.MaxChunks)}
	g.cond = sync.NewCond(&g.mu)
	g.moreProcsThanCPUs = runtime.GOMAXPROCS(0) > numCPU
	switch {
	case cfg.EvictionMode != Lossy || cfg.LossyGrace < 0:
	case cfg.LossyGrace == 0:
		g.grace = DefaultLossyGrace
	default:
		g.grace = cfg.LossyGrace
	}
	return g
}

// NewRingGroup makes a group that allocates chunks by popping the free ring
// and readies them by pushing the data ring (behaviour.md section 5). Each
// member is a producer of the data ring.
func NewRingGroup(cfg GroupConfig, data, free *ring.Ring) (*Group, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if data == nil || free == nil {
		return nil, invalidf("a ring group needs a data ring and a free ring")
	}
	g := newGroup(cfg)
	g.data, g.free = data, free
	g.freeWait = cfg.FreeRingWait
	if g.freeWait == 0 {
		g.freeWait = DefaultFreeRingWait
	}
	if cfg.EvictionMode == Lossless {
		g.freeWait, g.blocking = -1, true // LOSSLESS waits, exactly as spead2
	}
	g.cfg.Allocate = g.allocateFromRing
	g.cfg.Ready = g.readyToRing
	return g, nil
}

// NewChunkStream makes a standalone chunk stream: a group of one member
// whose window is the stream's, using the stream's allocate and ready.
func NewChunkStream(cfg StreamConfig, ccfg ChunkStreamConfig) (*Stream, error) {
	if err := ccfg.Validate(); err != nil {
		return nil, err
	}
	g, err := NewGroup(GroupConfig{MaxChunks: ccfg.MaxChunks, Allocate: ccfg.Allocate, Ready: ccfg.Ready})
	if err != nil {
		return nil, err
	}
	return g.EmplaceBack(cfg, ccfg)
}

// NewRingStream makes a standalone chunk stream fed from a free ring into a
// data ring.
func NewRingStream(cfg StreamConfig, ccfg ChunkStreamConfig, data, free *ring.Ring) (*Stream, error) {
	if err := ccfg.Validate(); err != nil {
		return nil, err
	}
	g, err := NewRingGroup(GroupConfig{MaxChunks: ccfg.MaxChunks}, data, free)
	if err != nil {
		return nil, err
	}
	// A standalone stream has no eviction mode to choose: it blocks on both
	// rings as spead2's ring stream does (LOSSY's drop-and-count when the
	// consumer stops is for groups, where the user opts in with the mode).
	g.freeWait, g.blocking = -1, true
	return g.EmplaceBack(cfg, ccfg)
}

// Config returns the group configuration.
func (g *Group) Config() GroupConfig { return g.cfg }

// DataRing and FreeRing return a ring group's rings (nil otherwise).
func (g *Group) DataRing() *ring.Ring { return g.data }

// FreeRing returns a ring group's free ring (nil otherwise).
func (g *Group) FreeRing() *ring.Ring { return g.free }

// EmplaceBack adds a member stream. Its window may not exceed the group's,
// and members may not be added once the group has received data
// (MsgAddStreamAfterData).
func (g *Group) EmplaceBack(cfg StreamConfig, ccfg ChunkStreamConfig) (*Stream, error) {
	if err := ccfg.Validate(); err != nil {
		return nil, err
	}
	if uint64(ccfg.MaxChunks) > g.gmax {
		return nil, invalidf("stream max_chunks (%d) is larger than the group's (%d)", ccfg.MaxChunks, g.gmax)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped || g.stopping.Load() {
		return nil, statef("cannot add a stream to a stopped group")
	}
	// The seed's rule, exactly: members may be added until the group has
	// received data, so code that adds a reader to one member before adding
	// the next works (as in spead2). A member's first batch sets hasData
	// before it first takes g.mu, and we read it under g.mu, so a member
	// that has reached the group's window is always seen here.
	if g.hasData.Load() {
		return nil, statef("%s", MsgAddStreamAfterData)
	}
	s, err := newStream(g, len(g.members), cfg, ccfg)
	if err != nil {
		return nil, err
	}
	// No chunk has been readied yet (that needs data), so g.head is 0 and
	// the new member cannot start behind the group's head.
	s.head = g.head
	s.headPub.Store(g.head)
	g.members = append(g.members, s)
	g.heads = append(g.heads, g.head)
	view := append([]*Stream(nil), g.members...)
	g.view.Store(&view)
	if g.data != nil {
		g.data.AddProducer()
	}
	return s, nil
}

// Len returns the number of members.
func (g *Group) Len() int { return len(g.memberList()) }

// At returns member i.
func (g *Group) At(i int) *Stream { return g.memberList()[i] }

func (g *Group) memberList() []*Stream {
	if v := g.view.Load(); v != nil {
		return *v
	}
	return nil
}

func (g *Group) noteData() {
	if !g.hasData.Load() {
		g.hasData.Store(true)
	}
}

// setHeadLocked publishes m's head and readies every chunk that no member
// can still write. ctx is the member whose lock the caller holds (its batch
// statistics go to the callbacks). g.mu held.
func (g *Group) setHeadLocked(m, ctx *Stream) {
	// The caller's streaming payload stores must be visible before any
	// chunk is readied (other members fenced at the end of their batches).
	memcopy.Fence()
	g.heads[m.index] = m.head
	newHead := inf
	for _, h := range g.heads {
		newHead = min(newHead, h)
	}
	if newHead <= g.head {
		return
	}
	end := min(newHead, g.tail)
	for id := g.head; id < end; id++ {
		g.readyLocked(id, ctx)
	}
	if newHead == inf {
		g.head = g.tail // every member has stopped
	} else {
		g.head = newHead
		g.tail = max(g.tail, newHead)
	}
	g.headPub.Store(g.head)
	if g.waiters > 0 {
		g.cond.Broadcast() // only sleepers need the (costly) wake-up
	}
}

// publishHead publishes m's head (m.mu held) and readies what it frees.
// The deferred unlock keeps a panicking Go ready callback from leaving the
// group locked (see runRecovering).
func (g *Group) publishHead(m *Stream) {
	g.lockedSetHead(m)
	g.deliverReady(m)
}

func (g *Group) lockedSetHead(m *Stream) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.setHeadLocked(m, m)
}

// chunkFor publishes s's head and returns the chunk for id (s.mu held);
// see chunkLocked. Unlocks by defer, as publishHead.
func (g *Group) chunkFor(s *Stream, id uint64) *chunk.Chunk {
	c := g.lockedChunkFor(s, id)
	g.deliverReady(s)
	return c
}

func (g *Group) lockedChunkFor(s *Stream, id uint64) *chunk.Chunk {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.setHeadLocked(s, s)
	return g.chunkLocked(s, id)
}

// readyLocked takes chunk id out of the window and queues it for delivery
// (deliverReady). g.mu held.
func (g *Group) readyLocked(id uint64, _ *Stream) {
	sl := &g.slots[id%g.gmax]
	if c := *sl; c != nil {
		*sl = nil
		g.readyQ = append(g.readyQ, c)
		g.queued.Add(1)
	}
}

// deliverReady delivers the pending chunks unless another goroutine is
// delivering already (it takes ours too: it looks again after every round,
// and a queue it found empty was empty with g.mu held, after which our
// TryLock would have succeeded). s is the caller, whose lock is held: its
// batch statistics go to the callback. g.mu not held.
func (g *Group) deliverReady(s *Stream) {
	// queued spares the group lock when nothing waits (most calls). It is
	// raised under g.mu before the queuer calls us, and read after every
	// readyMu.Unlock: a queuer whose TryLock failed raised it before our
	// Unlock, so we see it and go round again (atomics are sequentially
	// consistent).
	for g.queued.Load() > 0 && g.readyMu.TryLock() {
		if !g.deliverRound(s) {
			return // nothing deliverable (empty, or behind an allocation)
		}
	}
}

// deliverRound is one round of deliverReady (readyMu held, released
// before it returns): false if there was nothing to deliver.
func (g *Group) deliverRound(s *Stream) bool {
	g.mu.Lock()
	if len(g.readyQ) == 0 {
		// Released while g.mu is held: whoever queues next (under g.mu)
		// finds readyMu free.
		g.readyMu.Unlock()
		g.mu.Unlock()
		return false
	}
	n := len(g.readyQ)
	for i, c := range g.readyQ {
		if c == allocating { // still being allocated: what follows waits
			n = i
			break
		}
	}
	if n == 0 {
		g.readyMu.Unlock() // the allocator delivers once it has filled it
		g.mu.Unlock()
		return false
	}
	g.deliverBuf = append(g.deliverBuf[:0], g.readyQ[:n]...)
	rest := copy(g.readyQ, g.readyQ[n:])
	clear(g.readyQ[rest:])
	g.readyQ = g.readyQ[:rest]
	g.queued.Add(-int64(n))
	if g.waiters > 0 {
		g.cond.Broadcast() // a member may wait for pending to empty
	}
	g.mu.Unlock()
	defer g.readyMu.Unlock() // also if a Go ready callback panics
	g.readyCtx = s
	defer func() { g.readyCtx = nil }()
	for i, c := range g.deliverBuf {
		g.deliverBuf[i] = nil
		g.cfg.Ready(c, s.batch)
	}
	return true
}

// awaitDeliveryLocked returns once readyQ is empty (taken by this or
// another deliverer) or the group has stopped. A member calls it before it
// may sleep or block in allocate with g.mu held: a deliverer needs g.mu to
// take the queue, and the consumer may need those chunks to give back the
// one that would wake us. While another deliverer is busy (blocked on a
// full data ring, say) we sleep: it broadcasts when it takes the queue.
// g.mu held; s's lock held by the caller.
func (g *Group) awaitDeliveryLocked(s *Stream) {
	for len(g.readyQ) > 0 && !g.stopped {
		g.mu.Unlock()
		g.deliverReady(s)
		g.mu.Lock()
		if len(g.readyQ) > 0 && !g.stopped {
			g.waiters++
			g.cond.Wait()
			g.waiters--
			// As in chunkLocked: a LOSSY member may have asked us to flush.
			if t := s.flushTarget.Load(); t > s.head {
				s.advanceTo(t)
				g.setHeadLocked(s, s)
			}
		}
	}
}

// chunkLocked returns the chunk for id on behalf of member s, allocating up
// to id and, when that would overflow the group window, evicting (LOSSY) or
// waiting (LOSSLESS). nil means no chunk (stopped, or none allocated). g.mu
// held, s.mu held by the caller.
func (g *Group) chunkLocked(s *Stream, id uint64) *chunk.Chunk {
	spun, graced := false, false
	for {
		if g.stopped {
			return nil
		}
		if id < g.head || id < s.head {
			return nil
		}
		if id < g.tail {
			if c := g.slots[id%g.gmax]; c != allocating {
				return c
			}
			g.sleepLocked(s) // another member is allocating it
			continue
		}
		if id-g.head < g.gmax {
			if g.allocBusy {
				g.sleepLocked(s) // allocations are one at a time, in ID order
				continue
			}
			g.allocateLocked(s)
			continue // the window may have changed while g.mu was released
		}
		target := id + 1 - g.gmax
		if g.cfg.EvictionMode == Lossy {
			if !graced && g.grace > 0 && g.busyBehindLocked(target, s) {
				graced = true
				if len(g.readyQ) > 0 {
					g.awaitDeliveryLocked(s)
				}
				s.foldBatch()
				g.graceForHead(target, s)
				continue // re-check everything under g.mu
			}
			g.requestFlushLocked(target, s)
			if g.head >= target {
				continue
			}
		}
		if len(g.readyQ) > 0 {
			g.awaitDeliveryLocked(s) // readied chunks reach the consumer first
			continue
		}
		// About to wait (LOSSLESS, or LOSSY until the flush lands): publish
		// this batch's statistics first, so a stalled member's packets show.
		s.foldBatch()
		if g.cfg.EvictionMode == Lossless && !spun {
			// LOSSLESS: another member is behind. It is usually a fraction
			// of a chunk behind, so spin a little before sleeping: a
			// sleeping goroutine pays the scheduler's wake-up (tens of
			// microseconds on these machines, measured in docs/tuning.md)
			// at every chunk boundary, which serialised the members.
			spun = true
			g.spinForHead(target, s)
			continue // re-check everything under g.mu
		}
		g.waiters++
		g.cond.Wait()
		g.waiters--
		// Another member may have asked us to flush while we waited.
		if t := s.flushTarget.Load(); t > s.head {
			s.advanceTo(t)
			g.setHeadLocked(s, s)
		}
	}
}

// allocating marks the slot (and, once readied, the readyQ entry) of the
// chunk being allocated, so that the window can move on while allocate
// runs without the group lock.
var allocating = &chunk.Chunk{}

// allocateLocked allocates chunk g.tail for s with g.mu released: allocate
// may block (a ring group waits for the consumer to return a free chunk),
// and the other members keep filling the chunks they already have. The
// slot is reserved first (tail moves past it) so the window stays
// consistent; whoever needs that chunk meanwhile sleeps until it is filled,
// and if the window leaves it behind before then, its readyQ entry holds
// delivery back until it is filled, so ready order stays by chunk ID.
// Chunks we queued are delivered first: the consumer may need them before
// it can return the free chunk we wait for. g.mu held; s's lock held.
func (g *Group) allocateLocked(s *Stream) {
	next := g.tail
	g.slots[next%g.gmax] = allocating
	g.tail++
	g.allocBusy = true
	g.mu.Unlock()
	g.deliverReady(s)
	c := g.allocateUnlocked(s, next)
	g.mu.Lock()
	g.allocBusy = false
	if c != nil {
		c.ChunkID = int64(next)
		c.StreamID = s.cfg.StreamID
	}
	if next >= g.head && g.slots[next%g.gmax] == allocating {
		g.slots[next%g.gmax] = c
	} else {
		// Readied while we allocated (the window moved past it): fill the
		// entry that holds the queue back, or drop it when there is no
		// chunk. The deliverer is woken by the broadcast below or by our
		// own deliverReady when chunkFor returns.
		for i, q := range g.readyQ {
			if q == allocating {
				if c != nil {
					g.readyQ[i] = c
				} else {
					g.readyQ = append(g.readyQ[:i], g.readyQ[i+1:]...)
					g.queued.Add(-1)
				}
				break
			}
		}
	}
	if g.waiters > 0 {
		g.cond.Broadcast()
	}
}

// allocateUnlocked calls allocate; the deferred lock keeps a panicking Go
// allocate from returning to chunkLocked's deferred unlock without g.mu.
func (g *Group) allocateUnlocked(s *Stream, id uint64) (c *chunk.Chunk) {
	defer func() {
		if p := recover(); p != nil {
			g.mu.Lock()
			g.allocBusy = false
			g.slots[id%g.gmax] = nil // never filled: nothing to deliver
			for i, q := range g.readyQ {
				if q == allocating {
					g.readyQ = append(g.readyQ[:i], g.readyQ[i+1:]...)
					g.queued.Add(-1)
					break
				}
			}
			g.cond.Broadcast()
			panic(p) // with g.mu held, as the caller's deferred unlock expects
		}
	}()
	return g.cfg.Allocate(int64(id), s.batch)
}

// sleepLocked waits on the group's condition (g.mu held, released while
// asleep) for s, or, when chunks wait in readyQ ahead of any allocation
// marker, delivers them instead and returns (the caller re-checks): the
// consumer may need them before it can give back the chunk an allocating
// member waits for.
func (g *Group) sleepLocked(s *Stream) {
	if len(g.readyQ) > 0 && g.readyQ[0] != allocating {
		g.mu.Unlock()
		g.deliverReady(s)
		g.mu.Lock()
		return
	}
	g.waiters++
	g.cond.Wait()
	g.waiters--
}

// busyBehindLocked reports whether a member still receiving has its head
// below target, so that evicting up to target would take chunks it may yet
// fill. A member that took in nothing during a whole grace wait is idle
// until it takes in a batch again, and is not waited for. g.mu held.
func (g *Group) busyBehindLocked(target uint64, s *Stream) bool {
	for _, m := range g.members {
		if m != s && g.heads[m.index] < target && !m.stoppedPub.Load() &&
			!(m.idleMarked && m.progress.Load() == m.idleMark) {
			return true
		}
	}
	return false
}

// graceForHead (LOSSY) releases g.mu and waits, sleeping in short steps so
// the members behind get the CPU, until the group head reaches target, the
// group stops, s is asked to flush, or g.grace passes. Members behind that
// took in no batch meanwhile are marked idle (behaviour.md: LOSSY does not
// wait for idle members, so each costs one grace, not one per chunk).
// Returns with g.mu held.
func (g *Group) graceForHead(target uint64, s *Stream) {
	type watch struct {
		m *Stream
		p uint64
	}
	var buf [8]watch // enough for most groups without allocating
	list := buf[:0]
	for _, m := range g.members {
		if m != s && g.heads[m.index] < target {
			list = append(list, watch{m, m.progress.Load()})
		}
	}
	g.mu.Unlock()
	deadline := time.Now().Add(g.grace)
	timedOut := false
	for g.headPub.Load() < target && !g.stopping.Load() && s.flushTarget.Load() <= s.head {
		if time.Now().After(deadline) {
			timedOut = true
			break
		}
		time.Sleep(graceStep)
	}
	g.mu.Lock()
	if timedOut {
		for _, w := range list {
			if w.m.progress.Load() == w.p {
				w.m.idleMarked, w.m.idleMark = true, w.p
			}
		}
	}
}

// graceStep is graceForHead's sleep between checks.
const graceStep = 20 * time.Microsecond

// spinWindow bounds how long a LOSSLESS member spins for the group head
// before it sleeps on the condition variable.
const spinWindow = 200 * time.Microsecond

// spinForHead releases g.mu and spins until the group head reaches target,
// the group stops or s is asked to flush, or spinWindow passes; it returns
// with g.mu held again.
//
// Whether to yield at every turn (runtime.Gosched) depends on the
// processors. Gosched calls wakep, which wakes an idle Go thread whenever a
// processor is idle. In a C or Python program the library runs more
// processors than there are CPUs, so one is nearly always idle, and the
// woken thread takes a CPU from a member for 10-15 us, once per yield:
// traced with perf sched on the 2-core machine, Python-driven
// memory/small N=2, a member preempted every 90 us (docs/tuning.md). There,
// with no more members than CPUs (each has a CPU of its own), we spin
// without yielding. Otherwise we yield: with one processor per CPU (a Go
// program) the yield wakes nobody and lets the consumer goroutine, queued
// on our processor when we delivered, run while we wait; with more members
// than CPUs the member we wait for may need our CPU.
func (g *Group) spinForHead(target uint64, s *Stream) {
	yield := len(g.members) > numCPU || !g.moreProcsThanCPUs // members: g.mu
	g.mu.Unlock()
	deadline := time.Now().Add(spinWindow)
	for i := 0; ; i++ {
		if g.headPub.Load() >= target || g.stopping.Load() || s.flushTarget.Load() > s.head {
			break
		}
		if i%64 == 63 && time.Now().After(deadline) {
			break
		}
		if yield {
			runtime.Gosched()
		}
	}
	g.mu.Lock()
}

// numCPU is the number of CPUs this process may run on (at start-up).
var numCPU = runtime.NumCPU()

// requestFlushLocked asks every member behind target to move its window to
// target (LOSSY). Idle members are flushed here and now; a busy member
// honours the request before it next releases its lock. g.mu held; the
// requester's own lock is held by the caller.
func (g *Group) requestFlushLocked(target uint64, requester *Stream) {
	for _, m := range g.members {
		if m == requester || g.heads[m.index] >= target {
			continue
		}
		for {
			old := m.flushTarget.Load()
			if old >= target || m.flushTarget.CompareAndSwap(old, target) {
				break
			}
		}
		if m.mu.TryLock() {
			g.flushIdleLocked(m, requester)
		}
	}
	g.cond.Broadcast() // members waiting in chunkLocked check their targets
}

// flushIdleLocked moves idle member m's window to its flush target on
// requester's behalf and unlocks m (TryLock'ed by the caller; g.mu held).
// Targets rise only under g.mu, which we hold, so flushing to the current
// target leaves nothing for m to notice later.
func (g *Group) flushIdleLocked(m, requester *Stream) {
	defer m.mu.Unlock() // also if a Go ready callback panics
	if !m.stopped {
		m.advanceTo(m.flushTarget.Load())
		m.foldBatch()
		g.setHeadLocked(m, requester)
	}
}

// memberFinished is called once a member has stopped for good.
func (g *Group) memberFinished(m *Stream) {
	if g.data != nil && !m.producerGone.Swap(true) {
		g.data.RemoveProducer()
	}
}

// Stop stops every member and readies every remaining chunk. For a ring
// group it stops both rings first, so a consumer that stopped servicing
// them cannot block shutdown; chunks readied after that are kept aside and
// returned (the caller owns them again). Stop returns when no goroutine of
// the group will touch a chunk again. It is idempotent: later calls wait
// for the first and return nil.
func (g *Group) Stop() []*chunk.Chunk {
	var kept []*chunk.Chunk
	first := false
	g.stopOnce.Do(func() {
		first = true
		g.stopping.Store(true)
		if g.data != nil {
			g.data.Stop()
			g.free.Stop()
		}
		g.mu.Lock()
		g.stopped = true
		members := append([]*Stream(nil), g.members...)
		g.cond.Broadcast()
		g.mu.Unlock()
		for _, m := range members {
			m.stopForGroup()
		}
		g.mu.Lock()
		for id := g.head; id < g.tail; id++ { // only if a member never published
			if c := g.slots[id%g.gmax]; c != nil {
				logx.Logf(logx.Warning, "group stop: chunk %d was still live", id)
			}
		}
		g.mu.Unlock()
		// Every member delivered what it queued before its readers ended;
		// whatever is left (a panicking callback's round) goes out here,
		// on this thread, with a member's statistics (members are stopped,
		// so nobody else uses them). Then nobody delivers again.
		for len(members) > 0 {
			g.readyMu.Lock() // deliverRound releases it
			if !g.deliverRound(members[0]) {
				break
			}
		}
		g.readyMu.Lock()
		kept = g.keptAside
		g.keptAside = nil
		g.readyMu.Unlock()
		// A flusher's push fails at once on the stopped data ring; after
		// this no goroutine of the group holds a chunk.
		g.flushWG.Wait()
		g.pendMu.Lock()
		kept = append(kept, g.pendKept...)
		kept = append(kept, g.pending[g.pendHead:]...) // none: the flusher emptied it
		g.pendKept, g.pending, g.pendHead = nil, nil, 0
		g.pendMu.Unlock()
		for _, m := range members {
			m.release()
		}
		close(g.stopDone)
	})
	if !first {
		<-g.stopDone
	}
	return kept
}

// Stopped reports whether Stop has been called.
func (g *Group) Stopped() bool { return g.stopping.Load() }

// allocateFromRing is a ring group's allocate: pop a free chunk; a stopped
// free ring gives no chunk. LOSSLESS (and a standalone ring stream) waits
// as long as it takes (spead2). LOSSY waits at most freeWait for the
// consumer to return a chunk; once such a wait has timed out the group is
// starved and does not wait again until a chunk comes back, so the members
// keep draining their input and the heaps of the chunks it could not have
// are counted (no_chunk_heaps) instead of being dropped by the kernel
// uncounted. Called by the one allocating member (allocBusy), g.mu not
// held: other members keep filling their chunks meanwhile.
func (g *Group) allocateFromRing(_ int64, _ []uint64) *chunk.Chunk {
	// A stopped free ring still hands out what it holds (Pop drains), but
	// behaviour.md section 5 says a stopped free ring yields no chunk: a
	// chunk taken during Stop would only be kept aside. stopping is set
	// before Stop stops the rings, so a member woken from a blocked ready by
	// the data ring's stop cannot take a fresh chunk either.
	if g.stopping.Load() || g.free.Stopped() {
		return nil
	}
	var c *chunk.Chunk
	var err error
	switch {
	case g.freeWait < 0:
		c, err = g.free.Pop()
	default:
		c, err = g.free.TryPop()
		if errors.Is(err, ring.ErrEmpty) && !g.starved {
			c, err = g.free.PopTimeout(g.freeWait)
			if errors.Is(err, ring.ErrTimeout) {
				g.starved = true
				logx.Logf(logx.Warning, "LOSSY ring group: no free chunk for %v; dropping heaps "+
					"(counted in no_chunk_heaps) until the consumer returns chunks", g.freeWait)
			}
		}
	}
	if err != nil {
		return nil
	}
	g.starved = false
	c.ClearPresent()
	return c
}

// readyToRing is a ring group's ready, called by the deliverer (readyMu
// held, g.mu not). LOSSLESS (and a standalone ring stream) pushes to the
// data ring, blocking while it is full (counted in worker_blocked), as
// spead2 does. LOSSY never blocks: a chunk that finds the data ring full
// (also counted in worker_blocked) is queued for the flusher. Once the
// data ring has stopped, the chunk is kept aside for Stop to hand back.
func (g *Group) readyToRing(c *chunk.Chunk, batch []uint64) {
	if g.blocking {
		err := g.data.TryPush(c)
		if errors.Is(err, ring.ErrFull) {
			batch[StatWorkerBlocked]++
			if g.readyCtx != nil {
				// Publish the batch so far (this count included): a member
				// blocked here for good still shows what it took in.
				g.readyCtx.foldBatch()
			}
			err = g.data.Push(c)
		}
		if err != nil {
			g.keptAside = append(g.keptAside, c)
		}
		return
	}
	g.pendMu.Lock()
	defer g.pendMu.Unlock()
	if !g.flushing { // nothing queued: the chunk may go straight in
		err := g.data.TryPush(c)
		if err == nil {
			return
		}
		if !errors.Is(err, ring.ErrFull) {
			g.keptAside = append(g.keptAside, c) // stopped
			return
		}
		g.flushing = true
		// The flusher is a producer of the data ring while it holds chunks,
		// so the ring cannot stop (last member finished) before they are in.
		// The caller is a member that still is one, so the count is >= 1.
		g.data.AddProducer()
		g.flushWG.Add(1)
		go g.flushPending()
	}
	batch[StatWorkerBlocked]++
	g.pending = append(g.pending, c)
}

// flushPending pushes the queued chunks onto the data ring in order,
// blocking outside every group lock, and ends when the queue is empty (or
// the data ring has stopped: the rest then go back to Stop's caller).
func (g *Group) flushPending() {
	defer g.flushWG.Done()
	defer g.data.RemoveProducer()
	g.pendMu.Lock()
	defer g.pendMu.Unlock()
	for g.pendHead < len(g.pending) {
		c := g.pending[g.pendHead] // stays queued (for order) until it is in
		g.pendMu.Unlock()
		err := g.data.Push(c)
		g.pendMu.Lock()
		if err != nil {
			g.pendKept = append(g.pendKept, g.pending[g.pendHead:]...)
			g.pendHead = len(g.pending)
			break
		}
		g.pending[g.pendHead] = nil
		g.pendHead++
	}
	clear(g.pending)
	g.pending, g.pendHead = g.pending[:0], 0
	g.flushing = false
}

// AddFreeChunk zeroes the chunk's presence flags and pushes it on the free
// ring without blocking: ring.ErrFull if full, nil (chunk not taken) if the
// free ring has stopped, as spead2's add_free_chunk.
func (g *Group) AddFreeChunk(c *chunk.Chunk) error {
	err := g.PushFreeChunk(c)
	if errors.Is(err, ring.ErrStopped) {
		return nil
	}
	return err
}

// PushFreeChunk is AddFreeChunk that says when the free ring refused the
// chunk because it has stopped (ring.ErrStopped): the caller still owns it.
func (g *Group) PushFreeChunk(c *chunk.Chunk) error {
	if g.free == nil {
		return statef("not a ring group")
	}
	c.ClearPresent()
	return g.free.TryPush(c)
}
