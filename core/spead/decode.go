package spead

import "encoding/binary"

// Packet is a decoded packet header. Pointers and Payload alias the buffer
// that was decoded; nothing is copied and nothing escapes to the heap.
type Packet struct {
	HeapCnt       int64
	HeapLength    int64 // -1 when the packet carries no heap length
	PayloadOffset int64
	PayloadLength int64
	AddrBits      uint   // heap-address width in bits (40 for 64-40, 48 for 64-48)
	Pointers      []byte // the raw item pointers, 8 bytes each
	Payload       []byte // exactly PayloadLength bytes
	Size          int    // 8 + 8n + PayloadLength: bytes the packet occupies
	StreamStop    bool   // an immediate stream-control item with value CtrlStreamStop
}

// NumItems returns the number of item pointers.
func (p *Packet) NumItems() int { return len(p.Pointers) / PointerSize }

// Item returns item pointer i: its ID, whether it is immediate, and its
// value (immediate) or address (addressed).
func (p *Packet) Item(i int) (id uint64, immediate bool, value uint64) {
	ptr := binary.BigEndian.Uint64(p.Pointers[i*PointerSize:])
	return splitPointer(ptr, p.AddrBits)
}

// Immediate returns the value of the first immediate item with the given
// ID, and whether there was one.
func (p *Packet) Immediate(id uint64) (uint64, bool) {
	for i := 0; i < len(p.Pointers); i += PointerSize {
		iid, imm, v := splitPointer(binary.BigEndian.Uint64(p.Pointers[i:]), p.AddrBits)
		if imm && iid == id {
			return v, true
		}
	}
	return 0, false
}

func splitPointer(ptr uint64, addrBits uint) (id uint64, immediate bool, value uint64) {
	immediate = ptr>>63 != 0
	id = (ptr &^ (1 << 63)) >> addrBits
	value = ptr & (1<<addrBits - 1)
	return
}

// header checks the fixed 8-byte header and returns the number of item
// pointers and the address width in bits.
func header(buf []byte) (n int, addrBits uint, err error) {
	if len(buf) < HeaderSize {
		return 0, 0, ErrShort
	}
	if buf[0] != Magic || buf[1] != Version {
		return 0, 0, ErrMagic
	}
	ptrW, addrW := int(buf[2]), int(buf[3])
	if ptrW == 0 || addrW == 0 || ptrW+addrW != 8 {
		return 0, 0, ErrFlavour
	}
	n = int(binary.BigEndian.Uint16(buf[6:8]))
	return n, uint(addrW) * 8, nil
}

// Decode parses the packet at the start of buf into p, applying every
// rejection rule of the wire format. Bytes beyond p.Size are ignored.
func Decode(buf []byte, p *Packet) error {
	n, addrBits, err := header(buf)
	if err != nil {
		return err
	}
	end := HeaderSize + n*PointerSize
	if end > len(buf) {
		return ErrTooManyPointers
	}
	ptrs := buf[HeaderSize:end]
	// When a special item occurs more than once the first occurrence wins,
	// as in Length and Packet.Immediate, so that all three agree on a packet.
	var haveCnt, haveHeapLen, haveOff, haveLen bool
	p.HeapLength = -1
	p.StreamStop = false
	mask := uint64(1)<<addrBits - 1
	for i := 0; i < len(ptrs); i += PointerSize {
		ptr := binary.BigEndian.Uint64(ptrs[i:])
		if ptr>>63 == 0 {
			continue // addressed items carry nothing the decoder needs
		}
		v := ptr & mask
		switch (ptr &^ (1 << 63)) >> addrBits {
		case HeapCntID:
			if !haveCnt {
				p.HeapCnt, haveCnt = int64(v), true
			}
		case HeapLengthID:
			if !haveHeapLen {
				p.HeapLength, haveHeapLen = int64(v), true
			}
		case PayloadOffsetID:
			if !haveOff {
				p.PayloadOffset, haveOff = int64(v), true
			}
		case PayloadLengthID:
			if !haveLen {
				p.PayloadLength, haveLen = int64(v), true
			}
		case StreamCtrlID:
			if v == CtrlStreamStop {
				p.StreamStop = true
			}
		}
	}
	if !haveCnt || !haveOff || !haveLen {
		return ErrMissingItem
	}
	if p.PayloadLength > int64(len(buf)-end) {
		return ErrShort
	}
	if p.HeapLength >= 0 && p.PayloadOffset+p.PayloadLength > p.HeapLength {
		return ErrPayloadRange
	}
	p.AddrBits = addrBits
	p.Pointers = ptrs
	p.Size = end + int(p.PayloadLength)
	p.Payload = buf[end:p.Size]
	return nil
}

// Cut returns the length of the packet at the start of buf, which is to
// hold all of it (packets stored back to back in memory): Length's error,
// or ErrShort when the packet runs past the end of buf.
func Cut(buf []byte) (int, error) {
	n, err := Length(buf)
	if err == nil && n > len(buf) {
		err = ErrShort
	}
	return n, err
}

// Length returns the number of bytes the packet at the start of buf
// occupies (8 + 8n + payload_length), for finding packets in a byte stream.
// It returns ErrShort when buf does not yet hold enough of the header to
// tell (read more and call again), and another error when the header is
// malformed. It does not require the payload itself to be present.
func Length(buf []byte) (int, error) {
	n, addrBits, err := header(buf)
	if err != nil {
		return 0, err
	}
	end := HeaderSize + n*PointerSize
	if end > len(buf) {
		return 0, ErrShort
	}
	mask := uint64(1)<<addrBits - 1
	for i := HeaderSize; i < end; i += PointerSize {
		ptr := binary.BigEndian.Uint64(buf[i:])
		if ptr>>63 != 0 && (ptr&^(1<<63))>>addrBits == PayloadLengthID {
			return end + int(ptr&mask), nil
		}
	}
	return 0, ErrMissingItem
}
