package spead

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzDecode checks that decoding arbitrary bytes never panics and that a
// successful decode is self-consistent and agrees with Length.
func FuzzDecode(f *testing.F) {
	// Seeds: encoder output in several flavours, plus the hand-built vectors.
	for _, cfg := range []EncoderConfig{
		{AddrBits: 48, PacketPayload: 5, RepeatPointers: true},
		{AddrBits: 40, MaxPacketSize: 64},
		{AddrBits: 8, PacketPayload: 3},
		{AddrBits: 56},
	} {
		e, err := NewEncoder(cfg)
		if err != nil {
			f.Fatal(err)
		}
		for _, h := range []*Heap{sampleHeap(), StopHeap(3), {Cnt: 1, Payload: []byte("0123456789abcdef")}} {
			if e.NumPackets(h) == 0 {
				continue // sampleHeap's IDs do not fit in 64-56
			}
			if err := e.Packets(h, func(pkt []byte) error { f.Add(bytes.Clone(pkt)); return nil }); err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Add(hx(f, good48))
	f.Add(hx(f, good48+"ffff"))
	f.Add(hx(f, "53 04 02 06 0000 0008"+cnt7+heapLen10+off4+len4+
		"8001 000000000009"+"8002 000000000002"+"8003 000000000000"+"8004 000000000000"+payloadHex))
	f.Add([]byte{})
	f.Add([]byte{Magic, Version, 0, 8, 0, 0, 0, 0})

	f.Fuzz(func(t *testing.T, buf []byte) {
		var p Packet
		err := Decode(buf, &p)
		n, lerr := Length(buf)
		if err != nil {
			return
		}
		if p.Size > len(buf) || p.Size < HeaderSize {
			t.Fatalf("Size %d outside [8, %d]", p.Size, len(buf))
		}
		if int64(len(p.Payload)) != p.PayloadLength {
			t.Fatalf("len(Payload) %d != PayloadLength %d", len(p.Payload), p.PayloadLength)
		}
		if lerr != nil || n != p.Size {
			t.Fatalf("Length = %d, %v; Size %d", n, lerr, p.Size)
		}
		nItems := int(binary.BigEndian.Uint16(buf[6:8]))
		if p.NumItems() != nItems || p.Size != HeaderSize+nItems*PointerSize+int(p.PayloadLength) {
			t.Fatalf("NumItems %d (header says %d), Size %d", p.NumItems(), nItems, p.Size)
		}
		if p.AddrBits != uint(buf[3])*8 {
			t.Fatalf("AddrBits %d, header byte %d", p.AddrBits, buf[3])
		}
		if p.HeapLength >= 0 && p.PayloadOffset+p.PayloadLength > p.HeapLength {
			t.Fatalf("offset %d + length %d > heap length %d accepted", p.PayloadOffset, p.PayloadLength, p.HeapLength)
		}
		if !bytes.Equal(p.Payload, buf[p.Size-len(p.Payload):p.Size]) {
			t.Fatal("Payload is not the bytes before Size")
		}
		// The accessors agree with the decoded fields.
		for id, want := range map[uint64]int64{HeapCntID: p.HeapCnt, PayloadOffsetID: p.PayloadOffset, PayloadLengthID: p.PayloadLength} {
			if v, ok := p.Immediate(id); !ok || int64(v) != want {
				t.Fatalf("Immediate(%d) = %d, %v; field %d", id, v, ok, want)
			}
		}
		if v, ok := p.Immediate(HeapLengthID); ok != (p.HeapLength >= 0) || (ok && int64(v) != p.HeapLength) {
			t.Fatalf("Immediate(heap length) = %d, %v; field %d", v, ok, p.HeapLength)
		}
		stop := false
		for i := 0; i < p.NumItems(); i++ {
			id, imm, v := p.Item(i)
			if imm && id == StreamCtrlID && v == CtrlStreamStop {
				stop = true
			}
		}
		if stop != p.StreamStop {
			t.Fatalf("StreamStop %v, items say %v", p.StreamStop, stop)
		}
	})
}

// FuzzEncodeRoundTrip checks that whatever the encoder accepts decodes back.
func FuzzEncodeRoundTrip(f *testing.F) {
	f.Add(uint8(48), uint16(0), uint16(3), false, uint64(5), uint64(0x1000), uint64(2), uint16(7))
	f.Add(uint8(40), uint16(60), uint16(0), true, uint64(1<<40-1), uint64(0x7fffff), uint64(0), uint16(1000))
	f.Add(uint8(8), uint16(0), uint16(1), true, uint64(255), uint64(5), uint64(1), uint16(0))
	f.Fuzz(func(t *testing.T, bits uint8, maxSize, pp uint16, rep bool, cnt, id, val uint64, size uint16) {
		e, err := NewEncoder(EncoderConfig{AddrBits: int(bits), MaxPacketSize: int(maxSize), PacketPayload: int(pp), RepeatPointers: rep})
		if err != nil {
			return
		}
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = byte(i)
		}
		h := &Heap{Cnt: cnt, Items: []Item{{ID: id, Immediate: true, Value: val}, {ID: id + 1, Value: val}}, Payload: payload}
		if e.NumPackets(h) == 0 {
			if _, err := e.AppendHeap(nil, h); err == nil {
				t.Fatal("NumPackets 0 but AppendHeap succeeded")
			}
			return
		}
		checkRoundTrip(t, e, h)
	})
}
