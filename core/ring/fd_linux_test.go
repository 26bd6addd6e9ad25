package ring

import (
	"testing"

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
