// Package pcap reads and writes classic pcap capture files holding UDP
// datagrams, enough for recording SPEAD traffic and replaying it.
//
// Supported on reading: the classic format in either byte order, with
// microsecond or nanosecond timestamps; link types Ethernet (with optional
// 802.1Q / 802.1ad VLAN tags), raw IP and Linux cooked capture (SLL); IPv4
// (with options) and IPv6 (without extension headers) carrying UDP. Anything
// else (ARP, TCP, IP fragments, frames cut short by the snap length) is
// skipped and counted, never returned. pcapng is not supported.
//
// The writer produces little-endian, microsecond, Ethernet captures with a
// correct IPv4 header checksum and UDP checksum.
package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// File magic numbers as they read in the file's own byte order.
const (
	magicMicro = 0xa1b2c3d4
	magicNano  = 0xa1b23c4d
)

// Link types (LINKTYPE_* values from tcpdump.org).
const (
	LinkTypeEthernet = 1
	LinkTypeRaw      = 101
	LinkTypeLinuxSLL = 113
)

const (
	globalHeaderSize = 24
	recordHeaderSize = 16
	// DefaultSnapLen is the snap length the writer declares: large enough
	// for any UDP datagram.
	DefaultSnapLen = 262144
	// maxRecord bounds a record's captured length so that a corrupt header
	// gives an error instead of a huge allocation.
	maxRecord = 1 << 24
)

const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8
	protoUDP      = 17
)

// ErrNotPcap is returned by NewReader when the input does not start with a
// classic pcap magic number.
var ErrNotPcap = errors.New("pcap: not a classic pcap file (bad magic number)")

// Writer writes a classic pcap file of Ethernet/IP/UDP frames.
type Writer struct {
	w     io.Writer
	buf   []byte
	ident uint16
	// Now gives the timestamp of each record; nil means time.Now. Tests set
	// it for reproducible files.
	Now func() time.Time
}

// NewWriter writes the global header (little endian, microsecond
// timestamps, link type Ethernet) to w and returns a Writer for records.
func NewWriter(w io.Writer) (*Writer, error) {
	var h [globalHeaderSize]byte
	le := binary.LittleEndian
	le.PutUint32(h[0:], magicMicro)
	le.PutUint16(h[4:], 2) // version 2.4
	le.PutUint16(h[6:], 4)
	// h[8:16]: thiszone and sigfigs, zero
	le.PutUint32(h[16:], DefaultSnapLen)
	le.PutUint32(h[20:], LinkTypeEthernet)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap: writing global header: %w", err)
	}
	return &Writer{w: w}, nil
}

// Fixed MAC addresses for written frames: locally administered, so they
// cannot be mistaken for real hardware.
var (
	macDst = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	macSrc = [6]byte{0x02, 0, 0, 0, 0, 0x01}
)

