package main

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// The CG_XDP_* numbers of the header are the ones capi/xdp.go uses.
func TestXDPConstantsMatchHeader(t *testing.T) {
	src, err := os.ReadFile("../include/chunkgroup.h")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"CG_XDP_ZERO_COPY_AUTO": cgXDPZeroCopyAuto, "CG_XDP_ZERO_COPY_ON": cgXDPZeroCopyOn,
		"CG_XDP_ZERO_COPY_OFF": cgXDPZeroCopyOff, "CG_XDP_MODE_ZERO_COPY": cgXDPModeZeroCopy,
		"CG_XDP_MODE_NATIVE": cgXDPModeNative,
	}
	for name, v := range want {
		m := regexp.MustCompile(`#define\s+` + name + `\s+(\d+)`).FindSubmatch(src)
		if m == nil {
			t.Errorf("%s not in the header", name)
			continue
		}
		if got, _ := strconv.Atoi(string(m[1])); got != v {
			t.Errorf("%s: header %d, Go %d", name, got, v)
		}
	}
}
