// Package chunk defines the chunk: a caller-owned block of memory that
// receives the payloads of many heaps, with a presence flag per heap (or
// packet) slot and an optional extra area.
//
// Chunk memory is usually not Go memory: it comes from C (malloc) or from
// Python (numpy). The Chunk type therefore holds raw pointers plus sizes,
// and its memory layout is exactly that of the C struct cg_chunk in
// include/chunkgroup.h, so a *Chunk can point straight at a C-owned
// cg_chunk. The engine only ever writes through bounds-checked views.
package chunk

import "unsafe"

// Chunk has exactly the memory layout of cg_chunk (include/chunkgroup.h).
// Do not reorder, add or remove fields.
type Chunk struct {
	ChunkID     int64   // written by the engine when the chunk is allocated
	StreamID    uintptr // written by the engine: the stream ID of one member
	PresentPtr  *byte
	PresentSize uintptr
	DataPtr     *byte
	DataSize    uintptr
	ExtraPtr    *byte
	ExtraSize   uintptr
	User        unsafe.Pointer // never touched by the engine
}

// New returns a Go-allocated chunk viewing the given slices (any may be nil).
// The chunk keeps the slices' memory alive.
func New(present, data, extra []byte) *Chunk {
	c := &Chunk{ChunkID: -1}
	c.SetPresent(present)
	c.SetData(data)
	c.SetExtra(extra)
	return c
}

func ptrOf(b []byte) *byte {
	if len(b) == 0 {
		return nil
	}
	return &b[0]
}

// SetPresent points the presence array at b.
func (c *Chunk) SetPresent(b []byte) { c.PresentPtr, c.PresentSize = ptrOf(b), uintptr(len(b)) }

// SetData points the payload area at b.
func (c *Chunk) SetData(b []byte) { c.DataPtr, c.DataSize = ptrOf(b), uintptr(len(b)) }

// SetExtra points the extra area at b.
func (c *Chunk) SetExtra(b []byte) { c.ExtraPtr, c.ExtraSize = ptrOf(b), uintptr(len(b)) }

func view(p *byte, n uintptr) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice(p, n)
}

// Present returns the presence flags as a slice (nil if there are none).
func (c *Chunk) Present() []byte { return view(c.PresentPtr, c.PresentSize) }

// Data returns the payload area as a slice (nil if there is none).
func (c *Chunk) Data() []byte { return view(c.DataPtr, c.DataSize) }

// Extra returns the extra area as a slice (nil if there is none).
func (c *Chunk) Extra() []byte { return view(c.ExtraPtr, c.ExtraSize) }

// ClearPresent zeroes the presence flags (done before a chunk is reused).
func (c *Chunk) ClearPresent() { clear(c.Present()) }