// WriteUDP writes one Ethernet frame carrying payload as a UDP datagram from
// src to dst. Both addresses must be IPv4 (or IPv4-mapped IPv6), or both
// IPv6. The payload must fit in one unfragmented IP packet.
func (w *Writer) WriteUDP(src, dst netip.AddrPort, payload []byte) error {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	v4 := sa.Is4() && da.Is4()
	if !v4 && !(sa.Is6() && da.Is6()) {
		return fmt.Errorf("pcap: WriteUDP: source %v and destination %v must both be IPv4 or both IPv6", src, dst)
	}
	ipHdr := 40
	if v4 {
		ipHdr = 20
	}
	udpLen := 8 + len(payload)
	if ipHdr+udpLen > 65535 && v4 || udpLen > 65535 {
		return fmt.Errorf("pcap: WriteUDP: payload of %d bytes does not fit in one IP packet", len(payload))
	}
	frameLen := 14 + ipHdr + udpLen
	need := recordHeaderSize + frameLen
	if cap(w.buf) < need {
		w.buf = make([]byte, need)
	}
	b := w.buf[:need]
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	t := now()
	le, be := binary.LittleEndian, binary.BigEndian
	le.PutUint32(b[0:], uint32(t.Unix()))
	le.PutUint32(b[4:], uint32(t.Nanosecond()/1000))
	le.PutUint32(b[8:], uint32(frameLen))
	le.PutUint32(b[12:], uint32(frameLen))

	f := b[recordHeaderSize:]
	copy(f[0:6], macDst[:])
	copy(f[6:12], macSrc[:])
	ip := f[14:]
	udp := ip[ipHdr:]
	if v4 {
		be.PutUint16(f[12:], etherTypeIPv4)
		ip[0] = 0x45 // version 4, IHL 5
		ip[1] = 0
		be.PutUint16(ip[2:], uint16(ipHdr+udpLen))
		w.ident++
		be.PutUint16(ip[4:], w.ident)
		be.PutUint16(ip[6:], 0x4000) // don't fragment
		ip[8] = 64                   // TTL
		ip[9] = protoUDP
		ip[10], ip[11] = 0, 0
		s4, d4 := sa.As4(), da.As4()
		copy(ip[12:16], s4[:])
		copy(ip[16:20], d4[:])
		be.PutUint16(ip[10:], ^fold(sum(ip[:20], 0)))
	} else {
		be.PutUint16(f[12:], etherTypeIPv6)
		be.PutUint32(ip[0:], 6<<28)
		be.PutUint16(ip[4:], uint16(udpLen))
		ip[6] = protoUDP
		ip[7] = 64 // hop limit
		s16, d16 := sa.As16(), da.As16()
		copy(ip[8:24], s16[:])
		copy(ip[24:40], d16[:])
	}
	be.PutUint16(udp[0:], src.Port())
	be.PutUint16(udp[2:], dst.Port())
	be.PutUint16(udp[4:], uint16(udpLen))
	udp[6], udp[7] = 0, 0
	copy(udp[8:], payload)
	c := ^fold(udpPseudoSum(ip, v4, udpLen) + sum(udp[:udpLen], 0))
	if c == 0 {
		c = 0xffff // zero means "no checksum" in UDP
	}
	be.PutUint16(udp[6:], c)
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("pcap: writing record: %w", err)
	}
	return nil
}

// sum adds b as big-endian 16-bit words to acc (one's complement sum,
// carries folded later).
func sum(b []byte, acc uint64) uint64 {
	for len(b) >= 2 {
		acc += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

func fold(acc uint64) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}

// udpPseudoSum is the checksum contribution of the IP pseudo-header.
func udpPseudoSum(ip []byte, v4 bool, udpLen int) uint64 {
	var acc uint64
	if v4 {
		acc = sum(ip[12:20], 0)
	} else {
		acc = sum(ip[8:40], 0)
	}
	return acc + protoUDP + uint64(udpLen)
}

// Reader reads UDP datagrams from a classic pcap file.
type Reader struct {
	// Exactly one of src (streaming) and data (whole file in memory) is set.
	src  *bufio.Reader
	data []byte
	off  int

	order    binary.ByteOrder
	linkType uint32
	nano     bool
	rec      []byte // record buffer for streaming input, reused

	// Skipped counts frames that were not returned: not IPv4/IPv6, not
	// UDP, fragments, or malformed.
	Skipped int
	// Truncated counts UDP frames skipped because the capture cut them
	// short (captured length below the datagram's length).
	Truncated int
}

// NewReader reads the global header from r and returns a Reader. Payloads
// returned by NextUDP are valid until the next call.
func NewReader(r io.Reader) (*Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 1<<16)
	}
	var h [globalHeaderSize]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("pcap: file shorter than the global header: %w", ErrNotPcap)
		}
		return nil, fmt.Errorf("pcap: reading global header: %w", err)
	}
	rd := &Reader{src: br}
	if err := rd.parseGlobal(h[:]); err != nil {
		return nil, err
	}
	return rd, nil
}

