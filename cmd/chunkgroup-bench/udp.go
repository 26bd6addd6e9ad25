package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/send"
	"github.com/chunkgroup/chunkgroup/core/spead"
	"github.com/chunkgroup/chunkgroup/core/transport"
)

// udpOptions are the flags shared by the udp and recvmmsg subcommands.
type udpOptions struct {
	lossyGrace   time.Duration
	sc           send.Scenario
	streams      int
	rate         float64 // bytes/s on the wire (SPEAD bytes); 0 = unlimited
	duration     time.Duration
	drain        time.Duration
	bufSize      int
	maxChunks    int
	streamChunks int
	chunks       int
	maxHeaps     int
	sender       string // child or inproc
	senderBin    string
	gso          bool
	gro          bool
	batch        int
	search       bool
	steps        int
	curve        []float64
	prefill      uint64 // heaps sent into the socket buffers before the readers start (0 = live)
	// senderWrap runs the child sender through this command (e.g. ip
	// netns exec NS) and senderExtra adds flags (veth.go).
	senderWrap, senderExtra []string
	// openReaders, when set, makes the readers instead of loopback UDP
	// readers (veth.go: UDP or AF_XDP over a veth pair).
	openReaders func(o udpOptions) ([]recv.Reader, []string, int, error)
}

func udpFlags(name string, args []string) (udpOptions, error) {
	var o udpOptions
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	scName := fs.String("scenario", "large", "large or small")
	fs.IntVar(&o.streams, "streams", 1, "member streams N, one loopback port each (heap i to port i % N)")
	rate := fs.String("rate", "0", "send rate in SPEAD bytes on the wire (e.g. 2Gb/s, 500MB/s); 0 = as fast as the sender goes")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "send time per trial")
	fs.DurationVar(&o.drain, "drain", 2*time.Second, "how long to wait for the receiver after the sender has finished")
	fs.IntVar(&o.bufSize, "buffer", 64<<20, "socket receive buffer bytes per stream (forced past rmem_max when privileged)")
	fs.IntVar(&o.maxChunks, "max-chunks", 4, "group window in chunks")
	fs.IntVar(&o.streamChunks, "stream-chunks", 0, "each member's window in chunks (0: the group's)")
	fs.IntVar(&o.chunks, "chunks", 16, "chunks in circulation")
	fs.IntVar(&o.maxHeaps, "max-heaps", recv.DefaultMaxHeaps, "incomplete heaps kept per stream")
	fs.DurationVar(&o.lossyGrace, "lossy-grace", 0, "LOSSY grace (0: the library default; negative: none, as spead2)")
	fs.StringVar(&o.sender, "sender", "child", "child (run chunkgroup-send as a separate process) or inproc (core/send in this process)")
	fs.StringVar(&o.senderBin, "sender-bin", "", "chunkgroup-send path (default: next to this executable, else build/chunkgroup-send)")
	fs.BoolVar(&o.gso, "gso", false, "sender uses UDP_SEGMENT")
	fs.BoolVar(&o.gro, "gro", false, "readers use UDP_GRO (receive offload)")
	fs.IntVar(&o.batch, "batch", send.DefaultBatchSize, "sender packets per sendmmsg")
	fs.BoolVar(&o.search, "search", false, "binary search for the highest rate with no loss (first trial unlimited)")
	fs.IntVar(&o.steps, "steps", 6, "trials in the binary search, the unlimited one included")
	fs.Uint64Var(&o.prefill, "prefill", 0, "receiver-only ceiling: send this many heaps (at --rate) into the socket buffers with no reader running, then time the readers draining them (size --buffer to hold them; LOSSLESS group; 0 = live trial)")
	curve := fs.String("curve", "", "with --search: extra trials at these multiples of the found rate, e.g. 0.9,1.1,1.25")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.sc, err = scenario(*scName); err != nil {
		return o, err
	}
	if o.rate, err = send.ParseRate(*rate); err != nil {
		return o, err
	}
	if o.prefill > 0 && o.search {
		return o, fmt.Errorf("--prefill and --search exclude each other")
	}
	if o.streams < 1 || o.steps < 1 {
		return o, fmt.Errorf("--streams and --steps must be at least 1")
	}
	// Readers sleeping in ppoll hold their processor: run the processor
	// count the transport suggests for this many (GOMAXPROCS in the
	// environment wins); each trial line reports it.
	transport.ApplyProcsForReaders(o.streams)
	if *curve != "" {
		for _, f := range strings.Split(*curve, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || v <= 0 {
				return o, fmt.Errorf("bad --curve entry %q", f)
			}
			o.curve = append(o.curve, v)
		}
	}
	switch o.sender {
	case "inproc":
	case "child":
		if o.senderBin == "" {
			o.senderBin = findSender()
		}
		if o.senderBin == "" {
			fmt.Fprintln(os.Stderr, "chunkgroup-bench: chunkgroup-send not found; sending in-process")
			o.sender = "inproc"
		}
	default:
		return o, fmt.Errorf("--sender must be child or inproc")
	}
	return o, nil
}

