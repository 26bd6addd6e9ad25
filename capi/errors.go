package main

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"net"
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