// NewBytesReader reads a whole capture held in memory (for example a
// memory-mapped file). Payloads returned by NextUDP are sub-slices of data
// and stay valid as long as data does, so a caller can batch them.
func NewBytesReader(data []byte) (*Reader, error) {
	if len(data) < globalHeaderSize {
		return nil, fmt.Errorf("pcap: file shorter than the global header: %w", ErrNotPcap)
	}
	rd := &Reader{data: data, off: globalHeaderSize}
	if err := rd.parseGlobal(data[:globalHeaderSize]); err != nil {
		return nil, err
	}
	return rd, nil
}

func (rd *Reader) parseGlobal(h []byte) error {
	switch {
	case binary.LittleEndian.Uint32(h) == magicMicro:
		rd.order = binary.LittleEndian
	case binary.LittleEndian.Uint32(h) == magicNano:
		rd.order, rd.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h) == magicMicro:
		rd.order = binary.BigEndian
	case binary.BigEndian.Uint32(h) == magicNano:
		rd.order, rd.nano = binary.BigEndian, true
	default:
		return ErrNotPcap
	}
	if major := rd.order.Uint16(h[4:]); major != 2 {
		return fmt.Errorf("pcap: unsupported format version %d", major)
	}
	// The upper bits of the link-type field may carry FCS information.
	rd.linkType = rd.order.Uint32(h[20:]) & 0x0fffffff
	switch rd.linkType {
	case LinkTypeEthernet, LinkTypeRaw, LinkTypeLinuxSLL:
	default:
		return fmt.Errorf("pcap: unsupported link type %d (want Ethernet, raw IP or Linux SLL)", rd.linkType)
	}
	return nil
}

// LinkType returns the capture's link type.
func (rd *Reader) LinkType() uint32 { return rd.linkType }

// Nanosecond reports whether timestamps have nanosecond resolution.
func (rd *Reader) Nanosecond() bool { return rd.nano }

// NextUDP returns the destination and payload of the next UDP datagram,
// skipping frames that are not UDP over IPv4/IPv6. It returns io.EOF at the
// end of the file and an error wrapping io.ErrUnexpectedEOF when the file
// ends inside a record.
func (rd *Reader) NextUDP() (dst netip.AddrPort, payload []byte, err error) {
	_, dst, payload, err = rd.NextUDPFrom()
	return
}

// NextUDPFrom is NextUDP that also returns the source address.
func (rd *Reader) NextUDPFrom() (src, dst netip.AddrPort, payload []byte, err error) {
	for {
		frame, err := rd.nextRecord()
		if err != nil {
			return src, dst, nil, err
		}
		var ok bool
		src, dst, payload, ok = rd.parseFrame(frame)
		if ok {
			return src, dst, payload, nil
		}
	}
}

// nextRecord returns the captured bytes of the next record.
func (rd *Reader) nextRecord() ([]byte, error) {
	var hdr []byte
	var hbuf [recordHeaderSize]byte
	if rd.data != nil {
		if rd.off == len(rd.data) {
			return nil, io.EOF
		}
		if len(rd.data)-rd.off < recordHeaderSize {
			return nil, fmt.Errorf("pcap: file ends inside a record header at offset %d: %w", rd.off, io.ErrUnexpectedEOF)
		}
		hdr = rd.data[rd.off : rd.off+recordHeaderSize]
	} else {
		if _, err := io.ReadFull(rd.src, hbuf[:]); err != nil {
			if err == io.EOF {
				return nil, io.EOF
			}
			if err == io.ErrUnexpectedEOF {
				return nil, fmt.Errorf("pcap: file ends inside a record header: %w", err)
			}
			return nil, fmt.Errorf("pcap: reading record header: %w", err)
		}
		hdr = hbuf[:]
	}
	incl := rd.order.Uint32(hdr[8:])
	if incl > maxRecord {
		return nil, fmt.Errorf("pcap: record claims %d captured bytes (corrupt file?)", incl)
	}
	n := int(incl)
	if rd.data != nil {
		start := rd.off + recordHeaderSize
		if len(rd.data)-start < n {
			return nil, fmt.Errorf("pcap: file ends inside a record of %d bytes at offset %d: %w", n, rd.off, io.ErrUnexpectedEOF)
		}
		rd.off = start + n
		return rd.data[start:rd.off:rd.off], nil
	}
	if cap(rd.rec) < n {
		rd.rec = make([]byte, n)
	}
	rec := rd.rec[:n]
	if _, err := io.ReadFull(rd.src, rec); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("pcap: file ends inside a record of %d bytes: %w", n, io.ErrUnexpectedEOF)
		}
		return nil, fmt.Errorf("pcap: reading record: %w", err)
	}
	return rec, nil
}

