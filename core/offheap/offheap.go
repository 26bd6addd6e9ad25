// Package offheap allocates memory outside the Go heap with mmap.
//
// Buffers that are handed to C code through cgo (packet buffers, the place
// data struct, the items array, per-batch statistics, the extra scratch
// area) must not live in the Go heap, or the cgo pointer rules would be
// broken. Allocations here are page-granular: use them for long-lived,
// per-stream or per-reader buffers, never per packet.
package offheap

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Alloc returns n zeroed bytes of anonymous private memory (at least one page).
func Alloc(n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("offheap: negative size %d", n)
	}
	size := n
	if size == 0 {
		size = 1
	}
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("offheap: mmap %d bytes: %w", n, err)
	}
	return b[:n:size], nil
}

// MustAlloc is Alloc that panics on failure (for fixed small allocations at
// construction time, where running out of address space is fatal anyway).
func MustAlloc(n int) []byte {
	b, err := Alloc(n)
	if err != nil {
		panic(err)
	}
	return b
}

// Free releases memory returned by Alloc. It is safe to call with nil.
func Free(b []byte) {
	if cap(b) == 0 {
		return
	}
	_ = unix.Munmap(b[:cap(b)])
}

// Ptr returns the address of the first byte of b (nil for an empty slice).
func Ptr(b []byte) unsafe.Pointer {
	if cap(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}
