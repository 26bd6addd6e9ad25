package ring

import (
	"sync"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"

	"golang.org/x/sys/unix"
)

// readable polls fd without waiting.
func readable(t *testing.T, fd int) bool {
	t.Helper()
	return pollFor(t, fd, 0)
}

// pollFor waits up to ms milliseconds for fd to become readable. It may run
// on a goroutine other than the test's, so it reports with Errorf.
func pollFor(t *testing.T, fd int, ms int) bool {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Errorf("poll: %v", err)
			return false
		}
		if pfd[0].Revents&^unix.POLLIN != 0 {
			t.Errorf("poll revents %#x", pfd[0].Revents)
			return false
		}
		return n == 1 && pfd[0].Revents&unix.POLLIN != 0
	}
}

func fds(t *testing.T, r *Ring) (data, space int) {
	t.Helper()
	data, err := r.DataFD()
	if err != nil {
		t.Fatalf("DataFD: %v", err)
	}
	space, err = r.SpaceFD()
	if err != nil {
		t.Fatalf("SpaceFD: %v", err)
	}
	if data < 0 || space < 0 || data == space {
		t.Fatalf("fds %d, %d", data, space)
	}
	return data, space
}

func checkFDs(t *testing.T, r *Ring, wantData, wantSpace bool, when string) {
	t.Helper()
	data, space := fds(t, r)
	if got := readable(t, data); got != wantData {
		t.Errorf("%s: data fd readable = %v, want %v", when, got, wantData)
	}
	if got := readable(t, space); got != wantSpace {
		t.Errorf("%s: space fd readable = %v, want %v", when, got, wantSpace)
	}
}

func TestFDLevels(t *testing.T) {
	r := newRing(t, 2)
	cs := chunks(2)
	d1, s1 := fds(t, r)
	checkFDs(t, r, false, true, "empty")
	r.Push(cs[0])
	checkFDs(t, r, true, true, "one item")
	r.Push(cs[1])
	checkFDs(t, r, true, false, "full")
	// Polling does not consume readiness: still readable.
	checkFDs(t, r, true, false, "full, polled again")
	mustPop(t, r, cs[0])
	checkFDs(t, r, true, true, "one item after pop")
	mustPop(t, r, cs[1])
	checkFDs(t, r, false, true, "empty after pops")
	r.TryPush(cs[0])
	r.TryPush(cs[1])
	checkFDs(t, r, true, false, "full via TryPush")
	r.Drain()
	checkFDs(t, r, false, true, "after Drain")
	if d2, s2 := fds(t, r); d2 != d1 || s2 != s1 {
		t.Fatalf("fds changed: %d,%d then %d,%d", d1, s1, d2, s2)
	}
}

func TestFDStop(t *testing.T) {
	// Stopped while full and while empty: both fds readable for good.
	r := newRing(t, 1)
	cs := chunks(1)
	fds(t, r)
	r.Push(cs[0])
	checkFDs(t, r, true, false, "full")
	r.Stop()
	checkFDs(t, r, true, true, "stopped, full")
	mustPop(t, r, cs[0])
	checkFDs(t, r, true, true, "stopped, drained")
	if _, err := r.TryPop(); err != ErrStopped {
		t.Fatalf("TryPop = %v, want ErrStopped", err)
	}
	checkFDs(t, r, true, true, "stopped, after ErrStopped")

	r2 := newRing(t, 1)
	fds(t, r2)
	checkFDs(t, r2, false, true, "empty")
	r2.AddProducer()
	r2.RemoveProducer()
	checkFDs(t, r2, true, true, "stopped by last producer")
}

func TestFDCreatedLate(t *testing.T) {
	// fds created after the ring has state must show that state at once.
	r := newRing(t, 2)
	cs := chunks(2)
	r.Push(cs[0])
	r.Push(cs[1])
	checkFDs(t, r, true, false, "created when full")

	r2 := newRing(t, 2)
	r2.Push(cs[0])
	data, err := r2.DataFD()
	if err != nil {
		t.Fatal(err)
	}
	if !readable(t, data) {
		t.Fatal("data fd created with one item is not readable")
	}
	r2.Push(cs[1]) // space fd does not exist yet
	if _, err := r2.SpaceFD(); err != nil {
		t.Fatal(err)
	}
	checkFDs(t, r2, true, false, "space fd created when full")

	r3 := newRing(t, 2)
	r3.Stop()
	checkFDs(t, r3, true, true, "created after stop")
}

