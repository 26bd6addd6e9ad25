package main

/*
#include "shim.h"
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/send"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// cSenderConfig and cItem mirror cg_sender_config and cg_item (checked in
// capi_test.go).
type cSenderConfig struct {
	Size             uintptr // sizeof as the caller's header says, or 0
	AddrBits         int32
	MaxPacketSize    uintptr
	PacketPayload    uintptr
	RepeatPointers   int32
	Rate             float64
	InterfaceAddress *C.char
	TTL              int32
	BufferSize       uintptr
}

type cItem struct {
	ID    uint64
	Value uint64
}

// readSenderConfig copies the C configuration (NULL: all defaults).
func readSenderConfig(p unsafe.Pointer) (cSenderConfig, spead.EncoderConfig, C.int) {
	var c cSenderConfig
	if p != nil {
		var code C.int
		if c, code = readSized[cSenderConfig](p, "cg_sender_config"); code != cgOK {
			return c, spead.EncoderConfig{}, code
		}
	}
	if c.MaxPacketSize > 1<<20 || c.PacketPayload > 1<<20 || c.BufferSize > 1<<31 || c.TTL < 0 || c.TTL > 255 || c.Rate < 0 {
		return c, spead.EncoderConfig{}, setErr(cgEINVAL, 0, "sender config: a size, the TTL or the rate is out of range")
	}
	return c, spead.EncoderConfig{
		AddrBits:       int(c.AddrBits),
		MaxPacketSize:  int(c.MaxPacketSize),
		PacketPayload:  int(c.PacketPayload),
		RepeatPointers: c.RepeatPointers != 0,
	}, cgOK
}

func newEncoder(p unsafe.Pointer) (cSenderConfig, *spead.Encoder, C.int) {
	c, ecfg, code := readSenderConfig(p)
	if code != cgOK {
		return c, nil, code
	}
	enc, err := spead.NewEncoder(ecfg)
	if err != nil {
		return c, nil, fail(err, cgEINVAL)
	}
	return c, enc, cgOK
}

// makeHeap builds a heap of immediate items over the caller's payload (not
// copied: the heap lives only for the call).
func makeHeap(cnt C.uint64_t, items unsafe.Pointer, nItems C.size_t, payload unsafe.Pointer, n C.size_t) (*spead.Heap, C.int) {
	if (items == nil && nItems > 0) || nItems > 1<<16 {
		return nil, setErr(cgEINVAL, 0, "items are NULL or too many")
	}
	if (payload == nil && n > 0) || n > maxSizeArg {
		return nil, setErr(cgEINVAL, 0, "payload is NULL or too large")
	}
	h := &spead.Heap{Cnt: uint64(cnt)}
	if nItems > 0 {
		for _, it := range unsafe.Slice((*cItem)(items), int(nItems)) {
			h.Items = append(h.Items, spead.Item{ID: it.ID, Immediate: true, Value: it.Value})
		}
	}
	if n > 0 {
		h.Payload = unsafe.Slice((*byte)(payload), int(n))
	}
	return h, cgOK
}

// encodeInto encodes h and copies it to out when it fits.
func encodeInto(enc *spead.Encoder, h *spead.Heap, out unsafe.Pointer, outCap C.size_t, outLen *C.size_t) C.int {
	b, err := enc.AppendHeap(nil, h)
	if err != nil {
		return fail(err, cgEINVAL)
	}
	if outLen != nil {
		*outLen = C.size_t(len(b))
	}
	if uint64(outCap) < uint64(len(b)) || (out == nil && len(b) > 0) {
		return setErrf(cgEFULL, 0, "output buffer too small: need %d bytes, have %d", len(b), uint64(outCap))
	}
	copy(unsafe.Slice((*byte)(out), len(b)), b)
	return cgOK
}

//export cg_encode_heap
func cg_encode_heap(cfg unsafe.Pointer, cnt C.uint64_t, items unsafe.Pointer, nItems C.size_t,
	payload unsafe.Pointer, n C.size_t, out unsafe.Pointer, outCap C.size_t, outLen *C.size_t) C.int {
	clearErr()
	_, enc, code := newEncoder(cfg)
	if code != cgOK {
		return code
	}
	h, code := makeHeap(cnt, items, nItems, payload, n)
	if code != cgOK {
		return code
	}
	return encodeInto(enc, h, out, outCap, outLen)
}

//export cg_encode_stop
func cg_encode_stop(cfg unsafe.Pointer, cnt C.uint64_t, out unsafe.Pointer, outCap C.size_t, outLen *C.size_t) C.int {
	clearErr()
	_, enc, code := newEncoder(cfg)
	if code != cgOK {
		return code
	}
	return encodeInto(enc, spead.StopHeap(uint64(cnt)), out, outCap, outLen)
}

// senderH serialises calls: the core senders are not safe for concurrent use.
type senderH struct {
	mu  sync.Mutex
	udp *send.UDPSender
	tcp *send.TCPGroup
	n   int
}

func (s *senderH) sendHeap(h *spead.Heap, dest int) error {
	if s.udp != nil {
		return s.udp.SendHeap(h, dest)
	}
	return s.tcp.SendHeap(h, dest)
}

func (s *senderH) flush() error {
	if s.udp != nil {
		return s.udp.Flush()
	}
	return s.tcp.Flush()
}

func (s *senderH) close() error {
	if s.udp != nil {
		return s.udp.Close()
	}
	return s.tcp.Close()
}

//export cg_udp_sender_new
func cg_udp_sender_new(cfg unsafe.Pointer, dests **C.char, n C.size_t) unsafe.Pointer {
	clearErr()
	c, enc, code := newEncoder(cfg)
	if code != cgOK {
		return nil
	}
	if n == 0 || dests == nil || n > 1<<16 {
		setErr(cgEINVAL, 0, "need 1 or more destinations")
		return nil
	}
	ucfg := send.UDPConfig{
		InterfaceAddress: goString(c.InterfaceAddress),
		TTL:              int(c.TTL),
		Rate:             c.Rate,
		BufferSize:       int(c.BufferSize),
	}
	for _, d := range unsafe.Slice(dests, int(n)) {
		if d == nil {
			setErr(cgEINVAL, 0, "a destination is NULL")
			return nil
		}
		ucfg.Destinations = append(ucfg.Destinations, C.GoString(d))
	}
	s, err := send.NewUDPSender(ucfg, enc)
	if err != nil {
		fail(err, cgEINVAL)
		return nil
	}
	p := newHandle(&senderH{udp: s, n: int(n)})
	if p == nil {
		s.Close()
	}
	return p
}

//export cg_tcp_sender_new
func cg_tcp_sender_new(cfg unsafe.Pointer, dest *C.char) unsafe.Pointer {
	clearErr()
	c, enc, code := newEncoder(cfg)
	if code != cgOK {
		return nil
	}
	if dest == nil {
		setErr(cgEINVAL, 0, "destination is NULL")
		return nil
	}
	g, err := send.NewTCPGroup([]string{C.GoString(dest)}, enc, c.Rate)
	if err != nil {
		fail(err, cgEIO)
		return nil
	}
	p := newHandle(&senderH{tcp: g, n: 1})
	if p == nil {
		g.Close()
	}
	return p
}

func getSender(p unsafe.Pointer) (*senderH, bool) { return lookup[*senderH](p, "sender") }

//export cg_sender_send_heap
func cg_sender_send_heap(p unsafe.Pointer, cnt C.uint64_t, items unsafe.Pointer, nItems C.size_t,
	payload unsafe.Pointer, n C.size_t, dest C.int) C.int {
	clearErr()
	s, ok := getSender(p)
	if !ok {
		return cgESTATE
	}
	h, code := makeHeap(cnt, items, nItems, payload, n)
	if code != cgOK {
		return code
	}
	d := int(dest)
	if d < 0 {
		d = int(uint64(cnt) % uint64(s.n))
	}
	if d >= s.n {
		return setErrf(cgEINVAL, 0, "destination %d out of range [0, %d)", d, s.n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.sendHeap(h, d); err != nil {
		return fail(err, cgEIO)
	}
	return cgOK
}

//export cg_sender_send_stop
func cg_sender_send_stop(p unsafe.Pointer, dest C.int) C.int {
	clearErr()
	s, ok := getSender(p)
	if !ok {
		return cgESTATE
	}
	if int(dest) >= s.n {
		return setErrf(cgEINVAL, 0, "destination %d out of range [0, %d)", int(dest), s.n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for d := range s.n {
		if dest >= 0 && d != int(dest) {
			continue
		}
		if err := s.sendHeap(spead.StopHeap(0), d); err != nil {
			return fail(err, cgEIO)
		}
	}
	return cgOK
}

//export cg_sender_flush
func cg_sender_flush(p unsafe.Pointer) C.int {
	clearErr()
	s, ok := getSender(p)
	if !ok {
		return cgESTATE
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flush(); err != nil {
		return fail(err, cgEIO)
	}
	return cgOK
}

//export cg_sender_free
func cg_sender_free(p unsafe.Pointer) {
	clearErr()
	s, ok := removeHandle[*senderH](p)
	if !ok {
		if p != nil {
			setErr(cgESTATE, 0, "sender handle is freed or not a sender")
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.close(); err != nil {
		fail(err, cgEIO)
	}
}
