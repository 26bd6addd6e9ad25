//go:build amd64

package memcopy

// prefetch is PREFETCHT0 of p's cache line. Implemented in prefetch_amd64.s.
//
//go:noescape
func prefetch(p *byte)
