package main

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/logx"
	"github.com/chunkgroup/chunkgroup/core/recv"
)

// TestEnterCallSchedule: a thread's first call into the library is due to
// pass through the scheduler, the next ones are not until 5 ms have passed
// (clearErr's guard against the runtime's monitor), and the state is the
// thread's own.
func TestEnterCallSchedule(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	enterCall() // whatever this thread did before
	for try := 0; ; try++ {
		time.Sleep(6 * time.Millisecond)
		t0 := time.Now()
		due, again := enterCall(), enterCall()
		if time.Since(t0) >= 4*time.Millisecond && try < 5 {
			continue // descheduled between the calls: the second may be due too
		}
		if !due || again {
			t.Fatalf("6 ms after the last pass: due %v, then at once due %v; want true, false", due, again)
		}
		break
	}
	// Per thread: another thread that last passed 6 ms ago is due right
	// after this one passed (a process-wide clock would say not due).
	ready, goAhead, other := make(chan struct{}), make(chan struct{}), make(chan bool)
	go func() {
		runtime.LockOSThread() // not the test's thread, which is locked too
		defer runtime.UnlockOSThread()
		enterCall()
		ready <- struct{}{}
		<-goAhead
		other <- enterCall()
	}()
	<-ready
	time.Sleep(6 * time.Millisecond)
	if !enterCall() {
		t.Fatal("not due after 6 ms")
	}
	goAhead <- struct{}{}
	if !<-other {
		t.Fatal("the other thread's call was not due: the clock is not per thread")
	}
}

// TestLayout checks that the Go types the C ABI converts pointers to
// (chunk.Chunk, recv.PlaceData and the mirrors of cg_grid, cg_item,
// cg_sender_config) and the shared constants agree with the header.
func TestLayout(t *testing.T) {
	c := cLayout()
	g := goLayout()
	if len(c) != len(g) {
		t.Fatalf("layout tables differ in length: C %d, Go %d", len(c), len(g))
	}
	for i, e := range g {
		if c[i] != e.value {
			t.Errorf("%s: C says %d, Go says %d", e.name, c[i], e.value)
		}
	}
	if recv.PlaceDataSize != unsafe.Sizeof(recv.PlaceData{}) {
		t.Fatal("PlaceDataSize")
	}
	if logx.Error != 3 || logx.Debug != 0 {
		t.Fatal("log levels")
	}
}

// TestHandles checks uniqueness and that freed handles are gone for good.
func TestHandles(t *testing.T) {
	type obj struct{ n int }
	a := newHandle(&obj{1})
	b := newHandle(&obj{2})
	if a == nil || b == nil || a == b {
		t.Fatalf("handles %p %p", a, b)
	}
	if o, ok := handles.get(a).(*obj); !ok || o.n != 1 {
		t.Fatalf("get(a) = %v", handles.get(a))
	}
	if _, ok := removeHandle[*obj](a); !ok {
		t.Fatal("remove failed")
	}
	if _, ok := removeHandle[*obj](a); ok {
		t.Fatal("second remove succeeded")
	}
	if handles.get(a) != nil {
		t.Fatal("freed handle still resolves")
	}
	if _, ok := removeHandle[*int](b); ok {
		t.Fatal("remove with the wrong type succeeded")
	}
	c := newHandle(&obj{3})
	if c == a {
		t.Fatal("handle reused")
	}
	removeHandle[*obj](b)
	removeHandle[*obj](c)
}
