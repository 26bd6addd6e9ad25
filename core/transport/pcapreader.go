package transport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/chunkgroup/chunkgroup/core/pcap"
	"github.com/chunkgroup/chunkgroup/core/recv"
)

// PcapReader feeds the UDP payloads of a classic pcap capture. The file is
// memory-mapped, so payloads reach the sink without an intermediate copy.
type PcapReader struct {
	lc      lifecycle
	path    string
	data    []byte // the mapped file
	rd      *pcap.Reader
	filter  portFilter
	packets [][]byte
}

// portFilter is the parsed filter expression.
type portFilter struct {
	port     int // -1: no filter
	src, dst bool
}

func (f portFilter) match(sport, dport uint16) bool {
	if f.port < 0 {
		return true
	}
	p := uint16(f.port)
	return (f.src && sport == p) || (f.dst && dport == p)
}

// parseFilter parses the small filter grammar:
//
//	filter := "" | ["udp"] [direction] "port" N
//	direction := "src" | "dst"
//
// "port N" keeps datagrams with source or destination port N; "dst port N"
// and "src port N" only the named one. Words are separated by spaces;
// "udp" is accepted for familiarity with BPF (only UDP is ever read).
func parseFilter(s string) (portFilter, error) {
	w := strings.Fields(strings.ToLower(s))
	if len(w) == 0 {
		return portFilter{port: -1}, nil
	}
	bad := func() (portFilter, error) {
		return portFilter{}, fmt.Errorf("transport: pcap filter %q not understood (want \"\", \"[udp] [src|dst] port N\")", s)
	}
	if w[0] == "udp" {
		w = w[1:]
	}
	f := portFilter{src: true, dst: true}
	if len(w) > 0 && (w[0] == "src" || w[0] == "dst") {
		f.src, f.dst = w[0] == "src", w[0] == "dst"
		w = w[1:]
	}
	if len(w) != 2 || w[0] != "port" {
		return bad()
	}
	n, err := strconv.Atoi(w[1])
	if err != nil || n < 0 || n > 65535 {
		return bad()
	}
	f.port = n
	return f, nil
}

// NewPcapReader opens a capture file and checks its header and the filter
// (see parseFilter's grammar: "", "port N", "[udp] [src|dst] port N").
func NewPcapReader(path string, filter string) (*PcapReader, error) {
	pf, err := parseFilter(filter)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("transport: pcap: %w", err)
	}
	defer f.Close() // the mapping outlives the descriptor
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("transport: pcap: %w", err)
	}
	size := st.Size()
	if size == 0 {
		return nil, fmt.Errorf("transport: pcap %s: empty file: %w", path, pcap.ErrNotPcap)
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("transport: pcap %s: file too large to map", path)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("transport: pcap %s: mmap: %w", path, err)
	}
	rd, err := pcap.NewBytesReader(data)
	if err != nil {
		unix.Munmap(data)
		return nil, fmt.Errorf("transport: pcap %s: %w", path, err)
	}
	r := &PcapReader{path: path, data: data, rd: rd, filter: pf, packets: make([][]byte, 0, DefaultBatchSize)}
	r.lc.release = func() {
		if r.data != nil {
			unix.Munmap(r.data)
			r.data = nil
		}
	}
	return r, nil
}

// Run passes the capture's UDP payloads that match the filter to sink in
// batches. It returns nil at the end of the file (or on Close), and an
// error when the file is cut short inside a record.
func (r *PcapReader) Run(sink recv.Sink) error {
	if ok, err := r.lc.start(); !ok {
		return err
	}
	defer r.lc.finish()
	pk := r.packets[:0]
	for {
		src, dst, p, err := r.rd.NextUDPFrom()
		if err != nil {
			if len(pk) > 0 && !r.lc.closed.Load() {
				sink.AddBatch(pk)
			}
			if errors.Is(err, io.EOF) || r.lc.closed.Load() {
				return nil
			}
			return fmt.Errorf("transport: pcap %s: %w", r.path, err)
		}
		if !r.filter.match(src.Port(), dst.Port()) {
			continue
		}
		pk = append(pk, p)
		if len(pk) == cap(pk) {
			if r.lc.closed.Load() || !sink.AddBatch(pk) {
				return nil
			}
			pk = pk[:0]
		}
	}
}

// Skipped returns the number of frames that were not UDP datagrams (or
// were cut short by the capture) and so were not passed on.
func (r *PcapReader) Skipped() int { return r.rd.Skipped + r.rd.Truncated }

// Close stops Run at the next batch and unmaps the file once Run has
// returned.
func (r *PcapReader) Close() error {
	r.lc.close()
	return nil
}
