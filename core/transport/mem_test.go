package transport

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

func TestMemReaderExact(t *testing.T) {
	var buf []byte
	var want [][]byte
	for i := range 150 {
		p := makePacket(uint64(i), i%37)
		want = append(want, p)
		buf = append(buf, p...)
	}
	sinkKinds(t, func(t *testing.T, s *fakeSink, sink recv.Sink) {
		r := NewMemReader(buf)
		if err := r.Run(sink); err != nil {
			t.Fatal(err)
		}
		got, batches := s.snapshot()
		if len(got) != len(want) {
			t.Fatalf("got %d packets, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("packet %d differs", i)
			}
		}
		if len(batches) != 3 || batches[0] != 64 || batches[1] != 64 || batches[2] != 22 {
			t.Fatalf("batches %v, want [64 64 22]", batches)
		}
		if cs, ok := sink.(*cuttingSink); ok && cs.calls != 3 {
			t.Fatalf("AddBuffer called %d times, want 3", cs.calls)
		}
		r.Close()
		r.Close()
	})
}

func TestMemReaderMalformed(t *testing.T) {
	good := append(makePacket(1, 10), makePacket(2, 20)...)
	bad := append(append([]byte(nil), good...), 0x54, 4, 2, 6, 0, 0, 0, 0)
	sinkKinds(t, func(t *testing.T, s *fakeSink, sink recv.Sink) {
		err := NewMemReader(bad).Run(sink)
		if !errors.Is(err, spead.ErrMagic) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d of %d", len(good), len(bad))) {
			t.Fatalf("want ErrMagic at offset %d, got %v", len(good), err)
		}
		if got, _ := s.snapshot(); len(got) != 2 {
			t.Fatalf("valid packets before the bad one: got %d, want 2", len(got))
		}
	})
	// A packet cut short at the end of the buffer.
	cut := append(append([]byte(nil), good...), makePacket(3, 30)[:40]...)
	sinkKinds(t, func(t *testing.T, s *fakeSink, sink recv.Sink) {
		if err := NewMemReader(cut).Run(sink); !errors.Is(err, spead.ErrShort) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d of", len(good))) {
			t.Fatalf("want ErrShort at offset %d, got %v", len(good), err)
		}
		if got, _ := s.snapshot(); len(got) != 2 {
			t.Fatalf("got %d packets, want 2", len(got))
		}
	})
}

func TestMemReaderStopAndClose(t *testing.T) {
	var buf []byte
	for i := range 200 {
		buf = append(buf, makePacket(uint64(i), 8)...)
	}
	sinkKinds(t, func(t *testing.T, s *fakeSink, sink recv.Sink) {
		s.stopAfter = 64
		if err := NewMemReader(buf).Run(sink); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.snapshot(); len(got) != 64 {
			t.Fatalf("sink refused after 64, reader passed %d", len(got))
		}
	})
	// Close from inside AddBatch on Run's goroutine.
	sinkKinds(t, func(t *testing.T, s *fakeSink, sink recv.Sink) {
		r := NewMemReader(buf)
		s.onBatch = func(int) { r.Close() }
		wait := startRun(t, r, sink)
		if err := wait(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.snapshot(); len(got) != 64 {
			t.Fatalf("closed after first batch, got %d packets", len(got))
		}
	})
	// Closed before Run: Run returns nil at once.
	sinkKinds(t, func(t *testing.T, s *fakeSink, sink recv.Sink) {
		r := NewMemReader(buf)
		r.Close()
		if err := r.Run(sink); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.snapshot(); len(got) != 0 {
			t.Fatalf("closed before Run, got %d packets", len(got))
		}
		// Empty buffer.
		if err := NewMemReader(nil).Run(sink); err != nil {
			t.Fatal(err)
		}
	})
}
