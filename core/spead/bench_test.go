package spead

import "testing"

// BenchmarkDecode decodes a typical 64-48 chunk-stream packet: the four
// standard pointers, four repeated items and 1024 payload bytes.
func BenchmarkDecode(b *testing.B) {
	e := mustEncoder(b, EncoderConfig{PacketPayload: 1024, RepeatPointers: true})
	h := &Heap{Cnt: 12345, Payload: make([]byte, 4096), Items: []Item{
		{ID: 0x1600, Immediate: true, Value: 1},
		{ID: 0x1601, Immediate: true, Value: 2},
		{ID: 0x1602, Immediate: true, Value: 3},
		{ID: 0x1603, Value: 0},
	}}
	buf, err := e.AppendHeap(nil, h)
	if err != nil {
		b.Fatal(err)
	}
	pkt := buf[:e.HeaderSize(h)+1024]
	var p Packet
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(pkt, &p); err != nil {
			b.Fatal(err)
		}
	}
	if p.PayloadLength != 1024 {
		b.Fatalf("PayloadLength %d", p.PayloadLength)
	}
}

// BenchmarkEncodePackets encodes a 64 KiB heap into 1472-byte packets with
// repeated pointers; bytes/s counts payload.
func BenchmarkEncodePackets(b *testing.B) {
	e := mustEncoder(b, EncoderConfig{RepeatPointers: true})
	h := &Heap{Cnt: 1, Payload: make([]byte, 64<<10), Items: []Item{
		{ID: 0x1600, Immediate: true, Value: 1},
		{ID: 0x1601, Immediate: true, Value: 2},
	}}
	var total int
	count := func(pkt []byte) error { total += len(pkt); return nil }
	if err := e.Packets(h, count); err != nil { // warm the scratch buffer
		b.Fatal(err)
	}
	b.SetBytes(int64(len(h.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		h.Cnt++
		if err := e.Packets(h, count); err != nil {
			b.Fatal(err)
		}
	}
	if total == 0 {
		b.Fatal("no packets")
	}
}

// BenchmarkAppendHeap is AppendHeap into a reused buffer.
func BenchmarkAppendHeap(b *testing.B) {
	e := mustEncoder(b, EncoderConfig{RepeatPointers: true})
	h := &Heap{Cnt: 1, Payload: make([]byte, 64<<10)}
	buf, err := e.AppendHeap(nil, h)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(h.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		h.Cnt++
		if buf, err = e.AppendHeap(buf[:0], h); err != nil {
			b.Fatal(err)
		}
	}
}