// findSender looks for chunkgroup-send beside this executable, then in
// build/ under the working directory.
func findSender() string {
	var cands []string
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), "chunkgroup-send"))
	}
	cands = append(cands, filepath.Join("build", "chunkgroup-send"))
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return c
		}
	}
	return ""
}

// sent is what the sender reports.
type sent struct {
	heaps, packets, bytes uint64 // data heaps; packets and bytes include the stop heaps
	seconds               float64
}

func (s sent) gbps() float64 { return float64(s.bytes) * 8 / max(s.seconds, 1e-9) / 1e9 }

var resultLine = regexp.MustCompile(`(\d+) heaps \(\+\d+ stop\), (\d+) packets, (\d+) bytes in ([^:]+):`)

// runSender sends the scenario's heaps to dests at rate for o.duration,
// then one stop heap per destination.
func runSender(o udpOptions, dests []string, rate float64) (sent, error) {
	heaps := o.prefill // a count replaces the duration
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+time.Minute)
	defer cancel()
	if o.sender == "child" {
		args := []string{"--dest", strings.Join(dests, ","), "--scenario", o.sc.Name,
			"--rate", strconv.FormatFloat(rate, 'f', 0, 64), "--duration", o.duration.String(),
			"--batch", strconv.Itoa(o.batch), "--heaps", strconv.FormatUint(heaps, 10)}
		if o.gso {
			args = append(args, "--gso")
		}
		args = append(args, o.senderExtra...)
		cmd := exec.CommandContext(ctx, o.senderBin, args...)
		if len(o.senderWrap) > 0 {
			cmd = exec.CommandContext(ctx, o.senderWrap[0], append(append(o.senderWrap[1:], o.senderBin), args...)...)
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return sent{}, fmt.Errorf("%s: %v: %s", o.senderBin, err, errb.String())
		}
		m := resultLine.FindStringSubmatch(out.String())
		if m == nil {
			return sent{}, fmt.Errorf("cannot parse chunkgroup-send output %q", out.String())
		}
		var s sent
		s.heaps, _ = strconv.ParseUint(m[1], 10, 64)
		s.packets, _ = strconv.ParseUint(m[2], 10, 64)
		s.bytes, _ = strconv.ParseUint(m[3], 10, 64)
		d, err := time.ParseDuration(strings.TrimSpace(m[4]))
		if err != nil {
			return s, fmt.Errorf("cannot parse chunkgroup-send elapsed time %q", m[4])
		}
		s.seconds = d.Seconds()
		return s, nil
	}
	enc, err := spead.NewEncoder(o.sc.EncoderConfig())
	if err != nil {
		return sent{}, err
	}
	syn, err := send.NewSynth(o.sc.SynthConfig())
	if err != nil {
		return sent{}, err
	}
	t, err := send.NewUDPSender(send.UDPConfig{Destinations: dests, Rate: rate, GSO: o.gso, BatchSize: o.batch}, enc)
	if err != nil {
		return sent{}, err
	}
	res, err := send.Run(ctx, t, syn, send.RunConfig{Heaps: heaps, Duration: o.duration, Stop: true})
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	return sent{heaps: res.DataHeaps, packets: res.Packets, bytes: res.Bytes, seconds: res.Elapsed.Seconds()}, err
}

