package transport

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/chunkgroup/chunkgroup/core/spead"
)

// pieces hands out data in pieces whose sizes come from sizes (cycled), as
// a TCP connection may.
type pieces struct {
	data  []byte
	sizes []byte
	i     int
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(p.sizes) > 0 {
		n = 1 + int(p.sizes[p.i%len(p.sizes)])*int(p.sizes[p.i%len(p.sizes)])
		p.i++
	}
	n = min(n, len(b), len(p.data))
	copy(b, p.data[:n])
	p.data = p.data[n:]
	return n, nil
}

func (p *pieces) RemoteAddr() net.Addr { return &net.TCPAddr{} }

// collect records every packet passed to it (copied: the slices are only
// valid during AddBatch).
type collect struct{ got [][]byte }

func (c *collect) AddBatch(pk [][]byte) bool {
	for _, p := range pk {
		c.got = append(c.got, bytes.Clone(p))
	}
	return true
}

// FuzzTCPFraming: any byte stream, cut into any pieces, yields exactly the
// whole SPEAD packets it starts with, in order and unchanged, then either a
// clean end (nothing left over) or one error that says why the rest was
// refused; never a panic, never a packet longer than max_size.
func FuzzTCPFraming(f *testing.F) {
	enc, err := spead.NewEncoder(spead.EncoderConfig{AddrBits: 48, PacketPayload: 16, RepeatPointers: true})
	if err != nil {
		f.Fatal(err)
	}
	var stream []byte
	for cnt := uint64(1); cnt < 6; cnt++ {
		h := &spead.Heap{Cnt: cnt, Payload: bytes.Repeat([]byte{byte(cnt)}, int(cnt)*13)}
		if err := enc.Packets(h, func(p []byte) error { stream = append(stream, p...); return nil }); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(stream, []byte{3, 7, 1})
	f.Add(stream[:len(stream)-5], []byte{200})
	f.Add(append(bytes.Clone(stream), 0x53, 0x04), []byte{0})
	f.Add([]byte{0x53, 0x04, 0x02, 0x06, 0xff, 0xff, 0xff, 0xff}, []byte{1})
	f.Add([]byte("not spead at all"), []byte{2})

	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		const maxSize = 1024
		r := &TCPReader{maxSize: maxSize, buf: make([]byte, 4*maxSize), packets: make([][]byte, 0, DefaultBatchSize)}
		var sink collect
		err := r.readLoop(&pieces{data: data, sizes: sizes}, &sink)
		// What a correct framer must produce: whole packets from the start.
		off := 0
		var want [][]byte
		var wantErr error
		for off < len(data) {
			// A framer holds at most maxSize bytes of a packet, so only
			// those may decide (a header longer than that is too large).
			n, lerr := spead.Length(data[off:min(len(data), off+maxSize)])
			if lerr == spead.ErrShort && len(data)-off < maxSize {
				wantErr = ErrTruncated
				break
			}
			if lerr != nil || n > maxSize {
				wantErr = lerr
				if lerr == nil || lerr == spead.ErrShort {
					wantErr = ErrPacketTooLarge
				}
				break
			}
			if len(data)-off < n {
				wantErr = ErrTruncated
				break
			}
			want = append(want, data[off:off+n])
			off += n
		}
		if len(sink.got) != len(want) {
			t.Fatalf("%d packets, want %d (err %v)", len(sink.got), len(want), err)
		}
		for i := range want {
			if !bytes.Equal(sink.got[i], want[i]) {
				t.Fatalf("packet %d differs", i)
			}
		}
		switch {
		case wantErr == nil && err != nil:
			t.Fatalf("clean stream, error %v", err)
		case wantErr != nil && (err == nil || !errors.Is(err, wantErr)):
			t.Fatalf("error %v, want %v", err, wantErr)
		}
	})
}

// A header longer than max_size is refused as too large however the stream
// is cut: in one piece (all its items at hand) or byte by byte. Before, the
// whole header in one read was parsed and refused for a missing item, a
// different reason for the same bytes (FuzzTCPFraming, 3.5M executions).
func TestTCPFramingLongHeaderAnyCut(t *testing.T) {
	const maxSize = 1024
	hdr := []byte{0x53, 0x04, 0x02, 0x06, 0, 0, 0, 152} // 152 items: 1224-byte header
	stream := append(hdr, bytes.Repeat([]byte{'0'}, 4000)...)
	for _, sizes := range [][]byte{nil, {1}, {64}, {255}} {
		r := &TCPReader{maxSize: maxSize, buf: make([]byte, 4*maxSize), packets: make([][]byte, 0, DefaultBatchSize)}
		var sink collect
		err := r.readLoop(&pieces{data: bytes.Clone(stream), sizes: sizes}, &sink)
		if len(sink.got) != 0 || !errors.Is(err, ErrPacketTooLarge) {
			t.Fatalf("pieces %v: %d packets, error %v; want none and ErrPacketTooLarge", sizes, len(sink.got), err)
		}
	}
}
