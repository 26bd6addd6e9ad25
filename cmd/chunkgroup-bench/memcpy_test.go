package main

import (
	"bytes"
	"fmt"
	"testing"
)

// TestCopyJobLayout: with T threads, thread t copies its own part of the
// source, in order, into blocks t, t+T, ... of each destination chunk,
// chunk after chunk (the memory run's placement of heap i on member
// i % T), so the ceiling measures the same traffic as the group.
func TestCopyJobLayout(t *testing.T) {
	const block, stride, slots, nd = 256, 320, 8, 2
	for _, threads := range []int{1, 2, 4} {
		for _, streaming := range []bool{false, true} {
			t.Run(fmt.Sprintf("threads=%d/streaming=%v", threads, streaming), func(t *testing.T) {
				perThread := slots * nd / threads // fills every chunk once
				src := make([]byte, stride*perThread*threads)
				for i := range src {
					src[i] = byte(i*7 + i/251)
				}
				dst := [][]byte{make([]byte, slots*block), make([]byte, slots*block)}
				c := copyJob{src: src, dst: dst, block: block, stride: stride, threads: threads,
					blocks: perThread, streaming: streaming}
				if secs := c.run(); secs <= 0 {
					t.Fatalf("run took %v s", secs)
				}
				for th := 0; th < threads; th++ {
					for b := 0; b < perThread; b++ {
						d, k := b/(slots/threads), th+(b%(slots/threads))*threads
						so := (th*perThread+b)*stride + stride - block
						if got, want := dst[d][k*block:(k+1)*block], src[so:so+block]; !bytes.Equal(got, want) {
							t.Fatalf("thread %d block %d: chunk %d slot %d does not hold source bytes %d..%d", th, b, d, k, so, so+block)
						}
					}
				}
			})
		}
	}
}
