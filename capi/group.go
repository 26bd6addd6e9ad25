package main

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/ring"
)

// groupH is a group, or the hidden group of a standalone stream.
type groupH struct {
	g       *recv.Group
	mu      sync.Mutex
	members []*streamH
	kept    []*chunk.Chunk // handed back by Stop, until taken
	dead    bool
	release chunkRelease // gets the chunks still kept when the handle is freed
}

// stop stops the group and keeps the chunks it hands back.
func (gh *groupH) stop() {
	kept := gh.g.Stop()
	if len(kept) > 0 {
		gh.mu.Lock()
		gh.kept = append(gh.kept, kept...)
		gh.mu.Unlock()
	}
}

func (gh *groupH) takeKept(out **C.struct_cg_chunk, n C.size_t) C.size_t {
	gh.mu.Lock()
	defer gh.mu.Unlock()
	if out == nil || n == 0 {
		return 0
	}
	k := min(int(min(n, 1<<30)), len(gh.kept))
	dst := unsafe.Slice(out, k)
	for i := range k {
		dst[i] = (*C.struct_cg_chunk)(unsafe.Pointer(gh.kept[i]))
	}
	gh.kept = gh.kept[k:]
	return C.size_t(k)
}

// streamH is a chunk stream: standalone (its own hidden group) or a member.
type streamH struct {
	s          *recv.Stream
	gh         *groupH
	handle     unsafe.Pointer
	standalone bool
	lastPort   atomic.Int32
	udpGRO     atomic.Bool // cg_stream_set_udp_gro: for UDP readers added later

	mu       sync.Mutex
	affinity []int
	names    []*C.char // C copies of the statistic names, made on demand
	errStr   *C.char
	dead     bool
}

// release frees the C strings handed out; called when the handle dies.
func (sh *streamH) release() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.dead {
		procs.streamsChanged(-1)
	}
	sh.dead = true
	for _, n := range sh.names {
		C.free(unsafe.Pointer(n))
	}
	sh.names = nil
	if sh.errStr != nil {
		C.free(unsafe.Pointer(sh.errStr))
		sh.errStr = nil
	}
}

func getGroup(p unsafe.Pointer) (*groupH, bool) { return lookup[*groupH](p, "group") }

func getStream(p unsafe.Pointer) (*streamH, bool) { return lookup[*streamH](p, "stream") }

// newGroupHandle registers a group; on failure the group is stopped.
func newGroupHandle(g *recv.Group, release chunkRelease) unsafe.Pointer {
	gh := &groupH{g: g, release: release}
	p := newHandle(gh)
	if p == nil {
		g.Stop()
	}
	return p
}

//export cg_group_new
func cg_group_new(cfgp unsafe.Pointer) unsafe.Pointer {
	clearErr()
	cfg, ok := getGroupConfig(cfgp)
	if !ok {
		return nil
	}
	g, err := recv.NewGroup(cfg.build(true))
	if err != nil {
		fail(err, cgEINVAL)
		return nil
	}
	return newGroupHandle(g, cfg.releaseFn())
}

//export cg_ring_group_new
func cg_ring_group_new(cfgp unsafe.Pointer, datap unsafe.Pointer, freep unsafe.Pointer) unsafe.Pointer {
	clearErr()
	cfg, ok := getGroupConfig(cfgp)
	if !ok {
		return nil
	}
	data, ok := getRing(datap)
	if !ok {
		return nil
	}
	free, ok := getRing(freep)
	if !ok {
		return nil
	}
	g, err := recv.NewRingGroup(cfg.build(false), data, free)
	if err != nil {
		fail(err, cgEINVAL)
		return nil
	}
	return newGroupHandle(g, cfg.releaseFn())
}

