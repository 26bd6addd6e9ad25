package transport

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/chunkgroup/chunkgroup/core/offheap"
	"github.com/chunkgroup/chunkgroup/core/recv"
)

// DefaultUDPBufferSize is the socket receive buffer requested by default.
const DefaultUDPBufferSize = 8 << 20

// groBufferSize is the size of each receive buffer with UDP GRO: the kernel
// coalesces at most 64 KiB into one receive.
const groBufferSize = 65536

// groMaxSegments is the kernel's limit of segments per coalesced receive
// (UDP_GRO_CNT_MAX); a batch of n receives holds at most n times this many
// packets.
const groMaxSegments = 64

// ctrlSize is the control-message space per receive (one UDP_GRO cmsg
// needs 20 bytes; extra room keeps unexpected cmsgs from truncating it).
const ctrlSize = 64

// UDPConfig configures a UDP reader. Start from DefaultUDPConfig: the zero
// value of FD (0) means "adopt file descriptor 0".
type UDPConfig struct {
	// BindHost is the local address to bind ("" = any IPv4 address, or
	// any IPv6 address when MulticastGroup is IPv6). Ignored with
	// MulticastGroup (the socket binds to the group) and with FD.
	BindHost string
	// Port is the UDP port (0 = the kernel picks one; see LocalAddr).
	Port int
	// MulticastGroup, when set, is joined and bound to (group address and
	// Port), so only that group's traffic arrives on the socket.
	MulticastGroup string
	// InterfaceAddress selects the interface to join the group on, by one
	// of its addresses ("" = let the kernel choose).
	InterfaceAddress string
	// FD, when >= 0, is an already-bound UDP socket to receive from. The
	// reader works on a duplicate (the caller keeps and closes its own
	// descriptor); note that the duplicate shares the file status flags,
	// so the caller's descriptor becomes non-blocking too.
	FD int
	// MaxSize is the largest datagram accepted (default DefaultMaxSize);
	// larger ones are dropped and counted (Oversize).
	MaxSize int
	// BufferSize is the socket receive buffer to request (0 = default 8
	// MiB, negative = leave the socket's buffer as it is).
	BufferSize int
	// BatchSize is the number of datagrams per recvmmsg call (default 64).
	BatchSize int
	// GRO enables UDP generic receive offload where the kernel supports
	// it (silently off otherwise).
	GRO bool
	// Affinity, when not empty, pins Run's OS thread to these CPUs.
	Affinity []int
	// Netpoller makes Run wait for datagrams in the Go netpoller even when
	// a processor is free for it to sleep in ppoll on its own thread
	// (claimThreadWait). The netpoller costs less when other goroutines of
	// the process keep the scheduler busy, so that a running thread picks
	// up readiness on its way (a sender in the same process: 0.47-0.53
	// against 0.52-0.74 CPU s/GB at 10 Gb/s); ppoll costs less when the
	// datagrams come from elsewhere (docs/tuning.md, "Waiting for packets").
	// The C ABI sets it: measured from Python, ppoll cost more there.
	Netpoller bool
}

// DefaultUDPConfig returns the default configuration: bind any address,
// port 0, no multicast, no adopted socket (FD -1), MaxSize 9200, an 8 MiB
// socket buffer, batches of 64, GRO off.
func DefaultUDPConfig() UDPConfig {
	return UDPConfig{
		FD:         -1,
		MaxSize:    DefaultMaxSize,
		BufferSize: DefaultUDPBufferSize,
		BatchSize:  DefaultBatchSize,
	}
}

