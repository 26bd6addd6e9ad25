package memcopy

import (
	"bytes"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Every length and alignment around the block and threshold boundaries
// (every destination offset within a cache line, source offsets on and off
// 8-byte boundaries) copies exactly, and writes nothing outside dst.
func TestCopyExact(t *testing.T) {
	src := make([]byte, 4096)
	for i := range src {
		src[i] = byte(i*7 + 3)
	}
	for _, nt := range []bool{false, true} {
		for dstOff := 0; dstOff < 64; dstOff++ {
			for _, srcOff := range []int{0, 5, 8} {
				for _, n := range []int{0, 1, 15, 63, 64, 65, 255, 256, 257, 263, 264, 272, 1000, 1024, 1088, 1472, 4000} {
					buf := bytes.Repeat([]byte{0xEE}, n+128)
					dst := buf[dstOff : dstOff+n]
					Copy(dst, src[srcOff:srcOff+n], nt)
					Fence()
					if !bytes.Equal(dst, src[srcOff:srcOff+n]) {
						t.Fatalf("nt=%v off=%d/%d n=%d: wrong bytes", nt, dstOff, srcOff, n)
					}
					for i, b := range buf {
						if (i < dstOff || i >= dstOff+n) && b != 0xEE {
							t.Fatalf("nt=%v off=%d/%d n=%d: byte %d outside dst written", nt, dstOff, srcOff, n, i)
						}
					}
				}
			}
		}
	}
}

func TestCopyShorterSource(t *testing.T) {
	dst := make([]byte, 512)
	src := bytes.Repeat([]byte{1}, 300)
	Copy(dst, src, true)
	Fence()
	if !bytes.Equal(dst[:300], src) || dst[300] != 0 {
		t.Fatal("copy of a shorter source")
	}
}

func benchCopy(b *testing.B, block int, nt bool) { benchCopyAt(b, block, nt, 0) }

// benchCopyAt copies into a destination dstOff bytes past a page boundary
// (numpy arrays start 16 bytes past one; a heap offset that is not a
// multiple of 16 puts every copy off a 16-byte boundary).
func benchCopyAt(b *testing.B, block int, nt bool, dstOff int) {
	src := make([]byte, 256<<20)
	dst := make([]byte, 8<<20+64)[dstOff:]
	stride := block + 40 // packets: header, then payload
	b.SetBytes(int64(len(src) / stride * block))
	b.ReportAllocs()
	for b.Loop() {
		d := 0
		for s := 0; s+stride <= len(src); s += stride {
			Copy(dst[d:d+block], src[s+40:], nt)
			if d += block; d+block > 8<<20 {
				d = 0
			}
		}
		Fence()
	}
}

func BenchmarkCopy1KiB(b *testing.B)          { benchCopy(b, 1024, false) }
func BenchmarkCopy1KiBStreaming(b *testing.B) { benchCopy(b, 1024, true) }
func BenchmarkCopy8KiB(b *testing.B)          { benchCopy(b, 8192, false) }
func BenchmarkCopy8KiBStreaming(b *testing.B) { benchCopy(b, 8192, true) }

func BenchmarkCopy1KiBStreamingOff8(b *testing.B)  { benchCopyAt(b, 1024, true, 8) }
func BenchmarkCopy1KiBStreamingOff16(b *testing.B) { benchCopyAt(b, 1024, true, 16) }
func BenchmarkCopy1000Streaming(b *testing.B)      { benchCopy(b, 1000, true) }
func BenchmarkCopy1000(b *testing.B)               { benchCopy(b, 1000, false) }

// PrefetchPairs is a hint: any slice, any stride, the last byte of a buffer
// that ends at a page boundary included, neither faults nor changes a byte.
func TestPrefetchPairsChangesNothing(t *testing.T) {
	b, err := unix.Mmap(-1, 0, 2*os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	page := b[:os.Getpagesize()]
	if err := unix.Mprotect(b[os.Getpagesize():], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	for i := range page {
		page[i] = byte(i * 7)
	}
	for off := range page {
		for _, stride := range []int{1, 63, 64, 1088, 4096, 1 << 20} {
			PrefetchPairs(page[off:], stride)
		}
	}
	PrefetchPairs(nil, 64)
	PrefetchPairs(page, 0)
	for i := range page {
		if page[i] != byte(i*7) {
			t.Fatalf("byte %d changed", i)
		}
	}
}
