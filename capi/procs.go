package main

import (
	"os"
	"runtime"
	"sync"
)

// Go processors (GOMAXPROCS) for a library whose callers are foreign
// threads: CPUs plus two while no more streams exist than CPUs, CPUs plus
// one otherwise, unless GOMAXPROCS is set in the environment (then never
// changed). docs/tuning.md ("C and Python consumers", fourth round) has
// the measurements.
//
// Why more processors than CPUs: every call a C or Python thread makes
// into the library needs a processor. With one per CPU, busy members leave
// none and the caller waits until a member enters the scheduler (42 ms of
// every 150 ms in a trace of a Python-driven group), so one processor is
// reserved for callers.
//
// Why a second one while members fit on the CPUs: a call returns to C with
// its processor still attached to the calling thread, in the system-call
// state. The runtime's monitor takes such a processor back after one of
// its ticks unless another processor is idle, and each retake resets the
// monitor's sleep to 20 us. With every processor busy (the members' and
// the caller's), a consumer that makes two calls per chunk causes a retake
// per chunk, and the monitor wakes thousands of times a second on the
// CPUs the members need (the monitor's other reason to take a caller's
// processor, 10 ms without passing through the scheduler, clearErr in
// errors.go removes). One idle processor stops that: Python-driven
// memory/small N=2 7.5 -> 8.6 GB/s, large N=2 17.1 -> 19.0 GB/s (means
// of interleaved runs). With more streams than CPUs the members yield
// while they wait, and an idle processor then costs a thread wake-up per
// yield: small N=4 on 2 CPUs lost 16% with the extra processor (C
// consumer), so it is given back.
type procPolicy struct {
	mu      sync.Mutex
	fixed   bool // GOMAXPROCS came from the environment
	streams int  // live streams made through the C ABI
	set     func(int) int
}

var procs = newProcPolicy(os.Getenv("GOMAXPROCS") != "", runtime.GOMAXPROCS)

func newProcPolicy(fixed bool, set func(int) int) *procPolicy {
	p := &procPolicy{fixed: fixed, set: set}
	p.apply()
	return p
}

// callerProcs is the processor count for ncpu CPUs and streams streams.
func callerProcs(ncpu, streams int) int {
	if streams <= ncpu {
		return ncpu + 2
	}
	return ncpu + 1
}

// streamsChanged records streams made (delta > 0) or freed (delta < 0).
// Changing GOMAXPROCS stops the world for a moment, so it happens only
// when the count crosses the CPU count.
func (p *procPolicy) streamsChanged(delta int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.streams += delta
	p.apply()
}

// apply sets the count the policy wants if it differs; p.mu held (or
// during construction).
func (p *procPolicy) apply() {
	if p.fixed {
		return
	}
	if want := callerProcs(numCPU, p.streams); p.set(0) != want {
		p.set(want)
	}
}

var numCPU = runtime.NumCPU()