// UDPReader receives datagrams from one UDP socket with recvmmsg into
// off-heap buffers; when the socket is empty, Run's thread sleeps in ppoll
// on it (pollWaiter), or, when sleeping readers would hold every Go
// processor, Run parks in the Go netpoller (claimThreadWait).
type UDPReader struct {
	lc     lifecycle
	fd     int         // non-blocking; closed by release (through file once there is one)
	waiter *pollWaiter // nil with UDPConfig.Netpoller
	// file and rc exist once a Run has waited in the netpoller; that reader
	// keeps doing so (its socket stays registered, and a registered socket
	// wakes the netpoller at every datagram). Set under lc.mu, by Run.
	file *os.File
	rc   syscall.RawConn

	local   netip.AddrPort
	granted int
	gro     bool
	maxSize int
	cpus    []int
	netpoll bool // UDPConfig.Netpoller

	mem     []byte // off-heap: message headers, iovecs, control, buffers
	msgs    []unix.Mmsghdr
	ctrl    []byte
	bufs    []byte
	stride  int
	packets [][]byte

	// Filled by recv on Run's goroutine.
	tryFn  func() bool        // r.recv as a method value, made once: no allocation per wait
	recvFn func(uintptr) bool // the same for RawConn.Read
	nrecv  int
	errno  syscall.Errno

	oversize atomic.Uint64
}

// NewUDPReader creates the socket (or adopts cfg.FD), sets its buffer,
// binds it and joins the multicast group, so that configuration errors
// (such as an address already in use: errors.Is(err, syscall.EADDRINUSE))
// come from here rather than from Run.
func NewUDPReader(cfg UDPConfig) (*UDPReader, error) {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.MaxSize > 65535 {
		cfg.MaxSize = 65535
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BufferSize == 0 {
		cfg.BufferSize = DefaultUDPBufferSize
	}
	var fd int
	var err error
	if cfg.FD >= 0 {
		fd, err = adoptUDP(cfg.FD)
	} else {
		fd, err = openUDP(&cfg)
	}
	if err != nil {
		return nil, err
	}
	r := &UDPReader{maxSize: cfg.MaxSize, cpus: append([]int(nil), cfg.Affinity...), netpoll: cfg.Netpoller}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
			if r.waiter != nil {
				r.waiter.close()
			}
			offheap.Free(r.mem)
		}
	}()
	if cfg.BufferSize > 0 {
		r.granted = setRecvBuffer(fd, cfg.BufferSize)
	} else if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
		r.granted = v / 2
	}
	if cfg.GRO {
		if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 1); err != nil {
			Logf(LevelDebug, "UDP GRO not available (%v); receiving without it", err)
		} else {
			r.gro = true
		}
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("transport: getsockname: %w", err)
	}
	r.local = sockaddrToAddrPort(sa)

	r.fd = fd
	if !r.netpoll { // a Netpoller reader never sleeps in ppoll: no eventfd
		if r.waiter, err = newPollWaiter(fd); err != nil {
			return nil, err
		}
	}
	if err := r.allocBuffers(cfg.BatchSize); err != nil {
		return nil, err
	}
	r.tryFn = r.recv
	r.recvFn = func(uintptr) bool { return r.recv() }
	r.lc.wake = func() {
		if r.waiter != nil {
			r.waiter.wake()
		}
		if r.file != nil {
			_ = r.file.SetReadDeadline(time.Unix(1, 0))
		}
	}
	r.lc.release = func() {
		if r.file != nil {
			_ = r.file.Close()
		} else {
			_ = unix.Close(r.fd)
		}
		if r.waiter != nil {
			r.waiter.close()
		}
		offheap.Free(r.mem)
		r.mem, r.msgs, r.ctrl, r.bufs = nil, nil, nil, nil
	}
	ok = true
	return r, nil
}

// allocBuffers lays out, in one off-heap mapping, the mmsghdr array, the
// iovecs, the control buffers and the packet buffers, and points the
// headers at them once; Run only resets the lengths the kernel overwrites.
func (r *UDPReader) allocBuffers(n int) error {
	r.stride = (r.maxSize + 1 + 63) &^ 63 // +1 detects oversize datagrams
	if r.gro {
		r.stride = groBufferSize
	}
	msgBytes := n * int(unsafe.Sizeof(unix.Mmsghdr{}))
	iovBytes := n * int(unsafe.Sizeof(unix.Iovec{}))
	head := (msgBytes + iovBytes + n*ctrlSize + 4095) &^ 4095
	mem, err := offheap.Alloc(head + n*r.stride)
	if err != nil {
		return fmt.Errorf("transport: UDP receive buffers: %w", err)
	}
	r.mem = mem
	r.msgs = unsafe.Slice((*unix.Mmsghdr)(unsafe.Pointer(&mem[0])), n)
	iovs := unsafe.Slice((*unix.Iovec)(unsafe.Pointer(&mem[msgBytes])), n)
	r.ctrl = mem[msgBytes+iovBytes : msgBytes+iovBytes+n*ctrlSize]
	r.bufs = mem[head:]
	for i := range n {
		iovs[i].Base = &r.bufs[i*r.stride]
		iovs[i].SetLen(r.stride)
		h := &r.msgs[i].Hdr
		h.Iov = &iovs[i]
		h.Iovlen = 1
		if r.gro {
			h.Control = &r.ctrl[i*ctrlSize]
			h.SetControllen(ctrlSize)
		}
	}
	capPackets := n
	if r.gro {
		capPackets = n * groMaxSegments
	}
	r.packets = make([][]byte, 0, capPackets)
	return nil
}

