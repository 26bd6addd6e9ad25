package spead

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Item is one item pointer of a heap besides the four standard ones (heap
// counter, heap length, payload offset, payload length), which the encoder
// adds itself.
type Item struct {
	ID        uint64
	Immediate bool
	Value     uint64 // immediate value, or for addressed items the offset into Heap.Payload
}

// Heap is a heap to be encoded into packets.
type Heap struct {
	Cnt     uint64
	Items   []Item
	Payload []byte // the heap payload (heap_length = len(Payload))
}

// EncoderConfig selects the flavour and packetisation of an Encoder.
type EncoderConfig struct {
	// AddrBits is the heap-address width in bits: 40 (SPEAD-64-40) or 48
	// (SPEAD-64-48); 0 means 48. Any multiple of 8 from 8 to 56 is accepted,
	// because the receiver accepts any flavour and tests want to exercise them.
	AddrBits int
	// MaxPacketSize is the total bytes per packet including header and item
	// pointers; 0 means 1472 (an Ethernet MTU of 1500 minus IPv4 and UDP
	// headers). Packets are filled up to this size.
	MaxPacketSize int
	// PacketPayload, if > 0, is the payload bytes per packet (the last packet
	// of a heap may carry fewer). It overrides MaxPacketSize, so that every
	// packet's payload offset is a multiple of it, which is what chunk
	// placement tests usually want.
	PacketPayload int
	// RepeatPointers puts Items in every packet rather than only the first.
	// Chunk receivers need this: they place a heap from any of its packets.
	RepeatPointers bool
}

// Encode errors. Sentinels, so that a failing hot-path call does not allocate.
var (
	ErrValueRange     = errors.New("spead: immediate value or address does not fit in the heap-address width")
	ErrItemID         = errors.New("spead: item ID does not fit in the item-pointer width or is one the encoder sets itself")
	ErrPacketTooSmall = errors.New("spead: packet size leaves no room for payload after the item pointers")
	ErrTooManyItems   = errors.New("spead: more than 65535 item pointers in a packet")
	ErrAddress        = errors.New("spead: addressed item points beyond the heap payload")
)

const (
	defaultAddrBits      = 48
	defaultMaxPacketSize = 1472
	stdPointers          = 4 // heap counter, heap length, payload offset, payload length
	maxPointers          = 1<<16 - 1
)

// Encoder turns heaps into SPEAD packets. It keeps a scratch packet buffer
// for Packets, so it is not safe for concurrent use; use one per goroutine.
type Encoder struct {
	cfg      EncoderConfig
	addrBits uint
	scratch  []byte
}

// NewEncoder validates cfg, fills in defaults and returns an Encoder. It
// fails for an invalid address width, negative sizes, or a MaxPacketSize too
// small for the header, the four standard pointers and one payload byte.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	if cfg.AddrBits == 0 {
		cfg.AddrBits = defaultAddrBits
	}
	if cfg.AddrBits < 8 || cfg.AddrBits > 56 || cfg.AddrBits%8 != 0 {
		return nil, fmt.Errorf("%w: AddrBits %d (want a multiple of 8 in 8..56)", ErrFlavour, cfg.AddrBits)
	}
	if cfg.MaxPacketSize == 0 {
		cfg.MaxPacketSize = defaultMaxPacketSize
	}
	if cfg.PacketPayload < 0 {
		return nil, fmt.Errorf("spead: negative PacketPayload %d", cfg.PacketPayload)
	}
	if cfg.PacketPayload == 0 && cfg.MaxPacketSize <= HeaderSize+stdPointers*PointerSize {
		return nil, fmt.Errorf("%w: MaxPacketSize %d (need more than %d)", ErrPacketTooSmall,
			cfg.MaxPacketSize, HeaderSize+stdPointers*PointerSize)
	}
	return &Encoder{cfg: cfg, addrBits: uint(cfg.AddrBits)}, nil
}

// Config returns the configuration with defaults filled in.
func (e *Encoder) Config() EncoderConfig { return e.cfg }

// StopHeap returns a heap carrying stream control = CtrlStreamStop (no payload).
func StopHeap(cnt uint64) *Heap {
	return &Heap{Cnt: cnt, Items: []Item{{ID: StreamCtrlID, Immediate: true, Value: CtrlStreamStop}}}
}

// HeaderSize returns the bytes before the payload in a packet carrying all
// of the heap's items: the 8-byte header and 4+len(h.Items) pointers.
func (e *Encoder) HeaderSize(h *Heap) int {
	return HeaderSize + (stdPointers+len(h.Items))*PointerSize
}

// plan is how a heap is cut into packets.
type plan struct {
	hdrFirst int // bytes before the payload in the first packet
	hdrRest  int // same for the following packets
	capFirst int // payload bytes the first packet can carry
	capRest  int // same for the following packets
	n        int // number of packets
}

// capacity returns the payload bytes packet i can carry.
func (p *plan) capacity(i int) int {
	if i == 0 {
		return p.capFirst
	}
	return p.capRest
}

