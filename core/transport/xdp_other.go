//go:build !linux

package transport

import (
	"fmt"
	"runtime"

	"github.com/chunkgroup/chunkgroup/core/recv"
)

// XDPReader is the AF_XDP reader; AF_XDP exists only on Linux, so here it
// cannot be created.
type XDPReader struct{}

// NewXDPReader fails: AF_XDP is a Linux interface.
func NewXDPReader(cfg XDPConfig) (*XDPReader, error) {
	return nil, fmt.Errorf("transport: %w: AF_XDP sockets exist only on Linux (this is %s)", ErrXDPUnsupported, runtime.GOOS)
}

// ZeroCopy reports false.
func (r *XDPReader) ZeroCopy() bool { return false }

// NativeXDP reports false.
func (r *XDPReader) NativeXDP() bool { return false }

// Interface returns nothing.
func (r *XDPReader) Interface() (string, int) { return "", 0 }

// Oversize returns 0.
func (r *XDPReader) Oversize() uint64 { return 0 }

// Stats returns zeros.
func (r *XDPReader) Stats() XDPStats { return XDPStats{} }

// Run returns at once.
func (r *XDPReader) Run(recv.Sink) error { return nil }

// Close does nothing.
func (r *XDPReader) Close() error { return nil }
