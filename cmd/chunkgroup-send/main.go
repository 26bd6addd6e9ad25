// Command chunkgroup-send sends synthetic SPEAD heaps shaped like the
// benchmark scenarios to one or more endpoints (UDP, TCP) or into a pcap
// capture, at a given rate, for a count of heaps or a duration. The work is
// done by core/send; this file only turns flags into its configuration.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
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

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("chunkgroup-send", flag.ContinueOnError)
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
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "chunkgroup-send: "+format+"\n", a...)
		return 1
	}
	if fs.NArg() != 0 {
		return fail("unexpected arguments %q (see --help)", fs.Args())
	}
	if *dest == "" {
		return fail("--dest is required (see --help)")
	}
	sc, ok := send.Scenarios[*scenario]
	if !ok {
		return fail("unknown --scenario %q (want large or small)", *scenario)
	}
	if *heapSize > 0 {
		sc.HeapPayload = *heapSize
	}
	if *pktPay > 0 {
		sc.PacketPayload = *pktPay
	}
	rate, err := send.ParseRate(*rateStr)
	if err != nil {
		return fail("--rate: %v", err)
	}
	enc, err := spead.NewEncoder(sc.EncoderConfig())
	if err != nil {
		return fail("%v", err)
	}
	syn, err := send.NewSynth(sc.SynthConfig())
	if err != nil {
		return fail("%v", err)
	}
	dests := strings.Split(*dest, ",")
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
	fmt.Fprintf(os.Stderr, "chunkgroup-send: %s to %d destination(s) (%s): heap %d B, packet payload %d B, rate %s, %s\n",
		mode, len(dests), *dest, sc.HeapPayload, sc.PacketPayload, rateDesc, limit)

	res, err := send.Run(ctx, t, syn, send.RunConfig{Heaps: *heaps, Duration: *duration, FirstCnt: *first, Stop: *stop})
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	fmt.Println(res)
	if err != nil {
		return fail("%v", err)
	}
	return 0
}
