// Package ring provides the chunk ringbuffer: a bounded, blocking FIFO of
// *chunk.Chunk used as the data ring and the free ring of chunk stream groups
// (behaviour.md section 5) and exported through cg_ring_* (c-abi.md).
//
// Design:
//
//   - One mutex guards a fixed circular buffer allocated in New, so Push and
//     Pop allocate nothing in steady state.
//   - Two sync.Conds (notEmpty, notFull) share that mutex. A blocked caller
//     parks in Cond.Wait, which holds no lock while parked, so a blocked
//     Push/Pop never blocks Stop, Len or the opposite operation.
//   - Each successful push signals one waiting popper and each pop one waiting
//     pusher. A woken waiter always takes an available item/slot before it
//     looks at its deadline, so a signal is never swallowed by a waiter that
//     is about to time out.
//   - Stop broadcasts both Conds, so every waiter wakes and sees the stopped
//     flag.
//   - Timeouts (PushTimeout, PopTimeout) arm one time.AfterFunc per call that
//     blocks; it marks that call expired and broadcasts the Cond under the
//     mutex (so the wakeup cannot be lost between the waiter's check and its
//     Wait). The timer is stopped when the call returns, so a call leaves no
//     goroutine and no live timer behind; a timer that fired late only causes
//     a harmless spurious wakeup. Calls that do not need to wait arm nothing.
//   - Readiness fds for event loops (DataFD, SpaceFD) are eventfds created on
//     first request and kept in sync under the mutex (see fd_linux.go).
package ring

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
)

// Sentinel errors; compare with errors.Is.
var (
	// ErrStopped: the ring has been stopped (push), or stopped and drained (pop).
	ErrStopped = errors.New("ring: stopped")
	// ErrEmpty: TryPop found no item and the ring is not stopped.
	ErrEmpty = errors.New("ring: empty")
	// ErrFull: TryPush found no free slot.
	ErrFull = errors.New("ring: full")
	// ErrTimeout: PushTimeout/PopTimeout gave up after the duration.
	ErrTimeout = errors.New("ring: timeout")
	// ErrNilChunk: a nil chunk was pushed; it would be indistinguishable
	// from "no chunk" on the consumer side.
	ErrNilChunk = errors.New("ring: nil chunk")
	// ErrClosed: DataFD/SpaceFD were called after Close.
	ErrClosed = errors.New("ring: closed")
)

// MaxCapacity bounds New's capacity so that a bad value from C or Python
// yields an error instead of an out-of-memory abort.
const MaxCapacity = 1 << 24

// Ring is a bounded blocking FIFO of chunks. All methods are safe for
// concurrent use.
type Ring struct {
	mu       sync.Mutex
	notEmpty sync.Cond // poppers wait here
	notFull  sync.Cond // pushers wait here
	buf      []*chunk.Chunk
	head     int // index of the oldest item
	n        int // number of items
	stopped  bool
	closed   bool
	// producers counts AddProducer calls not yet matched by RemoveProducer.
	producers int
	fds       fdState
}

// unlock releases mu and brings the readiness fds up to date if a change
// under mu needs it (never with mu held: a consumer woken by the data fd
// must not find the ring locked by the pusher still inside write(2)).
func (r *Ring) unlock() {
	r.mu.Unlock()
	if r.fds.dirty() {
		r.applyFDs()
	}
}

// New returns an empty ring holding at most capacity chunks.
func New(capacity int) (*Ring, error) {
	if capacity < 1 || capacity > MaxCapacity {
		return nil, fmt.Errorf("ring: capacity %d out of range [1, %d]", capacity, MaxCapacity)
	}
	r := &Ring{buf: make([]*chunk.Chunk, capacity)}
	r.notEmpty.L = &r.mu
	r.notFull.L = &r.mu
	r.fds.init()
	return r, nil
}

// pushLocked appends c; the caller holds mu and has checked for space.
func (r *Ring) pushLocked(c *chunk.Chunk) {
	i := r.head + r.n
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	r.buf[i] = c
	r.n++
	r.fds.mark(r.n == 1, r.n == len(r.buf)) // flips, unless stopped (then no matter)
	r.notEmpty.Signal()
}

// popLocked removes the oldest item; the caller holds mu and has checked
// that there is one.
func (r *Ring) popLocked() *chunk.Chunk {
	c := r.buf[r.head]
	r.buf[r.head] = nil // do not keep a popped chunk reachable
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.n--
	r.fds.mark(r.n == 0, r.n == len(r.buf)-1)
	r.notFull.Signal()
	return c
}

