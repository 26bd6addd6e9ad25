package recv

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/logx"
	"github.com/chunkgroup/chunkgroup/core/memcopy"
	"github.com/chunkgroup/chunkgroup/core/offheap"
	"github.com/chunkgroup/chunkgroup/core/spead"
	"golang.org/x/sys/cpu"
)

// inf is a head position beyond every valid chunk ID (IDs are 0..2^63-1):
// a stopped member sits there so it never holds the group back.
const inf = uint64(1) << 63

// windowSlot caches, for one position of a member's window, the group's
// chunk for that ID, so the per-heap lookup takes no group lock.
type windowSlot struct {
	id    uint64
	valid bool
	c     *chunk.Chunk // nil when allocation gave no chunk (heaps skipped)
}

// Stream is a chunk stream: a member of a Group (a standalone chunk stream
// is the only member of its own group). Readers feed it through AddBatch.
type Stream struct {
	_     cpu.CacheLinePad // no line shared with the previous allocation
	cfg   StreamConfig
	ccfg  ChunkStreamConfig
	group *Group
	index int // position in the group

	modes  []StatMode
	nstats int

	// mu serialises packet processing. It is taken once per batch, so it is
	// uncontended in steady state; the group takes it (TryLock) only to
	// flush an idle member, and Stop takes it once.
	mu       sync.Mutex
	pkt      spead.Packet
	heaps    heapTable
	head     uint64 // first chunk ID of this member's window
	smax     uint64
	slots    []windowSlot
	stopped  bool
	presence int64 // packet presence payload size, 0 = per-heap presence
	streamNT bool  // copy payload with streaming stores (core/memcopy)
	jump     jumpGuard
	marks    [prePlaceCap]*byte // presence bytes to set (markPresent)
	nmarks   int

	// Off-heap buffers handed to the place function (and from there maybe C).
	mem     []byte
	pd      *PlaceData
	items   []int64
	batch   []uint64
	scratch []byte
	pre     *prePlacer // placement of a slice's heaps in one call, for a BatchPlacer
	cut     [][]byte   // AddBuffer's slice of packets for pre (prePlaceCap)

	// Fields other members touch: flushTarget is raised by them (only under
	// the group lock) when the group needs this member's window to start at
	// or after it; headPub mirrors head for their lock-free checks. They sit
	// on cache lines of their own, so a member's per-packet writes above
	// never invalidate what another member reads, and the other way round.
	_           cpu.CacheLinePad
	flushTarget atomic.Uint64
	headPub     atomic.Uint64
	stoppedPub  atomic.Bool
	// progress counts batches taken in: a LOSSY member about to evict
	// chunks this one has not finished watches it to tell a member that
	// is still receiving (worth a short wait) from an idle one.
	progress atomic.Uint64
	_        cpu.CacheLinePad

	statsMu sync.Mutex
	totals  []uint64

	// LOSSY grace (group.go graceForHead): progress when this member was
	// last found idle; it is not waited for until it moves. Group lock.
	idleMarked bool
	idleMark   uint64

	// Readers and lifecycle.
	readersMu    sync.Mutex
	readers      []Reader
	pending      []Reader // added before Start with ExplicitStart
	started      bool
	readerWG     sync.WaitGroup
	err          error
	readersDone  bool // set before the final wait for readers: no new ones
	producerGone atomic.Bool
	userStopping atomic.Bool
	releaseOnce  sync.Once
	_            cpu.CacheLinePad // nor with whatever is allocated next
}

