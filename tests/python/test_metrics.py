"""Live metrics in the Prometheus text format, scraped over loopback and
parsed with prometheus_client's parser: chunkgroup.metrics.serve from
Python, and chunkgroup-recv --metrics."""

import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import chunkgroup.metrics
from chunkgroup import send
from conftest import HPC, TS_ID, collect, make_group, member_buffers, payload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.headers["Content-Type"] == chunkgroup.metrics.CONTENT_TYPE
        return r.read().decode()


def _samples(text):
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, s.labels["stream"])] = (fam.type, s.value)
    return out


def test_serve_group_statistics():
    ts = list(range(2 * HPC))
    g = make_group()
    for m, b in zip(g, member_buffers(ts)):
        m.add_buffer_reader(b)
    collect(g, recycle=False)
    with chunkgroup.metrics.serve(g, 0) as server:
        got = _samples(_scrape(server.port))
    for i, m in enumerate(g):
        st = m.stats
        for name, value in st.items():
            mode = "counter" if name != "max_batch" else "gauge"
            key = f"chunkgroup_stream_{name}_total" if mode == "counter" else f"chunkgroup_stream_{name}"
            assert got[(key, str(i))] == (mode, value), (key, i)
    assert got[("chunkgroup_stream_heaps_total", "0")][1] == len(ts) // 4
    g.stop()


def test_chunkgroup_recv_metrics():
    go = shutil.which("go")
    assert go, "the Go toolchain is a test requirement"
    binary = os.path.join(ROOT, "build", "chunkgroup-recv-metrics-test")
    subprocess.run([go, "build", "-o", binary, "./cmd/chunkgroup-recv"], cwd=ROOT, check=True, timeout=300)
    ports = []
    for _ in range(3):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        s.close()
    mport, p0, p1 = ports
    proc = subprocess.Popen([binary, "--listen", f"127.0.0.1:{p0},127.0.0.1:{p1}", "--scenario", "small",
                             "--metrics", f"127.0.0.1:{mport}", "--duration", "30s", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        text = None
        while time.monotonic() < deadline:
            try:
                text = _scrape(mport)
                break
            except OSError:
                time.sleep(0.1)
        assert text is not None, "no metrics endpoint"
        with send.UdpSender([("127.0.0.1", p0), ("127.0.0.1", p1)], rate=20e6) as tx:
            for x in range(64):
                tx.send_heap(x, {}, bytes(1024), dest=x % 2)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = _samples(_scrape(mport))
            if got[("chunkgroup_stream_packets_total", "0")][1] + got[("chunkgroup_stream_packets_total", "1")][1] >= 64:
                break
            time.sleep(0.1)
        assert got[("chunkgroup_stream_packets_total", "0")] == ("counter", 32)
        assert got[("chunkgroup_stream_packets_total", "1")] == ("counter", 32)
        assert got[("chunkgroup_stream_max_batch", "0")][0] == "gauge"
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
        os.unlink(binary)