// Push appends c, blocking while the ring is full. It returns ErrStopped if
// the ring is stopped, including when it is stopped while Push waits.
func (r *Ring) Push(c *chunk.Chunk) error {
	if c == nil {
		return ErrNilChunk
	}
	r.mu.Lock()
	for !r.stopped && r.n == len(r.buf) {
		r.notFull.Wait()
	}
	if r.stopped {
		r.unlock()
		return ErrStopped
	}
	r.pushLocked(c)
	r.unlock()
	return nil
}

// TryPush appends c without blocking: ErrStopped if stopped, ErrFull if full.
func (r *Ring) TryPush(c *chunk.Chunk) error {
	if c == nil {
		return ErrNilChunk
	}
	r.mu.Lock()
	var err error
	switch {
	case r.stopped:
		err = ErrStopped
	case r.n == len(r.buf):
		err = ErrFull
	default:
		r.pushLocked(c)
	}
	r.unlock()
	if err == ErrFull {
		r.settleSpace() // no "writable, yet full" spin (fd_linux.go)
	}
	return err
}

// PushTimeout is Push that gives up with ErrTimeout after d. With d <= 0 it
// does not wait (like TryPush, but reporting ErrTimeout instead of ErrFull).
func (r *Ring) PushTimeout(c *chunk.Chunk, d time.Duration) error {
	if c == nil {
		return ErrNilChunk
	}
	r.mu.Lock()
	if !r.stopped && r.n == len(r.buf) && d > 0 {
		expired := false
		t := time.AfterFunc(d, func() {
			r.mu.Lock()
			expired = true
			r.notFull.Broadcast()
			r.unlock()
		})
		for !r.stopped && r.n == len(r.buf) && !expired {
			r.notFull.Wait()
		}
		t.Stop()
	}
	var err error
	switch {
	case r.stopped:
		err = ErrStopped
	case r.n == len(r.buf):
		err = ErrTimeout
	default:
		r.pushLocked(c)
	}
	r.unlock()
	if err == ErrTimeout {
		r.settleSpace() // no "writable, yet full" spin (fd_linux.go)
	}
	return err
}

// Pop removes the oldest chunk, blocking while the ring is empty. Once the
// ring is stopped it still returns the remaining chunks, then ErrStopped.
func (r *Ring) Pop() (*chunk.Chunk, error) {
	r.mu.Lock()
	for !r.stopped && r.n == 0 {
		r.notEmpty.Wait()
	}
	if r.n == 0 {
		r.unlock()
		return nil, ErrStopped
	}
	c := r.popLocked()
	r.unlock()
	return c, nil
}

// TryPop removes the oldest chunk without blocking: ErrEmpty if empty and
// not stopped, ErrStopped if empty and stopped.
func (r *Ring) TryPop() (*chunk.Chunk, error) {
	r.mu.Lock()
	if r.n == 0 {
		err := ErrEmpty
		if r.stopped {
			err = ErrStopped
		}
		r.unlock()
		if err != ErrStopped { // ErrEmpty, ErrTimeout
			r.settleData() // no "readable, yet empty" spin (fd_linux.go)
		}
		return nil, err
	}
	c := r.popLocked()
	r.unlock()
	return c, nil
}

// PopTimeout is Pop that gives up with ErrTimeout after d, which lets a
// caller (Python) wait in slices and stay responsive to signals. With d <= 0
// it does not wait (like TryPop, but reporting ErrTimeout instead of
// ErrEmpty).
func (r *Ring) PopTimeout(d time.Duration) (*chunk.Chunk, error) {
	r.mu.Lock()
	if !r.stopped && r.n == 0 && d > 0 {
		expired := false
		t := time.AfterFunc(d, func() {
			r.mu.Lock()
			expired = true
			r.notEmpty.Broadcast()
			r.unlock()
		})
		for !r.stopped && r.n == 0 && !expired {
			r.notEmpty.Wait()
		}
		t.Stop()
	}
	if r.n == 0 {
		err := ErrTimeout
		if r.stopped {
			err = ErrStopped
		}
		r.unlock()
		if err != ErrStopped { // ErrEmpty, ErrTimeout
			r.settleData() // no "readable, yet empty" spin (fd_linux.go)
		}
		return nil, err
	}
	c := r.popLocked()
	r.unlock()
	return c, nil
}

