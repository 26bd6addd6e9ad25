package transport

import (
	"bytes"
	"errors"
	"testing"
	"time"

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
	r := NewMemReader(buf)
	s := newSink(0)
	if err := r.Run(s); err != nil {
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
	r.Close()
	r.Close()
}

func TestMemReaderMalformed(t *testing.T) {
	good := append(makePacket(1, 10), makePacket(2, 20)...)
	bad := append(append([]byte(nil), good...), 0x54, 4, 2, 6, 0, 0, 0, 0)
	s := newSink(0)
	err := NewMemReader(bad).Run(s)
	if !errors.Is(err, spead.ErrMagic) {
		t.Fatalf("want ErrMagic, got %v", err)
	}
	if got, _ := s.snapshot(); len(got) != 2 {
		t.Fatalf("valid packets before the bad one: got %d, want 2", len(got))
	}
	// A packet cut short at the end of the buffer.
	cut := append(append([]byte(nil), good...), makePacket(3, 30)[:40]...)
	s = newSink(0)
	if err := NewMemReader(cut).Run(s); !errors.Is(err, spead.ErrShort) {
		t.Fatalf("want ErrShort, got %v", err)
	}
	if got, _ := s.snapshot(); len(got) != 2 {
		t.Fatalf("got %d packets, want 2", len(got))
	}
}

func TestMemReaderStopAndClose(t *testing.T) {
	var buf []byte
	for i := range 200 {
		buf = append(buf, makePacket(uint64(i), 8)...)
	}
	s := newSink(0)
	s.stopAfter = 64
	if err := NewMemReader(buf).Run(s); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.snapshot(); len(got) != 64 {
		t.Fatalf("sink refused after 64, reader passed %d", len(got))
	}
	// Close from inside AddBatch on Run's goroutine.
	r := NewMemReader(buf)
	s = newSink(0)
	s.onBatch = func(int) { r.Close() }
	wait := startRun(t, r, s)
	if err := wait(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.snapshot(); len(got) != 64 {
		t.Fatalf("closed after first batch, got %d packets", len(got))
	}
	// Closed before Run: Run returns nil at once.
	r = NewMemReader(buf)
	r.Close()
	if err := r.Run(newSink(0)); err != nil {
		t.Fatal(err)
	}
	// Empty buffer.
	if err := NewMemReader(nil).Run(newSink(0)); err != nil {
		t.Fatal(err)
	}
}
