// Command chunkgroup-recv receives SPEAD streams into a chunk stream ring
// group: one member stream per UDP port (or TCP listener), heaps placed by
// heap counter into chunks, with a live progress line and a summary.
//
// It pairs with chunkgroup-send: heap i of the synthetic stream goes to
// destination i % N, chunk_id = heap_cnt / heaps_per_chunk, slot
// heap_cnt % heaps_per_chunk.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/metrics"
	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/ring"
	"github.com/chunkgroup/chunkgroup/core/send"
	"github.com/chunkgroup/chunkgroup/core/transport"
	"golang.org/x/sys/unix"
)

type options struct {
	listen          []string
	tcp             bool
	scenario        string
	heapSize        int
	heapsPerChunk   int
	maxChunks       int
	streamMaxChunks int
	lossless        bool
	chunks          int
	bufferSize      int
	gro             bool
	duration        time.Duration
	verify          bool
	quiet           bool
	metrics         string
	xdp             []xdpQueue // one per endpoint when --xdp is given
	xdpZeroCopy     transport.XDPZeroCopy
	xdpAttach       transport.XDPAttach
	busyPoll        int
}

// xdpQueue is the interface queue of one member's AF_XDP reader.
type xdpQueue struct {
	iface string
	queue int
}

// parseFlagsOutput is where the flag package writes: stderr for errors,
// stdout when help was asked for.
var parseFlagsOutput io.Writer = os.Stderr

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("chunkgroup-recv", flag.ContinueOnError)
	fs.SetOutput(parseFlagsOutput)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: chunkgroup-recv [flags]

Receives SPEAD heaps on N endpoints into one chunk stream ring group (one
member stream per endpoint) and reports progress on one terminal line. Heap
cnt is placed in chunk cnt / heaps-per-chunk at slot cnt %% heaps-per-chunk;
heaps of the wrong length are rejected. Ends when every stream has received
a stop heap (chunkgroup-send sends one), after --duration, or on Ctrl-C.

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), `
Example (two terminals):
  chunkgroup-recv --listen 127.0.0.1:7148,127.0.0.1:7149 --scenario large
  chunkgroup-send --dest 127.0.0.1:7148,127.0.0.1:7149 --scenario large --heaps 10000 --rate 2Gb/s
`)
	}
	listen := fs.String("listen", "127.0.0.1:7148", "comma-separated host:port endpoints, one member stream each")
	fs.BoolVar(&o.tcp, "tcp", false, "listen for one TCP connection per endpoint instead of UDP")
	fs.StringVar(&o.scenario, "scenario", "large", "heap shape: large (65536-byte heaps, 64 per chunk) or small (1024-byte heaps, 1024 per chunk)")
	fs.IntVar(&o.heapSize, "heap-size", 0, "heap payload bytes (overrides the scenario)")
	fs.IntVar(&o.heapsPerChunk, "heaps-per-chunk", 0, "heaps per chunk (overrides the scenario)")
	fs.IntVar(&o.maxChunks, "max-chunks", 4, "group window: chunks being filled at once across all streams")
	fs.IntVar(&o.streamMaxChunks, "stream-max-chunks", 0, "each stream's window (0 = the group's)")
	fs.BoolVar(&o.lossless, "lossless", false, "LOSSLESS eviction (wait for every stream) instead of LOSSY")
	fs.IntVar(&o.chunks, "chunks", 16, "chunks in circulation between the free and data rings")
	fs.IntVar(&o.bufferSize, "buffer-size", 0, "socket receive buffer bytes (0 = 8 MiB, forced past rmem_max when privileged)")
	fs.BoolVar(&o.gro, "gro", false, "UDP generic receive offload (where the kernel has it)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0 = when every stream has stopped)")
	fs.BoolVar(&o.verify, "verify", false, "check every received payload byte against chunkgroup-send's pattern")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line, summary only")
	xdp := fs.String("xdp", "", "receive with AF_XDP readers instead of UDP sockets: IFACE[:QUEUE] (member i on queue QUEUE+i) or one IFACE[:QUEUE] per endpoint, comma-separated (root, or CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF)")
	xdpMode := fs.String("xdp-mode", "auto", "AF_XDP socket mode: auto (zero-copy where the driver allows it), zero-copy or copy")
	xdpAttach := fs.String("xdp-attach", "auto", "XDP program hook: auto (native, else generic), native or generic")
	fs.IntVar(&o.busyPoll, "busy-poll", 0, "AF_XDP busy polling in microseconds per poll (0 = off)")
	fs.StringVar(&o.metrics, "metrics", "", "serve every stream's statistics in the Prometheus text format at http://host:port/metrics (e.g. 127.0.0.1:9100)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.listen = strings.Split(*listen, ",")
	for _, l := range o.listen {
		if _, err := netip.ParseAddrPort(strings.TrimSpace(l)); err != nil {
			return o, fmt.Errorf("--listen: %q is not host:port (an IP address and a port)", l)
		}
	}
	if err := parseXDP(&o, *xdp, *xdpMode, *xdpAttach); err != nil {
		return o, err
	}
	if o.metrics != "" {
		if _, port, err := net.SplitHostPort(o.metrics); err != nil || port == "" {
			return o, fmt.Errorf("--metrics: %q is not host:port", o.metrics)
		}
	}
	if o.duration < 0 {
		return o, fmt.Errorf("--duration must not be negative, got %v", o.duration)
	}
	if o.maxChunks <= 0 || o.streamMaxChunks < 0 || o.streamMaxChunks > o.maxChunks {
		return o, fmt.Errorf("--max-chunks must be positive and --stream-max-chunks between 0 and it, got %d and %d",
			o.maxChunks, o.streamMaxChunks)
	}
	if o.bufferSize < 0 || o.heapSize < 0 || o.heapsPerChunk < 0 {
		return o, errors.New("--buffer-size, --heap-size and --heaps-per-chunk must not be negative")
	}
	sc, ok := send.Scenarios[o.scenario]
	if !ok {
		return o, fmt.Errorf("unknown scenario %q (large or small)", o.scenario)
	}
	if o.heapSize == 0 {
		o.heapSize = sc.HeapPayload
	}
	if o.heapsPerChunk == 0 {
		o.heapsPerChunk = sc.HeapsPerChunk
	}
	if o.streamMaxChunks == 0 {
		o.streamMaxChunks = o.maxChunks
	}
	if o.heapSize <= 0 || o.heapsPerChunk <= 0 || o.chunks <= 0 {
		return o, errors.New("heap-size, heaps-per-chunk and chunks must be positive")
	}
	return o, nil
}

