// Package send turns heaps into packets and puts them on the wire: UDP
// (unicast and multicast, sendmmsg batches, UDP_SEGMENT send offload, a rate
// limit), TCP (back-to-back packets), and pcap files. It also makes the
// synthetic heaps of the benchmark scenarios (Synth) and drives a whole send
// run (Run), which is what cmd/chunkgroup-send uses.
package send

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/spead"
	"golang.org/x/sys/unix"
)

// DefaultBatchSize is the number of packets per sendmmsg call when
// UDPConfig.BatchSize is 0.
const DefaultBatchSize = 64

// Kernel limits for one UDP_SEGMENT send: at most udpMaxSegments segments
// (64 on older kernels, 128 on newer) and one IP datagram's worth of UDP
// payload in total (65507 for IPv4; kept a little lower so IPv6 fits too).
const (
	udpMaxSegments = 64
	gsoMaxBytes    = 65000
)

// UDPConfig configures a UDPSender.
type UDPConfig struct {
	// Destinations are "host:port" endpoints, unicast or multicast. One
	// socket is opened per destination.
	Destinations []string
	// InterfaceAddress selects the outgoing interface for multicast, as an
	// IP address of that interface or an interface name. Empty: the
	// kernel's choice (the route to the group).
	InterfaceAddress string
	// TTL is the IP TTL / hop limit (multicast and unicast); 0 keeps the
	// kernel default (1 for multicast).
	TTL int
	// Rate is the send rate in bytes per second counted on the wire as UDP
	// payload (SPEAD header + payload), over all destinations together.
	// 0 means unlimited.
	Rate float64
	// BatchSize is the number of packets queued per destination before
	// they are sent with one sendmmsg; 0 means DefaultBatchSize.
	BatchSize int
	// GSO asks for UDP generic segmentation offload (UDP_SEGMENT): runs of
	// equal-sized packets go to the kernel as one message each. If the
	// kernel or device refuses, the sender falls back to one message per
	// packet without reporting an error.
	GSO bool
	// BufferSize is the socket send buffer (SO_SNDBUF) in bytes; 0 keeps
	// the default. SO_SNDBUFFORCE is tried first so a privileged sender is
	// not capped by wmem_max.
	BufferSize int
}

// Stats counts what a sender has sent.
type Stats struct {
	Heaps   uint64 // heaps queued
	Packets uint64 // packets (datagrams) handed to the kernel
	Bytes   uint64 // SPEAD bytes (headers + payload) handed to the kernel
	Calls   uint64 // send system calls (UDP: sendmmsg calls)
	Retries uint64 // sends retried after EAGAIN/ENOBUFS/EINTR
	Sleeps  uint64 // times the rate limiter slept
	GSO     bool   // UDP_SEGMENT in use (UDP only)
}

// udpDest is one destination: its socket, its address in kernel form, and
// the batch of packets queued for it. All slices are allocated up front (or
// grown during warm-up) and reused, so sending a heap does not allocate.
type udpDest struct {
	fd      int
	addr    netip.AddrPort
	sa4     unix.RawSockaddrInet4
	sa6     unix.RawSockaddrInet6
	name    *byte
	namelen uint32

	arena []byte // queued packets, back to back
	sizes []int  // size of each queued packet, in arena order
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	ctrl  []byte // one UDP_SEGMENT control message per msgs entry
	mpkts []int  // packets carried by each msgs entry
}

// UDPSender sends heaps as UDP datagrams to one or more destinations. It is
// not safe for concurrent use.
type UDPSender struct {
	enc     *spead.Encoder
	dests   []udpDest
	batch   int
	gso     bool
	lim     *RateLimiter
	stats   Stats
	sndbuf  int
	curDest *udpDest
	pktFn   func([]byte) error // s.queuePacket, bound once so SendHeap does not allocate
	closed  bool
}

