package transport

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func newUDP(t testing.TB, mod func(*UDPConfig)) *UDPReader {
	t.Helper()
	cfg := DefaultUDPConfig()
	cfg.BindHost = "127.0.0.1"
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewUDPReader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func sendUDP(t testing.TB, to netip.AddrPort, packets [][]byte) {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range packets {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
}

func makePackets(n, size int) [][]byte {
	ps := make([][]byte, n)
	for i := range ps {
		ps[i] = makePacket(uint64(i), size+i%13)
	}
	return ps
}

func checkExact(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("packet %d: got %d bytes, want %d bytes (or contents differ)", i, len(got[i]), len(want[i]))
		}
	}
}

func TestUDPUnicast(t *testing.T) {
	r := newUDP(t, nil)
	if a := r.LocalAddr(); a.Addr() != loopback || a.Port() == 0 {
		t.Fatalf("LocalAddr %v", a)
	}
	if r.GrantedBufferSize() <= 0 {
		t.Fatalf("granted buffer %d", r.GrantedBufferSize())
	}
	t.Logf("granted socket buffer %d bytes", r.GrantedBufferSize())
	want := makePackets(300, 1000)
	// Queue everything before Run so that recvmmsg finds full batches.
	sendUDP(t, r.LocalAddr(), want)
	s := newSink(len(want))
	s.onBatch = func(total int) {
		if total >= len(want) {
			r.Close() // from inside AddBatch, on Run's goroutine
		}
	}
	wait := startRun(t, r, s)
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, batches := s.snapshot()
	checkExact(t, got, want)
	big := 0
	for _, b := range batches {
		big = max(big, b)
	}
	if big < 2 {
		t.Fatalf("no batch larger than 1: %v", batches)
	}
	t.Logf("batches: %v", batches)
}

func TestUDPOversize(t *testing.T) {
	r := newUDP(t, func(c *UDPConfig) { c.MaxSize = 200 })
	small := makePacket(1, 100)
	sendUDP(t, r.LocalAddr(), [][]byte{makePacket(0, 500), small, makePacket(2, 160), makePacket(3, 161)})
	s := newSink(2)
	wait := startRun(t, r, s)
	s.waitReached(t, 5*time.Second)
	r.Close()
	if err := wait(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, _ := s.snapshot()
	checkExact(t, got, [][]byte{small, makePacket(2, 160)})
	if r.Oversize() != 2 {
		t.Fatalf("Oversize %d, want 2", r.Oversize())
	}
}

func TestUDPAdoptFD(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: loopback.As4()}); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	port := sa.(*unix.SockaddrInet4).Port
	r := newUDP(t, func(c *UDPConfig) { c.FD = fd })
	if r.LocalAddr() != netip.AddrPortFrom(loopback, uint16(port)) {
		t.Fatalf("LocalAddr %v, want port %d", r.LocalAddr(), port)
	}
	want := makePackets(10, 64)
	s := newSink(len(want))
	wait := startRun(t, r, s)
	sendUDP(t, r.LocalAddr(), want)
	s.waitReached(t, 5*time.Second)
	r.Close()
	if err := wait(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, _ := s.snapshot()
	checkExact(t, got, want)
	// The caller's descriptor is still open and usable.
	if _, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		t.Fatalf("caller's fd closed by the reader: %v", err)
	}
	// A descriptor that is not a UDP socket is refused.
	if _, err := NewUDPReader(UDPConfig{FD: 1 << 20}); err == nil {
		t.Fatal("bad fd accepted")
	}
}

func TestUDPAddressInUse(t *testing.T) {
	r := newUDP(t, nil)
	cfg := DefaultUDPConfig()
	cfg.BindHost = "127.0.0.1"
	cfg.Port = int(r.LocalAddr().Port())
	r2, err := NewUDPReader(cfg)
	if err == nil {
		r2.Close()
		t.Fatal("second bind to the same port succeeded")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("want EADDRINUSE, got %v", err)
	}
	t.Logf("error text: %v", err)
}

