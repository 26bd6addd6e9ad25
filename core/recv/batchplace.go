package recv

import (
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/offheap"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// prePlaceCap is the number of packets whose heaps are placed ahead in one
// call; AddBatch works through larger batches in slices of this size.
const prePlaceCap = 64

// prePlacer places, before a slice of packets is processed, every heap
// that one of those packets will start, with one BatchPlacer call. Place
// functions compute a placement from the packet alone, so placing a heap a
// few packets early changes nothing, as long as exactly the heaps that
// processing will start are placed, once each: the same decisions as
// processPacket (valid, sized, not live, in-order start) plus one entry
// per heap counter. When processing needs a placement that was not made
// ahead (a heap evicted and restarted within the slice), it falls back to
// a single Place call.
type prePlacer struct {
	bp      BatchPlacer
	mem     []byte      // off-heap: pds, items, extra
	pds     []PlaceData // prePlaceCap entries
	items   []int64     // prePlaceCap * len(Items)
	extra   []byte      // prePlaceCap * MaxHeapExtra
	nItems  int
	nExtra  int
	pkts    [prePlaceCap]spead.Packet
	bad     [prePlaceCap]bool  // did not decode
	idx     [prePlaceCap]int16 // packet -> pds entry, -1 if none
	started [2 * prePlaceCap]uint64
}

func newPrePlacer(bp BatchPlacer, nItems, maxHeapExtra int, batchStats *uint64) (*prePlacer, error) {
	pdBytes := prePlaceCap * int(PlaceDataSize)
	itemBytes := prePlaceCap * nItems * 8
	mem, err := offheap.Alloc(pdBytes + itemBytes + prePlaceCap*maxHeapExtra)
	if err != nil {
		return nil, err
	}
	pp := &prePlacer{bp: bp, mem: mem, nItems: nItems, nExtra: maxHeapExtra}
	pp.pds = unsafe.Slice((*PlaceData)(unsafe.Pointer(&mem[0])), prePlaceCap)
	if nItems > 0 {
		pp.items = unsafe.Slice((*int64)(unsafe.Pointer(&mem[pdBytes])), prePlaceCap*nItems)
	}
	if maxHeapExtra > 0 {
		pp.extra = mem[pdBytes+itemBytes:]
	}
	for j := range pp.pds {
		pd := &pp.pds[j]
		pd.BatchStats = batchStats
		if nItems > 0 {
			pd.Items = &pp.items[j*nItems]
		}
		if maxHeapExtra > 0 {
			pd.Extra = &pp.extra[j*maxHeapExtra]
		}
	}
	return pp, nil
}

func (pp *prePlacer) release() { offheap.Free(pp.mem) }

// markStarted records that a packet of this slice starts heap cnt; false
// if one already does. A small open-addressing set, cleared per slice,
// holding cnt+1 (0 is an empty entry; heap counters have at most 48 bits,
// so cnt+1 never wraps to 0).
func (pp *prePlacer) markStarted(cnt uint64) bool {
	mask := uint64(len(pp.started) - 1)
	// Fibonacci hashing: the product's high bits mix best; the mask, not
	// the shift, fits them to the table (any power-of-two size up to 2^24).
	for h := (cnt * 0x9E3779B97F4A7C15) >> 40 & mask; ; h = (h + 1) & mask {
		switch pp.started[h] {
		case 0:
			pp.started[h] = cnt + 1
			return true
		case cnt + 1:
			return false
		}
	}
}

// take returns the placement made ahead for packet i of the slice, if any
// (each is used once).
func (pp *prePlacer) take(i int) (*PlaceData, []byte, bool) {
	j := pp.idx[i]
	if j < 0 {
		return nil, nil, false
	}
	pp.idx[i] = -1
	return &pp.pds[j], pp.extra[int(j)*pp.nExtra : int(j+1)*pp.nExtra], true
}

// prePlace decodes the slice's packets (processPacket uses the result) and
// places, in one call, the heaps they start. mu held.
func (s *Stream) prePlace(packets [][]byte) {
	pp := s.pre
	clear(pp.started[:])
	k := 0
	for i := range packets {
		pp.idx[i] = -1
	}
	for i, b := range packets {
		p := &pp.pkts[i]
		pp.bad[i] = spead.Decode(b, p) != nil
		if pp.bad[i] {
			continue
		}
		if p.StreamStop && s.cfg.StopOnStopItem {
			break // processing stops here: place nothing after it
		}
		if p.HeapLength < 0 {
			continue
		}
		if p.PayloadOffset != 0 && !s.cfg.AllowOutOfOrder {
			continue
		}
		cnt := uint64(p.HeapCnt)
		if h, _ := s.heaps.find(cnt); h != nil || !pp.markStarted(cnt) {
			continue
		}
		pd := &pp.pds[k]
		for n, id := range s.ccfg.Items {
			pp.items[k*pp.nItems+n] = itemValue(p, id)
		}
		pd.Packet, pd.PacketSize = &b[0], uintptr(p.Size)
		pd.ChunkID = -1
		pd.HeapIndex, pd.HeapOffset, pd.ExtraOffset, pd.ExtraSize = 0, 0, 0, 0
		pp.idx[i] = int16(k)
		k++
	}
	if k == 0 {
		return
	}
	pp.bp.PlaceBatch(&pp.pds[0], k)
	for j := 0; j < k; j++ {
		pp.pds[j].Packet = nil // do not keep pointers to packet buffers
	}
}
