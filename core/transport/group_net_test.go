package transport_test

// End-to-end tests on loopback: the project's sender into a 4-member ring
// group through real sockets, with exact chunk contents.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/ring"
	"github.com/chunkgroup/chunkgroup/core/send"
	"github.com/chunkgroup/chunkgroup/core/spead"
	"github.com/chunkgroup/chunkgroup/core/transport"
)

const (
	netHeapSize      = 4096
	netHeapsPerChunk = 8
	netMembers       = 4
	netChunks        = 12 // chunks of data sent
)

// netGroup is the counter-placed ring group of these tests.
type netGroup struct{ *counterGroup }

// newNetGroup makes the group. LOSSY gets a window wider than the data:
// members race each other (their goroutines are scheduled independently),
// so with a narrow window a member that runs ahead may legitimately evict
// chunks a slower member has not finished (behaviour.md, testing note).
func newNetGroup(t *testing.T, mode recv.EvictionMode) *netGroup {
	t.Helper()
	window := 4
	if mode == recv.Lossy {
		window = netChunks + 1
	}
	return &netGroup{newCounterGroup(t, mode, window, netMembers, netHeapsPerChunk, netHeapSize)}
}

func (ng *netGroup) check(t *testing.T) {
	t.Helper()
	ng.checkChunks(t, netChunks)
	for i, s := range ng.members {
		st := s.Stats().Map()
		if st["heaps"] != netChunks*netHeapsPerChunk/netMembers || st["too_old_heaps"] != 0 || st["malformed_packets"] != 0 {
			t.Errorf("member %d stats %v", i, st)
		}
	}
}

