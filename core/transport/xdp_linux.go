package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/chunkgroup/chunkgroup/core/recv"
)

var errInvalidConfig = recv.ErrInvalid

// xskRing is one of the socket's single-producer single-consumer rings,
// mapped from the kernel. The reader owns one index of each ring (the
// consumer of RX, the producer of fill) and keeps a private copy of it, so
// the shared index is only written once per batch.
type xskRing struct {
	mem      []byte
	producer *uint32
	consumer *uint32
	flags    *uint32
	descs    unsafe.Pointer
	mask     uint32
	local    uint32 // our index (RX: consumer; fill: producer)
}

func (r *xskRing) rxDesc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(r.descs, uintptr(i&r.mask)*unsafe.Sizeof(unix.XDPDesc{})))
}

func (r *xskRing) fillAddr(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(r.descs, uintptr(i&r.mask)*8))
}

// XDPReader receives the UDP datagrams of its endpoints from one RX queue of
// one interface through an AF_XDP socket. Frames arrive in the UMEM (memory
// outside the Go heap, shared with the kernel); the stream copies each
// payload from there into its chunk (the one copy), and the frames go back
// to the fill ring as soon as the batch has been processed.
type XDPReader struct {
	lc      lifecycle
	fd      int
	file    *os.File
	rc      syscall.RawConn
	iface   string
	ifindex int
	queue   int
	zc      bool
	native  bool
	attach  *xdpAttachment
	final   XDPStats // the kernel's counters, read just before release
	keys    [][]byte // endpoint map keys this reader added
	mcast   int      // socket holding multicast memberships (-1: none)

	umem      []byte
	frameMask uint64
	rx, fill  xskRing
	compMem   []byte
	maxSize   int
	busyPoll  bool
	cpus      []int
	packets   [][]byte

	waitFn func(fd uintptr) bool

	npackets, oversize, malformed atomic.Uint64
}

