package transport

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The AF_XDP reader (Linux only; see xdp_linux.go) takes the stream's UDP
// packets off the NIC before the kernel's IP stack sees them: an XDP
// program steers the configured endpoints' datagrams on one RX queue into
// an AF_XDP socket, whose frames live in memory the reader mapped (the
// UMEM); everything else passes to the kernel stack untouched.

// DefaultXDPBufferSize is the UMEM size by default: 4096 frames of 4 KiB.
const DefaultXDPBufferSize = 16 << 20

// DefaultXDPFrameSize is the UMEM frame size by default (one page: any
// standard-MTU frame fits, and the kernel allows at most a page per frame
// in aligned mode).
const DefaultXDPFrameSize = 4096

// ErrXDPUnsupported is wrapped by the errors that mean this system cannot
// run an AF_XDP reader at all (another OS, a kernel without AF_XDP or BPF,
// or missing privileges), so callers and tests can tell "unavailable here"
// from a configuration mistake.
var ErrXDPUnsupported = errors.New("AF_XDP unavailable")

// XDPZeroCopy says how the AF_XDP socket binds.
type XDPZeroCopy int

const (
	// XDPZeroCopyAuto binds in zero-copy mode where the driver supports
	// it and in copy mode otherwise (the kernel's own fallback); the
	// reader reports which (XDPReader.ZeroCopy and a log line).
	XDPZeroCopyAuto XDPZeroCopy = iota
	// XDPZeroCopyOn requires zero-copy: NewXDPReader fails where the
	// driver cannot (veth, generic XDP).
	XDPZeroCopyOn
	// XDPZeroCopyOff forces copy mode.
	XDPZeroCopyOff
)

// XDPAttach says how the XDP program attaches to the interface.
type XDPAttach int

const (
	// XDPAttachAuto tries the driver's native XDP hook and falls back to
	// generic (SKB) mode when the driver has none.
	XDPAttachAuto XDPAttach = iota
	// XDPAttachNative requires the driver's native hook.
	XDPAttachNative
	// XDPAttachGeneric uses generic (SKB) mode: works on every interface,
	// after the kernel has built an skb, in copy mode only.
	XDPAttachGeneric
)

// XDPConfig configures an AF_XDP reader: one per (interface, RX queue).
// It mirrors spead2's UdpIbvConfig (endpoints, interface, buffer size,
// maximum packet size) plus the AF_XDP specifics.
type XDPConfig struct {
	// Endpoints are the IPv4 destination addresses and UDP ports to
	// receive; an unspecified address (0.0.0.0) matches any destination
	// address on that port. A multicast address is joined on Interface.
	Endpoints []netip.AddrPort
	// Interface is the network interface, by name ("eth0") or by one of
	// its IPv4 addresses (as spead2's interface_address).
	Interface string
	// Queue is the interface's RX queue to read. Only packets the NIC
	// steers to this queue (RSS, flow rules) reach this reader; use one
	// reader per queue (for example one group member each) to cover all.
	Queue int
	// BufferSize is the UMEM size in bytes (0 = DefaultXDPBufferSize); it
	// is rounded down to a power-of-two number of frames.
	BufferSize int
	// FrameSize is the UMEM frame size (0 = 4096; 2048 or 4096).
	FrameSize int
	// MaxSize is the largest UDP payload accepted (0 = DefaultMaxSize);
	// larger ones are dropped and counted (Oversize). A frame must also
	// fit a UMEM frame, or the kernel drops it (XDPStats.KernelRxDropped).
	MaxSize int
	// BatchSize is the most packets handed to the stream at once (0 = 64).
	BatchSize int
	// ZeroCopy selects zero-copy or copy mode (default: zero-copy where
	// the driver allows it).
	ZeroCopy XDPZeroCopy
	// Attach selects the XDP hook (default: native, else generic).
	Attach XDPAttach
	// BusyPoll, when positive, turns on busy polling for this many
	// microseconds per poll (SO_BUSY_POLL, SO_PREFER_BUSY_POLL): the
	// reader polls the driver from its own thread instead of waiting for
	// an interrupt, at the cost of a busy CPU.
	BusyPoll int
	// BusyPollBudget is the packets per busy poll (0 = the batch size).
	BusyPollBudget int
	// Affinity, when not empty, pins Run's OS thread to these CPUs.
	Affinity []int
}

// DefaultXDPConfig returns the defaults: no endpoints (add some), queue 0,
// a 16 MiB UMEM of 4 KiB frames, MaxSize 9200, batches of 64, zero-copy
// where possible, native XDP where possible, no busy polling.
func DefaultXDPConfig() XDPConfig {
	return XDPConfig{
		BufferSize: DefaultXDPBufferSize,
		FrameSize:  DefaultXDPFrameSize,
		MaxSize:    DefaultMaxSize,
		BatchSize:  DefaultBatchSize,
	}
}

// XDPStats are an AF_XDP reader's own counters and the kernel's counters
// of its socket (XDP_STATISTICS).
type XDPStats struct {
	Packets   uint64 // UDP payloads handed to the stream
	Oversize  uint64 // dropped: payload larger than MaxSize
	Malformed uint64 // dropped: not a well-formed IPv4/UDP frame

	KernelRxDropped       uint64 // frames the kernel dropped (too large for a frame, ...)
	KernelRxInvalidDescs  uint64 // bad descriptors (should stay 0)
	KernelRxRingFull      uint64 // dropped because the RX ring was full (reader too slow)
	KernelFillRingEmpty   uint64 // times the driver found no free frame (reader too slow)
	KernelStatsAvailable  bool   // false when the counters could not be read
	ZeroCopy, NativeXDP   bool   // the modes the reader got
	InterfaceIndex, Queue int
}

// ParseXDPInterface splits "IFACE[:QUEUE]" (the --xdp flag's syntax) into
// an interface and a queue (0 when not given).
func ParseXDPInterface(s string) (iface string, queue int, err error) {
	iface = s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		iface = s[:i]
		queue, err = strconv.Atoi(s[i+1:])
		if err != nil || queue < 0 {
			return "", 0, fmt.Errorf("%q: the queue after ':' must be a non-negative integer", s)
		}
	}
	if iface == "" {
		return "", 0, fmt.Errorf("%q: no interface name", s)
	}
	return iface, queue, nil
}
