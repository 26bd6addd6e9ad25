package spead

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func mustEncoder(t testing.TB, cfg EncoderConfig) *Encoder {
	t.Helper()
	e, err := NewEncoder(cfg)
	if err != nil {
		t.Fatalf("NewEncoder(%+v): %v", cfg, err)
	}
	return e
}

// sampleHeap has one immediate and one addressed item besides the standard
// four, and a 7-byte payload.
func sampleHeap() *Heap {
	return &Heap{
		Cnt:     5,
		Items:   []Item{{ID: 0x1000, Immediate: true, Value: 0x2a}, {ID: 0x1001, Value: 2}},
		Payload: []byte("abcdefg"),
	}
}

func TestEncodeExactBytes(t *testing.T) {
	tests := []struct {
		name string
		cfg  EncoderConfig
		heap *Heap
		want []string // one hex vector per packet
	}{
		{
			name: "64-48, 3 bytes per packet, pointers in first only",
			cfg:  EncoderConfig{PacketPayload: 3},
			heap: sampleHeap(),
			want: []string{
				"53 04 02 06 0000 0006" + "8001 000000000005" + "8002 000000000007" + "8003 000000000000" + "8004 000000000003" +
					"9000 00000000002a" + "1001 000000000002" + "616263",
				"53 04 02 06 0000 0004" + "8001 000000000005" + "8002 000000000007" + "8003 000000000003" + "8004 000000000003" + "646566",
				"53 04 02 06 0000 0004" + "8001 000000000005" + "8002 000000000007" + "8003 000000000006" + "8004 000000000001" + "67",
			},
		},
		{
			name: "64-40, 60-byte packets, repeated pointers",
			cfg:  EncoderConfig{AddrBits: 40, MaxPacketSize: 60, RepeatPointers: true},
			heap: sampleHeap(),
			want: []string{
				"53 04 03 05 0000 0006" + "800001 0000000005" + "800002 0000000007" + "800003 0000000000" + "800004 0000000004" +
					"801000 000000002a" + "001001 0000000002" + "61626364",
				"53 04 03 05 0000 0006" + "800001 0000000005" + "800002 0000000007" + "800003 0000000004" + "800004 0000000003" +
					"801000 000000002a" + "001001 0000000002" + "656667",
			},
		},
		{
			name: "64-48, 60-byte packets, later packets carry more payload",
			cfg:  EncoderConfig{MaxPacketSize: 60},
			heap: sampleHeap(),
			want: []string{
				"53 04 02 06 0000 0006" + "8001 000000000005" + "8002 000000000007" + "8003 000000000000" + "8004 000000000004" +
					"9000 00000000002a" + "1001 000000000002" + "61626364",
				"53 04 02 06 0000 0004" + "8001 000000000005" + "8002 000000000007" + "8003 000000000004" + "8004 000000000003" + "656667",
			},
		},
		{
			name: "stop heap",
			cfg:  EncoderConfig{},
			heap: StopHeap(9),
			want: []string{
				"53 04 02 06 0000 0005" + "8001 000000000009" + "8002 000000000000" + "8003 000000000000" + "8004 000000000000" +
					"8006 000000000002",
			},
		},
		{
			name: "64-56 empty heap is one packet",
			cfg:  EncoderConfig{AddrBits: 56, PacketPayload: 4},
			heap: &Heap{Cnt: 3},
			want: []string{
				"53 04 01 07 0000 0004" + "81 00000000000003" + "82 00000000000000" + "83 00000000000000" + "84 00000000000000",
			},
		},
		{
			name: "64-8: one-byte values",
			cfg:  EncoderConfig{AddrBits: 8, PacketPayload: 2},
			heap: &Heap{Cnt: 0xff, Items: []Item{{ID: 0x7fffffffffffff, Value: 0x01}}, Payload: []byte{1, 2, 3}},
			want: []string{
				"53 04 07 01 0000 0005" + "80000000000001 ff" + "80000000000002 03" + "80000000000003 00" + "80000000000004 02" +
					"7fffffffffffff 01" + "0102",
				"53 04 07 01 0000 0004" + "80000000000001 ff" + "80000000000002 03" + "80000000000003 02" + "80000000000004 01" + "03",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEncoder(t, tc.cfg)
			var want [][]byte
			for _, w := range tc.want {
				want = append(want, hx(t, w))
			}
			if n := e.NumPackets(tc.heap); n != len(want) {
				t.Fatalf("NumPackets = %d, want %d", n, len(want))
			}
			if hs := e.HeaderSize(tc.heap); hs != HeaderSize+PointerSize*(4+len(tc.heap.Items)) {
				t.Fatalf("HeaderSize = %d", hs)
			}
			prefix := []byte("prefix")
			got, err := e.AppendHeap(append([]byte(nil), prefix...), tc.heap)
			if err != nil {
				t.Fatalf("AppendHeap: %v", err)
			}
			if wantAll := cat(prefix, cat(want...)); !bytes.Equal(got, wantAll) {
				t.Fatalf("AppendHeap =\n% x\nwant\n% x", got, wantAll)
			}
			i := 0
			err = e.Packets(tc.heap, func(pkt []byte) error {
				if i >= len(want) {
					t.Fatalf("Packets: more than %d packets", len(want))
				}
				if !bytes.Equal(pkt, want[i]) {
					t.Fatalf("Packets[%d] =\n% x\nwant\n% x", i, pkt, want[i])
				}
				i++
				return nil
			})
			if err != nil || i != len(want) {
				t.Fatalf("Packets: %v after %d packets, want %d", err, i, len(want))
			}
		})
	}
}