// parseFrame extracts a UDP datagram from a captured frame.
func (rd *Reader) parseFrame(f []byte) (src, dst netip.AddrPort, payload []byte, ok bool) {
	var et uint16
	switch rd.linkType {
	case LinkTypeEthernet:
		if len(f) < 14 {
			rd.Skipped++
			return
		}
		et = binary.BigEndian.Uint16(f[12:])
		f = f[14:]
		for et == etherTypeVLAN || et == etherTypeQinQ {
			if len(f) < 4 {
				rd.Skipped++
				return
			}
			et = binary.BigEndian.Uint16(f[2:])
			f = f[4:]
		}
	case LinkTypeLinuxSLL:
		if len(f) < 16 {
			rd.Skipped++
			return
		}
		et = binary.BigEndian.Uint16(f[14:])
		f = f[16:]
	case LinkTypeRaw:
		if len(f) == 0 {
			rd.Skipped++
			return
		}
		switch f[0] >> 4 {
		case 4:
			et = etherTypeIPv4
		case 6:
			et = etherTypeIPv6
		}
	}
	var udp []byte
	var sa, da netip.Addr
	switch et {
	case etherTypeIPv4:
		if len(f) < 20 || f[0]>>4 != 4 {
			rd.Skipped++
			return
		}
		ihl := int(f[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(f[2:]))
		if ihl < 20 || total < ihl || len(f) < ihl {
			rd.Skipped++
			return
		}
		if f[9] != protoUDP || binary.BigEndian.Uint16(f[6:])&0x3fff != 0 {
			rd.Skipped++ // not UDP, or a fragment (not reassembled)
			return
		}
		sa = netip.AddrFrom4([4]byte(f[12:16]))
		da = netip.AddrFrom4([4]byte(f[16:20]))
		if total < len(f) {
			f = f[:total] // drop Ethernet padding
		} else if total > len(f) {
			rd.Truncated++
			return
		}
		udp = f[ihl:]
	case etherTypeIPv6:
		if len(f) < 40 || f[0]>>4 != 6 {
			rd.Skipped++
			return
		}
		if f[6] != protoUDP {
			rd.Skipped++ // not UDP, or extension headers (not followed)
			return
		}
		plen := int(binary.BigEndian.Uint16(f[4:]))
		sa = netip.AddrFrom16([16]byte(f[8:24]))
		da = netip.AddrFrom16([16]byte(f[24:40]))
		f = f[40:]
		if plen < len(f) {
			f = f[:plen]
		} else if plen > len(f) {
			rd.Truncated++
			return
		}
		udp = f
	default:
		rd.Skipped++
		return
	}
	if len(udp) < 8 {
		rd.Skipped++
		return
	}
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		rd.Skipped++
		return
	}
	src = netip.AddrPortFrom(sa, binary.BigEndian.Uint16(udp[0:]))
	dst = netip.AddrPortFrom(da, binary.BigEndian.Uint16(udp[2:]))
	return src, dst, udp[8:ulen:ulen], true
}