// plan validates h against the configuration and works out its packets.
func (e *Encoder) plan(h *Heap) (plan, error) {
	var p plan
	if err := e.checkHeap(h); err != nil {
		return p, err
	}
	p.hdrFirst = e.HeaderSize(h)
	p.hdrRest = HeaderSize + stdPointers*PointerSize
	if e.cfg.RepeatPointers {
		p.hdrRest = p.hdrFirst
	}
	if e.cfg.PacketPayload > 0 {
		p.capFirst, p.capRest = e.cfg.PacketPayload, e.cfg.PacketPayload
	} else {
		p.capFirst = e.cfg.MaxPacketSize - p.hdrFirst
		p.capRest = e.cfg.MaxPacketSize - p.hdrRest
		// An empty heap needs only its pointers to fit; otherwise every
		// packet must carry at least one payload byte.
		if p.capFirst < 0 || (p.capFirst == 0 && len(h.Payload) > 0) {
			return p, ErrPacketTooSmall
		}
	}
	p.n = 1
	if rest := len(h.Payload) - p.capFirst; rest > 0 {
		p.n += (rest + p.capRest - 1) / p.capRest
	}
	return p, nil
}

// checkHeap rejects heaps that cannot be represented in this flavour.
func (e *Encoder) checkHeap(h *Heap) error {
	if stdPointers+len(h.Items) > maxPointers {
		return ErrTooManyItems
	}
	valueLimit := uint64(1) << e.addrBits
	idLimit := uint64(1) << (63 - e.addrBits)
	if h.Cnt >= valueLimit || uint64(len(h.Payload)) >= valueLimit {
		return ErrValueRange
	}
	for i := range h.Items {
		it := &h.Items[i]
		// The encoder writes IDs 1..4 itself; a second copy would make the
		// packet ambiguous to receivers.
		if it.ID >= idLimit || (it.ID >= HeapCntID && it.ID <= PayloadLengthID) {
			return ErrItemID
		}
		if it.Value >= valueLimit {
			return ErrValueRange
		}
		if !it.Immediate && it.Value > uint64(len(h.Payload)) {
			return ErrAddress
		}
	}
	return nil
}

// NumPackets returns the number of packets h encodes to, or 0 if h cannot
// be encoded with this configuration.
func (e *Encoder) NumPackets(h *Heap) int {
	p, err := e.plan(h)
	if err != nil {
		return 0
	}
	return p.n
}

// AppendHeap appends the heap's packets back to back to dst and returns it.
// On error dst is returned unchanged.
func (e *Encoder) AppendHeap(dst []byte, h *Heap) ([]byte, error) {
	p, err := e.plan(h)
	if err != nil {
		return dst, err
	}
	total := len(h.Payload) + p.hdrFirst + (p.n-1)*p.hdrRest
	start := len(dst)
	dst = slices.Grow(dst, total)[:start+total]
	pos, off := start, 0
	for i := 0; i < p.n; i++ {
		n := min(p.capacity(i), len(h.Payload)-off)
		pos += e.writePacket(dst[pos:], h, i == 0, off, n)
		off += n
	}
	return dst, nil
}

// Packets calls fn with each packet of the heap in order. The slice passed
// is scratch owned by the encoder, valid only during the call. The scratch
// buffer is kept between calls, so steady-state encoding does not allocate.
// It stops at and returns the first error fn returns.
func (e *Encoder) Packets(h *Heap, fn func(pkt []byte) error) error {
	p, err := e.plan(h)
	if err != nil {
		return err
	}
	largest := p.hdrFirst + min(p.capFirst, len(h.Payload))
	if p.n > 1 {
		largest = max(largest, p.hdrRest+min(p.capRest, len(h.Payload)-p.capFirst))
	}
	if cap(e.scratch) < largest {
		e.scratch = make([]byte, largest)
	}
	off := 0
	for i := 0; i < p.n; i++ {
		n := min(p.capacity(i), len(h.Payload)-off)
		size := e.writePacket(e.scratch[:cap(e.scratch)], h, i == 0, off, n)
		if err := fn(e.scratch[:size]); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// writePacket writes one packet carrying h.Payload[off:off+n] at the start
// of buf, which must be large enough, and returns its size.
func (e *Encoder) writePacket(buf []byte, h *Heap, first bool, off, n int) int {
	items := h.Items
	if !first && !e.cfg.RepeatPointers {
		items = nil
	}
	nptr := stdPointers + len(items)
	buf[0] = Magic
	buf[1] = Version
	buf[2] = byte(8 - e.addrBits/8)
	buf[3] = byte(e.addrBits / 8)
	buf[4], buf[5] = 0, 0
	binary.BigEndian.PutUint16(buf[6:8], uint16(nptr))
	pos := HeaderSize
	put := func(id uint64, imm bool, v uint64) {
		ptr := id<<e.addrBits | v
		if imm {
			ptr |= 1 << 63
		}
		binary.BigEndian.PutUint64(buf[pos:], ptr)
		pos += PointerSize
	}
	put(HeapCntID, true, h.Cnt)
	put(HeapLengthID, true, uint64(len(h.Payload)))
	put(PayloadOffsetID, true, uint64(off))
	put(PayloadLengthID, true, uint64(n))
	for i := range items {
		put(items[i].ID, items[i].Immediate, items[i].Value)
	}
	pos += copy(buf[pos:], h.Payload[off:off+n])
	return pos
}