func newStream(g *Group, index int, cfg StreamConfig, ccfg ChunkStreamConfig) (*Stream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ccfg.Validate(); err != nil {
		return nil, err
	}
	s := &Stream{cfg: cfg, ccfg: ccfg, group: g, index: index}
	s.ccfg.Items = append([]uint64(nil), ccfg.Items...)
	all := cfg.Stats()
	s.nstats = len(all)
	s.modes = make([]StatMode, len(all))
	for i, c := range all {
		s.modes[i] = c.Mode
	}
	s.totals = make([]uint64, s.nstats)
	s.heaps = newHeapTable(cfg.MaxHeaps, cfg.Substreams, cfg.AllowOutOfOrder)
	s.smax = uint64(ccfg.MaxChunks)
	s.slots = make([]windowSlot, ccfg.MaxChunks)
	s.presence = int64(ccfg.PacketPresencePayloadSize)
	s.jump.max = uint64(ccfg.MaxJumpChunks)
	s.streamNT = cfg.Memcpy == MemcpyNonTemporal

	// One off-heap block: place data, items, batch stats, extra scratch.
	pdSize := int(PlaceDataSize)
	itemsOff := pdSize
	statsOff := itemsOff + 8*len(s.ccfg.Items)
	extraOff := statsOff + 8*s.nstats
	mem, err := offheap.Alloc(extraOff + ccfg.MaxHeapExtra)
	if err != nil {
		return nil, err
	}
	s.mem = mem
	s.pd = (*PlaceData)(unsafe.Pointer(&mem[0]))
	if n := len(s.ccfg.Items); n > 0 {
		s.items = unsafe.Slice((*int64)(unsafe.Pointer(&mem[itemsOff])), n)
		s.pd.Items = &s.items[0]
	}
	s.batch = unsafe.Slice((*uint64)(unsafe.Pointer(&mem[statsOff])), s.nstats)
	s.pd.BatchStats = &s.batch[0]
	if ccfg.MaxHeapExtra > 0 {
		s.scratch = mem[extraOff : extraOff+ccfg.MaxHeapExtra]
		s.pd.Extra = &s.scratch[0]
	}
	if bp, ok := ccfg.Place.(BatchPlacer); ok {
		if s.pre, err = newPrePlacer(bp, len(s.ccfg.Items), ccfg.MaxHeapExtra, &s.batch[0]); err != nil {
			offheap.Free(mem)
			return nil, err
		}
		s.cut = make([][]byte, 0, prePlaceCap)
	}
	return s, nil
}

// Config returns the stream's configuration.
func (s *Stream) Config() StreamConfig { return s.cfg }

// ChunkConfig returns the stream's chunk configuration.
func (s *Stream) ChunkConfig() ChunkStreamConfig { return s.ccfg }

// Group returns the group the stream belongs to.
func (s *Stream) Group() *Group { return s.group }

// StatConfig returns the names and modes of the statistics, by index.
func (s *Stream) StatConfig() []StatConfig { return s.cfg.Stats() }

// Stats returns a consistent snapshot of the statistics.
func (s *Stream) Stats() Stats {
	v := make([]uint64, s.nstats)
	s.StatsInto(v)
	return Stats{Config: s.cfg.Stats(), Values: v}
}

// StatsInto copies a consistent snapshot into dst (as many as fit) and
// returns the number of statistics.
func (s *Stream) StatsInto(dst []uint64) int {
	s.statsMu.Lock()
	copy(dst, s.totals)
	s.statsMu.Unlock()
	return s.nstats
}

// foldBatch publishes the per-batch statistics and zeroes them. Called with
// mu held.
func (s *Stream) foldBatch() {
	s.statsMu.Lock()
	foldStats(s.totals, s.batch, s.modes)
	s.statsMu.Unlock()
	clear(s.batch)
}

// Err returns the error that stopped a reader, if any.
func (s *Stream) Err() error {
	s.readersMu.Lock()
	defer s.readersMu.Unlock()
	return s.err
}

// AddReader attaches a reader. It starts at once, or at Start with
// ExplicitStart. Members may still be added to the group until it has
// received data (see Group.EmplaceBack).
func (s *Stream) AddReader(r Reader) error {
	s.readersMu.Lock()
	defer s.readersMu.Unlock()
	if s.readersDone || s.isStopped() {
		r.Close()
		releaseReader(r)
		return statef("cannot add a reader to a stopped stream")
	}
	s.readers = append(s.readers, r)
	if s.cfg.ExplicitStart && !s.started {
		s.pending = append(s.pending, r)
		return nil
	}
	s.runReader(r)
	return nil
}

// Start starts readers added before it (with ExplicitStart); later readers
// start as they are added.
func (s *Stream) Start() error {
	s.readersMu.Lock()
	defer s.readersMu.Unlock()
	if s.started {
		return nil
	}
	if s.readersDone {
		return statef("cannot start a stopped stream")
	}
	s.started = true
	for _, r := range s.pending {
		s.runReader(r)
	}
	s.pending = nil
	return nil
}

