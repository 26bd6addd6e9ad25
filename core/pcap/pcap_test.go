package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"
)

var (
	srcAP = netip.MustParseAddrPort("127.0.0.1:40000")
	dstAP = netip.MustParseAddrPort("127.0.0.1:7148")
)

func payloadN(i, n int) []byte {
	p := make([]byte, n)
	for j := range p {
		p[j] = byte(i*31 + j)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Now = func() time.Time { return time.Unix(1700000000, 123456000) }
	sizes := []int{0, 1, 2, 3, 100, 1472, 8972, 65507}
	for i, n := range sizes {
		if err := w.WriteUDP(srcAP, netip.AddrPortFrom(dstAP.Addr(), uint16(7000+i)), payloadN(i, n)); err != nil {
			t.Fatal(err)
		}
	}
	v6s, v6d := netip.MustParseAddrPort("[::1]:1"), netip.MustParseAddrPort("[::1]:2")
	if err := w.WriteUDP(v6s, v6d, payloadN(99, 33)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteUDP(srcAP, dstAP, make([]byte, 65508)); err == nil {
		t.Fatal("oversized payload accepted")
	}
	if err := w.WriteUDP(srcAP, v6d, nil); err == nil {
		t.Fatal("mixed families accepted")
	}

	check := func(t *testing.T, rd *Reader) {
		t.Helper()
		for i, n := range sizes {
			src, dst, p, err := rd.NextUDPFrom()
			if err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			want := netip.AddrPortFrom(dstAP.Addr(), uint16(7000+i))
			if src != srcAP || dst != want || !bytes.Equal(p, payloadN(i, n)) {
				t.Fatalf("record %d: got %v->%v %d bytes, want %v->%v %d bytes", i, src, dst, len(p), srcAP, want, n)
			}
		}
		dst, p, err := rd.NextUDP()
		if err != nil || dst != v6d || !bytes.Equal(p, payloadN(99, 33)) {
			t.Fatalf("v6 record: %v %v %v", dst, len(p), err)
		}
		if _, _, err := rd.NextUDP(); err != io.EOF {
			t.Fatalf("want io.EOF, got %v", err)
		}
		if rd.Skipped != 0 || rd.Truncated != 0 {
			t.Fatalf("skipped %d truncated %d", rd.Skipped, rd.Truncated)
		}
	}
	rd, err := NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if rd.LinkType() != LinkTypeEthernet || rd.Nanosecond() {
		t.Fatalf("link type %d nano %v", rd.LinkType(), rd.Nanosecond())
	}
	check(t, rd)
	brd, err := NewBytesReader(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	check(t, brd)

	// Global header and the first record's timestamp, exactly.
	b := buf.Bytes()
	wantHdr := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0}
	if !bytes.Equal(b[:24], wantHdr) {
		t.Fatalf("global header % x", b[:24])
	}
	if s, us := binary.LittleEndian.Uint32(b[24:]), binary.LittleEndian.Uint32(b[28:]); s != 1700000000 || us != 123456 {
		t.Fatalf("timestamp %d.%06d", s, us)
	}
}

func TestChecksums(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	if err := w.WriteUDP(netip.MustParseAddrPort("10.1.2.3:1234"), netip.MustParseAddrPort("239.9.8.7:7148"), []byte("hello, odd")); err != nil {
		t.Fatal(err)
	}
	f := buf.Bytes()[24+16:]
	ip := f[14:34]
	if fold(sum(ip, 0)) != 0xffff {
		t.Fatalf("IPv4 header checksum wrong: % x", ip)
	}
	if got := binary.BigEndian.Uint16(ip[2:]); got != 20+8+10 {
		t.Fatalf("total length %d", got)
	}
	udp := f[34:]
	if fold(udpPseudoSum(f[14:], true, len(udp))+sum(udp, 0)) != 0xffff {
		t.Fatal("UDP checksum wrong")
	}
}

// frame builds a pcap record around an arbitrary link-layer frame.
func record(order binary.ByteOrder, frame []byte, orig int) []byte {
	r := make([]byte, 16+len(frame))
	order.PutUint32(r[8:], uint32(len(frame)))
	order.PutUint32(r[12:], uint32(orig))
	copy(r[16:], frame)
	return r
}

func global(order binary.ByteOrder, magic uint32, link uint32) []byte {
	h := make([]byte, 24)
	order.PutUint32(h, magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], 65535)
	order.PutUint32(h[20:], link)
	return h
}

// ipv4UDP builds an IPv4/UDP packet with optLen bytes of IP options.
func ipv4UDP(optLen int, dport uint16, payload []byte) []byte {
	ihl := 20 + optLen
	p := make([]byte, ihl+8+len(payload))
	p[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8] = 64
	p[9] = 17
	copy(p[12:], []byte{127, 0, 0, 1})
	copy(p[16:], []byte{127, 0, 0, 2})
	for i := 20; i < ihl; i++ {
		p[i] = 1 // NOP options
	}
	u := p[ihl:]
	binary.BigEndian.PutUint16(u[0:], 5555)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	return p
}

func ether(et uint16, vlan bool, body []byte) []byte {
	f := make([]byte, 12)
	if vlan {
		f = binary.BigEndian.AppendUint16(f, 0x8100)
		f = binary.BigEndian.AppendUint16(f, 42)
	}
	f = binary.BigEndian.AppendUint16(f, et)
	return append(f, body...)
}

func TestVariantsAndSkipping(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order binary.ByteOrder
		magic uint32
		nano  bool
	}{
		{"le-micro", binary.LittleEndian, magicMicro, false},
		{"le-nano", binary.LittleEndian, magicNano, true},
		{"be-micro", binary.BigEndian, magicMicro, false},
		{"be-nano", binary.BigEndian, magicNano, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f []byte
			f = append(f, global(tc.order, tc.magic, LinkTypeEthernet)...)
			// 1: ARP, skipped.
			f = append(f, record(tc.order, ether(0x0806, false, make([]byte, 28)), 42)...)
			// 2: UDP with IP options, returned.
			f = append(f, record(tc.order, ether(0x0800, false, ipv4UDP(8, 1001, []byte("opts"))), 0)...)
			// 3: VLAN-tagged UDP with Ethernet padding, returned.
			padded := append(ipv4UDP(0, 1002, []byte("vlan")), 0, 0, 0, 0, 0, 0)
			f = append(f, record(tc.order, ether(0x0800, true, padded), 0)...)
			// 4: TCP, skipped.
			tcp := ipv4UDP(0, 1003, []byte("tcp!"))
			tcp[9] = 6
			f = append(f, record(tc.order, ether(0x0800, false, tcp), 0)...)
			// 5: UDP truncated by the snap length, skipped and counted.
			full := ether(0x0800, false, ipv4UDP(0, 1004, make([]byte, 100)))
			f = append(f, record(tc.order, full[:60], len(full))...)
			// 6: a fragment, skipped.
			frag := ipv4UDP(0, 1005, []byte("frag"))
			frag[6] = 0x20 // more fragments
			f = append(f, record(tc.order, ether(0x0800, false, frag), 0)...)
			// 7: plain UDP, returned.
			f = append(f, record(tc.order, ether(0x0800, false, ipv4UDP(0, 1006, []byte("last"))), 0)...)

			rd, err := NewReader(bytes.NewReader(f))
			if err != nil {
				t.Fatal(err)
			}
			if rd.Nanosecond() != tc.nano {
				t.Fatalf("nano = %v", rd.Nanosecond())
			}
			want := []struct {
				port uint16
				p    string
			}{{1001, "opts"}, {1002, "vlan"}, {1006, "last"}}
			for i, w := range want {
				dst, p, err := rd.NextUDP()
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if dst != netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), w.port) || string(p) != w.p {
					t.Fatalf("packet %d: %v %q", i, dst, p)
				}
			}
			if _, _, err := rd.NextUDP(); err != io.EOF {
				t.Fatalf("want EOF, got %v", err)
			}
			if rd.Skipped != 3 || rd.Truncated != 1 {
				t.Fatalf("skipped %d truncated %d, want 3 and 1", rd.Skipped, rd.Truncated)
			}
		})
	}
}

