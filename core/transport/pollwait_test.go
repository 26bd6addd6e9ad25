package transport

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newPipeWaiter returns a waiter on the read end of a non-blocking pipe and
// the write end, closed (with the waiter) when the test ends.
func newPipeWaiter(t *testing.T) (*pollWaiter, int, int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	w, err := newPollWaiter(p[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.close()
		unix.Close(p[0])
		unix.Close(p[1])
	})
	return w, p[0], p[1]
}

// waitIn runs w.wait(try) on another goroutine and returns a channel that
// gets its result.
func waitIn(w *pollWaiter, try func() bool) chan bool {
	done := make(chan bool, 1)
	go func() {
		got, err := w.wait(try)
		if err != nil {
			panic(err)
		}
		done <- got
	}()
	return done
}

func never() bool { return false }

// The retry after yielding: when it succeeds, wait returns true without
// sleeping (nothing else would wake it here).
func TestPollWaiterTryFirst(t *testing.T) {
	w, _, _ := newPipeWaiter(t)
	var tries atomic.Int32
	select {
	case got := <-waitIn(w, func() bool { tries.Add(1); return true }):
		if !got || tries.Load() != 1 {
			t.Fatalf("wait = %v after %d tries, want true after 1", got, tries.Load())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait slept although the retry succeeded")
	}
}

// A sleeping wait returns when the descriptor becomes readable, and not
// before.
func TestPollWaiterWakesOnData(t *testing.T) {
	w, _, wr := newPipeWaiter(t)
	done := waitIn(w, never)
	select {
	case <-done:
		t.Fatal("wait returned with nothing to read and no wake")
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := unix.Write(wr, []byte{1}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		if got {
			t.Fatal("wait reported the retry as successful; it failed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return when the pipe became readable")
	}
}

// wake releases a sleeping wait, and every later wait returns at once too
// (Close may run before Run reaches its wait).
func TestPollWaiterWakeIsSticky(t *testing.T) {
	w, _, _ := newPipeWaiter(t)
	done := waitIn(w, never)
	time.Sleep(20 * time.Millisecond)
	w.wake()
	for i := range 3 {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("wait %d did not return after wake", i)
		}
		done = waitIn(w, never)
	}
	w.wake() // again: harmless
}

// A goroutine that the waiting goroutine made runnable just before waiting
// runs before the retry (so before any sleep in ppoll, where the thread
// would keep the only processor until the runtime's monitor took it back):
// wait yields the processor first. The scheduler takes its global queue
// first one time in 61, so the test asks for most rounds, not all; without
// the yield none would pass.
func TestPollWaiterYieldsProcessor(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	w, _, _ := newPipeWaiter(t)
	const rounds = 20
	passed := 0
	for range rounds {
		var ran atomic.Bool
		started := make(chan struct{})
		go func() {
			<-started
			ran.Store(true)
		}()
		time.Sleep(time.Millisecond) // let it park on started
		seen := make(chan bool, 1)
		go func() {
			close(started) // readies the goroutine above on this processor
			_, _ = w.wait(func() bool { seen <- ran.Load(); return true })
		}()
		if <-seen {
			passed++
		}
	}
	if passed < rounds/2 {
		t.Fatalf("the goroutine readied before the wait ran before the retry in %d of %d rounds", passed, rounds)
	}
	t.Logf("%d of %d rounds", passed, rounds)
}

// withThreadWaitBudget sets how many Runs may wait in ppoll for the
// length of the test.
func withThreadWaitBudget(t *testing.T, n int) {
	old := threadWaitBudget
	threadWaitBudget = func() int { return n }
	t.Cleanup(func() { threadWaitBudget = old })
}

func TestClaimThreadWaitBudget(t *testing.T) {
	withThreadWaitBudget(t, 2)
	base := threadWaiters.Load()
	if base != 0 {
		t.Fatalf("%d Runs already hold a ppoll claim", base)
	}
	if !claimThreadWait() || !claimThreadWait() {
		t.Fatal("a claim within the budget was refused")
	}
	if claimThreadWait() {
		t.Fatal("a third claim was granted with a budget of 2")
	}
	releaseThreadWait()
	if !claimThreadWait() {
		t.Fatal("a claim after a release was refused")
	}
	releaseThreadWait()
	releaseThreadWait()
	if n := threadWaiters.Load(); n != 0 {
		t.Fatalf("%d claims left after releasing them all", n)
	}
	// The default leaves one processor free of sleeping readers.
	threadWaitBudget = func() int { return runtime.GOMAXPROCS(0) - 1 }
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	if got := threadWaitBudget(); got != 1 {
		t.Fatalf("budget with 2 processors = %d, want 1", got)
	}
}

// Both ways of waiting deliver every datagram, exactly, and Close wakes
// a Run asleep in either; the reader that found the budget spent waits in
// the netpoller, the others in ppoll.
func TestUDPWaitModes(t *testing.T) {
	withThreadWaitBudget(t, 1)
	want := makePackets(200, 900)
	readers := []*UDPReader{newUDP(t, nil), newUDP(t, nil)}
	sinks := []*fakeSink{newSink(len(want)), newSink(len(want))}
	var waits []func(time.Duration) error
	for i, r := range readers {
		waits = append(waits, startRun(t, r, sinks[i]))
		// One at a time, so that the first surely takes the claim.
		deadline := time.Now().Add(5 * time.Second)
		for threadWaiters.Load() != 1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(20 * time.Millisecond) // both asleep, on an empty socket
	for i, r := range readers {
		// Sent in slices with pauses, so that Run waits between them.
		for j := 0; j < len(want); j += 50 {
			sendUDP(t, r.LocalAddr(), want[j:j+50])
			time.Sleep(2 * time.Millisecond)
		}
		sinks[i].waitReached(t, 5*time.Second)
	}
	for i, r := range readers {
		r.Close()
		if err := waits[i](5 * time.Second); err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
		got, _ := sinks[i].snapshot()
		checkExact(t, got, want)
	}
	if readers[0].rc != nil || readers[1].rc == nil {
		t.Fatalf("netpoller used by reader 0: %v, reader 1: %v; want only reader 1",
			readers[0].rc != nil, readers[1].rc != nil)
	}
	if n := threadWaiters.Load(); n != 0 {
		t.Fatalf("%d ppoll claims left after both Runs returned", n)
	}
}

func TestProcsForReaders(t *testing.T) {
	cpus := runtime.NumCPU()
	for _, c := range []struct{ n, want int }{{1, cpus}, {cpus - 1, cpus}, {cpus, cpus + 1}, {4 * cpus, cpus + 1}} {
		if c.n < 1 {
			continue
		}
		if got := ProcsForReaders(c.n); got != c.want {
			t.Errorf("ProcsForReaders(%d) = %d on %d CPUs, want %d", c.n, got, cpus, c.want)
		}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	t.Setenv("GOMAXPROCS", "")
	if got := ApplyProcsForReaders(cpus); got != cpus+1 || runtime.GOMAXPROCS(0) != cpus+1 {
		t.Fatalf("ApplyProcsForReaders(%d) = %d, GOMAXPROCS %d; want %d", cpus, got, runtime.GOMAXPROCS(0), cpus+1)
	}
	runtime.GOMAXPROCS(3)
	t.Setenv("GOMAXPROCS", "3")
	if got := ApplyProcsForReaders(cpus); got != 3 || runtime.GOMAXPROCS(0) != 3 {
		t.Fatalf("with GOMAXPROCS=3 in the environment: ApplyProcsForReaders = %d, GOMAXPROCS %d; want 3 untouched", got, runtime.GOMAXPROCS(0))
	}
}

// UDPConfig.Netpoller: the reader waits in the netpoller though the
// budget would let it sleep in ppoll, and still gets every datagram.
func TestUDPNetpollerOption(t *testing.T) {
	withThreadWaitBudget(t, 8)
	r := newUDP(t, func(c *UDPConfig) { c.Netpoller = true })
	want := makePackets(120, 700)
	s := newSink(len(want))
	wait := startRun(t, r, s)
	time.Sleep(20 * time.Millisecond) // asleep on an empty socket
	for j := 0; j < len(want); j += 40 {
		sendUDP(t, r.LocalAddr(), want[j:j+40])
		time.Sleep(2 * time.Millisecond)
	}
	s.waitReached(t, 5*time.Second)
	if n := threadWaiters.Load(); n != 0 {
		t.Fatalf("%d ppoll claims held with Netpoller set", n)
	}
	r.Close()
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, _ := s.snapshot()
	checkExact(t, got, want)
	if r.rc == nil {
		t.Fatal("Run did not wait in the netpoller with Netpoller set")
	}
	if r.waiter != nil {
		t.Fatal("a Netpoller reader opened an eventfd it never waits on")
	}
}
