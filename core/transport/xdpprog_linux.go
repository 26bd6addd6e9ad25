package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// One XDP program per interface serves every AF_XDP reader of this process
// on that interface: an interface has one XDP hook, so readers on
// different queues must share the program. It looks the packet's
// (RX queue, destination address, destination port) up in a hash map of
// endpoints (exact address first, then the 0.0.0.0 wildcard) and redirects
// matches to the XSKMAP slot of the RX queue; with XDP_PASS as the
// redirect's fallback, a match on a queue with no socket still reaches the
// kernel stack. Non-IPv4, non-UDP, IP fragments and other ports pass
// untouched. Written with cilium/ebpf's asm package, so neither the build
// nor the run needs clang.

// xdpMaxQueues bounds the XSKMAP (and so the queue numbers accepted).
const xdpMaxQueues = 1024

// xdpMaxEndpoints bounds the endpoint map (all readers of one interface).
const xdpMaxEndpoints = 4096

// endpointKeySize is the map key: queue (u32, host order), IPv4
// destination (4 bytes, network order), UDP port (2 bytes, network order),
// 2 bytes of zero padding. The program builds the same bytes on its stack.
const endpointKeySize = 12

func endpointKey(queue uint32, addr [4]byte, port uint16) []byte {
	k := make([]byte, endpointKeySize)
	binary.NativeEndian.PutUint32(k[0:], queue)
	copy(k[4:8], addr[:])
	binary.BigEndian.PutUint16(k[8:], port)
	return k
}

// netHalf is what a 16-bit load of the network-order value v yields on this
// host (the program compares packet fields without byte swaps).
func netHalf(v uint16) int32 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return int32(binary.NativeEndian.Uint16(b[:]))
}

// xdpInstructions is the steering program; the map file descriptors are
// patched in by LoadMapPtr.
func xdpInstructions(endpointsFD, xsksFD int) asm.Instructions {
	const (
		xdpPass = 2  // XDP_PASS
		ethLen  = 14 // no VLAN tag: tagged frames pass to the stack
		ipProto = 17 // UDP
	)
	return asm.Instructions{
		// struct xdp_md: data (0), data_end (4), ..., rx_queue_index (16).
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
		asm.LoadMem(asm.R9, asm.R1, 16, asm.Word), // r9 survives helper calls
		// Ethernet header and the fixed part of the IPv4 header in bounds.
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, ethLen+20),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
		asm.JNE.Imm(asm.R5, netHalf(0x0800), "pass"), // EtherType IPv4
		asm.LoadMem(asm.R5, asm.R2, ethLen, asm.Byte),
		asm.Mov.Reg(asm.R7, asm.R5),
		asm.RSh.Imm(asm.R5, 4),
		asm.JNE.Imm(asm.R5, 4, "pass"), // version 4
		asm.And.Imm(asm.R7, 0x0f),
		asm.JLT.Imm(asm.R7, 5, "pass"), // IHL >= 5 words
		asm.LoadMem(asm.R5, asm.R2, ethLen+9, asm.Byte),
		asm.JNE.Imm(asm.R5, ipProto, "pass"),
		// Fragments (MF set or an offset) go to the stack, which reassembles.
		asm.LoadMem(asm.R5, asm.R2, ethLen+6, asm.Half),
		asm.And.Imm(asm.R5, netHalf(0x3fff)),
		asm.JNE.Imm(asm.R5, 0, "pass"),
		asm.LoadMem(asm.R8, asm.R2, ethLen+16, asm.Word), // destination address
		// UDP header after the IPv4 options: data + IHL*4 (20..60 bytes,
		// a bounded offset the verifier accepts), checked against data_end.
		asm.LSh.Imm(asm.R7, 2),
		asm.Add.Reg(asm.R2, asm.R7),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, ethLen+8),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, ethLen+2, asm.Half), // destination port
		// Key on the stack at fp-16: queue, address, port, padding.
		asm.StoreMem(asm.RFP, -16, asm.R9, asm.Word),
		asm.StoreMem(asm.RFP, -12, asm.R8, asm.Word),
		asm.StoreMem(asm.RFP, -8, asm.R5, asm.Half),
		asm.StoreImm(asm.RFP, -6, 0, asm.Half),
		asm.LoadMapPtr(asm.R1, endpointsFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, "redirect"),
		// No exact match: try the wildcard address 0.0.0.0.
		asm.StoreImm(asm.RFP, -12, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, endpointsFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.LoadMapPtr(asm.R1, xsksFD).WithSymbol("redirect"),
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.Mov.Imm(asm.R3, xdpPass), // no socket on this queue: to the stack
		asm.FnRedirectMap.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	}
}

// xdpAttachKey identifies an interface: an index is only unique within its
// network namespace, so the namespace (inode of /proc/thread-self/ns/net)
// is part of the key.
type xdpAttachKey struct {
	netnsDev, netnsIno uint64
	ifindex            int
}

// xdpAttachment is the program, its maps and its link on one interface,
// shared by the readers there and detached when the last one goes.
type xdpAttachment struct {
	key       xdpAttachKey
	refs      int
	queues    map[int]bool
	prog      *ebpf.Program
	endpoints *ebpf.Map
	xsks      *ebpf.Map
	link      link.Link
	native    bool
}

var (
	xdpAttachMu sync.Mutex
	xdpAttached = map[xdpAttachKey]*xdpAttachment{}
)

