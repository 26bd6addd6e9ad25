package pcap

import (
	"bytes"
	"net/netip"
	"testing"
	"unsafe"
)

// FuzzReader: any file is read to an end (io.EOF, or an error), record by
// record, without a panic, an endless loop or a payload that is not a
// slice of the file; the streaming reader and the in-memory reader agree.
func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		f.Fatal(err)
	}
	src, dst := netip.MustParseAddrPort("127.0.0.1:9"), netip.MustParseAddrPort("127.0.0.1:7148")
	for i, n := range []int{0, 1, 64, 1472} {
		if err := w.WriteUDP(src, dst, bytes.Repeat([]byte{byte(i)}, n)); err != nil {
			f.Fatal(err)
		}
	}
	v6s, v6d := netip.MustParseAddrPort("[::1]:1"), netip.MustParseAddrPort("[::1]:2")
	if err := w.WriteUDP(v6s, v6d, []byte("six")); err != nil {
		f.Fatal(err)
	}
	file := buf.Bytes()
	f.Add(bytes.Clone(file))
	f.Add(bytes.Clone(file[:len(file)-3]))
	f.Add(bytes.Clone(file[:24]))
	f.Add([]byte{})
	f.Add([]byte("\xd4\xc3\xb2\xa1 short"))

	f.Fuzz(func(t *testing.T, data []byte) {
		mem, merr := NewBytesReader(data)
		str, serr := NewReader(bytes.NewReader(data))
		if (merr == nil) != (serr == nil) {
			t.Fatalf("header: bytes reader %v, stream reader %v", merr, serr)
		}
		if merr != nil {
			return
		}
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
		for i := 0; ; i++ {
			if i > len(data) {
				t.Fatal("more records than bytes: no progress")
			}
			ms, md, mp, me := mem.NextUDPFrom()
			ss, sd, sp, se := str.NextUDPFrom()
			if (me == nil) != (se == nil) || ms != ss || md != sd || !bytes.Equal(mp, sp) {
				t.Fatalf("record %d: bytes reader %v %v %d %v, stream reader %v %v %d %v",
					i, ms, md, len(mp), me, ss, sd, len(sp), se)
			}
			if me != nil {
				return // io.EOF, or an error that says what is wrong
			}
			if len(mp) > 0 {
				p := uintptr(unsafe.Pointer(unsafe.SliceData(mp)))
				if p < lo || p+uintptr(len(mp)) > lo+uintptr(len(data)) {
					t.Fatalf("record %d: payload is not inside the file", i)
				}
			}
		}
	})
}
