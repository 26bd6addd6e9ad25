"""4-member groups over UDP and TCP on loopback, exact contents."""

import threading
import time

import pytest

from chunkgroup import Stopped, recv, send
from conftest import (
    HPC, LOSSLESS, LOSSY, TS_ID, check_chunks, collect, make_group, payload, tcp_listener, udp_socket,
)

MODES = [
    pytest.param(dict(mode=LOSSY, group_chunks=8, n_free=8), False, id="lossy"),
    pytest.param(dict(mode=LOSSLESS, group_chunks=2, n_free=4), True, id="lossless"),
]


@pytest.mark.parametrize("kw, recycle", MODES)
def test_udp(kw, recycle):
    socks = [udp_socket() for _ in range(4)]
    g = make_group(**kw)
    for m, s in zip(g, socks):
        m.add_udp_reader(s)
    ts = list(range(4 * HPC))
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("got", collect(g, recycle=recycle)))
    t.start()
    with send.UdpSender([s.getsockname() for s in socks], rate=20e6) as tx:
        for x in ts:
            tx.send_heap(x + 1, {TS_ID: x}, payload(x), dest=x % 4)
        tx.send_stop()
    t.join(30)
    assert not t.is_alive()
    check_chunks(result["got"], ts, range(4))
    for s in socks:
        s.close()


def test_udp_port_form():
    probe = udp_socket()
    port = probe.getsockname()[1]
    probe.close()
    g = make_group(n_members=1)
    g[0].add_udp_reader(port, bind_hostname="127.0.0.1")
    assert g[0].last_reader_port == port
    ts = list(range(HPC))
    with send.UdpSender(("127.0.0.1", port)) as tx:
        for x in ts:
            tx.send_heap(x + 1, {TS_ID: x}, payload(x))
        tx.send_stop()
    check_chunks(collect(g, recycle=False), ts, [0])


@pytest.mark.parametrize("kw, recycle", MODES)
def test_tcp(kw, recycle):
    g = make_group(**kw)
    listeners = [tcp_listener() for _ in range(2)]
    ports = []
    for i in range(4):
        if i < 2:
            g[i].add_tcp_reader(listeners[i])  # acceptor socket form
            ports.append(listeners[i].getsockname()[1])
        else:
            g[i].add_tcp_reader(0, bind_hostname="127.0.0.1")  # port form
            ports.append(g[i].last_reader_port)
    assert all(ports)
    ts = list(range(4 * HPC))
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("got", collect(g, recycle=recycle)))
    t.start()
    senders = [send.TcpSender(("127.0.0.1", p)) for p in ports]
    for x in ts:
        senders[x % 4].send_heap(x + 1, {TS_ID: x}, payload(x))
    for s in senders:
        s.close()  # end of connection stops the member
    t.join(30)
    assert not t.is_alive()
    check_chunks(result["got"], ts, range(4))
    for s in listeners:
        s.close()


def test_stop_without_stopping_senders():
    socks = [udp_socket() for _ in range(4)]
    g = make_group(mode=LOSSY, group_chunks=4, n_free=8)
    for m, s in zip(g, socks):
        m.add_udp_reader(s)
    stop_sending = threading.Event()

    def sender():
        with send.UdpSender([s.getsockname() for s in socks], rate=2e6) as tx:
            x = 0
            while not stop_sending.is_set():
                tx.send_heap(x + 1, {TS_ID: x}, payload(x), dest=x % 4)
                x += 1

    st = threading.Thread(target=sender)
    st.start()
    try:
        first = collect(g, recycle=True, stop_after=2)
        assert [x.chunk_id for x in first] == [0, 1]
        t0 = time.monotonic()
        g.stop()  # while packets keep arriving
        assert time.monotonic() - t0 < 20
        rest = collect(g, recycle=False)
        assert [x.chunk_id for x in rest] == list(range(2, 2 + len(rest)))
        with pytest.raises(Stopped):
            g.data_ringbuffer.get()
    finally:
        stop_sending.set()
        st.join(10)
    for s in socks:
        s.close()


SOL_UDP, UDP_GRO = 17, 104  # <netinet/udp.h>; the socket module lacks them


@pytest.mark.parametrize("adopted", [False, True], ids=["bound", "adopted"])
def test_udp_gro(adopted):
    """With GRO requested, the reader still delivers exact contents (the
    kernel coalesces only what a segmenting sender sends; either way each
    datagram must come out whole). An adopted socket gets the option too
    (bench.py's GRO runs hand over their own sockets)."""
    probe = udp_socket()
    port = probe.getsockname()[1]
    if adopted:
        try:
            probe.setsockopt(SOL_UDP, UDP_GRO, 0)
        except OSError as e:
            probe.close()
            pytest.skip(f"kernel refuses UDP_GRO ({e}), so the reader receives without it")
    g = make_group(n_members=1)
    g[0].set_udp_gro(True)
    if adopted:
        g[0].add_udp_reader(probe)
        assert probe.getsockopt(SOL_UDP, UDP_GRO) == 1
    else:
        probe.close()
        g[0].add_udp_reader(port, bind_hostname="127.0.0.1")
    ts = list(range(2 * HPC))
    with send.UdpSender(("127.0.0.1", port), rate=20e6) as tx:
        for x in ts:
            tx.send_heap(x + 1, {TS_ID: x}, payload(x))
        tx.send_stop()
    check_chunks(collect(g, recycle=False), ts, [0, 1])
    probe.close()
