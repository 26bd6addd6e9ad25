// Package recv is the receive engine: packets to heaps to chunks, chunk
// streams, chunk stream groups and their ringbuffer variants.
//
// Every stream processes its packets serially under its own mutex, taken
// once per batch. Chunk streams write payload straight into caller-owned
// chunks (see core/chunk). A standalone chunk stream is a group with one
// member, so there is one implementation of windows and readiness.
package recv

import (
	"errors"
	"fmt"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
)

// Configuration and state errors. Callers test them with errors.Is; the C
// ABI maps ErrInvalid to CG_EINVAL and ErrState to CG_ESTATE.
var (
	ErrInvalid = errors.New("invalid argument")
	ErrState   = errors.New("invalid state")
	ErrStopped = errors.New("stream stopped")
)

// MsgAddStreamAfterData is why EmplaceBack refuses a member once the group
// has received data (the seed's rule); C's cg_last_error and Python's
// RuntimeError carry the same text.
const MsgAddStreamAfterData = "cannot add a stream to a group that has received data"

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func statef(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrState}, args...)...)
}

// Defaults, as spead2 has them.
const (
	DefaultMaxHeaps  = 4
	DefaultMaxChunks = 2
)

// StatMode says how a statistic combines: counters add, maxima take the max.
type StatMode int

const (
	StatCounter StatMode = iota
	StatMaximum
)

// StatConfig names one statistic.
type StatConfig struct {
	Name string
	Mode StatMode
}

// MemcpyMode selects how payload is copied into chunks (spead2's
// MEMCPY_STD / MEMCPY_NONTEMPORAL).
type MemcpyMode int

const (
	// MemcpyStd copies with ordinary stores (through the cache).
	MemcpyStd MemcpyMode = iota
	// MemcpyNonTemporal copies with streaming stores that bypass the cache:
	// faster when chunks are larger than the cache, as they usually are
	// (see core/memcopy). The default.
	MemcpyNonTemporal
)

// StreamConfig configures heap assembly (behaviour.md section 2).
type StreamConfig struct {
	MaxHeaps        int  // incomplete heaps kept per substream (>= 1)
	Substreams      int  // heap_cnt mod Substreams selects the substream (>= 1)
	StopOnStopItem  bool // a stream-control stop item stops the stream
	AllowOutOfOrder bool // accept a heap's packets in any offset order
	StreamID        uintptr
	ExplicitStart   bool // readers wait for Start
	Memcpy          MemcpyMode
	stats           []StatConfig
}

// DefaultStreamConfig returns spead2's defaults.
func DefaultStreamConfig() StreamConfig {
	return StreamConfig{MaxHeaps: DefaultMaxHeaps, Substreams: 1, StopOnStopItem: true, Memcpy: MemcpyNonTemporal}
}

// Clone returns a copy that later AddStat calls on either cannot disturb.
func (c StreamConfig) Clone() StreamConfig {
	c.stats = append([]StatConfig(nil), c.stats...)
	return c
}

// Validate reports the first invalid field.
func (c *StreamConfig) Validate() error {
	if c.MaxHeaps < 1 {
		return invalidf("max_heaps must be at least 1, got %d", c.MaxHeaps)
	}
	if c.Substreams < 1 {
		return invalidf("substreams must be at least 1, got %d", c.Substreams)
	}
	if c.Memcpy != MemcpyStd && c.Memcpy != MemcpyNonTemporal {
		return invalidf("unknown memcpy mode %d", c.Memcpy)
	}
	return nil
}

// AddStat adds a custom statistic and returns its index in the statistics
// array (the index a place function uses in batch_stats).
func (c *StreamConfig) AddStat(name string, mode StatMode) (int, error) {
	if mode != StatCounter && mode != StatMaximum {
		return 0, invalidf("unknown statistic mode %d", mode)
	}
	if name == "" {
		return 0, invalidf("statistic name is empty")
	}
	if _, ok := c.StatIndex(name); ok {
		return 0, invalidf("a statistic named %q already exists", name)
	}
	c.stats = append(c.stats, StatConfig{name, mode})
	return NumStandardStats + len(c.stats) - 1, nil
}

// Stats returns every statistic, standard ones first (a copy).
func (c *StreamConfig) Stats() []StatConfig {
	out := make([]StatConfig, 0, NumStandardStats+len(c.stats))
	out = append(out, standardStats[:]...)
	return append(out, c.stats...)
}

// StatIndex returns the index of the named statistic.
func (c *StreamConfig) StatIndex(name string) (int, bool) {
	for i, s := range standardStats {
		if s.Name == name {
			return i, true
		}
	}
	for i, s := range c.stats {
		if s.Name == name {
			return NumStandardStats + i, true
		}
	}
	return 0, false
}

// NextStatIndex is the index the next AddStat will return.
func (c *StreamConfig) NextStatIndex() int { return NumStandardStats + len(c.stats) }

// AllocateFunc obtains the chunk for a chunk ID. It may return nil (heaps for
// that ID are then skipped). batchStats is the calling stream's per-batch
// statistics array (off the Go heap). It runs with the group lock held: it
// may block (a free ring), but must not call back into the group.
type AllocateFunc func(chunkID int64, batchStats []uint64) *chunk.Chunk

