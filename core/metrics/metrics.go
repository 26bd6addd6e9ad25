// Package metrics writes streams' statistics in the Prometheus text
// exposition format (version 0.0.4), for chunkgroup-recv --metrics and for
// anyone embedding the engine: one metric family per statistic, one sample
// per stream, labelled with the stream's index.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/chunkgroup/chunkgroup/core/recv"
)

// Prefix starts every metric name.
const Prefix = "chunkgroup_stream_"

// ContentType is the exposition format's HTTP content type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Write writes every statistic of every stream: counters as counters (with
// the _total suffix), maxima as gauges.
func Write(w io.Writer, streams []*recv.Stream) error {
	if len(streams) == 0 {
		return nil
	}
	snaps := make([]recv.Stats, len(streams))
	for i, s := range streams {
		snaps[i] = s.Stats()
	}
	var b strings.Builder
	for k, c := range snaps[0].Config {
		name, typ := Prefix+sanitize(c.Name), "gauge"
		if c.Mode == recv.StatCounter {
			name, typ = name+"_total", "counter"
		}
		fmt.Fprintf(&b, "# HELP %s chunkgroup statistic %s, per member stream.\n# TYPE %s %s\n", name, c.Name, name, typ)
		for i, st := range snaps {
			if k < len(st.Values) {
				fmt.Fprintf(&b, "%s{stream=\"%d\"} %d\n", name, i, st.Values[k])
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Handler serves Write for the streams that streams() returns at each scrape.
func Handler(streams func() []*recv.Stream) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		_ = Write(w, streams())
	})
}

// sanitize keeps a metric name to [a-zA-Z0-9_] (custom statistics may be
// named anything).
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}