// NewUDPSender opens one UDP socket per destination. Packets are cut by enc.
func NewUDPSender(cfg UDPConfig, enc *spead.Encoder) (*UDPSender, error) {
	if enc == nil {
		return nil, errors.New("send: nil encoder")
	}
	if len(cfg.Destinations) == 0 {
		return nil, errors.New("send: no destinations")
	}
	if cfg.BatchSize < 0 || cfg.BufferSize < 0 || cfg.TTL < 0 || cfg.TTL > 255 || cfg.Rate < 0 {
		return nil, fmt.Errorf("send: invalid UDP config (batch %d, buffer %d, ttl %d, rate %g)",
			cfg.BatchSize, cfg.BufferSize, cfg.TTL, cfg.Rate)
	}
	s := &UDPSender{
		enc:   enc,
		batch: cfg.BatchSize,
		gso:   cfg.GSO,
		lim:   NewRateLimiter(cfg.Rate),
	}
	if s.batch == 0 {
		s.batch = DefaultBatchSize
	}
	s.pktFn = s.queuePacket
	ecfg := enc.Config()
	pktGuess := ecfg.MaxPacketSize
	if ecfg.PacketPayload > 0 {
		pktGuess = ecfg.PacketPayload + 128 // header + a few item pointers
	}
	s.dests = make([]udpDest, len(cfg.Destinations))
	for i := range s.dests {
		s.dests[i].fd = -1
	}
	for i, ds := range cfg.Destinations {
		d := &s.dests[i]
		ap, err := resolveUDP(ds)
		if err != nil {
			s.Close()
			return nil, err
		}
		if err := d.open(ap, &cfg); err != nil {
			s.Close()
			return nil, fmt.Errorf("send: destination %s: %w", ds, err)
		}
		if i == 0 && cfg.BufferSize > 0 {
			s.sndbuf, _ = unix.GetsockoptInt(d.fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
		}
		d.arena = make([]byte, 0, s.batch*pktGuess)
		d.sizes = make([]int, 0, s.batch)
		d.msgs = make([]unix.Mmsghdr, s.batch)
		d.iovs = make([]unix.Iovec, s.batch)
		d.mpkts = make([]int, s.batch)
		d.ctrl = make([]byte, s.batch*unix.CmsgSpace(2))
		for j := range d.msgs {
			h := &d.msgs[j].Hdr
			h.Name = d.name
			h.Namelen = d.namelen
			h.Iov = &d.iovs[j]
			h.SetIovlen(1)
			// The UDP_SEGMENT header is written once; only its value
			// changes from batch to batch.
			c := (*unix.Cmsghdr)(unsafe.Pointer(&d.ctrl[j*unix.CmsgSpace(2)]))
			c.Level = unix.SOL_UDP
			c.Type = unix.UDP_SEGMENT
			c.SetLen(unix.CmsgLen(2))
		}
	}
	return s, nil
}

// resolveUDP turns "host:port" into an address, resolving names.
func resolveUDP(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	ua, err := net.ResolveUDPAddr("udp", s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("send: destination %q: %w", s, err)
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// open creates the (unconnected) socket for d and applies the options. The
// socket is not connected so that an ICMP port unreachable from a receiver
// that is not up yet does not turn into ECONNREFUSED on later sends.
func (d *udpDest) open(ap netip.AddrPort, cfg *UDPConfig) error {
	d.addr = ap
	a := ap.Addr()
	family := unix.AF_INET
	if a.Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	d.fd = fd
	port := ap.Port()
	if a.Is4() {
		d.sa4.Family = unix.AF_INET
		d.sa4.Addr = a.As4()
		p := (*[2]byte)(unsafe.Pointer(&d.sa4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		d.name = (*byte)(unsafe.Pointer(&d.sa4))
		d.namelen = unix.SizeofSockaddrInet4
	} else {
		d.sa6.Family = unix.AF_INET6
		d.sa6.Addr = a.As16()
		p := (*[2]byte)(unsafe.Pointer(&d.sa6.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		if z := a.Zone(); z != "" {
			if ifi, err := net.InterfaceByName(z); err == nil {
				d.sa6.Scope_id = uint32(ifi.Index)
			}
		}
		d.name = (*byte)(unsafe.Pointer(&d.sa6))
		d.namelen = unix.SizeofSockaddrInet6
	}
	if cfg.BufferSize > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, cfg.BufferSize); err != nil {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, cfg.BufferSize); err != nil {
				return fmt.Errorf("SO_SNDBUF: %w", err)
			}
		}
	}
	if a.IsMulticast() {
		return d.setMulticast(cfg)
	}
	if cfg.TTL > 0 {
		if a.Is4() {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, cfg.TTL)
		} else {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, cfg.TTL)
		}
		if err != nil {
			return fmt.Errorf("TTL: %w", err)
		}
	}
	return nil
}

func (d *udpDest) setMulticast(cfg *UDPConfig) error {
	fd, v4 := d.fd, d.addr.Addr().Is4()
	if cfg.TTL > 0 {
		var err error
		if v4 {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, cfg.TTL)
		} else {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, cfg.TTL)
		}
		if err != nil {
			return fmt.Errorf("multicast TTL: %w", err)
		}
	}
	if cfg.InterfaceAddress == "" {
		return nil
	}
	ifAddr, ifIndex, err := lookupInterface(cfg.InterfaceAddress, v4)
	if err != nil {
		return err
	}
	if v4 {
		mreq := &unix.IPMreqn{Ifindex: int32(ifIndex)}
		if ifAddr.IsValid() {
			mreq.Address = ifAddr.As4()
		}
		err = unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, mreq)
	} else {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifIndex)
	}
	if err != nil {
		return fmt.Errorf("multicast interface %s: %w", cfg.InterfaceAddress, err)
	}
	return nil
}