func TestFDWakesPoller(t *testing.T) {
	r := newRing(t, 1)
	cs := chunks(1)
	data, space := fds(t, r)
	var woke bool
	done := async(func() { woke = pollFor(t, data, int(bound/1e6)) })
	assertBlocked(t, done, "poll on data fd of empty ring")
	r.Push(cs[0])
	waitDone(t, done, "poll after Push")
	if !woke {
		t.Fatal("poll on data fd returned without readiness after Push")
	}

	done = async(func() { woke = pollFor(t, space, int(bound/1e6)) })
	assertBlocked(t, done, "poll on space fd of full ring")
	r.Stop()
	waitDone(t, done, "poll after Stop")
	if !woke {
		t.Fatal("poll on space fd returned without readiness after Stop")
	}
}

// TestFDEmptyPopLowersStaleLevel: a data fd left readable by a pusher that
// has not yet lowered it again (here: raised by hand, as by a pusher
// preempted between its write(2) and its check) is lowered by the consumer
// whose TryPop finds the ring empty, so a poll loop sleeps instead of
// spinning. Same for the space fd and a TryPush that finds the ring full.
func TestFDEmptyPopLowersStaleLevel(t *testing.T) {
	r := newRing(t, 1)
	cs := chunks(2)
	data, space := fds(t, r)
	raise := func(e *eventFD, fd int) {
		e.written.Store(true)
		if _, err := unix.Write(fd, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
	}
	raise(&r.fds.data, data)
	checkFDs(t, r, true, true, "raised by hand while empty")
	if _, err := r.TryPop(); err != ErrEmpty {
		t.Fatalf("TryPop = %v, want ErrEmpty", err)
	}
	checkFDs(t, r, false, true, "after TryPop found it empty")
	raise(&r.fds.data, data)
	if _, err := r.PopTimeout(0); err != ErrTimeout {
		t.Fatalf("PopTimeout = %v, want ErrTimeout", err)
	}
	checkFDs(t, r, false, true, "after PopTimeout found it empty")

	r.Push(cs[0])
	raise(&r.fds.space, space)
	checkFDs(t, r, true, true, "raised by hand while full")
	if err := r.TryPush(cs[1]); err != ErrFull {
		t.Fatalf("TryPush = %v, want ErrFull", err)
	}
	checkFDs(t, r, true, false, "after TryPush found it full")
	raise(&r.fds.space, space)
	if err := r.PushTimeout(cs[1], 0); err != ErrTimeout {
		t.Fatalf("PushTimeout = %v, want ErrTimeout", err)
	}
	checkFDs(t, r, true, false, "after PushTimeout found it full")
}

// TestFDLevelsConverge: pushers and poppers race with no lock between
// their fd system calls; whenever they pause, both fds show the ring's
// state exactly. Run with -race.
func TestFDLevelsConverge(t *testing.T) {
	const capacity, workers, rounds, opsPerRound = 3, 4, 200, 50
	r := newRing(t, capacity)
	data, space := fds(t, r)
	cs := chunks(capacity + workers)
	pool := make(chan *chunk.Chunk, len(cs))
	for _, c := range cs {
		pool <- c
	}
	deadline := time.Now().Add(bound)
	for round := 0; round < rounds; round++ {
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < opsPerRound; i++ {
					if (i+w+round)%2 == 0 {
						select {
						case c := <-pool:
							if r.TryPush(c) != nil {
								pool <- c
							}
						default:
						}
					} else if c, err := r.TryPop(); err == nil {
						pool <- c
					}
				}
			}(w)
		}
		wg.Wait()
		n := r.Len()
		if got := readable(t, data); got != (n > 0) {
			t.Fatalf("round %d: %d items, data fd readable = %v", round, n, got)
		}
		if got := readable(t, space); got != (n < capacity) {
			t.Fatalf("round %d: %d items, space fd readable = %v", round, n, got)
		}
		if time.Now().After(deadline) {
			t.Fatalf("rounds took longer than %v", bound)
		}
	}
}
