package main

import (
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chunkgroup/chunkgroup/core/memcopy"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// cmdMemcpy measures what the memory scenario cannot beat: one copy of
// every payload byte. The source is laid out like the packet buffers (one
// block of packet_payload bytes after every SPEAD header, so the same
// alignment), larger than any cache; the destination is a set of chunks of
// the scenario's size, cycled through like the chunks in circulation of
// the memory run. The copy is the engine's (core/memcopy, with streaming
// stores unless --stores plain, as recv.MemcpyNonTemporal, the default).
//
// With T threads (--threads), T goroutines copy at once, each from its own
// part of the source (as each member reads its own packet buffer) into
// the same destination chunks, thread t writing blocks t, t+T, t+2T...
// of each (as heap i of a group goes to member i % T): the machine's own
// ceiling for a group of T members, so that N/N=1 of a group can be read
// against what the memory system gives T copiers.
func cmdMemcpy(args []string) error {
	fs := flag.NewFlagSet("memcpy", flag.ContinueOnError)
	scName := fs.String("scenario", "large,small", "comma-separated scenarios")
	bytes := fs.Int64("bytes", 1<<30, "payload bytes copied per run (by all threads together)")
	srcBytes := fs.Int("src-bytes", 512<<20, "source buffer size (larger than the caches)")
	dstChunks := fs.String("dst-chunks", "1,8", "comma-separated destination chunk counts to measure (8 = the memory run's default chunks in circulation)")
	threads := fs.String("threads", "1", "comma-separated numbers of copying threads to measure")
	stores := fs.String("stores", "streaming", "streaming (the engine's default) or plain")
	repeat := fs.Int("repeat", 3, "runs per configuration; the best is reported as gbytes_per_s")
	if err := fs.Parse(args); err != nil {
		return err
	}
	counts, err := positiveList("--dst-chunks", *dstChunks)
	if err != nil {
		return err
	}
	nthreads, err := positiveList("--threads", *threads)
	if err != nil {
		return err
	}
	if *stores != "streaming" && *stores != "plain" {
		return fmt.Errorf("--stores must be streaming or plain, not %q", *stores)
	}
	streaming := *stores == "streaming"
	src := make([]byte, *srcBytes)
	for i := range src {
		src[i] = byte(i * 7)
	}
	for _, name := range strings.Split(*scName, ",") {
		sc, err := scenario(strings.TrimSpace(name))
		if err != nil {
			return err
		}
		hdr := spead.HeaderSize + 4*spead.PointerSize // header + the four standard pointers
		block := sc.PacketPayload
		stride := block + hdr
		chunkBytes := sc.HeapPayload * sc.HeapsPerChunk
		for _, nd := range counts {
			dst := make([][]byte, nd)
			for i := range dst {
				dst[i] = make([]byte, chunkBytes)
				for off := 0; off < chunkBytes; off += 4096 {
					dst[i][off] = 1
				}
			}
			for _, nt := range nthreads {
				if nt > chunkBytes/block || nt*stride > len(src) || *bytes < int64(nt*block) {
					return fmt.Errorf("%s: %d threads need at least one block slot per chunk, one source block and one block of --bytes each", sc.Name, nt)
				}
				c := copyJob{src: src, dst: dst, block: block, stride: stride, threads: nt,
					blocks: int(*bytes/int64(block)) / nt, streaming: streaming}
				var secs []float64
				for range *repeat {
					runtime.GC()
					secs = append(secs, c.run())
				}
				best := secs[0]
				for _, t := range secs {
					best = min(best, t)
				}
				total := float64(c.blocks*nt) * float64(block)
				var all []float64
				for _, t := range secs {
					all = append(all, round(total/t/1e9, 3))
				}
				emit(map[string]any{
					"kind": "memcpy", "scenario": sc.Name, "block": block, "src_stride": stride,
					"dst_chunk_bytes": chunkBytes, "dst_chunks": nd, "threads": nt, "stores": *stores,
					"src_bytes": len(src), "bytes": int64(total), "gbytes_per_s": round(total/best/1e9, 3),
					"runs_gbytes_per_s": all,
				})
			}
		}
	}
	return nil
}

// copyJob is one timed copy: threads goroutines, blocks blocks each.
type copyJob struct {
	src           []byte
	dst           [][]byte
	block, stride int
	threads       int
	blocks        int
	streaming     bool
}

// run copies and returns the seconds from the start until the last thread
// has finished (its streaming stores fenced).
func (c copyJob) run() float64 {
	nsrc := len(c.src) / c.stride / c.threads // source blocks per thread
	slots := len(c.dst[0]) / c.block          // block slots per chunk
	var wg sync.WaitGroup
	start := time.Now()
	for t := range c.threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, d, k := 0, 0, t
			base := t * nsrc * c.stride
			for range c.blocks {
				so := base + s*c.stride + c.stride - c.block
				memcopy.Copy(c.dst[d][k*c.block:(k+1)*c.block], c.src[so:so+c.block], c.streaming)
				if s++; s == nsrc {
					s = 0
				}
				if k += c.threads; k >= slots {
					k = t
					if d++; d == len(c.dst) {
						d = 0
					}
				}
			}
			memcopy.Fence()
		}()
	}
	wg.Wait()
	return since(start)
}

func positiveList(flagName, v string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad %s entry %q", flagName, f)
		}
		out = append(out, n)
	}
	return out, nil
}
