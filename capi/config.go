package main

/*
#include "shim.h"
*/
import "C"

import (
	"sync"
	"time"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/recv"
)

// maxSizeArg bounds size_t arguments that become Go ints, so a huge value
// from C is an error instead of an overflow.
const maxSizeArg = 1 << 40

func boolArg(v C.int) bool { return v != 0 }

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// ---- stream configuration ----

type streamConfigH struct {
	mu    sync.Mutex
	cfg   recv.StreamConfig
	names []*C.char // C copies of statistic names, by index, made on demand
}

func getStreamConfig(p unsafe.Pointer) (*streamConfigH, bool) {
	return lookup[*streamConfigH](p, "stream config")
}

// snapshot returns a copy of the configuration that later AddStat calls on
// the handle cannot disturb.
func (h *streamConfigH) snapshot() recv.StreamConfig {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cfg.Clone()
}

//export cg_stream_config_new
func cg_stream_config_new() unsafe.Pointer {
	clearErr()
	return newHandle(&streamConfigH{cfg: recv.DefaultStreamConfig()})
}

//export cg_stream_config_free
func cg_stream_config_free(p unsafe.Pointer) {
	clearErr()
	h, ok := removeHandle[*streamConfigH](p)
	if !ok {
		if p != nil {
			setErr(cgESTATE, 0, "stream config handle is freed or not a stream config")
		}
		return
	}
	h.mu.Lock()
	for _, s := range h.names {
		C.free(unsafe.Pointer(s))
	}
	h.names = nil
	h.mu.Unlock()
}

