package transport

import (
	"fmt"

	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// MemReader feeds packets stored back to back in a byte buffer. Packets are
// passed to the sink as sub-slices of the buffer (no copy), so the buffer
// must not change while Run is running.
type MemReader struct {
	lc      lifecycle
	buf     []byte
	packets [][]byte
}

// NewMemReader returns a reader over buf.
func NewMemReader(buf []byte) *MemReader {
	return &MemReader{buf: buf, packets: make([][]byte, 0, DefaultBatchSize)}
}

// Run passes the packets to sink in batches. It returns nil at the end of
// the buffer, and an error wrapping the spead error (for example
// spead.ErrMagic or spead.ErrShort) at the first malformed or incomplete
// packet, after passing the valid packets before it.
func (r *MemReader) Run(sink recv.Sink) error {
	if ok, err := r.lc.start(); !ok {
		return err
	}
	defer r.lc.finish()
	buf := r.buf
	off := 0
	pk := r.packets[:0]
	for off < len(buf) {
		n, err := spead.Length(buf[off:])
		if err == nil && n > len(buf)-off {
			err = spead.ErrShort
		}
		if err != nil {
			if len(pk) > 0 && !r.lc.closed.Load() {
				sink.AddBatch(pk)
			}
			if r.lc.closed.Load() {
				return nil
			}
			return fmt.Errorf("transport: memory reader: bad packet at offset %d of %d: %w", off, len(buf), err)
		}
		pk = append(pk, buf[off:off+n:off+n])
		off += n
		if len(pk) == cap(pk) {
			if r.lc.closed.Load() || !sink.AddBatch(pk) {
				return nil
			}
			pk = pk[:0]
		}
	}
	if len(pk) > 0 && !r.lc.closed.Load() {
		sink.AddBatch(pk)
	}
	return nil
}

// Close stops Run at the next batch boundary.
func (r *MemReader) Close() error {
	r.lc.close()
	return nil
}
