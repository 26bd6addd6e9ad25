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
	"os"
	"runtime"

	"github.com/chunkgroup/chunkgroup/core/logx"
	"github.com/chunkgroup/chunkgroup/core/transport"
)

func init() {
	reserveProcessorForCallers()
	// The transports report through their own hook; send it to logx so
	// cg_set_log_callback sees reader diagnostics too. Set here, before
	// any reader exists, because transport.Logf is read unsynchronised.
	transport.Logf = func(level int, format string, args ...any) {
		logx.Logf(logx.Level(level), format, args...)
	}
}

// main is required by -buildmode=c-shared and never runs.
func main() {}

// reserveProcessorForCallers runs Go code on one more processor (P) than
// there are CPUs, unless GOMAXPROCS is set in the environment.
//
// Why: in a C or Python program the consumer is a foreign thread, and every
// call it makes into the library needs a P. With one P per CPU, member
// streams busy on every P leave none, so each call (pop a chunk, give one
// back) waits until a member happens to enter the scheduler, and the
// members then wait for the chunks the consumer is late to return. In an
// execution trace of memory/small, N=2, from Python, the consumer waited
// 42 ms of every 150 ms for a P (docs/tuning.md). A spare P lets a caller
// in at once; the OS shares the CPUs between the threads as usual.
func reserveProcessorForCallers() {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(runtime.NumCPU() + 1)
}
