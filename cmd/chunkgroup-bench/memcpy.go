package main

import (
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/chunkgroup/chunkgroup/core/spead"
)

// cmdMemcpy measures what the memory scenario cannot beat: one copy of
// every payload byte. The source is laid out like the packet buffers (one
// block of packet_payload bytes after every SPEAD header, so the same
// alignment), larger than any cache; the destination is a set of chunks of
// the scenario's size, written block after block and cycled through like
// the chunks in circulation of the memory run.
func cmdMemcpy(args []string) error {
	fs := flag.NewFlagSet("memcpy", flag.ContinueOnError)
	scName := fs.String("scenario", "large,small", "comma-separated scenarios")
	bytes := fs.Int64("bytes", 1<<30, "payload bytes copied per run")
	srcBytes := fs.Int("src-bytes", 512<<20, "source buffer size (larger than the caches)")
	dstChunks := fs.String("dst-chunks", "1,8", "comma-separated destination chunk counts to measure (8 = the memory run's default chunks in circulation)")
	repeat := fs.Int("repeat", 3, "runs per configuration; the best is reported as gbytes_per_s")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var counts []int
	for _, f := range strings.Split(*dstChunks, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("bad --dst-chunks entry %q", f)
		}
		counts = append(counts, n)
	}
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
		nsrc := len(src) / stride
		chunkBytes := sc.HeapPayload * sc.HeapsPerChunk
		perChunk := chunkBytes / block
		for _, nd := range counts {
			dst := make([][]byte, nd)
			for i := range dst {
				dst[i] = make([]byte, chunkBytes)
				for off := 0; off < chunkBytes; off += 4096 {
					dst[i][off] = 1
				}
			}
			blocks := int(*bytes / int64(block))
			var secs []float64
			for range *repeat {
				runtime.GC()
				start := time.Now()
				s, d, k := 0, 0, 0
				for b := 0; b < blocks; b++ {
					so := s*stride + hdr
					copy(dst[d][k*block:(k+1)*block], src[so:so+block])
					if s++; s == nsrc {
						s = 0
					}
					if k++; k == perChunk {
						k = 0
						if d++; d == nd {
							d = 0
						}
					}
				}
				secs = append(secs, since(start))
			}
			best := secs[0]
			for _, t := range secs {
				best = min(best, t)
			}
			total := float64(blocks) * float64(block)
			var all []float64
			for _, t := range secs {
				all = append(all, round(total/t/1e9, 3))
			}
			emit(map[string]any{
				"kind": "memcpy", "scenario": sc.Name, "block": block, "src_stride": stride,
				"dst_chunk_bytes": chunkBytes, "dst_chunks": nd, "src_bytes": len(src),
				"bytes": int64(total), "gbytes_per_s": round(total/best/1e9, 3), "runs_gbytes_per_s": all,
			})
		}
	}
	return nil
}
