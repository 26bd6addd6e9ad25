//go:build !amd64

package memcopy

func prefetch(p *byte) {}
