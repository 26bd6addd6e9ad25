package ring

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Readiness fds.
//
// Each fd is an eventfd (EFD_NONBLOCK|EFD_CLOEXEC|EFD_SEMAPHORE) that only
// the ring reads or writes, always under the ring mutex. Its counter mirrors
// one boolean level: 1 while the condition holds (data: an item is present
// or the ring is stopped; space: a slot is free or the ring is stopped), 0
// otherwise. poll/epoll report an eventfd readable while its counter is
// non-zero, which gives exact level-triggered readiness.
//
// The counters are written after the ring mutex is released (applyFDs,
// under fdMu), from the state read again then; a change under the mutex
// only marks them stale. So a consumer woken by the data fd does not find
// the ring still locked by the pusher's write(2).
//
// Mirroring the level rather than the item count means the ring touches an
// fd only when the level flips (empty <-> non-empty, full <-> not full), so
// a ring that stays partly filled costs no syscalls per push/pop even with
// fds in use. Once stopped, both levels are permanently true, so both fds
// stay readable for good.
//
// The fds are created lazily because most rings (Go consumers) never need
// them.

// eventFD is one readiness fd and the level its counter currently shows.
type eventFD struct {
	fd    int
	level bool
}

type fdState struct {
	data, space eventFD     // fd: r.mu and fdMu to change; level: fdMu
	active      bool        // at least one fd exists (r.mu)
	stale       atomic.Bool // the levels may not match the ring state
	scratch     [8]byte     // read/write buffer (fdMu); in the Ring, so no allocation
}

func (s *fdState) dirty() bool { return s.stale.Load() }

// applyFDs brings the fds' levels in line with the ring state, outside
// r.mu. Whoever holds fdMu applies every change: a caller that finds it
// held returns at once (a popper never waits for a pusher's write(2)), and
// the holder looks at stale again after every Unlock, which it sees set
// (atomics are sequentially consistent: the caller set stale before its
// TryLock failed, so before our Unlock). The state is read after stale is
// cleared, so nothing between is lost.
func (r *Ring) applyFDs() {
	for r.fds.stale.Load() && r.fdMu.TryLock() {
		if r.fds.stale.Swap(false) {
			r.mu.Lock()
			active, data, space := r.fds.active, r.dataReady(), r.spaceReady()
			r.mu.Unlock()
			if active {
				r.fds.set(&r.fds.data, data)
				r.fds.set(&r.fds.space, space)
			}
		}
		r.fdMu.Unlock()
	}
}

func (s *fdState) init() {
	s.data.fd = -1
	s.space.fd = -1
}

// get returns e's fd, creating it on first use; the caller holds r.mu.
func (s *fdState) get(r *Ring, e *eventFD) (int, error) {
	if e.fd >= 0 {
		return e.fd, nil
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC|unix.EFD_SEMAPHORE)
	if err != nil {
		return -1, fmt.Errorf("ring: eventfd: %w", err)
	}
	e.fd = fd
	e.level = false // counter 0; the caller (DataFD, SpaceFD) applies the level
	s.active = true
	s.stale.Store(true)
	return fd, nil
}

// sync marks the fds stale after a state change; the caller holds r.mu
// and releases it with r.unlock, which applies the change. Free when no fd
// exists (the common case).
func (s *fdState) sync(r *Ring) {
	if s.active {
		s.stale.Store(true)
	}
}

func (s *fdState) set(e *eventFD, want bool) {
	if e.fd < 0 || e.level == want {
		return
	}
	if want {
		// Counter 0 -> 1. EAGAIN would mean overflow, impossible at 1.
		binary.NativeEndian.PutUint64(s.scratch[:], 1)
		for {
			_, err := unix.Write(e.fd, s.scratch[:])
			if err != unix.EINTR {
				break
			}
		}
	} else {
		// EFD_SEMAPHORE: a read decrements by one, 1 -> 0. EAGAIN would mean
		// the counter is already 0, which is the wanted state anyway.
		for {
			_, err := unix.Read(e.fd, s.scratch[:])
			if err != unix.EINTR {
				break
			}
		}
	}
	e.level = want
}

// close releases the fds; the caller holds r.mu.
func (s *fdState) close() {
	for _, e := range []*eventFD{&s.data, &s.space} {
		if e.fd >= 0 {
			unix.Close(e.fd)
			e.fd = -1
		}
	}
	s.active = false
}