// NewXDPReader opens an AF_XDP socket on cfg.Interface queue cfg.Queue,
// registers its UMEM and rings, attaches (or shares) the steering XDP
// program and adds cfg.Endpoints to it. It must run in the network
// namespace of the interface (sockets and the attachment stay bound to it
// afterwards, so Run may run anywhere). Errors wrapping ErrXDPUnsupported
// mean AF_XDP cannot work here (kernel, privileges) and say what to grant;
// errors wrapping recv.ErrInvalid are configuration mistakes.
func NewXDPReader(cfg XDPConfig) (*XDPReader, error) {
	if err := checkXDPConfig(&cfg); err != nil {
		return nil, err
	}
	ifc, err := xdpInterface(cfg.Interface)
	if err != nil {
		return nil, err
	}
	r := &XDPReader{fd: -1, mcast: -1, iface: ifc.Name, ifindex: ifc.Index, queue: cfg.Queue,
		maxSize: cfg.MaxSize, busyPoll: cfg.BusyPoll > 0, cpus: append([]int(nil), cfg.Affinity...)}
	ok := false
	defer func() {
		if !ok {
			r.release()
		}
	}()
	r.fd, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.EAFNOSUPPORT):
			return nil, fmt.Errorf("transport: AF_XDP socket: %w: %w (kernel built without CONFIG_XDP_SOCKETS)", ErrXDPUnsupported, err)
		case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
			return nil, fmt.Errorf("transport: AF_XDP socket: %w: %w (grant CAP_NET_RAW, and CAP_NET_ADMIN and CAP_BPF for the XDP program)", ErrXDPUnsupported, err)
		}
		return nil, fmt.Errorf("transport: AF_XDP socket: %w", err)
	}
	frames := cfg.BufferSize / cfg.FrameSize
	for frames&(frames-1) != 0 {
		frames &= frames - 1 // round down to a power of two (ring sizes must be)
	}
	if err := r.setupUMEM(frames, cfg.FrameSize); err != nil {
		return nil, err
	}
	if r.attach, err = acquireXDP(ifc.Index, ifc.Name, cfg.Queue, cfg.Attach); err != nil {
		return nil, err
	}
	r.native = r.attach.native
	if err := r.bind(cfg.ZeroCopy); err != nil {
		return nil, err
	}
	if err := r.attach.xsks.Update(uint32(cfg.Queue), uint32(r.fd), 0); err != nil {
		return nil, fmt.Errorf("transport: adding the AF_XDP socket to the XSKMAP: %w", err)
	}
	for _, ep := range cfg.Endpoints {
		k := endpointKey(uint32(cfg.Queue), ep.Addr().As4(), ep.Port())
		if err := r.attach.endpoints.Update(k, uint32(1), 0); err != nil {
			return nil, fmt.Errorf("transport: adding endpoint %v to the XDP program: %w", ep, err)
		}
		r.keys = append(r.keys, k)
		if ep.Addr().IsMulticast() {
			if err := r.join(ep.Addr()); err != nil {
				return nil, err
			}
		}
	}
	if cfg.BusyPoll > 0 {
		budget := cfg.BusyPollBudget
		if budget <= 0 {
			budget = cfg.BatchSize
		}
		for _, o := range []struct {
			name   string
			opt, v int
		}{{"SO_PREFER_BUSY_POLL", unix.SO_PREFER_BUSY_POLL, 1}, {"SO_BUSY_POLL", unix.SO_BUSY_POLL, cfg.BusyPoll},
			{"SO_BUSY_POLL_BUDGET", unix.SO_BUSY_POLL_BUDGET, budget}} {
			if err := unix.SetsockoptInt(r.fd, unix.SOL_SOCKET, o.opt, o.v); err != nil {
				return nil, fmt.Errorf("transport: busy polling: %s %d: %w (needs CAP_NET_ADMIN above net.core.busy_read)", o.name, o.v, err)
			}
		}
	}
	r.file = os.NewFile(uintptr(r.fd), fmt.Sprintf("xdp:%s:%d", ifc.Name, cfg.Queue))
	r.fd = -1 // the file owns the descriptor now
	if err := r.file.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("transport: AF_XDP socket is not pollable: %w", err)
	}
	if r.rc, err = r.file.SyscallConn(); err != nil {
		return nil, fmt.Errorf("transport: AF_XDP socket: %w", err)
	}
	r.packets = make([][]byte, 0, cfg.BatchSize)
	r.waitFn = r.wait
	r.lc.wake = func() { _ = r.file.SetReadDeadline(time.Unix(1, 0)) }
	r.lc.release = r.release
	mode := "copy"
	if r.zc {
		mode = "zero-copy"
	}
	Logf(LevelInfo, "AF_XDP reader on %s queue %d: %s mode, XDP program in %s mode, %d frames of %d bytes, endpoints %v",
		ifc.Name, cfg.Queue, mode, xdpModeName(r.attach.native), frames, cfg.FrameSize, cfg.Endpoints)
	ok = true
	return r, nil
}