//export cg_group_emplace_back
func cg_group_emplace_back(gp unsafe.Pointer, scfgp unsafe.Pointer, ccfgp unsafe.Pointer) unsafe.Pointer {
	clearErr()
	gh, ok := getGroup(gp)
	if !ok {
		return nil
	}
	scfg, ok := getStreamConfig(scfgp)
	if !ok {
		return nil
	}
	ccfg, ok := getChunkConfig(ccfgp)
	if !ok {
		return nil
	}
	cc, code := ccfg.build(false)
	if code != cgOK {
		return nil
	}
	// The group lock orders emplace against free, so a member handle is
	// never registered for a group whose handle has gone.
	gh.mu.Lock()
	defer gh.mu.Unlock()
	if gh.dead {
		setErr(cgESTATE, 0, "group handle is freed")
		return nil
	}
	s, err := gh.g.EmplaceBack(scfg.snapshot(), cc)
	if err != nil {
		fail(err, cgEINVAL)
		return nil
	}
	sh := &streamH{s: s, gh: gh}
	sh.handle = newHandle(sh)
	if sh.handle == nil {
		// The member exists in the group but C cannot name it; it is
		// stopped with the group.
		return nil
	}
	gh.members = append(gh.members, sh)
	procs.streamsChanged(1)
	return sh.handle
}

//export cg_group_size
func cg_group_size(gp unsafe.Pointer) C.size_t {
	clearErr()
	gh, ok := getGroup(gp)
	if !ok {
		return 0
	}
	gh.mu.Lock()
	defer gh.mu.Unlock()
	return C.size_t(len(gh.members))
}

//export cg_group_get
func cg_group_get(gp unsafe.Pointer, index C.size_t) unsafe.Pointer {
	clearErr()
	gh, ok := getGroup(gp)
	if !ok {
		return nil
	}
	gh.mu.Lock()
	defer gh.mu.Unlock()
	if uint64(index) >= uint64(len(gh.members)) {
		setErrf(cgEINVAL, 0, "member index %d out of range [0, %d)", uint64(index), len(gh.members))
		return nil
	}
	return gh.members[index].handle
}

// addFreeChunk is cg_*_add_free_chunk (strict false: silent when the free
// ring has stopped, as the spec and spead2 say) and its _v2 (strict: says
// CG_ESTOPPED, and the chunk stays the caller's).
func addFreeChunk(gh *groupH, c unsafe.Pointer, strict bool) C.int {
	if c == nil {
		return setErr(cgEINVAL, 0, "chunk is NULL")
	}
	var err error
	if strict {
		err = gh.g.PushFreeChunk(asChunk(c))
		if errors.Is(err, ring.ErrStopped) {
			return setErr(cgESTOPPED, 0, "the free ring has stopped: the chunk was not taken")
		}
	} else {
		err = gh.g.AddFreeChunk(asChunk(c))
	}
	if err != nil {
		return fail(err, cgESTATE)
	}
	return cgOK
}

//export cg_group_add_free_chunk
func cg_group_add_free_chunk(gp unsafe.Pointer, c unsafe.Pointer) C.int {
	clearErr()
	gh, ok := getGroup(gp)
	if !ok {
		return cgESTATE
	}
	return addFreeChunk(gh, c, false)
}

//export cg_group_add_free_chunk_v2
func cg_group_add_free_chunk_v2(gp unsafe.Pointer, c unsafe.Pointer) C.int {
	clearErr()
	gh, ok := getGroup(gp)
	if !ok {
		return cgESTATE
	}
	return addFreeChunk(gh, c, true)
}

//export cg_group_stop
func cg_group_stop(gp unsafe.Pointer) C.int {
	clearErr()
	gh, ok := getGroup(gp)
	if !ok {
		return cgESTATE
	}
	gh.stop()
	return cgOK
}

//export cg_group_take_kept
func cg_group_take_kept(gp unsafe.Pointer, out **C.struct_cg_chunk, n C.size_t) C.size_t {
	clearErr()
	gh, ok := getGroup(gp)
	if !ok {
		return 0
	}
	return gh.takeKept(out, n)
}

//export cg_group_free
func cg_group_free(gp unsafe.Pointer) {
	clearErr()
	gh, ok := removeHandle[*groupH](gp)
	if !ok {
		if gp != nil {
			setErr(cgESTATE, 0, "group handle is freed or not a group")
		}
		return
	}
	gh.stop()
	gh.mu.Lock()
	gh.dead = true
	members := gh.members
	gh.members = nil
	kept := gh.kept
	gh.kept = nil
	gh.mu.Unlock()
	for _, sh := range members {
		removeHandle[*streamH](sh.handle)
		sh.release()
	}
	gh.release.handBack("cg_group_free", kept)
}