// newUDPReaders opens one loopback reader per stream on a kernel-chosen port.
func newUDPReaders(o udpOptions) ([]*transport.UDPReader, []string, int, error) {
	var rs []*transport.UDPReader
	var dests []string
	granted := -1
	for i := 0; i < o.streams; i++ {
		cfg := transport.DefaultUDPConfig()
		cfg.BindHost = "127.0.0.1"
		cfg.BufferSize = o.bufSize
		cfg.GRO = o.gro
		r, err := transport.NewUDPReader(cfg)
		if err != nil {
			for _, r := range rs {
				r.Close()
			}
			return nil, nil, 0, err
		}
		rs = append(rs, r)
		dests = append(dests, r.LocalAddr().String())
		if g := r.GrantedBufferSize(); granted < 0 || g < granted {
			granted = g
		}
	}
	return rs, dests, granted, nil
}

// trialResult is one trial: its JSON line, loss fraction and achieved rate.
type trialResult struct {
	line     map[string]any
	loss     float64
	achieved float64 // Gb/s on the wire
}

// groupTrial sends at rate to a LOSSY ring group with one UDP reader per
// stream and counts the complete heaps the consumer got.
func groupTrial(o udpOptions, rate float64) (trialResult, error) {
	// A drain (prefill) measures capacity, not timing luck: LOSSLESS, so a
	// member that drains its socket faster cannot evict the other's heaps.
	r, err := newRig(rigConfig{sc: o.sc, streams: o.streams, maxChunks: o.maxChunks, streamChunks: o.streamChunks, chunks: o.chunks,
		maxHeaps: o.maxHeaps, lossless: o.prefill > 0, lossyGrace: o.lossyGrace})
	if err != nil {
		return trialResult{}, err
	}
	var readers []recv.Reader
	var dests []string
	var granted int
	if o.openReaders != nil {
		readers, dests, granted, err = o.openReaders(o)
	} else {
		var urs []*transport.UDPReader
		urs, dests, granted, err = newUDPReaders(o)
		for _, u := range urs {
			readers = append(readers, u)
		}
	}
	if err != nil {
		r.g.Stop()
		return trialResult{}, err
	}
	startReaders := func() error {
		for i, s := range r.streams {
			if err := s.AddReader(readers[i]); err != nil {
				for _, rd := range readers[i+1:] {
					rd.Close()
				}
				r.g.Stop()
				return err
			}
		}
		return nil
	}
	if o.prefill == 0 {
		if err := startReaders(); err != nil {
			return trialResult{}, err
		}
	}
	done := r.consume()
	gc0, cpu0 := gcCount(), cpuSeconds()
	snt, serr := runSender(o, dests, rate)
	var t0 time.Time
	drain := o.drain
	if o.prefill > 0 {
		// The packets wait in the socket buffers; only now do the readers
		// start, so the clock sees the receiver alone.
		if serr != nil {
			for _, rd := range readers {
				rd.Close()
			}
			r.g.Stop()
			return trialResult{}, serr
		}
		drain = max(drain, 30*time.Second)
		gc0, cpu0, t0 = gcCount(), cpuSeconds(), time.Now()
		if err := startReaders(); err != nil {
			return trialResult{}, err
		}
	}
	var c consumed
	var kept []*chunk.Chunk
	select {
	case c = <-done: // every stream saw its stop heap
	case <-time.After(drain):
		kept = r.g.Stop()
		c = <-done
	}
	cpu := cpuSeconds() - cpu0
	gcs := gcCount() - gc0
	kept = append(kept, r.g.Stop()...)
	for _, ch := range kept { // readied after the stop: still received
		for _, p := range ch.Present() {
			if p != 0 {
				c.heaps++
			}
		}
	}
	if serr != nil {
		return trialResult{}, serr
	}
	loss := 0.0
	if snt.heaps > 0 {
		loss = 1 - float64(c.heaps)/float64(snt.heaps)
	}
	payloadFrac := float64(o.sc.HeapPayload) * float64(snt.heaps) / float64(max(snt.bytes, 1))
	line := map[string]any{
		"kind": "udp_trial", "impl": "go", "scenario": o.sc.Name, "streams": o.streams, "gomaxprocs": runtime.GOMAXPROCS(0),
		"rate_gbps": round(rate*8/1e9, 4), "achieved_gbps": round(snt.gbps(), 4),
		"payload_gbps": round(snt.gbps()*payloadFrac, 4),
		"heaps_sent":   snt.heaps, "heaps_received": c.heaps, "loss": round(loss, 6),
		"packets_sent": snt.packets, "packets_received": r.stat("packets"),
		"packets_per_s": round(float64(snt.packets)/max(snt.seconds, 1e-9), 0),
		"too_old_heaps": r.stat("too_old_heaps"), "incomplete_heaps": r.stat("incomplete_heaps_evicted") + r.stat("incomplete_heaps_flushed"),
		"worker_blocked": r.stat("worker_blocked"), "gc_cycles": gcs, "cpu_seconds": round(cpu, 3),
		"cpu_s_per_gbyte": round(cpu/max(float64(c.heaps)*float64(o.sc.HeapPayload)/1e9, 1e-9), 4),
		"seconds":         round(snt.seconds, 3), "rcvbuf_granted": granted, "sender": o.sender,
	}
	if o.prefill > 0 {
		d := c.end.Sub(t0).Seconds()
		line["kind"] = "udp_drain"
		line["drain_seconds"] = round(d, 4)
		line["drain_packets_per_s"] = round(float64(r.stat("packets"))/d, 0)
		line["drain_heaps_per_s"] = round(float64(c.heaps)/d, 0)
		line["drain_payload_gbytes_per_s"] = round(float64(c.heaps)*float64(o.sc.HeapPayload)/d/1e9, 4)
	}
	return trialResult{line: line, loss: loss, achieved: snt.gbps()}, nil
}