func checkXDPConfig(cfg *XDPConfig) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("transport: %w: "+format, append([]any{errInvalidConfig}, a...)...)
	}
	if cfg.Interface == "" {
		return bad("AF_XDP reader needs an interface")
	}
	if len(cfg.Endpoints) == 0 {
		return bad("AF_XDP reader needs at least one endpoint")
	}
	for _, ep := range cfg.Endpoints {
		if !ep.Addr().Unmap().Is4() {
			return bad("AF_XDP endpoint %v: only IPv4 is supported", ep)
		}
		if ep.Port() == 0 {
			return bad("AF_XDP endpoint %v: port 0 cannot be matched", ep)
		}
	}
	if cfg.Queue < 0 || cfg.Queue >= xdpMaxQueues {
		return bad("AF_XDP queue %d out of range [0, %d)", cfg.Queue, xdpMaxQueues)
	}
	if cfg.FrameSize == 0 {
		cfg.FrameSize = DefaultXDPFrameSize
	}
	if cfg.FrameSize != 2048 && cfg.FrameSize != 4096 {
		return bad("AF_XDP frame size %d: 2048 or 4096", cfg.FrameSize)
	}
	if cfg.BufferSize == 0 {
		cfg.BufferSize = DefaultXDPBufferSize
	}
	if cfg.BufferSize < 64*cfg.FrameSize || cfg.BufferSize > 1<<34 {
		return bad("AF_XDP buffer size %d: at least 64 frames (%d bytes) and at most 16 GiB", cfg.BufferSize, 64*cfg.FrameSize)
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BusyPoll < 0 || cfg.BusyPollBudget < 0 {
		return bad("busy poll %d and budget %d must not be negative", cfg.BusyPoll, cfg.BusyPollBudget)
	}
	if cfg.ZeroCopy < XDPZeroCopyAuto || cfg.ZeroCopy > XDPZeroCopyOff || cfg.Attach < XDPAttachAuto || cfg.Attach > XDPAttachGeneric {
		return bad("unknown zero-copy (%d) or attach (%d) mode", cfg.ZeroCopy, cfg.Attach)
	}
	if cfg.ZeroCopy == XDPZeroCopyOn && cfg.Attach == XDPAttachGeneric {
		return bad("zero-copy needs native XDP, not generic mode")
	}
	return nil
}

// xdpInterface finds the interface by name or by one of its addresses.
func xdpInterface(s string) (*net.Interface, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		idx, err := interfaceIndex(a.Unmap())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errInvalidConfig, err)
		}
		return net.InterfaceByIndex(idx)
	}
	ifc, err := net.InterfaceByName(s)
	if err != nil {
		return nil, fmt.Errorf("transport: %w: interface %q: %w", errInvalidConfig, s, err)
	}
	return ifc, nil
}

func sockoptPtr(fd, opt int, get bool, p unsafe.Pointer, n uintptr) error {
	nr, ln := uintptr(unix.SYS_SETSOCKOPT), n
	var arg5 uintptr = ln
	if get {
		nr = unix.SYS_GETSOCKOPT
		arg5 = uintptr(unsafe.Pointer(&ln))
	}
	if _, _, e := unix.Syscall6(nr, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), arg5, 0); e != 0 {
		return e
	}
	if get && ln != n {
		return fmt.Errorf("getsockopt %d: got %d bytes, want %d (kernel too old)", opt, ln, n)
	}
	return nil
}

