package transport

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// pollWaiter is how a socket reader waits for data: its own thread sleeps
// in ppoll(2) on the socket and on an eventfd that Close writes, so a
// datagram's arrival wakes exactly the thread that will receive it.
//
// Why not the Go netpoller (which the readers used before): there, a
// parked reader is woken by whichever thread sits in epoll_wait, which must
// find a processor, and the scheduler wakes a spinning thread besides; on
// loopback UDP, with the sender on the same two cores, that cost 0.30-0.33
// CPU seconds per GB received against 0.20-0.22 with ppoll, and the sender
// (which pays for the wake-ups in its own system calls) ran 20-35% slower
// beside us (docs/tuning.md, "Waiting for packets").
//
// The cost of sleeping in a system call: the thread keeps its Go processor
// (P) until the runtime's monitor takes it back, which takes 20 us to 10 ms.
// A goroutine this thread made runnable just before (a Go consumer woken at
// a chunk boundary, queued on this P) would wait that long, so wait first
// yields the processor (runtime.Gosched) and lets the caller try once more
// before sleeping.
//
// And the limit: when every processor is held by a thread asleep in a
// system call, the monitor takes them all back at every 20 us tick and
// never backs off. Two readers asleep in ppoll on two processors (a Go
// program on 2 CPUs) cost 1.68-1.87 CPU s/GB at 2.5 Gb/s (1.29-1.81 with
// the yield) where the netpoller cost 1.30-1.39. So readers wait this way only while they leave
// one processor free of sleepers (claimThreadWait); the others wait in the
// netpoller, as before.
type pollWaiter struct {
	efd int // eventfd, readable once Close has woken the reader
	fds [2]unix.PollFd
}

// newPollWaiter returns a waiter on fd, which must be non-blocking (the
// reader's receive call must return EAGAIN rather than sleep).
func newPollWaiter(fd int) (*pollWaiter, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("transport: eventfd: %w", err)
	}
	w := &pollWaiter{efd: efd}
	w.fds[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	w.fds[1] = unix.PollFd{Fd: int32(efd), Events: unix.POLLIN}
	return w, nil
}

// wait returns once the socket may be readable, the waiter has been woken,
// or a signal interrupted the sleep; the caller retries its receive and
// checks whether it was closed. try is the receive attempt to make after
// yielding the processor; when it succeeds, wait returns at once (true).
// The error is ppoll's, other than EINTR.
func (w *pollWaiter) wait(try func() bool) (bool, error) {
	runtime.Gosched()
	if try() {
		return true, nil
	}
	if _, err := unix.Poll(w.fds[:], -1); err != nil && err != unix.EINTR {
		return false, fmt.Errorf("transport: ppoll: %w", err)
	}
	return false, nil
}

// wake makes every later (and the current) wait return at once: the
// eventfd is never read, so it stays readable. Safe from any goroutine,
// never blocks.
func (w *pollWaiter) wake() {
	one := [8]byte{1}
	_, _ = unix.Write(w.efd, one[:])
}

// close releases the eventfd; only once no wait can run.
func (w *pollWaiter) close() {
	_ = unix.Close(w.efd)
}

// threadWaiters counts the Runs that wait in ppoll (their thread keeps
// its processor while asleep); threadWaitBudget is how many may (tests
// replace it).
var (
	threadWaiters    atomic.Int32
	threadWaitBudget = func() int { return runtime.GOMAXPROCS(0) - 1 }
)

// claimThreadWait reserves the right to wait in ppoll for one Run, if that
// leaves one processor no sleeping reader holds; release it with
// releaseThreadWait when Run returns. Decided once per Run, when it
// starts: the C ABI sets the processor count before readers start.
func claimThreadWait() bool {
	for {
		n := threadWaiters.Load()
		if int(n) >= threadWaitBudget() {
			return false
		}
		if threadWaiters.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func releaseThreadWait() { threadWaiters.Add(-1) }

// ProcsForReaders is the processor count (GOMAXPROCS) suggested to a Go
// program that runs n socket readers on this machine: one more than the
// CPUs when the readers are at least as many as the CPUs, so that every
// reader may sleep in ppoll and one processor is still free of sleepers
// (claimThreadWait), and the CPU count otherwise (a spare processor then
// only wakes more threads to look for work). Measured with two UDP readers
// on 2 CPUs: 22.8-24.0 Gb/s at 0.27 CPU s/GB with 3 processors, 19.4-22.1
// at 0.32-0.36 with 2, 18.1-21.5 at 0.31-0.34 with 4 (docs/tuning.md).
// The C ABI applies its own policy (capi/procs.go); Go programs call
// ApplyProcsForReaders, or set GOMAXPROCS themselves.
func ProcsForReaders(n int) int {
	cpus := runtime.NumCPU()
	if n >= cpus {
		return cpus + 1
	}
	return cpus
}

// ApplyProcsForReaders sets GOMAXPROCS to ProcsForReaders(n) unless the
// GOMAXPROCS environment variable is set, and returns the count in force.
func ApplyProcsForReaders(n int) int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	p := ProcsForReaders(n)
	runtime.GOMAXPROCS(p)
	return p
}
