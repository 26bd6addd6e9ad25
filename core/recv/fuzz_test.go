package recv

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// FuzzChunkStream drives a chunk stream with packet sequences and
// placements chosen by the fuzzer, and checks after every run:
//
//   - no write outside a chunk: guard bytes around every chunk's data,
//     present and extra buffers are intact;
//   - present only for what arrived whole: every present flag (per heap, or
//     per packet with packet presence) covers bytes equal to what the
//     heap's packets carried;
//   - the statistics add up: every packet fed is counted as a packet or as
//     malformed, and the drop reasons never exceed the heaps.
//
// The input is a configuration byte and then operations (see fuzzOps). The
// place function is adversarial but never places two heaps on the same
// bytes (which would be the user's error, not the stream's): a heap's
// placement is a function of its counter, either the regular slot of an
// injective grid or a deliberately broken one (index or offset out of
// range, extra out of range, rejected) that the stream must refuse.
func FuzzChunkStream(f *testing.F) {
	f.Add([]byte{0x00, 0, 0, 0, 1, 0, 2, 0, 3, 5})
	f.Add([]byte{0x01, 0, 7, 0, 3, 0, 5, 0, 1, 0, 3, 9, 0, 2, 0, 0, 0, 1, 5, 2, 4, 33})
	f.Add([]byte{0x07, 0, 0, 1, 0, 0, 0, 0, 3, 0, 2, 0, 1, 3, 4, 200, 6, 40, 5})
	f.Add([]byte{0x1a, 0, 12, 0, 13, 0, 14, 0, 15, 1, 0, 4, 0, 0, 8, 0, 9, 2, 3, 7, 1, 2})
	f.Add(bytes.Repeat([]byte{0x31, 0, 9, 0, 250, 5, 0, 4}, 12))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		runFuzzStream(t, in[0], in[1:])
	})
}

const (
	fzHeapsPerChunk = 8
	fzHeapSize      = 64
	fzPacket        = 16 // payload bytes per packet: 4 packets per heap
	fzGuard         = 32
	fzGuardByte     = 0xA5
	fzExtra         = 8
)

// fzBases are the chunk IDs the regular grid starts from: chunk IDs jump
// back and forth between them (and near 2^63) as the counters do.
var fzBases = []int64{0, 3, 1 << 40, (1 << 63) - 1 - 64}

// guarded is a chunk whose buffers sit between guard bytes.
type guarded struct {
	c                   *chunk.Chunk
	data, present, extr []byte // with guards
}

func guardedBuf(n int) []byte {
	b := make([]byte, n+2*fzGuard)
	for i := range b {
		b[i] = fzGuardByte
	}
	clear(b[fzGuard : fzGuard+n])
	return b
}

func intactGuards(b []byte) bool {
	for i := 0; i < fzGuard; i++ {
		if b[i] != fzGuardByte || b[len(b)-1-i] != fzGuardByte {
			return false
		}
	}
	return true
}

// fuzzRig is the configuration byte decoded, the adversarial placement,
// and the guarded chunks it allocated.
type fuzzRig struct {
	outOfOrder, presence bool
	maxJump              int64
	maxHeaps             int
	base                 int64
	key                  byte
	slotsPer             int

	mu      sync.Mutex
	chunks  []*guarded
	readied []int64
}

func newFuzzRig(cfgByte byte) *fuzzRig {
	r := &fuzzRig{
		outOfOrder: cfgByte&1 != 0, presence: cfgByte&2 != 0,
		maxHeaps: 1 + int(cfgByte>>3)&3, base: fzBases[int(cfgByte>>5)&3], key: cfgByte >> 7, slotsPer: 1,
	}
	if cfgByte&4 != 0 {
		r.maxJump = 16
	}
	if r.presence {
		r.slotsPer = fzHeapSize / fzPacket
	}
	return r
}

