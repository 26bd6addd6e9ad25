package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chunkgroup/chunkgroup/core/offheap"
	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// ErrTruncated is returned (wrapped) by TCPReader.Run when the connection
// ends in the middle of a packet.
var ErrTruncated = errors.New("transport: TCP connection closed in the middle of a packet")

// ErrPacketTooLarge is returned (wrapped) when a packet in a byte stream is
// longer than the configured maximum size.
var ErrPacketTooLarge = errors.New("transport: packet larger than the maximum packet size")

// TCPConfig configures a TCP reader.
type TCPConfig struct {
	// BindHost is the local address to listen on ("" = all addresses).
	BindHost string
	// Port is the TCP port (0 = the kernel picks one; see LocalAddr).
	Port int
	// ListenFD, when >= 0, is a listening socket to accept from instead
	// of creating one. The reader works on a duplicate. Note that the zero
	// value 0 means descriptor 0: start from DefaultTCPConfig.
	ListenFD int
	// MaxSize is the largest packet accepted (default DefaultMaxSize); a
	// longer one ends the stream with ErrPacketTooLarge.
	MaxSize int
	// BufferSize is the socket receive buffer to request for the accepted
	// connection (0 or negative = kernel default, which autotunes).
	BufferSize int
	// Affinity, when not empty, pins Run's OS thread to these CPUs.
	Affinity []int
}

// DefaultTCPConfig returns the default configuration: listen on all
// addresses, port 0, no adopted socket (ListenFD -1), MaxSize 9200.
func DefaultTCPConfig() TCPConfig {
	return TCPConfig{ListenFD: -1, MaxSize: DefaultMaxSize}
}

// TCPReader accepts one connection and cuts SPEAD packets out of its byte
// stream (packets back to back, each 8 + 8n + payload_length bytes).
type TCPReader struct {
	lc      lifecycle
	ln      *net.TCPListener
	conn    *net.TCPConn // set under lc.mu once accepted
	local   netip.AddrPort
	maxSize int
	bufSize int
	cpus    []int
	buf     []byte // off-heap reassembly buffer
	packets [][]byte
}

// NewTCPReader listens on the configured address (or adopts ListenFD), so a
// port already in use is reported here (errors.Is(err, syscall.EADDRINUSE)).
func NewTCPReader(cfg TCPConfig) (*TCPReader, error) {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	var ln *net.TCPListener
	if cfg.ListenFD >= 0 {
		// Work on our own duplicate: an *os.File around the caller's
		// descriptor would close it when collected.
		dup, err := unix.FcntlInt(uintptr(cfg.ListenFD), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("transport: adopting listening socket fd %d: %w", cfg.ListenFD, err)
		}
		f := os.NewFile(uintptr(dup), "tcp-listener")
		l, err := net.FileListener(f) // duplicates again; f is ours to close
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("transport: adopting listening socket fd %d: %w", cfg.ListenFD, err)
		}
		tl, ok := l.(*net.TCPListener)
		if !ok {
			l.Close()
			return nil, fmt.Errorf("transport: fd %d is not a TCP listening socket", cfg.ListenFD)
		}
		ln = tl
	} else {
		if cfg.Port < 0 || cfg.Port > 65535 {
			return nil, fmt.Errorf("transport: TCP port %d out of range", cfg.Port)
		}
		addr := net.JoinHostPort(cfg.BindHost, strconv.Itoa(cfg.Port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("transport: %w", err) // names the address and the errno
		}
		ln = l.(*net.TCPListener)
	}
	// The buffer holds at least one maximum-size packet after any partial
	// one; larger than that so that compaction (moving a partial packet
	// to the front) happens rarely.
	size := max(4*cfg.MaxSize, 256<<10)
	buf, err := offheap.Alloc(size)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("transport: TCP receive buffer: %w", err)
	}
	r := &TCPReader{
		ln:      ln,
		local:   ln.Addr().(*net.TCPAddr).AddrPort(),
		maxSize: cfg.MaxSize,
		bufSize: cfg.BufferSize,
		cpus:    append([]int(nil), cfg.Affinity...),
		buf:     buf,
		packets: make([][]byte, 0, DefaultBatchSize),
	}
	r.lc.wake = func() {
		past := time.Unix(1, 0)
		_ = r.ln.SetDeadline(past)
		if r.conn != nil {
			_ = r.conn.SetReadDeadline(past)
		}
	}
	r.lc.release = func() {
		_ = r.ln.Close()
		if r.conn != nil {
			_ = r.conn.Close()
		}
		offheap.Free(r.buf)
		r.buf = nil
	}
	return r, nil
}