// ReadyFunc receives a chunk that no stream will write again. Same rules as
// AllocateFunc.
type ReadyFunc func(c *chunk.Chunk, batchStats []uint64)

// ChunkStreamConfig configures placement into chunks (behaviour.md section 3).
type ChunkStreamConfig struct {
	Items        []uint64 // item IDs whose immediate values the place function gets
	MaxChunks    int      // the stream's window (>= 1)
	Place        Placer
	MaxHeapExtra int
	// PacketPresencePayloadSize, when > 0, marks presence per packet at
	// heap_index + payload_offset / PacketPresencePayloadSize.
	PacketPresencePayloadSize int
	// MaxJumpChunks, when > 0, guards the window against stray packets from
	// far in the future: a heap placed more than MaxJumpChunks chunks past
	// the end of the window is dropped (far_jump_heaps) unless
	// JumpConfirmHeaps heaps in a row land that far ahead, within
	// MaxJumpChunks of each other, with no heap inside the window between
	// them; then the window follows. 0 (the default) follows every jump at
	// once, as spead2 does. The first heap a stream places is never a jump.
	MaxJumpChunks int64
	// Allocate and Ready are used by standalone chunk streams only; a group
	// member uses the group's.
	Allocate AllocateFunc
	Ready    ReadyFunc
}

// DefaultChunkStreamConfig returns spead2's defaults (no place function yet).
func DefaultChunkStreamConfig() ChunkStreamConfig {
	return ChunkStreamConfig{MaxChunks: DefaultMaxChunks}
}

// Validate reports the first invalid field.
func (c *ChunkStreamConfig) Validate() error {
	if c.MaxChunks < 1 {
		return invalidf("max_chunks must be at least 1, got %d", c.MaxChunks)
	}
	if c.Place == nil {
		return invalidf("a place function is required")
	}
	if c.MaxHeapExtra < 0 {
		return invalidf("max_heap_extra must not be negative")
	}
	if c.PacketPresencePayloadSize < 0 {
		return invalidf("packet presence payload size must not be negative")
	}
	if c.MaxJumpChunks < 0 {
		return invalidf("max_jump_chunks must not be negative, got %d", c.MaxJumpChunks)
	}
	if len(c.Items) > 1<<16 {
		return invalidf("too many items (%d)", len(c.Items))
	}
	return nil
}

// EvictionMode is what a group does when a stream needs a chunk beyond the
// group's window.
type EvictionMode int

const (
	// Lossy readies the oldest chunk at once, flushing members that have
	// not finished it (the default).
	Lossy EvictionMode = iota
	// Lossless waits until every member has moved past the oldest chunk.
	Lossless
)

// GroupConfig configures a chunk stream group (behaviour.md section 4).
type GroupConfig struct {
	MaxChunks    int
	EvictionMode EvictionMode
	Allocate     AllocateFunc
	Ready        ReadyFunc
	// LossyGrace (LOSSY): before a member evicts chunks that another member
	// still receiving has not finished, it waits up to this long for that
	// member to move on by itself. A member that takes in no batch during a
	// whole grace is idle from then on, until it takes in a batch: it is
	// flushed without a wait, as behaviour.md requires. It absorbs the scheduling
	// jitter of members sharing cores, which otherwise loses the slower
	// member's heaps (too_old_heaps) well below the rate the receivers can
	// sustain. 0 means DefaultLossyGrace;
	// negative means no wait (spead2's behaviour).
	LossyGrace time.Duration
	// FreeRingWait applies to LOSSY ring groups only: how long a member
	// needing a chunk waits for one on an empty free ring before the group
	// counts itself starved. A starved group waits no more: the heaps of
	// chunks it cannot get are dropped and counted (no_chunk_heaps) until the
	// consumer returns a chunk, so the members keep draining their input
	// instead of leaving the kernel to drop packets uncounted. 0 means
	// DefaultFreeRingWait; a negative value waits as long as it takes
	// (spead2's behaviour). LOSSLESS ring groups and standalone ring
	// streams always wait.
	FreeRingWait time.Duration
}

// DefaultLossyGrace is the LOSSY grace of GroupConfig (docs/tuning.md,
// "LOSSY groups and drift between members", has the loss curves that chose
// it): a few milliseconds cover a member descheduled for a time slice,
// and cost a fast member nothing that its socket buffer cannot hold.
const DefaultLossyGrace = 5 * time.Millisecond

// DefaultFreeRingWait is FreeRingWait's default: long enough that a
// consumer that is merely slow (a GC pause, a busy machine) never loses a
// heap, short enough that a consumer that stopped costs the network input
// about one second of (uncounted) kernel drops, once.
const DefaultFreeRingWait = time.Second

// DefaultGroupConfig returns the defaults.
func DefaultGroupConfig() GroupConfig { return GroupConfig{MaxChunks: DefaultMaxChunks} }

// Validate reports the first invalid field. Allocate and Ready are checked
// when the group is made (ring groups supply their own).
func (c *GroupConfig) Validate() error {
	if c.MaxChunks < 1 {
		return invalidf("max_chunks must be at least 1, got %d", c.MaxChunks)
	}
	if c.EvictionMode != Lossy && c.EvictionMode != Lossless {
		return invalidf("unknown eviction mode %d", c.EvictionMode)
	}
	return nil
}
