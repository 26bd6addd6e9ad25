package main

import (
	"fmt"
	"os"
	"runtime/trace"
	"strconv"
	"sync"
	"time"
)

// Execution tracing of a C or Python program, for finding out where the
// receive threads wait (docs/tuning.md, "Where the time goes"):
//
//	CHUNKGROUP_TRACE=FILE           write a Go execution trace to FILE
//	CHUNKGROUP_TRACE_SECONDS=S      for S seconds (default 1)
//
// The trace starts when the first reader is added, so the program's own
// setup is not in it; read it with `go tool trace FILE`.
var traceOnce sync.Once

func startTraceOnFirstReader() {
	path := os.Getenv("CHUNKGROUP_TRACE")
	if path == "" {
		return
	}
	traceOnce.Do(func() {
		secs := 1.0
		if v, err := strconv.ParseFloat(os.Getenv("CHUNKGROUP_TRACE_SECONDS"), 64); err == nil && v > 0 {
			secs = v
		}
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "chunkgroup: CHUNKGROUP_TRACE: %v\n", err)
			return
		}
		if err := trace.Start(f); err != nil {
			fmt.Fprintf(os.Stderr, "chunkgroup: CHUNKGROUP_TRACE: %v\n", err)
			f.Close()
			return
		}
		time.AfterFunc(time.Duration(secs*float64(time.Second)), func() {
			trace.Stop()
			f.Close()
		})
	})
}
