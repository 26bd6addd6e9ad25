package main

/*
#include <stdint.h>
*/
import "C"

import (
	"net/netip"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/transport"
)

// Values of CG_XDP_* in chunkgroup.h (the Go enums have the same numbers).
const (
	cgXDPZeroCopyAuto = 0
	cgXDPZeroCopyOn   = 1
	cgXDPZeroCopyOff  = 2
	cgXDPModeZeroCopy = 1
	cgXDPModeNative   = 2
)

// The Go enums have the C numbers (the header's are checked in xdp_test.go):
// a difference makes the array types differ and the build fail.
var (
	_ [0]struct{} = [int(transport.XDPZeroCopyAuto) - cgXDPZeroCopyAuto]struct{}{}
	_ [0]struct{} = [int(transport.XDPZeroCopyOn) - cgXDPZeroCopyOn]struct{}{}
	_ [0]struct{} = [int(transport.XDPZeroCopyOff) - cgXDPZeroCopyOff]struct{}{}
)

// cg_stream_add_udp_xdp_reader builds a transport.XDPConfig from C and
// attaches the reader. It runs on the calling C thread, so the socket and
// the XDP attachment belong to that thread's network namespace.
//
//export cg_stream_add_udp_xdp_reader
func cg_stream_add_udp_xdp_reader(p unsafe.Pointer, hosts **C.char, ports *C.uint16_t, n C.size_t,
	iface *C.char, queue C.uint32_t, bufSize, maxSize C.size_t, zeroCopy, busyPoll C.int, modeOut *C.int) C.int {
	sh, ok := getStream(p)
	if !ok {
		return cgESTATE
	}
	if n == 0 || ports == nil || n > 4096 {
		return setErr(cgEINVAL, 0, "AF_XDP reader needs 1 to 4096 endpoints (ports must not be NULL)")
	}
	if iface == nil {
		return setErr(cgEINVAL, 0, "interface_name is NULL")
	}
	cfg := transport.DefaultXDPConfig()
	cfg.Interface = C.GoString(iface)
	cfg.Queue = int(queue)
	portList := unsafe.Slice(ports, int(n))
	var hostList []*C.char
	if hosts != nil {
		hostList = unsafe.Slice(hosts, int(n))
	}
	for i := range portList {
		addr := netip.IPv4Unspecified()
		if hostList != nil && hostList[i] != nil && *hostList[i] != 0 {
			h := C.GoString(hostList[i])
			a, err := netip.ParseAddr(h)
			if err != nil || !a.Unmap().Is4() {
				return setErrf(cgEINVAL, 0, "AF_XDP endpoint %d: %q is not a numeric IPv4 address", i, h)
			}
			addr = a.Unmap()
		}
		cfg.Endpoints = append(cfg.Endpoints, netip.AddrPortFrom(addr, uint16(portList[i])))
	}
	bs, code := sizeArg(bufSize, "buffer_size")
	if code != cgOK {
		return code
	}
	ms, code := sizeArg(maxSize, "max_size")
	if code != cgOK {
		return code
	}
	if bs > 0 {
		cfg.BufferSize = bs
	}
	if ms > 0 {
		cfg.MaxSize = ms
	}
	switch zeroCopy {
	case cgXDPZeroCopyAuto:
		cfg.ZeroCopy = transport.XDPZeroCopyAuto
	case cgXDPZeroCopyOn:
		cfg.ZeroCopy = transport.XDPZeroCopyOn
	case cgXDPZeroCopyOff:
		cfg.ZeroCopy = transport.XDPZeroCopyOff
	default:
		return setErrf(cgEINVAL, 0, "zero_copy %d: use CG_XDP_ZERO_COPY_AUTO, _ON or _OFF", int(zeroCopy))
	}
	if busyPoll < 0 {
		return setErrf(cgEINVAL, 0, "busy_poll_us %d must not be negative", int(busyPoll))
	}
	cfg.BusyPoll = int(busyPoll)
	cfg.Affinity = sh.cpus()
	r, err := transport.NewXDPReader(cfg)
	if err != nil {
		return fail(err, cgEIO)
	}
	mode := 0
	if r.ZeroCopy() {
		mode |= cgXDPModeZeroCopy
	}
	if r.NativeXDP() {
		mode |= cgXDPModeNative
	}
	if code := addReader(sh, r); code != cgOK {
		return code
	}
	if modeOut != nil {
		*modeOut = C.int(mode)
	}
	return cgOK
}
