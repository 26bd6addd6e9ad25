package recv

import (
	"testing"
)

// Far jumps (issue 12): one packet from far in the future must not drag
// the window away from the legitimate heaps when MaxJumpChunks is set.

const farCnt = 1 << 46 // heap counter of the stray heap: chunk 2^44

func jumpStream(t *testing.T, maxJump int64) (*Stream, *recorder) {
	return newTestStream(t, 2, func(_ *StreamConfig, cc *ChunkStreamConfig) { cc.MaxJumpChunks = maxJump })
}

// A stray heap among legitimate ones is dropped and counted; every
// legitimate heap arrives.
func TestFarJumpStrayHeapIgnored(t *testing.T) {
	s, rec := jumpStream(t, 64)
	b := cat(pks(0, 1, 2, 3, 4, 5), pk(farCnt), pks(6, 7, 8, 9, 10, 11))
	s.AddBatch(b)
	s.Stop()
	if got := rec.readyIDs(); !equalIDs(got, []int64{0, 1, 2}) {
		t.Fatalf("ready %v, want [0 1 2]", got)
	}
	for cnt := uint64(0); cnt < 12; cnt++ {
		checkHeap(t, rec.chunkByID(t, int64(cnt/4)), cnt, int(cnt%4), true)
	}
	wantStats(t, s, map[string]uint64{"packets": 13 * 4, "heaps": 13, "far_jump_heaps": 1, "too_old_heaps": 0})
}

// Stray heaps far ahead, each followed by legitimate traffic, never add up
// to a confirmation.
func TestFarJumpStrayHeapsNeverConfirm(t *testing.T) {
	s, rec := jumpStream(t, 64)
	var b [][]byte
	for cnt := uint64(0); cnt < 16; cnt++ {
		b = append(b, pk(cnt)...)
		b = append(b, pk(farCnt+cnt)...) // same far region, but never 4 in a row
	}
	s.AddBatch(b)
	s.Stop()
	if got := rec.readyIDs(); !equalIDs(got, []int64{0, 1, 2, 3}) {
		t.Fatalf("ready %v", got)
	}
	wantStats(t, s, map[string]uint64{"heaps": 32, "far_jump_heaps": 16, "too_old_heaps": 0})
}

// A sender that really jumped is followed after JumpConfirmHeaps heaps from
// the new position; the ones before are counted in far_jump_heaps.
func TestFarJumpConfirmed(t *testing.T) {
	s, rec := jumpStream(t, 64)
	b := pks(0, 1, 2, 3)
	for cnt := uint64(farCnt); cnt < farCnt+8; cnt++ {
		b = append(b, pk(cnt)...)
	}
	s.AddBatch(b)
	s.Stop()
	base := int64(farCnt / 4)
	ids := rec.readyIDs()
	if ids[0] != 0 || ids[len(ids)-1] != base+1 {
		t.Fatalf("ready %v", ids)
	}
	c0, c1 := rec.chunkByID(t, base), rec.chunkByID(t, base+1)
	for slot := 0; slot < 3; slot++ {
		checkHeap(t, c0, farCnt+uint64(slot), slot, false) // dropped before the confirmation
	}
	checkHeap(t, c0, farCnt+3, 3, true)
	for slot := 0; slot < 4; slot++ {
		checkHeap(t, c1, farCnt+4+uint64(slot), slot, true)
	}
	wantStats(t, s, map[string]uint64{"heaps": 12, "far_jump_heaps": JumpConfirmHeaps - 1, "too_old_heaps": 0})
}

// The first heap may be anywhere: there is no window yet to guard.
func TestFarJumpFirstHeapAnywhere(t *testing.T) {
	s, rec := jumpStream(t, 8)
	s.AddBatch(pks(farCnt, farCnt+1))
	s.Stop()
	checkHeap(t, rec.chunkByID(t, farCnt/4), farCnt, 0, true)
	wantStats(t, s, map[string]uint64{"heaps": 2, "far_jump_heaps": 0})
}

// Without the guard (the default, spead2's behaviour) the stray heap moves
// the window and the legitimate heaps after it are too old: the failure the
// guard exists for.
func TestFarJumpUnguardedDefault(t *testing.T) {
	s, _ := jumpStream(t, 0)
	s.AddBatch(cat(pks(0, 1, 2, 3), pk(farCnt), pks(4, 5, 6, 7)))
	s.Stop()
	wantStats(t, s, map[string]uint64{"heaps": 9, "far_jump_heaps": 0, "too_old_heaps": 4})
}
