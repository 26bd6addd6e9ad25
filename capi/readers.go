package main

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"sync"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/offheap"
	"github.com/chunkgroup/chunkgroup/core/pcap"
	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/transport"
)

// ownedMemReader reads a copy of the caller's buffer in off-heap memory
// (packets reach C place functions, so they must not be Go memory). The
// stream frees the copy through Release once no reader can touch it.
type ownedMemReader struct {
	*transport.MemReader
	mem  []byte
	once sync.Once
}

// Release implements recv.Releaser.
func (r *ownedMemReader) Release() { r.once.Do(func() { offheap.Free(r.mem) }) }

// lentMemReader reads the caller's buffer in place and gives it back by
// calling release(user) exactly once, from Release.
type lentMemReader struct {
	*transport.MemReader
	fn, user unsafe.Pointer
	once     sync.Once
}

// Release implements recv.Releaser.
func (r *lentMemReader) Release() {
	r.once.Do(func() {
		if r.fn != nil {
			C.cgshim_release(r.fn, r.user)
		}
	})
}

// addReader attaches r to the stream. The stream releases r itself when it
// refuses it (stopped), so nothing leaks on that path.
func addReader(sh *streamH, r recv.Reader) C.int {
	startTraceOnFirstReader()
	if err := sh.s.AddReader(r); err != nil {
		return fail(err, cgESTATE)
	}
	return cgOK
}

func (sh *streamH) cpus() []int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return append([]int(nil), sh.affinity...)
}

//export cg_stream_add_buffer_reader
func cg_stream_add_buffer_reader(p unsafe.Pointer, buf unsafe.Pointer, n C.size_t) C.int {
	clearErr()
	sh, ok := getStream(p)
	if !ok {
		return cgESTATE
	}
	if buf == nil && n > 0 {
		return setErr(cgEINVAL, 0, "buffer is NULL")
	}
	if n > maxSizeArg {
		return setErrf(cgEINVAL, 0, "buffer length %d is too large", uint64(n))
	}
	mem, err := offheap.Alloc(int(n))
	if err != nil {
		return fail(err, cgENOMEM)
	}
	if n > 0 {
		copy(mem, unsafe.Slice((*byte)(buf), int(n)))
	}
	return addReader(sh, &ownedMemReader{MemReader: transport.NewMemReader(mem), mem: mem})
}

//export cg_stream_add_buffer_reader_nocopy
func cg_stream_add_buffer_reader_nocopy(p unsafe.Pointer, buf unsafe.Pointer, n C.size_t, release unsafe.Pointer, user unsafe.Pointer) C.int {
	clearErr()
	r := &lentMemReader{fn: release, user: user}
	sh, ok := getStream(p)
	if !ok {
		r.Release() // the header promises release on every path
		return cgESTATE
	}
	if (buf == nil && n > 0) || n > maxSizeArg {
		r.Release()
		return setErr(cgEINVAL, 0, "buffer is NULL or too large")
	}
	var b []byte
	if n > 0 {
		b = unsafe.Slice((*byte)(buf), int(n))
	}
	r.MemReader = transport.NewMemReader(b)
	return addReader(sh, r)
}

// sizeArg converts an optional size (0 = default) from C.
func sizeArg(v C.size_t, what string) (int, C.int) {
	if v > 1<<31 {
		return 0, setErrf(cgEINVAL, 0, "%s %d is too large", what, uint64(v))
	}
	return int(v), cgOK
}

// netReader makes a socket reader from the parsed sizes and the stream's
// reader settings (CPU affinity, GRO), and says which local port it got.
type netReader func(maxSize, bufSize int, sh *streamH) (recv.Reader, int, error)

// addNet is the common part of the UDP and TCP reader exports: check the
// handle and sizes, make the reader (socket errors are CG_EIO with errno),
// attach it and remember its port for cg_stream_last_reader_port.
func addNet(p unsafe.Pointer, maxSize, bufSize C.size_t, open netReader) C.int {
	sh, ok := getStream(p)
	if !ok {
		return cgESTATE
	}
	ms, code := sizeArg(maxSize, "max_size")
	if code != cgOK {
		return code
	}
	bs, code := sizeArg(bufSize, "buffer_size")
	if code != cgOK {
		return code
	}
	r, port, err := open(ms, bs, sh)
	if err != nil {
		return fail(err, cgEIO)
	}
	if code := addReader(sh, r); code != cgOK {
		return code
	}
	sh.lastPort.Store(int32(port))
	return cgOK
}

