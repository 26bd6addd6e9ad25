//go:build !amd64

package memcopy

func prefetchPairs(p *byte, n, stride uintptr) {}
