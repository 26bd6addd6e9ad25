package transport_test

// Fault tests over UDP on loopback (issue 12): a member's sender dies in
// the middle of a heap; the consumer stops consuming. Each asserts exact
// chunk IDs, present flags, bytes and statistics; every wait is bounded.

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/ring"
	"github.com/chunkgroup/chunkgroup/core/transport"
)

const (
	fHeapSize = 4096
	fPacket   = 1024 // 4 packets per heap
	fHPC      = 2    // heaps per chunk: slot 0 from member 0 (even heaps), slot 1 from member 1
)

type faultRig struct {
	g       *recv.Group
	data    *ring.Ring
	free    *ring.Ring
	members []*recv.Stream
	conns   []*net.UDPConn
	all     []*chunk.Chunk
}

// newFaultRig makes a ring group of n members, each with a UDP reader on
// loopback and a connected socket to send to it. Chunks are fresh (zero)
// and there are more than the tests use, so an absent heap reads as zeros.
func newFaultRig(t *testing.T, n int, gcfg recv.GroupConfig, smax, dataCap, nfree int) *faultRig {
	t.Helper()
	data, _ := ring.New(dataCap)
	free, _ := ring.New(nfree)
	g, err := recv.NewRingGroup(gcfg, data, free)
	if err != nil {
		t.Fatal(err)
	}
	r := &faultRig{g: g, data: data, free: free}
	for i := 0; i < nfree; i++ {
		c := chunk.New(make([]byte, fHPC), make([]byte, fHPC*fHeapSize), nil)
		r.all = append(r.all, c)
		if err := g.AddFreeChunk(c); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		scfg := recv.DefaultStreamConfig()
		scfg.StreamID = uintptr(i)
		ccfg := recv.DefaultChunkStreamConfig()
		ccfg.MaxChunks = smax
		ccfg.Items = recv.CounterItems()
		ccfg.Place = recv.CounterGrid(fHPC, fHeapSize)
		s, err := g.EmplaceBack(scfg, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		ucfg := transport.DefaultUDPConfig()
		ucfg.BindHost = "127.0.0.1"
		ucfg.BufferSize = 8 << 20
		rd, err := transport.NewUDPReader(ucfg)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(rd.LocalAddr()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if err := s.AddReader(rd); err != nil {
			t.Fatal(err)
		}
		r.members = append(r.members, s)
		r.conns = append(r.conns, conn)
	}
	t.Cleanup(func() { g.Stop() })
	return r
}

// send sends packets [from, to) of heap cnt to member m.
func (r *faultRig) send(t *testing.T, m int, cnt uint64, from, to int) {
	t.Helper()
	p := hostPayload(cnt)
	for i := from; i < to; i++ {
		if _, err := r.conns[m].Write(heapPacket(cnt, fHeapSize, uint64(i*fPacket), p[i*fPacket:(i+1)*fPacket])); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *faultRig) stat(m int, name string) uint64 { return r.members[m].Stats().Map()[name] }

// waitFor polls cond every millisecond and fails after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// stopWithin stops the group and fails unless Stop returns within d.
func (r *faultRig) stopWithin(t *testing.T, d time.Duration) []*chunk.Chunk {
	t.Helper()
	done := make(chan []*chunk.Chunk, 1)
	start := time.Now()
	go func() { done <- r.g.Stop() }()
	select {
	case kept := <-done:
		t.Logf("Stop returned in %v", time.Since(start))
		return kept
	case <-time.After(d):
		t.Fatalf("Stop did not return within %v", d)
		return nil
	}
}

// consumer copies every chunk from the data ring, returning each to the
// free ring, until told to quit; got() hands the copies over.
type consumer struct {
	mu   chan struct{} // 1-slot lock for cs
	cs   []*chunk.Chunk
	quit chan struct{}
	done chan struct{}
}

func startConsumer(r *faultRig) *consumer {
	c := &consumer{mu: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			select {
			case <-c.quit:
				return
			default:
			}
			ch, err := r.data.PopTimeout(5 * time.Millisecond)
			if err != nil {
				continue
			}
			cp := chunk.New(bytes.Clone(ch.Present()), bytes.Clone(ch.Data()), nil)
			cp.ChunkID = ch.ChunkID
			c.mu <- struct{}{}
			c.cs = append(c.cs, cp)
			<-c.mu
			ch.ClearPresent()
			r.free.TryPush(ch) // stopped: the chunk is accounted by the test's drain
		}
	}()
	return c
}

func (c *consumer) got() []*chunk.Chunk {
	c.mu <- struct{}{}
	defer func() { <-c.mu }()
	return append([]*chunk.Chunk(nil), c.cs...)
}

func (c *consumer) stop(t *testing.T) []*chunk.Chunk {
	close(c.quit)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("consumer did not quit")
	}
	return c.got()
}

// checkFaultChunk asserts one chunk: slot s holds heap 2*id+s exactly when
// full[s]; otherwise it is absent, and holds the first half of that heap
// (2 of its 4 packets) if half[s], or nothing.
func checkFaultChunk(t *testing.T, c *chunk.Chunk, id int64, full, half [fHPC]bool) {
	t.Helper()
	if c.ChunkID != id {
		t.Fatalf("chunk ID %d, want %d", c.ChunkID, id)
	}
	for s := 0; s < fHPC; s++ {
		want := make([]byte, fHeapSize)
		p := hostPayload(uint64(id)*fHPC + uint64(s))
		switch {
		case full[s]:
			copy(want, p)
		case half[s]:
			copy(want, p[:2*fPacket])
		}
		if got := c.Present()[s] == 1; got != full[s] {
			t.Fatalf("chunk %d slot %d: present %v, want %v", id, s, got, full[s])
		}
		if !bytes.Equal(c.Data()[s*fHeapSize:(s+1)*fHeapSize], want) {
			t.Fatalf("chunk %d slot %d: bytes differ", id, s)
		}
	}
}

func wantMemberStats(t *testing.T, r *faultRig, m int, want map[string]uint64) {
	t.Helper()
	st := r.members[m].Stats().Map()
	for _, k := range []string{"packets", "heaps", "incomplete_heaps_evicted", "incomplete_heaps_flushed",
		"too_old_heaps", "rejected_heaps", "malformed_packets", "no_chunk_heaps", "bad_placement_heaps"} {
		if st[k] != want[k] {
			t.Fatalf("member %d: %s = %d, want %d (all: %v)", m, k, st[k], want[k], st)
		}
	}
}

// A member's sender dies mid-heap: member 0 gets chunks 0-3 whole and 2 of
// the 4 packets of heap 8 (chunk 4, slot 0), then nothing ever again;
// member 1 gets all of its heaps for chunks 0-15.
//
// LOSSY (group window 6, member windows 2): member 1 keeps going, and from
// chunk 9 on flushes the idle member 0 at every chunk boundary; chunks 0-9
// arrive while traffic flows, chunk 4 with slot 0 absent (its bytes are
// the half that came, present 0); Stop hands back 10-15. Member 0 counts
// the half heap once, as flushed at Stop (it became late when the window
// left chunk 4).
//
// LOSSLESS: the group stalls with member 1 waiting for member 0 to leave
// chunk 3: chunks 0-2 arrive, member 1 stops at the first packet of heap 19
// (chunk 9), and Stop releases it within a second, handing back 3-8.
func TestUDPMemberSenderDiesMidHeap(t *testing.T) {
	for _, mode := range []recv.EvictionMode{recv.Lossy, recv.Lossless} {
		t.Run(fmt.Sprint("mode", mode), func(t *testing.T) {
			r := newFaultRig(t, 2, recv.GroupConfig{MaxChunks: 6, EvictionMode: mode}, 2, 32, 24)
			for cnt := uint64(0); cnt < 8; cnt += 2 {
				r.send(t, 0, cnt, 0, 4)
			}
			r.send(t, 0, 8, 0, 2) // and the sender dies
			waitFor(t, 5*time.Second, "member 0's 18 packets", func() bool { return r.stat(0, "packets") == 18 })
			cons := startConsumer(r)
			for cnt := uint64(1); cnt < 32; cnt += 2 {
				r.send(t, 1, cnt, 0, 4)
			}
			half := [fHPC]bool{true, false}
			both, one := [fHPC]bool{true, true}, [fHPC]bool{false, true}
			var during, kept []int64 // chunks readied during traffic; handed back by Stop
			if mode == recv.Lossy {
				during = seqIDs(0, 10)
				waitFor(t, 5*time.Second, "member 1's 64 packets", func() bool { return r.stat(1, "packets") == 64 })
				waitFor(t, 5*time.Second, "chunks 0-9", func() bool { return len(cons.got()) == 10 })
				kept = seqIDs(10, 16)
			} else {
				during = seqIDs(0, 3)
				waitFor(t, 5*time.Second, "member 1 to stall at heap 19", func() bool { return r.stat(1, "packets") == 37 })
				waitFor(t, 5*time.Second, "chunks 0-2", func() bool { return len(cons.got()) == 3 })
				time.Sleep(200 * time.Millisecond)
				if p := r.stat(1, "packets"); p != 37 {
					t.Fatalf("member 1 took %d packets while the group is stalled, want 37", p)
				}
				kept = seqIDs(3, 9)
			}
			got := cons.stop(t)
			if len(got) != len(during) {
				t.Fatalf("%d chunks readied during traffic, want %d", len(got), len(during))
			}
			keptChunks := r.stopWithin(t, time.Second)
			byID := map[int64]*chunk.Chunk{}
			for _, c := range keptChunks {
				byID[c.ChunkID] = c
			}
			if len(byID) != len(kept) {
				t.Fatalf("Stop handed back %d chunks, want %v", len(keptChunks), kept)
			}
			check := func(c *chunk.Chunk, id int64) {
				switch {
				case id < 4:
					checkFaultChunk(t, c, id, both, [fHPC]bool{})
				case id == 4:
					checkFaultChunk(t, c, id, one, half)
				default:
					checkFaultChunk(t, c, id, one, [fHPC]bool{})
				}
			}
			for i, c := range got {
				check(c, during[i])
			}
			for _, id := range kept {
				c, ok := byID[id]
				if !ok {
					t.Fatalf("chunk %d not handed back by Stop", id)
				}
				check(c, id)
			}
			wantMemberStats(t, r, 0, map[string]uint64{"packets": 18, "heaps": 5, "incomplete_heaps_flushed": 1})
			if mode == recv.Lossy {
				wantMemberStats(t, r, 1, map[string]uint64{"packets": 64, "heaps": 16})
			}
		})
	}
}

func seqIDs(a, b int64) []int64 {
	var out []int64
	for i := a; i < b; i++ {
		out = append(out, i)
	}
	return out
}

// The consumer stops consuming (one member, windows of 2 chunks, a data
// ring of 2, 4 chunks in circulation, 16 chunks of data sent).
//
// LOSSY: the member keeps receiving: all 128 packets are taken in. Chunks
// 0-3 are filled (0 and 1 in the data ring, 2 and 3 queued: worker_blocked
// 2); the free ring stays empty for longer than FreeRingWait, so the heaps
// of chunks 4-15 (24) are dropped and counted in no_chunk_heaps. When the
// consumer comes back it gets chunks 0-3 exactly.
//
// LOSSLESS: the member blocks pushing chunk 2 onto the full data ring
// (worker_blocked 1) and takes no more packets; Stop releases it within a
// second; the data ring holds 0 and 1 and Stop hands back 2 and 3.
func TestUDPConsumerStops(t *testing.T) {
	for _, mode := range []recv.EvictionMode{recv.Lossy, recv.Lossless} {
		t.Run(fmt.Sprint("mode", mode), func(t *testing.T) {
			gcfg := recv.GroupConfig{MaxChunks: 2, EvictionMode: mode, FreeRingWait: 100 * time.Millisecond}
			r := newFaultRig(t, 1, gcfg, 2, 2, 4)
			for cnt := uint64(0); cnt < 32; cnt++ {
				r.send(t, 0, cnt, 0, 4)
			}
			both := [fHPC]bool{true, true}
			if mode == recv.Lossy {
				waitFor(t, 5*time.Second, "all 128 packets taken in", func() bool { return r.stat(0, "packets") == 128 })
				wantMemberStats(t, r, 0, map[string]uint64{"packets": 128, "heaps": 32, "no_chunk_heaps": 24})
				if wb := r.stat(0, "worker_blocked"); wb != 2 {
					t.Fatalf("worker_blocked %d, want 2", wb)
				}
				cons := startConsumer(r)
				waitFor(t, 5*time.Second, "chunks 0-3", func() bool { return len(cons.got()) == 4 })
				got := cons.stop(t)
				for i, c := range got {
					checkFaultChunk(t, c, int64(i), both, [fHPC]bool{})
				}
				if kept := r.stopWithin(t, time.Second); len(kept) != 0 {
					t.Fatalf("Stop handed back %d chunks, want none (chunks 14 and 15 had no memory)", len(kept))
				}
				return
			}
			// Blocked readying chunk 2 while placing heap 8 (chunk 4): its
			// first packet is the 33rd, and the statistics are published
			// before the member blocks.
			waitFor(t, 5*time.Second, "the member to block", func() bool { return r.stat(0, "worker_blocked") == 1 })
			time.Sleep(200 * time.Millisecond)
			if p, d, f := r.stat(0, "packets"), r.data.Len(), r.free.Len(); p != 33 || d != 2 || f != 0 {
				t.Fatalf("packets %d, data ring %d, free ring %d; want 33, 2, 0 (blocked)", p, d, f)
			}
			kept := r.stopWithin(t, time.Second)
			for i, c := range r.data.Drain() {
				checkFaultChunk(t, c, int64(i), both, [fHPC]bool{})
			}
			if len(kept) != 2 {
				t.Fatalf("Stop handed back %d chunks, want 2 and 3", len(kept))
			}
			for _, c := range kept {
				if c.ChunkID != 2 && c.ChunkID != 3 {
					t.Fatalf("Stop handed back chunk %d", c.ChunkID)
				}
				checkFaultChunk(t, c, c.ChunkID, both, [fHPC]bool{})
			}
		})
	}
}
