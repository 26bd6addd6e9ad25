"""AF_XDP reader from Python: the sender in one network namespace, the
reader on a veth end in another (both namespaces and the veth pair made by
the test, addresses from 198.18.0.0/15, deleted afterwards even on
failure), exact chunk contents and statistics.

A thread enters a namespace with setns(2) (through ctypes: Python 3.11 has
no os.setns); sockets created on it, including the library's AF_XDP
socket (the C call runs on the calling thread), belong to that namespace
and stay there.
"""

import ctypes
import errno
import os
import shutil
import subprocess
import threading

import pytest

from chunkgroup import recv, send
from conftest import HPC, LOSSLESS, TS_ID, check_chunks, collect, make_group, payload

CLONE_NEWNET = 0x40000000
IP = shutil.which("ip") or "/usr/sbin/ip"
A_ADDR, B_ADDR = "198.18.0.1", "198.18.0.2"
MAC_A, MAC_B = "02:00:c6:12:00:11", "02:00:c6:12:00:12"
PORT = 7148

_libc = ctypes.CDLL(None, use_errno=True)


def _ip(*args: str) -> None:
    p = subprocess.run([IP, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {p.stderr.strip()}")


def in_netns(ns: str, fn):
    """Run fn on a fresh thread that entered namespace ns; return its result."""
    out = {}

    def run() -> None:
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, f"setns {ns}: {os.strerror(e)}")
            finally:
                os.close(fd)
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised on the caller's thread
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert not t.is_alive(), f"function in namespace {ns} did not return"
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.fixture
def veth():
    if os.geteuid() != 0:
        pytest.skip("AF_XDP tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN for namespaces, CAP_BPF, CAP_NET_RAW)")
    if not os.path.exists(IP):
        pytest.skip("AF_XDP tests need ip(8)")
    pid = os.getpid()
    ns_a, ns_b = f"cgxdp-py{pid}-a", f"cgxdp-py{pid}-b"
    if_a, if_b = "cgxpa", "cgxpb"
    try:
        _ip("netns", "add", ns_a)
    except RuntimeError as e:
        pytest.skip(f"cannot create a network namespace: {e}")
    try:
        _ip("netns", "add", ns_b)
        _ip("link", "add", if_a, "address", MAC_A, "netns", ns_a, "type", "veth",
            "peer", "name", if_b, "address", MAC_B, "netns", ns_b)
        for args in (
            ("-n", ns_a, "addr", "add", A_ADDR + "/30", "dev", if_a),
            ("-n", ns_b, "addr", "add", B_ADDR + "/30", "dev", if_b),
            ("-n", ns_a, "link", "set", if_a, "up"),
            ("-n", ns_b, "link", "set", if_b, "up"),
            # Static neighbours: no ARP exchange before the first datagram.
            ("-n", ns_a, "neigh", "replace", B_ADDR, "lladdr", MAC_B, "dev", if_a, "nud", "permanent"),
            ("-n", ns_b, "neigh", "replace", A_ADDR, "lladdr", MAC_A, "dev", if_b, "nud", "permanent"),
        ):
            _ip(*args)
        yield ns_a, ns_b, if_b
    finally:
        for ns in (ns_a, ns_b):
            subprocess.run([IP, "netns", "del", ns], capture_output=True)


def _add_reader(member, ns, cfg):
    try:
        return in_netns(ns, lambda: member.add_udp_xdp_reader(cfg))
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES, errno.EAFNOSUPPORT, errno.ENOSYS):
            pytest.skip(str(e))
        raise


def test_xdp_reader_exact(veth):
    ns_a, ns_b, if_b = veth
    g = make_group(mode=LOSSLESS, group_chunks=2, n_free=4, n_members=1)
    cfg = recv.UdpXdpConfig(endpoints=[(B_ADDR, PORT)], interface=if_b, queue=0, buffer_size=4 << 20, zero_copy=None)
    mode = _add_reader(g[0], ns_b, cfg)
    assert mode["zero_copy"] is False  # veth has no zero-copy AF_XDP
    ts = list(range(4 * HPC))
    tx = in_netns(ns_a, lambda: send.UdpSender((B_ADDR, PORT), rate=20e6))
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("got", collect(g, recycle=True)))
    t.start()
    with tx:
        for x in ts:
            tx.send_heap(x + 1, {TS_ID: x}, payload(x))
        tx.send_stop()
    t.join(30)
    assert not t.is_alive()
    check_chunks(result["got"], ts, range(4))
    st = g[0].stats
    assert st.packets == len(ts) + 1 and st.heaps == len(ts)  # + 1 packet: the stop heap
    assert st["malformed_packets"] == 0 and st["too_old_heaps"] == 0 and st.incomplete_heaps_evicted == 0
    g.stop()


def test_xdp_config_errors(veth):
    ns_a, ns_b, if_b = veth
    g = make_group(n_members=1)
    with pytest.raises(ValueError, match="interface"):
        in_netns(ns_b, lambda: g[0].add_udp_xdp_reader(recv.UdpXdpConfig(endpoints=[("", PORT)], interface="no-such-if0")))
    with pytest.raises(ValueError, match="endpoints"):
        g[0].add_udp_xdp_reader(recv.UdpXdpConfig(interface=if_b))
    with pytest.raises(ValueError, match="IPv4"):
        in_netns(ns_b, lambda: g[0].add_udp_xdp_reader(recv.UdpXdpConfig(endpoints=[("::1", PORT)], interface=if_b)))
    with pytest.raises(ValueError):
        recv.UdpXdpConfig(endpoints=[("", 0)])
    with pytest.raises(TypeError):
        recv.UdpXdpConfig(zero_copy=1)
    c = recv.UdpXdpConfig(endpoints=[("", 1)], interface_address="198.18.0.2", busy_poll=50)
    assert c.interface == "198.18.0.2" and c.interface_address == "198.18.0.2" and c.busy_poll == 50
    assert c.endpoints == [("", 1)] and c.zero_copy is None and c.queue == 0
    g.stop()
