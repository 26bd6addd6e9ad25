package main

/*
#include "shim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/logx"
	"github.com/chunkgroup/chunkgroup/core/recv"
)

// cPlacer is a recv.Placer calling a C place function. The place data is
// the stream's off-heap recv.PlaceData, laid out as cg_place_data, so it
// goes to C as it is: one cgo call per heap, nothing allocated.
type cPlacer struct {
	fn, user unsafe.Pointer
}

// Place implements recv.Placer.
func (p *cPlacer) Place(d *recv.PlaceData) {
	C.cgshim_place(C.uintptr_t(uintptr(p.fn)), C.uintptr_t(uintptr(unsafe.Pointer(d))), C.size_t(recv.PlaceDataSize), C.uintptr_t(uintptr(p.user)))
}

// PlaceBatch implements recv.BatchPlacer: the C side loops over the
// slice's heaps, so a cgo transition is paid per slice, not per heap.
func (p *cPlacer) PlaceBatch(first *recv.PlaceData, n int) {
	C.cgshim_place_batch(C.uintptr_t(uintptr(p.fn)), C.uintptr_t(uintptr(unsafe.Pointer(first))), C.size_t(n),
		C.size_t(recv.PlaceDataSize), C.uintptr_t(uintptr(p.user)))
}

// statsPtr is the address of a stream's per-batch statistics (off-heap).
func statsPtr(bs []uint64) unsafe.Pointer {
	if len(bs) == 0 {
		return nil
	}
	return unsafe.Pointer(&bs[0])
}

// cAllocate wraps a C allocate function; the cg_chunk* it returns is C
// memory with cg_chunk's layout, which is chunk.Chunk's.
func cAllocate(fn, user unsafe.Pointer) recv.AllocateFunc {
	if fn == nil {
		return nil
	}
	return func(chunkID int64, bs []uint64) *chunk.Chunk {
		return (*chunk.Chunk)(C.cgshim_allocate(fn, C.int64_t(chunkID), statsPtr(bs), user))
	}
}

// cReady wraps a C ready function.
func cReady(fn, user unsafe.Pointer) recv.ReadyFunc {
	if fn == nil {
		return nil
	}
	return func(c *chunk.Chunk, bs []uint64) {
		C.cgshim_ready(fn, unsafe.Pointer(c), statsPtr(bs), user)
	}
}

// chunkRelease is a cg_chunk_release_fn and its user pointer: how the
// library hands back chunks it still holds when a group, stream or ring is
// freed, instead of forgetting them.
type chunkRelease struct {
	fn, user unsafe.Pointer
}

// handBack gives each chunk to the release function on the calling thread,
// or, without one, logs how many chunks were forgotten (never silently).
func (r chunkRelease) handBack(what string, chunks []*chunk.Chunk) {
	if len(chunks) == 0 {
		return
	}
	if r.fn == nil {
		logx.Logf(logx.Warning, "%s: %d chunks still held were not taken back (no release function set); "+
			"the library no longer refers to them", what, len(chunks))
		return
	}
	for _, c := range chunks {
		C.cgshim_chunk_release(r.fn, unsafe.Pointer(c), r.user)
	}
}

//export cg_set_log_callback
func cg_set_log_callback(fn unsafe.Pointer, user unsafe.Pointer) {
	clearErr()
	// Returns once the previous callback is no longer running on any
	// other thread (the caller may then free its user data); a call from
	// inside the callback does not wait for itself.
	own := int(C.cgshim_get_log_depth())
	if fn == nil {
		logx.SetSink(nil, own)
		return
	}
	logx.SetSink(func(level logx.Level, msg string) {
		// A C copy per message: logging is rare, and C must get a
		// terminated string outside the Go heap.
		cs := C.CString(msg)
		C.cgshim_log(fn, C.int(level), cs, user)
		C.free(unsafe.Pointer(cs))
	}, own)
}