func (r *fuzzRig) allocate(id int64, _ []uint64) *chunk.Chunk {
	g := &guarded{data: guardedBuf(fzHeapsPerChunk * fzHeapSize), present: guardedBuf(fzHeapsPerChunk * r.slotsPer),
		extr: guardedBuf(fzHeapsPerChunk * fzExtra)}
	g.c = chunk.New(g.present[fzGuard:len(g.present)-fzGuard], g.data[fzGuard:len(g.data)-fzGuard],
		g.extr[fzGuard:len(g.extr)-fzGuard])
	r.mu.Lock()
	r.chunks = append(r.chunks, g)
	r.mu.Unlock()
	return g.c
}

func (r *fuzzRig) ready(c *chunk.Chunk, _ []uint64) {
	r.mu.Lock()
	r.readied = append(r.readied, c.ChunkID)
	r.mu.Unlock()
}

// mode says how heap cnt is placed: 0-4 regular, 5 index out of range,
// 6 offset out of range, 7 extra out of range, 8 rejected.
func (r *fuzzRig) mode(cnt int64) int {
	v := (uint64(cnt)*0x9E3779B97F4A7C15 + uint64(r.key)) >> 60
	if v < 11 {
		return int(v % 5)
	}
	return 5 + int(v-11)%4
}

func (r *fuzzRig) place(d *PlaceData) {
	it := d.ItemValues(2)
	cnt, length := it[0], it[1]
	if cnt < 0 || length != fzHeapSize {
		return // rejected: a heap of another length would overlap its neighbours
	}
	chunkIdx, slot := cnt/fzHeapsPerChunk, cnt%fzHeapsPerChunk
	if chunkIdx > (1<<63)-1-r.base {
		return // beyond the last chunk ID
	}
	d.ChunkID = r.base + chunkIdx
	d.HeapIndex = uintptr(slot * int64(r.slotsPer))
	d.HeapOffset = uintptr(slot * fzHeapSize)
	switch r.mode(cnt) {
	case 5:
		d.HeapIndex = uintptr(fzHeapsPerChunk*r.slotsPer) + uintptr(slot)
	case 6:
		d.HeapOffset = uintptr(fzHeapsPerChunk*fzHeapSize) - 8
	case 7:
		d.ExtraOffset, d.ExtraSize = uintptr(fzHeapsPerChunk*fzExtra)-4, 8
	case 8:
		d.ChunkID = -1
	default:
		copy(d.ExtraScratch(fzExtra), []byte{byte(cnt), byte(cnt >> 8), 1, 2, 3, 4, 5, 6})
		d.ExtraOffset, d.ExtraSize = uintptr(slot*fzExtra), fzExtra
	}
}

func (r *fuzzRig) configs() (StreamConfig, ChunkStreamConfig) {
	cfg := DefaultStreamConfig()
	cfg.MaxHeaps = r.maxHeaps
	cfg.AllowOutOfOrder = r.outOfOrder
	ccfg := DefaultChunkStreamConfig()
	ccfg.MaxChunks = 3
	ccfg.Items = []uint64{1, 2}
	ccfg.Place = PlacerFunc(r.place)
	ccfg.MaxHeapExtra = fzExtra
	ccfg.MaxJumpChunks = r.maxJump
	ccfg.Allocate, ccfg.Ready = r.allocate, r.ready
	if r.presence {
		ccfg.PacketPresencePayloadSize = fzPacket
	}
	return cfg, ccfg
}

