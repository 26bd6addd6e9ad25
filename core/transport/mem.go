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
	touched byte // keeps the look-ahead loads from being optimised away
}

// prefetchPackets is how far ahead Run touches the buffer.
const prefetchPackets = 32

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
	var touch byte
	defer func() { r.touched = touch }()
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
		// Finding packet i+1 needs packet i's header: a chain of dependent
		// loads, each a cache miss when the buffer is far larger than the
		// cache. Loading a byte a few packets ahead (guessing they are the
		// same size, as they usually are) starts those misses early and
		// out of order; the result is never needed.
		if ahead := off + prefetchPackets*n; ahead < len(buf) {
			touch += buf[ahead]
		}
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
