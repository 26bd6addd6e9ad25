package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/ring"
	"github.com/chunkgroup/chunkgroup/core/send"
	"github.com/chunkgroup/chunkgroup/core/transport"
)

// rigConfig shapes the receiving ring group.
type rigConfig struct {
	sc        send.Scenario
	streams   int
	maxChunks int // group window
	// streamChunks is each member's window (0: the group's). A member
	// window smaller than the group's lets members drift apart by the
	// difference without waiting for each other (docs/tuning.md).
	streamChunks int
	chunks       int // chunks in circulation (also each ring's capacity)
	maxHeaps     int
	lossless     bool
	lossyGrace   time.Duration // GroupConfig.LossyGrace (0: the default)
	// consumerThread locks the consumer goroutine to an OS thread of its
	// own, as a C or Python consumer's is: every wake-up of the consumer
	// then goes through the OS scheduler and hands a Go processor from
	// thread to thread, which a consumer goroutine sharing the members'
	// processors never does (docs/tuning.md, fifth round).
	consumerThread bool
	// batchPlace places through a recv.BatchPlacer (the grid, once per
	// slice of packets for the heaps they start): the path a C place
	// function takes behind the C ABI, without the cgo call (impl
	// "go-batch").
	batchPlace bool
}

// batchGrid is the grid placement as a recv.BatchPlacer.
type batchGrid struct{ *recv.GridPlacer }

func (g batchGrid) PlaceBatch(first *recv.PlaceData, n int) {
	pds := unsafe.Slice(first, n)
	for i := range pds {
		g.Place(&pds[i])
	}
}

// rig is a ring group with its rings, member streams and chunks, placing
// heap cnt at chunk cnt / heaps_per_chunk, slot cnt % heaps_per_chunk, and
// rejecting heaps whose length is not the scenario's (performance.md).
type rig struct {
	cfg     rigConfig
	g       *recv.Group
	data    *ring.Ring
	streams []*recv.Stream
}

func newRig(cfg rigConfig) (*rig, error) {
	data, err := ring.New(cfg.chunks)
	if err != nil {
		return nil, err
	}
	free, err := ring.New(cfg.chunks)
	if err != nil {
		return nil, err
	}
	gcfg := recv.DefaultGroupConfig()
	gcfg.MaxChunks = cfg.maxChunks
	if cfg.lossless {
		gcfg.EvictionMode = recv.Lossless
	}
	gcfg.LossyGrace = cfg.lossyGrace
	g, err := recv.NewRingGroup(gcfg, data, free)
	if err != nil {
		return nil, err
	}
	r := &rig{cfg: cfg, g: g, data: data}
	placer := recv.CounterGrid(int64(cfg.sc.HeapsPerChunk), int64(cfg.sc.HeapPayload))
	for i := 0; i < cfg.streams; i++ {
		scfg := recv.DefaultStreamConfig()
		scfg.StreamID = uintptr(i)
		if cfg.maxHeaps > 0 {
			scfg.MaxHeaps = cfg.maxHeaps
		}
		ccfg := recv.DefaultChunkStreamConfig()
		ccfg.Items = recv.CounterItems()
		ccfg.MaxChunks = cfg.maxChunks
		if cfg.streamChunks > 0 {
			ccfg.MaxChunks = cfg.streamChunks
		}
		ccfg.Place = placer
		if cfg.batchPlace {
			ccfg.Place = batchGrid{placer}
		}
		s, err := g.EmplaceBack(scfg, ccfg)
		if err != nil {
			g.Stop()
			return nil, err
		}
		r.streams = append(r.streams, s)
	}
	chunkBytes := cfg.sc.HeapPayload * cfg.sc.HeapsPerChunk
	for i := 0; i < cfg.chunks; i++ {
		d := make([]byte, chunkBytes)
		for off := 0; off < len(d); off += 4096 {
			d[off] = 1 // fault the pages in now, not inside the clock
		}
		if err := g.AddFreeChunk(chunk.New(make([]byte, cfg.sc.HeapsPerChunk), d, nil)); err != nil {
			g.Stop()
			return nil, err
		}
	}
	return r, nil
}

// consumed is what the consumer took from the data ring.
type consumed struct {
	chunks, heaps, slots uint64
	end                  time.Time // when it found the ring stopped and empty
}

// consume pops chunks until the data ring stops, counts the complete heaps
// (present slots) and gives each chunk back at once, as a real consumer
// that has finished with it would.
func (r *rig) consume() <-chan consumed {
	out := make(chan consumed, 1)
	go func() {
		if r.cfg.consumerThread {
			runtime.LockOSThread() // until the goroutine ends
		}
		var c consumed
		for {
			ch, err := r.data.Pop()
			if err != nil {
				c.end = time.Now()
				out <- c
				return
			}
			c.chunks++
			c.slots += uint64(ch.PresentSize)
			for _, p := range ch.Present() {
				if p != 0 {
					c.heaps++
				}
			}
			_ = r.g.AddFreeChunk(ch)
		}
	}()
	return out
}

