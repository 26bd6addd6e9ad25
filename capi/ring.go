package main

/*
#include "shim.h"
*/
import "C"

import (
	"math"
	"sync"
	"time"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/ring"
)

type ringH struct {
	r       *ring.Ring
	mu      sync.Mutex
	release chunkRelease // gets the chunks still in the ring at cg_ring_free
}

func getRing(p unsafe.Pointer) (*ring.Ring, bool) {
	h, ok := lookup[*ringH](p, "ring")
	if !ok {
		return nil, false
	}
	return h.r, true
}

// asChunk converts a caller's cg_chunk* (C memory, cg_chunk's layout is
// chunk.Chunk's) without copying.
func asChunk(p unsafe.Pointer) *chunk.Chunk { return (*chunk.Chunk)(p) }

// usDuration converts a timeout in microseconds, saturating.
func usDuration(us C.int64_t) time.Duration {
	if int64(us) > math.MaxInt64/int64(time.Microsecond) {
		return math.MaxInt64
	}
	return time.Duration(us) * time.Microsecond
}

//export cg_ring_new
func cg_ring_new(capacity C.size_t) unsafe.Pointer {
	clearErr()
	if capacity < 1 || capacity > ring.MaxCapacity {
		setErrf(cgEINVAL, 0, "ring capacity %d out of range [1, %d]", uint64(capacity), ring.MaxCapacity)
		return nil
	}
	r, err := ring.New(int(capacity))
	if err != nil {
		fail(err, cgEINVAL)
		return nil
	}
	p := newHandle(&ringH{r: r})
	if p == nil {
		r.Close()
	}
	return p
}

//export cg_ring_free
func cg_ring_free(p unsafe.Pointer) {
	clearErr()
	h, ok := removeHandle[*ringH](p)
	if !ok {
		if p != nil {
			setErr(cgESTATE, 0, "ring handle is freed or not a ring")
		}
		return
	}
	// Stop wakes blocked callers; what is left is drained (a stopped ring
	// still hands out what it holds) and handed back, then the fds close.
	h.r.Stop()
	var left []*chunk.Chunk
	for {
		c, err := h.r.TryPop()
		if err != nil {
			break
		}
		left = append(left, c)
	}
	h.r.Close()
	h.mu.Lock()
	rel := h.release
	h.mu.Unlock()
	rel.handBack("cg_ring_free", left)
}

//export cg_ring_set_release
func cg_ring_set_release(p unsafe.Pointer, fn unsafe.Pointer, user unsafe.Pointer) C.int {
	clearErr()
	h, ok := lookup[*ringH](p, "ring")
	if !ok {
		return cgESTATE
	}
	h.mu.Lock()
	h.release = chunkRelease{fn, user}
	h.mu.Unlock()
	return cgOK
}

func ringPush(p, c unsafe.Pointer, push func(r *ring.Ring, c *chunk.Chunk) error) C.int {
	r, ok := getRing(p)
	if !ok {
		return cgESTATE
	}
	if c == nil {
		return setErr(cgEINVAL, 0, "chunk is NULL")
	}
	if err := push(r, asChunk(c)); err != nil {
		return fail(err, cgEINVAL)
	}
	return cgOK
}

//export cg_ring_push
func cg_ring_push(p unsafe.Pointer, c unsafe.Pointer) C.int {
	clearErr()
	return ringPush(p, c, (*ring.Ring).Push)
}

//export cg_ring_try_push
func cg_ring_try_push(p unsafe.Pointer, c unsafe.Pointer) C.int {
	clearErr()
	return ringPush(p, c, (*ring.Ring).TryPush)
}

//export cg_ring_push_timeout
func cg_ring_push_timeout(p unsafe.Pointer, c unsafe.Pointer, us C.int64_t) C.int {
	clearErr()
	return ringPush(p, c, func(r *ring.Ring, c *chunk.Chunk) error { return r.PushTimeout(c, usDuration(us)) })
}

func ringPop(p unsafe.Pointer, out **C.struct_cg_chunk, pop func(r *ring.Ring) (*chunk.Chunk, error)) C.int {
	r, ok := getRing(p)
	if !ok {
		return cgESTATE
	}
	if out == nil {
		return setErr(cgEINVAL, 0, "out is NULL")
	}
	c, err := pop(r)
	if err != nil {
		*out = nil
		return fail(err, cgEINVAL)
	}
	*out = (*C.struct_cg_chunk)(unsafe.Pointer(c))
	return cgOK
}

//export cg_ring_pop
func cg_ring_pop(p unsafe.Pointer, out **C.struct_cg_chunk) C.int {
	clearErr()
	return ringPop(p, out, (*ring.Ring).Pop)
}

//export cg_ring_try_pop
func cg_ring_try_pop(p unsafe.Pointer, out **C.struct_cg_chunk) C.int {
	clearErr()
	return ringPop(p, out, (*ring.Ring).TryPop)
}

//export cg_ring_pop_timeout
func cg_ring_pop_timeout(p unsafe.Pointer, out **C.struct_cg_chunk, us C.int64_t) C.int {
	clearErr()
	return ringPop(p, out, func(r *ring.Ring) (*chunk.Chunk, error) { return r.PopTimeout(usDuration(us)) })
}

//export cg_ring_stop
func cg_ring_stop(p unsafe.Pointer) C.int {
	clearErr()
	r, ok := getRing(p)
	if !ok {
		return -cgESTATE
	}
	return boolInt(r.Stop())
}

//export cg_ring_stopped
func cg_ring_stopped(p unsafe.Pointer) C.int {
	clearErr()
	r, ok := getRing(p)
	if !ok {
		return -cgESTATE
	}
	return boolInt(r.Stopped())
}

//export cg_ring_add_producer
func cg_ring_add_producer(p unsafe.Pointer) {
	clearErr()
	if r, ok := getRing(p); ok {
		r.AddProducer()
	}
}

//export cg_ring_add_producer_v2
func cg_ring_add_producer_v2(p unsafe.Pointer) C.int {
	clearErr()
	r, ok := getRing(p)
	if !ok {
		return cgESTATE
	}
	if !r.AddProducerIfRunning() {
		return setErr(cgESTOPPED, 0, "the ring has stopped: no producer added")
	}
	return cgOK
}

//export cg_ring_remove_producer
func cg_ring_remove_producer(p unsafe.Pointer) C.int {
	clearErr()
	r, ok := getRing(p)
	if !ok {
		return -cgESTATE
	}
	return boolInt(r.RemoveProducer())
}

//export cg_ring_size
func cg_ring_size(p unsafe.Pointer) C.size_t {
	clearErr()
	r, ok := getRing(p)
	if !ok {
		return 0
	}
	return C.size_t(r.Len())
}

//export cg_ring_capacity
func cg_ring_capacity(p unsafe.Pointer) C.size_t {
	clearErr()
	r, ok := getRing(p)
	if !ok {
		return 0
	}
	return C.size_t(r.Cap())
}

func ringFD(p unsafe.Pointer, get func(r *ring.Ring) (int, error)) C.int {
	r, ok := getRing(p)
	if !ok {
		return -1
	}
	fd, err := get(r)
	if err != nil {
		fail(err, cgEIO)
		return -1
	}
	return C.int(fd)
}

//export cg_ring_data_fd
func cg_ring_data_fd(p unsafe.Pointer) C.int {
	clearErr()
	return ringFD(p, (*ring.Ring).DataFD)
}

//export cg_ring_space_fd
func cg_ring_space_fd(p unsafe.Pointer) C.int {
	clearErr()
	return ringFD(p, (*ring.Ring).SpaceFD)
}