// LocalAddr returns the address the socket is bound to (with the port the
// kernel chose when Port was 0).
func (r *UDPReader) LocalAddr() netip.AddrPort { return r.local }

// GrantedBufferSize returns the socket receive buffer the kernel granted, in
// the units of the request (Linux reports twice the usable size; this is
// half of what getsockopt returns).
func (r *UDPReader) GrantedBufferSize() int { return r.granted }

// GRO reports whether UDP generic receive offload is active.
func (r *UDPReader) GRO() bool { return r.gro }

// Oversize returns the number of datagrams dropped for exceeding MaxSize.
func (r *UDPReader) Oversize() uint64 { return r.oversize.Load() }

// recv is one non-blocking recvmmsg. It returns false (wait for
// readability) on EAGAIN, true with nrecv and errno set otherwise.
func (r *UDPReader) recv() bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.msgs[0])), uintptr(len(r.msgs)), 0, 0, 0)
		switch e {
		case 0:
			r.nrecv, r.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			r.nrecv, r.errno = 0, e
			return true
		}
	}
}

// Run receives datagrams and passes them to sink until Close, a sink
// refusal or a socket error.
func (r *UDPReader) Run(sink recv.Sink) error {
	end, ok, err := r.lc.beginPinned(r.cpus)
	if !ok {
		return err
	}
	defer end()
	if r.rc == nil && !r.netpoll && claimThreadWait() {
		defer releaseThreadWait()
	} else if err := r.joinNetpoller(); err != nil {
		return err
	}
	for {
		cont, err := r.step(sink)
		if !cont {
			return err
		}
	}
}

// joinNetpoller registers the socket with the Go netpoller (once), so that
// Run waits there; under lc.mu, so that Close's wake sees the file.
func (r *UDPReader) joinNetpoller() error {
	r.lc.mu.Lock()
	defer r.lc.mu.Unlock()
	if r.rc != nil {
		return nil
	}
	if r.file == nil {
		r.file = os.NewFile(uintptr(r.fd), "udp:"+r.local.String()) // owns fd from here on
	}
	// A deadline works only if the file joined the netpoller; Close relies
	// on it to wake Run.
	if err := r.file.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("transport: UDP socket is not pollable: %w", err)
	}
	rc, err := r.file.SyscallConn()
	if err != nil {
		return fmt.Errorf("transport: UDP socket: %w", err)
	}
	r.rc = rc
	return nil
}