// parseXDP fills the AF_XDP options: one queue per endpoint.
func parseXDP(o *options, xdp, mode, attach string) error {
	switch mode {
	case "auto":
		o.xdpZeroCopy = transport.XDPZeroCopyAuto
	case "zero-copy":
		o.xdpZeroCopy = transport.XDPZeroCopyOn
	case "copy":
		o.xdpZeroCopy = transport.XDPZeroCopyOff
	default:
		return fmt.Errorf("--xdp-mode: %q is not auto, zero-copy or copy", mode)
	}
	switch attach {
	case "auto":
		o.xdpAttach = transport.XDPAttachAuto
	case "native":
		o.xdpAttach = transport.XDPAttachNative
	case "generic":
		o.xdpAttach = transport.XDPAttachGeneric
	default:
		return fmt.Errorf("--xdp-attach: %q is not auto, native or generic", attach)
	}
	if o.busyPoll < 0 {
		return fmt.Errorf("--busy-poll must not be negative, got %d", o.busyPoll)
	}
	if xdp == "" {
		return nil
	}
	if o.tcp {
		return errors.New("--xdp receives UDP: it excludes --tcp")
	}
	parts := strings.Split(xdp, ",")
	if len(parts) != 1 && len(parts) != len(o.listen) {
		return fmt.Errorf("--xdp: %d interface queues for %d endpoints (give one, or one per endpoint)", len(parts), len(o.listen))
	}
	for i := range o.listen {
		p := parts[0]
		if len(parts) > 1 {
			p = parts[i]
		}
		iface, q, err := transport.ParseXDPInterface(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("--xdp: %v", err)
		}
		if len(parts) == 1 {
			q += i
		}
		o.xdp = append(o.xdp, xdpQueue{iface, q})
	}
	return nil
}

// tally is what the consumer has seen, read by the progress line.
type tally struct {
	chunks, heaps, slots, bytes, badBytes atomic.Uint64
	firstNano                             atomic.Int64 // when the first chunk came (UnixNano)
}