func TestRawAndSLL(t *testing.T) {
	le := binary.LittleEndian
	raw := append(global(le, magicMicro, LinkTypeRaw), record(le, ipv4UDP(0, 9, []byte("raw")), 0)...)
	sll := make([]byte, 14)
	sll = binary.BigEndian.AppendUint16(sll, 0x0800)
	sll = append(sll, ipv4UDP(4, 10, []byte("sll"))...)
	cooked := append(global(le, magicMicro, LinkTypeLinuxSLL), record(le, sll, 0)...)
	for _, tc := range []struct {
		file []byte
		port uint16
		p    string
	}{{raw, 9, "raw"}, {cooked, 10, "sll"}} {
		rd, err := NewBytesReader(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		dst, p, err := rd.NextUDP()
		if err != nil || dst.Port() != tc.port || string(p) != tc.p {
			t.Fatalf("got %v %q %v", dst, p, err)
		}
	}
}

func TestErrors(t *testing.T) {
	le := binary.LittleEndian
	if _, err := NewReader(bytes.NewReader([]byte("not a pcap file at all.."))); !errors.Is(err, ErrNotPcap) {
		t.Fatalf("bad magic: %v", err)
	}
	if _, err := NewReader(bytes.NewReader(nil)); !errors.Is(err, ErrNotPcap) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := NewReader(bytes.NewReader(global(le, magicMicro, 228))); err == nil {
		t.Fatal("unsupported link type accepted")
	}
	good := append(global(le, magicMicro, LinkTypeEthernet), record(le, ether(0x0800, false, ipv4UDP(0, 1, []byte("x"))), 0)...)
	for cut := 25; cut < len(good); cut += 7 {
		for _, mk := range []func([]byte) (*Reader, error){
			func(b []byte) (*Reader, error) { return NewReader(bytes.NewReader(b)) },
			NewBytesReader,
		} {
			rd, err := mk(good[:cut])
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = rd.NextUDP()
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("cut at %d: want ErrUnexpectedEOF, got %v", cut, err)
			}
		}
	}
}

func TestIPv4ChecksumVector(t *testing.T) {
	// The worked example from Wikipedia's "IPv4 header checksum" article.
	h := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	if got := ^fold(sum(h, 0)); got != 0xb861 {
		t.Fatalf("checksum %#04x, want 0xb861", got)
	}
}
