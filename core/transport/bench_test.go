package transport

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// countSink counts packets and stops the reader after limit.
type countSink struct {
	n, limit int
}

func (s *countSink) AddBatch(p [][]byte) bool {
	s.n += len(p)
	return s.n < s.limit
}

// blast sends packets of size bytes to port on loopback with sendmmsg until
// stop is set. With gso, each message carries several packets as one
// UDP_SEGMENT send (the kernel splits them, or hands them whole to a GRO
// receiver). It allocates nothing per send.
func blast(tb testing.TB, port, size int, gso bool, stop *atomic.Bool, wg *sync.WaitGroup) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: loopback.As4(), Port: port}); err != nil {
		tb.Fatal(err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	perMsg := 1
	if gso {
		if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, size); err != nil {
			tb.Skipf("UDP_SEGMENT refused: %v", err)
		}
		perMsg = min(64, 65000/size)
	}
	const batch = 32
	pkt := makePacket(1, size-40)
	buf := make([]byte, 0, perMsg*size)
	for range perMsg {
		buf = append(buf, pkt...)
	}
	msgs := make([]unix.Mmsghdr, batch)
	iovs := make([]unix.Iovec, batch)
	for i := range msgs {
		iovs[i].Base = &buf[0]
		iovs[i].SetLen(len(buf))
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.Iovlen = 1
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer unix.Close(fd)
		for !stop.Load() {
			_, _, _ = unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), batch, 0, 0, 0)
		}
		runtime.KeepAlive(buf)
		runtime.KeepAlive(iovs)
	}()
}

// BenchmarkUDPReceive measures the reader's receive loop (recvmmsg, ppoll
// when empty, into a no-op sink) on loopback: ns/op and allocs/op are per
// packet; pps is the received packet rate. The sender runs in the same
// process, so on a 2-core machine the two share the CPUs.
func BenchmarkUDPReceive(b *testing.B) {
	for _, size := range []int{1472, 8972} {
		for _, mode := range []struct {
			name     string
			gso, gro bool
		}{{"plain", false, false}, {"gso-send", true, false}, {"gso-send+gro", true, true}} {
			b.Run(fmt.Sprintf("size=%d/%s", size, mode.name), func(b *testing.B) {
				cfg := DefaultUDPConfig()
				cfg.BindHost = "127.0.0.1"
				cfg.GRO = mode.gro
				r, err := NewUDPReader(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				if mode.gro && !r.GRO() {
					b.Skip("UDP_GRO refused")
				}
				var stop atomic.Bool
				var wg sync.WaitGroup
				blast(b, int(r.LocalAddr().Port()), size, mode.gso, &stop, &wg)
				defer func() { stop.Store(true); wg.Wait() }()
				// Bound the run: a stalled sender turns into a failure, not a hang.
				timer := time.AfterFunc(60*time.Second, func() { r.Close() })
				defer timer.Stop()
				sink := &countSink{limit: b.N}
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				if err := r.Run(sink); err != nil {
					b.Fatal(err)
				}
				el := time.Since(start)
				b.StopTimer()
				if sink.n < b.N {
					b.Fatalf("reader stopped after %d of %d packets", sink.n, b.N)
				}
				b.ReportMetric(float64(sink.n)/el.Seconds(), "pps")
				b.ReportMetric(float64(sink.n)*float64(size)*8/el.Seconds()/1e9, "Gb/s")
			})
		}
	}
}

// BenchmarkUDPDrain measures the receive side alone: packets are queued in
// the socket buffer with the timer stopped, then drained by the reader's
// receive step (recvmmsg batches of 64 into a no-op sink). ns/op is per
// packet.
func BenchmarkUDPDrain(b *testing.B) {
	for _, size := range []int{1472, 8972} {
		for _, gro := range []bool{false, true} {
			b.Run(fmt.Sprintf("size=%d/gro=%v", size, gro), func(b *testing.B) {
				cfg := DefaultUDPConfig()
				cfg.BindHost = "127.0.0.1"
				cfg.GRO = gro
				cfg.BufferSize = 64 << 20
				r, err := NewUDPReader(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				if gro && !r.GRO() {
					b.Skip("UDP_GRO refused")
				}
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					b.Fatal(err)
				}
				defer unix.Close(fd)
				if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: loopback.As4(), Port: int(r.LocalAddr().Port())}); err != nil {
					b.Fatal(err)
				}
				perMsg := 1
				if gro {
					perMsg = min(64, 65000/size)
					if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, size); err != nil {
						b.Skipf("UDP_SEGMENT refused: %v", err)
					}
				}
				pkt := makePacket(1, size-40)
				var msg []byte
				for range perMsg {
					msg = append(msg, pkt...)
				}
				defer time.AfterFunc(60*time.Second, func() { r.Close() }).Stop()
				sink := &noopSink{}
				const chunk = 2048
				b.ReportAllocs()
				b.ResetTimer()
				for done := 0; done < b.N; {
					b.StopTimer()
					n := min(chunk, b.N-done)
					for sent := 0; sent < n; sent += perMsg {
						if _, err := unix.Write(fd, msg[:min(perMsg, n-sent)*size]); err != nil {
							b.Fatal(err)
						}
					}
					target := sink.n + n
					b.StartTimer()
					for sink.n < target {
						if cont, err := r.step(sink); !cont || err != nil {
							b.Fatalf("step: %v %v (lost packets? got %d of %d)", cont, err, sink.n, target)
						}
					}
					done += n
				}
			})
		}
	}
}