func main() {
	for _, a := range os.Args[1:] { // --help goes to standard output and succeeds
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			parseFlagsOutput = os.Stdout
			break
		}
		if a == "--" {
			break
		}
	}
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		// Exit 2 for usage errors (found before anything starts), 1 below
		// for failures while running.
		fmt.Fprintf(os.Stderr, "chunkgroup-recv: %v (see --help)\n", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "chunkgroup-recv:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	data, err := ring.New(o.chunks)
	if err != nil {
		return err
	}
	free, err := ring.New(o.chunks)
	if err != nil {
		return err
	}
	gcfg := recv.DefaultGroupConfig()
	gcfg.MaxChunks = o.maxChunks
	if o.lossless {
		gcfg.EvictionMode = recv.Lossless
	}
	g, err := recv.NewRingGroup(gcfg, data, free)
	if err != nil {
		return err
	}
	placer := recv.CounterGrid(int64(o.heapsPerChunk), int64(o.heapSize))
	var streams []*recv.Stream
	for i := range o.listen {
		scfg := recv.DefaultStreamConfig()
		scfg.StreamID = uintptr(i)
		ccfg := recv.DefaultChunkStreamConfig()
		ccfg.Items = recv.CounterItems()
		ccfg.MaxChunks = o.streamMaxChunks
		ccfg.Place = placer
		s, err := g.EmplaceBack(scfg, ccfg)
		if err != nil {
			return err
		}
		streams = append(streams, s)
	}
	for i := 0; i < o.chunks; i++ {
		c := chunk.New(make([]byte, o.heapsPerChunk), make([]byte, o.heapSize*o.heapsPerChunk), nil)
		if err := g.AddFreeChunk(c); err != nil {
			return err
		}
	}
	if len(o.xdp) == 0 && !o.tcp {
		// UDP readers sleep in ppoll holding their processor: run the
		// processor count the transport suggests for this many.
		transport.ApplyProcsForReaders(len(o.listen))
	}
	for i, ep := range o.listen {
		ap, err := netip.ParseAddrPort(strings.TrimSpace(ep))
		if err != nil {
			g.Stop()
			return fmt.Errorf("endpoint %q: %w", ep, err)
		}
		var r recv.Reader
		if len(o.xdp) > 0 {
			cfg := transport.DefaultXDPConfig()
			cfg.Endpoints = []netip.AddrPort{ap}
			cfg.Interface, cfg.Queue = o.xdp[i].iface, o.xdp[i].queue
			cfg.ZeroCopy, cfg.Attach, cfg.BusyPoll = o.xdpZeroCopy, o.xdpAttach, o.busyPoll
			if o.bufferSize > 0 {
				cfg.BufferSize = o.bufferSize
			}
			var xr *transport.XDPReader
			if xr, err = transport.NewXDPReader(cfg); err == nil {
				r = xr
				mode := "copy"
				if xr.ZeroCopy() {
					mode = "zero-copy"
				}
				fmt.Fprintf(os.Stderr, "chunkgroup-recv: endpoint %s: AF_XDP on %s queue %d, %s mode, native XDP %v\n",
					ep, cfg.Interface, cfg.Queue, mode, xr.NativeXDP())
			}
		} else if o.tcp {
			cfg := transport.DefaultTCPConfig()
			cfg.BindHost, cfg.Port, cfg.BufferSize = ap.Addr().String(), int(ap.Port()), o.bufferSize
			r, err = transport.NewTCPReader(cfg)
		} else {
			cfg := transport.DefaultUDPConfig()
			cfg.BindHost, cfg.Port, cfg.GRO = ap.Addr().String(), int(ap.Port()), o.gro
			if o.bufferSize > 0 {
				cfg.BufferSize = o.bufferSize
			}
			if ap.Addr().IsMulticast() {
				cfg.MulticastGroup, cfg.BindHost = ap.Addr().String(), ""
			}
			r, err = transport.NewUDPReader(cfg)
		}
		if err == nil {
			err = streams[i].AddReader(r)
		}
		if err != nil {
			g.Stop()
			return fmt.Errorf("endpoint %s: %w", ep, err)
		}
	}

	if o.metrics != "" {
		ln, err := net.Listen("tcp", o.metrics)
		if err != nil {
			g.Stop()
			return fmt.Errorf("--metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics.Handler(func() []*recv.Stream { return streams }))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		fmt.Fprintf(os.Stderr, "chunkgroup-recv: metrics at http://%s/metrics\n", ln.Addr())
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if o.duration > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, o.duration)
		defer c2()
	}
	var t tally
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for {
			c, err := data.Pop()
			if err != nil {
				return // stopped: every stream has finished, or Stop
			}
			account(&t, c, o)
			g.AddFreeChunk(c)
		}
	}()
	start := time.Now()
	pl := newProgressLine(os.Stderr, start)
	tick := time.NewTicker(pl.every)
	defer tick.Stop()
wait:
	for {
		select {
		case <-consumed:
			break wait
		case <-ctx.Done():
			break wait
		case now := <-tick.C:
			if !o.quiet {
				pl.show(now, &t, streams, len(o.listen), false)
			}
		}
	}
	g.Stop()
	<-consumed
	elapsed := time.Since(start)
	if !o.quiet {
		pl.show(time.Now(), &t, streams, len(o.listen), true)
	}
	summary(os.Stdout, &t, streams, elapsed, o)
	if t.badBytes.Load() > 0 {
		return fmt.Errorf("%d payload bytes differ from the sender's pattern", t.badBytes.Load())
	}
	return nil
}

