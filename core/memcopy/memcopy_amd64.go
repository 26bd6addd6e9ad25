//go:build amd64 && !race

package memcopy

import "unsafe"

const haveStreaming = true

// copyNT copies n bytes (a multiple of 64) with MOVNTDQ stores to a
// 16-byte-aligned dst. Implemented in memcopy_amd64.s.
//
//go:noescape
func copyNT(dst, src *byte, n uintptr)

// fence is SFENCE.
func fence()

// copyStreaming copies len(dst) == len(src) bytes: an ordinary copy up to
// dst's first 16-byte boundary, streaming stores for whole 64-byte blocks,
// an ordinary copy of the tail.
func copyStreaming(dst, src []byte) {
	n := len(dst)
	head := int(-uintptr(unsafe.Pointer(&dst[0])) & 15)
	copy(dst[:head], src[:head])
	body := (n - head) &^ 63
	if body > 0 {
		copyNT(&dst[head], &src[head], uintptr(body))
	}
	copy(dst[head+body:], src[head+body:])
}