// withStreamConfig runs fn on the configuration under its lock.
func withStreamConfig(p unsafe.Pointer, fn func(c *recv.StreamConfig) C.int) C.int {
	h, ok := getStreamConfig(p)
	if !ok {
		return cgESTATE
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return fn(&h.cfg)
}

//export cg_stream_config_set_max_heaps
func cg_stream_config_set_max_heaps(p unsafe.Pointer, n C.size_t) C.int {
	clearErr()
	return withStreamConfig(p, func(c *recv.StreamConfig) C.int {
		if n < 1 || n > 1<<20 {
			return setErrf(cgEINVAL, 0, "max_heaps must be in [1, %d], got %d", 1<<20, uint64(n))
		}
		c.MaxHeaps = int(n)
		return cgOK
	})
}

//export cg_stream_config_set_substreams
func cg_stream_config_set_substreams(p unsafe.Pointer, n C.size_t) C.int {
	clearErr()
	return withStreamConfig(p, func(c *recv.StreamConfig) C.int {
		if n < 1 || n > 1<<20 {
			return setErrf(cgEINVAL, 0, "substreams must be in [1, %d], got %d", 1<<20, uint64(n))
		}
		c.Substreams = int(n)
		return cgOK
	})
}

//export cg_stream_config_set_stop_on_stop_item
func cg_stream_config_set_stop_on_stop_item(p unsafe.Pointer, v C.int) C.int {
	clearErr()
	return withStreamConfig(p, func(c *recv.StreamConfig) C.int { c.StopOnStopItem = boolArg(v); return cgOK })
}

//export cg_stream_config_set_allow_out_of_order
func cg_stream_config_set_allow_out_of_order(p unsafe.Pointer, v C.int) C.int {
	clearErr()
	return withStreamConfig(p, func(c *recv.StreamConfig) C.int { c.AllowOutOfOrder = boolArg(v); return cgOK })
}

//export cg_stream_config_set_stream_id
func cg_stream_config_set_stream_id(p unsafe.Pointer, v C.uintptr_t) C.int {
	clearErr()
	return withStreamConfig(p, func(c *recv.StreamConfig) C.int { c.StreamID = uintptr(v); return cgOK })
}

//export cg_stream_config_set_explicit_start
func cg_stream_config_set_explicit_start(p unsafe.Pointer, v C.int) C.int {
	clearErr()
	return withStreamConfig(p, func(c *recv.StreamConfig) C.int { c.ExplicitStart = boolArg(v); return cgOK })
}

//export cg_stream_config_set_memcpy
func cg_stream_config_set_memcpy(p unsafe.Pointer, v C.int) C.int {
	clearErr()
	return withStreamConfig(p, func(c *recv.StreamConfig) C.int {
		m := recv.MemcpyMode(v)
		if m != recv.MemcpyStd && m != recv.MemcpyNonTemporal {
			return setErrf(cgEINVAL, 0, "unknown memcpy mode %d", int(v))
		}
		c.Memcpy = m
		return cgOK
	})
}

//export cg_stream_config_get_memcpy
func cg_stream_config_get_memcpy(p unsafe.Pointer) C.int {
	clearErr()
	return readStreamConfig(p, func(c *recv.StreamConfig) C.int { return C.int(c.Memcpy) })
}

// readStreamConfig returns a field of the configuration, zero for a bad handle.
func readStreamConfig[T any](p unsafe.Pointer, fn func(c *recv.StreamConfig) T) T {
	var v T
	withStreamConfig(p, func(c *recv.StreamConfig) C.int { v = fn(c); return cgOK })
	return v
}

//export cg_stream_config_get_max_heaps
func cg_stream_config_get_max_heaps(p unsafe.Pointer) C.size_t {
	clearErr()
	return readStreamConfig(p, func(c *recv.StreamConfig) C.size_t { return C.size_t(c.MaxHeaps) })
}

//export cg_stream_config_get_substreams
func cg_stream_config_get_substreams(p unsafe.Pointer) C.size_t {
	clearErr()
	return readStreamConfig(p, func(c *recv.StreamConfig) C.size_t { return C.size_t(c.Substreams) })
}

//export cg_stream_config_get_stop_on_stop_item
func cg_stream_config_get_stop_on_stop_item(p unsafe.Pointer) C.int {
	clearErr()
	return readStreamConfig(p, func(c *recv.StreamConfig) C.int { return boolInt(c.StopOnStopItem) })
}

//export cg_stream_config_get_allow_out_of_order
func cg_stream_config_get_allow_out_of_order(p unsafe.Pointer) C.int {
	clearErr()
	return readStreamConfig(p, func(c *recv.StreamConfig) C.int { return boolInt(c.AllowOutOfOrder) })
}

//export cg_stream_config_get_stream_id
func cg_stream_config_get_stream_id(p unsafe.Pointer) C.uintptr_t {
	clearErr()
	return readStreamConfig(p, func(c *recv.StreamConfig) C.uintptr_t { return C.uintptr_t(c.StreamID) })
}

//export cg_stream_config_get_explicit_start
func cg_stream_config_get_explicit_start(p unsafe.Pointer) C.int {
	clearErr()
	return readStreamConfig(p, func(c *recv.StreamConfig) C.int { return boolInt(c.ExplicitStart) })
}

//export cg_stream_config_add_stat
func cg_stream_config_add_stat(p unsafe.Pointer, name *C.char, mode C.int, index *C.size_t) C.int {
	clearErr()
	return withStreamConfig(p, func(c *recv.StreamConfig) C.int {
		if name == nil {
			return setErr(cgEINVAL, 0, "statistic name is NULL")
		}
		i, err := c.AddStat(C.GoString(name), recv.StatMode(mode))
		if err != nil {
			return fail(err, cgEINVAL)
		}
		if index != nil {
			*index = C.size_t(i)
		}
		return cgOK
	})
}

//export cg_stream_config_stat_count
func cg_stream_config_stat_count(p unsafe.Pointer) C.size_t {
	clearErr()
	return readStreamConfig(p, func(c *recv.StreamConfig) C.size_t { return C.size_t(c.NextStatIndex()) })
}

//export cg_stream_config_stat_name
func cg_stream_config_stat_name(p unsafe.Pointer, index C.size_t) *C.char {
	clearErr()
	h, ok := getStreamConfig(p)
	if !ok {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	stats := h.cfg.Stats()
	if uint64(index) >= uint64(len(stats)) {
		setErrf(cgEINVAL, 0, "statistic index %d out of range [0, %d)", uint64(index), len(stats))
		return nil
	}
	for len(h.names) < len(stats) {
		h.names = append(h.names, C.CString(stats[len(h.names)].Name))
	}
	return h.names[index]
}

//export cg_stream_config_stat_mode
func cg_stream_config_stat_mode(p unsafe.Pointer, index C.size_t) C.int {
	clearErr()
	h, ok := getStreamConfig(p)
	if !ok {
		return -cgESTATE
	}
	h.mu.Lock()
	stats := h.cfg.Stats()
	h.mu.Unlock()
	if uint64(index) >= uint64(len(stats)) {
		setErrf(cgEINVAL, 0, "statistic index %d out of range [0, %d)", uint64(index), len(stats))
		return -cgEINVAL
	}
	return C.int(stats[index].Mode)
}

//export cg_stream_config_get_stat_index
func cg_stream_config_get_stat_index(p unsafe.Pointer, name *C.char, index *C.size_t) C.int {
	clearErr()
	return withStreamConfig(p, func(c *recv.StreamConfig) C.int {
		n := goString(name)
		i, ok := c.StatIndex(n)
		if !ok {
			return setErrf(cgEINVAL, 0, "no statistic named %q", n)
		}
		if index != nil {
			*index = C.size_t(i)
		}
		return cgOK
	})
}

// ---- chunk stream configuration ----

type chunkConfigH struct {
	mu           sync.Mutex
	items        []uint64
	maxChunks    int
	place        *cPlacer
	grid         *recv.GridPlacer // template; NumItems is set per stream
	maxHeapExtra int
	presence     int
	maxJump      int64
	allocFn      unsafe.Pointer
	allocUser    unsafe.Pointer
	readyFn      unsafe.Pointer
	readyUser    unsafe.Pointer
	release      chunkRelease
}

func getChunkConfig(p unsafe.Pointer) (*chunkConfigH, bool) {
	return lookup[*chunkConfigH](p, "chunk stream config")
}

// build makes the core configuration for one stream. The grid is copied
// (NumItems filled in) and validated here, as the header documents;
// standalone streams get the configuration's allocate and ready.
func (h *chunkConfigH) build(standalone bool) (recv.ChunkStreamConfig, C.int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cfg := recv.ChunkStreamConfig{
		Items:                     append([]uint64(nil), h.items...),
		MaxChunks:                 h.maxChunks,
		MaxHeapExtra:              h.maxHeapExtra,
		PacketPresencePayloadSize: h.presence,
		MaxJumpChunks:             h.maxJump,
	}
	switch {
	case h.grid != nil:
		g := *h.grid
		g.NumItems = len(h.items)
		if err := g.Validate(); err != nil {
			return cfg, fail(err, cgEINVAL)
		}
		if g.ExtraSize() > h.maxHeapExtra {
			return cfg, setErrf(cgEINVAL, 0, "grid stores %d extra items: max_heap_extra must be at least %d, got %d",
				len(g.ExtraItems), g.ExtraSize(), h.maxHeapExtra)
		}
		cfg.Place = &g
	case h.place != nil:
		pl := *h.place
		cfg.Place = &pl
	default:
		return cfg, setErr(cgEINVAL, 0, "chunk stream config has no place function (cg_chunk_stream_config_set_place or set_grid_place)")
	}
	if standalone {
		cfg.Allocate = cAllocate(h.allocFn, h.allocUser)
		cfg.Ready = cReady(h.readyFn, h.readyUser)
	}
	return cfg, cgOK
}

//export cg_chunk_stream_config_new
func cg_chunk_stream_config_new() unsafe.Pointer {
	clearErr()
	return newHandle(&chunkConfigH{maxChunks: recv.DefaultMaxChunks})
}

//export cg_chunk_stream_config_free
func cg_chunk_stream_config_free(p unsafe.Pointer) {
	clearErr()
	if _, ok := removeHandle[*chunkConfigH](p); !ok && p != nil {
		setErr(cgESTATE, 0, "chunk stream config handle is freed or not a chunk stream config")
	}
}

// releaseFn reads the configured release function.
func (h *chunkConfigH) releaseFn() chunkRelease {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.release
}

func withChunkConfig(p unsafe.Pointer, fn func(h *chunkConfigH) C.int) C.int {
	h, ok := getChunkConfig(p)
	if !ok {
		return cgESTATE
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return fn(h)
}

func readChunkConfig(p unsafe.Pointer, fn func(h *chunkConfigH) C.size_t) C.size_t {
	var v C.size_t
	withChunkConfig(p, func(h *chunkConfigH) C.int { v = fn(h); return cgOK })
	return v
}

//export cg_chunk_stream_config_set_items
func cg_chunk_stream_config_set_items(p unsafe.Pointer, ids *C.uint64_t, n C.size_t) C.int {
	clearErr()
	return withChunkConfig(p, func(h *chunkConfigH) C.int {
		if n > 1<<16 {
			return setErrf(cgEINVAL, 0, "too many items (%d, at most %d)", uint64(n), 1<<16)
		}
		if n > 0 && ids == nil {
			return setErr(cgEINVAL, 0, "item IDs are NULL")
		}
		h.items = nil
		if n > 0 {
			h.items = append([]uint64(nil), unsafe.Slice((*uint64)(unsafe.Pointer(ids)), int(n))...)
		}
		return cgOK
	})
}

//export cg_chunk_stream_config_get_items
func cg_chunk_stream_config_get_items(p unsafe.Pointer, ids *C.uint64_t, n C.size_t) C.size_t {
	clearErr()
	return readChunkConfig(p, func(h *chunkConfigH) C.size_t {
		if ids != nil && n > 0 {
			copy(unsafe.Slice((*uint64)(unsafe.Pointer(ids)), int(min(n, C.size_t(len(h.items))))), h.items)
		}
		return C.size_t(len(h.items))
	})
}

//export cg_chunk_stream_config_set_max_chunks
func cg_chunk_stream_config_set_max_chunks(p unsafe.Pointer, n C.size_t) C.int {
	clearErr()
	return withChunkConfig(p, func(h *chunkConfigH) C.int {
		if n < 1 || n > 1<<20 {
			return setErrf(cgEINVAL, 0, "max_chunks must be in [1, %d], got %d", 1<<20, uint64(n))
		}
		h.maxChunks = int(n)
		return cgOK
	})
}

//export cg_chunk_stream_config_get_max_chunks
func cg_chunk_stream_config_get_max_chunks(p unsafe.Pointer) C.size_t {
	clearErr()
	return readChunkConfig(p, func(h *chunkConfigH) C.size_t { return C.size_t(h.maxChunks) })
}

//export cg_chunk_stream_config_set_place
func cg_chunk_stream_config_set_place(p unsafe.Pointer, fn unsafe.Pointer, user unsafe.Pointer) C.int {
	clearErr()
	return withChunkConfig(p, func(h *chunkConfigH) C.int {
		if fn == nil {
			return setErr(cgEINVAL, 0, "place function is NULL")
		}
		h.place = &cPlacer{fn: fn, user: user}
		h.grid = nil
		return cgOK
	})
}

//export cg_chunk_stream_config_set_max_heap_extra
func cg_chunk_stream_config_set_max_heap_extra(p unsafe.Pointer, n C.size_t) C.int {
	clearErr()
	return withChunkConfig(p, func(h *chunkConfigH) C.int {
		if n > 1<<30 {
			return setErrf(cgEINVAL, 0, "max_heap_extra %d is too large", uint64(n))
		}
		h.maxHeapExtra = int(n)
		return cgOK
	})
}

//export cg_chunk_stream_config_get_max_heap_extra
func cg_chunk_stream_config_get_max_heap_extra(p unsafe.Pointer) C.size_t {
	clearErr()
	return readChunkConfig(p, func(h *chunkConfigH) C.size_t { return C.size_t(h.maxHeapExtra) })
}

//export cg_chunk_stream_config_set_max_jump_chunks
func cg_chunk_stream_config_set_max_jump_chunks(p unsafe.Pointer, n C.uint64_t) C.int {
	clearErr()
	return withChunkConfig(p, func(h *chunkConfigH) C.int {
		if n > 1<<62 {
			return setErrf(cgEINVAL, 0, "max_jump_chunks %d is too large", uint64(n))
		}
		h.maxJump = int64(n)
		return cgOK
	})
}

//export cg_chunk_stream_config_get_max_jump_chunks
func cg_chunk_stream_config_get_max_jump_chunks(p unsafe.Pointer) C.uint64_t {
	clearErr()
	return readChunkConfig(p, func(h *chunkConfigH) C.uint64_t { return C.uint64_t(h.maxJump) })
}

//export cg_chunk_stream_config_enable_packet_presence
func cg_chunk_stream_config_enable_packet_presence(p unsafe.Pointer, payload C.size_t) C.int {
	clearErr()
	return withChunkConfig(p, func(h *chunkConfigH) C.int {
		if payload < 1 || payload > maxSizeArg {
			return setErrf(cgEINVAL, 0, "packet presence payload size must be positive, got %d", uint64(payload))
		}
		h.presence = int(payload)
		return cgOK
	})
}

//export cg_chunk_stream_config_disable_packet_presence
func cg_chunk_stream_config_disable_packet_presence(p unsafe.Pointer) C.int {
	clearErr()
	return withChunkConfig(p, func(h *chunkConfigH) C.int { h.presence = 0; return cgOK })
}

//export cg_chunk_stream_config_get_packet_presence_payload_size
func cg_chunk_stream_config_get_packet_presence_payload_size(p unsafe.Pointer) C.size_t {
	clearErr()
	return readChunkConfig(p, func(h *chunkConfigH) C.size_t { return C.size_t(h.presence) })
}

//export cg_chunk_stream_config_set_allocate
func cg_chunk_stream_config_set_allocate(p unsafe.Pointer, fn unsafe.Pointer, user unsafe.Pointer) C.int {
	clearErr()
	return withChunkConfig(p, func(h *chunkConfigH) C.int { h.allocFn, h.allocUser = fn, user; return cgOK })
}

//export cg_chunk_stream_config_set_ready
func cg_chunk_stream_config_set_ready(p unsafe.Pointer, fn unsafe.Pointer, user unsafe.Pointer) C.int {
	clearErr()
	return withChunkConfig(p, func(h *chunkConfigH) C.int { h.readyFn, h.readyUser = fn, user; return cgOK })
}

//export cg_chunk_stream_config_set_release
func cg_chunk_stream_config_set_release(p unsafe.Pointer, fn unsafe.Pointer, user unsafe.Pointer) C.int {
	clearErr()
	return withChunkConfig(p, func(h *chunkConfigH) C.int { h.release = chunkRelease{fn, user}; return cgOK })
}

// cGridDim and cGrid mirror cg_grid_dim and cg_grid (checked in capi_test.go).
type cGridDim struct {
	Item   uintptr
	Origin int64
	Step   int64
	Count  int64
	Stride int64
}

type cGrid struct {
	Size           uintptr // sizeof as the caller's header says, or 0
	Time           cGridDim
	Dims           *cGridDim
	NDims          uintptr
	HeapSize       int64
	HeapLengthItem int64
	ExtraItems     *uintptr
	NExtraItems    uintptr
}

// sizeIndex converts an item index from C; an absurd one becomes -1, which
// GridPlacer.Validate rejects.
func sizeIndex(v uintptr) int {
	if v > 1<<30 {
		return -1
	}
	return int(v)
}

func (d *cGridDim) toGo() recv.GridDim {
	return recv.GridDim{Item: sizeIndex(d.Item), Origin: d.Origin, Step: d.Step, Count: d.Count, Stride: d.Stride}
}

//export cg_chunk_stream_config_set_grid_place
func cg_chunk_stream_config_set_grid_place(p unsafe.Pointer, grid unsafe.Pointer) C.int {
	clearErr()
	return withChunkConfig(p, func(h *chunkConfigH) C.int {
		if grid == nil {
			return setErr(cgEINVAL, 0, "grid is NULL")
		}
		cgv, code := readSized[cGrid](grid, "cg_grid")
		if code != cgOK {
			return code
		}
		cg := &cgv
		if cg.NDims > 64 || (cg.NDims > 0 && cg.Dims == nil) {
			return setErrf(cgEINVAL, 0, "grid dims: %d dimensions (at most 64, non-NULL)", uint64(cg.NDims))
		}
		if cg.NExtraItems > 1<<16 || (cg.NExtraItems > 0 && cg.ExtraItems == nil) {
			return setErrf(cgEINVAL, 0, "grid extra items: %d (at most %d, non-NULL)", uint64(cg.NExtraItems), 1<<16)
		}
		g := &recv.GridPlacer{Time: cg.Time.toGo(), HeapSize: cg.HeapSize, HeapLengthItem: -1}
		if cg.HeapLengthItem >= 0 {
			g.HeapLengthItem = int(min(cg.HeapLengthItem, 1<<30))
		}
		if cg.NDims > 0 {
			for _, d := range unsafe.Slice(cg.Dims, int(cg.NDims)) {
				g.Dims = append(g.Dims, d.toGo())
			}
		}
		if cg.NExtraItems > 0 {
			for _, e := range unsafe.Slice(cg.ExtraItems, int(cg.NExtraItems)) {
				g.ExtraItems = append(g.ExtraItems, sizeIndex(e))
			}
		}
		// Checks that need no item count fail now; the rest when a stream
		// is made (the items may be set later).
		probe := *g
		probe.NumItems = 1 << 30
		if err := probe.Validate(); err != nil {
			return fail(err, cgEINVAL)
		}
		h.grid = g
		h.place = nil
		return cgOK
	})
}

// ---- group configuration ----

type groupConfigH struct {
	mu        sync.Mutex
	cfg       recv.GroupConfig
	allocFn   unsafe.Pointer
	allocUser unsafe.Pointer
	readyFn   unsafe.Pointer
	readyUser unsafe.Pointer
	release   chunkRelease
}

func getGroupConfig(p unsafe.Pointer) (*groupConfigH, bool) {
	return lookup[*groupConfigH](p, "group config")
}

// build returns the core configuration, with C callbacks when asked.
func (h *groupConfigH) build(callbacks bool) recv.GroupConfig {
	h.mu.Lock()
	defer h.mu.Unlock()
	cfg := h.cfg
	if callbacks {
		cfg.Allocate = cAllocate(h.allocFn, h.allocUser)
		cfg.Ready = cReady(h.readyFn, h.readyUser)
	}
	return cfg
}

//export cg_group_config_new
func cg_group_config_new() unsafe.Pointer {
	clearErr()
	return newHandle(&groupConfigH{cfg: recv.DefaultGroupConfig()})
}

//export cg_group_config_free
func cg_group_config_free(p unsafe.Pointer) {
	clearErr()
	if _, ok := removeHandle[*groupConfigH](p); !ok && p != nil {
		setErr(cgESTATE, 0, "group config handle is freed or not a group config")
	}
}

// releaseFn reads the configured release function.
func (h *groupConfigH) releaseFn() chunkRelease {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.release
}

func withGroupConfig(p unsafe.Pointer, fn func(h *groupConfigH) C.int) C.int {
	h, ok := getGroupConfig(p)
	if !ok {
		return cgESTATE
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return fn(h)
}

//export cg_group_config_set_max_chunks
func cg_group_config_set_max_chunks(p unsafe.Pointer, n C.size_t) C.int {
	clearErr()
	return withGroupConfig(p, func(h *groupConfigH) C.int {
		if n < 1 || n > 1<<20 {
			return setErrf(cgEINVAL, 0, "max_chunks must be in [1, %d], got %d", 1<<20, uint64(n))
		}
		h.cfg.MaxChunks = int(n)
		return cgOK
	})
}

//export cg_group_config_get_max_chunks
func cg_group_config_get_max_chunks(p unsafe.Pointer) C.size_t {
	clearErr()
	var v C.size_t
	withGroupConfig(p, func(h *groupConfigH) C.int { v = C.size_t(h.cfg.MaxChunks); return cgOK })
	return v
}

//export cg_group_config_set_eviction_mode
func cg_group_config_set_eviction_mode(p unsafe.Pointer, mode C.int) C.int {
	clearErr()
	return withGroupConfig(p, func(h *groupConfigH) C.int {
		m := recv.EvictionMode(mode)
		if m != recv.Lossy && m != recv.Lossless {
			return setErrf(cgEINVAL, 0, "unknown eviction mode %d (want CG_EVICT_LOSSY or CG_EVICT_LOSSLESS)", int(mode))
		}
		h.cfg.EvictionMode = m
		return cgOK
	})
}

//export cg_group_config_set_lossy_grace
func cg_group_config_set_lossy_grace(p unsafe.Pointer, us C.int64_t) C.int {
	clearErr()
	return withGroupConfig(p, func(h *groupConfigH) C.int {
		switch {
		case us < 0:
			h.cfg.LossyGrace = -1
		case us == 0:
			h.cfg.LossyGrace = 0
		case int64(us) > int64(time.Hour/time.Microsecond):
			return setErrf(cgEINVAL, 0, "lossy grace %d us is more than an hour", int64(us))
		default:
			h.cfg.LossyGrace = time.Duration(us) * time.Microsecond
		}
		return cgOK
	})
}

//export cg_group_config_get_lossy_grace
func cg_group_config_get_lossy_grace(p unsafe.Pointer) C.int64_t {
	clearErr()
	v := C.int64_t(0)
	withGroupConfig(p, func(h *groupConfigH) C.int {
		switch g := h.cfg.LossyGrace; {
		case g < 0:
			v = -1
		case g == 0:
			v = C.int64_t(recv.DefaultLossyGrace / time.Microsecond)
		default:
			v = C.int64_t(g / time.Microsecond)
		}
		return cgOK
	})
	return v
}

//export cg_group_config_get_eviction_mode
func cg_group_config_get_eviction_mode(p unsafe.Pointer) C.int {
	clearErr()
	v := C.int(-cgESTATE)
	withGroupConfig(p, func(h *groupConfigH) C.int { v = C.int(h.cfg.EvictionMode); return cgOK })
	return v
}

//export cg_group_config_set_allocate
func cg_group_config_set_allocate(p unsafe.Pointer, fn unsafe.Pointer, user unsafe.Pointer) C.int {
	clearErr()
	return withGroupConfig(p, func(h *groupConfigH) C.int { h.allocFn, h.allocUser = fn, user; return cgOK })
}

//export cg_group_config_set_ready
func cg_group_config_set_ready(p unsafe.Pointer, fn unsafe.Pointer, user unsafe.Pointer) C.int {
	clearErr()
	return withGroupConfig(p, func(h *groupConfigH) C.int { h.readyFn, h.readyUser = fn, user; return cgOK })
}

//export cg_group_config_set_release
func cg_group_config_set_release(p unsafe.Pointer, fn unsafe.Pointer, user unsafe.Pointer) C.int {
	clearErr()
	return withGroupConfig(p, func(h *groupConfigH) C.int { h.release = chunkRelease{fn, user}; return cgOK })
}
