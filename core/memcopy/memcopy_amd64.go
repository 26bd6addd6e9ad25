//go:build amd64 && !race

package memcopy

const haveStreaming = true

// copyNT copies n bytes, any alignment, with non-temporal stores (MOVNTDQ
// for 16-byte-aligned blocks, MOVNTI for 8-byte pieces; single bytes at an
// unaligned start or end are ordinary stores). Implemented in
// memcopy_amd64.s.
//
//go:noescape
func copyNT(dst, src *byte, n uintptr)

// fence is SFENCE.
func fence()

// copyStreaming copies len(dst) == len(src) bytes with streaming stores.
func copyStreaming(dst, src []byte) {
	copyNT(&dst[0], &src[0], uintptr(len(dst)))
}
