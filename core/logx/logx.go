// Package logx routes the engine's log messages (reader failures, socket
// buffers smaller than asked, chunks dropped at shutdown) to one sink that
// the C ABI and the Python package can redirect.
package logx

import (
	"fmt"
	"os"
	"sync/atomic"
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

var sink atomic.Pointer[func(Level, string)]

// SetSink installs fn to receive every message; nil restores the default
// (warnings and errors to stderr).
func SetSink(fn func(Level, string)) {
	if fn == nil {
		sink.Store(nil)
		return
	}
	sink.Store(&fn)
}

// Logf formats and emits a message. Not for the per-packet path.
func Logf(level Level, format string, args ...any) {
	fn := sink.Load()
	if fn == nil && level < Warning {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if fn != nil {
		(*fn)(level, msg)
		return
	}
	fmt.Fprintf(os.Stderr, "chunkgroup %s: %s\n", level, msg)
}