func (s *Stream) runReader(r Reader) {
	s.readerWG.Add(1)
	go func() {
		defer s.readerWG.Done()
		err := runRecovering(r, s)
		r.Close()
		releaseReader(r)
		if err != nil && !s.userStopping.Load() {
			s.readersMu.Lock()
			if s.err == nil {
				s.err = err
			}
			s.readersMu.Unlock()
			logx.Logf(logx.Error, "stream %d: reader failed: %v", s.cfg.StreamID, err)
		}
		if !s.userStopping.Load() {
			s.stopFromInput()
		}
	}()
}

// runRecovering runs r and turns a panic in the stream's processing (a Go
// place function, or a Go allocate or ready callback) into the reader's
// error, so the stream stops with it like with any failing reader instead
// of taking the process down. Every lock on the way is released by a defer
// (AddBatch, Group.chunkFor, Group.publishHead, requestFlushLocked), so
// stopping the stream afterwards cannot deadlock.
func runRecovering(r Reader, s *Stream) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("recv: stream %d: panic while processing packets: %v", s.cfg.StreamID, p)
		}
	}()
	return r.Run(s)
}

func (s *Stream) isStopped() bool { return s.stoppedPub.Load() }

// closeReaders wakes every reader; it never blocks on them.
func (s *Stream) closeReaders() {
	s.readersMu.Lock()
	rs := append([]Reader(nil), s.readers...)
	s.readersMu.Unlock()
	for _, r := range rs {
		r.Close()
	}
}

// stopFromInput ends the stream because its input ended (end of buffer,
// stop item, reader error). It does not stop the group: the member just
// stops holding it back.
func (s *Stream) stopFromInput() {
	s.mu.Lock()
	s.stopLocked()
	s.mu.Unlock()
	s.closeReaders()
	s.group.memberFinished(s)
}

// stopLocked flushes the live heaps and moves the member's head to
// infinity, readying what only this member was holding back.
func (s *Stream) stopLocked() {
	if s.stopped {
		return
	}
	s.stopped = true
	s.stoppedPub.Store(true)
	s.advanceTo(inf)
	s.group.publishHead(s)
	s.foldBatch()
}

// Stop stops the whole group (as spead2 does for a member stream).
func (s *Stream) Stop() { s.group.Stop() }

// stopForGroup is the group's stop of one member: readers first (so no
// reader is blocked in I/O), then the window, then wait for the readers.
func (s *Stream) stopForGroup() {
	s.userStopping.Store(true)
	// No reader may start once we wait for them (runReader is only called
	// with readersMu held, so this orders every readerWG.Add before Wait).
	s.readersMu.Lock()
	s.readersDone = true
	s.readersMu.Unlock()
	s.closeReaders()
	s.mu.Lock()
	s.stopLocked()
	s.mu.Unlock()
	s.readerWG.Wait()
	s.readersMu.Lock()
	never := s.pending
	s.pending = nil
	s.readersMu.Unlock()
	for _, r := range never {
		releaseReader(r) // added before an explicit start that never came
	}
	s.group.memberFinished(s)
}

// release frees the off-heap buffers; only after every reader has ended.
func (s *Stream) release() {
	s.releaseOnce.Do(func() {
		offheap.Free(s.mem)
		s.mem, s.pd, s.items, s.batch, s.scratch = nil, nil, nil, nil, nil
		if s.pre != nil {
			s.pre.release()
			s.pre = nil
		}
	})
}

// AddBatch implements Sink: it processes a batch of packets under one lock.
func (s *Stream) AddBatch(packets [][]byte) bool {
	var guard batchGuard
	defer guard.release()
	if !s.startBatch(&guard) {
		return false
	}
	for start := 0; start < len(packets); start += prePlaceCap {
		slice := packets[start:min(start+prePlaceCap, len(packets))]
		if s.pre != nil {
			s.prePlace(slice)
		}
		if _, running := s.processSlice(slice, nil, 0); !running {
			break
		}
	}
	return s.endBatch(len(packets), &guard)
}