// stopLocked stops the ring; the caller holds mu. It reports whether this
// call did the stopping.
func (r *Ring) stopLocked() bool {
	if r.stopped {
		return false
	}
	r.stopped = true
	r.fds.mark(true, true)
	r.notEmpty.Broadcast()
	r.notFull.Broadcast()
	return true
}

// Stop stops the ring and wakes every blocked caller. Afterwards pushes fail
// with ErrStopped and pops drain what is left, then fail with ErrStopped. It
// returns true only for the call that actually stopped the ring.
func (r *Ring) Stop() bool {
	r.mu.Lock()
	ok := r.stopLocked()
	r.unlock()
	return ok
}

// Stopped reports whether the ring has been stopped.
func (r *Ring) Stopped() bool {
	r.mu.Lock()
	s := r.stopped
	r.mu.Unlock()
	return s
}

// AddProducer registers one more producer (e.g. a member stream of a group).
func (r *Ring) AddProducer() {
	r.mu.Lock()
	r.producers++
	r.mu.Unlock()
}

// AddProducerIfRunning registers a producer unless the ring has stopped
// (a producer of a stopped ring could never push); it reports whether it
// did.
func (r *Ring) AddProducerIfRunning() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return false
	}
	r.producers++
	return true
}

// RemoveProducer unregisters a producer. Removing the last one stops the
// ring, so a consumer's Pop loop ends by itself once every producer has
// finished. It returns true only if this call stopped the ring. A call with
// no registered producer is a no-op returning false (it must not stop a ring
// whose producers were never counted).
func (r *Ring) RemoveProducer() bool {
	r.mu.Lock()
	defer r.unlock()
	if r.producers <= 0 {
		return false
	}
	r.producers--
	if r.producers > 0 {
		return false
	}
	return r.stopLocked()
}

// Len returns the number of chunks currently in the ring.
func (r *Ring) Len() int {
	r.mu.Lock()
	n := r.n
	r.mu.Unlock()
	return n
}

// Cap returns the ring's capacity.
func (r *Ring) Cap() int { return len(r.buf) }

// Drain removes and returns every chunk left in the ring, oldest first (nil
// if empty). It is meant for teardown: whoever owns the chunks can then free
// them. Drain does not stop the ring; blocked pushers are woken since space
// has appeared.
func (r *Ring) Drain() []*chunk.Chunk {
	r.mu.Lock()
	defer r.unlock()
	if r.n == 0 {
		return nil
	}
	out := make([]*chunk.Chunk, 0, r.n)
	for r.n > 0 {
		c := r.buf[r.head]
		r.buf[r.head] = nil
		r.head++
		if r.head == len(r.buf) {
			r.head = 0
		}
		r.n--
		out = append(out, c)
	}
	r.fds.mark(true, true)
	r.notFull.Broadcast()
	return out
}

// DataFD returns a file descriptor that polls readable while the ring holds
// at least one chunk or is stopped (so an event loop wakes up and finds out
// via TryPop/Stopped). The fd belongs to the ring: do not read, write or
// close it; it stays valid until Close.
func (r *Ring) DataFD() (int, error) {
	defer r.applyFDs() // the new fd's level (after both unlocks)
	r.fds.guard.Lock()
	defer r.fds.guard.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return -1, ErrClosed
	}
	return r.fds.get(r, &r.fds.data)
}

// SpaceFD returns a file descriptor that polls readable while the ring has
// at least one free slot or is stopped. Same ownership rules as DataFD.
func (r *Ring) SpaceFD() (int, error) {
	defer r.applyFDs() // the new fd's level (after both unlocks)
	r.fds.guard.Lock()
	defer r.fds.guard.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return -1, ErrClosed
	}
	return r.fds.get(r, &r.fds.space)
}

// Close stops the ring and closes its readiness fds. Chunks still inside
// stay there (use Drain to get them back). Close is idempotent.
func (r *Ring) Close() {
	r.fds.guard.Lock() // no fd system call in flight while they close
	defer r.fds.guard.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLocked()
	if !r.closed {
		r.closed = true
		r.fds.close()
	}
}

// dataReady and spaceReady are the levels the readiness fds must show; the
// caller holds mu.
func (r *Ring) dataReady() bool  { return r.n > 0 || r.stopped }
func (r *Ring) spaceReady() bool { return r.n < len(r.buf) || r.stopped }
