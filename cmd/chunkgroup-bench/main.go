// Command chunkgroup-bench runs the benchmark scenarios of
// shared/spec/performance.md from Go and prints one JSON object per line on
// standard output (diagnostics go to standard error), so that
// bench/bench.py, or a person with jq, can put the figures side by side.
//
// Subcommands:
//
//	memory    ring group fed by in-memory readers over pre-built packets
//	memcpy    the machine's copy bandwidth for the scenario's block sizes
//	udp       ring group fed by UDP readers, sender in a child process;
//	          one rate, or a binary search for the highest zero-loss rate
//	recvmmsg  bare UDP readers with a no-op sink: the receive ceiling
//	veth      UDP reader against AF_XDP reader over a veth pair between two
//	          network namespaces (root), same search as udp
//	packets   write the scenario's packet stream to a file (for Python)
//
// Run "chunkgroup-bench SUBCOMMAND -h" for each one's flags.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/chunkgroup/chunkgroup/core/send"
	"golang.org/x/sys/unix"
)

const usage = `Usage: chunkgroup-bench SUBCOMMAND [flags]

Benchmarks of shared/spec/performance.md; every result is one JSON object
per line on standard output.

Subcommands:
  memory    N-stream ring group over pre-built in-memory packets: payload GB/s,
            packets/s, CPU seconds per GB
  memcpy    copy bandwidth for the scenario's block and chunk sizes
  udp       N-stream ring group over loopback UDP from chunkgroup-send: loss at
            one rate, or (--search) the highest rate with no heap lost
  recvmmsg  bare recvmmsg readers discarding data, fed the same way: the
            receive ceiling the udp figure is compared with
  veth      the UDP reader and the AF_XDP reader over one veth pair between
            two network namespaces (root): highest zero-loss rate, CPU s/GB
  packets   write a scenario's packets (heap i after heap i-1) to a file
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"memory":   cmdMemory,
		"memcpy":   cmdMemcpy,
		"udp":      cmdUDP,
		"recvmmsg": cmdRecvmmsg,
		"veth":     cmdVeth,
		"packets":  cmdPackets,
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		fmt.Print(usage)
		return
	}
	fn, ok := cmds[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "chunkgroup-bench: unknown subcommand %q\n%s", name, usage)
		os.Exit(2)
	}
	// CHUNKGROUP_CPUPROFILE=FILE writes a CPU profile of the run (go tool pprof).
	if path := os.Getenv("CHUNKGROUP_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	stopProfiles := startProfiles()
	err := fn(os.Args[2:])
	stopProfiles()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintf(os.Stderr, "chunkgroup-bench %s: %v\n", name, err)
		os.Exit(1)
	}
}

// emit prints one result line.
func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own result types always marshal
	}
	os.Stdout.Write(append(b, '\n'))
}

// scenario looks up a scenario by name.
func scenario(name string) (send.Scenario, error) {
	sc, ok := send.Scenarios[name]
	if !ok {
		return sc, fmt.Errorf("unknown scenario %q (large or small)", name)
	}
	return sc, nil
}

// cpuSeconds is the process's user+system CPU time so far.
func cpuSeconds() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// gcCount is the number of completed GC cycles.
func gcCount() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}

// round keeps JSON figures readable.
func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func since(t time.Time) float64 { return time.Since(t).Seconds() }
