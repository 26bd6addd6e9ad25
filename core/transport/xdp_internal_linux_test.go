package transport

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf/asm"

	"github.com/chunkgroup/chunkgroup/core/offheap"
)

// udpFrame wraps payload in Ethernet, IPv4 and UDP headers, then pads the
// frame to at least pad bytes (as Ethernet pads short frames to 60).
func udpFrame(payload []byte, pad int) []byte {
	f := make([]byte, 14+20+8, 14+20+8+len(payload)+pad)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8], ip[9] = 64, 17
	copy(ip[16:20], []byte{198, 18, 0, 2})
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[2:], 7148)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	f = append(f, payload...)
	for len(f) < pad {
		f = append(f, 0xee)
	}
	return f
}

func TestUDPPayload(t *testing.T) {
	pl := []byte("spead!")
	if p, ok := udpPayload(udpFrame(pl, 60)); !ok || !bytes.Equal(p, pl) {
		t.Fatalf("padded frame: %q %v", p, ok)
	}
	good := udpFrame(pl, 0)
	for name, mutate := range map[string]func(f []byte) []byte{
		"short":        func(f []byte) []byte { return f[:40] },
		"not IPv4":     func(f []byte) []byte { f[12] = 0x86; f[13] = 0xdd; return f },
		"version 6":    func(f []byte) []byte { f[14] = 0x65; return f },
		"IHL 4":        func(f []byte) []byte { f[14] = 0x44; return f },
		"TCP":          func(f []byte) []byte { f[14+9] = 6; return f },
		"IP too long":  func(f []byte) []byte { binary.BigEndian.PutUint16(f[16:], 2000); return f },
		"UDP too long": func(f []byte) []byte { binary.BigEndian.PutUint16(f[14+20+4:], 100); return f },
		"UDP too short": func(f []byte) []byte {
			binary.BigEndian.PutUint16(f[14+20+4:], 7)
			return f
		},
	} {
		if p, ok := udpPayload(mutate(append([]byte(nil), good...))); ok {
			t.Errorf("%s: accepted, payload %q", name, p)
		}
	}
}

// fakeXDP is a reader whose rings and UMEM are ordinary off-heap memory,
// with the test playing the kernel: it exercises exactly the per-batch path
// of Run (batch) without a socket.
type fakeXDP struct {
	r      *XDPReader
	frames int
	mem    [][]byte
}

func newFakeXDP(tb testing.TB, frames int, frame []byte) *fakeXDP {
	const fs = 4096
	r := &XDPReader{maxSize: DefaultMaxSize, frameMask: fs - 1, packets: make([][]byte, 0, DefaultBatchSize)}
	f := &fakeXDP{r: r, frames: frames}
	r.umem = offheap.MustAlloc(frames * fs)
	for i := 0; i < frames; i++ {
		copy(r.umem[i*fs+256:], frame) // data after a 256-byte headroom, as the kernel puts it
	}
	mk := func(ring *xskRing, descSize int) {
		m := offheap.MustAlloc(256 + frames*descSize)
		f.mem = append(f.mem, m)
		ring.mem = m
		ring.producer = (*uint32)(unsafe.Pointer(&m[0]))
		ring.consumer = (*uint32)(unsafe.Pointer(&m[64]))
		ring.flags = (*uint32)(unsafe.Pointer(&m[128]))
		ring.descs = unsafe.Pointer(&m[256])
		ring.mask = uint32(frames - 1)
	}
	mk(&r.rx, 16)
	mk(&r.fill, 8)
	tb.Cleanup(func() {
		offheap.Free(r.umem)
		for _, m := range f.mem {
			offheap.Free(m)
		}
	})
	return f
}

// deliver puts n frames on the RX ring, as the kernel would.
func (f *fakeXDP) deliver(n int, length int) {
	prod := atomic.LoadUint32(f.r.rx.producer)
	for i := 0; i < n; i++ {
		d := f.r.rx.rxDesc(prod)
		d.Addr = uint64((int(prod)%f.frames)*4096 + 256)
		d.Len = uint32(length)
		prod++
	}
	atomic.StoreUint32(f.r.rx.producer, prod)
}

