package main

import "testing"

func TestCallerProcs(t *testing.T) {
	for _, c := range []struct{ ncpu, streams, want int }{
		{2, 0, 4}, {2, 1, 4}, {2, 2, 4}, {2, 3, 3}, {2, 4, 3},
		{8, 8, 10}, {8, 9, 9},
	} {
		if got := callerProcs(c.ncpu, c.streams); got != c.want {
			t.Errorf("callerProcs(%d CPUs, %d streams) = %d, want %d", c.ncpu, c.streams, got, c.want)
		}
	}
}

// TestProcPolicy follows the count through streams made and freed: it
// changes only when the count crosses the CPU count, and never when
// GOMAXPROCS came from the environment.
func TestProcPolicy(t *testing.T) {
	cur, calls := 1, 0
	set := func(n int) int {
		old := cur
		if n > 0 {
			cur = n
			calls++
		}
		return old
	}
	p := newProcPolicy(false, set)
	want := func(procs, sets int) {
		t.Helper()
		if cur != procs || calls != sets {
			t.Fatalf("streams %d: GOMAXPROCS %d after %d changes, want %d after %d", p.streams, cur, calls, procs, sets)
		}
	}
	want(numCPU+2, 1)
	for i := 0; i < numCPU; i++ {
		p.streamsChanged(1)
	}
	want(numCPU+2, 1)
	p.streamsChanged(1)
	want(numCPU+1, 2)
	p.streamsChanged(1)
	want(numCPU+1, 2)
	p.streamsChanged(-2)
	want(numCPU+2, 3)

	cur, calls = 7, 0
	fixed := newProcPolicy(true, set)
	fixed.streamsChanged(numCPU + 5)
	if cur != 7 || calls != 0 {
		t.Fatalf("GOMAXPROCS from the environment was changed to %d (%d calls)", cur, calls)
	}
}
