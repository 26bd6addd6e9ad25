package send

import (
	"encoding/binary"
	"errors"

	"github.com/chunkgroup/chunkgroup/core/spead"
)

// DefaultTimestampID is the item ID of Synth's timestamp item when
// SynthConfig.TimestampID is 0.
const DefaultTimestampID = 0x1600

// The payload pattern is built from 64-bit little-endian words so that it can
// be filled a word at a time: word w of heap cnt is
// cnt*patternCntMul + (w+1)*patternOffMul (mod 2^64). Both multipliers are
// odd, so neighbouring heaps and neighbouring words differ in every byte
// position often enough to catch misplaced or stale data.
const (
	patternCntMul = 0x9E3779B97F4A7C15
	patternOffMul = 0xD1B54A32D192ED03
)

// PatternByte returns byte off of the synthetic payload of heap cnt. It is
// what FillPattern writes, so a receiver can check any byte of any heap
// without having the sender's data.
func PatternByte(cnt uint64, off int) byte {
	w := cnt*patternCntMul + uint64(off/8+1)*patternOffMul
	return byte(w >> (8 * uint(off%8)))
}

// FillPattern fills dst with the payload pattern of heap cnt, so that
// dst[i] == PatternByte(cnt, i).
func FillPattern(dst []byte, cnt uint64) {
	step := uint64(patternOffMul) // a variable, so multiples wrap mod 2^64
	step2, step3, step4 := 2*step, 3*step, 4*step
	w := cnt*patternCntMul + step
	i := 0
	// Four independent words per iteration: the adds do not wait on each
	// other, which roughly doubles the fill rate.
	for ; i+32 <= len(dst); i += 32 {
		b := dst[i : i+32 : i+32]
		binary.LittleEndian.PutUint64(b[0:], w)
		binary.LittleEndian.PutUint64(b[8:], w+step)
		binary.LittleEndian.PutUint64(b[16:], w+step2)
		binary.LittleEndian.PutUint64(b[24:], w+step3)
		w += step4
	}
	for ; i+8 <= len(dst); i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], w)
		w += patternOffMul
	}
	for k := 0; i < len(dst); i, k = i+1, k+1 {
		dst[i] = byte(w >> (8 * uint(k)))
	}
}

// CheckPattern compares b with the pattern of heap cnt starting at heap
// payload offset off (b is the payload of a packet with payload offset
// off). It returns the index in b of the first byte that differs, or -1 if
// all match.
func CheckPattern(b []byte, cnt uint64, off int) int {
	i := 0
	for ; i < len(b) && (off+i)%8 != 0; i++ {
		if b[i] != PatternByte(cnt, off+i) {
			return i
		}
	}
	w := cnt*patternCntMul + uint64((off+i)/8+1)*patternOffMul
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != w {
			break
		}
		w += patternOffMul
	}
	for ; i < len(b); i++ {
		if b[i] != PatternByte(cnt, off+i) {
			return i
		}
	}
	return -1
}

// SynthConfig shapes synthetic heaps like the benchmark scenarios.
type SynthConfig struct {
	// HeapPayload is the payload bytes per heap (65536 for "large", 1024
	// for "small").
	HeapPayload int
	// HeapsPerChunk is the number of heaps per chunk of the receiver's
	// placement (64 for "large", 1024 for "small"). It only matters for
	// the timestamp and the extra items; 0 means 1.
	HeapsPerChunk int
	// Items are extra immediate item IDs added to every heap. Each carries
	// the heap's index within its chunk, cnt % HeapsPerChunk (the way a
	// channel or antenna index would tell a real receiver where the heap
	// goes).
	Items []uint64
	// Timestamp adds an immediate timestamp item with ID TimestampID whose
	// value is (cnt / HeapsPerChunk) * TimestampStep: every heap of one
	// chunk carries the same timestamp, and timestamps advance by
	// TimestampStep per chunk, like a sample counter.
	Timestamp bool
	// TimestampID is the timestamp item's ID; 0 means DefaultTimestampID.
	TimestampID uint64
	// TimestampStep is the timestamp increment per chunk; 0 means
	// HeapsPerChunk (so the timestamp is the counter of the chunk's first
	// heap).
	TimestampStep uint64
}

// Synth makes synthetic heaps: heap cnt has counter cnt, the configured
// items and a payload of FillPattern(cnt). It reuses one heap and one payload
// buffer, so making a heap does not allocate. Not safe for concurrent use.
type Synth struct {
	cfg  SynthConfig
	heap spead.Heap
	buf  []byte
}

// NewSynth validates cfg and returns a Synth.
func NewSynth(cfg SynthConfig) (*Synth, error) {
	if cfg.HeapPayload < 0 || cfg.HeapsPerChunk < 0 {
		return nil, errors.New("send: negative heap payload or heaps per chunk")
	}
	if cfg.HeapsPerChunk == 0 {
		cfg.HeapsPerChunk = 1
	}
	if cfg.TimestampID == 0 {
		cfg.TimestampID = DefaultTimestampID
	}
	if cfg.TimestampStep == 0 {
		cfg.TimestampStep = uint64(cfg.HeapsPerChunk)
	}
	s := &Synth{cfg: cfg, buf: make([]byte, cfg.HeapPayload)}
	n := len(cfg.Items)
	if cfg.Timestamp {
		n++
	}
	items := make([]spead.Item, 0, n)
	if cfg.Timestamp {
		items = append(items, spead.Item{ID: cfg.TimestampID, Immediate: true})
	}
	for _, id := range cfg.Items {
		items = append(items, spead.Item{ID: id, Immediate: true})
	}
	s.heap.Items = items
	s.heap.Payload = s.buf
	return s, nil
}

// Config returns the configuration with defaults filled in.
func (s *Synth) Config() SynthConfig { return s.cfg }

// Timestamp returns the timestamp item value of heap cnt.
func (s *Synth) Timestamp(cnt uint64) uint64 {
	return cnt / uint64(s.cfg.HeapsPerChunk) * s.cfg.TimestampStep
}

// Heap returns heap cnt. The heap and its payload are reused by the next
// call, so use it (send it) before asking for another.
func (s *Synth) Heap(cnt uint64) *spead.Heap {
	h := &s.heap
	h.Cnt = cnt
	k := 0
	if s.cfg.Timestamp {
		h.Items[0].Value = s.Timestamp(cnt)
		k = 1
	}
	idx := cnt % uint64(s.cfg.HeapsPerChunk)
	for ; k < len(h.Items); k++ {
		h.Items[k].Value = idx
	}
	FillPattern(s.buf, cnt)
	return h
}
