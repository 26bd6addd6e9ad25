package send

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chunkgroup/chunkgroup/core/spead"
)

// Target is anything heaps can be sent through to numbered destinations:
// *UDPSender, *TCPGroup, *PcapSender.
type Target interface {
	SendHeap(h *spead.Heap, dest int) error
	NumDestinations() int
	Flush() error
	Stats() Stats
	Close() error
}

// TargetConfig selects and configures a Target, the way
// cmd/chunkgroup-send's flags do.
type TargetConfig struct {
	Destinations []string  // "host:port", heap i to destination i % N
	TCP          bool      // one TCP connection per destination instead of UDP
	PcapFile     string    // write a capture of the UDP datagrams instead of sending
	UDP          UDPConfig // UDP settings; Destinations is taken from above
}

// OpenTarget opens the Target cfg describes. Rate applies to UDP and TCP;
// a capture is written as fast as possible.
func OpenTarget(cfg TargetConfig, enc *spead.Encoder) (Target, error) {
	switch {
	case cfg.PcapFile != "" && cfg.TCP:
		return nil, errors.New("send: a capture holds UDP datagrams; TCP and pcap output exclude each other")
	case cfg.PcapFile != "":
		return CreatePcapSender(cfg.PcapFile, cfg.Destinations, enc)
	case cfg.TCP:
		return NewTCPGroup(cfg.Destinations, enc, cfg.UDP.Rate)
	}
	u := cfg.UDP
	u.Destinations = cfg.Destinations
	return NewUDPSender(u, enc)
}

// Scenario is one of the benchmark shapes of performance.md.
type Scenario struct {
	Name          string
	HeapPayload   int // payload bytes per heap
	PacketPayload int // payload bytes per packet
	HeapsPerChunk int // heaps per chunk of the receiver's placement
}

// Scenarios are the benchmark scenarios by name.
var Scenarios = map[string]Scenario{
	"large": {Name: "large", HeapPayload: 65536, PacketPayload: 8192, HeapsPerChunk: 64},
	"small": {Name: "small", HeapPayload: 1024, PacketPayload: 1024, HeapsPerChunk: 1024},
}

// EncoderConfig returns the encoder settings the benchmarks use for the
// scenario: SPEAD-64-48, pointers repeated in every packet, PacketPayload
// bytes per packet.
func (sc Scenario) EncoderConfig() spead.EncoderConfig {
	return spead.EncoderConfig{AddrBits: 48, PacketPayload: sc.PacketPayload, RepeatPointers: true}
}

// SynthConfig returns the synthetic-heap settings for the scenario (no
// extra items, no timestamp: placement uses the heap counter and length).
func (sc Scenario) SynthConfig() SynthConfig {
	return SynthConfig{HeapPayload: sc.HeapPayload, HeapsPerChunk: sc.HeapsPerChunk}
}

// RunConfig says how many heaps Run sends.
type RunConfig struct {
	// Heaps is the number of heaps to send; 0 means until Duration has
	// passed (or, if Duration is 0 too, until the context is done).
	Heaps uint64
	// Duration bounds the run when Heaps is 0.
	Duration time.Duration
	// FirstCnt is the heap counter of the first heap.
	FirstCnt uint64
	// Stop sends a stream stop heap to every destination at the end (also
	// when the context ends the run early), so receivers finish cleanly.
	Stop bool
}

// Result is what a run sent.
type Result struct {
	Stats                   // totals, including stop heaps
	DataHeaps uint64        // synthetic heaps sent (not counting stop heaps)
	Elapsed   time.Duration // from the first heap to the final flush
}

// Rate returns the achieved rate in bytes per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / r.Elapsed.Seconds()
}