// AddBuffer implements BufferSink: it cuts up to maxPackets packets off the
// front of buf and processes them under one lock, each right after the one
// before it, so memory is read in order (BufferSink says why).
//
// With a batch placer the packets are cut a slice at a time, the slice's
// new heaps placed in one call, then the slice copied, so each slice's
// headers are read before its payload after all. While the slice is copied
// the next slice's headers are prefetched, one packet's with each packet
// copied (guessing the next packets are the size of the last one cut):
// memory/small through the C place function from C (bench/cconsumer.c),
// N=1, medians of 9 runs in two interleaved sets (2026-12-04, AMD EPYC
// host): 8.1 and 8.3 GB/s, against 5.5 and 6.2 with the whole next slice's
// headers prefetched at once before it (what the memory reader did when it
// cut the packets itself), 4.7 and 6.4 with the reader cutting them, and
// 3.7 with slices of one packet (a cgo call per heap); slices of 8, 16 and
// 32 packets were slower than 64. Without a batch placer nothing is
// prefetched: the CPU follows the order by itself (prefetching 2 to 16
// packets ahead made memory/small slower).
func (s *Stream) AddBuffer(buf []byte, maxPackets int) (used int, ok bool, err error) {
	if s.group.stopping.Load() {
		return 0, false, nil
	}
	n, err := spead.Cut(buf) // an input that starts bad is no batch
	if err != nil {
		return 0, true, err
	}
	var guard batchGuard
	defer guard.release()
	if !s.startBatch(&guard) {
		return 0, false, nil
	}
	maxPackets = max(maxPackets, 1)
	count := 0
	for running := true; running; {
		if s.pre == nil {
			count++
			b := buf[used : used+n : used+n]
			used += n
			running = s.processPacket(b, 0)
		} else {
			start, cut := used, s.cut[:0]
			for limit := min(prePlaceCap, maxPackets-count); ; {
				cut = append(cut, buf[used:used+n:used+n])
				used += n
				if len(cut) == limit || used == len(buf) {
					break
				}
				if n, err = spead.Cut(buf[used:]); err != nil {
					break
				}
			}
			s.prePlace(cut)
			var done int
			done, running = s.processSlice(cut, buf[used:], n)
			count += done
			if !running { // stopped: take no more
				used = start
				for _, b := range cut[:done] {
					used += len(b)
				}
			}
		}
		if !running || err != nil || count == maxPackets || used == len(buf) {
			break
		}
		n, err = spead.Cut(buf[used:])
		running = err == nil
	}
	ok = s.endBatch(count, &guard)
	return used, ok, err
}

// batchGuard releases mu if a batch panics (a Go callback; see
// runRecovering): the batch defers release, and endBatch clears held
// before it unlocks normally.
type batchGuard struct {
	s    *Stream
	held bool
}

func (g *batchGuard) release() {
	if g.held {
		g.s.mu.Unlock()
	}
}

// startBatch takes mu for a batch, or returns false (mu not held) if the
// stream has stopped or its group is stopping: no batch starts then.
func (s *Stream) startBatch(g *batchGuard) bool {
	if s.group.stopping.Load() {
		return false
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return false
	}
	g.s, g.held = s, true
	s.group.noteData()
	s.progress.Add(1)
	return true
}

// endBatch ends a batch of n packets begun by startBatch: it counts the
// batch, honours a flush the group asked for meanwhile, folds the batch's
// statistics, releases mu, and reports whether the stream is still
// running.
func (s *Stream) endBatch(n int, g *batchGuard) bool {
	s.flushMarks()
	s.batch[StatBatches]++
	if n := uint64(n); n > s.batch[StatMaxBatch] {
		s.batch[StatMaxBatch] = n
	}
	if t := s.flushTarget.Load(); t > s.head && !s.stopped {
		s.honourFlush(t)
	}
	s.foldBatch()
	stopped := s.stopped
	memcopy.Fence() // this batch's payload is visible before the lock is
	g.held = false
	s.mu.Unlock()
	s.recheckFlush()
	if stopped {
		s.closeReaders()
		s.group.memberFinished(s)
	}
	return !stopped
}

// honourFlush moves the window to t at the group's request (mu held, group
// lock not held).
func (s *Stream) honourFlush(t uint64) {
	s.advanceTo(t)
	s.group.publishHead(s)
}

// recheckFlush closes the lost-wakeup race: a flush target raised while we
// held mu (the group's TryLock failed) is seen here, after the unlock.
func (s *Stream) recheckFlush() {
	for s.flushTarget.Load() > s.headPub.Load() {
		if !s.mu.TryLock() {
			return // the holder honours the target before releasing
		}
		s.honourFlushUnlock()
	}
}

