package transport_test

import (
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/recv"
	"github.com/chunkgroup/chunkgroup/core/ring"
	"github.com/chunkgroup/chunkgroup/core/send"
)

// counterGroup is a ring group of n members placing heap cnt at chunk
// cnt / heapsPerChunk, slot cnt % heapsPerChunk (recv.CounterGrid), with
// window+4 chunks in circulation; consume collects copies of what it
// readies, checkChunks compares them with the sender's pattern.
type counterGroup struct {
	g                       *recv.Group
	data                    *ring.Ring
	members                 []*recv.Stream
	got                     chan []*chunk.Chunk
	heapsPerChunk, heapSize int
}

func newCounterGroup(t *testing.T, mode recv.EvictionMode, window, n, heapsPerChunk, heapSize int) *counterGroup {
	t.Helper()
	data, _ := ring.New(window + 4)
	free, _ := ring.New(window + 4)
	gcfg := recv.DefaultGroupConfig()
	gcfg.MaxChunks = window
	gcfg.EvictionMode = mode
	g, err := recv.NewRingGroup(gcfg, data, free)
	if err != nil {
		t.Fatal(err)
	}
	cg := &counterGroup{g: g, data: data, got: make(chan []*chunk.Chunk, 1), heapsPerChunk: heapsPerChunk, heapSize: heapSize}
	for i := 0; i < n; i++ {
		scfg := recv.DefaultStreamConfig()
		scfg.StreamID = uintptr(i)
		ccfg := recv.DefaultChunkStreamConfig()
		ccfg.Items = recv.CounterItems()
		ccfg.MaxChunks = 4
		ccfg.Place = recv.CounterGrid(int64(heapsPerChunk), int64(heapSize))
		s, err := g.EmplaceBack(scfg, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		cg.members = append(cg.members, s)
	}
	for i := 0; i < window+4; i++ {
		if err := g.AddFreeChunk(chunk.New(make([]byte, heapsPerChunk), make([]byte, heapSize*heapsPerChunk), nil)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { g.Stop() })
	return cg
}

// consume copies every readied chunk until the data ring stops (every
// member has received its stop heap) and returns the copies on cg.got.
func (cg *counterGroup) consume() {
	var out []*chunk.Chunk
	for {
		c, err := cg.data.Pop()
		if err != nil {
			cg.got <- out
			return
		}
		cp := chunk.New(append([]byte(nil), c.Present()...), append([]byte(nil), c.Data()...), nil)
		cp.ChunkID = c.ChunkID
		out = append(out, cp)
		cg.g.AddFreeChunk(c)
	}
}

// checkChunks waits for consume's copies and checks that there are want
// chunks, in order, every slot present with the sender's bytes.
func (cg *counterGroup) checkChunks(t *testing.T, want int) {
	t.Helper()
	var got []*chunk.Chunk
	select {
	case got = <-cg.got:
	case <-time.After(20 * time.Second):
		t.Fatal("data ring did not stop after every member received a stop heap")
	}
	if len(got) != want {
		t.Fatalf("got %d chunks, want %d", len(got), want)
	}
	for i, c := range got {
		if c.ChunkID != int64(i) {
			t.Fatalf("chunk %d has ID %d", i, c.ChunkID)
		}
		for slot := 0; slot < cg.heapsPerChunk; slot++ {
			if c.Present()[slot] != 1 {
				t.Fatalf("chunk %d slot %d missing", i, slot)
			}
			cnt := uint64(i*cg.heapsPerChunk + slot)
			if bad := send.CheckPattern(c.Data()[slot*cg.heapSize:(slot+1)*cg.heapSize], cnt, 0); bad >= 0 {
				t.Fatalf("chunk %d slot %d byte %d differs", i, slot, bad)
			}
		}
	}
}
