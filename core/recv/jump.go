package recv

// JumpConfirmHeaps is how many heaps in a row must land far ahead of a
// stream's window, near each other, before the window follows them when
// ChunkStreamConfig.MaxJumpChunks is set.
const JumpConfirmHeaps = 4

// jumpGuard keeps one stray packet from far in the future (a corrupted or
// hostile timestamp) from dragging a stream's window there, after which
// every legitimate heap would be too old. A sender that really jumped (a
// restart with new timestamps) sends nothing but heaps from the new
// position, so the jump is confirmed after JumpConfirmHeaps of them; a
// stray packet among legitimate ones never is, because every heap placed
// inside the window, and every packet of a heap being written there, resets
// the count. Owned by the stream (mu held).
type jumpGuard struct {
	max     uint64 // 0: off
	placed  bool   // a heap has been placed: there is a window to guard
	cand    uint64 // chunk ID of the latest far heap
	confirm int    // far heaps in a row near cand
}

// allow reports whether a heap for chunk id may be placed, given the
// stream's window [head, head+size).
func (j *jumpGuard) allow(id, head, size uint64) bool {
	if j.max == 0 {
		return true
	}
	if !j.placed {
		j.placed = true // the first heap sets the window wherever it is
		return true
	}
	end := head + size // first ID past the window
	if id < end || id-end < j.max {
		j.confirm = 0 // in (or near) the window: whatever was far was stray
		return true
	}
	if j.confirm > 0 && absDiff(id, j.cand) <= j.max {
		j.confirm++
	} else {
		j.confirm = 1
	}
	j.cand = id
	if j.confirm >= JumpConfirmHeaps {
		j.confirm = 0
		return true // confirmed: the window follows
	}
	return false
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}