func currentNetns() (dev, ino uint64, err error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0, 0, fmt.Errorf("transport: identifying the network namespace: %w", err)
	}
	return st.Dev, st.Ino, nil
}

// bpfPrivilege explains a permission failure of a BPF step.
func bpfPrivilege(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("transport: %s: %w: %w (grant CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN; on kernels before 5.11 also raise RLIMIT_MEMLOCK)",
			what, ErrXDPUnsupported, err)
	}
	if errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("transport: %s: %w: %w (kernel without BPF or AF_XDP support)", what, ErrXDPUnsupported, err)
	}
	return fmt.Errorf("transport: %s: %w", what, err)
}

// acquireXDP returns the attachment for (this thread's netns, ifindex),
// loading and attaching the program on first use, and reserves queue.
// It must run on the thread whose namespace owns the interface.
func acquireXDP(ifindex int, ifname string, queue int, mode XDPAttach) (*xdpAttachment, error) {
	dev, ino, err := currentNetns()
	if err != nil {
		return nil, err
	}
	key := xdpAttachKey{dev, ino, ifindex}
	xdpAttachMu.Lock()
	defer xdpAttachMu.Unlock()
	a := xdpAttached[key]
	if a == nil {
		if a, err = attachXDP(key, ifname, mode); err != nil {
			return nil, err
		}
		xdpAttached[key] = a
	} else if (mode == XDPAttachNative && !a.native) || (mode == XDPAttachGeneric && a.native) {
		return nil, fmt.Errorf("transport: %w: the XDP program on %s is already attached in %s mode by another reader",
			errInvalidConfig, ifname, xdpModeName(a.native))
	}
	if a.queues[queue] {
		return nil, fmt.Errorf("transport: %w: %s queue %d already has an AF_XDP reader (one reader per interface queue)",
			errInvalidConfig, ifname, queue)
	}
	a.queues[queue] = true
	a.refs++
	return a, nil
}

// release drops the reader of queue; the last one detaches the program.
func (a *xdpAttachment) release(queue int) {
	xdpAttachMu.Lock()
	defer xdpAttachMu.Unlock()
	delete(a.queues, queue)
	a.refs--
	if a.refs == 0 {
		a.close()
		delete(xdpAttached, a.key)
	}
}

func (a *xdpAttachment) close() {
	if a.link != nil {
		_ = a.link.Close() // detaches the program from the interface
	}
	a.prog.Close()
	a.xsks.Close()
	a.endpoints.Close()
}

func xdpModeName(native bool) string {
	if native {
		return "native (driver)"
	}
	return "generic (SKB)"
}

func attachXDP(key xdpAttachKey, ifname string, mode XDPAttach) (*xdpAttachment, error) {
	a := &xdpAttachment{key: key, queues: map[int]bool{}}
	ok := false
	defer func() {
		if !ok {
			if a.link != nil {
				a.link.Close()
			}
			if a.prog != nil {
				a.prog.Close()
			}
			if a.xsks != nil {
				a.xsks.Close()
			}
			if a.endpoints != nil {
				a.endpoints.Close()
			}
		}
	}()
	var err error
	a.endpoints, err = ebpf.NewMap(&ebpf.MapSpec{Name: "cg_xdp_eps", Type: ebpf.Hash,
		KeySize: endpointKeySize, ValueSize: 4, MaxEntries: xdpMaxEndpoints})
	if err != nil {
		return nil, bpfPrivilege("creating the endpoint map", err)
	}
	a.xsks, err = ebpf.NewMap(&ebpf.MapSpec{Name: "cg_xdp_xsks", Type: ebpf.XSKMap,
		KeySize: 4, ValueSize: 4, MaxEntries: xdpMaxQueues})
	if err != nil {
		return nil, bpfPrivilege("creating the XSKMAP", err)
	}
	a.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "cg_xdp_steer",
		Type:         ebpf.XDP,
		License:      "Dual BSD/GPL",
		Instructions: xdpInstructions(a.endpoints.FD(), a.xsks.FD()),
	})
	if err != nil {
		return nil, bpfPrivilege("loading the XDP program", err)
	}
	try := func(flags link.XDPAttachFlags) error {
		l, err := link.AttachXDP(link.XDPOptions{Program: a.prog, Interface: key.ifindex, Flags: flags})
		if err == nil {
			a.link = l
		}
		return err
	}
	switch mode {
	case XDPAttachNative:
		err = try(link.XDPDriverMode)
		a.native = err == nil
	case XDPAttachGeneric:
		err = try(link.XDPGenericMode)
	default:
		if nerr := try(link.XDPDriverMode); nerr == nil {
			a.native = true
		} else if err = try(link.XDPGenericMode); err == nil {
			Logf(LevelInfo, "native XDP on %s refused (%v); attached in generic (SKB) mode", ifname, nerr)
		} else {
			err = fmt.Errorf("native: %v; generic: %w", nerr, err)
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST):
			return nil, fmt.Errorf("transport: attaching XDP to %s: %w (another XDP program is attached: see ip link show dev %s)", ifname, err, ifname)
		case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
			return nil, fmt.Errorf("transport: attaching XDP to %s: %w: %w (grant CAP_NET_ADMIN)", ifname, ErrXDPUnsupported, err)
		}
		return nil, fmt.Errorf("transport: attaching XDP to %s: %w", ifname, err)
	}
	ok = true
	return a, nil
}