// String is a one-line summary.
func (r Result) String() string {
	s := fmt.Sprintf("%d heaps (+%d stop), %d packets, %d bytes in %v: %s, %.0f packets/s",
		r.DataHeaps, r.Heaps-r.DataHeaps, r.Packets, r.Bytes, r.Elapsed.Round(time.Microsecond),
		FormatRate(r.Rate()), float64(r.Packets)/max(r.Elapsed.Seconds(), 1e-9))
	if r.Calls > 0 {
		s += fmt.Sprintf(", %d send calls", r.Calls)
	}
	if r.Retries > 0 {
		s += fmt.Sprintf(", %d retries", r.Retries)
	}
	if r.GSO {
		s += ", GSO"
	}
	return s
}

// Run sends synthetic heaps FirstCnt, FirstCnt+1, ... through t, heap cnt
// to destination cnt % t.NumDestinations(), until cfg says stop or ctx is
// done (not an error), then flushes and optionally sends stop heaps.
func Run(ctx context.Context, t Target, synth *Synth, cfg RunConfig) (Result, error) {
	var res Result
	if t == nil || synth == nil {
		return res, errors.New("send: Run needs a target and a synth")
	}
	n := uint64(t.NumDestinations())
	if n == 0 {
		return res, errors.New("send: target has no destinations")
	}
	if cfg.Heaps == 0 && cfg.Duration <= 0 && ctx.Done() == nil {
		return res, errors.New("send: Run needs a heap count, a duration or a cancellable context")
	}
	done := ctx.Done()
	start := time.Now()
	cnt := cfg.FirstCnt
	var err error
loop:
	for cfg.Heaps == 0 || res.DataHeaps < cfg.Heaps {
		select {
		case <-done:
			break loop
		default:
		}
		if cfg.Heaps == 0 && cfg.Duration > 0 && time.Since(start) >= cfg.Duration {
			break
		}
		if err = t.SendHeap(synth.Heap(cnt), int(cnt%n)); err != nil {
			break
		}
		cnt++
		res.DataHeaps++
	}
	if err == nil && cfg.Stop {
		for d := 0; d < int(n) && err == nil; d++ {
			err = t.SendHeap(spead.StopHeap(cnt), d)
		}
	}
	if ferr := t.Flush(); err == nil {
		err = ferr
	}
	res.Elapsed = time.Since(start)
	res.Stats = t.Stats()
	return res, err
}

// ParseRate parses a rate into bytes per second: a plain number is bytes
// per second; a number with a unit takes an SI prefix (k, M, G, T; or Ki,
// Mi, Gi, Ti for powers of 1024) and "b" for bits or "B" for bytes,
// optionally followed by "/s" or "ps": "2Gb/s", "500MB/s", "10Gbps",
// "1.5e9", "0" (unlimited). A prefix without b or B means bytes.
func ParseRate(s string) (float64, error) {
	orig := s
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, "/s")
	s = strings.TrimSuffix(s, "ps")
	i := len(s)
	for i > 0 && strings.ContainsRune("kKMGTiBb", rune(s[i-1])) {
		i--
	}
	num, unit := strings.TrimSpace(s[:i]), s[i:]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("send: bad rate %q (want e.g. 2Gb/s, 500MB/s or bytes per second)", orig)
	}
	mult := 1.0
	if strings.HasSuffix(unit, "b") {
		mult = 1.0 / 8
		unit = unit[:len(unit)-1]
	} else if strings.HasSuffix(unit, "B") {
		unit = unit[:len(unit)-1]
	}
	base := 1000.0
	if strings.HasSuffix(unit, "i") {
		base = 1024
		unit = unit[:len(unit)-1]
	}
	switch unit {
	case "":
		if base == 1024 {
			return 0, fmt.Errorf("send: bad rate %q", orig)
		}
	case "k", "K":
		mult *= base
	case "M":
		mult *= base * base
	case "G":
		mult *= base * base * base
	case "T":
		mult *= base * base * base * base
	default:
		return 0, fmt.Errorf("send: bad rate unit in %q", orig)
	}
	return v * mult, nil
}

// FormatRate formats bytes per second as bits and bytes per second.
func FormatRate(bytesPerSec float64) string {
	return fmt.Sprintf("%.3f Gb/s (%.1f MB/s)", bytesPerSec*8/1e9, bytesPerSec/1e6)
}