// countSink counts packets and discards them, noting when the last batch
// came (for the drain time).
type countSink struct {
	n    atomic.Uint64
	last atomic.Int64 // UnixNano of the latest batch
}

func (s *countSink) AddBatch(p [][]byte) bool {
	s.n.Add(uint64(len(p)))
	s.last.Store(time.Now().UnixNano())
	return true
}

// bareTrial sends at rate to bare UDP readers whose sink only counts:
// recvmmsg (and ppoll when the socket is empty) and nothing else.
func bareTrial(o udpOptions, rate float64) (trialResult, error) {
	readers, dests, granted, err := newUDPReaders(o)
	if err != nil {
		return trialResult{}, err
	}
	sinks := make([]*countSink, len(readers))
	for i := range sinks {
		sinks[i] = &countSink{}
	}
	var wg sync.WaitGroup
	startReaders := func() {
		for i, r := range readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = r.Run(sinks[i])
			}()
		}
	}
	if o.prefill == 0 {
		startReaders()
	}
	total := func() uint64 {
		var t uint64
		for _, s := range sinks {
			t += s.n.Load()
		}
		return t
	}
	cpu0 := cpuSeconds()
	snt, serr := runSender(o, dests, rate)
	var t0 time.Time
	drain := o.drain
	if o.prefill > 0 {
		drain = max(drain, 30*time.Second)
		cpu0, t0 = cpuSeconds(), time.Now()
		startReaders()
	}
	// Drained when nothing more arrives for 100 ms (bounded by --drain).
	deadline := time.Now().Add(drain)
	last := total()
	for time.Now().Before(deadline) && last < snt.packets {
		time.Sleep(100 * time.Millisecond)
		n := total()
		if n == last && n > 0 {
			break
		}
		last = n
	}
	cpu := cpuSeconds() - cpu0
	for _, r := range readers {
		r.Close()
	}
	wg.Wait()
	if serr != nil {
		return trialResult{}, serr
	}
	got := total()
	loss := 0.0
	if snt.packets > 0 {
		loss = max(0, 1-float64(got)/float64(snt.packets))
	}
	payloadFrac := float64(o.sc.HeapPayload) * float64(snt.heaps) / float64(max(snt.bytes, 1))
	line := map[string]any{
		"kind": "recvmmsg_trial", "impl": "recvmmsg", "scenario": o.sc.Name, "streams": o.streams, "gomaxprocs": runtime.GOMAXPROCS(0),
		"rate_gbps": round(rate*8/1e9, 4), "achieved_gbps": round(snt.gbps(), 4),
		"payload_gbps": round(snt.gbps()*payloadFrac, 4),
		"packets_sent": snt.packets, "packets_received": got, "loss": round(loss, 6),
		"packets_per_s":          round(float64(snt.packets)/max(snt.seconds, 1e-9), 0),
		"received_packets_per_s": round(float64(got)/max(snt.seconds, 1e-9), 0),
		"cpu_seconds":            round(cpu, 3), "seconds": round(snt.seconds, 3),
		"cpu_s_per_gbyte": round(cpu/max(float64(got)*float64(o.sc.PacketPayload)/1e9, 1e-9), 4),
		"rcvbuf_granted":  granted, "sender": o.sender,
	}
	if o.prefill > 0 {
		var last int64
		for _, s := range sinks {
			last = max(last, s.last.Load())
		}
		d := time.Unix(0, last).Sub(t0).Seconds()
		line["kind"] = "recvmmsg_drain"
		line["drain_seconds"] = round(d, 4)
		line["drain_packets_per_s"] = round(float64(got)/d, 0)
		line["drain_payload_gbytes_per_s"] = round(float64(got)*float64(o.sc.PacketPayload)/d/1e9, 4)
	}
	return trialResult{line: line, loss: loss, achieved: snt.gbps()}, nil
}