// honourFlushUnlock honours a raised flush target and unlocks mu (held by
// the caller), by defer so a panicking Go ready callback cannot leave the
// stream locked.
func (s *Stream) honourFlushUnlock() {
	defer s.mu.Unlock()
	if t := s.flushTarget.Load(); t > s.head && !s.stopped {
		s.honourFlush(t)
		s.foldBatch()
	}
}

// advanceTo moves the member's window to start at newHead and invalidates
// cached slots before it. A live heap whose chunk falls behind the window
// writes nothing more: it becomes a late heap, absorbing its remaining
// packets, and counts as too_old_heaps if it completes (behaviour.md
// section 3) or as evicted/flushed if it does not. newHead == inf (stop)
// flushes every live heap. The caller publishes the head to the group.
// mu held.
func (s *Stream) advanceTo(newHead uint64) {
	if newHead <= s.head {
		return
	}
	s.flushMarks() // the marks may be for chunks the window now leaves
	for i := range s.heaps.entries {
		h := &s.heaps.entries[i]
		switch {
		case !h.used:
		case newHead == inf:
			s.dropHeap(h, StatIncompleteHeapsFlushed)
		case !h.discard && h.chunkID < newHead:
			h.discard, h.late = true, true
			h.dst, h.present = nil, nil
		}
	}
	for i := range s.slots {
		if s.slots[i].valid && s.slots[i].id < newHead {
			s.slots[i] = windowSlot{}
		}
	}
	s.head = newHead
	s.headPub.Store(newHead)
}

// dropHeap gives up an incomplete heap.
func (s *Stream) dropHeap(h *liveHeap, stat int) {
	s.batch[stat]++
	s.batch[StatHeaps]++
	s.clearHeap(h)
}

func (s *Stream) clearHeap(h *liveHeap) {
	if h.used {
		s.heaps.live--
	}
	h.used = false
	h.dst, h.present = nil, nil
	if h.ranges != nil {
		h.ranges = h.ranges[:0]
	}
}

// processSlice handles up to prePlaceCap packets. It returns the number
// processed and false if the last of them stopped the stream. For
// AddBuffer it prefetches the first two lines of the packets that follow
// in next (each taken to be n bytes), one per packet processed; AddBatch
// passes no next.
func (s *Stream) processSlice(packets [][]byte, next []byte, n int) (int, bool) {
	for i, b := range packets {
		if o := i * n; o < len(next) {
			memcopy.PrefetchPairs(next[o:min(len(next), o+memcopy.LineSize+1)], n)
		}
		if !s.processPacket(b, i) {
			return i + 1, false
		}
	}
	return len(packets), true
}

// processPacket handles packet i of the current slice; false means the
// stream stopped.
func (s *Stream) processPacket(b []byte, i int) bool {
	p := &s.pkt
	if s.pre != nil {
		p = &s.pre.pkts[i] // decoded by prePlace
		if s.pre.bad[i] {
			s.batch[StatMalformedPackets]++
			return true
		}
	} else if err := spead.Decode(b, p); err != nil {
		s.batch[StatMalformedPackets]++
		return true
	}
	s.batch[StatPackets]++
	if p.StreamStop && s.cfg.StopOnStopItem {
		s.stopLocked()
		return false
	}
	if p.HeapLength < 0 {
		s.batch[StatMalformedPackets]++ // chunk streams need sized heaps
		return true
	}
	cnt := uint64(p.HeapCnt)
	h, dist := s.heaps.find(cnt)
	s.batch[StatSearchDist] += uint64(dist)
	if h == nil {
		if p.PayloadOffset != 0 && !s.cfg.AllowOutOfOrder {
			return true // the start of the heap was lost
		}
		if p.PayloadLength == p.HeapLength {
			s.singlePacketHeap(b, p, i)
			return true
		}
		if s.heaps.wasRefused(cnt) {
			return true // a later packet of a heap whose placement was refused
		}
		h = s.startHeap(b, p, i)
		if h == nil {
			return true
		}
	} else if h.length != p.HeapLength {
		s.batch[StatMalformedPackets]++
		return true
	} else if !h.discard {
		s.jump.confirm = 0 // a heap of the current window is alive: a far jump is not confirmed
	}
	off, n := p.PayloadOffset, p.PayloadLength
	if s.cfg.AllowOutOfOrder {
		// A zero-length packet carries no bytes: recording the empty range
		// [off, off) would make the packet that really covers off look
		// like a duplicate, and the heap would never complete.
		if n > 0 && !h.addRange(off, off+n) {
			return true // duplicate
		}
	} else if off != h.received {
		return true // duplicate or gap
	}
	if h.dst != nil {
		memcopy.Copy(h.dst[off:off+n], p.Payload, s.streamNT)
		// Only a packet that carries bytes marks its presence slot: a
		// zero-length packet would otherwise flag a slot whose packet never
		// came, and one at offset == heap length would index past the
		// slots that place() bounds-checked (a crash, found by the tests).
		if s.presence > 0 && n > 0 {
			s.markPresent(&h.present[int64(h.index)+off/s.presence])
		}
	}
	h.received += n
	h.packets++
	s.heaps.touch(h) // eviction takes the heap whose latest packet is oldest
	if h.received == h.length {
		if h.dst != nil && s.presence == 0 {
			s.markPresent(&h.present[h.index])
		}
		if h.late {
			s.batch[StatTooOldHeaps]++
		}
		s.batch[StatHeaps]++
		s.clearHeap(h)
	}
	return true
}

