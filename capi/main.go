// Command capi is the C ABI of chunkgroup: built with
// `go build -buildmode=c-shared` it becomes libchunkgroup.so, which
// implements include/chunkgroup.h.
//
// The package is thin glue. Objects handed to C are opaque handles (see
// handles.go), never Go pointers; C callbacks (place, allocate, ready, log,
// release) are called through the trampolines in shim.h; every pointer
// given to C points outside the Go heap (chunks and buffers are the
// caller's, place data and statistics are mmap'd by core/recv). The
// thread-local last error lives in shim.c.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -std=gnu99 -Wall
#include "shim.h"
*/
import "C"

import (
	"github.com/chunkgroup/chunkgroup/core/logx"
	"github.com/chunkgroup/chunkgroup/core/transport"
)

func init() {
	// The transports report through their own hook; send it to logx so
	// cg_set_log_callback sees reader diagnostics too. Set here, before
	// any reader exists, because transport.Logf is read unsynchronised.
	transport.Logf = func(level int, format string, args ...any) {
		logx.Logf(logx.Level(level), format, args...)
	}
}

// main is required by -buildmode=c-shared and never runs.
func main() {}
