"""Heaps sent by spead2's own sender, received by a chunkgroup group."""

import threading

import numpy as np
import pytest

from conftest import HEAP_SIZE, HPC, TS_ID, check_chunks, collect, make_group, payload, tcp_listener, udp_socket

import spead2  # noqa: E402  (a test dependency: requirements-test.txt)
import spead2.send  # noqa: E402


def _item_group():
    ig = spead2.send.ItemGroup(flavour=spead2.Flavour(4, 64, 48, 0))
    ig.add_item(TS_ID, "timestamp", "", shape=(), format=[("u", 48)])
    ig.add_item(0x3000, "data", "", shape=(HEAP_SIZE,), dtype=np.uint8)
    return ig


def _heap(ig, ts):
    ig["timestamp"].value = ts
    ig["data"].value = np.frombuffer(payload(ts), np.uint8)
    heap = ig.get_heap(descriptors="none", data="all")
    heap.repeat_pointers = True
    return heap


def test_bytes_stream_through_buffer_reader():
    ts = list(range(4 * HPC))
    bufs = []
    for i in range(4):
        stream = spead2.send.BytesStream(spead2.ThreadPool(), spead2.send.StreamConfig(max_packet_size=1500))
        ig = _item_group()
        for x in ts:
            if x % 4 == i:
                stream.send_heap(_heap(ig, x))
        stream.send_heap(ig.get_end())
        bufs.append(stream.getvalue())
    g = make_group()
    for m, b in zip(g, bufs):
        m.add_buffer_reader(b)
    check_chunks(collect(g, recycle=False), ts, range(4))


def test_udp_stream():
    socks = [udp_socket() for _ in range(4)]
    g = make_group()
    for m, s in zip(g, socks):
        m.add_udp_reader(s)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("got", collect(g, recycle=False)))
    t.start()
    ts = list(range(4 * HPC))
    stream = spead2.send.UdpStream(spead2.ThreadPool(), [s.getsockname() for s in socks],
                                   spead2.send.StreamConfig(max_packet_size=1472, rate=20e6))
    ig = _item_group()
    for x in ts:
        stream.send_heap(_heap(ig, x), substream_index=x % 4)
    for i in range(4):
        stream.send_heap(ig.get_end(), substream_index=i)
    t.join(30)
    assert not t.is_alive()
    check_chunks(result["got"], ts, range(4))
    for s in socks:
        s.close()


def test_tcp_stream():
    listeners = [tcp_listener() for _ in range(4)]
    g = make_group()
    for m, s in zip(g, listeners):
        m.add_tcp_reader(s)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("got", collect(g, recycle=False)))
    t.start()
    ts = list(range(4 * HPC))
    streams = [spead2.send.TcpStream(spead2.ThreadPool(), [s.getsockname()]) for s in listeners]
    ig = _item_group()
    for x in ts:
        streams[x % 4].send_heap(_heap(ig, x))
    for s in streams:
        s.send_heap(ig.get_end())
    del streams
    t.join(30)
    assert not t.is_alive()
    check_chunks(result["got"], ts, range(4))
    for s in listeners:
        s.close()
