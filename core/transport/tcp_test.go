package transport

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/spead"
	"golang.org/x/sys/unix"
)

func newTCP(t *testing.T, mod func(*TCPConfig)) *TCPReader {
	t.Helper()
	cfg := DefaultTCPConfig()
	cfg.BindHost = "127.0.0.1"
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewTCPReader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func dialTCP(t *testing.T, r *TCPReader) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(r.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	c.SetNoDelay(true)
	return c
}

// writeChunks writes stream in pieces of the given sizes (cycling), pausing
// briefly so that the reader sees them as separate reads.
func writeChunks(t *testing.T, c *net.TCPConn, stream []byte, sizes []int) {
	t.Helper()
	for i := 0; len(stream) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(stream))
		if _, err := c.Write(stream[:n]); err != nil {
			t.Fatal(err)
		}
		stream = stream[n:]
		if i < 40 {
			time.Sleep(time.Millisecond)
		}
	}
}

func TestTCPSplitWrites(t *testing.T) {
	r := newTCP(t, nil)
	want := makePackets(400, 500)
	want = append(want, makePacket(1000, 9200-40)) // exactly MaxSize
	var stream []byte
	for _, p := range want {
		stream = append(stream, p...)
	}
	s := newSink(0)
	wait := startRun(t, r, s)
	c := dialTCP(t, r)
	// One byte at a time for the first packets (header split everywhere),
	// then awkward sizes, then large writes holding several packets.
	writeChunks(t, c, stream[:3*len(want[0])], []int{1})
	writeChunks(t, c, stream[3*len(want[0]):], []int{7, 13, 1, 8, 2000, 3, 60000})
	c.Close()
	if err := wait(5 * time.Second); err != nil {
		t.Fatalf("clean close at a packet boundary: %v", err)
	}
	got, batches := s.snapshot()
	checkExact(t, got, want)
	multi := false
	for _, b := range batches {
		multi = multi || b > 1
	}
	if !multi {
		t.Fatalf("no batch with several packets: %v", batches)
	}
}

func TestTCPCutMidPacket(t *testing.T) {
	for _, cut := range []int{1, 7, 8, 20, 40, 41, 99} {
		r := newTCP(t, nil)
		want := makePackets(3, 60)
		var stream []byte
		for _, p := range want {
			stream = append(stream, p...)
		}
		stream = append(stream, makePacket(9, 60)[:cut]...)
		s := newSink(0)
		wait := startRun(t, r, s)
		c := dialTCP(t, r)
		writeChunks(t, c, stream, []int{len(stream)})
		c.Close()
		err := wait(5 * time.Second)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut %d: want ErrTruncated, got %v", cut, err)
		}
		got, _ := s.snapshot()
		checkExact(t, got, want)
	}
}

func TestTCPMalformedAndTooLarge(t *testing.T) {
	r := newTCP(t, nil)
	good := makePacket(1, 10)
	bad := append(append([]byte(nil), good...), []byte("GET / HTTP/1.1\r\n\r\n")...)
	s := newSink(0)
	wait := startRun(t, r, s)
	c := dialTCP(t, r)
	c.Write(bad)
	if err := wait(5 * time.Second); !errors.Is(err, spead.ErrMagic) {
		t.Fatalf("want ErrMagic, got %v", err)
	}
	c.Close()
	got, _ := s.snapshot()
	checkExact(t, got, [][]byte{good})

	r = newTCP(t, func(c *TCPConfig) { c.MaxSize = 1000 })
	s = newSink(0)
	wait = startRun(t, r, s)
	c = dialTCP(t, r)
	defer c.Close()
	c.Write(makePacket(2, 961)) // 1001 bytes; only the header is needed to tell
	if err := wait(5 * time.Second); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("want ErrPacketTooLarge, got %v", err)
	}
}

func TestTCPCloseDuringAcceptAndRead(t *testing.T) {
	r := newTCP(t, nil)
	wait := startRun(t, r, newSink(0))
	time.Sleep(50 * time.Millisecond)
	r.Close()
	if err := wait(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Close while blocked reading a connection (with half a packet in).
	r = newTCP(t, nil)
	s := newSink(1)
	wait = startRun(t, r, s)
	c := dialTCP(t, r)
	defer c.Close()
	c.Write(makePacket(1, 10))
	c.Write(makePacket(2, 10)[:30])
	s.waitReached(t, 5*time.Second)
	time.Sleep(20 * time.Millisecond)
	r.Close()
	if err := wait(2 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestTCPAddressInUseAndAdopt(t *testing.T) {
	r := newTCP(t, nil)
	cfg := DefaultTCPConfig()
	cfg.BindHost = "127.0.0.1"
	cfg.Port = int(r.LocalAddr().Port())
	if r2, err := NewTCPReader(cfg); err == nil {
		r2.Close()
		t.Fatal("second listen on the same port succeeded")
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("want EADDRINUSE, got %v", err)
	} else {
		t.Logf("error text: %v", err)
	}

	// Adopt a listening socket made by the caller.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: loopback.As4()}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	ra := newTCP(t, func(c *TCPConfig) { c.ListenFD = fd })
	want := makePackets(5, 30)
	s := newSink(0)
	wait := startRun(t, ra, s)
	c := dialTCP(t, ra)
	for _, p := range want {
		c.Write(p)
	}
	c.Close()
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, _ := s.snapshot()
	checkExact(t, got, want)
}

// A TCP peer that resets the connection (issue 12) ends the reader with an
// error that says so, after every whole packet before the reset.
func TestTCPPeerReset(t *testing.T) {
	r := newTCP(t, nil)
	want := makePackets(5, 200)
	var stream []byte
	for _, p := range want {
		stream = append(stream, p...)
	}
	stream = append(stream, makePacket(9, 200)[:50]...) // a packet cut by the reset
	s := newSink(len(want))
	wait := startRun(t, r, s)
	c := dialTCP(t, r)
	writeChunks(t, c, stream, []int{len(stream)})
	s.waitReached(t, 5*time.Second)
	if err := c.SetLinger(0); err != nil { // close with RST
		t.Fatal(err)
	}
	c.Close()
	err := wait(5 * time.Second)
	if err == nil || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, ErrTruncated)) {
		t.Fatalf("want a connection-reset (or truncation) error, got %v", err)
	}
	got, _ := s.snapshot()
	checkExact(t, got, want)
}