func TestUDPCloseWhileBlocked(t *testing.T) {
	r := newUDP(t, nil)
	s := newSink(0)
	wait := startRun(t, r, s)
	time.Sleep(50 * time.Millisecond) // let Run fall asleep in ppoll
	start := time.Now()
	r.Close()
	if err := wait(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("Run returned %v after Close", time.Since(start))
	r.Close() // again: harmless
	if err := r.Run(s); err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
}

func TestUDPAffinity(t *testing.T) {
	r := newUDP(t, func(c *UDPConfig) { c.Affinity = []int{0} })
	want := makePackets(5, 10)
	sendUDP(t, r.LocalAddr(), want)
	s := newSink(len(want))
	wait := startRun(t, r, s)
	s.waitReached(t, 5*time.Second)
	r.Close()
	if err := wait(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, _ := s.snapshot()
	checkExact(t, got, want)
}

func TestUDPMulticast(t *testing.T) {
	group := netip.MustParseAddr("239.255.71.48")
	cfg := DefaultUDPConfig()
	cfg.MulticastGroup = group.String()
	cfg.InterfaceAddress = "127.0.0.1"
	r, err := NewUDPReader(cfg)
	if err != nil {
		t.Skipf("kernel refused to join %v on the loopback interface: %v", group, err)
	}
	defer r.Close()
	if r.LocalAddr().Addr() != group {
		t.Fatalf("bound to %v, want the group", r.LocalAddr())
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInet4Addr(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, loopback.As4()); err != nil {
		t.Skipf("cannot send multicast out of lo (IP_MULTICAST_IF): %v", err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 1)
	want := makePackets(20, 100)
	to := &unix.SockaddrInet4{Addr: group.As4(), Port: int(r.LocalAddr().Port())}
	for _, p := range want {
		if err := unix.Sendto(fd, p, 0, to); err != nil {
			t.Skipf("kernel refused multicast send on lo (no multicast route?): %v", err)
		}
	}
	s := newSink(len(want))
	wait := startRun(t, r, s)
	s.waitReached(t, 5*time.Second)
	r.Close()
	if err := wait(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, _ := s.snapshot()
	checkExact(t, got, want)
}

// sendSegmented sends payload as datagrams of seg bytes in one sendto with
// UDP_SEGMENT (generic send offload); it reports false if unsupported.
func sendSegmented(t testing.TB, fd int, to netip.AddrPort, seg int, payload []byte) bool {
	t.Helper()
	if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, seg); err != nil {
		return false
	}
	if err := unix.Sendto(fd, payload, 0, &unix.SockaddrInet4{Addr: to.Addr().As4(), Port: int(to.Port())}); err != nil {
		if errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			return false
		}
		t.Fatal(err)
	}
	return true
}

func TestUDPGRO(t *testing.T) {
	r := newUDP(t, func(c *UDPConfig) { c.GRO = true })
	if !r.GRO() {
		t.Skip("kernel refused UDP_GRO on the socket")
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// 10 packets of 1000 bytes each (the last one shorter: GSO allows a
	// short final segment) in one send.
	const seg = 1000
	var want [][]byte
	var buf []byte
	for i := range 10 {
		n := seg - 40
		if i == 9 {
			n = 123
		}
		p := makePacket(uint64(i), n)
		want = append(want, p)
		buf = append(buf, p...)
	}
	if !sendSegmented(t, fd, r.LocalAddr(), seg, buf) {
		t.Skip("kernel refused UDP_SEGMENT on the sender")
	}
	// Drive the receive steps directly to see how many datagrams each
	// recvmmsg returned; Close (after a bound) turns a hang into a failure.
	defer time.AfterFunc(5*time.Second, func() { r.Close() }).Stop()
	s := newSink(0)
	var receives []int
	for n := 0; n < len(want); {
		if cont, err := r.step(s); !cont || err != nil {
			t.Fatalf("step: %v %v", cont, err)
		}
		receives = append(receives, r.nrecv)
		got, _ := s.snapshot()
		n = len(got)
	}
	got, _ := s.snapshot()
	checkExact(t, got, want)
	t.Logf("datagrams per recvmmsg: %v", receives)
	if len(receives) != 1 || receives[0] != 1 {
		t.Skipf("kernel did not coalesce the segments into one receive (%v): splitting untested", receives)
	}
}

type noopSink struct{ n int }

func (s *noopSink) AddBatch(p [][]byte) bool { s.n += len(p); return true }

// TestUDPReceiveNoAllocs checks that one receive step (recvmmsg, the wait
// when the socket is empty, splitting, AddBatch) allocates nothing.
func TestUDPReceiveNoAllocs(t *testing.T) {
	for _, gro := range []bool{false, true} {
		r := newUDP(t, func(c *UDPConfig) { c.BatchSize = 4; c.GRO = gro })
		const runs = 100
		sendUDP(t, r.LocalAddr(), makePackets(4*(runs+1), 200))
		s := &noopSink{}
		timer := time.AfterFunc(5*time.Second, func() { r.Close() })
		allocs := testing.AllocsPerRun(runs, func() {
			if cont, err := r.step(s); !cont || err != nil {
				t.Fatalf("step: %v %v", cont, err)
			}
		})
		if allocs != 0 {
			t.Fatalf("gro=%v: %v allocations per receive step, want 0", gro, allocs)
		}
		if s.n != 4*(runs+1) {
			t.Fatalf("gro=%v: received %d packets, want %d", gro, s.n, 4*(runs+1))
		}
		timer.Stop()
		r.Close()
	}
}