// LocalAddr returns the listening address (with the port the kernel chose
// when Port was 0).
func (r *TCPReader) LocalAddr() netip.AddrPort { return r.local }

// Run accepts one connection and feeds its packets to sink. It returns nil
// when the peer closes the connection at a packet boundary, on Close, or
// when the sink refuses a batch; an error wrapping ErrTruncated when the
// connection ends inside a packet; an error wrapping ErrPacketTooLarge or a
// spead error for a malformed stream; or the socket error.
func (r *TCPReader) Run(sink recv.Sink) error {
	end, ok, err := r.lc.beginPinned(r.cpus)
	if !ok {
		return err
	}
	defer end()

	conn, err := r.ln.AcceptTCP()
	if err != nil {
		if r.lc.closed.Load() {
			return nil
		}
		return fmt.Errorf("transport: TCP accept on %v: %w", r.local, err)
	}
	r.lc.mu.Lock()
	r.conn = conn
	closed := r.lc.closed.Load()
	r.lc.mu.Unlock()
	if closed {
		return nil
	}
	// One connection only: free the port for others.
	_ = r.ln.Close()
	if r.bufSize > 0 {
		if rc, err := conn.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) {
				if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, r.bufSize) != nil {
					Logf(LevelDebug, "TCP SO_RCVBUF %d refused", r.bufSize)
				}
			})
		}
	}
	return r.readLoop(conn, sink)
}

// byteStream is what readLoop reads: the accepted connection (or, in the
// fuzz test, bytes handed out in arbitrary pieces).
type byteStream interface {
	Read(p []byte) (int, error)
	RemoteAddr() net.Addr
}

// readLoop cuts packets out of conn's byte stream and passes them to sink.
func (r *TCPReader) readLoop(conn byteStream, sink recv.Sink) error {
	buf, maxSize := r.buf, r.maxSize
	head, tail := 0, 0 // buf[head:tail] holds bytes not yet passed on
	var consumed int64 // stream offset of buf[0], for error messages
	for {
		if r.lc.closed.Load() {
			return nil
		}
		if head == tail {
			consumed += int64(head)
			head, tail = 0, 0
		} else if len(buf)-head < maxSize {
			// Only the tail of one partial packet (< maxSize bytes) moves.
			consumed += int64(head)
			tail = copy(buf, buf[head:tail])
			head = 0
		}
		n, rerr := conn.Read(buf[tail:])
		tail += n
		pk := r.packets[:0]
		var perr error
		for {
			// Length sees at most maxSize bytes, so a header longer than
			// that is always "too large", however the stream was cut: with
			// more bytes at hand its items would be parsed and the same
			// stream could fail for another reason (found by FuzzTCPFraming).
			plen, err := spead.Length(buf[head:min(tail, head+maxSize)])
			if err == spead.ErrShort {
				if tail-head >= maxSize {
					perr = fmt.Errorf("transport: TCP stream offset %d: header longer than %d bytes: %w", consumed+int64(head), maxSize, ErrPacketTooLarge)
				}
				break
			}
			if err != nil {
				perr = fmt.Errorf("transport: TCP stream offset %d: malformed packet: %w", consumed+int64(head), err)
				break
			}
			if plen > maxSize {
				perr = fmt.Errorf("transport: TCP stream offset %d: packet of %d bytes, maximum %d: %w", consumed+int64(head), plen, maxSize, ErrPacketTooLarge)
				break
			}
			if tail-head < plen {
				break
			}
			pk = append(pk, buf[head:head+plen:head+plen])
			head += plen
			if len(pk) == cap(pk) {
				if r.lc.closed.Load() || !sink.AddBatch(pk) {
					return nil
				}
				pk = pk[:0]
			}
		}
		if len(pk) > 0 {
			if r.lc.closed.Load() || !sink.AddBatch(pk) {
				return nil
			}
		}
		if perr != nil {
			return perr
		}
		if rerr != nil {
			if r.lc.closed.Load() {
				return nil
			}
			if rerr == io.EOF {
				if head == tail {
					return nil
				}
				return fmt.Errorf("transport: TCP stream offset %d: %d bytes of an incomplete packet at end of connection: %w", consumed+int64(head), tail-head, ErrTruncated)
			}
			return fmt.Errorf("transport: TCP receive from %v: %w", conn.RemoteAddr(), rerr)
		}
	}
}

// Close stops Run promptly (also while it waits in accept) and releases
// the sockets and buffer once Run has returned.
func (r *TCPReader) Close() error {
	r.lc.close()
	return nil
}
