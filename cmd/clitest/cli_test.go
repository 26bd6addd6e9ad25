// Package clitest runs the built command-line tools with bad invocations and
// checks what a user sees: the exit code (2 for a usage error, found before
// anything is sent or bound; 1 for a failure while running), one message
// with one prefix on stderr, and --help on stdout with exit 0.
package clitest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func build(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, "github.com/chunkgroup/chunkgroup/cmd/"+name)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("building %s: %v", name, err)
	}
	return out
}

func runTool(t *testing.T, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

func TestBadInvocations(t *testing.T) {
	sendBin, recvBin := build(t, "chunkgroup-send"), build(t, "chunkgroup-recv")
	cases := []struct {
		bin  string
		args []string
		code int
		msg  string // stderr must contain it
	}{
		{sendBin, []string{"--dest", "127.0.0.1:9", "--packet-payload", "100000"}, 2, "more than the largest UDP datagram"},
		{sendBin, []string{"--dest", "127.0.0.1:9", "--heap-size", "0"}, 2, "--heap-size must be positive, got 0"},
		{sendBin, []string{"--dest", "127.0.0.1:9", "--packet-payload", "-5"}, 2, "--packet-payload must be positive"},
		{sendBin, []string{"--dest", "127.0.0.1:9", "--duration", "-1s"}, 2, "--duration must not be negative"},
		{sendBin, []string{"--dest", "127.0.0.1:9", "stray"}, 2, `unexpected arguments ["stray"]`},
		{sendBin, []string{"--dest", "127.0.0.1:9", "--rate", "fast"}, 2, `--rate: bad rate "fast"`},
		{sendBin, []string{"--dest", "127.0.0.1:9", "--batch", "0"}, 2, "--batch must be positive"},
		{sendBin, []string{"--dest", "127.0.0.1:9", "--scenario", "huge"}, 2, `unknown --scenario "huge"`},
		{sendBin, []string{}, 2, "--dest is required"},
		{sendBin, []string{"--no-such-flag"}, 2, "flag provided but not defined"},
		{sendBin, []string{"--dest", "no-port-here", "--heaps", "1"}, 2, `--dest: "no-port-here" is not host:port`},
		{sendBin, []string{"--dest", "127.0.0.1:9", "--tcp", "--heaps", "1"}, 1, "connection refused"},
		{recvBin, []string{"stray"}, 2, `unexpected arguments ["stray"]`},
		{recvBin, []string{"--duration", "-1s"}, 2, "--duration must not be negative"},
		{recvBin, []string{"--max-chunks", "0"}, 2, "--max-chunks must be positive"},
		{recvBin, []string{"--max-chunks", "2", "--stream-max-chunks", "3"}, 2, "--stream-max-chunks between 0 and it"},
		{recvBin, []string{"--listen", "nonsense"}, 2, `--listen: "nonsense" is not host:port`},
		{recvBin, []string{"--scenario", "huge"}, 2, `unknown scenario "huge"`},
		{recvBin, []string{"--no-such-flag"}, 2, "flag provided but not defined"},
		{recvBin, []string{"--xdp", "eth0:x"}, 2, `--xdp: "eth0:x": the queue after ':' must be a non-negative integer`},
		{recvBin, []string{"--xdp", "a:0,b:1", "--listen", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"}, 2, "--xdp: 2 interface queues for 3 endpoints"},
		{recvBin, []string{"--xdp", "eth0", "--tcp"}, 2, "--xdp receives UDP: it excludes --tcp"},
		{recvBin, []string{"--xdp-mode", "fast"}, 2, `--xdp-mode: "fast" is not auto, zero-copy or copy`},
		{recvBin, []string{"--xdp", "no-such-if0", "--listen", "127.0.0.1:7148", "--duration", "1s"}, 1, `interface "no-such-if0"`},
	}
	for _, c := range cases {
		code, stdout, stderr := runTool(t, c.bin, c.args...)
		name := filepath.Base(c.bin) + " " + strings.Join(c.args, " ")
		if code != c.code {
			t.Errorf("%s: exit %d, want %d (stderr %q)", name, code, c.code, stderr)
		}
		if !strings.Contains(stderr, c.msg) {
			t.Errorf("%s: stderr %q does not say %q", name, stderr, c.msg)
		}
		prefix := filepath.Base(c.bin) + ": "
		if strings.Count(stderr, prefix) > 1 || strings.Contains(stderr, prefix+"send: ") ||
			strings.Contains(stderr, ": spead: ") {
			t.Errorf("%s: the prefix repeats: %q", name, stderr)
		}
		if code == 2 && stdout != "" {
			t.Errorf("%s: a usage error printed to stdout: %q", name, stdout)
		}
	}
	for _, bin := range []string{sendBin, recvBin} {
		code, stdout, stderr := runTool(t, bin, "--help")
		if code != 0 || !strings.HasPrefix(stdout, "Usage: "+filepath.Base(bin)) || stderr != "" {
			t.Errorf("%s --help: exit %d, stdout %.40q, stderr %q", filepath.Base(bin), code, stdout, stderr)
		}
	}
}
