package send

import (
	"fmt"
	"net"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/spead"
)

// TestMeasureRateAccuracy is a measurement, not a check: with
// CHUNKGROUP_SEND_MEASURE=1 it sends the large scenario to a loopback socket
// (nobody reads it; the kernel drops the overflow) at several rates for 2 s
// each and logs the achieved rate over 100 ms windows. It asserts nothing
// about speed.
func TestMeasureRateAccuracy(t *testing.T) {
	if os.Getenv("CHUNKGROUP_SEND_MEASURE") == "" {
		t.Skip("set CHUNKGROUP_SEND_MEASURE=1 to measure rate accuracy")
	}
	for _, gso := range []bool{false, true} {
		for _, gbps := range []float64{0, 1, 2, 5, 10} {
			measureRate(t, gbps*1e9/8, gso, 2*time.Second)
		}
	}
}

func measureRate(t *testing.T, rate float64, gso bool, dur time.Duration) {
	sc := Scenarios["large"]
	enc, _ := spead.NewEncoder(sc.EncoderConfig())
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := NewUDPSender(UDPConfig{Destinations: []string{c.LocalAddr().String()}, Rate: rate, GSO: gso}, enc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	syn, _ := NewSynth(sc.SynthConfig())
	const win = 100 * time.Millisecond
	var wins []float64
	start := time.Now()
	wstart, wbytes := start, uint64(0)
	for cnt := uint64(0); ; cnt++ {
		if err := s.SendHeap(syn.Heap(cnt), 0); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if el := now.Sub(wstart); el >= win {
			b := s.Stats().Bytes
			wins = append(wins, float64(b-wbytes)/el.Seconds())
			wstart, wbytes = now, b
		}
		if now.Sub(start) >= dur {
			break
		}
	}
	s.Flush()
	st := s.Stats()
	total := float64(st.Bytes) / time.Since(start).Seconds()
	sorted := append([]float64(nil), wins...)
	sort.Float64s(sorted)
	gb := func(v float64) string { return fmt.Sprintf("%.3f", v*8/1e9) }
	asked := "unlimited"
	if rate > 0 {
		asked = gb(rate) + " Gb/s"
	}
	t.Logf("gso=%v asked %s: overall %s Gb/s; 100ms windows min %s median %s max %s Gb/s (%d windows); %d sleeps, %d calls",
		st.GSO, asked, gb(total), gb(sorted[0]), gb(sorted[len(sorted)/2]), gb(sorted[len(sorted)-1]), len(wins), st.Sleeps, st.Calls)
}
