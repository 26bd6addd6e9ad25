package send

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/chunkgroup/chunkgroup/core/spead"
)

// TCPDialTimeout bounds how long NewTCPSender waits for the connection.
const TCPDialTimeout = 5 * time.Second

// tcpBufferSize is the bufio.Writer size: large enough that a large-scenario
// heap (64 KiB) and many small heaps go out in one write system call.
const tcpBufferSize = 1 << 20

// TCPSender writes heaps to one TCP connection as back-to-back packets,
// which is how SPEAD travels over a byte stream. Not safe for concurrent use.
type TCPSender struct {
	enc   *spead.Encoder
	conn  net.Conn
	bw    *bufio.Writer
	buf   []byte // one heap's packets, reused
	stats Stats
	err   error
}

// NewTCPSender connects to addr ("host:port"), waiting at most
// TCPDialTimeout.
func NewTCPSender(addr string, enc *spead.Encoder) (*TCPSender, error) {
	if enc == nil {
		return nil, errors.New("send: nil encoder")
	}
	conn, err := net.DialTimeout("tcp", addr, TCPDialTimeout)
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	return &TCPSender{enc: enc, conn: conn, bw: bufio.NewWriterSize(conn, tcpBufferSize)}, nil
}

// SendHeap writes the packets of h. They may sit in the buffer until a
// later SendHeap, Flush or Close.
func (s *TCPSender) SendHeap(h *spead.Heap) error {
	if s.err != nil {
		return s.err
	}
	buf, err := s.enc.AppendHeap(s.buf[:0], h)
	if err != nil {
		return err
	}
	s.buf = buf
	if _, err := s.bw.Write(buf); err != nil {
		s.err = fmt.Errorf("send: tcp %s: %w", s.conn.RemoteAddr(), err)
		return s.err
	}
	s.stats.Heaps++
	s.stats.Packets += uint64(s.enc.NumPackets(h))
	s.stats.Bytes += uint64(len(buf))
	return nil
}

// Flush writes out buffered bytes.
func (s *TCPSender) Flush() error {
	if s.err != nil {
		return s.err
	}
	if err := s.bw.Flush(); err != nil {
		s.err = fmt.Errorf("send: tcp %s: %w", s.conn.RemoteAddr(), err)
	}
	return s.err
}

// Stats returns the counters so far (bytes are counted when buffered).
func (s *TCPSender) Stats() Stats { return s.stats }

// Close flushes and closes the connection; the receiver sees end of stream.
func (s *TCPSender) Close() error {
	if s.err == net.ErrClosed {
		return nil
	}
	err := s.Flush()
	if cerr := s.conn.Close(); err == nil {
		err = cerr
	}
	s.err = net.ErrClosed
	return err
}

// TCPGroup is one TCPSender per destination with a shared rate limit, so
// TCP destinations can be driven like a UDPSender (heap i to destination
// i % N).
type TCPGroup struct {
	senders []*TCPSender
	lim     *RateLimiter
}

// NewTCPGroup connects to each address in turn. rate is in bytes per
// second over all connections (0: unlimited).
func NewTCPGroup(addrs []string, enc *spead.Encoder, rate float64) (*TCPGroup, error) {
	if len(addrs) == 0 {
		return nil, errors.New("send: no destinations")
	}
	g := &TCPGroup{lim: NewRateLimiter(rate)}
	for _, a := range addrs {
		s, err := NewTCPSender(a, enc)
		if err != nil {
			g.Close()
			return nil, err
		}
		g.senders = append(g.senders, s)
	}
	return g, nil
}

// NumDestinations returns the number of connections.
func (g *TCPGroup) NumDestinations() int { return len(g.senders) }

// SendHeap writes h to connection dest, after the rate limiter allows it.
func (g *TCPGroup) SendHeap(h *spead.Heap, dest int) error {
	if dest < 0 || dest >= len(g.senders) {
		return fmt.Errorf("send: destination index %d out of range [0,%d)", dest, len(g.senders))
	}
	s := g.senders[dest]
	before := s.stats.Bytes
	if err := s.SendHeap(h); err != nil {
		return err
	}
	g.lim.Wait(int(s.stats.Bytes - before))
	return nil
}

// SendHeapBySubstream writes h to connection h.Cnt % NumDestinations().
func (g *TCPGroup) SendHeapBySubstream(h *spead.Heap) error {
	return g.SendHeap(h, int(h.Cnt%uint64(len(g.senders))))
}

// Flush flushes every connection.
func (g *TCPGroup) Flush() error {
	var first error
	for _, s := range g.senders {
		if err := s.Flush(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Stats sums the counters of all connections.
func (g *TCPGroup) Stats() Stats {
	var st Stats
	for _, s := range g.senders {
		st.Heaps += s.stats.Heaps
		st.Packets += s.stats.Packets
		st.Bytes += s.stats.Bytes
	}
	st.Sleeps = g.lim.Sleeps()
	return st
}

// Close closes every connection.
func (g *TCPGroup) Close() error {
	var first error
	for _, s := range g.senders {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