// TestRoundTrip encodes heaps with many packetisations and decodes them
// back, checking every packet's fields and the reassembled payload.
func TestRoundTrip(t *testing.T) {
	items := []Item{
		{ID: 0x1600, Immediate: true, Value: 1234567},
		{ID: DescriptorID, Value: 0},
		{ID: 0x1601, Value: 3},
		{ID: StreamCtrlID, Immediate: true, Value: CtrlStreamStart},
	}
	payloadSizes := []int{0, 1, 7, 100, 1000, 1433, 1434, 4097}
	var configs []EncoderConfig
	for _, bits := range []int{40, 48} {
		for _, rep := range []bool{false, true} {
			configs = append(configs,
				EncoderConfig{AddrBits: bits, RepeatPointers: rep},                     // 1472 default
				EncoderConfig{AddrBits: bits, RepeatPointers: rep, MaxPacketSize: 73},  // first packet carries 1 byte
				EncoderConfig{AddrBits: bits, RepeatPointers: rep, MaxPacketSize: 101}, // odd split
				EncoderConfig{AddrBits: bits, RepeatPointers: rep, PacketPayload: 1},
				EncoderConfig{AddrBits: bits, RepeatPointers: rep, PacketPayload: 7},
				EncoderConfig{AddrBits: bits, RepeatPointers: rep, PacketPayload: 1000},
				EncoderConfig{AddrBits: bits, RepeatPointers: rep, PacketPayload: 8192},
			)
		}
	}
	for _, cfg := range configs {
		for _, size := range payloadSizes {
			name := fmt.Sprintf("bits=%d/rep=%v/max=%d/pp=%d/size=%d",
				cfg.AddrBits, cfg.RepeatPointers, cfg.MaxPacketSize, cfg.PacketPayload, size)
			t.Run(name, func(t *testing.T) {
				e := mustEncoder(t, cfg)
				payload := make([]byte, size)
				for i := range payload {
					payload[i] = byte(i*7 + i>>8)
				}
				h := &Heap{Cnt: 1<<cfg.AddrBits - 1, Items: items, Payload: payload}
				if size < 3 {
					h.Items = items[:2] // the addressed item at 3 would point past the end
				}
				checkRoundTrip(t, e, h)
			})
		}
	}
}

