package main

import (
	"testing"
	"unsafe"

	"github.com/chunkgroup/chunkgroup/core/logx"
	"github.com/chunkgroup/chunkgroup/core/recv"
)

// TestLayout checks that the Go types the C ABI converts pointers to
// (chunk.Chunk, recv.PlaceData and the mirrors of cg_grid, cg_item,
// cg_sender_config) and the shared constants agree with the header.
func TestLayout(t *testing.T) {
	c := cLayout()
	g := goLayout()
	if len(c) != len(g) {
		t.Fatalf("layout tables differ in length: C %d, Go %d", len(c), len(g))
	}
	for i, e := range g {
		if c[i] != e.value {
			t.Errorf("%s: C says %d, Go says %d", e.name, c[i], e.value)
		}
	}
	if recv.PlaceDataSize != unsafe.Sizeof(recv.PlaceData{}) {
		t.Fatal("PlaceDataSize")
	}
	if logx.Error != 3 || logx.Debug != 0 {
		t.Fatal("log levels")
	}
}

// TestHandles checks uniqueness and that freed handles are gone for good.
func TestHandles(t *testing.T) {
	type obj struct{ n int }
	a := newHandle(&obj{1})
	b := newHandle(&obj{2})
	if a == nil || b == nil || a == b {
		t.Fatalf("handles %p %p", a, b)
	}
	if o, ok := handles.get(a).(*obj); !ok || o.n != 1 {
		t.Fatalf("get(a) = %v", handles.get(a))
	}
	if _, ok := removeHandle[*obj](a); !ok {
		t.Fatal("remove failed")
	}
	if _, ok := removeHandle[*obj](a); ok {
		t.Fatal("second remove succeeded")
	}
	if handles.get(a) != nil {
		t.Fatal("freed handle still resolves")
	}
	if _, ok := removeHandle[*int](b); ok {
		t.Fatal("remove with the wrong type succeeded")
	}
	c := newHandle(&obj{3})
	if c == a {
		t.Fatal("handle reused")
	}
	removeHandle[*obj](b)
	removeHandle[*obj](c)
}