// check verifies the guard bytes, the present flags against the bytes, and
// that every chunk was readied once, in increasing order of ID.
func (r *fuzzRig) check(t *testing.T) {
	if len(r.readied) != len(r.chunks) {
		t.Fatalf("%d chunks allocated, %d readied", len(r.chunks), len(r.readied))
	}
	for i := 1; i < len(r.readied); i++ {
		if r.readied[i] <= r.readied[i-1] {
			t.Fatalf("readied out of order: %v", r.readied)
		}
	}
	for _, g := range r.chunks {
		if !intactGuards(g.data) || !intactGuards(g.present) || !intactGuards(g.extr) {
			t.Fatalf("chunk %d: write outside its buffers", g.c.ChunkID)
		}
		present, data := g.c.Present(), g.c.Data()
		for i, p := range present {
			if p == 0 {
				continue
			}
			if p != 1 {
				t.Fatalf("chunk %d: present[%d] = %d", g.c.ChunkID, i, p)
			}
			slot := i / r.slotsPer
			cnt := uint64((g.c.ChunkID-r.base)*fzHeapsPerChunk) + uint64(slot)
			lo, hi := slot*fzHeapSize, (slot+1)*fzHeapSize
			if r.presence {
				lo = slot*fzHeapSize + (i%r.slotsPer)*fzPacket
				hi = lo + fzPacket
			}
			want := heapPayload(cnt, fzHeapSize)[lo-slot*fzHeapSize : hi-slot*fzHeapSize]
			if !bytes.Equal(data[lo:hi], want) {
				t.Fatalf("chunk %d: present[%d] set but bytes %d..%d are not heap %d's", g.c.ChunkID, i, lo, hi, cnt)
			}
		}
	}
}

// checkStats: every packet fed is a packet or malformed; drops never exceed
// heaps.
func checkFuzzStats(t *testing.T, st map[string]uint64, fed uint64) {
	if st["packets"] > fed || st["packets"]+st["malformed_packets"] < fed {
		t.Fatalf("fed %d packets; stats %v", fed, st)
	}
	if drops := st["rejected_heaps"] + st["bad_placement_heaps"] + st["too_old_heaps"] + st["far_jump_heaps"]; drops > st["heaps"] {
		t.Fatalf("more drops than heaps: %v", st)
	}
}

// checkLiveCount: the heap table's count of entries in use, which lets
// find skip the scan, is the number of entries in use.
func checkLiveCount(t *testing.T, s *Stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := range s.heaps.entries {
		if s.heaps.entries[i].used {
			n++
		}
	}
	if n != s.heaps.live {
		t.Fatalf("heap table: %d entries in use, live count %d", n, s.heaps.live)
	}
}

