package transport_test

// Network namespaces and veth pairs for the AF_XDP tests: each test makes
// two namespaces of its own (names carry the test process's pid and a
// counter, so parallel runs and packages do not collide), a veth pair with
// one end in each, and addresses from 198.18.0.0/15 (the benchmarking
// range, never routed). Cleanup deletes both namespaces, which deletes the
// veth pair, also when the test fails.

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var netnsSeq atomic.Int32

// vethPair is a veth link between namespace A (the sender's) and B (the
// receiver's).
type vethPair struct {
	nsA, nsB     string
	ifA, ifB     string
	addrA, addrB netip.Addr
}

// ipCmd runs ip(8) (or tc) and returns its combined output on failure.
func ipCmd(args ...string) error {
	out, err := exec.Command(ipPath(), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func ipPath() string {
	if p, err := exec.LookPath("ip"); err == nil {
		return p
	}
	return "/usr/sbin/ip"
}

// removeStaleNamespaces deletes namespaces an earlier, killed test process
// left behind (its pid is in the name and no longer runs).
func removeStaleNamespaces() {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "cgxdp-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if unix.Kill(pid, 0) == unix.ESRCH {
			_ = ipCmd("netns", "del", e.Name())
		}
	}
}

// newVethPair makes the namespaces and the link with queues RX and TX
// queues on each end, or skips the test with the reason when this machine
// cannot (not root, no ip(8), no namespaces, no veth).
func newVethPair(t *testing.T, queues int) *vethPair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("AF_XDP tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN for namespaces, CAP_BPF, CAP_NET_RAW)")
	}
	if _, err := os.Stat(ipPath()); err != nil {
		t.Skipf("AF_XDP tests need ip(8): %v", err)
	}
	removeStaleNamespaces()
	n := netnsSeq.Add(1)
	p := &vethPair{
		nsA: fmt.Sprintf("cgxdp-%d-%d-a", os.Getpid(), n), nsB: fmt.Sprintf("cgxdp-%d-%d-b", os.Getpid(), n),
		ifA: fmt.Sprintf("cgxa%d", n), ifB: fmt.Sprintf("cgxb%d", n),
		addrA: netip.MustParseAddr("198.18.0.1"), addrB: netip.MustParseAddr("198.18.0.2"),
	}
	if err := ipCmd("netns", "add", p.nsA); err != nil {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() { _ = ipCmd("netns", "del", p.nsA) })
	if err := ipCmd("netns", "add", p.nsB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ipCmd("netns", "del", p.nsB) })
	q := strconv.Itoa(queues)
	const macA, macB = "02:00:c6:12:00:01", "02:00:c6:12:00:02"
	if err := ipCmd("link", "add", p.ifA, "address", macA, "netns", p.nsA, "numtxqueues", q, "numrxqueues", q, "type", "veth",
		"peer", "name", p.ifB, "address", macB, "netns", p.nsB, "numtxqueues", q, "numrxqueues", q); err != nil {
		t.Skipf("cannot create a veth pair: %v", err)
	}
	for _, c := range [][]string{
		{"-n", p.nsA, "addr", "add", p.addrA.String() + "/30", "dev", p.ifA},
		{"-n", p.nsB, "addr", "add", p.addrB.String() + "/30", "dev", p.ifB},
		{"-n", p.nsA, "link", "set", "lo", "up"},
		{"-n", p.nsB, "link", "set", "lo", "up"},
		{"-n", p.nsA, "link", "set", p.ifA, "up"},
		{"-n", p.nsB, "link", "set", p.ifB, "up"},
		// Static neighbours: no ARP round trip, so no packet waits in the
		// neighbour queue and leaves later from another CPU (and TX queue).
		{"-n", p.nsA, "neigh", "replace", p.addrB.String(), "lladdr", macB, "dev", p.ifA, "nud", "permanent"},
		{"-n", p.nsB, "neigh", "replace", p.addrA.String(), "lladdr", macA, "dev", p.ifB, "nud", "permanent"},
	} {
		if err := ipCmd(c...); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// inNetns runs fn on a goroutine whose OS thread has entered namespace ns;
// sockets (and XDP attachments) fn creates belong to that namespace and
// stay there. The thread is never unlocked: a thread that changed
// namespace must not go back to the runtime's pool, so it ends with the
// goroutine.
func inNetns(t *testing.T, ns string, fn func() error) {
	t.Helper()
	if err := inNetnsErr(ns, fn); err != nil {
		t.Fatal(err)
	}
}

func inNetnsErr(ns string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic in namespace %s: %v", ns, p)
			}
		}()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		done <- fn()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("function in namespace " + ns + " did not return within 30 s")
	}
}
