package transport

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// makePacket builds a SPEAD-64-48 packet: heap counter, heap length,
// payload offset, payload length, then the payload (bytes derived from cnt).
func makePacket(cnt uint64, payloadLen int) []byte {
	const addrBits = 48
	imm := func(id, v uint64) uint64 { return 1<<63 | id<<addrBits | v }
	ptrs := []uint64{imm(1, cnt), imm(2, uint64(payloadLen)), imm(3, 0), imm(4, uint64(payloadLen))}
	b := make([]byte, 8+8*len(ptrs)+payloadLen)
	b[0], b[1], b[2], b[3] = 0x53, 4, 2, 6
	binary.BigEndian.PutUint16(b[6:], uint16(len(ptrs)))
	for i, p := range ptrs {
		binary.BigEndian.PutUint64(b[8+8*i:], p)
	}
	for i := range payloadLen {
		b[8+8*len(ptrs)+i] = byte(int(cnt)*7 + i)
	}
	return b
}

// fakeSink records copies of the packets it gets.
type fakeSink struct {
	mu      sync.Mutex
	packets [][]byte
	batches []int
	// stopAfter: AddBatch returns false once this many packets arrived
	// (0 = never).
	stopAfter int
	// onBatch, when set, runs inside AddBatch after recording (for
	// example to call Close from Run's goroutine).
	onBatch func(total int)
	// reached is closed when want packets have arrived (if want > 0).
	want    int
	reached chan struct{}
}

func newSink(want int) *fakeSink {
	return &fakeSink{want: want, reached: make(chan struct{})}
}

func (s *fakeSink) AddBatch(packets [][]byte) bool {
	s.mu.Lock()
	for _, p := range packets {
		s.packets = append(s.packets, append([]byte(nil), p...))
	}
	s.batches = append(s.batches, len(packets))
	total := len(s.packets)
	if s.want > 0 && total >= s.want && s.reached != nil {
		close(s.reached)
		s.reached = nil
	}
	onBatch := s.onBatch
	stop := s.stopAfter > 0 && total >= s.stopAfter
	s.mu.Unlock()
	if onBatch != nil {
		onBatch(total)
	}
	return !stop
}

func (s *fakeSink) snapshot() (packets [][]byte, batches []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.packets...), append([]int(nil), s.batches...)
}

// waitReached waits for the sink to hold want packets.
func (s *fakeSink) waitReached(t *testing.T, d time.Duration) {
	t.Helper()
	s.mu.Lock()
	ch := s.reached
	s.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-time.After(d):
		got, _ := s.snapshot()
		t.Fatalf("timed out after %v waiting for %d packets, got %d", d, s.want, len(got))
	}
}

// startRun runs r.Run(sink) on a goroutine and returns a function that
// waits (bounded) for its result.
func startRun(t *testing.T, r recv.Reader, sink recv.Sink) (wait func(d time.Duration) error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- r.Run(sink) }()
	return func(d time.Duration) error {
		t.Helper()
		select {
		case err := <-errc:
			return err
		case <-time.After(d):
			t.Fatalf("Run did not return within %v", d)
			return nil
		}
	}
}

// cuttingSink is a fakeSink that also cuts packets out of a buffer itself
// (recv.BufferSink), as a stream does: a memory reader hands it its buffer.
type cuttingSink struct {
	*fakeSink
	cut   [][]byte
	calls int
}

func (s *cuttingSink) AddBuffer(buf []byte, maxPackets int) (int, bool, error) {
	s.calls++
	s.cut = s.cut[:0]
	used := 0
	var err error
	for len(s.cut) < maxPackets && used < len(buf) {
		n, e := spead.Cut(buf[used:])
		if e != nil {
			err = e
			break
		}
		s.cut = append(s.cut, buf[used:used+n])
		used += n
	}
	if len(s.cut) == 0 {
		return 0, true, err
	}
	return used, s.AddBatch(s.cut), err
}

// sinkKinds runs f with a plain sink (the reader cuts the packets) and a
// cutting one (the sink does).
func sinkKinds(t *testing.T, f func(t *testing.T, s *fakeSink, sink recv.Sink)) {
	for _, cutting := range []bool{false, true} {
		name := "reader cuts"
		if cutting {
			name = "sink cuts"
		}
		t.Run(name, func(t *testing.T) {
			s := newSink(0)
			var sink recv.Sink = s
			if cutting {
				sink = &cuttingSink{fakeSink: s}
			}
			f(t, s, sink)
		})
	}
}