func sendAll(t *testing.T, target send.Target) {
	t.Helper()
	sc := send.Scenario{HeapPayload: netHeapSize, PacketPayload: 1024, HeapsPerChunk: netHeapsPerChunk}
	syn, err := send.NewSynth(sc.SynthConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send.Run(context.Background(), target, syn, send.RunConfig{Heaps: netChunks * netHeapsPerChunk, Stop: true}); err != nil {
		t.Fatal(err)
	}
	target.Close()
}

// attach gives every member a reader from open and returns the loopback
// destinations to send to, member by member.
func (ng *netGroup) attach(t *testing.T, open func() (recv.Reader, netip.AddrPort, error)) []string {
	t.Helper()
	var dests []string
	for _, s := range ng.members {
		r, addr, err := open()
		if err != nil {
			t.Fatal(err)
		}
		dests = append(dests, fmt.Sprintf("127.0.0.1:%d", addr.Port()))
		if err := s.AddReader(r); err != nil {
			t.Fatal(err)
		}
	}
	return dests
}

func netEncoder() *spead.Encoder {
	sc := send.Scenario{HeapPayload: netHeapSize, PacketPayload: 1024, HeapsPerChunk: netHeapsPerChunk}
	enc, _ := spead.NewEncoder(sc.EncoderConfig())
	return enc
}

func TestUDPGroupExact(t *testing.T) {
	for _, mode := range []recv.EvictionMode{recv.Lossy, recv.Lossless} {
		t.Run(fmt.Sprint("mode", mode), func(t *testing.T) {
			ng := newNetGroup(t, mode)
			dests := ng.attach(t, func() (recv.Reader, netip.AddrPort, error) {
				r, err := transport.NewUDPReader(transport.DefaultUDPConfig())
				if err != nil {
					return nil, netip.AddrPort{}, err
				}
				return r, r.LocalAddr(), nil
			})
			go ng.consume()
			// 200 Mb/s keeps well inside the sockets' buffers.
			target, err := send.NewUDPSender(send.UDPConfig{Destinations: dests, Rate: 25e6}, netEncoder())
			if err != nil {
				t.Fatal(err)
			}
			sendAll(t, target)
			ng.check(t)
		})
	}
}

func TestTCPGroupExact(t *testing.T) {
	ng := newNetGroup(t, recv.Lossless)
	dests := ng.attach(t, func() (recv.Reader, netip.AddrPort, error) {
		r, err := transport.NewTCPReader(transport.DefaultTCPConfig())
		if err != nil {
			return nil, netip.AddrPort{}, err
		}
		return r, r.LocalAddr(), nil
	})
	go ng.consume()
	target, err := send.NewTCPGroup(dests, netEncoder(), 0)
	if err != nil {
		t.Fatal(err)
	}
	sendAll(t, target)
	ng.check(t)
}

// A UDP group stopped while its readers are blocked in receive (no sender)
// returns within a bound.
func TestUDPGroupStopWhileIdle(t *testing.T) {
	ng := newNetGroup(t, recv.Lossless)
	for _, s := range ng.members {
		r, err := transport.NewUDPReader(transport.DefaultUDPConfig())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddReader(r); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { ng.g.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return within 5 s with readers blocked in receive")
	}
}

// A capture written by the sender, read back by one pcap reader per member
// (each filtering its own destination port), gives the exact chunks.
func TestPcapGroupExact(t *testing.T) {
	ng := newNetGroup(t, recv.Lossless)
	path := t.TempDir() + "/capture.pcap"
	var dests []string
	for i := range ng.members {
		dests = append(dests, fmt.Sprintf("127.0.0.1:%d", 9001+i))
	}
	target, err := send.CreatePcapSender(path, dests, netEncoder())
	if err != nil {
		t.Fatal(err)
	}
	sendAll(t, target)
	for i, s := range ng.members {
		r, err := transport.NewPcapReader(path, fmt.Sprintf("udp dst port %d", 9001+i))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddReader(r); err != nil {
			t.Fatal(err)
		}
	}
	go ng.consume()
	ng.check(t)
}

// newCycleGroup makes a ring group of two members placing heap cnt at chunk
// cnt / heapsPerChunk, with rings of capacity chunks, for the lifetime tests.
func newCycleGroup(t *testing.T, chunks int, heapsPerChunk, heapSize int64) (*recv.Group, *ring.Ring, *ring.Ring) {
	t.Helper()
	data, _ := ring.New(chunks)
	free, _ := ring.New(chunks)
	g, err := recv.NewRingGroup(recv.DefaultGroupConfig(), data, free)
	if err != nil {
		t.Fatal(err)
	}
	ccfg := recv.DefaultChunkStreamConfig()
	ccfg.Items = recv.CounterItems()
	ccfg.Place = recv.CounterGrid(heapsPerChunk, heapSize)
	for i := 0; i < 2; i++ {
		if _, err := g.EmplaceBack(recv.DefaultStreamConfig(), ccfg); err != nil {
			t.Fatal(err)
		}
	}
	return g, data, free
}

// countFDs returns the number of open file descriptors (skips without /proc).
func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// Creating and stopping UDP and TCP groups leaks no goroutine and no file
// descriptor (sockets, eventfds).
func TestGroupsLeakNothing(t *testing.T) {
	openFDs := func() int { return countFDs(t) }
	cycle := func() {
		g, data, free := newCycleGroup(t, 4, 4, 64)
		defer data.Close()
		defer free.Close()
		if _, err := data.DataFD(); err != nil { // an eventfd, closed by Close
			t.Fatal(err)
		}
		u, err := transport.NewUDPReader(transport.DefaultUDPConfig())
		if err != nil {
			t.Fatal(err)
		}
		tc, err := transport.NewTCPReader(transport.DefaultTCPConfig())
		if err != nil {
			t.Fatal(err)
		}
		if err := g.At(0).AddReader(u); err != nil {
			t.Fatal(err)
		}
		if err := g.At(1).AddReader(tc); err != nil {
			t.Fatal(err)
		}
		g.Stop()
	}
	cycle() // warm up whatever the runtime starts once
	goroutines, fds := runtime.NumGoroutine(), openFDs()
	for i := 0; i < 50; i++ {
		cycle()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		g, f := runtime.NumGoroutine(), openFDs()
		if g <= goroutines && f <= fds {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("after 50 cycles: %d goroutines (was %d), %d fds (was %d)\n%s",
				g, goroutines, f, fds, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Lifetimes under traffic (issue 12): create a ring group, feed it over UDP,
// stop it from another goroutine while packets flow and a consumer is
// recycling chunks, many times. Goroutines, file descriptors and the Go heap
// come back to where they were. 1000 cycles here; CHUNKGROUP_CYCLES sets
// another number (make soak runs 10000).
func TestGroupLifetimeCyclesUnderTraffic(t *testing.T) {
	cycles := 1000
	if v, err := strconv.Atoi(os.Getenv("CHUNKGROUP_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	openFDs := func() int { return countFDs(t) }
	payload := make([]byte, 256)
	var totalPackets uint64
	cycle := func(i int) {
		g, data, free := newCycleGroup(t, 8, 8, int64(len(payload)))
		defer data.Close()
		defer free.Close()
		var addrs []netip.AddrPort
		for m := 0; m < 2; m++ {
			s := g.At(m)
			ucfg := transport.DefaultUDPConfig()
			ucfg.BindHost = "127.0.0.1"
			ucfg.BufferSize = 1 << 20
			u, err := transport.NewUDPReader(ucfg)
			if err != nil {
				t.Fatal(err)
			}
			addrs = append(addrs, u.LocalAddr())
			if err := s.AddReader(u); err != nil {
				t.Fatal(err)
			}
		}
		for c := 0; c < 8; c++ {
			g.AddFreeChunk(chunk.New(make([]byte, 8), make([]byte, 8*len(payload)), nil))
		}
		consumed := make(chan struct{})
		go func() {
			defer close(consumed)
			for {
				c, err := data.Pop()
				if err != nil {
					return
				}
				g.AddFreeChunk(c)
			}
		}()
		ctx, cancel := context.WithCancel(context.Background())
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			enc, _ := spead.NewEncoder(spead.EncoderConfig{AddrBits: 48, RepeatPointers: true})
			conns := make([]*net.UDPConn, len(addrs))
			for k, a := range addrs {
				conns[k], _ = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(a))
				defer conns[k].Close()
			}
			for cnt := uint64(0); ctx.Err() == nil; cnt++ {
				h := &spead.Heap{Cnt: cnt, Payload: payload}
				_ = enc.Packets(h, func(p []byte) error { _, err := conns[cnt%2].Write(p); return err })
			}
		}()
		// Stop from another goroutine at a moment that varies by cycle.
		stopped := make(chan struct{})
		go func() {
			time.Sleep(time.Duration(i%7) * 100 * time.Microsecond)
			g.Stop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Fatalf("cycle %d: Stop did not return", i)
		}
		cancel()
		<-sent
		<-consumed
		for m := 0; m < g.Len(); m++ {
			v, _ := g.At(m).Stats().Get("packets")
			totalPackets += v
		}
	}
	for i := 0; i < 5; i++ {
		cycle(i) // warm up whatever the runtime starts once
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	goroutines, fds, heap0 := runtime.NumGoroutine(), openFDs(), ms.HeapAlloc
	start := time.Now()
	for i := 0; i < cycles; i++ {
		cycle(i)
	}
	elapsed := time.Since(start)
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		g, f := runtime.NumGoroutine(), openFDs()
		if g <= goroutines && f <= fds && ms.HeapAlloc < heap0+8<<20 {
			t.Logf("%d cycles in %v, %d packets received: goroutines %d -> %d, fds %d -> %d, Go heap %d -> %d KiB",
				cycles, elapsed.Round(time.Millisecond), totalPackets, goroutines, g, fds, f, heap0>>10, ms.HeapAlloc>>10)
			if totalPackets == 0 {
				t.Fatal("no packet reached any group: the cycles did not run under traffic")
			}
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("after %d cycles: %d goroutines (was %d), %d fds (was %d), heap %d KiB (was %d)\n%s",
				cycles, g, goroutines, f, fds, ms.HeapAlloc>>10, heap0>>10, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
