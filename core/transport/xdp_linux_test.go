package transport_test

// AF_XDP reader end to end: the project's sender in namespace A, the
// reader on the veth end in namespace B, exact chunks and statistics.
//
// veth notes (found while writing these tests): the receiving end runs
// the XDP program in native mode (veth has a native hook, enabled by
// attaching a program; the peer needs no program for traffic that the
// peer's own stack transmits), sockets bind in copy mode (veth has no
// zero-copy), and the UDP checksum of locally sent datagrams is left
// unfinished by checksum offload, which the reader does not verify.
// Datagrams larger than the MTU arrive as IP fragments, which the program
// passes to the stack, so the tests keep packets within 1500 bytes.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/send"
	"github.com/chunkgroup/chunkgroup/core/spead"
	"github.com/chunkgroup/chunkgroup/core/transport"
)

const (
	xdpHeapSize      = 4096
	xdpPacketPayload = 1024 // 1064-byte datagrams: well inside the MTU
	xdpHeapsPerChunk = 8
	xdpChunks        = 12
)

// newXDPReader makes a reader in namespace ns, skipping the test with the
// reader's own message when AF_XDP, BPF or a privilege is missing.
func newXDPReader(t *testing.T, ns string, cfg transport.XDPConfig) *transport.XDPReader {
	t.Helper()
	var r *transport.XDPReader
	err := inNetnsErr(ns, func() (err error) {
		r, err = transport.NewXDPReader(cfg)
		return err
	})
	if errors.Is(err, transport.ErrXDPUnsupported) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// xdpGroup is the counter-placed ring group of these tests.
type xdpGroup struct{ *counterGroup }

// newXDPGroup is a LOSSLESS ring group of n members placing heap cnt at
// chunk cnt / xdpHeapsPerChunk, its consumer already running.
func newXDPGroup(t *testing.T, n int) *xdpGroup {
	t.Helper()
	xg := &xdpGroup{newCounterGroup(t, recv.Lossless, 4, n, xdpHeapsPerChunk, xdpHeapSize)}
	go xg.consume()
	return xg
}

// check waits for the data ring to stop (every member got its stop heap)
// and compares every chunk byte with the sender's pattern.
func (xg *xdpGroup) check(t *testing.T) { xg.checkChunks(t, xdpChunks) }

func xdpScenario() send.Scenario {
	return send.Scenario{HeapPayload: xdpHeapSize, PacketPayload: xdpPacketPayload, HeapsPerChunk: xdpHeapsPerChunk}
}

// newSender opens the project's UDP sender in namespace ns.
func newSender(t *testing.T, ns string, dests []string, rate float64) *send.UDPSender {
	t.Helper()
	enc, err := spead.NewEncoder(xdpScenario().EncoderConfig())
	if err != nil {
		t.Fatal(err)
	}
	var s *send.UDPSender
	inNetns(t, ns, func() (err error) {
		s, err = send.NewUDPSender(send.UDPConfig{Destinations: dests, Rate: rate}, enc)
		return err
	})
	return s
}

// sendHeaps sends heaps 0..heaps-1 (heap i to destination i % N) and a stop
// heap to every destination.
func sendHeaps(t *testing.T, target send.Target, heaps int) {
	t.Helper()
	syn, err := send.NewSynth(xdpScenario().SynthConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send.Run(context.Background(), target, syn, send.RunConfig{Heaps: uint64(heaps), Stop: true}); err != nil {
		t.Fatal(err)
	}
}

// udpListen binds a plain UDP socket in namespace ns.
func udpListen(t *testing.T, ns string, addr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	inNetns(t, ns, func() error {
		a, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			return err
		}
		c, err = net.ListenUDP("udp4", a)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// expectDatagram reads one datagram from c and compares it with want.
func expectDatagram(t *testing.T, c *net.UDPConn, want string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("plain UDP socket on %v: %v", c.LocalAddr(), err)
	}
	if string(buf[:n]) != want {
		t.Fatalf("plain UDP socket got %q, want %q", buf[:n], want)
	}
}

// sendDatagram sends one datagram from namespace ns.
func sendDatagram(t *testing.T, ns, to, msg string) {
	t.Helper()
	inNetns(t, ns, func() error {
		c, err := net.Dial("udp4", to)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte(msg))
		return err
	})
}

// One reader on a one-queue veth: exact chunks and statistics; other
// traffic (UDP to another port, TCP) still reaches the kernel stack while
// the program is attached; after Stop the program is gone, so the reader's
// own port reaches the stack too.
func TestXDPReaderExact(t *testing.T) {
	p := newVethPair(t, 1)
	const port = 7148
	xg := newXDPGroup(t, 1)
	cfg := transport.DefaultXDPConfig()
	cfg.Interface = p.ifB
	cfg.Endpoints = []netip.AddrPort{netip.AddrPortFrom(p.addrB, port)}
	r := newXDPReader(t, p.nsB, cfg)
	t.Logf("AF_XDP on veth: zero-copy %v, native XDP %v", r.ZeroCopy(), r.NativeXDP())
	if err := xg.members[0].AddReader(r); err != nil {
		t.Fatal(err)
	}

	other := udpListen(t, p.nsB, p.addrB.String()+":7149")
	sendDatagram(t, p.nsA, p.addrB.String()+":7149", "to the kernel stack")
	expectDatagram(t, other, "to the kernel stack")
	var ln net.Listener
	inNetns(t, p.nsB, func() (err error) { ln, err = net.Listen("tcp4", p.addrB.String()+":7150"); return err })
	defer ln.Close()
	inNetns(t, p.nsA, func() error {
		c, err := net.DialTimeout("tcp4", p.addrB.String()+":7150", 5*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})

	s := newSender(t, p.nsA, []string{fmt.Sprintf("%v:%d", p.addrB, port)}, 25e6)
	sendHeaps(t, s, xdpChunks*xdpHeapsPerChunk)
	s.Close()
	xg.check(t)
	st := xg.members[0].Stats().Map()
	heaps := uint64(xdpChunks * xdpHeapsPerChunk)
	wantPackets := heaps*xdpHeapSize/xdpPacketPayload + 1 // + the stop heap
	if st["packets"] != wantPackets || st["heaps"] != heaps || st["too_old_heaps"] != 0 ||
		st["malformed_packets"] != 0 || st["incomplete_heaps_evicted"] != 0 || st["rejected_heaps"] != 0 {
		t.Errorf("stream stats %v, want %d packets and %d heaps", st, wantPackets, heaps)
	}
	xs := r.Stats()
	if xs.Packets != wantPackets || xs.Oversize != 0 || xs.Malformed != 0 {
		t.Errorf("reader stats %+v, want %d packets", xs, wantPackets)
	}
	if !xs.KernelStatsAvailable || xs.KernelRxDropped != 0 || xs.KernelRxRingFull != 0 || xs.KernelRxInvalidDescs != 0 {
		t.Errorf("kernel socket stats %+v", xs)
	}

	xg.g.Stop()
	// Detached: the reader's port now reaches a plain socket.
	mine := udpListen(t, p.nsB, fmt.Sprintf("%v:%d", p.addrB, port))
	sendDatagram(t, p.nsA, fmt.Sprintf("%v:%d", p.addrB, port), "after stop")
	expectDatagram(t, mine, "after stop")
}

// A group stopped while the sender floods it returns within a bound, and
// the queue can be used again at once (socket and program released).
func TestXDPStopWhileTrafficFlows(t *testing.T) {
	p := newVethPair(t, 1)
	const port = 7148
	xg := newXDPGroup(t, 1)
	cfg := transport.DefaultXDPConfig()
	cfg.Interface = p.ifB
	cfg.Endpoints = []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), port)}
	r := newXDPReader(t, p.nsB, cfg)
	if err := xg.members[0].AddReader(r); err != nil {
		t.Fatal(err)
	}
	s := newSender(t, p.nsA, []string{fmt.Sprintf("%v:%d", p.addrB, port)}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		syn, _ := send.NewSynth(xdpScenario().SynthConfig())
		_, _ = send.Run(ctx, s, syn, send.RunConfig{})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v, _ := xg.members[0].Stats().Get("packets"); v > 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no traffic reached the AF_XDP reader within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { xg.g.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return within 5 s while traffic flowed")
	}
	cancel()
	<-sent
	s.Close()
	again := newXDPReader(t, p.nsB, cfg)
	again.Close()
	again.Run(nil) // returns at once after Close, then releases
}

// Two members, one reader per RX queue of a two-queue veth. A veth end
// delivers a packet on the RX queue matching the TX queue the peer chose;
// with XPS mapping CPU k to TX queue k in namespace A, a sender pinned to
// CPU k feeds queue k. Member k receives heaps k, k+2, ... on its own port;
// together they fill every chunk.
func TestXDPGroupReaderPerQueue(t *testing.T) {
	var cpus unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cpus); err != nil || cpus.Count() < 2 || !cpus.IsSet(0) || !cpus.IsSet(1) {
		t.Skipf("needs CPUs 0 and 1 (XPS steers each sender's CPU to one veth queue): affinity %v, %v", cpus, err)
	}
	p := newVethPair(t, 2)
	for q := 0; q < 2; q++ {
		if err := ipCmd("netns", "exec", p.nsA, "sh", "-c",
			fmt.Sprintf("echo %d > /sys/class/net/%s/queues/tx-%d/xps_cpus", 1<<q, p.ifA, q)); err != nil {
			t.Skipf("cannot configure XPS: %v", err)
		}
	}
	xg := newXDPGroup(t, 2)
	ports := []int{7148, 7149}
	readers := make([]*transport.XDPReader, 2)
	for q := 0; q < 2; q++ {
		cfg := transport.DefaultXDPConfig()
		cfg.Interface = p.ifB
		cfg.Queue = q
		cfg.Endpoints = []netip.AddrPort{netip.AddrPortFrom(p.addrB, uint16(ports[q]))}
		readers[q] = newXDPReader(t, p.nsB, cfg)
		if err := xg.members[q].AddReader(readers[q]); err != nil {
			t.Fatal(err)
		}
	}
	dests := []string{fmt.Sprintf("%v:%d", p.addrB, ports[0]), fmt.Sprintf("%v:%d", p.addrB, ports[1])}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for q := 0; q < 2; q++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- inNetnsErr(p.nsA, func() error {
				var set unix.CPUSet
				set.Set(q)
				if err := unix.SchedSetaffinity(0, &set); err != nil {
					return err
				}
				enc, _ := spead.NewEncoder(xdpScenario().EncoderConfig())
				u, err := send.NewUDPSender(send.UDPConfig{Destinations: dests, Rate: 12e6}, enc)
				if err != nil {
					return err
				}
				defer u.Close()
				syn, _ := send.NewSynth(xdpScenario().SynthConfig())
				_, err = send.Run(context.Background(), onlyDest{u, q}, syn,
					send.RunConfig{Heaps: xdpChunks * xdpHeapsPerChunk, Stop: true})
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	xg.check(t)
	for q, s := range xg.members {
		st := s.Stats().Map()
		heaps := uint64(xdpChunks * xdpHeapsPerChunk / 2)
		if st["heaps"] != heaps || st["packets"] != heaps*xdpHeapSize/xdpPacketPayload+1 || st["malformed_packets"] != 0 {
			t.Errorf("member %d (queue %d) stats %v", q, q, st)
		}
		if ix, qq := readers[q].Interface(); ix != p.ifB || qq != q {
			t.Errorf("reader %d on %s queue %d", q, ix, qq)
		}
	}
}

// onlyDest passes on only the heaps for destination k of a Target, so two
// senders on two threads can split one synthetic stream between them.
type onlyDest struct {
	*send.UDPSender
	k int
}

func (o onlyDest) NumDestinations() int { return 2 }

func (o onlyDest) SendHeap(h *spead.Heap, dest int) error {
	if dest != o.k {
		return nil
	}
	return o.UDPSender.SendHeap(h, dest)
}