// stat sums a statistic over the member streams.
func (r *rig) stat(name string) uint64 {
	var t uint64
	for _, s := range r.streams {
		v, _ := s.Stats().Get(name)
		t += v
	}
	return t
}

// streamErr returns the first reader error of a member.
func (r *rig) streamErr() error {
	for i, s := range r.streams {
		if err := s.Err(); err != nil {
			return fmt.Errorf("stream %d: %w", i, err)
		}
	}
	return nil
}

func cmdMemory(args []string) error {
	fs := flag.NewFlagSet("memory", flag.ContinueOnError)
	scName := fs.String("scenario", "large", "large or small")
	streams := fs.Int("streams", 1, "member streams N (heap i goes to stream i % N)")
	bytes := fs.Int64("bytes", 1<<30, "payload bytes per run, at least (rounded up to whole chunks)")
	repeat := fs.Int("repeat", 1, "runs over the same packets (one JSON line each)")
	maxChunks := fs.Int("max-chunks", 4, "group window in chunks")
	streamChunks := fs.Int("stream-chunks", 0, "each member's window in chunks (0: the group's)")
	chunks := fs.Int("chunks", 8, "chunks in circulation")
	lossy := fs.Bool("lossy", false, "LOSSY eviction (default LOSSLESS: in memory no stream may be overtaken)")
	consumerThread := fs.Bool("consumer-thread", false, "lock the consumer goroutine to an OS thread of its own, as a C or Python consumer's is (impl \"go-thread\")")
	batchPlace := fs.Bool("batch-place", false, "place through a batch placer, the path of a C place function (impl \"go-batch\")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sc, err := scenario(*scName)
	if err != nil {
		return err
	}
	if *streams < 1 || *repeat < 1 {
		return fmt.Errorf("--streams and --repeat must be at least 1")
	}
	t0 := time.Now()
	ps, err := buildPackets(sc, *streams, *bytes)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "memory %s N=%d: built %d heaps (%d packets, %.2f GiB payload) in %.1fs\n",
		sc.Name, *streams, ps.heaps, ps.packets(), float64(ps.payload())/(1<<30), since(t0))
	for rep := 0; rep < *repeat; rep++ {
		res, err := memoryRun(ps, rigConfig{sc: sc, streams: *streams, maxChunks: *maxChunks, streamChunks: *streamChunks,
			chunks: *chunks, maxHeaps: recv.DefaultMaxHeaps, lossless: !*lossy, consumerThread: *consumerThread,
			batchPlace: *batchPlace})
		if err != nil {
			return err
		}
		res["repeat"] = rep
		emit(res)
	}
	return nil
}

// memoryRun runs one timed pass over ps. The clock starts just before the
// first reader is added and stops when the consumer has taken (and
// returned) the last chunk and found the data ring stopped.
func memoryRun(ps *packetSet, cfg rigConfig) (map[string]any, error) {
	r, err := newRig(cfg)
	if err != nil {
		return nil, err
	}
	readers := make([]*transport.MemReader, cfg.streams)
	for i := range readers {
		readers[i] = transport.NewMemReader(ps.bufs[i])
	}
	runtime.GC() // the packet build's garbage is not this run's
	cpu0, gc0 := cpuSeconds(), gcCount()
	done := r.consume()
	start := time.Now()
	for i, s := range r.streams {
		if err := s.AddReader(readers[i]); err != nil {
			r.g.Stop()
			return nil, err
		}
	}
	var c consumed
	select {
	case c = <-done:
	case <-time.After(10 * time.Minute):
		r.g.Stop()
		return nil, fmt.Errorf("memory run did not finish in 10 minutes")
	}
	elapsed := c.end.Sub(start).Seconds()
	cpu := cpuSeconds() - cpu0
	gcs := gcCount() - gc0
	r.g.Stop()
	if err := r.streamErr(); err != nil {
		return nil, err
	}
	payload := float64(c.heaps) * float64(cfg.sc.HeapPayload)
	impl := "go"
	if cfg.consumerThread {
		impl = "go-thread"
	}
	if cfg.batchPlace {
		impl += "-batch"
	}
	res := map[string]any{
		"kind": "memory", "impl": impl, "scenario": cfg.sc.Name, "streams": cfg.streams,
		"heaps_expected": ps.heaps, "heaps": c.heaps, "chunks": c.chunks,
		"packets": ps.packets(), "payload_bytes": int64(payload),
		"seconds":         round(elapsed, 6),
		"gbytes_per_s":    round(payload/elapsed/1e9, 4),
		"packets_per_s":   round(float64(ps.packets())/elapsed, 0),
		"cpu_seconds":     round(cpu, 4),
		"cpu_s_per_gbyte": round(cpu/(payload/1e9), 4),
		"gc_cycles":       gcs,
		"rejected_heaps":  r.stat("rejected_heaps"),
		"incomplete":      r.stat("incomplete_heaps_evicted") + r.stat("incomplete_heaps_flushed"),
	}
	if c.heaps != uint64(ps.heaps) {
		return res, fmt.Errorf("received %d complete heaps, sent %d: %v", c.heaps, ps.heaps, res)
	}
	return res, nil
}
