// Package transport holds the readers that feed a receive stream
// (recv.Sink): an in-memory buffer, UDP (unicast, multicast, adopted
// sockets; batched with recvmmsg, optional UDP GRO), TCP (one accepted
// connection) and pcap files.
//
// Every reader follows the recv.Reader contract: Run feeds the sink until
// the input ends (nil), fails (an error that says what happened), the sink
// refuses a batch, or Close is called. Close only flags the reader and wakes
// Run (through the eventfd its ppoll waits on, or a deadline on a socket in
// the netpoller; never a polling sleep); resources
// (sockets, off-heap buffers) are released by whichever of Close and the end
// of Run comes last, so Close never frees memory Run is still using.
package transport

import (
	"errors"
	"fmt"
	"github.com/chunkgroup/chunkgroup/core/logx"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Log levels for Logf.
const (
	LevelDebug   = 0
	LevelInfo    = 1
	LevelWarning = 2
	LevelError   = 3
)

// Logf receives the readers' diagnostics (for example a socket buffer
// smaller than requested). The default writes warnings and errors to
// standard error through the log package and drops the rest. Replace it
// before creating readers (the C ABI routes it to the user's callback); it
// is read without synchronisation.
// By default it goes to core/logx, the one sink the C ABI and the Python
// package redirect.
var Logf = func(level int, format string, args ...any) {
	logx.Logf(logx.Level(level), "transport: "+format, args...)
}

// DefaultBatchSize is the number of packets a reader hands to the sink at
// once when the configuration does not say.
const DefaultBatchSize = 64

// DefaultMaxSize is the default largest packet accepted, the same as
// spead2's default (a 9000-byte jumbo frame payload plus headroom).
const DefaultMaxSize = 9200

// ErrRunning is returned by Run when the reader is already running.
var ErrRunning = errors.New("transport: Run called while the reader is already running")

// lifecycle coordinates Run, Close and the release of resources. The mutex
// is taken at the start and end of Run and in Close, never per packet.
type lifecycle struct {
	mu       sync.Mutex
	closed   atomic.Bool
	running  bool
	released bool
	wake     func() // wakes a blocked Run; must not block (called under mu)
	release  func() // frees resources once closed and not running (under mu)
}

// start marks the reader running; ok is false when it is already closed.
func (l *lifecycle) start() (ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return false, nil
	}
	if l.running {
		return false, ErrRunning
	}
	l.running = true
	return true, nil
}

// beginPinned is start, then the calling thread pinned to cpus (when
// any): the prologue of every socket reader's Run. ok false means Run
// returns err at once (closed, already running, or the pinning failed);
// otherwise Run defers end, which unpins and finishes.
func (l *lifecycle) beginPinned(cpus []int) (end func(), ok bool, err error) {
	if ok, err := l.start(); !ok {
		return nil, false, err
	}
	restore, err := pinThread(cpus)
	if err != nil {
		l.finish()
		return nil, false, err
	}
	return func() {
		restore()
		l.finish()
	}, true, nil
}

// finish marks Run as returned and releases resources if Close came first.
func (l *lifecycle) finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running = false
	if l.closed.Load() {
		l.doRelease()
	}
}

func (l *lifecycle) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed.Store(true)
	if l.running {
		if l.wake != nil {
			l.wake()
		}
		return
	}
	l.doRelease()
}

func (l *lifecycle) doRelease() {
	if !l.released {
		l.released = true
		if l.release != nil {
			l.release()
		}
	}
}

// pinThread locks the calling goroutine to its OS thread and restricts the
// thread to cpus. The returned function restores the previous mask before
// unlocking, so the thread goes back to the runtime's pool unrestricted.
func pinThread(cpus []int) (restore func(), err error) {
	if len(cpus) == 0 {
		return func() {}, nil
	}
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("transport: sched_getaffinity: %w", err)
	}
	for _, c := range cpus {
		if c < 0 || c >= len(set)*64 {
			runtime.UnlockOSThread()
			return nil, fmt.Errorf("transport: CPU %d out of range", c)
		}
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("transport: sched_setaffinity to CPUs %v: %w", cpus, err)
	}
	return func() {
		if unix.SchedSetaffinity(0, &old) == nil {
			runtime.UnlockOSThread()
		}
		// If the old mask cannot be restored the thread stays locked and
		// is destroyed when the goroutine exits, rather than leaking a
		// pinned thread into the scheduler's pool.
	}, nil
}
