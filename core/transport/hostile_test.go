package transport_test

// Hostile traffic over UDP on loopback (issue 12): attack packets of every
// kind interleaved with legitimate heaps. Every legitimate heap still
// arrives exact, the attack is counted, and memory stays bounded.

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/ring"
	"github.com/chunkgroup/chunkgroup/core/spead"
	"github.com/chunkgroup/chunkgroup/core/transport"
)

const (
	hostHeapSize      = 4096
	hostPacket        = 1024 // 4 packets per heap
	hostHeapsPerChunk = 16
	hostHeaps         = 512 // legitimate heaps: 32 chunks
)

func hostPayload(cnt uint64) []byte {
	b := make([]byte, hostHeapSize)
	for i := range b {
		b[i] = byte(cnt*31 + uint64(i)*7)
	}
	return b
}

// rawPacket builds a SPEAD-64-48 packet with the given immediate items and
// payload, with no checks at all (attacks need malformed ones too).
func rawPacket(nItems int, items [][2]uint64, payload []byte) []byte {
	b := make([]byte, 8+8*len(items)+len(payload))
	b[0], b[1], b[2], b[3] = spead.Magic, spead.Version, 2, 6
	binary.BigEndian.PutUint16(b[6:], uint16(nItems))
	for i, it := range items {
		binary.BigEndian.PutUint64(b[8+8*i:], 1<<63|it[0]<<48|it[1])
	}
	copy(b[8+8*len(items):], payload)
	return b
}

func heapPacket(cnt uint64, heapLen, off uint64, payload []byte) []byte {
	return rawPacket(4, [][2]uint64{{spead.HeapCntID, cnt}, {spead.HeapLengthID, heapLen},
		{spead.PayloadOffsetID, off}, {spead.PayloadLengthID, uint64(len(payload))}}, payload)
}

func rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm: cannot measure memory")
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func TestHostileUDPTraffic(t *testing.T) {
	data, _ := ring.New(64)
	free, _ := ring.New(64)
	scfg := recv.DefaultStreamConfig()
	scfg.MaxHeaps = 4
	ccfg := recv.DefaultChunkStreamConfig()
	ccfg.MaxChunks = 4
	ccfg.Items = recv.CounterItems()
	ccfg.Place = recv.CounterGrid(hostHeapsPerChunk, hostHeapSize)
	ccfg.MaxJumpChunks = 1024
	s, err := recv.NewRingStream(scfg, ccfg, data, free)
	if err != nil {
		t.Fatal(err)
	}
	g := s.Group()
	for i := 0; i < 48; i++ {
		g.AddFreeChunk(chunk.New(make([]byte, hostHeapsPerChunk), make([]byte, hostHeapsPerChunk*hostHeapSize), nil))
	}
	ucfg := transport.DefaultUDPConfig()
	ucfg.BindHost = "127.0.0.1"
	ucfg.BufferSize = 32 << 20
	r, err := transport.NewUDPReader(ucfg)
	if err != nil {
		t.Fatal(err)
	}
	rss0 := rssBytes(t)
	if err := s.AddReader(r); err != nil {
		t.Fatal(err)
	}
	got := make(chan []*chunk.Chunk, 1)
	go func() {
		var cs []*chunk.Chunk
		for {
			c, err := data.Pop()
			if err != nil {
				got <- cs
				return
			}
			// Copy what matters and give the chunk back.
			cp := chunk.New(append([]byte(nil), c.Present()...), append([]byte(nil), c.Data()...), nil)
			cp.ChunkID = c.ChunkID
			cs = append(cs, cp)
			g.AddFreeChunk(c)
		}
	}()

	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(r.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rng := rand.New(rand.NewSource(1))
	counts := map[string]int{}
	sendOne := func(kind string, p []byte) {
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
		counts[kind]++
	}
	attack := func() {
		switch rng.Intn(7) {
		case 0: // random bytes (never the magic)
			b := make([]byte, 1+rng.Intn(1400))
			rng.Read(b)
			b[0] = 0
			sendOne("random", b)
		case 1: // truncated header
			p := heapPacket(1<<30, hostHeapSize, 0, make([]byte, hostPacket))
			sendOne("truncated", p[:1+rng.Intn(30)])
		case 2: // absurd heap length: the largest SPEAD-64-48 can carry
			sendOne("absurd_length", heapPacket(uint64(rng.Intn(hostHeaps)), 1<<48-1, 0, make([]byte, hostPacket)))
		case 3: // more item pointers than the packet holds
			sendOne("too_many_items", rawPacket(200, [][2]uint64{{spead.HeapCntID, 1}, {spead.HeapLengthID, 64}}, make([]byte, 16)))
		case 4, 5: // heaps that never complete (their placement is refused: wrong length)
			c := uint64(1<<20 + rng.Intn(1<<20))
			sendOne("never_completing", heapPacket(c, hostHeapSize+8, 0, make([]byte, hostPacket)))
		case 6: // a stray far-future timestamp now and then
			if rng.Intn(16) == 0 {
				sendOne("far_jump", heapPacket(1<<46+uint64(rng.Intn(1000)), hostHeapSize, 0, make([]byte, hostPacket)))
			}
		}
	}
	for cnt := uint64(0); cnt < hostHeaps; cnt++ {
		pl := hostPayload(cnt)
		for k := uint64(0); k < hostHeapSize/hostPacket; k++ {
			p := heapPacket(cnt, hostHeapSize, k*hostPacket, pl[k*hostPacket:(k+1)*hostPacket])
			// The attack starts once the stream has placed its first heap:
			// the far-jump guard trusts the first heap a stream places.
			for i := 0; i < 16 && cnt > 0; i++ {
				attack()
			}
			sendOne("legit", p)
			if rng.Intn(4) == 0 { // duplicate flood
				for i := 0; i < 8; i++ {
					sendOne("duplicate", p)
				}
			}
		}
		if cnt%4 == 3 {
			time.Sleep(time.Millisecond) // pace: the test is about the stream, not kernel drops
		}
	}
	sendOne("stop", rawPacket(5, [][2]uint64{{spead.HeapCntID, 1 << 40}, {spead.HeapLengthID, 0},
		{spead.PayloadOffsetID, 0}, {spead.PayloadLengthID, 0}, {spead.StreamCtrlID, spead.CtrlStreamStop}}, nil))

	var cs []*chunk.Chunk
	select {
	case cs = <-got:
	case <-time.After(30 * time.Second):
		s.Stop()
		t.Fatalf("the stream did not stop after the stop heap (stats %v)", s.Stats().Map())
	}
	s.Stop()
	st := s.Stats().Map()
	t.Logf("sent %v; stats %v", counts, st)
	complete := 0
	for _, c := range cs {
		if c.ChunkID < 0 || c.ChunkID >= hostHeaps/hostHeapsPerChunk {
			continue
		}
		for slot, p := range c.Present() {
			cnt := uint64(c.ChunkID)*hostHeapsPerChunk + uint64(slot)
			if p != 0 {
				if !bytes.Equal(c.Data()[slot*hostHeapSize:(slot+1)*hostHeapSize], hostPayload(cnt)) {
					t.Fatalf("heap %d present with wrong bytes", cnt)
				}
				complete++
			}
		}
	}
	if complete != hostHeaps {
		t.Fatalf("%d of %d legitimate heaps complete (stats %v)", complete, hostHeaps, st)
	}
	if st["too_old_heaps"] != 0 || st["bad_placement_heaps"] != 0 {
		t.Fatalf("stats %v", st)
	}
	// Every attack is accounted for: malformed packets (random, truncated,
	// too many items), rejected heaps (absurd length, never completing),
	// far jumps; counts are per heap for the placed kinds.
	if st["malformed_packets"] < uint64(counts["random"]+counts["truncated"]+counts["too_many_items"]) ||
		st["rejected_heaps"] < uint64(counts["absurd_length"]) ||
		st["far_jump_heaps"] == 0 {
		t.Fatalf("attack not counted: sent %v, stats %v", counts, st)
	}
	if grow := rssBytes(t) - rss0; grow > 64<<20 {
		t.Fatalf("RSS grew by %d MiB under attack", grow>>20)
	}
}
