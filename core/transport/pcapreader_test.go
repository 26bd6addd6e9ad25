package transport

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/chunkgroup/chunkgroup/core/pcap"
)

func writeCapture(t *testing.T, ports []uint16, packets [][]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcap.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	for i, p := range packets {
		if err := w.WriteUDP(src, netip.AddrPortFrom(loopback, ports[i]), p); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestPcapReader(t *testing.T) {
	packets := makePackets(150, 300)
	ports := make([]uint16, len(packets))
	for i := range ports {
		ports[i] = uint16(7000 + i%3)
	}
	path := writeCapture(t, ports, packets)
	pick := func(keep func(i int) bool) (out [][]byte) {
		for i, p := range packets {
			if keep(i) {
				out = append(out, p)
			}
		}
		return
	}
	for _, tc := range []struct {
		filter string
		want   [][]byte
	}{
		{"", packets},
		{"udp dst port 7001", pick(func(i int) bool { return i%3 == 1 })},
		{"port 7002", pick(func(i int) bool { return i%3 == 2 })},
		{"dst port 9999", nil},
		{"src port 40000", packets},
		{"UDP  PORT 7000", pick(func(i int) bool { return i%3 == 0 })},
	} {
		r, err := NewPcapReader(path, tc.filter)
		if err != nil {
			t.Fatalf("%q: %v", tc.filter, err)
		}
		s := newSink(0)
		if err := r.Run(s); err != nil {
			t.Fatalf("%q: %v", tc.filter, err)
		}
		got, _ := s.snapshot()
		checkExact(t, got, tc.want)
		if r.Skipped() != 0 {
			t.Fatalf("skipped %d", r.Skipped())
		}
		r.Close()
	}
	for _, bad := range []string{"tcp port 1", "port", "port x", "port 70000", "host 1.2.3.4", "udp dst port 1 and port 2"} {
		if _, err := NewPcapReader(path, bad); err == nil {
			t.Fatalf("filter %q accepted", bad)
		}
	}
	if _, err := NewPcapReader(filepath.Join(t.TempDir(), "missing.pcap"), ""); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.pcap")
	os.WriteFile(empty, nil, 0o644)
	if _, err := NewPcapReader(empty, ""); !errors.Is(err, pcap.ErrNotPcap) {
		t.Fatalf("empty file: %v", err)
	}
	// A capture cut inside a record: the packets before it, then an error.
	data, _ := os.ReadFile(path)
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	os.WriteFile(cut, data[:len(data)-10], 0o644)
	r, err := NewPcapReader(cut, "")
	if err != nil {
		t.Fatal(err)
	}
	s := newSink(0)
	if err := r.Run(s); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut file: %v", err)
	}
	got, _ := s.snapshot()
	checkExact(t, got, packets[:len(packets)-1])
	r.Close()
}
