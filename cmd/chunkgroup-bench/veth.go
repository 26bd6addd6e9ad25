package main

// The veth subcommand: the AF_XDP reader against the UDP reader over the
// same veth pair in the same run. It makes two network namespaces and a
// veth pair (addresses from 198.18.0.0/15), runs chunkgroup-send in the
// first through ip netns exec, and receives in this process on the second
// end, entering its namespace on a locked thread to create the readers
// (sockets stay in the namespace they were made in). Root only.
//
// What the CPU figures cover: this process (the receiver's reader and
// stream goroutines). On veth the kernel's receive work (the IP and UDP
// stack for the UDP reader; the XDP program and the copy into the UMEM for
// AF_XDP) runs in softirq context on the sending CPU, so it is charged to
// the sender, not here.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/transport"
)

const (
	vethAddrA = "198.18.0.1"
	vethAddrB = "198.18.0.2"
	vethPort  = 7148
)

type vethNet struct{ nsA, nsB, ifA, ifB string }

func ipRun(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newVethNet makes the namespaces and the link; close deletes them.
func newVethNet() (*vethNet, error) {
	pid := os.Getpid()
	v := &vethNet{nsA: fmt.Sprintf("cgbench-%d-a", pid), nsB: fmt.Sprintf("cgbench-%d-b", pid), ifA: "cgbva", ifB: "cgbvb"}
	const macA, macB = "02:00:c6:12:01:01", "02:00:c6:12:01:02"
	steps := [][]string{
		{"netns", "add", v.nsA}, {"netns", "add", v.nsB},
		{"link", "add", v.ifA, "address", macA, "netns", v.nsA, "type", "veth", "peer", "name", v.ifB, "address", macB, "netns", v.nsB},
		{"-n", v.nsA, "addr", "add", vethAddrA + "/30", "dev", v.ifA},
		{"-n", v.nsB, "addr", "add", vethAddrB + "/30", "dev", v.ifB},
		{"-n", v.nsA, "link", "set", v.ifA, "up"}, {"-n", v.nsB, "link", "set", v.ifB, "up"},
		{"-n", v.nsA, "neigh", "replace", vethAddrB, "lladdr", macB, "dev", v.ifA, "nud", "permanent"},
		{"-n", v.nsB, "neigh", "replace", vethAddrA, "lladdr", macA, "dev", v.ifB, "nud", "permanent"},
	}
	for _, s := range steps {
		if err := ipRun(s...); err != nil {
			v.close()
			return nil, err
		}
	}
	return v, nil
}

// drops returns the veth pair's dropped counters: the sender end's TX
// drops (veth counts a full receive ring there) and the receiver end's RX
// drops.
func (v *vethNet) drops() (txA, rxB uint64) {
	get := func(ns, dev, dir string) uint64 {
		out, err := exec.Command("ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev).Output()
		if err != nil {
			return 0
		}
		var links []struct {
			Stats64 map[string]map[string]uint64 `json:"stats64"`
		}
		if json.Unmarshal(out, &links) != nil || len(links) == 0 {
			return 0
		}
		return links[0].Stats64[dir]["dropped"]
	}
	return get(v.nsA, v.ifA, "tx"), get(v.nsB, v.ifB, "rx")
}

func (v *vethNet) close() {
	_ = ipRun("netns", "del", v.nsA)
	_ = ipRun("netns", "del", v.nsB)
}

// inNS runs fn on a thread that entered namespace ns; the thread stays
// locked (and so dies with the goroutine), never rejoining the pool.
func inNS(ns string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

func cmdVeth(args []string) error {
	// Our own flags first; the rest are udpFlags'.
	fs := flag.NewFlagSet("veth", flag.ContinueOnError)
	readers := fs.String("readers", "udp,xdp", "readers to measure, in this order: udp, xdp")
	pktPayload := fs.Int("packet-payload", 0, "payload bytes per packet (default: large 1432, i.e. 1472-byte datagrams for a 1500-byte MTU; small 1024)")
	xdpMode := fs.String("xdp-mode", "auto", "AF_XDP socket mode: auto, zero-copy or copy")
	xdpAttach := fs.String("xdp-attach", "auto", "XDP hook: auto, native or generic")
	busyPoll := fs.Int("busy-poll", 0, "AF_XDP busy polling, microseconds per poll")
	xdpBuffer := fs.Int("xdp-buffer", 0, "AF_XDP UMEM bytes (0 = the reader's default; size it for --prefill)")
	xdpFrame := fs.Int("xdp-frame", 0, "AF_XDP frame size, 2048 or 4096 (0 = 4096)")
	var rest []string
	for i := 0; i < len(args); i++ { // split our flags from udpFlags'
		name := strings.TrimLeft(strings.SplitN(args[i], "=", 2)[0], "-")
		if fs.Lookup(name) != nil {
			rest0 := []string{args[i]}
			if !strings.Contains(args[i], "=") && i+1 < len(args) {
				rest0 = append(rest0, args[i+1])
				i++
			}
			if err := fs.Parse(rest0); err != nil {
				return err
			}
			continue
		}
		rest = append(rest, args[i])
	}
	o, err := udpFlags("veth", rest)
	if err != nil {
		return err
	}
	if o.streams != 1 {
		return errors.New("veth: --streams 1 only (one veth queue, one reader)")
	}
	if o.sender != "child" {
		return errors.New("veth: needs the child sender (chunkgroup-send) to run in the other namespace")
	}
	if *pktPayload == 0 {
		*pktPayload = 1432
		if o.sc.Name == "small" {
			*pktPayload = 1024
		}
	}
	o.sc.PacketPayload = *pktPayload
	o.senderExtra = []string{"--packet-payload", fmt.Sprint(*pktPayload)}
	xcfg := transport.DefaultXDPConfig()
	switch *xdpMode {
	case "auto":
	case "zero-copy":
		xcfg.ZeroCopy = transport.XDPZeroCopyOn
	case "copy":
		xcfg.ZeroCopy = transport.XDPZeroCopyOff
	default:
		return fmt.Errorf("--xdp-mode %q", *xdpMode)
	}
	switch *xdpAttach {
	case "auto":
	case "native":
		xcfg.Attach = transport.XDPAttachNative
	case "generic":
		xcfg.Attach = transport.XDPAttachGeneric
	default:
		return fmt.Errorf("--xdp-attach %q", *xdpAttach)
	}
	xcfg.BusyPoll = *busyPoll
	if *xdpBuffer > 0 {
		xcfg.BufferSize = *xdpBuffer
	}
	if *xdpFrame > 0 {
		xcfg.FrameSize = *xdpFrame
	}
	if os.Geteuid() != 0 {
		return errors.New("veth: needs root (network namespaces, veth, AF_XDP)")
	}
	v, err := newVethNet()
	if err != nil {
		return err
	}
	defer v.close()
	o.senderWrap = []string{"ip", "netns", "exec", v.nsA}
	dest := fmt.Sprintf("%s:%d", vethAddrB, vethPort)
	for _, kind := range strings.Split(*readers, ",") {
		kind = strings.TrimSpace(kind)
		var mode map[string]any
		var last *transport.XDPReader
		switch kind {
		case "udp":
			o.openReaders = func(o udpOptions) ([]recv.Reader, []string, int, error) {
				cfg := transport.DefaultUDPConfig()
				cfg.BindHost, cfg.Port, cfg.BufferSize = vethAddrB, vethPort, o.bufSize
				var r *transport.UDPReader
				err := inNS(v.nsB, func() (err error) { r, err = transport.NewUDPReader(cfg); return err })
				if err != nil {
					return nil, nil, 0, err
				}
				return []recv.Reader{r}, []string{dest}, r.GrantedBufferSize(), nil
			}
		case "xdp":
			o.openReaders = func(o udpOptions) ([]recv.Reader, []string, int, error) {
				cfg := xcfg
				cfg.Interface = v.ifB
				cfg.Endpoints = []netip.AddrPort{netip.MustParseAddrPort(dest)}
				var r *transport.XDPReader
				err := inNS(v.nsB, func() (err error) { r, err = transport.NewXDPReader(cfg); return err })
				if err != nil {
					return nil, nil, 0, err
				}
				mode = map[string]any{"zero_copy": r.ZeroCopy(), "native_xdp": r.NativeXDP()}
				last = r
				return []recv.Reader{r}, []string{dest}, cfg.BufferSize, nil
			}
		default:
			return fmt.Errorf("--readers: unknown reader %q (udp or xdp)", kind)
		}
		trial := func(o udpOptions, rate float64) (trialResult, error) {
			tx0, rx0 := v.drops()
			tr, err := groupTrial(o, rate)
			if err == nil {
				tx1, rx1 := v.drops()
				tr.line["veth_tx_dropped"], tr.line["veth_rx_dropped"] = tx1-tx0, rx1-rx0
				tr.line["kind"], tr.line["impl"], tr.line["reader"] = "veth_trial", kind, kind
				tr.line["packet_payload"] = o.sc.PacketPayload
				for k, val := range mode {
					tr.line[k] = val
				}
				if last != nil {
					st := last.Stats()
					tr.line["xdp_rx_ring_full"], tr.line["xdp_fill_ring_empty"] = st.KernelRxRingFull, st.KernelFillRingEmpty
					tr.line["xdp_rx_dropped"] = st.KernelRxDropped
				}
			}
			return tr, err
		}
		if o.search {
			if err := searchRate(o, "veth_"+kind+"_search", trial); err != nil {
				return err
			}
			continue
		}
		tr, err := trial(o, o.rate)
		if err != nil {
			return err
		}
		emit(tr.line)
	}
	return nil
}