// setupUMEM maps and registers the frames, creates and maps the fill,
// completion and RX rings, and puts every frame on the fill ring.
func (r *XDPReader) setupUMEM(frames, frameSize int) error {
	var err error
	r.umem, err = unix.Mmap(-1, 0, frames*frameSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("transport: UMEM of %d bytes: %w", frames*frameSize, err)
	}
	r.frameMask = uint64(frameSize - 1)
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&r.umem[0]))), Len: uint64(len(r.umem)), Size: uint32(frameSize)}
	if err := sockoptPtr(r.fd, unix.XDP_UMEM_REG, false, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EPERM) {
			return fmt.Errorf("transport: registering a UMEM of %d bytes: %w (locked memory: raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK)", len(r.umem), err)
		}
		return fmt.Errorf("transport: registering the UMEM: %w", err)
	}
	// The RX and fill rings hold every frame, so returning a batch of
	// frames never finds the fill ring full. The completion ring is only
	// needed because the kernel insists on one (this socket never sends).
	for _, o := range []struct{ opt, n int }{{unix.XDP_UMEM_FILL_RING, frames}, {unix.XDP_UMEM_COMPLETION_RING, 64}, {unix.XDP_RX_RING, frames}} {
		if err := unix.SetsockoptInt(r.fd, unix.SOL_XDP, o.opt, o.n); err != nil {
			return fmt.Errorf("transport: AF_XDP ring option %d size %d: %w", o.opt, o.n, err)
		}
	}
	var off unix.XDPMmapOffsets
	if err := sockoptPtr(r.fd, unix.XDP_MMAP_OFFSETS, true, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return fmt.Errorf("transport: XDP_MMAP_OFFSETS: %w", err)
	}
	mapRing := func(ring *xskRing, o unix.XDPRingOffset, pgoff int64, n int, descSize uintptr) error {
		mem, err := unix.Mmap(r.fd, pgoff, int(o.Desc)+n*int(descSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return fmt.Errorf("transport: mapping an AF_XDP ring: %w", err)
		}
		ring.mem = mem
		ring.producer = (*uint32)(unsafe.Pointer(&mem[o.Producer]))
		ring.consumer = (*uint32)(unsafe.Pointer(&mem[o.Consumer]))
		ring.flags = (*uint32)(unsafe.Pointer(&mem[o.Flags]))
		ring.descs = unsafe.Pointer(&mem[o.Desc])
		ring.mask = uint32(n - 1)
		return nil
	}
	if err := mapRing(&r.rx, off.Rx, unix.XDP_PGOFF_RX_RING, frames, unsafe.Sizeof(unix.XDPDesc{})); err != nil {
		return err
	}
	if err := mapRing(&r.fill, off.Fr, unix.XDP_UMEM_PGOFF_FILL_RING, frames, 8); err != nil {
		return err
	}
	// The completion ring is mapped only to be unmapped: nothing reads it.
	r.compMem, err = unix.Mmap(r.fd, unix.XDP_UMEM_PGOFF_COMPLETION_RING, int(off.Cr.Desc)+64*8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("transport: mapping the completion ring: %w", err)
	}
	r.rx.local = atomic.LoadUint32(r.rx.consumer)
	r.fill.local = atomic.LoadUint32(r.fill.producer)
	for i := 0; i < frames; i++ {
		*r.fill.fillAddr(r.fill.local) = uint64(i * frameSize)
		r.fill.local++
	}
	atomic.StoreUint32(r.fill.producer, r.fill.local)
	return nil
}

// bind binds the socket to the queue in the requested mode; with
// XDPZeroCopyAuto the kernel tries zero-copy and falls back to copy mode,
// and XDP_OPTIONS says which it chose.
func (r *XDPReader) bind(zc XDPZeroCopy) error {
	flags := uint16(unix.XDP_USE_NEED_WAKEUP)
	switch zc {
	case XDPZeroCopyOn:
		flags |= unix.XDP_ZEROCOPY
	case XDPZeroCopyOff:
		flags |= unix.XDP_COPY
	}
	sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(r.ifindex), QueueID: uint32(r.queue)}
	err := unix.Bind(r.fd, sa)
	// The kernel frees a closed socket's hold on its queue from a work
	// queue, shortly after close returns; this process has no other reader
	// on the queue (acquireXDP checked), so a brief EBUSY is most likely a
	// reader of ours that just closed: wait for it (up to a second).
	for i := 0; i < 100 && errors.Is(err, unix.EBUSY); i++ {
		time.Sleep(10 * time.Millisecond)
		err = unix.Bind(r.fd, sa)
	}
	if err != nil {
		switch {
		case zc == XDPZeroCopyOn && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)):
			return fmt.Errorf("transport: AF_XDP bind to %s queue %d: %w (the driver has no zero-copy support; use copy mode)", r.iface, r.queue, err)
		case errors.Is(err, unix.EINVAL):
			return fmt.Errorf("transport: AF_XDP bind to %s queue %d: %w (does the interface have that many RX queues?)", r.iface, r.queue, err)
		case errors.Is(err, unix.EBUSY):
			return fmt.Errorf("transport: AF_XDP bind to %s queue %d: %w (another AF_XDP socket uses that queue)", r.iface, r.queue, err)
		}
		return fmt.Errorf("transport: AF_XDP bind to %s queue %d: %w", r.iface, r.queue, err)
	}
	if v, err := unix.GetsockoptInt(r.fd, unix.SOL_XDP, unix.XDP_OPTIONS); err == nil {
		r.zc = v&unix.XDP_OPTIONS_ZEROCOPY != 0
	}
	return nil
}

