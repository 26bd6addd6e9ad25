package send

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"

	"github.com/chunkgroup/chunkgroup/core/pcap"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// PcapSourcePort is the UDP source port of datagrams written by PcapSender.
const PcapSourcePort = 50000

// PcapSender writes the packets of heaps to a classic pcap file, each as a
// UDP datagram to one of its destinations, as a UDPSender would have sent
// them. Captures made this way feed the pcap reader in round-trip tests and
// replays. Not safe for concurrent use.
type PcapSender struct {
	enc   *spead.Encoder
	bw    *bufio.Writer
	pw    *pcap.Writer
	file  *os.File // owned, when made by CreatePcapSender
	dests []netip.AddrPort
	srcs  []netip.AddrPort
	cur   int
	pktFn func([]byte) error
	stats Stats
	err   error
}

// NewPcapSender writes a pcap global header to w and returns a sender whose
// datagrams go to dests ("host:port"). The source of each datagram is the
// loopback address of the destination's family, port PcapSourcePort. w is
// buffered internally; Flush or Close pushes everything out. Close does not
// close w.
func NewPcapSender(w io.Writer, dests []string, enc *spead.Encoder) (*PcapSender, error) {
	if enc == nil {
		return nil, errors.New("send: nil encoder")
	}
	if len(dests) == 0 {
		return nil, errors.New("send: no destinations")
	}
	s := &PcapSender{enc: enc, bw: bufio.NewWriterSize(w, 1<<20)}
	for _, d := range dests {
		ap, err := resolveUDP(d)
		if err != nil {
			return nil, err
		}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), PcapSourcePort)
		if ap.Addr().Is6() {
			src = netip.AddrPortFrom(netip.IPv6Loopback(), PcapSourcePort)
		}
		s.dests = append(s.dests, ap)
		s.srcs = append(s.srcs, src)
	}
	pw, err := pcap.NewWriter(s.bw)
	if err != nil {
		return nil, err
	}
	s.pw = pw
	s.pktFn = s.writePacket
	return s, nil
}

// CreatePcapSender creates (truncates) the file at path and returns a
// PcapSender writing to it; Close also closes the file.
func CreatePcapSender(path string, dests []string, enc *spead.Encoder) (*PcapSender, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	s, err := NewPcapSender(f, dests, enc)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	s.file = f
	return s, nil
}

func (s *PcapSender) writePacket(pkt []byte) error {
	if err := s.pw.WriteUDP(s.srcs[s.cur], s.dests[s.cur], pkt); err != nil {
		return err
	}
	s.stats.Packets++
	s.stats.Bytes += uint64(len(pkt))
	return nil
}

// NumDestinations returns the number of destinations.
func (s *PcapSender) NumDestinations() int { return len(s.dests) }

// Stats returns the counters so far (Calls stays 0).
func (s *PcapSender) Stats() Stats { return s.stats }

// SendHeap writes the packets of h as datagrams to destination dest.
func (s *PcapSender) SendHeap(h *spead.Heap, dest int) error {
	if s.err != nil {
		return s.err
	}
	if dest < 0 || dest >= len(s.dests) {
		return fmt.Errorf("send: destination index %d out of range [0,%d)", dest, len(s.dests))
	}
	s.cur = dest
	if err := s.enc.Packets(h, s.pktFn); err != nil {
		return err
	}
	s.stats.Heaps++
	return nil
}

// SendHeapBySubstream writes h to destination h.Cnt % NumDestinations().
func (s *PcapSender) SendHeapBySubstream(h *spead.Heap) error {
	return s.SendHeap(h, int(h.Cnt%uint64(len(s.dests))))
}

// Flush writes buffered records to the underlying writer.
func (s *PcapSender) Flush() error {
	if s.err != nil {
		return s.err
	}
	return s.bw.Flush()
}

// Close flushes, and closes the file if CreatePcapSender opened it.
func (s *PcapSender) Close() error {
	if s.err == net.ErrClosed {
		return nil
	}
	err := s.Flush()
	if s.file != nil {
		if cerr := s.file.Close(); err == nil {
			err = cerr
		}
	}
	s.err = net.ErrClosed
	return err
}