// step does one recvmmsg (waiting for data if none) and hands the result to
// sink. It returns cont false when Run should return err.
func (r *UDPReader) step(sink recv.Sink) (cont bool, err error) {
	if r.lc.closed.Load() {
		return false, nil
	}
	if r.rc != nil {
		if err := r.rc.Read(r.recvFn); err != nil {
			if r.lc.closed.Load() {
				return false, nil
			}
			return false, fmt.Errorf("transport: UDP receive on %v: %w", r.local, err)
		}
	} else {
		for !r.recv() {
			got, err := r.waiter.wait(r.tryFn)
			if r.lc.closed.Load() {
				return false, nil
			}
			if err != nil {
				return false, fmt.Errorf("transport: UDP receive on %v: %w", r.local, err)
			}
			if got {
				break
			}
		}
	}
	if r.errno != 0 {
		if r.errno == unix.ECONNREFUSED {
			// An ICMP error from an earlier send on a connected socket
			// (possible with an adopted socket); not fatal to receiving.
			return true, nil
		}
		return false, fmt.Errorf("transport: recvmmsg on %v: %w", r.local, r.errno)
	}
	pk := r.packets[:0]
	var oversize uint64
	for i := range r.nrecv {
		m := &r.msgs[i]
		l := int(m.Len)
		flags := m.Hdr.Flags
		m.Hdr.Flags = 0
		buf := r.bufs[i*r.stride : i*r.stride+l : i*r.stride+l]
		seg := 0
		if r.gro {
			seg = groSegment(r.ctrl[i*ctrlSize:(i+1)*ctrlSize], int(m.Hdr.Controllen))
			m.Hdr.SetControllen(ctrlSize)
		}
		if flags&unix.MSG_TRUNC != 0 {
			oversize++
			continue
		}
		if seg <= 0 || seg >= l {
			seg = l
		}
		for off := 0; off < l; off += seg {
			p := buf[off:min(off+seg, l)]
			if len(p) > r.maxSize {
				oversize++
				continue
			}
			if len(pk) == cap(pk) {
				// Only reachable if the kernel coalesces more than
				// groMaxSegments; pass what we have and go on.
				if !sink.AddBatch(pk) {
					return false, nil
				}
				pk = pk[:0]
			}
			pk = append(pk, p)
		}
	}
	if oversize != 0 {
		r.oversize.Add(oversize)
	}
	if len(pk) > 0 && !sink.AddBatch(pk) {
		return false, nil
	}
	return true, nil
}

// groSegment returns the segment size from a UDP_GRO control message, or 0
// when there is none (the datagram was not coalesced).
func groSegment(ctrl []byte, n int) int {
	if n > len(ctrl) {
		n = len(ctrl)
	}
	ctrl = ctrl[:n]
	const hdr = int(unsafe.Sizeof(unix.Cmsghdr{}))
	for len(ctrl) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		cl := int(h.Len)
		if cl < hdr || cl > len(ctrl) {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && cl >= hdr+4 {
			return int(binary.NativeEndian.Uint32(ctrl[hdr:]))
		}
		next := (cl + 7) &^ 7
		if next > len(ctrl) {
			return 0
		}
		ctrl = ctrl[next:]
	}
	return 0
}

// Close stops Run promptly (from any goroutine, any number of times) and
// releases the socket and buffers once Run has returned.
func (r *UDPReader) Close() error {
	r.lc.close()
	return nil
}

// setRecvBuffer asks for size bytes of socket receive buffer, forcing it
// past rmem_max when privileged, and returns what was granted.
func setRecvBuffer(fd, size int) int {
	get := func() int {
		v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
		if err != nil {
			return 0
		}
		return v / 2 // the kernel doubles the request for its bookkeeping
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size)
	got := get()
	if got < size {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size); err == nil {
			got = get()
		} else {
			Logf(LevelDebug, "SO_RCVBUFFORCE refused: %v", err)
		}
	}
	// Warn only for a real shortfall: the kernel doubles the request for its
	// bookkeeping and rounds and caps the doubled value, so a few bytes less
	// than asked is what a granted request looks like.
	if short := size - got; short > max(size/100, 4096) {
		Logf(LevelWarning, "socket receive buffer: asked for %d bytes, got %d (raise net.core.rmem_max or run with CAP_NET_ADMIN)", size, got)
	}
	return got
}

