package recv

// Indices of the standard statistics, in spead2's order, then the project's
// own safety counters. Custom statistics follow from NumStandardStats.
const (
	StatPackets = iota
	StatBatches
	StatMaxBatch
	StatHeaps
	StatIncompleteHeapsEvicted
	StatIncompleteHeapsFlushed
	StatSinglePacketHeaps
	StatSearchDist
	StatWorkerBlocked
	StatTooOldHeaps
	StatRejectedHeaps
	StatBadPlacementHeaps
	StatMalformedPackets
	StatFarJumpHeaps
	// StatNoChunkHeaps counts heaps dropped because their chunk had no
	// memory: the allocate callback returned none, or a LOSSY ring group's
	// free ring stayed empty (GroupConfig.FreeRingWait). spead2 drops
	// these heaps too, uncounted.
	StatNoChunkHeaps
	NumStandardStats
)

var standardStats = [NumStandardStats]StatConfig{
	{"packets", StatCounter},
	{"batches", StatCounter},
	{"max_batch", StatMaximum},
	{"heaps", StatCounter},
	{"incomplete_heaps_evicted", StatCounter},
	{"incomplete_heaps_flushed", StatCounter},
	{"single_packet_heaps", StatCounter},
	{"search_dist", StatCounter},
	{"worker_blocked", StatCounter},
	{"too_old_heaps", StatCounter},
	{"rejected_heaps", StatCounter},
	{"bad_placement_heaps", StatCounter},
	{"malformed_packets", StatCounter},
	{"far_jump_heaps", StatCounter},
	{"no_chunk_heaps", StatCounter},
}

// Stats is a consistent snapshot of a stream's statistics.
type Stats struct {
	Config []StatConfig // names and modes, index-aligned with Values
	Values []uint64
}

// Get returns the value of the named statistic (0, false if unknown).
func (s Stats) Get(name string) (uint64, bool) {
	for i, c := range s.Config {
		if c.Name == name {
			return s.Values[i], true
		}
	}
	return 0, false
}

// Map returns the statistics by name.
func (s Stats) Map() map[string]uint64 {
	m := make(map[string]uint64, len(s.Values))
	for i, c := range s.Config {
		m[c.Name] = s.Values[i]
	}
	return m
}

// foldStats adds batch into totals according to modes.
func foldStats(totals, batch []uint64, modes []StatMode) {
	for i, v := range batch {
		if modes[i] == StatMaximum {
			if v > totals[i] {
				totals[i] = v
			}
		} else {
			totals[i] += v
		}
	}
}
