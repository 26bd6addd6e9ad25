package metrics

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/chunkgroup/chunkgroup/core/chunk"
	"github.com/chunkgroup/chunkgroup/core/recv"
)

func testGroup(t *testing.T) []*recv.Stream {
	g, err := recv.NewGroup(recv.GroupConfig{MaxChunks: 2,
		Allocate: func(int64, []uint64) *chunk.Chunk { return nil }, Ready: func(*chunk.Chunk, []uint64) {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Stop() })
	var ss []*recv.Stream
	for i := 0; i < 2; i++ {
		cfg := recv.DefaultStreamConfig()
		cfg.AddStat("odd name-1", recv.StatMaximum)
		ccfg := recv.DefaultChunkStreamConfig()
		ccfg.Items = recv.CounterItems()
		ccfg.Place = recv.CounterGrid(4, 64)
		s, err := g.EmplaceBack(cfg, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	ss[1].AddBatch([][]byte{{1, 2, 3}}) // one malformed packet, one batch
	return ss
}

// The exposition is well formed (HELP, TYPE, samples; names and labels in
// the grammar's alphabet) and carries every statistic of every stream.
func TestWriteExposition(t *testing.T) {
	ss := testGroup(t)
	srv := httptest.NewServer(Handler(func() []*recv.Stream { return ss }))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		t.Fatalf("content type %q", ct)
	}
	body, _ := io.ReadAll(resp.Body)
	sample := regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*\{stream="[0-9]+"\} [0-9]+$`)
	values := map[string]string{}
	families := 0
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# TYPE "):
			families++
		case strings.HasPrefix(line, "# HELP "):
		case sample.MatchString(line):
			f := strings.Fields(line)
			values[f[0]] = f[1]
		default:
			t.Fatalf("line not in the exposition format: %q", line)
		}
	}
	if want := len(ss[0].StatConfig()); families != want {
		t.Fatalf("%d metric families, want %d", families, want)
	}
	for k, want := range map[string]string{
		`chunkgroup_stream_malformed_packets_total{stream="1"}`: "1",
		`chunkgroup_stream_malformed_packets_total{stream="0"}`: "0",
		`chunkgroup_stream_batches_total{stream="1"}`:           "1",
		`chunkgroup_stream_odd_name_1{stream="0"}`:              "0",
		`chunkgroup_stream_max_batch{stream="1"}`:               "1",
	} {
		if values[k] != want {
			t.Fatalf("%s = %q, want %q\n%s", k, values[k], want, body)
		}
	}
}