// singlePacketHeap places and writes a heap carried whole by one packet,
// without a table entry.
func (s *Stream) singlePacketHeap(b []byte, p *spead.Packet, i int) {
	s.batch[StatHeaps]++
	s.batch[StatSinglePacketHeaps]++
	c, off, index, ok := s.place(b, p, i)
	if !ok {
		return
	}
	data := c.Data()
	memcopy.Copy(data[off:off+uintptr(p.PayloadLength)], p.Payload, s.streamNT)
	// Per-heap and per-packet presence agree here: payload_offset is 0.
	s.markPresent(&c.Present()[index])
}

// markPresent sets a presence byte, or rather queues it for flushMarks.
// Neighbouring heaps of a chunk usually belong to different members of a
// group (heap i to stream i % N), so their presence bytes share cache
// lines; written one packet at a time, those lines moved between the
// members' CPUs at every packet (memory/small N=2: 15.84 against 16.56
// Mpkt/s without presence writes at all, docs/tuning.md, ninth round).
// Queued, a member writes each line once per batch. The queue must be
// emptied before the window moves (advanceTo, whichever goroutine moves
// it): a chunk is readied only once every member's window has left it, so
// every queued mark targets a chunk this window still holds and nobody
// else looks at yet. endBatch empties it too, so that marks do not
// outlive their batch (nor keep chunk memory referenced). mu held.
func (s *Stream) markPresent(b *byte) {
	if s.nmarks == len(s.marks) {
		s.flushMarks()
	}
	s.marks[s.nmarks] = b
	s.nmarks++
}

// flushMarks sets the queued presence bytes. mu held.
func (s *Stream) flushMarks() {
	for _, b := range s.marks[:s.nmarks] {
		*b = 1
	}
	clear(s.marks[:s.nmarks]) // keep no chunk memory reachable from here
	s.nmarks = 0
}

// startHeap places a new multi-packet heap and enters it in the table,
// evicting the oldest of its substream if full. nil means nothing to track.
func (s *Stream) startHeap(b []byte, p *spead.Packet, i int) *liveHeap {
	c, off, index, ok := s.place(b, p, i)
	// place may have moved the window (dropping heaps), so pick the entry now.
	cnt := uint64(p.HeapCnt)
	h := s.heaps.victim(cnt)
	if !ok && h.used && !h.discard {
		// A heap that will never be written takes no slot from one that is
		// being written: remember its counter so its later packets are
		// absorbed, and count it now, once (it can neither complete nor be
		// evicted).
		s.heaps.refuse(cnt)
		s.batch[StatHeaps]++
		return nil
	}
	if h.used {
		s.dropHeap(h, StatIncompleteHeapsEvicted)
	}
	*h = liveHeap{cnt: cnt, length: p.HeapLength, used: true, ranges: h.ranges} // processPacket stamps it
	s.heaps.live++
	if !ok {
		h.discard = true
		return h
	}
	h.chunkID = uint64(c.ChunkID)
	h.dst = c.Data()[off : off+uintptr(p.HeapLength)]
	h.present = c.Present()
	h.index = index
	return h
}

