package main

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/ring"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// Status codes of chunkgroup.h (checked against the header in capi_test.go).
const (
	cgOK        = 0
	cgEINVAL    = 1
	cgESTATE    = 2
	cgEIO       = 3
	cgESTOPPED  = 4
	cgEEMPTY    = 5
	cgEFULL     = 6
	cgENOMEM    = 7
	cgETIMEDOUT = 8
)

// setErr records msg and errnum as the calling thread's last error and
// returns code. A cgo export runs on the C thread that called it, so the
// thread-local storage in shim.c is that thread's.
func setErr(code int, errnum int, msg string) C.int {
	C.cgshim_set_error((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)), C.int(errnum), C.int(code))
	return C.int(code)
}

// clearErr resets the calling thread's last error. Every export calls it
// first, so cg_last_status() after a call says whether that call failed
// (the only way to tell for functions whose every return value is valid,
// such as the size_t getters, or that return void).
//
// It also keeps the runtime's monitor thread (sysmon) asleep while C or
// Python threads call in. Between calls such a thread keeps the processor
// it used, in the system-call state, and a callback never passes through
// the scheduler, so the processor's schedule tick stands still. After 10
// ms of that the monitor takes the processor back even though others are
// idle, and each time it takes one it drops its own sleep to 20 us for
// about a millisecond before backing off: some 50 wake-ups per 10 ms of a
// consumer calling once per chunk, each on a CPU the members are using.
// Passing through the scheduler once every 5 ms (runtime.Gosched: the
// locked callback goroutine gives up its processor and gets one back, two
// or three thread switches) moves the tick, so there is nothing to take.
// Measured on the 2-core machine with the Python consumer (docs/tuning.md,
// "Seventh round"): memory large N=2 12.0 -> 13.8 GB/s, N=4 10.6 -> 11.4,
// small N=1 4.6 -> 5.0, N=2 8.0 -> 8.7, medians of three interleaved
// rounds; the monitor's sleeps in six large N=2 runs 6226 -> 1263.
func clearErr() {
	if enterCall() {
		runtime.Gosched()
	}
}

// enterCall clears the calling thread's last error and reports whether
// the thread is due to pass through the scheduler (5 ms or more since it
// last did, by the thread-local clock in shim.c).
func enterCall() bool { return C.cgshim_enter() != 0 }

func setErrf(code int, errnum int, format string, args ...any) C.int {
	return setErr(code, errnum, fmt.Sprintf(format, args...))
}

// codeOf maps an error to a status code and errno; def is the code for
// errors the mapping does not know (the call site knows best whether an
// unknown failure is a bad argument or an I/O problem).
func codeOf(err error, def int) (code, errnum int) {
	var errno syscall.Errno
	switch {
	case errors.Is(err, recv.ErrInvalid):
		return cgEINVAL, 0
	case errors.Is(err, recv.ErrState):
		return cgESTATE, 0
	case errors.Is(err, recv.ErrStopped), errors.Is(err, ring.ErrStopped):
		return cgESTOPPED, 0
	case errors.Is(err, ring.ErrEmpty):
		return cgEEMPTY, 0
	case errors.Is(err, ring.ErrFull):
		return cgEFULL, 0
	case errors.Is(err, ring.ErrTimeout):
		return cgETIMEDOUT, 0
	case errors.Is(err, ring.ErrNilChunk):
		return cgEINVAL, 0
	case errors.As(err, &errno):
		if errno == syscall.ENOMEM {
			return cgENOMEM, int(errno)
		}
		return cgEIO, int(errno)
	case errors.Is(err, net.ErrClosed):
		return cgESTATE, 0
	case errors.Is(err, spead.ErrValueRange), errors.Is(err, spead.ErrItemID),
		errors.Is(err, spead.ErrPacketTooSmall), errors.Is(err, spead.ErrTooManyItems),
		errors.Is(err, spead.ErrAddress), errors.Is(err, spead.ErrFlavour):
		return cgEINVAL, 0
	}
	return def, 0
}

// fail records err as the last error and returns its status code.
func fail(err error, def int) C.int {
	code, errnum := codeOf(err, def)
	return setErr(code, errnum, err.Error())
}

// goString copies a C string (NULL gives "").
func goString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// maxStructSize bounds the size field of a growable struct: far above any
// layout this ABI will have, so a garbage value is refused, not read.
const maxStructSize = 4096

// readSized copies a growable public struct (cg_sender_config, cg_grid)
// whose first field, size, is sizeof(struct) as the caller's header
// declared it (CG_*_INIT), or 0 for the layout of CG_ABI_VERSION 3, when
// the field appeared. A caller built against a newer header (a larger
// size) is accepted if the fields this library does not know are all zero
// (their defaults); fields a smaller, older size lacks keep their zero
// defaults. This is how these structs grow without an ABI break.
func readSized[T any](p unsafe.Pointer, what string) (T, C.int) {
	var v T
	ours := unsafe.Sizeof(v)
	size := *(*uintptr)(p)
	switch {
	case size == 0:
		size = ours
	case size < ours || size > maxStructSize:
		return v, setErrf(cgEINVAL, 0, "%s.size is %d: use %s_INIT (sizeof(%s) is %d in this library)",
			what, uint64(size), upper(what), what, uint64(ours))
	}
	for _, b := range unsafe.Slice((*byte)(unsafe.Add(p, ours)), size-ours) {
		if b != 0 {
			return v, setErrf(cgEINVAL, 0, "%s: fields from a newer header (size %d, this library knows %d) are set; "+
				"this library cannot honour them", what, uint64(size), uint64(ours))
		}
	}
	v = *(*T)(p)
	return v, cgOK
}

// upper is ASCII upper case (for macro names in messages).
func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