// join makes the interface accept a multicast group's frames (the NIC's
// filter): the membership belongs to a plain UDP socket that receives
// nothing, since the XDP program takes the group's packets first.
func (r *XDPReader) join(group netip.Addr) error {
	if r.mcast < 0 {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("transport: multicast membership socket: %w", err)
		}
		r.mcast = fd
	}
	mreq := &unix.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(r.ifindex)}
	if err := unix.SetsockoptIPMreqn(r.mcast, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
		return fmt.Errorf("transport: joining multicast group %v on %s: %w", group, r.iface, err)
	}
	return nil
}

// release frees everything NewXDPReader set up, in reverse order; it runs
// once (lifecycle), or on a constructor error path.
func (r *XDPReader) release() {
	if r.rc != nil {
		r.final = r.kernelStats()
	}
	if r.attach != nil {
		for _, k := range r.keys {
			_ = r.attach.endpoints.Delete(k)
		}
	}
	if r.file != nil {
		_ = r.file.Close() // also removes the socket from the XSKMAP
	} else if r.fd >= 0 {
		unix.Close(r.fd)
	}
	if r.mcast >= 0 {
		unix.Close(r.mcast)
	}
	if r.attach != nil {
		r.attach.release(r.queue)
		r.attach = nil
	}
	for _, m := range [][]byte{r.rx.mem, r.fill.mem, r.compMem, r.umem} {
		if m != nil {
			_ = unix.Munmap(m)
		}
	}
	r.rx.mem, r.fill.mem, r.compMem, r.umem = nil, nil, nil, nil
}

// ZeroCopy reports whether the socket is bound in zero-copy mode (false:
// copy mode, the kernel copies each frame into the UMEM).
func (r *XDPReader) ZeroCopy() bool { return r.zc }

// NativeXDP reports whether the steering program runs in the driver
// (native mode) rather than in generic (SKB) mode.
func (r *XDPReader) NativeXDP() bool { return r.native }

// Interface returns the interface name and the queue the reader is bound to.
func (r *XDPReader) Interface() (name string, queue int) { return r.iface, r.queue }

// Oversize returns the number of datagrams dropped for exceeding MaxSize.
func (r *XDPReader) Oversize() uint64 { return r.oversize.Load() }

// Stats returns the reader's counters and the kernel's counters of its
// socket (as they were at release once the reader has been released).
func (r *XDPReader) Stats() XDPStats {
	r.lc.mu.Lock()
	var s XDPStats
	if r.lc.released {
		s = r.final
	} else {
		s = r.kernelStats()
	}
	r.lc.mu.Unlock()
	s.Packets, s.Oversize, s.Malformed = r.npackets.Load(), r.oversize.Load(), r.malformed.Load()
	s.ZeroCopy, s.NativeXDP, s.InterfaceIndex, s.Queue = r.zc, r.native, r.ifindex, r.queue
	return s
}

// kernelStats reads XDP_STATISTICS (the socket must be open).
func (r *XDPReader) kernelStats() XDPStats {
	var s XDPStats
	var ks unix.XDPStatistics
	if r.rc == nil {
		return s
	}
	_ = r.rc.Control(func(fd uintptr) {
		if sockoptPtr(int(fd), unix.XDP_STATISTICS, true, unsafe.Pointer(&ks), unsafe.Sizeof(ks)) == nil {
			s.KernelStatsAvailable = true
		}
	})
	s.KernelRxDropped, s.KernelRxInvalidDescs = ks.Rx_dropped, ks.Rx_invalid_descs
	s.KernelRxRingFull, s.KernelFillRingEmpty = ks.Rx_ring_full, ks.Rx_fill_ring_empty_descs
	return s
}

