package recv

import (
	"testing"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/memcopy"
	"github.com/chunkgroup/chunkgroup/core/offheap"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// benchScenario is one memory scenario of performance.md.
type benchScenario struct {
	name          string
	heapSize      int // heap payload bytes
	packetPayload int // payload bytes per packet
	heapsPerChunk int
}

var benchScenarios = []benchScenario{
	{name: "large", heapSize: 65536, packetPayload: 8192, heapsPerChunk: 64},  // 4 MiB chunks
	{name: "small", heapSize: 1024, packetPayload: 1024, heapsPerChunk: 1024}, // 1 MiB chunks
}

const (
	benchPayload   = 64 << 20 // payload bytes per pass over the packet buffer
	benchBatch     = 64       // packets per AddBatch, like a recvmmsg batch
	benchPoolSlack = 2        // chunks in the pool beyond max_chunks
)

// benchPackets encodes benchPayload bytes of heaps 0, 1, ... back to back
// (SPEAD-64-48, pointers repeated) into an off-heap buffer, as the in-memory
// reader would hold them, and returns the buffer, its packets and the
// number of heaps. This runs once, outside the clock.
func benchPackets(b *testing.B, sc benchScenario) (buf []byte, pkts [][]byte, nHeaps int) {
	b.Helper()
	enc, err := spead.NewEncoder(spead.EncoderConfig{AddrBits: 48, PacketPayload: sc.packetPayload, RepeatPointers: true})
	if err != nil {
		b.Fatal(err)
	}
	nHeaps = benchPayload / sc.heapSize
	payload := make([]byte, sc.heapSize)
	for i := range payload {
		payload[i] = byte(i*7 + 1)
	}
	var tmp []byte
	for cnt := 0; cnt < nHeaps; cnt++ {
		payload[0] = byte(cnt)
		if tmp, err = enc.AppendHeap(tmp, &spead.Heap{Cnt: uint64(cnt), Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	if buf, err = offheap.Alloc(len(tmp)); err != nil {
		b.Fatal(err)
	}
	copy(buf, tmp)
	for off := 0; off < len(buf); {
		n, err := spead.Length(buf[off:])
		if err != nil {
			b.Fatal(err)
		}
		pkts = append(pkts, buf[off:off+n])
		off += n
	}
	return buf, pkts, nHeaps
}

// gridBatch is the grid placement as a BatchPlacer.
type gridBatch struct{ *GridPlacer }

func (g gridBatch) PlaceBatch(first *PlaceData, n int) {
	pds := unsafe.Slice(first, n)
	for i := range pds {
		g.Place(&pds[i])
	}
}

// chunkPool is a recycling allocator: a fixed set of off-heap chunks that
// allocate pops and ready pushes back, so steady state allocates nothing.
type chunkPool struct {
	free    []*chunk.Chunk
	mem     [][]byte
	misses  int // allocate found the pool empty (would skip heaps)
	readied int
	present int // presence flags set in readied chunks
}

func newChunkPool(b *testing.B, n, presentSize, dataSize int) *chunkPool {
	b.Helper()
	p := &chunkPool{free: make([]*chunk.Chunk, 0, n)}
	for i := 0; i < n; i++ {
		present, err := offheap.Alloc(presentSize)
		if err != nil {
			b.Fatal(err)
		}
		data, err := offheap.Alloc(dataSize)
		if err != nil {
			b.Fatal(err)
		}
		p.mem = append(p.mem, present, data)
		p.free = append(p.free, chunk.New(present, data, nil))
	}
	return p
}

func (p *chunkPool) allocate(_ int64, _ []uint64) *chunk.Chunk {
	if len(p.free) == 0 {
		p.misses++
		return nil
	}
	c := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	c.ClearPresent()
	return c
}

func (p *chunkPool) ready(c *chunk.Chunk, _ []uint64) {
	p.readied++
	for _, f := range c.Present() {
		p.present += int(f)
	}
	p.free = append(p.free, c)
}

func (p *chunkPool) release() {
	for _, m := range p.mem {
		offheap.Free(m)
	}
}

// BenchmarkChunkStreamMemory is the memory scenario of performance.md for
// one stream driven directly through AddBatch (no reader goroutine): each
// op pushes 64 MiB of payload, in batches of 64 packets, through a chunk
// stream with the grid placement into recycled chunks. B/s counts payload
// bytes; it must show 0 allocs/op.
//
// Every op replays the same packets. So that chunk IDs keep rising (as
// heap counters would), the grid's time origin moves back by one buffer's
// worth of heaps per op: chunk_id = (heap_cnt + op*nHeaps) / heaps_per_chunk.
//
// The "-batch" cases place through a BatchPlacer (the grid, called once per
// slice of packets for the heaps they start), the path a C place function
// takes (capi's cPlacer): what that path costs beyond placing inline,
// without the cgo call. The "-buffer" cases hand the stream the packets as
// one buffer (AddBuffer, the memory reader's path) instead of batches.
func BenchmarkChunkStreamMemory(b *testing.B) {
	for _, sc := range benchScenarios {
		buf, pkts, nHeaps := benchPackets(b, sc)
		last := pkts[len(pkts)-1]
		packed := buf[:len(buf)-cap(last)+len(last)] // the packets, back to back
		for _, v := range []struct{ batch, buffer bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
			batch := v.batch
			name := sc.name
			if v.buffer {
				name += "-buffer"
			}
			if batch {
				name += "-batch"
			}
			b.Run(name, func(b *testing.B) {
				chunkSize := sc.heapSize * sc.heapsPerChunk
				pool := newChunkPool(b, DefaultMaxChunks+benchPoolSlack, sc.heapsPerChunk, chunkSize)
				defer pool.release()
				grid := &GridPlacer{
					Time:           GridDim{Item: 0, Step: 1, Count: int64(sc.heapsPerChunk), Stride: 1},
					HeapSize:       int64(sc.heapSize),
					HeapLengthItem: 1,
					NumItems:       2,
				}
				ccfg := DefaultChunkStreamConfig()
				ccfg.Items = []uint64{spead.HeapCntID, spead.HeapLengthID}
				ccfg.Place = grid
				if batch {
					ccfg.Place = gridBatch{grid}
				}
				ccfg.Allocate = pool.allocate
				ccfg.Ready = pool.ready
				s, err := NewChunkStream(DefaultStreamConfig(), ccfg)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(nHeaps * sc.heapSize))
				b.ReportAllocs()
				b.ResetTimer()
				for op := 0; op < b.N; op++ {
					grid.Time.Origin = -int64(op) * int64(nHeaps)
					for off := 0; v.buffer && off < len(packed); {
						used, ok, err := s.AddBuffer(packed[off:], benchBatch)
						if !ok || err != nil {
							b.Fatal("AddBuffer: ", ok, err)
						}
						off += used
					}
					for i := 0; !v.buffer && i < len(pkts); i += benchBatch {
						// As the memory reader does: the next batch's first
						// lines load while this one is processed.
						if next := i + benchBatch; next < len(pkts) {
							off := len(buf) - cap(pkts[next]) // cap runs to the buffer's end
							memcopy.PrefetchPairs(buf[off:min(len(buf), off+benchBatch*len(pkts[next]))], len(pkts[next]))
						}
						if !s.AddBatch(pkts[i:min(i+benchBatch, len(pkts))]) {
							b.Fatal("stream stopped")
						}
					}
				}
				b.StopTimer()
				sec := b.Elapsed().Seconds()
				b.ReportMetric(float64(len(pkts))*float64(b.N)/sec, "packets/s")
				b.ReportMetric(float64(nHeaps*sc.heapSize)*float64(b.N)/sec/1e9, "GB/s")
				s.Stop()
				// The figures only count if every heap landed: all complete,
				// all marked present, nothing dropped.
				st := s.Stats()
				want := map[string]uint64{
					"packets": uint64(len(pkts) * b.N), "heaps": uint64(nHeaps * b.N),
					"incomplete_heaps_evicted": 0, "incomplete_heaps_flushed": 0, "too_old_heaps": 0,
					"rejected_heaps": 0, "bad_placement_heaps": 0, "malformed_packets": 0,
				}
				for k, v := range want {
					if got, _ := st.Get(k); got != v {
						b.Fatalf("stat %s = %d, want %d", k, got, v)
					}
				}
				if pool.misses != 0 || pool.present != nHeaps*b.N || pool.readied != nHeaps*b.N/sc.heapsPerChunk {
					b.Fatalf("pool: %d misses, %d chunks readied, %d heaps present (want %d)", pool.misses, pool.readied, pool.present, nHeaps*b.N)
				}
			})
		}
		offheap.Free(buf)
	}
}

// BenchmarkMemcpy is the machine's limit for the memory scenario: copy the
// same 64 MiB in the same block sizes (one packet payload each) from a
// source as large as the packet buffer into a chunk-sized destination.
func BenchmarkMemcpy(b *testing.B) {
	for _, sc := range benchScenarios {
		b.Run(sc.name, func(b *testing.B) {
			src, err := offheap.Alloc(benchPayload)
			if err != nil {
				b.Fatal(err)
			}
			defer offheap.Free(src)
			dst, err := offheap.Alloc(sc.heapSize * sc.heapsPerChunk)
			if err != nil {
				b.Fatal(err)
			}
			defer offheap.Free(dst)
			for i := range src {
				src[i] = byte(i)
			}
			block, mask := sc.packetPayload, len(dst)-1 // len(dst) is a power of two
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			b.ResetTimer()
			for op := 0; op < b.N; op++ {
				for off := 0; off < len(src); off += block {
					d := off & mask
					copy(dst[d:d+block], src[off:off+block])
				}
			}
			b.StopTimer()
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(benchPayload/block)*float64(b.N)/sec, "blocks/s")
			b.ReportMetric(float64(benchPayload)*float64(b.N)/sec/1e9, "GB/s")
		})
	}
}