type discardSink struct{ n, bytes int }

func (s *discardSink) AddBatch(p [][]byte) bool {
	s.n += len(p)
	for _, b := range p {
		s.bytes += len(b)
	}
	return true
}

// The per-batch path hands over exact payloads, returns each frame's base
// address to the fill ring and allocates nothing.
func TestXDPBatchPath(t *testing.T) {
	pl := makePacket(3, 1000)
	frame := udpFrame(pl, 0)
	f := newFakeXDP(t, 256, frame)
	var got [][]byte
	sink := sinkFunc(func(p [][]byte) bool {
		for _, b := range p {
			got = append(got, append([]byte(nil), b...))
		}
		return true
	})
	f.deliver(100, len(frame))
	for atomic.LoadUint32(f.r.rx.producer) != f.r.rx.local {
		f.r.batch(sink)
	}
	if len(got) != 100 || !bytes.Equal(got[99], pl) {
		t.Fatalf("got %d packets", len(got))
	}
	if c := atomic.LoadUint32(f.r.rx.consumer); c != 100 {
		t.Fatalf("RX consumer %d, want 100", c)
	}
	if p := atomic.LoadUint32(f.r.fill.producer); p != 100 {
		t.Fatalf("fill producer %d, want 100", p)
	}
	for i := uint32(0); i < 100; i++ {
		if a := *f.r.fill.fillAddr(i); a != uint64(i)*4096 {
			t.Fatalf("fill entry %d = %d, want frame base %d", i, a, i*4096)
		}
	}
	// Oversize and malformed frames are counted, not passed on.
	f.r.maxSize = 999
	f.deliver(1, len(frame))
	f.deliver(1, 20)
	got = nil
	f.r.batch(sink)
	if len(got) != 0 || f.r.Oversize() != 1 || f.r.malformed.Load() != 1 {
		t.Fatalf("got %d packets, oversize %d, malformed %d", len(got), f.r.Oversize(), f.r.malformed.Load())
	}
	f.r.maxSize = DefaultMaxSize

	ds := &discardSink{}
	allocs := testing.AllocsPerRun(200, func() {
		f.deliver(64, len(frame))
		f.r.batch(ds)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch of 64, want 0", allocs)
	}
}

type sinkFunc func([][]byte) bool

func (f sinkFunc) AddBatch(p [][]byte) bool { return f(p) }

// BenchmarkXDPBatch is the reader's own cost per packet (parse, hand over,
// return the frame) with a sink that only counts: ns/op and allocs/op are
// per packet.
func BenchmarkXDPBatch(b *testing.B) {
	frame := udpFrame(makePacket(1, 1024), 0)
	f := newFakeXDP(b, 4096, frame)
	ds := &discardSink{}
	b.ReportAllocs()
	b.SetBytes(1024)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(64, b.N-done)
		f.deliver(n, len(frame))
		f.r.batch(ds)
		done += n
	}
}

// The program assembles, and its key layout matches endpointKey.
func TestXDPProgramShape(t *testing.T) {
	insns := xdpInstructions(3, 4)
	if err := insns.Marshal(&bytes.Buffer{}, binary.LittleEndian); err != nil {
		t.Fatal(err)
	}
	if len(insns) == 0 || insns[len(insns)-1].OpCode != asm.Return().OpCode {
		t.Fatal("program does not end in exit")
	}
	k := endpointKey(1, [4]byte{198, 18, 0, 2}, 7148)
	if len(k) != endpointKeySize || binary.NativeEndian.Uint32(k) != 1 || !bytes.Equal(k[4:8], []byte{198, 18, 0, 2}) ||
		k[8] != 7148>>8 || k[9] != 7148&0xff || k[10] != 0 || k[11] != 0 {
		t.Fatalf("key % x", k)
	}
}
