// Package logx routes the engine's log messages (reader failures, socket
// buffers smaller than asked, chunks dropped at shutdown) to one sink that
// the C ABI and the Python package can redirect.
package logx

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Level is a message's severity.
type Level int

// Levels, matching CG_LOG_DEBUG..CG_LOG_ERROR.
const (
	Debug Level = iota
	Info
	Warning
	Error
)

func (l Level) String() string {
	switch l {
	case Debug:
		return "debug"
	case Info:
		return "info"
	case Warning:
		return "warning"
	}
	return "error"
}

// sinkBox is one installed sink and the number of calls in it now, so
// SetSink can wait for the calls of the sink it replaces.
type sinkBox struct {
	fn       func(Level, string)
	inflight atomic.Int64
}

var sink atomic.Pointer[sinkBox]

// SetSink installs fn to receive every message; nil restores the default
// (warnings and errors to stderr). It returns once no call of the previous
// sink is running, except own: the number of calls of the previous sink
// the caller itself is inside (a sink that replaces itself, directly or
// through the C ABI), which SetSink cannot wait for. After it returns the
// previous sink is never called again, so its owner may free what it uses.
func SetSink(fn func(Level, string), own int) {
	var nb *sinkBox
	if fn != nil {
		nb = &sinkBox{fn: fn}
	}
	old := sink.Swap(nb)
	if old == nil {
		return
	}
	// Calls in flight are a sink's own duration (a log line): spin with
	// a short sleep rather than build a wait queue for a rare event.
	for old.inflight.Load() > int64(own) {
		time.Sleep(20 * time.Microsecond)
	}
}

// Logf formats and emits a message. Not for the per-packet path.
func Logf(level Level, format string, args ...any) {
	b := enter()
	if b == nil {
		if level < Warning {
			return
		}
		fmt.Fprintf(os.Stderr, "chunkgroup %s: %s\n", level, fmt.Sprintf(format, args...))
		return
	}
	defer b.inflight.Add(-1)
	b.fn(level, fmt.Sprintf(format, args...))
}

// enter returns the current sink with this call counted in it, or nil. The
// count goes up before the second load, so a SetSink that swapped in
// between either sees the count (and waits) or is seen here (and this call
// moves on to the new sink): the replaced sink is never entered after
// SetSink returns.
func enter() *sinkBox {
	for {
		b := sink.Load()
		if b == nil {
			return nil
		}
		b.inflight.Add(1)
		if sink.Load() == b {
			return b
		}
		b.inflight.Add(-1)
	}
}
