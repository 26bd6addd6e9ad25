package send

import (
	"net"
	"testing"

	"github.com/chunkgroup/chunkgroup/core/spead"
)

// benchUDP sends synthetic heaps of a scenario to a loopback socket that
// nobody reads (the kernel drops what overflows its buffer), so the figure
// is the sender's own cost: synthesis, encoding, sendmmsg and the kernel's
// loopback path. One op is one heap.
func benchUDP(b *testing.B, scenario string, gso bool) {
	sc := Scenarios[scenario]
	enc, err := spead.NewEncoder(sc.EncoderConfig())
	if err != nil {
		b.Fatal(err)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s, err := NewUDPSender(UDPConfig{Destinations: []string{c.LocalAddr().String()}, GSO: gso}, enc)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	syn, err := NewSynth(sc.SynthConfig())
	if err != nil {
		b.Fatal(err)
	}
	// Warm up: the batch arena reaches its final size.
	for i := range 2 * DefaultBatchSize {
		if err := s.SendHeapBySubstream(syn.Heap(uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
	s.Flush()
	before := s.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.SendHeapBySubstream(syn.Heap(uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	st := s.Stats()
	b.SetBytes(int64(sc.HeapPayload))
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(st.Bytes-before.Bytes)*8/sec/1e9, "wire-Gb/s")
	b.ReportMetric(float64(st.Packets-before.Packets)/sec, "pkt/s")
	b.ReportMetric(float64(st.Packets-before.Packets)/float64(max(1, st.Calls-before.Calls)), "pkt/call")
}

func BenchmarkUDPSendLarge(b *testing.B)    { benchUDP(b, "large", false) }
func BenchmarkUDPSendLargeGSO(b *testing.B) { benchUDP(b, "large", true) }
func BenchmarkUDPSendSmall(b *testing.B)    { benchUDP(b, "small", false) }
func BenchmarkUDPSendSmallGSO(b *testing.B) { benchUDP(b, "small", true) }

// BenchmarkSynthHeap is the cost of making one large-scenario heap (filling
// 64 KiB of pattern).
func BenchmarkSynthHeap(b *testing.B) {
	syn, _ := NewSynth(Scenarios["large"].SynthConfig())
	b.SetBytes(65536)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		syn.Heap(uint64(i))
	}
}

// BenchmarkPcapSend writes large-scenario heaps into a discarded pcap stream.
func BenchmarkPcapSend(b *testing.B) {
	sc := Scenarios["large"]
	enc, _ := spead.NewEncoder(sc.EncoderConfig())
	s, err := NewPcapSender(discard{}, []string{"127.0.0.1:7148"}, enc)
	if err != nil {
		b.Fatal(err)
	}
	syn, _ := NewSynth(sc.SynthConfig())
	s.SendHeap(syn.Heap(0), 0)
	b.SetBytes(int64(sc.HeapPayload))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.SendHeap(syn.Heap(uint64(i)), 0); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
