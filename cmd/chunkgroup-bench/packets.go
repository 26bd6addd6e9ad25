package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/chunkgroup/chunkgroup/core/send"
	"github.com/chunkgroup/chunkgroup/core/spead"
)

// packetSet is a scenario's packets, heap i in stream i % N, each stream's
// packets back to back in one buffer (what transport.NewMemReader reads).
type packetSet struct {
	sc             send.Scenario
	heaps          int // data heaps over all streams
	heapBytes      int // encoded bytes of one heap (all heaps are the same size)
	packetsPerHeap int
	bufs           [][]byte
}

// packets is the number of packets over all streams.
func (p *packetSet) packets() int { return p.heaps * p.packetsPerHeap }

// payload is the number of heap payload bytes over all streams.
func (p *packetSet) payload() int64 { return int64(p.heaps) * int64(p.sc.HeapPayload) }

// heapsFor returns how many data heaps make at least payloadBytes of
// payload, rounded up to whole chunks so the last chunk is complete.
func heapsFor(sc send.Scenario, payloadBytes int64) int {
	chunkPayload := int64(sc.HeapPayload) * int64(sc.HeapsPerChunk)
	chunks := max(1, (payloadBytes+chunkPayload-1)/chunkPayload)
	return int(chunks) * sc.HeapsPerChunk
}

// heapShape encodes heap 0 to learn the encoded size and packet count.
func heapShape(enc *spead.Encoder, syn *send.Synth) (bytes, packets int, err error) {
	h := syn.Heap(0)
	b, err := enc.AppendHeap(nil, h)
	if err != nil {
		return 0, 0, err
	}
	return len(b), enc.NumPackets(h), nil
}

// buildPackets encodes the scenario's synthetic heaps (the same bytes
// chunkgroup-send puts on the wire) into one buffer per stream. Every
// buffer is written in full here, so its pages are resident before any
// clock starts.
func buildPackets(sc send.Scenario, streams int, payloadBytes int64) (*packetSet, error) {
	enc, err := spead.NewEncoder(sc.EncoderConfig())
	if err != nil {
		return nil, err
	}
	syn, err := send.NewSynth(sc.SynthConfig())
	if err != nil {
		return nil, err
	}
	hb, pph, err := heapShape(enc, syn)
	if err != nil {
		return nil, err
	}
	ps := &packetSet{sc: sc, heaps: heapsFor(sc, payloadBytes), heapBytes: hb, packetsPerHeap: pph}
	ps.bufs = make([][]byte, streams)
	for i := range ps.bufs {
		n := (ps.heaps - i + streams - 1) / streams // heaps i, i+N, ...
		ps.bufs[i] = make([]byte, 0, n*hb)
	}
	for cnt := 0; cnt < ps.heaps; cnt++ {
		s := cnt % streams
		ps.bufs[s], err = enc.AppendHeap(ps.bufs[s], syn.Heap(uint64(cnt)))
		if err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// cmdPackets writes one scenario's packet stream (heap 0, 1, ... back to
// back, no stop heap) to a file. Every heap has the same encoded size, so a
// reader can cut it per stream by heap (heap i to stream i % N) without
// parsing: bench/bench.py does that for the Python-driven receivers.
func cmdPackets(args []string) error {
	fs := flag.NewFlagSet("packets", flag.ContinueOnError)
	scName := fs.String("scenario", "large", "large or small")
	bytes := fs.Int64("bytes", 1<<30, "payload bytes at least (rounded up to whole chunks)")
	out := fs.String("out", "", "output file (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("--out is required")
	}
	sc, err := scenario(*scName)
	if err != nil {
		return err
	}
	enc, err := spead.NewEncoder(sc.EncoderConfig())
	if err != nil {
		return err
	}
	syn, err := send.NewSynth(sc.SynthConfig())
	if err != nil {
		return err
	}
	hb, pph, err := heapShape(enc, syn)
	if err != nil {
		return err
	}
	heaps := heapsFor(sc, *bytes)
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 4<<20)
	start := time.Now()
	buf := make([]byte, 0, hb)
	for cnt := 0; cnt < heaps; cnt++ {
		buf, err = enc.AppendHeap(buf[:0], syn.Heap(uint64(cnt)))
		if err == nil {
			_, err = w.Write(buf)
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	emit(map[string]any{
		"kind": "packets", "scenario": sc.Name, "file": *out, "heaps": heaps,
		"heap_bytes": hb, "packets_per_heap": pph, "heap_payload": sc.HeapPayload,
		"heaps_per_chunk": sc.HeapsPerChunk, "packet_payload": sc.PacketPayload,
		"file_bytes": int64(heaps) * int64(hb), "seconds": round(since(start), 3),
	})
	return nil
}
