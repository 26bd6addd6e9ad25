package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// startProfiles starts what the environment asks for, as evidence of where
// a run spends its time (docs/tuning.md, "Where the time goes"):
//
//	CHUNKGROUP_TRACE=FILE        execution trace (go tool trace FILE)
//	CHUNKGROUP_MUTEXPROFILE=FILE contended mutexes (go tool pprof FILE)
//	CHUNKGROUP_BLOCKPROFILE=FILE where goroutines block (go tool pprof FILE)
//
// The returned function stops them and writes the files.
func startProfiles() func() {
	var stops []func()
	if path := os.Getenv("CHUNKGROUP_TRACE"); path != "" {
		if f, err := os.Create(path); err == nil && trace.Start(f) == nil {
			stops = append(stops, func() { trace.Stop(); f.Close() })
		} else {
			fmt.Fprintf(os.Stderr, "chunkgroup-bench: cannot trace to %s\n", path)
		}
	}
	for _, p := range []struct{ env, name string }{
		{"CHUNKGROUP_MUTEXPROFILE", "mutex"},
		{"CHUNKGROUP_BLOCKPROFILE", "block"},
	} {
		path := os.Getenv(p.env)
		if path == "" {
			continue
		}
		if p.name == "mutex" {
			runtime.SetMutexProfileFraction(1)
		} else {
			runtime.SetBlockProfileRate(1)
		}
		name := p.name
		stops = append(stops, func() {
			if f, err := os.Create(path); err == nil {
				pprof.Lookup(name).WriteTo(f, 0)
				f.Close()
			}
		})
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}