// lookupInterface resolves an interface given by address or name into the
// address to use (IPv4) and its index.
func lookupInterface(s string, v4 bool) (netip.Addr, int, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("interfaces: %w", err)
	}
	want, perr := netip.ParseAddr(s)
	for _, ifi := range ifs {
		if perr != nil {
			if ifi.Name == s {
				return netip.Addr{}, ifi.Index, nil
			}
			continue
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if pfx, err := netip.ParsePrefix(a.String()); err == nil && pfx.Addr().Unmap() == want.Unmap() {
				return want.Unmap(), ifi.Index, nil
			}
		}
	}
	if perr == nil && v4 && want.Is4() {
		// Not found locally; let the kernel decide whether it is usable.
		return want, 0, nil
	}
	return netip.Addr{}, 0, fmt.Errorf("send: no interface %q", s)
}

// NumDestinations returns the number of destinations.
func (s *UDPSender) NumDestinations() int { return len(s.dests) }

// Stats returns the counters so far. Packets and bytes are counted when
// handed to the kernel, so call Flush first for a final figure.
func (s *UDPSender) Stats() Stats {
	st := s.stats
	st.GSO = s.gso
	st.Sleeps = s.lim.Sleeps()
	return st
}

// SendBufferSize returns the SO_SNDBUF the kernel granted when
// UDPConfig.BufferSize was set (the kernel reports double the usable
// size), else 0.
func (s *UDPSender) SendBufferSize() int { return s.sndbuf }

// SendHeap queues the packets of h for destination dest, sending the
// destination's batch with sendmmsg whenever it is full. Packets still
// queued when SendHeap returns go out with a later call or Flush. When a
// send fails (other than EAGAIN/ENOBUFS/EINTR, which are retried), the
// error is returned and the rest of that batch is discarded.
func (s *UDPSender) SendHeap(h *spead.Heap, dest int) error {
	if s.closed {
		return net.ErrClosed
	}
	if dest < 0 || dest >= len(s.dests) {
		return fmt.Errorf("send: destination index %d out of range [0,%d)", dest, len(s.dests))
	}
	d := &s.dests[dest]
	n := s.enc.NumPackets(h)
	if n == 0 {
		// Let the encoder say what is wrong with the heap.
		_, err := s.enc.AppendHeap(nil, h)
		if err == nil {
			err = errors.New("send: heap encodes to no packets")
		}
		return err
	}
	if n > s.batch {
		// More packets than a batch: copy them in one by one, sending
		// whenever the batch fills.
		s.curDest = d
		err := s.enc.Packets(h, s.pktFn)
		s.curDest = nil
		if err == nil {
			s.stats.Heaps++
		}
		return err
	}
	if len(d.sizes)+n > s.batch {
		if err := s.flushDest(d); err != nil {
			return err
		}
	}
	start, nsizes := len(d.arena), len(d.sizes)
	out, err := s.enc.AppendHeap(d.arena, h)
	if err != nil {
		return err
	}
	// If the arena had to grow (warm-up only), out is the new arena with
	// the earlier packets copied over, so their offsets still hold.
	d.arena = out
	for p := start; p < len(out); {
		size, err := spead.Length(out[p:])
		if err != nil || size <= 0 || p+size > len(out) {
			d.arena = out[:start]
			d.sizes = d.sizes[:nsizes]
			return fmt.Errorf("send: encoder produced an unparseable packet: %v", err)
		}
		d.sizes = append(d.sizes, size)
		p += size
	}
	s.stats.Heaps++
	if len(d.sizes) >= s.batch {
		return s.flushDest(d)
	}
	return nil
}

// queuePacket copies one packet from the encoder's scratch into the batch
// of s.curDest.
func (s *UDPSender) queuePacket(pkt []byte) error {
	d := s.curDest
	if len(d.sizes) >= s.batch {
		if err := s.flushDest(d); err != nil {
			return err
		}
	}
	d.arena = append(d.arena, pkt...)
	d.sizes = append(d.sizes, len(pkt))
	if len(d.sizes) >= s.batch {
		return s.flushDest(d)
	}
	return nil
}