func checkRoundTrip(t *testing.T, e *Encoder, h *Heap) {
	t.Helper()
	cfg := e.Config()
	buf, err := e.AppendHeap(nil, h)
	if err != nil {
		t.Fatalf("AppendHeap: %v", err)
	}
	var got []byte
	var p Packet
	npkt := 0
	for rest := buf; len(rest) > 0; npkt++ {
		n, err := Length(rest)
		if err != nil {
			t.Fatalf("packet %d: Length: %v", npkt, err)
		}
		if err := Decode(rest, &p); err != nil {
			t.Fatalf("packet %d: Decode: %v", npkt, err)
		}
		if p.Size != n {
			t.Fatalf("packet %d: Size %d, Length %d", npkt, p.Size, n)
		}
		if p.HeapCnt != int64(h.Cnt) || p.HeapLength != int64(len(h.Payload)) ||
			p.PayloadOffset != int64(len(got)) || p.AddrBits != uint(cfg.AddrBits) {
			t.Fatalf("packet %d: cnt=%d heapLen=%d off=%d (want %d) bits=%d stop=%v",
				npkt, p.HeapCnt, p.HeapLength, p.PayloadOffset, len(got), p.AddrBits, p.StreamStop)
		}
		// The standard four come first, in spead2's order.
		for i, id := range []uint64{HeapCntID, HeapLengthID, PayloadOffsetID, PayloadLengthID} {
			if gid, imm, _ := p.Item(i); gid != id || !imm {
				t.Fatalf("packet %d: pointer %d is %#x (imm %v), want immediate %#x", npkt, i, gid, imm, id)
			}
		}
		wantItems := 0
		if npkt == 0 || cfg.RepeatPointers {
			wantItems = len(h.Items)
		}
		if p.NumItems() != 4+wantItems {
			t.Fatalf("packet %d: %d pointers, want %d", npkt, p.NumItems(), 4+wantItems)
		}
		wantStop := false
		for _, it := range h.Items[:wantItems] {
			wantStop = wantStop || (it.Immediate && it.ID == StreamCtrlID && it.Value == CtrlStreamStop)
		}
		if p.StreamStop != wantStop {
			t.Fatalf("packet %d: StreamStop %v, want %v", npkt, p.StreamStop, wantStop)
		}
		for i := 0; i < wantItems; i++ {
			id, imm, v := p.Item(4 + i)
			if w := h.Items[i]; id != w.ID || imm != w.Immediate || v != w.Value {
				t.Fatalf("packet %d: item %d = %#x %v %#x, want %+v", npkt, i, id, imm, v, w)
			}
		}
		switch {
		case cfg.PacketPayload > 0:
			if want := min(cfg.PacketPayload, len(h.Payload)-len(got)); int(p.PayloadLength) != want {
				t.Fatalf("packet %d: payload %d bytes, want %d", npkt, p.PayloadLength, want)
			}
		case p.Size > cfg.MaxPacketSize:
			t.Fatalf("packet %d: %d bytes, max %d", npkt, p.Size, cfg.MaxPacketSize)
		case len(got)+int(p.PayloadLength) < len(h.Payload) && p.Size != cfg.MaxPacketSize:
			t.Fatalf("packet %d: non-final packet of %d bytes, want full %d", npkt, p.Size, cfg.MaxPacketSize)
		}
		if len(h.Payload) > 0 && p.PayloadLength == 0 {
			t.Fatalf("packet %d: empty packet in a non-empty heap", npkt)
		}
		got = append(got, p.Payload...)
		rest = rest[p.Size:]
	}
	if !bytes.Equal(got, h.Payload) {
		t.Fatalf("reassembled payload differs (%d bytes, want %d)", len(got), len(h.Payload))
	}
	if want := e.NumPackets(h); npkt != want {
		t.Fatalf("%d packets, NumPackets says %d", npkt, want)
	}
	// Packets must produce the same bytes.
	var viaFn []byte
	if err := e.Packets(h, func(pkt []byte) error { viaFn = append(viaFn, pkt...); return nil }); err != nil {
		t.Fatalf("Packets: %v", err)
	}
	if !bytes.Equal(viaFn, buf) {
		t.Fatalf("Packets output differs from AppendHeap")
	}
}

func TestStopHeapRoundTrip(t *testing.T) {
	for _, bits := range []int{40, 48} {
		e := mustEncoder(t, EncoderConfig{AddrBits: bits, RepeatPointers: true})
		buf, err := e.AppendHeap(nil, StopHeap(77))
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		if err := Decode(buf, &p); err != nil {
			t.Fatal(err)
		}
		if !p.StreamStop || p.HeapCnt != 77 || p.HeapLength != 0 || p.PayloadLength != 0 || p.Size != len(buf) {
			t.Fatalf("bits=%d: stop=%v cnt=%d heapLen=%d len=%d size=%d/%d",
				bits, p.StreamStop, p.HeapCnt, p.HeapLength, p.PayloadLength, p.Size, len(buf))
		}
		if v, ok := p.Immediate(StreamCtrlID); !ok || v != CtrlStreamStop {
			t.Fatalf("stream control = %d, %v", v, ok)
		}
	}
}

func TestNewEncoderErrors(t *testing.T) {
	bad := []struct {
		cfg  EncoderConfig
		want error
	}{
		{EncoderConfig{AddrBits: 4}, ErrFlavour},
		{EncoderConfig{AddrBits: 44}, ErrFlavour},
		{EncoderConfig{AddrBits: 64}, ErrFlavour},
		{EncoderConfig{AddrBits: 60}, ErrFlavour},
		{EncoderConfig{AddrBits: -8}, ErrFlavour},
		{EncoderConfig{MaxPacketSize: 40}, ErrPacketTooSmall},
		{EncoderConfig{MaxPacketSize: -1}, ErrPacketTooSmall},
		{EncoderConfig{PacketPayload: -1}, nil},
	}
	for _, tc := range bad {
		e, err := NewEncoder(tc.cfg)
		if err == nil || e != nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("NewEncoder(%+v) = %v, %v; want error %v", tc.cfg, e, err, tc.want)
		}
	}
	good := []struct {
		cfg, want EncoderConfig
	}{
		{EncoderConfig{}, EncoderConfig{AddrBits: 48, MaxPacketSize: 1472}},
		{EncoderConfig{AddrBits: 40, MaxPacketSize: 41}, EncoderConfig{AddrBits: 40, MaxPacketSize: 41}},
		{EncoderConfig{AddrBits: 8}, EncoderConfig{AddrBits: 8, MaxPacketSize: 1472}},
		{EncoderConfig{AddrBits: 56, MaxPacketSize: 1, PacketPayload: 1, RepeatPointers: true},
			EncoderConfig{AddrBits: 56, MaxPacketSize: 1, PacketPayload: 1, RepeatPointers: true}},
	}
	for _, tc := range good {
		e, err := NewEncoder(tc.cfg)
		if err != nil {
			t.Errorf("NewEncoder(%+v): %v", tc.cfg, err)
			continue
		}
		if got := e.Config(); got != tc.want {
			t.Errorf("Config() = %+v, want %+v", got, tc.want)
		}
	}
}

func TestEncodeHeapErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  EncoderConfig
		heap *Heap
		want error
	}{
		{"heap counter too wide for 40 bits", EncoderConfig{AddrBits: 40}, &Heap{Cnt: 1 << 40}, ErrValueRange},
		{"heap length too wide for 8 bits", EncoderConfig{AddrBits: 8, PacketPayload: 100}, &Heap{Payload: make([]byte, 256)}, ErrValueRange},
		{"immediate too wide", EncoderConfig{AddrBits: 48}, &Heap{Items: []Item{{ID: 0x10, Immediate: true, Value: 1 << 48}}}, ErrValueRange},
		{"address beyond payload", EncoderConfig{}, &Heap{Items: []Item{{ID: 0x10, Value: 2}}, Payload: []byte{1}}, ErrAddress},
		{"ID too wide for 64-40", EncoderConfig{AddrBits: 40}, &Heap{Items: []Item{{ID: 1 << 23}}}, ErrItemID},
		{"ID too wide for 64-56", EncoderConfig{AddrBits: 56}, &Heap{Items: []Item{{ID: 0x80, Immediate: true}}}, ErrItemID},
		{"heap counter ID in Items", EncoderConfig{}, &Heap{Items: []Item{{ID: HeapCntID, Immediate: true}}}, ErrItemID},
		{"payload length ID in Items", EncoderConfig{}, &Heap{Items: []Item{{ID: PayloadLengthID, Immediate: true}}}, ErrItemID},
		{"items leave no room for payload", EncoderConfig{MaxPacketSize: 56}, &Heap{Items: make([]Item, 2), Payload: []byte{1}}, ErrPacketTooSmall},
		{"items overflow the packet", EncoderConfig{MaxPacketSize: 48}, &Heap{Items: make([]Item, 2)}, ErrPacketTooSmall},
		{"more than 65535 pointers", EncoderConfig{PacketPayload: 1}, &Heap{Items: make([]Item, 65532)}, ErrTooManyItems},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEncoder(t, tc.cfg)
			dst := []byte("keep")
			got, err := e.AppendHeap(dst, tc.heap)
			if !errors.Is(err, tc.want) || string(got) != "keep" {
				t.Fatalf("AppendHeap = %q, %v; want \"keep\", %v", got, err, tc.want)
			}
			called := false
			if err := e.Packets(tc.heap, func([]byte) error { called = true; return nil }); !errors.Is(err, tc.want) || called {
				t.Fatalf("Packets = %v (fn called %v), want %v", err, called, tc.want)
			}
			if n := e.NumPackets(tc.heap); n != 0 {
				t.Fatalf("NumPackets = %d, want 0", n)
			}
		})
	}
	// Limits that are just inside.
	ok := []struct {
		name string
		cfg  EncoderConfig
		heap *Heap
	}{
		{"empty heap whose pointers fill the packet", EncoderConfig{MaxPacketSize: 56}, &Heap{Items: make([]Item, 2)}},
		{"largest 40-bit counter", EncoderConfig{AddrBits: 40}, &Heap{Cnt: 1<<40 - 1}},
		{"address at end of payload", EncoderConfig{}, &Heap{Items: []Item{{ID: 0x10, Value: 1}}, Payload: []byte{1}}},
		{"65535 pointers", EncoderConfig{PacketPayload: 1}, &Heap{Items: make([]Item, 65531)}},
	}
	for _, tc := range ok {
		e := mustEncoder(t, tc.cfg)
		buf, err := e.AppendHeap(nil, tc.heap)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var p Packet
		if err := Decode(buf, &p); err != nil || p.Size != len(buf) {
			t.Errorf("%s: Decode: %v (size %d of %d)", tc.name, err, p.Size, len(buf))
		}
	}
}

func TestPacketsStopsOnError(t *testing.T) {
	e := mustEncoder(t, EncoderConfig{PacketPayload: 2})
	stop := errors.New("stop")
	calls := 0
	err := e.Packets(&Heap{Payload: make([]byte, 10)}, func([]byte) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Fatalf("Packets = %v after %d calls, want stop after 2", err, calls)
	}
}