// place runs the place function for the first packet of a heap and checks
// the result: false means the heap is rejected, too old, has no chunk, or
// is badly placed (each counted).
func (s *Stream) place(b []byte, p *spead.Packet, i int) (c *chunk.Chunk, off, index uintptr, ok bool) {
	pd, scratch := s.runPlace(b, p, i)
	if pd.ChunkID < 0 {
		s.batch[StatRejectedHeaps]++
		return nil, 0, 0, false
	}
	id := uint64(pd.ChunkID)
	if !s.jump.allow(id, s.head, s.smax) {
		s.batch[StatFarJumpHeaps]++
		return nil, 0, 0, false
	}
	c, tooOld := s.chunkFor(id)
	if tooOld {
		s.batch[StatTooOldHeaps]++
		return nil, 0, 0, false
	}
	if c == nil {
		// No memory for this chunk (allocate gave none, or a LOSSY ring
		// group's free ring ran dry). Heaps refused because the group is
		// stopping are not drops of that kind: the user asked for them to end.
		if !s.group.stopping.Load() {
			s.batch[StatNoChunkHeaps]++
		}
		return nil, 0, 0, false
	}
	off, index = pd.HeapOffset, pd.HeapIndex
	length := uintptr(p.HeapLength)
	slots := uintptr(1)
	if s.presence > 0 && length > 0 {
		slots = (length + uintptr(s.presence) - 1) / uintptr(s.presence)
	}
	eoff, esize := pd.ExtraOffset, pd.ExtraSize
	if off > c.DataSize || length > c.DataSize-off ||
		index >= c.PresentSize || slots > c.PresentSize-index ||
		(esize > 0 && (esize > uintptr(len(scratch)) || eoff > c.ExtraSize || esize > c.ExtraSize-eoff)) {
		s.batch[StatBadPlacementHeaps]++
		return nil, 0, 0, false
	}
	if esize > 0 {
		copy(c.Extra()[eoff:eoff+esize], scratch[:esize])
	}
	return c, off, index, true
}

// runPlace returns the placement of the heap packet i of the slice starts,
// with its extra scratch: made ahead by prePlace, or by calling the place
// function now.
func (s *Stream) runPlace(b []byte, p *spead.Packet, i int) (*PlaceData, []byte) {
	if s.pre != nil {
		if pd, scratch, ok := s.pre.take(i); ok {
			return pd, scratch
		}
	}
	pd := s.pd
	for n, id := range s.ccfg.Items {
		s.items[n] = itemValue(p, id)
	}
	pd.Packet = &b[0]
	pd.PacketSize = uintptr(p.Size)
	pd.ChunkID = -1
	pd.HeapIndex, pd.HeapOffset, pd.ExtraOffset, pd.ExtraSize = 0, 0, 0, 0
	s.ccfg.Place.Place(pd)
	pd.Packet = nil // do not keep a pointer to the packet buffer
	return pd, s.scratch
}

// itemValue returns the immediate value of item id in the packet, or -1.
func itemValue(p *spead.Packet, id uint64) int64 {
	switch id {
	case spead.HeapCntID:
		return p.HeapCnt
	case spead.HeapLengthID:
		return p.HeapLength
	case spead.PayloadOffsetID:
		return p.PayloadOffset
	case spead.PayloadLengthID:
		return p.PayloadLength
	}
	if v, ok := p.Immediate(id); ok {
		return int64(v)
	}
	return -1
}

// chunkFor returns the chunk for id (nil if there is none) or reports that
// id is behind the window. Inside the window it is a local lookup; beyond
// it, the window slides and the group is asked, under its lock.
func (s *Stream) chunkFor(id uint64) (c *chunk.Chunk, tooOld bool) {
	if id < s.head {
		return nil, true
	}
	if id < s.head+s.smax {
		if sl := &s.slots[id%s.smax]; sl.valid && sl.id == id {
			return sl.c, false
		}
	} else {
		// Slide the window so id is its last chunk (a far jump re-bases it).
		s.advanceTo(id + 1 - s.smax)
	}
	c = s.group.chunkFor(s, id)
	if id < s.head || s.stopped {
		return nil, true // flushed past id while waiting
	}
	s.slots[id%s.smax] = windowSlot{id: id, valid: true, c: c}
	return c, false
}
