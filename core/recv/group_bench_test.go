package recv

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/ring"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// BenchmarkGroupMemory measures a LOSSLESS ring group of N member streams
// fed from memory, each member from its own goroutine (heap i to member
// i % N), with a consumer goroutine returning chunks to the free ring.
// One op is one chunk; SetBytes is its payload, so MB/s is payload
// throughput. LOSSLESS, so every byte counted was really copied (the run
// fails if a heap is missing).
//
// Each member replays a pre-built buffer covering gBenchBufChunks chunks;
// between passes it rewrites the heap counters in place (8 bytes per
// packet) so chunk IDs keep rising.

const (
	gBenchBufChunks = 4
	gBenchBatch     = 64 // packets per AddBatch, as a recvmmsg reader would
	gBenchGroupWin  = 4
	gBenchStreamWin = 2
	gBenchDataCap   = 4
)

type gBenchScenario struct {
	name          string
	heapSize      int
	packetPayload int
	hpc           int // heaps per chunk
}

// gBenchMember is one member's replay buffer.
type gBenchMember struct {
	pkts  [][]byte // views into one contiguous buffer
	local []int    // heap counter of each packet within a pass
}

type gBenchInput struct {
	members  []gBenchMember
	addrBits uint
}

func gBuildBenchInput(b *testing.B, sc gBenchScenario, n int) *gBenchInput {
	enc, err := spead.NewEncoder(spead.EncoderConfig{PacketPayload: sc.packetPayload, RepeatPointers: true})
	if err != nil {
		b.Fatal(err)
	}
	in := &gBenchInput{members: make([]gBenchMember, n)}
	bufs := make([][]byte, n)
	var offs [][][2]int
	offs = make([][][2]int, n)
	payload := make([]byte, sc.heapSize)
	heaps := gBenchBufChunks * sc.hpc
	for cnt := 0; cnt < heaps; cnt++ {
		for i := range payload {
			payload[i] = byte(cnt + i)
		}
		m := cnt % n
		err := enc.Packets(&spead.Heap{Cnt: uint64(cnt), Payload: payload}, func(p []byte) error {
			offs[m] = append(offs[m], [2]int{len(bufs[m]), len(bufs[m]) + len(p)})
			bufs[m] = append(bufs[m], p...)
			in.members[m].local = append(in.members[m].local, cnt)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for m := range in.members {
		for _, o := range offs[m] {
			in.members[m].pkts = append(in.members[m].pkts, bufs[m][o[0]:o[1]:o[1]])
		}
	}
	// The heap counter is the first item pointer (bytes 8..16); check it,
	// since the replay rewrites it there.
	var p spead.Packet
	first := in.members[0].pkts[0]
	if err := spead.Decode(first, &p); err != nil || p.HeapCnt != 0 || binary.BigEndian.Uint64(first[8:16])&(1<<p.AddrBits-1) != 0 {
		b.Fatalf("unexpected packet layout (%v)", err)
	}
	in.addrBits = p.AddrBits
	return in
}

// setBase rewrites member m's heap counters to base + the heap's counter
// within a pass.
func (in *gBenchInput) setBase(m int, base uint64) {
	mask := uint64(1)<<in.addrBits - 1
	mem := &in.members[m]
	for i, pkt := range mem.pkts {
		ptr := binary.BigEndian.Uint64(pkt[8:16])
		binary.BigEndian.PutUint64(pkt[8:16], ptr&^mask|(base+uint64(mem.local[i])))
	}
}

func BenchmarkGroupMemory(b *testing.B) {
	scenarios := []gBenchScenario{
		{"large", 65536, 8192, 64},
		{"small", 1024, 1024, 1024},
	}
	for _, sc := range scenarios {
		for _, n := range []int{1, 2, 4} {
			var in *gBenchInput
			var chunks []*chunk.Chunk
			b.Run(fmt.Sprintf("%s/N=%d", sc.name, n), func(b *testing.B) {
				if in == nil {
					in = gBuildBenchInput(b, sc, n)
					for i := 0; i < gBenchGroupWin+gBenchDataCap+2; i++ {
						chunks = append(chunks, chunk.New(make([]byte, sc.hpc), make([]byte, sc.heapSize*sc.hpc), nil))
					}
				}
				gBenchRun(b, sc, n, in, chunks)
			})
		}
	}
}

func gBenchRun(b *testing.B, sc gBenchScenario, n int, in *gBenchInput, chunks []*chunk.Chunk) {
	data, err := ring.New(gBenchDataCap)
	if err != nil {
		b.Fatal(err)
	}
	free, err := ring.New(len(chunks))
	if err != nil {
		b.Fatal(err)
	}
	g, err := NewRingGroup(GroupConfig{MaxChunks: gBenchGroupWin, EvictionMode: Lossless}, data, free)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range chunks {
		if err := g.AddFreeChunk(c); err != nil {
			b.Fatal(err)
		}
	}
	var members []*Stream
	for m := 0; m < n; m++ {
		ccfg := gChunkConfig(gBenchStreamWin, gridPlace(int64(sc.hpc), int64(sc.heapSize)), []uint64{1, 2})
		s, err := g.EmplaceBack(DefaultStreamConfig(), ccfg)
		if err != nil {
			b.Fatal(err)
		}
		members = append(members, s)
	}
	for m := 0; m < n; m++ {
		in.setBase(m, 0)
	}
	totalHeaps := b.N * sc.hpc
	heapsPerPass := gBenchBufChunks * sc.hpc

	var present int
	countPresent := func(c *chunk.Chunk) {
		for _, p := range c.Present() {
			if p != 0 {
				present++
			}
		}
	}
	b.SetBytes(int64(sc.heapSize * sc.hpc))
	b.ReportAllocs()
	b.ResetTimer()

	consumer := gGo(func() {
		for {
			c, err := data.Pop()
			if err != nil {
				return
			}
			countPresent(c)
			_ = g.AddFreeChunk(c)
		}
	})
	var feeders []<-chan struct{}
	for m, s := range members {
		feeders = append(feeders, gGo(func() {
			mem := &in.members[m]
			for base := 0; base < totalHeaps; base += heapsPerPass {
				if base > 0 {
					in.setBase(m, uint64(base))
				}
				limit := totalHeaps - base // heaps of this pass to send
				for i := 0; i < len(mem.pkts); i += gBenchBatch {
					end := min(i+gBenchBatch, len(mem.pkts))
					for end > i && mem.local[end-1] >= limit {
						end--
					}
					if end == i {
						break
					}
					if !s.AddBatch(mem.pkts[i:end]) {
						return
					}
				}
			}
		}))
	}
	bound := 60 * time.Second
	for m, d := range feeders {
		gWithin(b, bound, fmt.Sprintf("member %d", m), d)
	}
	var kept []*chunk.Chunk
	gWithin(b, bound, "group Stop", gGo(func() { kept = g.Stop() }))
	gWithin(b, bound, "consumer", consumer)
	b.StopTimer()

	for _, c := range kept {
		countPresent(c)
	}
	// The consumer drained the data ring; chunks it handed back after the
	// free ring stopped were silently not taken. After Stop the engine holds
	// none, so every chunk is free for the next run.
	if data.Len() != 0 {
		b.Fatalf("data ring still holds %d chunks", data.Len())
	}
	if present != totalHeaps {
		b.Fatalf("%d heaps present, want %d (LOSSLESS lost data)", present, totalHeaps)
	}
}