// wait is the RawConn callback run when the RX ring looked empty: true
// when frames are there. Before reporting empty (and so sleeping in the
// netpoller until the socket is readable) it lets the kernel work: a busy
// poll of the driver's queue, or the wakeup a need_wakeup driver asks for
// to refill from the fill ring. It is created once (r.waitFn).
func (r *XDPReader) wait(fd uintptr) bool {
	if atomic.LoadUint32(r.rx.producer) != r.rx.local {
		return true
	}
	if r.busyPoll || atomic.LoadUint32(r.fill.flags)&unix.XDP_RING_NEED_WAKEUP != 0 {
		// recvfrom on an AF_XDP socket busy-polls (SO_BUSY_POLL) and
		// wakes a zero-copy driver; it never returns data itself.
		_, _, _ = unix.Syscall6(unix.SYS_RECVFROM, fd, 0, 0, unix.MSG_DONTWAIT, 0, 0)
		return atomic.LoadUint32(r.rx.producer) != r.rx.local
	}
	return false
}

// Run hands batches of received datagrams to sink until Close, a sink
// refusal or a socket error.
func (r *XDPReader) Run(sink recv.Sink) error {
	end, ok, err := r.lc.beginPinned(r.cpus)
	if !ok {
		return err
	}
	defer end()
	for !r.lc.closed.Load() {
		if atomic.LoadUint32(r.rx.producer) == r.rx.local {
			if err := r.rc.Read(r.waitFn); err != nil {
				if r.lc.closed.Load() {
					return nil
				}
				return fmt.Errorf("transport: AF_XDP receive on %s queue %d: %w", r.iface, r.queue, err)
			}
			continue
		}
		if !r.batch(sink) {
			return nil
		}
	}
	return nil
}

// batch takes up to a batch of frames off the RX ring, hands their UDP
// payloads to sink, then gives the frames back to the fill ring and
// releases the RX entries (two shared-index stores per batch). It returns
// false when the sink refused the batch.
func (r *XDPReader) batch(sink recv.Sink) bool {
	n := atomic.LoadUint32(r.rx.producer) - r.rx.local
	n = min(n, uint32(cap(r.packets)))
	pk := r.packets[:0]
	var oversize, malformed uint64
	for i := uint32(0); i < n; i++ {
		d := r.rx.rxDesc(r.rx.local + i)
		end := d.Addr + uint64(d.Len)
		p, ok := udpPayload(r.umem[d.Addr:end:end])
		switch {
		case !ok:
			malformed++
		case len(p) > r.maxSize:
			oversize++
		default:
			pk = append(pk, p)
		}
	}
	cont := len(pk) == 0 || sink.AddBatch(pk)
	// The payloads have been copied (or dropped): the frames are free.
	for i := uint32(0); i < n; i++ {
		*r.fill.fillAddr(r.fill.local) = r.rx.rxDesc(r.rx.local+i).Addr &^ r.frameMask
		r.fill.local++
	}
	atomic.StoreUint32(r.fill.producer, r.fill.local)
	r.rx.local += n
	atomic.StoreUint32(r.rx.consumer, r.rx.local)
	r.npackets.Add(uint64(len(pk)))
	if oversize != 0 {
		r.oversize.Add(oversize)
	}
	if malformed != 0 {
		r.malformed.Add(malformed)
	}
	return cont
}

// udpPayload returns the UDP payload of an Ethernet/IPv4/UDP frame, cut to
// the UDP length (Ethernet pads short frames to 60 bytes). The UDP
// checksum is not verified: NICs check it, and on veth the sender's
// checksum offload leaves it unfinished by design.
func udpPayload(f []byte) ([]byte, bool) {
	if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return nil, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != 17 {
		return nil, false
	}
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if tot < ihl+8 || tot > len(ip) {
		return nil, false
	}
	udp := ip[ihl:tot]
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		return nil, false
	}
	return udp[8:ulen], true
}

// Close stops Run promptly (from any goroutine, any number of times); the
// socket, rings and UMEM are released, and the XDP program detached if this
// was its last reader, once Run has returned.
func (r *XDPReader) Close() error {
	r.lc.close()
	return nil
}
