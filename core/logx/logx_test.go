package logx

import (
	"sync/atomic"
	"testing"
	"time"
)

// SetSink returns only once the sink it replaces has no call running, so
// the owner of the old sink may free what it uses.
func TestSetSinkWaitsForCallsInTheOldSink(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	SetSink(func(Level, string) {
		close(entered)
		<-release
		finished.Store(true)
	}, 0)
	defer SetSink(nil, 0)
	go Logf(Error, "slow")
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the sink was never called")
	}
	swapped := make(chan struct{})
	go func() {
		SetSink(func(Level, string) {}, 0)
		close(swapped)
	}()
	select {
	case <-swapped:
		t.Fatal("SetSink returned while the old sink was still running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-swapped:
	case <-time.After(10 * time.Second):
		t.Fatal("SetSink did not return after the old sink finished")
	}
	if !finished.Load() {
		t.Fatal("SetSink returned before the old call finished")
	}
}

// A sink that replaces itself (own = 1) does not wait for its own call,
// and the replaced sink is not called again.
func TestSetSinkFromInsideTheSink(t *testing.T) {
	var oldCalls, newCalls atomic.Int32
	SetSink(func(Level, string) {
		oldCalls.Add(1)
		SetSink(func(Level, string) { newCalls.Add(1) }, 1)
	}, 0)
	defer SetSink(nil, 0)
	done := make(chan struct{})
	go func() {
		Logf(Warning, "first")
		Logf(Warning, "second")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a sink replacing itself deadlocked")
	}
	if oldCalls.Load() != 1 || newCalls.Load() != 1 {
		t.Fatalf("old sink called %d times, new %d; want 1 and 1", oldCalls.Load(), newCalls.Load())
	}
}