// SendHeapBySubstream queues h for destination h.Cnt % NumDestinations(),
// which spreads consecutive heaps over the destinations the way a group of
// streams expects them (heap i to stream i % N).
func (s *UDPSender) SendHeapBySubstream(h *spead.Heap) error {
	return s.SendHeap(h, int(h.Cnt%uint64(len(s.dests))))
}

// Flush sends every queued packet.
func (s *UDPSender) Flush() error {
	if s.closed {
		return net.ErrClosed
	}
	var first error
	for i := range s.dests {
		if err := s.flushDest(&s.dests[i]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Close flushes queued packets and closes the sockets.
func (s *UDPSender) Close() error {
	if s.closed {
		return nil
	}
	err := s.Flush()
	s.closed = true
	for i := range s.dests {
		if s.dests[i].fd >= 0 {
			if cerr := unix.Close(s.dests[i].fd); cerr != nil && err == nil {
				err = cerr
			}
			s.dests[i].fd = -1
		}
	}
	return err
}

// buildMsgs fills d.msgs for the queued packets from packet index first on
// and returns the number of messages. With gso, a run of packets of equal
// size (the last one may be shorter) becomes one message with a
// UDP_SEGMENT control message; this relies on the packets lying back to
// back in the arena.
func (d *udpDest) buildMsgs(first int, gso bool) int {
	off := 0
	for _, sz := range d.sizes[:first] {
		off += sz
	}
	cs := unix.CmsgSpace(2)
	m := 0
	for i := first; i < len(d.sizes); m++ {
		seg := d.sizes[i]
		total, n := seg, 1
		if gso {
			for i+n < len(d.sizes) && n < udpMaxSegments {
				next := d.sizes[i+n]
				if next > seg || total+next > gsoMaxBytes {
					break
				}
				total += next
				n++
				if next < seg {
					break // a shorter segment can only end a run
				}
			}
		}
		d.iovs[m].Base = &d.arena[off]
		d.iovs[m].SetLen(total)
		h := &d.msgs[m].Hdr
		if n > 1 {
			c := d.ctrl[m*cs:]
			*(*uint16)(unsafe.Pointer(&c[unix.CmsgLen(0)])) = uint16(seg)
			h.Control = &c[0]
			h.SetControllen(cs)
		} else {
			h.Control = nil
			h.SetControllen(0)
		}
		d.mpkts[m] = n
		off += total
		i += n
	}
	return m
}

// flushDest sends d's queued packets, rate limited, and empties the batch.
func (s *UDPSender) flushDest(d *udpDest) error {
	if len(d.sizes) == 0 {
		return nil
	}
	defer func() {
		d.arena = d.arena[:0]
		d.sizes = d.sizes[:0]
	}()
	s.lim.Wait(len(d.arena))
	first := 0 // first packet not yet sent
	nmsg := d.buildMsgs(0, s.gso)
	m := 0 // first message not yet sent
	spins := 0
	for m < nmsg {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(d.fd),
			uintptr(unsafe.Pointer(&d.msgs[m])), uintptr(nmsg-m), 0, 0, 0)
		s.stats.Calls++
		if errno != 0 {
			switch errno {
			case unix.EINTR:
				s.stats.Retries++
				continue
			case unix.EAGAIN, unix.ENOBUFS:
				// The queue is momentarily full (loopback under load):
				// give the receiver a chance to drain it and retry,
				// rather than dropping the batch.
				s.stats.Retries++
				spins++
				if spins < 8 {
					runtime.Gosched()
				} else {
					time.Sleep(50 * time.Microsecond)
				}
				continue
			}
			if s.gso && d.msgs[m].Hdr.Controllen != 0 && gsoRefused(errno) {
				// The kernel or device cannot segment: fall back to
				// one message per packet for good.
				s.gso = false
				nmsg = d.buildMsgs(first, false)
				m = 0
				continue
			}
			return fmt.Errorf("send: sendmmsg to %s: %w", d.addr, errno)
		}
		spins = 0
		for _, mm := range d.msgs[m : m+int(r)] {
			s.stats.Bytes += uint64(mm.Hdr.Iov.Len)
		}
		for k := m; k < m+int(r); k++ {
			s.stats.Packets += uint64(d.mpkts[k])
			first += d.mpkts[k]
		}
		m += int(r)
	}
	runtime.KeepAlive(d)
	return nil
}

// gsoRefused reports whether errno from a UDP_SEGMENT send means the
// offload itself is unavailable (old kernel, device without checksum
// offload, segment larger than the MTU allows).
func gsoRefused(errno unix.Errno) bool {
	switch errno {
	case unix.EINVAL, unix.EIO, unix.EOPNOTSUPP, unix.ENOPROTOOPT, unix.EMSGSIZE:
		return true
	}
	return false
}