func runFuzzStream(t *testing.T, cfgByte byte, ops []byte) {
	r := newFuzzRig(cfgByte)
	cfg, ccfg := r.configs()
	s, err := NewChunkStream(cfg, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	batches, fed := fuzzBatches(t, ops, 1)
	for _, b := range batches[0] {
		s.AddBatch(b)
		checkLiveCount(t, s)
	}
	s.Stop()
	checkLiveCount(t, s)
	r.check(t)
	checkFuzzStats(t, statsOf(s), fed)
}

// FuzzGroup: the same operations spread over 2 or 3 members (heap c to
// member c % N), each member fed by its own goroutine, in LOSSY or LOSSLESS
// mode; besides the stream invariants, every chunk is readied exactly once
// and in order, and Stop returns (bounded, so a deadlock fails loudly).
func FuzzGroup(f *testing.F) {
	f.Add(byte(0), byte(0), []byte{0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 5, 0, 4, 0})
	f.Add(byte(1), byte(5), []byte{0, 9, 1, 0, 10, 2, 5, 0, 11, 3, 0, 12, 0, 4, 33, 9, 2, 6, 4})
	f.Add(byte(2), byte(0x22), bytes.Repeat([]byte{0, 7, 1, 0, 8, 2, 5, 0, 130, 0}, 6))
	f.Fuzz(func(t *testing.T, shape, cfgByte byte, ops []byte) {
		n := 2 + int(shape&1)
		r := newFuzzRig(cfgByte)
		gcfg := GroupConfig{MaxChunks: 4, Allocate: r.allocate, Ready: r.ready}
		if shape&2 != 0 {
			gcfg.EvictionMode = Lossless
		}
		g, err := NewGroup(gcfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg, ccfg := r.configs()
		members := make([]*Stream, n)
		for i := range members {
			if members[i], err = g.EmplaceBack(cfg, ccfg); err != nil {
				t.Fatal(err)
			}
		}
		batches, fed := fuzzBatches(t, ops, n)
		var wg sync.WaitGroup
		for i, m := range members {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, b := range batches[i] {
					m.AddBatch(b)
				}
				m.stopFromInput() // its input ended: it no longer holds the group back
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); g.Stop(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("group did not finish in 20 s: deadlock")
		}
		r.check(t)
		var total uint64
		for _, m := range members {
			st := statsOf(m)
			checkFuzzStats(t, st, st["packets"]+st["malformed_packets"])
			total += st["packets"] + st["malformed_packets"]
		}
		if total < fed {
			t.Fatalf("fed %d packets, the members counted %d", fed, total)
		}
	})
}

// fuzzBatches turns ops into batches of packets for n members (heap c to
// member c % n) and returns them with the number of packets. Each
// operation is a byte and its arguments:
//
//	0 c k  packet k (low 2 bits) of heap c's 4 packets; c's high bit selects
//	       a far counter region (c + 2^20)
//	1      the previous packet again (duplicate)
//	2 c o  a zero-length packet of heap c at offset o % 65
//	3 c k  packet k of heap c with a wrong heap length (80)
//	4 n    n bytes of garbage (never starting with the SPEAD magic), to
//	       member n % members
//	5      end of every member's batch
//	6 n    the previous packet cut to n bytes
func fuzzBatches(t *testing.T, ops []byte, n int) ([][][][]byte, uint64) {
	out := make([][][][]byte, n) // member -> batches -> packets
	cur := make([][][]byte, n)
	var prev []byte
	prevM := 0
	var fed uint64
	next := func() byte {
		if len(ops) == 0 {
			return 0
		}
		b := ops[0]
		ops = ops[1:]
		return b
	}
	counter := func(b byte) uint64 {
		c := uint64(b & 0x7F)
		if b&0x80 != 0 {
			c += 1 << 20
		}
		return c
	}
	flush := func(m int) {
		if len(cur[m]) > 0 {
			out[m] = append(out[m], cur[m])
			cur[m] = nil
		}
	}
	add := func(m int, p []byte) {
		cur[m] = append(cur[m], p)
		prev, prevM = p, m
		fed++
		if len(cur[m]) == 64 {
			flush(m)
		}
	}
	for len(ops) > 0 {
		switch next() % 7 {
		case 0:
			c := counter(next())
			k := int(next() & 3)
			add(int(c%uint64(n)), heapPackets(t, c, fzHeapSize, fzPacket)[k])
		case 1:
			if prev != nil {
				add(prevM, prev)
			}
		case 2:
			c := counter(next())
			add(int(c%uint64(n)), craftPacket(c, fzHeapSize, int64(next()%65), nil))
		case 3:
			c := counter(next())
			k := int64(next() & 3)
			add(int(c%uint64(n)), craftPacket(c, 80, k*fzPacket, heapPayload(c, fzHeapSize)[k*fzPacket:(k+1)*fzPacket]))
		case 4:
			l := int(next() % 40)
			g := make([]byte, l)
			for i := range g {
				g[i] = next()
			}
			if l > 0 && g[0] == 0x53 {
				g[0] = 0
			}
			add(l%n, g)
		case 5:
			for m := range cur {
				flush(m)
			}
		case 6:
			if prev != nil {
				l := int(next()) % (len(prev) + 1)
				add(prevM, prev[:l:l])
			}
		}
	}
	for m := range cur {
		flush(m)
	}
	return out, fed
}

// FuzzAddBuffer: the fuzzer's whole packets stored back to back in one
// buffer (then, with bit 1 of mode, a packet that cannot be cut) and fed
// twice, to two streams with the same configuration: cut by the caller in
// batches of 64 and given to AddBatch (what the memory reader did), and
// handed over whole to AddBuffer, 64 packets at a time, with the place
// function called per heap or through a batch placer (bit 0 of mode).
// Both must ready the same chunks with the same bytes, count the same
// statistics (max_batch aside: AddBatch counts a batch cut short by a stop
// item whole) and stop at the same offset with the same error; the stream
// invariants of FuzzChunkStream hold for both.
func FuzzAddBuffer(f *testing.F) {
	f.Add(byte(0), byte(0), []byte{0, 0, 0, 0, 1, 0, 2, 0, 3, 5})
	f.Add(byte(0x01), byte(1), []byte{0, 7, 0, 3, 0, 5, 0, 1, 0, 3, 9, 0, 2, 0, 0, 0, 1, 5, 2, 4, 33})
	f.Add(byte(0x1a), byte(1), bytes.Repeat([]byte{0, 9, 0, 250, 5, 0, 4, 0, 12, 1}, 20))
	f.Add(byte(0x08), byte(0), bytes.Repeat([]byte{0, 1, 0, 0, 1, 1, 0, 1, 2, 0, 1, 3}, 64)) // 256 packets: 4 batches
	f.Fuzz(func(t *testing.T, cfgByte, mode byte, ops []byte) {
		// Only whole packets are stored: one whose header claims more or
		// fewer bytes than it has would be cut with its neighbour's bytes,
		// a forged packet the checks cannot tell from a wrong write. The
		// buffer may end in a packet that cannot be cut (mode bit 1): both
		// ways stop there with its error.
		batches, _ := fuzzBatches(t, ops, 1)
		var buf []byte
		fed := uint64(0)
		for _, b := range batches[0] {
			for _, p := range b {
				if n, err := spead.Cut(p); err == nil && n == len(p) {
					buf = append(buf, p...)
					fed++
				}
			}
		}
		if mode&2 != 0 {
			buf = append(buf, 0x54, 4, 2, 6, 0, 0, 0, 0) // bad magic
		}
		run := func(viaBuffer bool) (*fuzzRig, map[string]uint64, int, error) {
			r := newFuzzRig(cfgByte)
			cfg, ccfg := r.configs()
			if mode&1 != 0 {
				ccfg.Place = &testBatchPlacer{ccfg.Place}
			}
			s, err := NewChunkStream(cfg, ccfg)
			if err != nil {
				t.Fatal(err)
			}
			off, ferr := feedBuffer(s, buf, viaBuffer)
			s.Stop()
			checkLiveCount(t, s)
			r.check(t)
			st := statsOf(s)
			checkFuzzStats(t, st, fed)
			return r, st, off, ferr
		}
		ra, sa, offA, errA := run(false)
		rb, sb, offB, errB := run(true)
		if offA != offB || !errors.Is(errB, errA) {
			t.Fatalf("AddBatch stopped at %d (%v), AddBuffer at %d (%v)", offA, errA, offB, errB)
		}
		for k, v := range sa {
			if k != "max_batch" && sb[k] != v {
				t.Fatalf("stat %s: %d through AddBatch, %d through AddBuffer (%v / %v)", k, v, sb[k], sa, sb)
			}
		}
		if !slices.Equal(ra.readied, rb.readied) {
			t.Fatalf("readied %v through AddBatch, %v through AddBuffer", ra.readied, rb.readied)
		}
		for i, a := range ra.chunks {
			b := rb.chunks[i]
			if !bytes.Equal(a.data, b.data) || !bytes.Equal(a.present, b.present) || !bytes.Equal(a.extr, b.extr) {
				t.Fatalf("chunk %d differs between AddBatch and AddBuffer", a.c.ChunkID)
			}
		}
	})
}

// feedBuffer feeds s the packets stored back to back in buf, 64 at a time,
// either cut here and given to AddBatch or handed to AddBuffer, until the
// end, a packet that cannot be cut, or the stream stops; it returns where
// it stopped and why.
func feedBuffer(s *Stream, buf []byte, viaBuffer bool) (int, error) {
	off := 0
	for off < len(buf) {
		if viaBuffer {
			used, ok, err := s.AddBuffer(buf[off:], 64)
			off += used
			if !ok || err != nil {
				return off, err
			}
			continue
		}
		var pk [][]byte
		var err error
		for len(pk) < 64 && off < len(buf) {
			var n int
			if n, err = spead.Cut(buf[off:]); err != nil {
				break
			}
			pk = append(pk, buf[off:off+n])
			off += n
		}
		if len(pk) > 0 && !s.AddBatch(pk) {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
	return off, nil
}