// adoptUDP duplicates a caller's socket and checks it is a datagram socket.
func adoptUDP(callerFD int) (int, error) {
	fd, err := unix.FcntlInt(uintptr(callerFD), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("transport: adopting socket fd %d: %w", callerFD, err)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_DGRAM {
		unix.Close(fd)
		if err == nil {
			err = fmt.Errorf("socket type %d, want SOCK_DGRAM", typ)
		}
		return -1, fmt.Errorf("transport: fd %d is not a UDP socket: %w", callerFD, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("transport: adopting socket fd %d: %w", callerFD, err)
	}
	return fd, nil
}

// resolveHost turns a literal or a host name into an address; "" gives the
// unspecified address of the family v6 selects.
func resolveHost(host string, v6 bool) (netip.Addr, error) {
	if host == "" {
		if v6 {
			return netip.IPv6Unspecified(), nil
		}
		return netip.IPv4Unspecified(), nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("transport: cannot resolve %q: %v", host, err)
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
	}
	return ips[0], nil
}

// openUDP creates, configures and binds a new UDP socket for cfg.
func openUDP(cfg *UDPConfig) (fd int, err error) {
	if cfg.Port < 0 || cfg.Port > 65535 {
		return -1, fmt.Errorf("transport: UDP port %d out of range", cfg.Port)
	}
	var bindAddr, group netip.Addr
	if cfg.MulticastGroup != "" {
		if group, err = netip.ParseAddr(cfg.MulticastGroup); err != nil || !group.Unmap().IsMulticast() {
			return -1, fmt.Errorf("transport: %q is not a multicast group address", cfg.MulticastGroup)
		}
		group = group.Unmap()
		bindAddr = group
	} else if bindAddr, err = resolveHost(cfg.BindHost, false); err != nil {
		return -1, err
	}
	family := unix.AF_INET
	if bindAddr.Is6() {
		family = unix.AF_INET6
	}
	fd, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("transport: UDP socket: %w", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
			fd = -1
		}
	}()
	if group.IsValid() {
		// Several receivers (processes or streams) may share a group.
		if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return -1, fmt.Errorf("transport: SO_REUSEADDR: %w", err)
		}
	}
	bindAP := netip.AddrPortFrom(bindAddr, uint16(cfg.Port))
	if err = unix.Bind(fd, addrPortToSockaddr(bindAP)); err != nil {
		return -1, fmt.Errorf("transport: UDP bind to %v: %w", bindAP, err)
	}
	if group.IsValid() {
		if err = joinGroup(fd, group, cfg.InterfaceAddress); err != nil {
			return -1, err
		}
	}
	return fd, nil
}

// joinGroup joins group on the interface that has address ifAddr.
func joinGroup(fd int, group netip.Addr, ifAddr string) error {
	var iface netip.Addr
	if ifAddr != "" {
		a, err := netip.ParseAddr(ifAddr)
		if err != nil {
			return fmt.Errorf("transport: interface address %q: %w", ifAddr, err)
		}
		iface = a.Unmap()
	}
	if group.Is4() {
		mreq := unix.IPMreq{Multiaddr: group.As4()}
		if iface.IsValid() {
			if !iface.Is4() {
				return fmt.Errorf("transport: interface address %v is not IPv4 for group %v", iface, group)
			}
			mreq.Interface = iface.As4()
		}
		if err := unix.SetsockoptIPMreq(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, &mreq); err != nil {
			return fmt.Errorf("transport: joining multicast group %v on interface %v: %w", group, ifaceName(iface), err)
		}
		return nil
	}
	mreq := unix.IPv6Mreq{Multiaddr: group.As16()}
	if iface.IsValid() {
		idx, err := interfaceIndex(iface)
		if err != nil {
			return err
		}
		mreq.Interface = uint32(idx)
	}
	if err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, &mreq); err != nil {
		return fmt.Errorf("transport: joining multicast group %v on interface %v: %w", group, ifaceName(iface), err)
	}
	return nil
}

func ifaceName(a netip.Addr) string {
	if !a.IsValid() {
		return "(kernel's choice)"
	}
	return a.String()
}

// interfaceIndex finds the interface that carries address a.
func interfaceIndex(a netip.Addr) (int, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return 0, fmt.Errorf("transport: listing interfaces: %w", err)
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok {
				if x, ok := netip.AddrFromSlice(ipn.IP); ok && x.Unmap() == a {
					return ifc.Index, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("transport: no interface has address %v", a)
}

func addrPortToSockaddr(ap netip.AddrPort) unix.Sockaddr {
	a := ap.Addr()
	if a.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		if ifc, err := net.InterfaceByName(z); err == nil {
			sa.ZoneId = uint32(ifc.Index)
		} else if n, err := strconv.Atoi(z); err == nil {
			sa.ZoneId = uint32(n)
		}
	}
	return sa
}

func sockaddrToAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(s.Addr), uint16(s.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(s.Addr), uint16(s.Port))
	}
	return netip.AddrPort{}
}
