// Command chunkgroup-send sends synthetic SPEAD heaps shaped like the
// benchmark scenarios to one or more endpoints (UDP, TCP) or into a pcap
// capture, at a given rate, for a count of heaps or a duration. The work is
// done by core/send; this file only turns flags into its configuration.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chunkgroup/chunkgroup/core/send"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

const usageHead = `Usage: chunkgroup-send --dest HOST:PORT[,HOST:PORT...] [flags]

Sends synthetic SPEAD heaps (SPEAD-64-48, item pointers repeated in every
packet, items HEAP_CNT and HEAP_LENGTH) shaped like the benchmark scenarios.
Heap i carries heap counter i and goes to destination i %% N, so a group of N
streams listening on the N destinations gets heap i in stream i %% N. Byte k
of heap i's payload is send.PatternByte(i, k), so receivers can check it.
At the end a stream stop heap goes to every destination (unless --stop=false),
also when interrupted with Ctrl-C. A summary is printed on exit.

Flags:
`

// maxUDPPayload is the largest UDP datagram payload over IPv4.
const maxUDPPayload = 65507

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes: 0 done, 1 a failure while running (socket, send), 2 a usage
// error (bad flag or value, found before anything is sent).
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chunkgroup-send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		dest     = fs.String("dest", "", "comma-separated `host:port` destinations, unicast or multicast; heap i goes to destination i % N (required)")
		scenario = fs.String("scenario", "large", "heap shape: `large` (65536 B heaps in 8192 B packets, 64 heaps per chunk) or small (1024 B heaps in single 1024 B packets, 1024 heaps per chunk)")
		heapSize = fs.Int("heap-size", 0, "heap payload `bytes`, overriding the scenario's")
		pktPay   = fs.Int("packet-payload", 0, "payload `bytes` per packet, overriding the scenario's (the SPEAD header comes on top)")
		rateStr  = fs.String("rate", "0", "send `rate` counted as SPEAD bytes (header + payload): e.g. 2Gb/s, 500MB/s, 10Gbps, or plain bytes per second; 0 = as fast as possible")
		heaps    = fs.Uint64("heaps", 0, "number of heaps to send; 0 = run for --duration")
		duration = fs.Duration("duration", 5*time.Second, "how long to send when --heaps is 0")
		first    = fs.Uint64("first-cnt", 0, "heap counter of the first heap")
		tcp      = fs.Bool("tcp", false, "send over TCP, one connection per destination, instead of UDP")
		pcapFile = fs.String("pcap", "", "write the UDP datagrams to this pcap `file` instead of sending them")
		stop     = fs.Bool("stop", true, "send a stream stop heap to each destination at the end")
		gso      = fs.Bool("gso", false, "UDP: use generic segmentation offload (UDP_SEGMENT) where the kernel allows, else fall back silently")
		ttl      = fs.Int("ttl", 0, "UDP: IP TTL / hop limit; 0 = kernel default (1 for multicast)")
		iface    = fs.String("interface", "", "UDP multicast: outgoing interface, by IP `address` or name")
		batch    = fs.Int("batch", send.DefaultBatchSize, "UDP: packets per destination per sendmmsg call")
		sndbuf   = fs.Int("buffer", 0, "UDP: socket send buffer `bytes` (SO_SNDBUF); 0 = kernel default")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	for _, a := range args { // --help goes to standard output and succeeds
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		if a == "--" {
			break
		}
	}
	if err := fs.Parse(args); err != nil {
		return 2 // the flag package said why, on stderr
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "chunkgroup-send: "+format+" (see --help)\n", a...)
		return 2
	}
	fail := func(format string, a ...any) int {
		msg := strings.TrimPrefix(fmt.Sprintf(format, a...), "send: ")
		fmt.Fprintf(stderr, "chunkgroup-send: %s\n", msg)
		return 1
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fs.NArg() != 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	if *dest == "" {
		return usage("--dest is required")
	}
	sc, ok := send.Scenarios[*scenario]
	if !ok {
		return usage("unknown --scenario %q (want large or small)", *scenario)
	}
	if set["heap-size"] {
		if *heapSize <= 0 {
			return usage("--heap-size must be positive, got %d", *heapSize)
		}
		sc.HeapPayload = *heapSize
	}
	if set["packet-payload"] {
		if *pktPay <= 0 {
			return usage("--packet-payload must be positive, got %d", *pktPay)
		}
		sc.PacketPayload = *pktPay
	}
	if *duration < 0 {
		return usage("--duration must not be negative, got %v", *duration)
	}
	if *batch <= 0 {
		return usage("--batch must be positive, got %d", *batch)
	}
	if *sndbuf < 0 || *ttl < 0 || *ttl > 255 {
		return usage("--buffer must not be negative and --ttl must be 0-255")
	}
	rate, err := send.ParseRate(*rateStr)
	if err != nil {
		return usage("--rate: %s", strings.TrimPrefix(err.Error(), "send: "))
	}
	enc, err := spead.NewEncoder(sc.EncoderConfig())
	if err != nil {
		return usage("%s", strings.TrimPrefix(err.Error(), "spead: "))
	}
	if !*tcp {
		// A packet is the SPEAD header and item pointers plus the payload;
		// over UDP each must fit one datagram.
		h := &spead.Heap{Cnt: 1, Payload: make([]byte, min(sc.HeapPayload, sc.PacketPayload))}
		largest := 0
		if err := enc.Packets(h, func(p []byte) error { largest = max(largest, len(p)); return nil }); err == nil &&
			largest > maxUDPPayload {
			return usage("--packet-payload %d makes %d-byte packets, more than the largest UDP datagram (%d bytes)",
				sc.PacketPayload, largest, maxUDPPayload)
		}
	}
	syn, err := send.NewSynth(sc.SynthConfig())
	if err != nil {
		return usage("%s", strings.TrimPrefix(err.Error(), "send: "))
	}
	dests := strings.Split(*dest, ",")
	for _, d := range dests {
		_, port, err := net.SplitHostPort(d)
		if p, perr := strconv.Atoi(port); err != nil || perr != nil || p <= 0 || p > 65535 {
			return usage("--dest: %q is not host:port", d)
		}
	}
	t, err := send.OpenTarget(send.TargetConfig{
		Destinations: dests,
		TCP:          *tcp,
		PcapFile:     *pcapFile,
		UDP: send.UDPConfig{InterfaceAddress: *iface, TTL: *ttl, Rate: rate,
			BatchSize: *batch, GSO: *gso, BufferSize: *sndbuf},
	}, enc)
	if err != nil {
		return fail("%v", err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	mode := "udp"
	switch {
	case *pcapFile != "":
		mode = "pcap " + *pcapFile
	case *tcp:
		mode = "tcp"
	}
	limit := fmt.Sprintf("%d heaps", *heaps)
	if *heaps == 0 {
		limit = duration.String()
	}
	rateDesc := "unlimited"
	if rate > 0 {
		rateDesc = send.FormatRate(rate)
	}
	fmt.Fprintf(stderr, "chunkgroup-send: %s to %d destination(s) (%s): heap %d B, packet payload %d B, rate %s, %s\n",
		mode, len(dests), *dest, sc.HeapPayload, sc.PacketPayload, rateDesc, limit)

	res, err := send.Run(ctx, t, syn, send.RunConfig{Heaps: *heaps, Duration: *duration, FirstCnt: *first, Stop: *stop})
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	fmt.Fprintln(stdout, res)
	if err != nil {
		return fail("%v", err)
	}
	if rate > 0 && res.Elapsed > 100*time.Millisecond && res.Rate() < 0.95*rate {
		fmt.Fprintf(stderr, "chunkgroup-send: warning: reached %s, short of the --rate %s asked for\n",
			send.FormatRate(res.Rate()), send.FormatRate(rate))
	}
	return 0
}