// account adds a readied chunk to the tally (and checks bytes with --verify).
func account(t *tally, c *chunk.Chunk, o options) {
	t.firstNano.CompareAndSwap(0, time.Now().UnixNano())
	t.chunks.Add(1)
	t.slots.Add(uint64(c.PresentSize))
	present := c.Present()
	data := c.Data()
	var n uint64
	for i, p := range present {
		if p == 0 {
			continue
		}
		n++
		if o.verify {
			cnt := uint64(c.ChunkID)*uint64(o.heapsPerChunk) + uint64(i)
			heap := data[i*o.heapSize : (i+1)*o.heapSize]
			for off, b := range heap {
				if b != send.PatternByte(cnt, off) {
					t.badBytes.Add(1)
				}
			}
		}
	}
	t.heaps.Add(n)
	t.bytes.Add(n * uint64(o.heapSize))
}

// progressLine is the live progress: in a terminal one line rewritten twice
// a second; to a pipe or a file a plain line every 5 s (no carriage
// returns in logs). Rates are of payload, labelled: over the last interval
// and on average since the first chunk.
type progressLine struct {
	w         *os.File
	tty       bool
	every     time.Duration
	start     time.Time
	first     time.Time // when the first chunk came
	last      time.Time
	lastBytes uint64
}

func newProgressLine(w *os.File, start time.Time) *progressLine {
	_, err := unix.IoctlGetTermios(int(w.Fd()), unix.TCGETS)
	p := &progressLine{w: w, tty: err == nil, every: 5 * time.Second, start: start, last: start}
	if p.tty {
		p.every = 500 * time.Millisecond
	}
	return p
}

func (p *progressLine) show(now time.Time, t *tally, streams []*recv.Stream, endpoints int, final bool) {
	line := p.format(now, t, streams, endpoints)
	switch {
	case p.tty && final:
		fmt.Fprintf(p.w, "\r%s\033[K\n", line)
	case p.tty:
		fmt.Fprintf(p.w, "\r%s\033[K", line)
	default:
		fmt.Fprintln(p.w, line)
	}
}

func (p *progressLine) format(now time.Time, t *tally, streams []*recv.Stream, endpoints int) string {
	var packets, tooOld, rejected uint64
	for _, s := range streams {
		st := s.Stats()
		v, _ := st.Get("packets")
		packets += v
		v, _ = st.Get("too_old_heaps")
		tooOld += v
		v, _ = st.Get("rejected_heaps")
		rejected += v
	}
	elapsed := now.Sub(p.start).Seconds()
	chunks, heaps, slots, bytes := t.chunks.Load(), t.heaps.Load(), t.slots.Load(), t.bytes.Load()
	if chunks == 0 {
		return fmt.Sprintf("%7.1fs  waiting for data on %d endpoint(s)  packets %d", elapsed, endpoints, packets)
	}
	if p.first.IsZero() {
		p.first = time.Unix(0, t.firstNano.Load())
		p.last = p.first // the first interval starts with the data
	}
	interval := now.Sub(p.last).Seconds()
	now0 := 8 * float64(bytes-p.lastBytes) / 1e9 / max(interval, 1e-9)
	avg := 8 * float64(bytes) / 1e9 / max(now.Sub(p.first).Seconds(), 1e-9)
	p.last, p.lastBytes = now, bytes
	return fmt.Sprintf("%7.1fs  chunks %d  heaps %d/%d (%.2f%%)  payload %.3f Gb/s now, %.3f Gb/s average  too_old %d  rejected %d",
		elapsed, chunks, heaps, slots, 100*float64(heaps)/float64(slots), now0, avg, tooOld, rejected)
}

func summary(w *os.File, t *tally, streams []*recv.Stream, elapsed time.Duration, o options) {
	fmt.Fprintf(w, "received %d chunks, %d of %d heap slots filled, %d payload bytes in %v\n",
		t.chunks.Load(), t.heaps.Load(), t.slots.Load(), t.bytes.Load(), elapsed.Round(time.Millisecond))
	if o.verify {
		fmt.Fprintf(w, "verify: %d payload bytes differ from the pattern\n", t.badBytes.Load())
	}
	names := []string{"packets", "heaps", "incomplete_heaps_evicted", "incomplete_heaps_flushed", "too_old_heaps", "rejected_heaps", "bad_placement_heaps", "malformed_packets", "worker_blocked"}
	fmt.Fprintf(w, "%-8s", "stream")
	for _, n := range names {
		fmt.Fprintf(w, " %s", n)
	}
	fmt.Fprintln(w)
	for i, s := range streams {
		st := s.Stats()
		fmt.Fprintf(w, "%-8d", i)
		for _, n := range names {
			v, _ := st.Get(n)
			fmt.Fprintf(w, " %*d", len(n), v)
		}
		fmt.Fprintln(w)
		if err := s.Err(); err != nil {
			fmt.Fprintf(w, "stream %d reader error: %v\n", i, err)
		}
	}
}
