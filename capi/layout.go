package main

/*
#include "shim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/recv"
)

// cLayout returns the sizes, offsets and constants of the ABI as the C
// compiler sees them in include/chunkgroup.h (table in shim.c); goLayout
// returns the same list from the Go side. capi_test.go compares them (cgo
// cannot be used in test files, so the C half lives here).
func cLayout() []uint64 {
	n := int(C.cgshim_layout_count())
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(C.cgshim_layout(C.size_t(i)))
	}
	return out
}

type layoutEntry struct {
	name  string
	value uint64
}

func goLayout() []layoutEntry {
	var c chunk.Chunk
	var pd recv.PlaceData
	var gd cGridDim
	var g cGrid
	var it cItem
	var sc cSenderConfig
	u := func(v uintptr) uint64 { return uint64(v) }
	return []layoutEntry{
		{"sizeof(cg_chunk)", u(unsafe.Sizeof(c))},
		{"cg_chunk.chunk_id", u(unsafe.Offsetof(c.ChunkID))},
		{"cg_chunk.stream_id", u(unsafe.Offsetof(c.StreamID))},
		{"cg_chunk.present", u(unsafe.Offsetof(c.PresentPtr))},
		{"cg_chunk.present_size", u(unsafe.Offsetof(c.PresentSize))},
		{"cg_chunk.data", u(unsafe.Offsetof(c.DataPtr))},
		{"cg_chunk.data_size", u(unsafe.Offsetof(c.DataSize))},
		{"cg_chunk.extra", u(unsafe.Offsetof(c.ExtraPtr))},
		{"cg_chunk.extra_size", u(unsafe.Offsetof(c.ExtraSize))},
		{"cg_chunk.user", u(unsafe.Offsetof(c.User))},
		{"sizeof(cg_place_data)", u(unsafe.Sizeof(pd))},
		{"cg_place_data.packet", u(unsafe.Offsetof(pd.Packet))},
		{"cg_place_data.packet_size", u(unsafe.Offsetof(pd.PacketSize))},
		{"cg_place_data.items", u(unsafe.Offsetof(pd.Items))},
		{"cg_place_data.chunk_id", u(unsafe.Offsetof(pd.ChunkID))},
		{"cg_place_data.heap_index", u(unsafe.Offsetof(pd.HeapIndex))},
		{"cg_place_data.heap_offset", u(unsafe.Offsetof(pd.HeapOffset))},
		{"cg_place_data.batch_stats", u(unsafe.Offsetof(pd.BatchStats))},
		{"cg_place_data.extra", u(unsafe.Offsetof(pd.Extra))},
		{"cg_place_data.extra_offset", u(unsafe.Offsetof(pd.ExtraOffset))},
		{"cg_place_data.extra_size", u(unsafe.Offsetof(pd.ExtraSize))},
		{"sizeof(cg_grid_dim)", u(unsafe.Sizeof(gd))},
		{"cg_grid_dim.item", u(unsafe.Offsetof(gd.Item))},
		{"cg_grid_dim.origin", u(unsafe.Offsetof(gd.Origin))},
		{"cg_grid_dim.step", u(unsafe.Offsetof(gd.Step))},
		{"cg_grid_dim.count", u(unsafe.Offsetof(gd.Count))},
		{"cg_grid_dim.stride", u(unsafe.Offsetof(gd.Stride))},
		{"sizeof(cg_grid)", u(unsafe.Sizeof(g))},
		{"cg_grid.size", u(unsafe.Offsetof(g.Size))},
		{"cg_grid.time", u(unsafe.Offsetof(g.Time))},
		{"cg_grid.dims", u(unsafe.Offsetof(g.Dims))},
		{"cg_grid.n_dims", u(unsafe.Offsetof(g.NDims))},
		{"cg_grid.heap_size", u(unsafe.Offsetof(g.HeapSize))},
		{"cg_grid.heap_length_item", u(unsafe.Offsetof(g.HeapLengthItem))},
		{"cg_grid.extra_items", u(unsafe.Offsetof(g.ExtraItems))},
		{"cg_grid.n_extra_items", u(unsafe.Offsetof(g.NExtraItems))},
		{"sizeof(cg_item)", u(unsafe.Sizeof(it))},
		{"cg_item.id", u(unsafe.Offsetof(it.ID))},
		{"cg_item.value", u(unsafe.Offsetof(it.Value))},
		{"sizeof(cg_sender_config)", u(unsafe.Sizeof(sc))},
		{"cg_sender_config.size", u(unsafe.Offsetof(sc.Size))},
		{"cg_sender_config.addr_bits", u(unsafe.Offsetof(sc.AddrBits))},
		{"cg_sender_config.max_packet_size", u(unsafe.Offsetof(sc.MaxPacketSize))},
		{"cg_sender_config.packet_payload", u(unsafe.Offsetof(sc.PacketPayload))},
		{"cg_sender_config.repeat_pointers", u(unsafe.Offsetof(sc.RepeatPointers))},
		{"cg_sender_config.rate", u(unsafe.Offsetof(sc.Rate))},
		{"cg_sender_config.interface_address", u(unsafe.Offsetof(sc.InterfaceAddress))},
		{"cg_sender_config.ttl", u(unsafe.Offsetof(sc.TTL))},
		{"cg_sender_config.buffer_size", u(unsafe.Offsetof(sc.BufferSize))},
		{"CG_OK", cgOK}, {"CG_EINVAL", cgEINVAL}, {"CG_ESTATE", cgESTATE}, {"CG_EIO", cgEIO},
		{"CG_ESTOPPED", cgESTOPPED}, {"CG_EEMPTY", cgEEMPTY}, {"CG_EFULL", cgEFULL},
		{"CG_ENOMEM", cgENOMEM}, {"CG_ETIMEDOUT", cgETIMEDOUT},
		{"CG_STAT_COUNTER", uint64(recv.StatCounter)}, {"CG_STAT_MAXIMUM", uint64(recv.StatMaximum)},
		{"CG_EVICT_LOSSY", uint64(recv.Lossy)}, {"CG_EVICT_LOSSLESS", uint64(recv.Lossless)},
		{"CG_LOG_DEBUG", 0}, {"CG_LOG_ERROR", 3},
		{"CG_NUM_STANDARD_STATS", recv.NumStandardStats},
		{"CG_STAT_BAD_PLACEMENT_HEAPS", recv.StatBadPlacementHeaps},
		{"CG_STAT_MALFORMED_PACKETS", recv.StatMalformedPackets},
		{"CG_STAT_FAR_JUMP_HEAPS", recv.StatFarJumpHeaps},
		{"CG_STAT_NO_CHUNK_HEAPS", recv.StatNoChunkHeaps},
		{"CG_STAT_HEAPS", recv.StatHeaps}, {"CG_STAT_PACKETS", recv.StatPackets},
	}
}
