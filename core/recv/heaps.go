package recv

// maxRanges bounds the received-byte ranges tracked per heap with
// allow_out_of_order; a packet that would need more is dropped. In-order
// arrival uses one range, and 32 covers any reordering of up to 64 packets.
const maxRanges = 32

// liveHeap is an incomplete heap: where its bytes go and what has arrived.
type liveHeap struct {
	cnt      uint64
	seq      uint64 // clock of its latest packet: the smallest is evicted first
	length   int64
	received int64
	packets  int64
	used     bool
	discard  bool   // placement refused it: absorb its packets, write nothing
	late     bool   // its chunk left the window before it completed (also discard)
	chunkID  uint64 // valid unless discard
	dst      []byte // chunk.data[heap_offset : heap_offset+length]
	present  []byte // chunk.present (nil if discard)
	index    uintptr
	ranges   [][2]int64 // allow_out_of_order only; cap maxRanges
}

// heapTable holds maxHeaps live heaps per substream in a fixed array; a
// linear probe over a handful of entries beats a map and never allocates.
type heapTable struct {
	maxHeaps   int
	substreams uint64
	entries    []liveHeap
	live       int    // entries in use (startHeap and clearHeap keep it): find returns at once at 0
	seq        uint64 // packet clock for liveHeap.seq
	// refused remembers the counters of the latest multi-packet heaps whose
	// placement was refused (rejected, too old, badly placed, no chunk), so
	// their later packets are absorbed without a table entry: a heap that
	// will never be written must not evict one that is being written.
	refused     []uint64 // counter + 1; 0 = empty
	refusedNext int
}

func newHeapTable(maxHeaps, substreams int, outOfOrder bool) heapTable {
	t := heapTable{maxHeaps: maxHeaps, substreams: uint64(substreams), entries: make([]liveHeap, maxHeaps*substreams),
		refused: make([]uint64, maxHeaps*substreams)}
	if outOfOrder {
		backing := make([][2]int64, maxRanges*len(t.entries))
		for i := range t.entries {
			t.entries[i].ranges = backing[i*maxRanges : i*maxRanges : (i+1)*maxRanges]
		}
	}
	return t
}

// slots returns the entries of cnt's substream.
func (t *heapTable) slots(cnt uint64) []liveHeap {
	s := int(cnt % t.substreams)
	return t.entries[s*t.maxHeaps : (s+1)*t.maxHeaps]
}

// find returns the live heap with counter cnt, or nil, and the probe count.
func (t *heapTable) find(cnt uint64) (*liveHeap, int) {
	if t.live == 0 {
		// Streams of single-packet heaps never have one live between
		// packets; the probe count is what the scan would have made.
		return nil, t.maxHeaps
	}
	sl := t.slots(cnt)
	for i := range sl {
		if sl[i].used && sl[i].cnt == cnt {
			return &sl[i], i + 1
		}
	}
	return nil, len(sl)
}

// victim returns a free entry for cnt's substream, or else the one least
// likely to complete, which the caller must evict first: a heap that will
// write nothing more (late) before one that still can, and among those the
// one whose latest packet is oldest. A heap that stopped receiving thus goes
// before one whose packets are still arriving, however long ago it started.
func (t *heapTable) victim(cnt uint64) *liveHeap {
	sl := t.slots(cnt)
	var best *liveHeap
	for i := range sl {
		h := &sl[i]
		if !h.used {
			return h
		}
		if best == nil || (h.discard && !best.discard) || (h.discard == best.discard && h.seq < best.seq) {
			best = h
		}
	}
	return best
}

// touch stamps h with the packet clock (its latest packet).
func (t *heapTable) touch(h *liveHeap) {
	t.seq++
	h.seq = t.seq
}

// refuse remembers that heap cnt's placement was refused.
func (t *heapTable) refuse(cnt uint64) {
	t.refused[t.refusedNext] = cnt + 1
	t.refusedNext++
	if t.refusedNext == len(t.refused) {
		t.refusedNext = 0
	}
}

// wasRefused reports whether heap cnt's placement was refused recently.
func (t *heapTable) wasRefused(cnt uint64) bool {
	for _, r := range t.refused {
		if r == cnt+1 {
			return true
		}
	}
	return false
}

// addRange records [a, b) as received; false if it overlaps what has
// arrived (a duplicate) or there is no room to track it. The range must not
// be empty (a < b): an empty range would split the gap it falls in.
func (h *liveHeap) addRange(a, b int64) bool {
	r := h.ranges
	i := 0
	for i < len(r) && r[i][1] <= a {
		if r[i][1] == a && (i+1 == len(r) || r[i+1][0] >= b) {
			// Extends range i; maybe joins range i+1.
			if i+1 < len(r) && r[i+1][0] == b {
				r[i][1] = r[i+1][1]
				h.ranges = append(r[:i+1], r[i+2:]...)
			} else {
				r[i][1] = b
			}
			return true
		}
		i++
	}
	if i < len(r) && r[i][0] < b {
		return false // overlap
	}
	if i < len(r) && r[i][0] == b {
		r[i][0] = a
		return true
	}
	if len(r) == cap(r) {
		return false
	}
	r = append(r, [2]int64{})
	copy(r[i+1:], r[i:])
	r[i] = [2]int64{a, b}
	h.ranges = r
	return true
}
