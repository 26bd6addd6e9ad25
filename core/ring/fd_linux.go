package ring

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Readiness fds.
//
// Each fd is an eventfd (EFD_NONBLOCK|EFD_CLOEXEC) that only the ring reads
// or writes. It shows one boolean level: readable while the condition holds
// (data: an item is present or the ring is stopped; space: a slot is free
// or the ring is stopped). Raising the level is write(1), lowering it is
// read(2), which resets the counter to 0 (or finds it 0 already): both
// are idempotent, so it does not matter how often either runs, only which
// ran last.
//
// The system calls run after the ring mutex is released and take no lock
// against each other, so a consumer woken by the data fd never finds the
// ring or an fd lock held by the pusher inside write(2) (which is where a
// pusher is preempted: the write wakes the consumer, and the consumer may
// take the pusher's CPU). Correctness comes from a rule instead: a
// goroutine that sets an fd's level reads the ring state again afterwards
// and sets the level again if the state no longer matches, until it does.
// So the last system call on an fd is always followed by a check that
// found the state it applied; and any change of state after that check is
// a flip whose maker applies it (below). The fd therefore ends at the
// right level once changes stop, and never stays wrong while nobody acts.
//
// A change of level under the mutex (a flip: empty <-> non-empty, full <->
// not full, stop) marks that fd stale; after unlocking, whoever clears the
// mark applies the level (ensure). A ring that stays partly filled costs
// no system call per push or pop. A consumer that finds the ring empty
// while the data fd was written since it last looked lowers it itself
// (TryPop, PopTimeout), so it never spins on "readable, yet empty" while
// the pusher that raised the level waits for a CPU to lower it again:
// measured from Python, 20 such spins per chunk on two busy cores before
// this rule (docs/tuning.md). Pushers finding the ring full do the same
// with the space fd.
//
// The fds are created lazily because most rings (Go consumers) never need
// them. guard keeps an fd from being closed (and its number reused) while
// a system call on it may be in flight: ensure holds it shared, DataFD,
// SpaceFD and Close exclusively.

// eventFD is one readiness fd.
type eventFD struct {
	fd      int         // -1 until created; r.mu and guard (exclusive) to change
	stale   atomic.Bool // the level may not match the ring state
	written atomic.Bool // raised since a consumer (producer) last found the ring empty (full)
}

type fdState struct {
	data, space eventFD
	active      bool         // at least one fd exists (r.mu)
	guard       sync.RWMutex // see above; before r.mu
}

func (s *fdState) dirty() bool { return s.data.stale.Load() || s.space.stale.Load() }

// applyFDs applies every level marked stale; it runs after r.mu is
// released.
func (r *Ring) applyFDs() {
	if r.fds.data.stale.Swap(false) {
		r.ensure(&r.fds.data, r.dataReady)
	}
	if r.fds.space.stale.Swap(false) {
		r.ensure(&r.fds.space, r.spaceReady)
	}
}

// ensure sets e's level to level() (read under r.mu), then checks the
// state again, until the level it applied is the state's.
func (r *Ring) ensure(e *eventFD, level func() bool) {
	var buf [8]byte // on the stack: no allocation
	r.fds.guard.RLock()
	defer r.fds.guard.RUnlock()
	r.mu.Lock()
	fd, want := e.fd, level()
	r.mu.Unlock()
	for fd >= 0 {
		if want {
			// The counter is at most the number of writes: no overflow.
			binary.NativeEndian.PutUint64(buf[:], 1)
			for {
				if _, err := unix.Write(fd, buf[:]); err != unix.EINTR {
					break
				}
			}
			// After the write: a consumer that looks (settleData) between
			// our write and our check must find the mark.
			e.written.Store(true)
		} else {
			// Clear the mark first: a write after our read marks it again
			// (its mark follows its write), and a write before our read is
			// undone by the read. So a consumer's settleData reads the fd
			// only when a write may have come after the last lowering, not
			// once more per chunk.
			e.written.Store(false)
			// EAGAIN: the counter is 0 already, the wanted state.
			for {
				if _, err := unix.Read(fd, buf[:]); err != unix.EINTR {
					break
				}
			}
		}
		r.mu.Lock()
		now := level()
		r.mu.Unlock()
		if now == want {
			return
		}
		want = now
	}
}

// settleData lowers a data fd that may have been raised since the ring was
// last found empty (the caller found it empty and not stopped, with r.mu
// released); settleSpace is the same for a full ring's space fd.
func (r *Ring) settleData() {
	if r.fds.data.written.Swap(false) {
		r.ensure(&r.fds.data, r.dataReady)
	}
}

func (r *Ring) settleSpace() {
	if r.fds.space.written.Swap(false) {
		r.ensure(&r.fds.space, r.spaceReady)
	}
}

func (s *fdState) init() {
	s.data.fd = -1
	s.space.fd = -1
}

// get returns e's fd, creating it on first use; the caller holds guard
// exclusively and r.mu, and calls applyFDs after releasing both.
func (s *fdState) get(r *Ring, e *eventFD) (int, error) {
	if e.fd >= 0 {
		return e.fd, nil
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("ring: eventfd: %w", err)
	}
	e.fd = fd // counter 0: the applyFDs after this sets the level
	s.active = true
	e.stale.Store(true)
	return fd, nil
}

// mark records, under r.mu, which levels an operation flipped; r.unlock
// applies them. Free when no fd exists (the common case).
func (s *fdState) mark(data, space bool) {
	if !s.active {
		return
	}
	if data {
		s.data.stale.Store(true)
	}
	if space {
		s.space.stale.Store(true)
	}
}

// close releases the fds; the caller holds guard exclusively and r.mu.
func (s *fdState) close() {
	for _, e := range []*eventFD{&s.data, &s.space} {
		if e.fd >= 0 {
			unix.Close(e.fd)
			e.fd = -1
		}
	}
	s.active = false
}
