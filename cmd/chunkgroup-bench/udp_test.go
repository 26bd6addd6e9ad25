package main

import "testing"

// TestUDPReadersGRO: --gro gives every stream's reader UDP receive
// offload, and without it none has it (bench.py's "GRO" columns and the
// plain ones differ in this one setting).
func TestUDPReadersGRO(t *testing.T) {
	for _, gro := range []bool{false, true} {
		args := []string{"--streams", "2"}
		if gro {
			args = append(args, "--gro")
		}
		o, err := udpFlags("udp", args)
		if err != nil {
			t.Fatal(err)
		}
		rs, dests, _, err := newUDPReaders(o)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 2 || len(dests) != 2 {
			t.Fatalf("%d readers, %d destinations; want 2, 2", len(rs), len(dests))
		}
		got := []bool{rs[0].GRO(), rs[1].GRO()}
		for _, r := range rs {
			r.Close()
		}
		if gro && !got[0] && !got[1] {
			t.Skip("kernel refused UDP_GRO (the readers receive without it)")
		}
		if got[0] != gro || got[1] != gro {
			t.Fatalf("--gro %v: readers' GRO %v", gro, got)
		}
	}
}