func addUDP(p unsafe.Pointer, cfg transport.UDPConfig, maxSize, bufSize C.size_t) C.int {
	return addNet(p, maxSize, bufSize, func(ms, bs int, sh *streamH) (recv.Reader, int, error) {
		cfg.MaxSize, cfg.Affinity, cfg.GRO = ms, sh.cpus(), sh.udpGRO.Load()
		// Behind the C ABI the readers wait in the netpoller: measured from
		// Python, sleeping in ppoll cost 5-25% more CPU per GB than the
		// netpoller at fixed rates (docs/tuning.md, "Waiting for packets"),
		// while it saves a quarter in a Go program.
		cfg.Netpoller = true
		if cfg.BufferSize >= 0 { // negative: an adopted socket keeps its buffer
			cfg.BufferSize = bs
		}
		r, err := transport.NewUDPReader(cfg)
		if err != nil {
			return nil, 0, err
		}
		return r, int(r.LocalAddr().Port()), nil
	})
}

//export cg_stream_add_udp_reader
func cg_stream_add_udp_reader(p unsafe.Pointer, host *C.char, port C.uint16_t, maxSize C.size_t, bufSize C.size_t) C.int {
	clearErr()
	cfg := transport.DefaultUDPConfig()
	cfg.BindHost = goString(host)
	cfg.Port = int(port)
	return addUDP(p, cfg, maxSize, bufSize)
}

//export cg_stream_add_udp_multicast_reader
func cg_stream_add_udp_multicast_reader(p unsafe.Pointer, group *C.char, port C.uint16_t, iface *C.char, maxSize C.size_t, bufSize C.size_t) C.int {
	clearErr()
	if group == nil {
		return setErr(cgEINVAL, 0, "multicast group is NULL")
	}
	cfg := transport.DefaultUDPConfig()
	cfg.MulticastGroup = C.GoString(group)
	cfg.InterfaceAddress = goString(iface)
	cfg.Port = int(port)
	return addUDP(p, cfg, maxSize, bufSize)
}

//export cg_stream_add_udp_socket_reader
func cg_stream_add_udp_socket_reader(p unsafe.Pointer, fd C.int, maxSize C.size_t) C.int {
	clearErr()
	if fd < 0 {
		return setErrf(cgEINVAL, 0, "bad file descriptor %d", int(fd))
	}
	cfg := transport.DefaultUDPConfig()
	cfg.FD = int(fd)
	cfg.BufferSize = -1 // an adopted socket keeps its buffer
	return addUDP(p, cfg, maxSize, 0)
}

func addTCP(p unsafe.Pointer, cfg transport.TCPConfig, maxSize, bufSize C.size_t) C.int {
	return addNet(p, maxSize, bufSize, func(ms, bs int, sh *streamH) (recv.Reader, int, error) {
		cfg.MaxSize, cfg.BufferSize, cfg.Affinity = ms, bs, sh.cpus()
		r, err := transport.NewTCPReader(cfg)
		if err != nil {
			return nil, 0, err
		}
		return r, int(r.LocalAddr().Port()), nil
	})
}

//export cg_stream_add_tcp_reader
func cg_stream_add_tcp_reader(p unsafe.Pointer, host *C.char, port C.uint16_t, maxSize C.size_t, bufSize C.size_t) C.int {
	clearErr()
	cfg := transport.DefaultTCPConfig()
	cfg.BindHost = goString(host)
	cfg.Port = int(port)
	return addTCP(p, cfg, maxSize, bufSize)
}

//export cg_stream_add_tcp_acceptor_reader
func cg_stream_add_tcp_acceptor_reader(p unsafe.Pointer, fd C.int, maxSize C.size_t) C.int {
	clearErr()
	if fd < 0 {
		return setErrf(cgEINVAL, 0, "bad file descriptor %d", int(fd))
	}
	cfg := transport.DefaultTCPConfig()
	cfg.ListenFD = int(fd)
	return addTCP(p, cfg, maxSize, 0)
}

//export cg_stream_add_pcap_file_reader
func cg_stream_add_pcap_file_reader(p unsafe.Pointer, path *C.char, filter *C.char) C.int {
	clearErr()
	sh, ok := getStream(p)
	if !ok {
		return cgESTATE
	}
	if path == nil {
		return setErr(cgEINVAL, 0, "path is NULL")
	}
	r, err := transport.NewPcapReader(C.GoString(path), goString(filter))
	if err != nil {
		// A file that is not a capture is a file failure; anything else
		// without an errno is the filter.
		def := cgEINVAL
		if errors.Is(err, pcap.ErrNotPcap) {
			def = cgEIO
		}
		return fail(err, def)
	}
	return addReader(sh, r)
}

