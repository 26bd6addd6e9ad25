package ring

import (
	"encoding/binary"
	"fmt"

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
	data, space eventFD
	active      bool    // at least one fd exists
	scratch     [8]byte // read/write buffer; lives in the Ring, so no allocation
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
	e.level = false
	s.active = true
	s.sync(r)
	return fd, nil
}

// sync brings every existing fd's level in line with the ring state; the
// caller holds r.mu. Cheap when no fd exists (the common case).
func (s *fdState) sync(r *Ring) {
	if !s.active {
		return
	}
	s.set(&s.data, r.dataReady())
	s.set(&s.space, r.spaceReady())
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