// searchRate finds the highest send rate with zero loss: a first trial at
// the sender's full speed (if nothing is lost there the receiver is not
// the limit, and that rate is the answer), then bisection between the
// best lossless and the lowest lossy rate. It prints every trial, then a
// summary line with the loss curve (rate, loss) sorted by rate.
func searchRate(o udpOptions, kind string, trial func(udpOptions, float64) (trialResult, error)) error {
	type point struct {
		Rate     float64 `json:"rate_gbps"`
		Achieved float64 `json:"achieved_gbps"`
		Loss     float64 `json:"loss"`
	}
	var curve []point
	run := func(rateGbps float64) (trialResult, error) {
		tr, err := trial(o, rateGbps*1e9/8)
		if err != nil {
			return tr, err
		}
		tr.line["search"] = true
		emit(tr.line)
		curve = append(curve, point{round(rateGbps, 4), round(tr.achieved, 4), tr.loss})
		return tr, nil
	}
	first, err := run(0)
	if err != nil {
		return err
	}
	best, bestAchieved, senderBound := 0.0, 0.0, false
	lo, hi := 0.0, first.achieved
	if first.loss == 0 {
		best, bestAchieved, senderBound = first.achieved, first.achieved, true
	} else {
		for step := 1; step < o.steps; step++ {
			mid := (lo + hi) / 2
			tr, err := run(mid)
			if err != nil {
				return err
			}
			if tr.loss == 0 {
				lo, best, bestAchieved = mid, mid, tr.achieved
			} else {
				hi = mid
			}
		}
	}
	if best > 0 {
		for _, f := range o.curve {
			if _, err := run(best * f); err != nil {
				return err
			}
		}
	}
	sort.Slice(curve, func(i, j int) bool {
		ri, rj := curve[i].Rate, curve[j].Rate
		if ri == 0 {
			ri = curve[i].Achieved
		}
		if rj == 0 {
			rj = curve[j].Achieved
		}
		return ri < rj
	})
	payloadFrac := float64(o.sc.HeapPayload) / float64(o.sc.HeapPayload+o.sc.HeapPayload/o.sc.PacketPayload*(spead.HeaderSize+4*spead.PointerSize))
	emit(map[string]any{
		"kind": kind, "impl": map[string]string{"udp_search": "go", "recvmmsg_search": "recvmmsg", "veth_udp_search": "udp", "veth_xdp_search": "xdp"}[kind],
		"scenario": o.sc.Name, "streams": o.streams, "duration_s": o.duration.Seconds(), "steps": o.steps,
		"zero_loss_gbps": round(best, 4), "zero_loss_achieved_gbps": round(bestAchieved, 4),
		"zero_loss_payload_gbps":  round(bestAchieved*payloadFrac, 4),
		"zero_loss_packets_per_s": round(bestAchieved*1e9/8/float64(o.sc.PacketPayload+spead.HeaderSize+4*spead.PointerSize), 0),
		"sender_bound":            senderBound, "sender_max_gbps": round(first.achieved, 4),
		"curve": curve, "sender": o.sender,
	})
	return nil
}

func cmdUDP(args []string) error {
	o, err := udpFlags("udp", args)
	if err != nil {
		return err
	}
	if o.search {
		return searchRate(o, "udp_search", groupTrial)
	}
	tr, err := groupTrial(o, o.rate)
	if err != nil {
		return err
	}
	emit(tr.line)
	return nil
}

func cmdRecvmmsg(args []string) error {
	o, err := udpFlags("recvmmsg", args)
	if err != nil {
		return err
	}
	if o.search {
		return searchRate(o, "recvmmsg_search", bareTrial)
	}
	tr, err := bareTrial(o, o.rate)
	if err != nil {
		return err
	}
	emit(tr.line)
	return nil
}