// ---- standalone streams ----

func newStandalone(s *recv.Stream, err error, release chunkRelease) unsafe.Pointer {
	if err != nil {
		fail(err, cgEINVAL)
		return nil
	}
	gh := &groupH{g: s.Group(), release: release}
	sh := &streamH{s: s, gh: gh, standalone: true}
	gh.members = []*streamH{sh}
	sh.handle = newHandle(sh)
	if sh.handle == nil {
		s.Group().Stop()
		return nil
	}
	procs.streamsChanged(1)
	return sh.handle
}

//export cg_chunk_stream_new
func cg_chunk_stream_new(scfgp unsafe.Pointer, ccfgp unsafe.Pointer) unsafe.Pointer {
	clearErr()
	scfg, ok := getStreamConfig(scfgp)
	if !ok {
		return nil
	}
	ccfg, ok := getChunkConfig(ccfgp)
	if !ok {
		return nil
	}
	cc, code := ccfg.build(true)
	if code != cgOK {
		return nil
	}
	s, err := recv.NewChunkStream(scfg.snapshot(), cc)
	return newStandalone(s, err, ccfg.releaseFn())
}

//export cg_chunk_ring_stream_new
func cg_chunk_ring_stream_new(scfgp unsafe.Pointer, ccfgp unsafe.Pointer, datap unsafe.Pointer, freep unsafe.Pointer) unsafe.Pointer {
	clearErr()
	scfg, ok := getStreamConfig(scfgp)
	if !ok {
		return nil
	}
	ccfg, ok := getChunkConfig(ccfgp)
	if !ok {
		return nil
	}
	data, ok := getRing(datap)
	if !ok {
		return nil
	}
	free, ok := getRing(freep)
	if !ok {
		return nil
	}
	cc, code := ccfg.build(false)
	if code != cgOK {
		return nil
	}
	s, err := recv.NewRingStream(scfg.snapshot(), cc, data, free)
	return newStandalone(s, err, ccfg.releaseFn())
}

// getStandalone returns a standalone stream, CG_ESTATE for a member.
func getStandalone(p unsafe.Pointer) (*streamH, bool) {
	sh, ok := getStream(p)
	if !ok {
		return nil, false
	}
	if !sh.standalone {
		setErr(cgESTATE, 0, "stream is a group member: use the group's function")
		return nil, false
	}
	return sh, true
}

//export cg_chunk_ring_stream_add_free_chunk
func cg_chunk_ring_stream_add_free_chunk(p unsafe.Pointer, c unsafe.Pointer) C.int {
	clearErr()
	sh, ok := getStandalone(p)
	if !ok {
		return cgESTATE
	}
	return addFreeChunk(sh.gh, c, false)
}

//export cg_chunk_ring_stream_add_free_chunk_v2
func cg_chunk_ring_stream_add_free_chunk_v2(p unsafe.Pointer, c unsafe.Pointer) C.int {
	clearErr()
	sh, ok := getStandalone(p)
	if !ok {
		return cgESTATE
	}
	return addFreeChunk(sh.gh, c, true)
}

//export cg_chunk_ring_stream_take_kept
func cg_chunk_ring_stream_take_kept(p unsafe.Pointer, out **C.struct_cg_chunk, n C.size_t) C.size_t {
	clearErr()
	sh, ok := getStandalone(p)
	if !ok {
		return 0
	}
	return sh.gh.takeKept(out, n)
}

//export cg_stream_free
func cg_stream_free(p unsafe.Pointer) {
	clearErr()
	if sh, ok := getStream(p); ok && !sh.standalone {
		setErr(cgESTATE, 0, "stream is a group member: it is freed with its group")
		return
	}
	sh, ok := removeHandle[*streamH](p)
	if !ok {
		if p != nil {
			setErr(cgESTATE, 0, "stream handle is freed or not a stream")
		}
		return
	}
	sh.gh.stop()
	sh.release()
	sh.gh.mu.Lock()
	kept := sh.gh.kept
	sh.gh.kept = nil
	sh.gh.mu.Unlock()
	sh.gh.release.handBack("cg_stream_free", kept)
}