//export cg_stream_set_affinity
func cg_stream_set_affinity(p unsafe.Pointer, cpus *C.int, n C.size_t) C.int {
	clearErr()
	sh, ok := getStream(p)
	if !ok {
		return cgESTATE
	}
	if n > 4096 || (n > 0 && cpus == nil) {
		return setErr(cgEINVAL, 0, "bad CPU list")
	}
	var list []int
	if n > 0 {
		for _, c := range unsafe.Slice(cpus, int(n)) {
			if c < 0 {
				return setErrf(cgEINVAL, 0, "negative CPU %d", int(c))
			}
			list = append(list, int(c))
		}
	}
	sh.mu.Lock()
	sh.affinity = list
	sh.mu.Unlock()
	return cgOK
}

//export cg_stream_set_udp_gro
func cg_stream_set_udp_gro(p unsafe.Pointer, enable C.int) C.int {
	clearErr()
	sh, ok := getStream(p)
	if !ok {
		return cgESTATE
	}
	sh.udpGRO.Store(enable != 0)
	return cgOK
}

//export cg_stream_last_reader_port
func cg_stream_last_reader_port(p unsafe.Pointer) C.int {
	clearErr()
	sh, ok := getStream(p)
	if !ok {
		return 0
	}
	return C.int(sh.lastPort.Load())
}

//export cg_stream_start
func cg_stream_start(p unsafe.Pointer) C.int {
	clearErr()
	sh, ok := getStream(p)
	if !ok {
		return cgESTATE
	}
	if err := sh.s.Start(); err != nil {
		return fail(err, cgESTATE)
	}
	return cgOK
}

//export cg_stream_stop
func cg_stream_stop(p unsafe.Pointer) C.int {
	clearErr()
	sh, ok := getStream(p)
	if !ok {
		return cgESTATE
	}
	sh.gh.stop() // a member stops its whole group, as spead2 does
	return cgOK
}

//export cg_stream_stat_count
func cg_stream_stat_count(p unsafe.Pointer) C.size_t {
	clearErr()
	sh, ok := getStream(p)
	if !ok {
		return 0
	}
	return C.size_t(len(sh.s.StatConfig()))
}

//export cg_stream_stat_name
func cg_stream_stat_name(p unsafe.Pointer, index C.size_t) *C.char {
	clearErr()
	sh, ok := getStream(p)
	if !ok {
		return nil
	}
	stats := sh.s.StatConfig()
	if uint64(index) >= uint64(len(stats)) {
		setErrf(cgEINVAL, 0, "statistic index %d out of range [0, %d)", uint64(index), len(stats))
		return nil
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.dead {
		setErr(cgESTATE, 0, "stream handle is freed")
		return nil
	}
	if sh.names == nil {
		for _, s := range stats {
			sh.names = append(sh.names, C.CString(s.Name))
		}
	}
	return sh.names[index]
}

//export cg_stream_stat_mode
func cg_stream_stat_mode(p unsafe.Pointer, index C.size_t) C.int {
	clearErr()
	sh, ok := getStream(p)
	if !ok {
		return -cgESTATE
	}
	stats := sh.s.StatConfig()
	if uint64(index) >= uint64(len(stats)) {
		setErrf(cgEINVAL, 0, "statistic index %d out of range [0, %d)", uint64(index), len(stats))
		return -cgEINVAL
	}
	return C.int(stats[index].Mode)
}

//export cg_stream_stats
func cg_stream_stats(p unsafe.Pointer, values *C.uint64_t, n C.size_t) C.int {
	clearErr()
	sh, ok := getStream(p)
	if !ok {
		return cgESTATE
	}
	if n == 0 {
		return cgOK
	}
	if values == nil || n > 1<<20 {
		return setErr(cgEINVAL, 0, "values is NULL or n too large")
	}
	sh.s.StatsInto(unsafe.Slice((*uint64)(unsafe.Pointer(values)), int(n)))
	return cgOK
}

//export cg_stream_error
func cg_stream_error(p unsafe.Pointer) *C.char {
	clearErr()
	sh, ok := getStream(p)
	if !ok {
		return nil
	}
	err := sh.s.Err()
	if err == nil {
		return nil
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.dead {
		return nil
	}
	if sh.errStr == nil { // the first error is kept, so one copy serves
		sh.errStr = C.CString(err.Error())
	}
	return sh.errStr
}
