package spead

import (
	"bytes"
	"errors"
	"testing"
)

// Vectors in SPEAD-64-48: each pointer is written as its top two bytes
// (immediate flag and item ID) then its six value bytes.
const (
	hdr48      = "53 04 02 06 0000 0004"
	cnt7       = "8001 000000000007"
	heapLen10  = "8002 00000000000a"
	off4       = "8003 000000000004"
	len4       = "8004 000000000004"
	payloadHex = "61 62 63 64"
)

// good48 is a valid packet: heap 7 of 10 bytes, payload "abcd" at offset 4.
const good48 = hdr48 + cnt7 + heapLen10 + off4 + len4 + payloadHex

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		cnt      int64
		heapLen  int64
		off, n   int64
		addrBits uint
		items    int
		size     int
		payload  string
	}{
		{"64-48", good48, 7, 10, 4, 4, 48, 4, 44, "abcd"},
		{"trailing bytes ignored", good48 + "ff ee dd", 7, 10, 4, 4, 48, 4, 44, "abcd"},
		{"64-40",
			"53 04 03 05 0000 0004" +
				"800001 0000000007" + "800002 000000000a" + "800003 0000000004" + "800004 0000000004" +
				payloadHex,
			7, 10, 4, 4, 40, 4, 44, "abcd"},
		{"64-32 (any widths summing to 8)",
			"53 04 04 04 0000 0003" +
				"80000001 00000009" + "80000003 00000000" + "80000004 00000002" + "7a 7a",
			9, -1, 0, 2, 32, 3, 34, "zz"},
		{"64-56",
			"53 04 01 07 0000 0003" +
				"81 00000000000001" + "83 00000000000000" + "84 00000000000000",
			1, -1, 0, 0, 56, 3, 32, ""},
		{"no heap length",
			"53 04 02 06 0000 0003" + cnt7 + off4 + len4 + payloadHex,
			7, -1, 4, 4, 48, 3, 36, "abcd"},
		{"items in any order, null and addressed items skipped",
			"53 04 02 06 0000 0006" + len4 + "0000 000000000000" + off4 +
				"0005 000000000000" + heapLen10 + cnt7 + payloadHex,
			7, 10, 4, 4, 48, 6, 60, "abcd"},
		{"offset+length == heap length",
			"53 04 02 06 0000 0004" + cnt7 + "8002 000000000008" + off4 + len4 + payloadHex,
			7, 8, 4, 4, 48, 4, 44, "abcd"},
		{"duplicates: first occurrence wins",
			"53 04 02 06 0000 0008" + cnt7 + heapLen10 + off4 + len4 +
				"8001 000000000009" + "8002 000000000002" + "8003 000000000000" + "8004 000000000000" +
				payloadHex,
			7, 10, 4, 4, 48, 8, 76, "abcd"},
		{"empty heap",
			"53 04 02 06 0000 0004" + cnt7 + "8002 000000000000" + "8003 000000000000" + "8004 000000000000",
			7, 0, 0, 0, 48, 4, 40, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := hx(t, tc.in)
			var p Packet
			if err := Decode(buf, &p); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if p.HeapCnt != tc.cnt || p.HeapLength != tc.heapLen || p.PayloadOffset != tc.off ||
				p.PayloadLength != tc.n || p.AddrBits != tc.addrBits || p.NumItems() != tc.items ||
				p.Size != tc.size || string(p.Payload) != tc.payload || p.StreamStop {
				t.Fatalf("got cnt=%d heapLen=%d off=%d len=%d addrBits=%d items=%d size=%d payload=%q stop=%v",
					p.HeapCnt, p.HeapLength, p.PayloadOffset, p.PayloadLength, p.AddrBits,
					p.NumItems(), p.Size, p.Payload, p.StreamStop)
			}
			if want := buf[HeaderSize : HeaderSize+tc.items*PointerSize]; !bytes.Equal(p.Pointers, want) {
				t.Fatalf("Pointers = % x, want % x", p.Pointers, want)
			}
			n, err := Length(buf)
			if err != nil || n != tc.size {
				t.Fatalf("Length = %d, %v; want %d", n, err, tc.size)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrShort},
		{"7 bytes", "53 04 02 06 0000 00", ErrShort},
		{"bad magic", "54 04 02 06 0000 0004" + cnt7 + heapLen10 + off4 + len4 + payloadHex, ErrMagic},
		{"bad version", "53 03 02 06 0000 0004" + cnt7 + heapLen10 + off4 + len4 + payloadHex, ErrMagic},
		{"bad magic, header only", "00 04 02 06 0000 0000", ErrMagic},
		{"widths 0/8", "53 04 00 08 0000 0000", ErrFlavour},
		{"widths 8/0", "53 04 08 00 0000 0000", ErrFlavour},
		{"widths 0/0", "53 04 00 00 0000 0000", ErrFlavour},
		{"widths 3/6", "53 04 03 06 0000 0004" + cnt7 + heapLen10 + off4 + len4 + payloadHex, ErrFlavour},
		{"widths 2/5", "53 04 02 05 0000 0004" + cnt7 + heapLen10 + off4 + len4 + payloadHex, ErrFlavour},
		{"widths ff/09 (sum wraps in a byte)", "53 04 ff 09 0000 0000", ErrFlavour},
		{"pointers overrun the packet", "53 04 02 06 0000 0006" + cnt7 + heapLen10 + off4 + len4 + payloadHex, ErrTooManyPointers},
		{"pointer cut short", "53 04 02 06 0000 0004" + cnt7 + heapLen10 + off4 + "8004 0000", ErrTooManyPointers},
		{"n=65535, nothing follows", "53 04 02 06 0000 ffff", ErrTooManyPointers},
		{"no pointers", "53 04 02 06 0000 0000", ErrMissingItem},
		{"missing heap counter", "53 04 02 06 0000 0004" + "0000 000000000000" + heapLen10 + off4 + len4 + payloadHex, ErrMissingItem},
		{"heap counter addressed", "53 04 02 06 0000 0004" + "0001 000000000007" + heapLen10 + off4 + len4 + payloadHex, ErrMissingItem},
		{"missing payload offset", "53 04 02 06 0000 0004" + cnt7 + heapLen10 + "8005 000000000004" + len4 + payloadHex, ErrMissingItem},
		{"payload offset addressed", "53 04 02 06 0000 0004" + cnt7 + heapLen10 + "0003 000000000004" + len4 + payloadHex, ErrMissingItem},
		{"missing payload length", "53 04 02 06 0000 0003" + cnt7 + heapLen10 + off4 + payloadHex, ErrMissingItem},
		{"payload length addressed", "53 04 02 06 0000 0004" + cnt7 + heapLen10 + off4 + "0004 000000000004" + payloadHex, ErrMissingItem},
		{"payload longer than buffer", "53 04 02 06 0000 0004" + cnt7 + heapLen10 + off4 + "8004 000000000005" + payloadHex, ErrShort},
		{"payload length huge", "53 04 02 06 0000 0004" + cnt7 + heapLen10 + off4 + "8004 ffffffffffff" + payloadHex, ErrShort},
		{"offset+length > heap length", "53 04 02 06 0000 0004" + cnt7 + "8002 000000000007" + off4 + len4 + payloadHex, ErrPayloadRange},
		{"offset beyond heap length", "53 04 02 06 0000 0004" + cnt7 + heapLen10 + "8003 00000000000b" + "8004 000000000000", ErrPayloadRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			if err := Decode(hx(t, tc.in), &p); !errors.Is(err, tc.want) {
				t.Fatalf("Decode error = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestCut: Cut is Length for a packet that must be whole in buf.
func TestCut(t *testing.T) {
	buf := hx(t, good48) // 44 bytes
	for i := 0; i < len(buf); i++ {
		if n, err := Cut(buf[:i]); !errors.Is(err, ErrShort) {
			t.Fatalf("Cut(%d-byte prefix) = %d, %v; want ErrShort", i, n, err)
		}
	}
	two := cat(buf, buf)
	if n, err := Cut(two); err != nil || n != 44 {
		t.Fatalf("Cut(two packets) = %d, %v; want 44, nil", n, err)
	}
	bad := append([]byte{0x54}, buf[1:]...)
	if _, err := Cut(bad); !errors.Is(err, ErrMagic) {
		t.Fatalf("Cut(bad magic) = %v; want ErrMagic", err)
	}
}

func TestLength(t *testing.T) {
	buf := hx(t, good48)
	const hdrEnd = HeaderSize + 4*PointerSize
	// Until the header and every pointer are in, the size cannot be known.
	for i := 0; i < hdrEnd; i++ {
		if n, err := Length(buf[:i]); err != ErrShort || n != 0 {
			t.Fatalf("Length(%d-byte prefix) = %d, %v; want 0, ErrShort", i, n, err)
		}
	}
	// From then on it is known, with or without the payload.
	for i := hdrEnd; i <= len(buf); i++ {
		if n, err := Length(buf[:i]); err != nil || n != 44 {
			t.Fatalf("Length(%d-byte prefix) = %d, %v; want 44, nil", i, n, err)
		}
	}
	// Back-to-back packets: Length finds the second one.
	two := cat(buf, hx(t, "53 04 02 06 0000 0003"+cnt7+"8003 000000000000"+"8004 000000000001"+"ee"))
	n, err := Length(two)
	if err != nil || n != 44 {
		t.Fatalf("Length(first) = %d, %v", n, err)
	}
	if n2, err := Length(two[n:]); err != nil || n2 != 33 {
		t.Fatalf("Length(second) = %d, %v; want 33", n2, err)
	}

	bad := []struct {
		name string
		in   string
		want error
	}{
		{"bad magic", "52 04 02 06 0000 0000", ErrMagic},
		{"bad widths", "53 04 04 05 0000 0000", ErrFlavour},
		{"no payload length", "53 04 02 06 0000 0002" + cnt7 + off4, ErrMissingItem},
		{"payload length addressed", "53 04 02 06 0000 0001" + "0004 000000000004", ErrMissingItem},
	}
	for _, tc := range bad {
		if n, err := Length(hx(t, tc.in)); err != tc.want || n != 0 {
			t.Errorf("%s: Length = %d, %v; want 0, %v", tc.name, n, err, tc.want)
		}
	}
}

func TestStreamStop(t *testing.T) {
	tests := []struct {
		name string
		ctrl string
		stop bool
	}{
		{"stop", "8006 000000000002", true},
		{"start", "8006 000000000000", false},
		{"descriptor reissue", "8006 000000000001", false},
		{"descriptor update", "8006 000000000003", false},
		{"addressed control item is not a stop", "0006 000000000000", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := hx(t, "53 04 02 06 0000 0005"+cnt7+"8002 000000000000"+"8003 000000000000"+"8004 000000000000"+tc.ctrl)
			var p Packet
			if err := Decode(buf, &p); err != nil {
				t.Fatal(err)
			}
			if p.StreamStop != tc.stop {
				t.Fatalf("StreamStop = %v, want %v", p.StreamStop, tc.stop)
			}
		})
	}
	// Decoding into a reused Packet must clear a previous stop.
	var p Packet
	if err := Decode(hx(t, "53 04 02 06 0000 0004"+cnt7+"8003 000000000000"+"8004 000000000000"+"8006 000000000002"), &p); err != nil || !p.StreamStop {
		t.Fatalf("stop packet: %v, stop=%v", err, p.StreamStop)
	}
	if err := Decode(hx(t, good48), &p); err != nil || p.StreamStop || p.HeapLength != 10 {
		t.Fatalf("reused Packet: %v, stop=%v heapLen=%d", err, p.StreamStop, p.HeapLength)
	}
}

func TestItemAccessors(t *testing.T) {
	// 64-40: 3-byte ID field (flag + 23-bit ID), 5-byte value.
	buf := hx(t, "53 04 03 05 0000 0007"+
		"800001 000000002a"+ // heap cnt 42
		"800003 0000000000"+ // payload offset 0
		"800004 0000000002"+ // payload length 2
		"801234 ffffffffff"+ // immediate 0x1234 = max 40-bit value
		"001235 0000000001"+ // addressed 0x1235 at offset 1
		"7fffff 0000000000"+ // addressed, largest 64-40 ID
		"801234 0000000005"+ // second immediate 0x1234: Immediate returns the first
		"abcd")
	var p Packet
	if err := Decode(buf, &p); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id  uint64
		imm bool
		v   uint64
	}{
		{HeapCntID, true, 42},
		{PayloadOffsetID, true, 0},
		{PayloadLengthID, true, 2},
		{0x1234, true, 1<<40 - 1},
		{0x1235, false, 1},
		{1<<23 - 1, false, 0},
		{0x1234, true, 5},
	}
	if p.NumItems() != len(want) {
		t.Fatalf("NumItems = %d, want %d", p.NumItems(), len(want))
	}
	for i, w := range want {
		id, imm, v := p.Item(i)
		if id != w.id || imm != w.imm || v != w.v {
			t.Errorf("Item(%d) = %#x, %v, %#x; want %#x, %v, %#x", i, id, imm, v, w.id, w.imm, w.v)
		}
	}
	imms := []struct {
		id uint64
		v  uint64
		ok bool
	}{
		{HeapCntID, 42, true},
		{PayloadLengthID, 2, true},
		{0x1234, 1<<40 - 1, true},
		{0x1235, 0, false}, // addressed only
		{HeapLengthID, 0, false},
		{0x999, 0, false},
	}
	for _, w := range imms {
		if v, ok := p.Immediate(w.id); v != w.v || ok != w.ok {
			t.Errorf("Immediate(%#x) = %#x, %v; want %#x, %v", w.id, v, ok, w.v, w.ok)
		}
	}
}
