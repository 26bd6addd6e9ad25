#!/usr/bin/env python3
"""Side-by-side benchmark of chunkgroup against spead2 and the machine's
limits (shared/spec/performance.md), in one run on one machine.

Memory scenario (per scenario large/small and N = 1, 2, 4 streams):
  go        chunkgroup driven from Go (build/chunkgroup-bench memory, Go grid placement)
  go-thread the same with the consumer goroutine locked to an OS thread of its
            own, as a Python consumer's is (what the consumer thread costs)
  go-batch  the same as go, heaps placed through the batch pass a C place
            function takes (what that pass costs, Python aside)
  py-c      chunkgroup from Python, the C place function of bench/place.c
  py-grid   chunkgroup from Python, the built-in grid placement
  spead2    spead2 from Python, the same packet bytes and the same C place function
plus the machine's copy bandwidth for the same block sizes (memcpy).

UDP scenario (loopback, sender build/chunkgroup-send as a child process):
  the highest rate with no heap lost, for chunkgroup Go-driven (its readers
  sleep in ppoll), chunkgroup from Python (the same Python code as spead2's
  trial, chunkgroup in spead2's place; readers behind the C ABI wait in the
  netpoller) and spead2, and the bare recvmmsg ceiling.

AF_XDP scenario (--xdp; root): the AF_XDP reader against the UDP reader
over one veth pair between two network namespaces that build/chunkgroup-bench
veth makes, in the same run: the highest zero-loss rate (live, sender in the
other namespace) and the receiver alone draining a prefilled socket buffer /
UMEM (packets/s on one core, CPU s/GB). Packets fit a 1500-byte MTU.

Prints a table and writes bench/out/results.json and bench/out/results.md.
Run from the repository root (make bench does), with the package installed
(make venv).  --quick takes a few minutes; the default (full) mode follows
performance.md (>= 1 GiB per memory run, 5 s per UDP trial, 6 search steps).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BUILD = ROOT / "build"
GO_BENCH = BUILD / "chunkgroup-bench"
SENDER = BUILD / "chunkgroup-send"

SCENARIOS = {
    "large": dict(heap_payload=65536, packet_payload=8192, heaps_per_chunk=64),
    "small": dict(heap_payload=1024, packet_payload=1024, heaps_per_chunk=1024),
}
HEAP_CNT_ID = 1
HEAP_LENGTH_ID = 2
PLACE_SIG = b"void (void *, size_t, void *)"
SO_RCVBUFFORCE = 33  # Linux; lets root exceed net.core.rmem_max


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- machine info


def machine_info() -> Dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: Dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    try:
        info["go"] = subprocess.run(["go", "version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        info["go"] = "unknown (go not on PATH)"
    try:
        import chunkgroup

        info["chunkgroup"] = f"{chunkgroup.__version__} (native {chunkgroup.native_version()})"
    except Exception as e:  # noqa: BLE001 - report whatever broke the import
        info["chunkgroup"] = f"unavailable: {e!r}"
    try:
        import spead2

        info["spead2"] = spead2.__version__
    except Exception as e:  # noqa: BLE001
        info["spead2"] = f"unavailable: {e!r}"
    try:
        info["gcc"] = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        info["gcc"] = "unknown"
    return info


# ------------------------------------------------------------ C place function


class PlaceCtx(ctypes.Structure):
    """struct bench_place_ctx in bench/place.c."""

    _fields_ = [("heaps_per_chunk", ctypes.c_int64), ("heap_payload", ctypes.c_int64)]


PLACE_FN_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)


class CPlace:
    """bench/place.c compiled to a shared object, with per-scenario contexts."""

    def __init__(self, outdir: Path) -> None:
        so = outdir / "place.so"
        cmd = ["gcc", "-O2", "-Wall", "-shared", "-fPIC", "-o", str(so), str(BENCH / "place.c")]
        subprocess.run(cmd, check=True)
        self.dll = ctypes.CDLL(str(so))
        self.dll.bench_place_ctx_size.restype = ctypes.c_size_t
        if self.dll.bench_place_ctx_size() != ctypes.sizeof(PlaceCtx):
            raise RuntimeError("bench_place_ctx layout mismatch between place.c and bench.py")
        self.addr = ctypes.cast(self.dll.bench_place, ctypes.c_void_p).value
        self.so = so

    def ctx(self, sc: Dict[str, int]) -> PlaceCtx:
        return PlaceCtx(sc["heaps_per_chunk"], sc["heap_payload"])

    def for_chunkgroup(self, ctx: PlaceCtx) -> Tuple[Any, Any]:
        """A ctypes function pointer with user data, as chunkgroup takes it."""
        return (PLACE_FN_TYPE(self.addr), ctx)

    def for_spead2(self, ctx: PlaceCtx) -> Tuple[Any, ...]:
        """spead2's form: a tuple whose first element is a PyCapsule named
        by the signature, the user pointer as the capsule's context (what
        scipy.LowLevelCallable builds, without needing scipy)."""
        api = ctypes.pythonapi
        api.PyCapsule_New.restype = ctypes.py_object
        api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        api.PyCapsule_SetContext.restype = ctypes.c_int
        api.PyCapsule_SetContext.argtypes = [ctypes.py_object, ctypes.c_void_p]
        # The capsule keeps the name pointer, not a copy: keep the buffer
        # alive in the tuple (spead2 holds a reference to the whole tuple).
        name = ctypes.create_string_buffer(PLACE_SIG)
        cap = api.PyCapsule_New(self.addr, ctypes.cast(name, ctypes.c_char_p), None)
        if api.PyCapsule_SetContext(cap, ctypes.addressof(ctx)) != 0:
            raise RuntimeError("PyCapsule_SetContext failed")
        return (cap, name, ctx)


# --------------------------------------------------------------- Go command


def run_go(args: List[str], timeout: float = 1800) -> List[Dict[str, Any]]:
    cmd = [str(GO_BENCH)] + args
    log("  $", " ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


# ----------------------------------------------------- memory, Python-driven


def make_packets(scenario: str, nbytes: int, tmpdir: Path) -> Tuple[np.ndarray, Dict[str, Any]]:
    """The scenario's packet stream, built by the Go encoder (the bytes
    chunkgroup-send puts on the wire), loaded into memory."""
    path = tmpdir / f"{scenario}.spead"
    meta = run_go(["packets", "--scenario", scenario, "--bytes", str(nbytes), "--out", str(path)])[0]
    try:
        arr = np.fromfile(path, dtype=np.uint8)
    finally:
        path.unlink()
    if arr.size != meta["file_bytes"]:
        raise RuntimeError("packet file size mismatch")
    return arr, meta


def split_streams(arr: np.ndarray, meta: Dict[str, Any], n: int) -> List[np.ndarray]:
    """Heap i to stream i % n. Every heap has the same encoded size, so the
    file cuts into rows of one heap each."""
    rows = arr.reshape(meta["heaps"], meta["heap_bytes"])
    return [np.ascontiguousarray(rows[i::n]).reshape(-1) for i in range(n)]


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def py_memory_run(
    impl: str, place: Any, bufs: List[np.ndarray], sc: Dict[str, int], meta: Dict[str, Any],
    max_chunks: int = 4, nchunks: int = 8, timeout: float = 600.0, stream_chunks: int = 2,
) -> Dict[str, Any]:
    """One timed pass of a Python-driven ring group (chunkgroup or spead2;
    their Python APIs are the same) over pre-built buffers. The clock runs
    from adding the readers until the consumer loop has returned the last
    chunk and found the data ring stopped."""
    if impl == "spead2":
        import spead2 as root
        import spead2.recv as recv
    else:
        import chunkgroup as root
        import chunkgroup.recv as recv
    n = len(bufs)
    hpc, hp = sc["heaps_per_chunk"], sc["heap_payload"]
    data_ring = recv.ChunkRingbuffer(nchunks)
    free_ring = recv.ChunkRingbuffer(nchunks)
    gcfg = recv.ChunkStreamGroupConfig(
        max_chunks=max_chunks, eviction_mode=recv.ChunkStreamGroupConfig.EvictionMode.LOSSLESS
    )
    group = recv.ChunkStreamRingGroup(gcfg, data_ring, free_ring)
    pools = [root.ThreadPool(1) for _ in range(n)]  # one receive thread per stream, as spead2 advises for groups
    for i in range(n):
        group.emplace_back(
            pools[i],
            recv.StreamConfig(max_heaps=4, stream_id=i),
            recv.ChunkStreamConfig(items=[HEAP_CNT_ID, HEAP_LENGTH_ID], max_chunks=stream_chunks, place=place),
        )
    for _ in range(nchunks):
        data = np.ones(hpc * hp, np.uint8)  # written now: pages resident before the clock
        group.add_free_chunk(recv.Chunk(present=np.zeros(hpc, np.uint8), data=data))
    timed_out = threading.Event()

    def watchdog() -> None:
        timed_out.set()
        group.stop()

    dog = threading.Timer(timeout, watchdog)
    dog.start()
    heaps = chunks = 0
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    for i, stream in enumerate(group):
        stream.add_buffer_reader(bufs[i])
    for chunk in data_ring:
        heaps += int(np.count_nonzero(chunk.present))
        chunks += 1
        group.add_free_chunk(chunk)
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    dog.cancel()
    group.stop()
    if timed_out.is_set():
        raise RuntimeError(f"{impl}: memory run did not finish in {timeout} s")
    payload = heaps * hp
    res = {
        "kind": "memory", "impl": impl, "streams": n, "heaps_expected": meta["heaps"], "heaps": heaps,
        "chunks": chunks, "seconds": round(elapsed, 6), "gbytes_per_s": round(payload / elapsed / 1e9, 4),
        "packets_per_s": round(meta["heaps"] * meta["packets_per_heap"] / elapsed),
        "cpu_seconds": round(cpu, 4), "cpu_s_per_gbyte": round(cpu / max(payload / 1e9, 1e-9), 4),
    }
    if heaps != meta["heaps"]:
        res["error"] = f"received {heaps} complete heaps of {meta['heaps']}"
    return res


# ------------------------------------- UDP from Python: spead2, and chunkgroup in its place


RESULT_RE = re.compile(r"(\d+) heaps \(\+\d+ stop\), (\d+) packets, (\d+) bytes in ([^:]+):")


def parse_go_duration(s: str) -> float:
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)(ns|us|µs|ms|s|m|h)", s):
        total += float(num) * {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def run_sender(
    dests: List[str], scenario: str, rate_bytes: float, duration: float, gso: bool, heaps: int = 0
) -> Dict[str, Any]:
    cmd = [str(SENDER), "--dest", ",".join(dests), "--scenario", scenario, "--rate", str(int(rate_bytes)),
           "--duration", f"{duration}s", "--heaps", str(heaps)]
    if gso:
        cmd.append("--gso")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if p.returncode != 0:
        raise RuntimeError(f"chunkgroup-send failed: {p.stderr.strip()}")
    m = RESULT_RE.search(p.stdout)
    if not m:
        raise RuntimeError(f"cannot parse chunkgroup-send output {p.stdout!r}")
    secs = parse_go_duration(m.group(4))
    return {"heaps": int(m.group(1)), "packets": int(m.group(2)), "bytes": int(m.group(3)), "seconds": secs}


def udp_socket(bufsize: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, bufsize)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, bufsize)
    s.bind(("127.0.0.1", 0))
    return s


def py_udp_trial(
    impl: str, place: Any, scenario: str, n: int, rate_gbps: float, duration: float, gso: bool,
    gro: bool = False, bufsize: int = 64 << 20, max_chunks: int = 8, nchunks: int = 32, drain: float = 2.0, stream_chunks: int = 4,
) -> Dict[str, Any]:
    """A ring group (LOSSY) with one UDP reader per stream, fed by
    chunkgroup-send, driven from Python; counts complete heaps. impl
    "spead2" runs spead2; "py" runs the same code with chunkgroup in
    spead2's place (the drop-in API), its place function in chunkgroup's
    form; with gro, its readers use UDP receive offload (set_udp_gro, an
    addition to spead2's API)."""
    if impl == "spead2":
        import spead2
        import spead2.recv as recv
    else:
        import chunkgroup as spead2  # type: ignore[no-redef]
        import chunkgroup.recv as recv  # type: ignore[no-redef]

    sc = SCENARIOS[scenario]
    hpc, hp = sc["heaps_per_chunk"], sc["heap_payload"]
    data_ring = recv.ChunkRingbuffer(nchunks)
    free_ring = recv.ChunkRingbuffer(nchunks)
    group = recv.ChunkStreamRingGroup(recv.ChunkStreamGroupConfig(max_chunks=max_chunks), data_ring, free_ring)
    pools = [spead2.ThreadPool(1) for _ in range(n)]
    for i in range(n):
        group.emplace_back(
            pools[i], recv.StreamConfig(max_heaps=4, stream_id=i),
            recv.ChunkStreamConfig(items=[HEAP_CNT_ID, HEAP_LENGTH_ID], max_chunks=stream_chunks, place=place),
        )
    for _ in range(nchunks):
        group.add_free_chunk(recv.Chunk(present=np.zeros(hpc, np.uint8), data=np.ones(hpc * hp, np.uint8)))
    socks = [udp_socket(bufsize) for _ in range(n)]
    dests = [f"127.0.0.1:{s.getsockname()[1]}" for s in socks]
    for stream, s in zip(group, socks):
        if gro:
            stream.set_udp_gro(True)
        stream.add_udp_reader(s)
    for s in socks:
        s.close()  # spead2 works on its own duplicate
    got = {"heaps": 0, "chunks": 0}

    def consume() -> None:
        for chunk in data_ring:
            got["heaps"] += int(np.count_nonzero(chunk.present))
            got["chunks"] += 1
            group.add_free_chunk(chunk)

    th = threading.Thread(target=consume, daemon=True)
    th.start()
    cpu0 = cpu_seconds()
    try:
        snt = run_sender(dests, scenario, rate_gbps * 1e9 / 8, duration, gso)
    finally:
        th.join(drain)
        group.stop()
        th.join(10)
    cpu = cpu_seconds() - cpu0
    stats = [s.stats for s in group]
    achieved = snt["bytes"] * 8 / max(snt["seconds"], 1e-9) / 1e9
    loss = 1 - got["heaps"] / snt["heaps"] if snt["heaps"] else 0.0
    return {
        "kind": "udp_trial", "impl": impl, "scenario": scenario, "streams": n,
        "rate_gbps": round(rate_gbps, 4), "achieved_gbps": round(achieved, 4),
        "heaps_sent": snt["heaps"], "heaps_received": got["heaps"], "loss": round(loss, 6),
        "packets_sent": snt["packets"], "packets_received": sum(st["packets"] for st in stats),
        "too_old_heaps": sum(st["too_old_heaps"] for st in stats),
        "cpu_seconds": round(cpu, 3),
        "cpu_s_per_gbyte": round(cpu / max(got["heaps"] * hp / 1e9, 1e-9), 4),
    }


PREFILL_HEAPS = {"large": 4000, "small": 150000}  # per stream: fits a 512 MiB socket buffer
DRAIN_BUFFER = 512 << 20


def spead2_udp_drain(place: Any, scenario: str, n: int, gso: bool, max_chunks: int = 4, nchunks: int = 16) -> Dict[str, Any]:
    """Receiver alone: the sender fills the socket buffers first, then the
    readers are added and the clock runs until the consumer has the last
    chunk (LOSSLESS group, as chunkgroup-bench udp --prefill)."""
    import spead2
    import spead2.recv as recv

    sc = SCENARIOS[scenario]
    hpc, hp = sc["heaps_per_chunk"], sc["heap_payload"]
    data_ring = recv.ChunkRingbuffer(nchunks)
    free_ring = recv.ChunkRingbuffer(nchunks)
    gcfg = recv.ChunkStreamGroupConfig(max_chunks=max_chunks, eviction_mode=recv.ChunkStreamGroupConfig.EvictionMode.LOSSLESS)
    group = recv.ChunkStreamRingGroup(gcfg, data_ring, free_ring)
    pools = [spead2.ThreadPool(1) for _ in range(n)]
    for i in range(n):
        group.emplace_back(
            pools[i], recv.StreamConfig(max_heaps=4, stream_id=i),
            recv.ChunkStreamConfig(items=[HEAP_CNT_ID, HEAP_LENGTH_ID], max_chunks=max_chunks, place=place),
        )
    for _ in range(nchunks):
        group.add_free_chunk(recv.Chunk(present=np.zeros(hpc, np.uint8), data=np.ones(hpc * hp, np.uint8)))
    socks = [udp_socket(DRAIN_BUFFER) for _ in range(n)]
    dests = [f"127.0.0.1:{s.getsockname()[1]}" for s in socks]
    got = {"heaps": 0, "end": 0.0}

    def consume() -> None:
        for chunk in data_ring:
            got["heaps"] += int(np.count_nonzero(chunk.present))
            group.add_free_chunk(chunk)
        got["end"] = time.perf_counter()

    th = threading.Thread(target=consume, daemon=True)
    th.start()
    try:
        snt = run_sender(dests, scenario, 0, 5.0, gso, heaps=PREFILL_HEAPS[scenario] * n)
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        for stream, s in zip(group, socks):
            stream.add_udp_reader(s)
        th.join(30)
    finally:
        for s in socks:
            s.close()
        group.stop()
        th.join(10)
    cpu = cpu_seconds() - cpu0
    d = (got["end"] or time.perf_counter()) - t0
    stats = [s.stats for s in group]
    pk = sum(st["packets"] for st in stats)
    return {
        "kind": "udp_drain", "impl": "spead2", "scenario": scenario, "streams": n,
        "heaps_sent": snt["heaps"], "heaps_received": got["heaps"],
        "loss": round(1 - got["heaps"] / snt["heaps"], 6) if snt["heaps"] else 0.0,
        "packets_sent": snt["packets"], "packets_received": pk, "drain_seconds": round(d, 4),
        "drain_packets_per_s": round(pk / d), "drain_heaps_per_s": round(got["heaps"] / d),
        "drain_payload_gbytes_per_s": round(got["heaps"] * hp / d / 1e9, 4),
        "cpu_s_per_gbyte": round(cpu / max(got["heaps"] * hp / 1e9, 1e-9), 4),
    }


def py_search(trial: Callable[[float], Dict[str, Any]], steps: int) -> Dict[str, Any]:
    """The same search as chunkgroup-bench --search: the sender's full
    speed first, then bisection between the best lossless and the lowest
    lossy rate."""
    curve = []

    def run(rate: float) -> Dict[str, Any]:
        t = trial(rate)
        log("   ", json.dumps(t))
        curve.append({"rate_gbps": round(rate, 4), "achieved_gbps": t["achieved_gbps"], "loss": t["loss"]})
        return t

    first = run(0.0)
    best = best_ach = 0.0
    bound = False
    lo, hi = 0.0, first["achieved_gbps"]
    if first["loss"] == 0:
        best, best_ach, bound = hi, hi, True
    else:
        for _ in range(1, steps):
            mid = (lo + hi) / 2
            t = run(mid)
            if t["loss"] == 0:
                lo, best, best_ach = mid, mid, t["achieved_gbps"]
            else:
                hi = mid
    curve.sort(key=lambda p: p["rate_gbps"] or p["achieved_gbps"])
    return {"zero_loss_gbps": round(best, 4), "zero_loss_achieved_gbps": round(best_ach, 4),
            "sender_bound": bound, "sender_max_gbps": first["achieved_gbps"], "curve": curve}


# ------------------------------------------------------------------- report


def fmt(x: Optional[float], spec: str = ".2f") -> str:
    return "—" if x is None else format(x, spec)


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return a / b


CEILINGS = ("recvmmsg", "recvmmsg-gro")  # keys of results["udp"][scenario] that are not an N


def udp_gro_table(udp: Dict[str, Any]) -> List[str]:
    """The UDP rows of chunkgroup's readers with receive offload, against
    spead2 (which has none) and the bare recvmmsg loop with it."""
    if not any("go-gro" in r or "py-gro" in r for rows in udp.values() for n, r in rows.items() if n not in CEILINGS):
        return []
    out = ["", "### udp with receive offload (chunkgroup's readers with UDP_GRO: `set_udp_gro(True)`, "
           "`cg_stream_set_udp_gro`; spead2 4.5.1 leaves it off and has no setting for it, so its figure is the "
           "one above)\n",
           "| scenario | N | chunkgroup GRO (go) | chunkgroup GRO (python) | spead2 | go GRO/spead2 | python GRO/spead2 | "
           "recvmmsg GRO ceiling | go GRO/recvmmsg GRO | go GRO CPU s/GB at max | python GRO CPU s/GB at max | sender-bound |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for scen, rows in udp.items():
        rmv = rows.get("recvmmsg-gro", {}).get("zero_loss_gbps")
        for n, r in rows.items():
            if n in CEILINGS:
                continue
            g, py, s = r.get("go-gro", {}), r.get("py-gro", {}), r.get("spead2", {})
            gv, pv, sv = g.get("zero_loss_gbps"), py.get("zero_loss_gbps"), s.get("zero_loss_gbps")
            bound = ", ".join(k for k, v in (("go GRO", g), ("python GRO", py), ("spead2", s)) if v.get("sender_bound"))
            out.append(
                f"| {scen} | {n} | {fmt(gv)} | {fmt(pv)} | {fmt(sv)} | {fmt(ratio(gv, sv))}x | {fmt(ratio(pv, sv))}x | "
                f"{fmt(rmv)} (N=1) | {fmt(ratio(gv, rmv))} | {fmt(g.get('cpu_s_per_gbyte_at_max'), '.3f')} | "
                f"{fmt(py.get('cpu_s_per_gbyte_at_max'), '.3f')} | {bound or 'no'} |")
    out += ["", "With receive offload the kernel hands a reader up to 64 KiB of one flow's datagrams at once, and on "
            "loopback the sender's segments reach the socket unsplit, so the sending process does far less of "
            "the kernel's work too: the rate the whole machine sustains rises for the receiver that asks for it "
            "(docs/tuning.md, \"UDP GRO\")."]
    return out


def build_report(results: Dict[str, Any]) -> str:
    info = results["machine"]
    out = []
    out.append("# chunkgroup benchmark\n")
    out.append(f"- date: {info['date']}  mode: {results['mode']}")
    out.append(f"- machine: {info['cpu']}, {info['cores']} cores, kernel {info['kernel']}, host {info['host']}")
    out.append(f"- versions: chunkgroup {info['chunkgroup']}; spead2 {info['spead2']}; {info['go']}; "
               f"Python {info['python']}; numpy {info['numpy']}; {info['gcc']}")
    out.append(f"- memory runs: {results['params']['bytes'] / 2**30:.2f} GiB payload each, best of "
               f"{results['params']['repeat']}; group window {results['params']['max_chunks']} chunks, member windows "
               f"{results['params']['stream_chunks']} chunks, {results['params']['chunks']} chunks in circulation, LOSSLESS")
    pr = results["params"]
    if "udp_repeat" in pr:
        out.append(f"- udp: {pr['udp_duration_s']:g} s per trial, up to {pr['udp_steps']} trials per zero-loss search, "
                   f"best of {pr['udp_repeat']} searches per implementation and cell, the implementations taking turns")
    if results.get("notes"):
        for n in results["notes"]:
            out.append(f"- note: {n}")
    out.append("")
    mc = results.get("memcpy", {})
    out.append("## memory (payload GB/s; higher is better)\n")
    out.append("| scenario | N | go | go-thread | go-batch | py-c | py-grid | spead2 | py-c/spead2 | go/spead2 | py-grid/go (python cost) | "
               "py-grid/go-thread | py-c/go-batch | N/N=1 (go) | N/N=1 (py-c) | N/N=1 (spead2) | N/N=1 (memcpy) | go/memcpy | "
               "go Mpkt/s | go CPU s/GB | spead2 CPU s/GB |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    mct = results.get("memcpy_threads", {})
    for scen, rows in results["memory"].items():
        base = rows.get("1", {})
        for n, r in rows.items():
            # go/memcpy against N threads copying (older results: one thread)
            copy = mct.get(scen, {}).get(n, mc.get(scen))
            copy_scale = ratio(mct.get(scen, {}).get(n), mct.get(scen, {}).get("1"))
            g = r.get("go", {}).get("gbytes_per_s")
            gt = r.get("go-thread", {}).get("gbytes_per_s")
            gb = r.get("go-batch", {}).get("gbytes_per_s")
            pc = r.get("py-c", {}).get("gbytes_per_s")
            pg = r.get("py-grid", {}).get("gbytes_per_s")
            s2 = r.get("spead2", {}).get("gbytes_per_s")

            def scale(impl: str) -> Optional[float]:
                return ratio(r.get(impl, {}).get("gbytes_per_s"), base.get(impl, {}).get("gbytes_per_s"))

            out.append(
                f"| {scen} | {n} | {fmt(g)} | {fmt(gt)} | {fmt(gb)} | {fmt(pc)} | {fmt(pg)} | {fmt(s2)} | {fmt(ratio(pc, s2))}x | "
                f"{fmt(ratio(g, s2))}x | {fmt(ratio(pg, g))} | {fmt(ratio(pg, gt))} | {fmt(ratio(pc, gb))} | "
                f"{fmt(scale('go'))}x | {fmt(scale('py-c'))}x | "
                f"{fmt(scale('spead2'))}x | {fmt(copy_scale)}x | {fmt(ratio(g, copy), '.0%') if copy else '—'} | "
                f"{fmt((r.get('go', {}).get('packets_per_s') or 0) / 1e6 or None)} | "
                f"{fmt(r.get('go', {}).get('cpu_s_per_gbyte'), '.3f')} | {fmt(r.get('spead2', {}).get('cpu_s_per_gbyte'), '.3f')} |"
            )
    out.append("")
    out.append("### memory: scaling and CPU cores used (cores = CPU seconds / wall seconds of the whole process)\n")
    impls = ("go", "go-thread", "go-batch", "py-c", "py-grid", "spead2")
    out.append("| scenario | N | " + " | ".join(f"{i} GB/s | {i} N/N=1 | {i} cores" for i in impls) + " |")
    out.append("|---|---|" + "---|---|---|" * len(impls))
    for scen, rows in results["memory"].items():
        base = rows.get("1", {})
        for n, r in rows.items():
            cells = []
            for impl in impls:
                v = r.get(impl, {})
                gb = v.get("gbytes_per_s")
                cores = ratio(v.get("cpu_seconds"), v.get("seconds"))
                cells += [fmt(gb), f"{fmt(ratio(gb, base.get(impl, {}).get('gbytes_per_s')))}x", fmt(cores)]
            out.append(f"| {scen} | {n} | " + " | ".join(cells) + " |")
    if mc:
        out.append("")
        line = ("memcpy (the engine's copy, with streaming stores, same block sizes and source layout, destination "
                "cycling over 8 chunks as in the memory run; with N threads, each from its own source into the same "
                "chunks, block i by thread i % N, as N members place heaps; go/memcpy at N uses N threads, and "
                "N/N=1 (memcpy) is what the memory system gives N copiers): "
                + ", ".join(f"{k} {v:.2f} GB/s" for k, v in mc.items()))
        extra = results.get("memcpy_all", [])
        if extra:
            line += "; every configuration measured: " + ", ".join(
                f"{e['scenario']} into {e['dst_chunks']} chunk(s) with {e.get('threads', 1)} thread(s) "
                f"{e['gbytes_per_s']:.2f} GB/s" for e in extra)
        out.append(line)
    out.append("")
    out.append("## udp (loopback; highest send rate with no heap lost, Gb/s on the wire)\n")
    udp = results.get("udp", {})
    if udp:
        out.append("| scenario | N | chunkgroup (go) | chunkgroup (python) | spead2 | go/spead2 | python/spead2 | "
                   "recvmmsg ceiling | go/recvmmsg | go CPU s/GB at max | python CPU s/GB at max | "
                   "spead2 CPU s/GB at max | sender-bound |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for scen, rows in udp.items():
            rm = rows.get("recvmmsg", {})
            rmv = rm.get("zero_loss_gbps")
            for n, r in rows.items():
                if n in CEILINGS:
                    continue
                g = r.get("go", {})
                py = r.get("py", {})
                s = r.get("spead2", {})
                gv, pv, sv = g.get("zero_loss_gbps"), py.get("zero_loss_gbps"), s.get("zero_loss_gbps")
                bound = ", ".join(f"{k}" for k, v in (("go", g), ("python", py), ("spead2", s)) if v.get("sender_bound"))
                out.append(
                    f"| {scen} | {n} | {fmt(gv)} | {fmt(pv)} | {fmt(sv)} | {fmt(ratio(gv, sv))}x | {fmt(ratio(pv, sv))}x | "
                    f"{fmt(rmv)} (N=1) | {fmt(ratio(gv, rmv))} | {fmt(g.get('cpu_s_per_gbyte_at_max'), '.3f')} | "
                    f"{fmt(py.get('cpu_s_per_gbyte_at_max'), '.3f')} | "
                    f"{fmt(s.get('cpu_s_per_gbyte_at_max'), '.3f')} | {bound or 'no'} |"
                )
        out.append("")
        out.append("sender-bound: no heap was lost even at the sender's full speed, so the figure is the "
                   "sender's (loopback UDP costs the sending process most of the kernel work); compare CPU "
                   "seconds per GB of the receiving process at that rate instead.")
        out += udp_gro_table(udp)
        for scen, rows in udp.items():
            for n, r in rows.items():
                for impl, v in r.items() if n not in CEILINGS else [(n, r)]:
                    if v.get("curve"):
                        pts = ", ".join(f"{p['rate_gbps'] or p['achieved_gbps']:.2f}→{p['loss']:.4f}" for p in v["curve"])
                        every = v.get("all_zero_loss_gbps")
                        also = (" (zero loss in each search: " + ", ".join(fmt(x) for x in every) + ")"
                                if every and len(every) > 1 else "")
                        out.append(f"- loss curve {scen} N={n if n not in CEILINGS else 1} {impl}: {pts}{also}")
    else:
        out.append("(skipped)")
    out.append("")
    drain = results.get("drain", {})
    if drain:
        out.append("## udp drain (receiver alone: socket buffers filled by the sender first, then drained; "
                   "best of repeat; LOSSLESS group)\n")
        out.append("| scenario | N | chunkgroup Mpkt/s | spead2 Mpkt/s | recvmmsg Mpkt/s | go/spead2 | go/recvmmsg | "
                   "chunkgroup GB/s | spead2 GB/s | go CPU s/GB | spead2 CPU s/GB | loss go/spead2/recvmmsg |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for scen, rows in drain.items():
            for n, r in rows.items():
                g, s2, rm = r.get("go", {}), r.get("spead2", {}), r.get("recvmmsg", {})
                gp, sp, rp = (x.get("drain_packets_per_s") for x in (g, s2, rm))
                out.append(
                    f"| {scen} | {n} | {fmt((gp or 0) / 1e6 or None, '.3f')} | {fmt((sp or 0) / 1e6 or None, '.3f')} | "
                    f"{fmt((rp or 0) / 1e6 or None, '.3f')} | {fmt(ratio(gp, sp))}x | {fmt(ratio(gp, rp))} | "
                    f"{fmt(g.get('drain_payload_gbytes_per_s'))} | {fmt(s2.get('drain_payload_gbytes_per_s'))} | "
                    f"{fmt(g.get('cpu_s_per_gbyte'), '.3f')} | {fmt(s2.get('cpu_s_per_gbyte'), '.3f')} | "
                    f"{g.get('loss', '—')}/{s2.get('loss', '—')}/{rm.get('loss', '—')} |"
                )
        out.append("")
    xdp = results.get("xdp", {})
    if xdp:
        out.append("## AF_XDP vs UDP over veth (one reader each; receiver-process CPU only: on veth the kernel's "
                   "receive work runs in softirq on the sending CPU)\n")
        out.append("| scenario | reader | mode | live zero-loss Mpkt/s (sender-bound?) | drain Mpkt/s best | drain Mpkt/s all | "
                   "drain CPU s/GB best | xdp/udp drain |")
        out.append("|---|---|---|---|---|---|---|---|")
        for scen, rows in xdp.items():
            up = rows.get("udp", {}).get("drain_best", {}).get("drain_packets_per_s")
            for rd in ("udp", "xdp"):
                r = rows.get(rd, {})
                live, best = r.get("live", {}), r.get("drain_best", {})
                allp = ", ".join(f"{x / 1e6:.2f}" for x in r.get("drain_all", []))
                mode = r.get("mode", "")
                bp = best.get("drain_packets_per_s")
                out.append(
                    f"| {scen} | {rd} | {mode} | {fmt((live.get('zero_loss_packets_per_s') or 0) / 1e6 or None, '.3f')} "
                    f"({live.get('sender_bound', '—')}) | {fmt((bp or 0) / 1e6 or None, '.3f')} | {allp} | "
                    f"{fmt(best.get('cpu_s_per_gbyte'), '.3f')} | {fmt(ratio(bp, up)) if rd == 'xdp' else ''} |"
                )
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------- plot


def plot_scaling(results: Dict[str, Any], path: Path) -> Optional[Path]:
    """GB/s against N, one panel per scenario, one line per implementation
    (matplotlib, installed into the benchmark's virtualenv by make bench)."""
    mem = results.get("memory") or {}
    if not mem:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        log(f"no plot: matplotlib is not importable ({e})")
        return None
    fig, axes = plt.subplots(1, len(mem), figsize=(5.5 * len(mem), 4.2), squeeze=False)
    for ax, (scen, rows) in zip(axes[0], mem.items()):
        ns = sorted(int(n) for n in rows)
        for impl, style in (("go", "o-"), ("go-thread", "x:"), ("go-batch", "+:"), ("py-c", "s-"), ("py-grid", "^-"), ("spead2", "d--")):
            pts = [(n, rows[str(n)].get(impl, {}).get("gbytes_per_s")) for n in ns]
            pts = [(n, v) for n, v in pts if v]
            if pts:
                ax.plot([n for n, _ in pts], [v for _, v in pts], style, label=impl)
        copies = (results.get("memcpy_threads") or {}).get(scen, {})
        pts = [(n, copies.get(str(n))) for n in ns]
        pts = [(n, v) for n, v in pts if v]
        if pts:
            ax.plot([n for n, _ in pts], [v for _, v in pts], ":", color="grey", label="memcpy, N threads")
        elif (results.get("memcpy") or {}).get(scen):
            copy = results["memcpy"][scen]
            ax.axhline(copy, color="grey", linestyle=":", label=f"memcpy {copy:.1f} GB/s")
        ax.set_title(f"memory/{scen}")
        ax.set_xlabel("member streams N")
        ax.set_ylabel("payload GB/s")
        ax.set_xticks(ns)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    info = results.get("machine", {})
    fig.suptitle(f"chunkgroup vs spead2, {info.get('date', '')}, {info.get('cpu', '')} x{info.get('cores', '')}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------ AF_XDP on veth

# Prefill per scenario: fits a 512 MiB socket buffer and a 256 MiB UMEM of
# 2 KiB frames (131072 frames); large heaps are 46 packets of 1432 bytes.
XDP_PREFILL_HEAPS = {"large": 2500, "small": 120000}


def run_xdp_section(results: Dict[str, Any], scenarios: List[str], dur: float, steps: int, repeat: int) -> None:
    if os.geteuid() != 0:
        results["notes"].append("AF_XDP section skipped: needs root (namespaces, veth, AF_XDP, BPF)")
        log("AF_XDP section needs root; skipped")
        return
    for scen in scenarios:
        row: Dict[str, Any] = {"udp": {}, "xdp": {}}
        results["xdp"][scen] = row
        log(f"veth {scen}: live zero-loss search, udp then xdp")
        lines = run_go(["veth", "--scenario", scen, "--duration", f"{dur}s", "--steps", str(steps), "--search",
                        "--max-chunks", "8", "--stream-chunks", "8", "--chunks", "32",
                        # UMEM of 32768 frames, near the UDP reader's 64 MiB socket buffer in packets
                        "--xdp-buffer", str(64 << 20), "--xdp-frame", "2048"])
        results["raw"] += lines
        for rd in ("udp", "xdp"):
            summ = [l for l in lines if l["kind"] == f"veth_{rd}_search"]
            if summ:
                row[rd]["live"] = summ[0]
                log(f"    {rd}: zero loss {summ[0]['zero_loss_packets_per_s']} packets/s (sender-bound: {summ[0]['sender_bound']})")
            trials = [l for l in lines if l["kind"] == "veth_trial" and l["reader"] == rd]
            if rd == "xdp" and trials:
                row[rd]["mode"] = ("zero-copy" if trials[0].get("zero_copy") else "copy") + (
                    ", native XDP" if trials[0].get("native_xdp") else ", generic XDP")
        if "mode" not in row["udp"]:
            row["udp"]["mode"] = "recvmmsg"
        log(f"veth {scen}: drain (receiver alone), {repeat} runs, udp and xdp alternating")
        for _ in range(repeat):
            lines = run_go(["veth", "--scenario", scen, "--prefill", str(XDP_PREFILL_HEAPS[scen]),
                            "--buffer", str(512 << 20), "--xdp-buffer", str(256 << 20), "--xdp-frame", "2048"])
            results["raw"] += lines
            for l in lines:
                if l["kind"] != "veth_trial":
                    continue
                r = row[l["reader"]]
                r.setdefault("drain_all", []).append(l.get("drain_packets_per_s") or 0)
                if l.get("loss", 1) == 0 and (l.get("drain_packets_per_s") or 0) > (r.get("drain_best", {}).get("drain_packets_per_s") or 0):
                    r["drain_best"] = l
                log(f"    {l['reader']}: {l.get('drain_packets_per_s')} packets/s, loss {l.get('loss')}, CPU {l.get('cpu_s_per_gbyte')} s/GB")


# --------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small volumes, short UDP trials, few search steps (a few minutes)")
    ap.add_argument("--bytes", type=int, help="payload bytes per memory run (default 1 GiB, quick 256 MiB)")
    ap.add_argument("--repeat", type=int, help="memory runs per configuration, best reported (default 5, quick 2)")
    ap.add_argument("--scenarios", default="large,small")
    ap.add_argument("--streams", default="1,2,4", help="N for the memory scenario")
    ap.add_argument("--udp-streams", default="1,2", help="N for the UDP scenario")
    ap.add_argument("--udp-duration", type=float, help="seconds per UDP trial (default 5, quick 2)")
    ap.add_argument("--udp-steps", type=int, help="trials per zero-loss search (default 6, quick 3)")
    ap.add_argument("--udp-repeat", type=int,
                    help="zero-loss searches per implementation and cell, taking turns, best counts (default 3, quick 1)")
    ap.add_argument("--no-gso", action="store_true", help="sender without UDP_SEGMENT (slower sender)")
    ap.add_argument("--no-udp-gro", action="store_true",
                    help="leave out the UDP runs with chunkgroup's readers using receive offload (UDP_GRO)")
    ap.add_argument("--max-chunks", type=int, default=4, help="group window of the memory runs")
    ap.add_argument("--chunks", type=int, default=16,
                    help="chunks in circulation in the memory runs (slack for the consumer's jitter)")
    ap.add_argument("--stream-chunks", type=int, default=2,
                    help="member window of the memory runs (smaller than the group's lets members drift apart; "
                         "equal to it makes them move in lockstep, see docs/tuning.md)")
    ap.add_argument("--skip-udp", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-spead2", action="store_true")
    ap.add_argument("--xdp", action="store_true", help="add the AF_XDP-vs-UDP-over-veth section (root; make bench-xdp runs it alone)")
    ap.add_argument("--out", default=str(BENCH / "out"))
    args = ap.parse_args()

    quick = args.quick
    nbytes = args.bytes or ((256 << 20) if quick else (1 << 30))
    repeat = args.repeat or (2 if quick else 5)
    udp_dur = args.udp_duration or (2.0 if quick else 5.0)
    udp_steps = args.udp_steps or (3 if quick else 6)
    udp_repeat = args.udp_repeat or (1 if quick else 3)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    streams = [int(x) for x in args.streams.split(",")]
    udp_streams = [int(x) for x in args.udp_streams.split(",")]
    gso = not args.no_gso
    udp_gro = gso and not args.no_udp_gro  # GRO only coalesces what the sender segments
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    for p in (GO_BENCH, SENDER):
        if not p.exists():
            log(f"missing {p}: run make bench (or go build -o {p} ./cmd/{p.name})")
            return 2

    info = machine_info()
    results: Dict[str, Any] = {
        "machine": info, "mode": "quick" if quick else "full",
        "params": {"bytes": nbytes, "repeat": repeat, "max_chunks": args.max_chunks, "chunks": args.chunks, "stream_chunks": args.stream_chunks, "udp_duration_s": udp_dur, "udp_steps": udp_steps, "udp_repeat": udp_repeat,
                   "gso": gso, "udp_gro": udp_gro, "scenarios": scenarios, "streams": streams, "udp_streams": udp_streams},
        "notes": [], "memcpy": {}, "memcpy_threads": {}, "memcpy_all": [], "memory": {}, "udp": {}, "drain": {}, "xdp": {}, "raw": [],
    }
    log(f"chunkgroup bench ({results['mode']}): {info['date']} on {info['cpu']} x{info['cores']}")
    for k in ("chunkgroup", "spead2", "go", "python", "numpy"):
        log(f"  {k}: {info[k]}")

    have_spead2 = not args.skip_spead2
    if have_spead2:
        try:
            import spead2.recv  # noqa: F401
        except Exception as e:  # noqa: BLE001
            have_spead2 = False
            results["notes"].append(f"spead2 not available ({e!r}): spead2 columns skipped")
            log(f"spead2 not importable: {e!r}; skipping its columns")
    have_py = True
    try:
        import chunkgroup.recv  # noqa: F401
    except Exception as e:  # noqa: BLE001
        have_py = False
        results["notes"].append(f"chunkgroup Python package not importable ({e!r}): py columns skipped")
        log(f"chunkgroup.recv not importable: {e!r}")

    cplace = CPlace(outdir)

    if not args.skip_memory:
        log("memcpy")
        # The copy ceiling for every N of the memory rows: N threads copying
        # into the same chunks as N members do (cmd/chunkgroup-bench memcpy).
        threads = ",".join(str(n) for n in sorted(set([1] + streams)))
        for r in run_go(["memcpy", "--scenario", ",".join(scenarios), "--bytes", str(nbytes), "--dst-chunks", "1,8",
                         "--threads", threads]):
            results["raw"].append(r)
            results["memcpy_all"].append(r)
            if r["dst_chunks"] == 8:
                results["memcpy_threads"].setdefault(r["scenario"], {})[str(r["threads"])] = r["gbytes_per_s"]
                if r["threads"] == 1:
                    results["memcpy"][r["scenario"]] = r["gbytes_per_s"]
        tmp = Path(tempfile.mkdtemp(prefix="cgbench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
        try:
            for scen in scenarios:
                sc = SCENARIOS[scen]
                results["memory"][scen] = {}
                arr, meta = make_packets(scen, nbytes, tmp)
                ctx = cplace.ctx(sc)
                impls: List[Tuple[str, Any]] = []
                if have_py:
                    import chunkgroup.recv as cgr

                    grid = cgr.GridPlacement(
                        cgr.GridDim(0, count=sc["heaps_per_chunk"]), sc["heap_payload"], heap_length_item=1
                    )
                    impls += [("py-c", cplace.for_chunkgroup(ctx)), ("py-grid", grid)]
                if have_spead2:
                    impls.append(("spead2", cplace.for_spead2(ctx)))
                for n in streams:
                    log(f"memory {scen} N={n}")
                    row: Dict[str, Any] = {}
                    # go: the Go program, consumer a goroutine. go-thread: the
                    # consumer goroutine on an OS thread of its own, as
                    # Python's consumer is (docs/tuning.md, fifth round): what
                    # a consumer thread costs, Python aside. go-batch: heaps
                    # placed through the batch pass a C place function takes
                    # (docs/tuning.md, "Placement"): what py-c pays for it,
                    # Python aside.
                    for impl, extra in (("go", []), ("go-thread", ["--consumer-thread"]), ("go-batch", ["--batch-place"])):
                        gl = run_go(["memory", "--scenario", scen, "--streams", str(n), "--bytes", str(nbytes),
                                     "--repeat", str(repeat), "--max-chunks", str(args.max_chunks),
                                     "--stream-chunks", str(args.stream_chunks), "--chunks", str(args.chunks)] + extra)
                        results["raw"] += gl
                        row[impl] = max(gl, key=lambda r: r["gbytes_per_s"])
                        log(f"    {impl}: {row[impl]['gbytes_per_s']} GB/s")
                    bufs = split_streams(arr, meta, n)
                    runs: Dict[str, List[Dict[str, Any]]] = {name: [] for name, _ in impls}
                    for _ in range(repeat):  # round-robin, so drift hits every implementation alike
                        for name, place in impls:
                            try:
                                r = py_memory_run("spead2" if name == "spead2" else name, place, bufs, sc, meta,
                                                  max_chunks=args.max_chunks, stream_chunks=args.stream_chunks,
                                                  nchunks=args.chunks)
                            except Exception as e:  # noqa: BLE001 - keep the other columns
                                traceback.print_exc()
                                r = {"impl": name, "error": repr(e)}
                            r.update(scenario=scen, streams=n)
                            results["raw"].append(r)
                            runs[name].append(r)
                            log(f"    {name}: {r.get('gbytes_per_s')} GB/s {r.get('error', '')}")
                    for name, rs in runs.items():
                        ok = [r for r in rs if "gbytes_per_s" in r and "error" not in r]
                        row[name] = max(ok, key=lambda r: r["gbytes_per_s"]) if ok else rs[-1]
                    results["memory"][scen][str(n)] = row
                    del bufs
                del arr
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    if not args.skip_udp:
        # LOSSY group window of 8 chunks, member windows of 4, 32 chunks in
        # circulation, for both libraries: with a group window of 4 both lose
        # heaps to member drift well below the receivers' capacity on this
        # 2-core machine (docs/tuning.md, "LOSSY groups and drift").
        common = ["--duration", f"{udp_dur}s", "--steps", str(udp_steps), "--search",
                  "--max-chunks", "8", "--stream-chunks", "4", "--chunks", "32"] + (["--gso"] if gso else [])
        for scen in scenarios:
            results["udp"][scen] = {}
            for n in udp_streams:
                log(f"udp {scen} N={n}")
                # Each implementation's search runs udp_repeat times, the
                # implementations taking turns, and the best zero-loss rate
                # of each counts: where the sender is the limit, its speed
                # (which shares the two CPUs with the receiver) varies more
                # between trials than the receivers differ, so one search
                # each compares the sender's luck (bench/README.md).
                searches: Dict[str, List[Dict[str, Any]]] = {}
                ctx = cplace.ctx(SCENARIOS[scen])
                # "-gro": chunkgroup's readers with UDP receive offload
                # (spead2 4.5.1 leaves UDP_GRO off and has no setting for it).
                go_impls = [("go", [])] + ([("go-gro", ["--gro"])] if udp_gro else [])
                py_impls = [("spead2", have_spead2, False), ("py", have_py, False)]
                if udp_gro:
                    py_impls.append(("py-gro", have_py, True))
                for _ in range(udp_repeat):
                    for impl, extra in go_impls:
                        lines = run_go(["udp", "--scenario", scen, "--streams", str(n)] + common + extra)
                        results["raw"] += lines
                        summ = [l for l in lines if l["kind"] == "udp_search"][0]
                        trials = [l for l in lines if l["kind"] == "udp_trial"]
                        summ["cpu_s_per_gbyte_at_max"] = trials[0].get("cpu_s_per_gbyte")
                        summ["impl"] = impl
                        searches.setdefault(impl, []).append(summ)
                        log(f"    {impl}: zero loss {summ['zero_loss_gbps']} Gb/s (sender-bound: {summ['sender_bound']})")
                    for impl, ok, gro in py_impls:
                        if not ok:
                            continue
                        place = cplace.for_spead2(ctx) if impl == "spead2" else cplace.for_chunkgroup(ctx)
                        try:
                            first: List[Dict[str, Any]] = []

                            def trial(rate: float) -> Dict[str, Any]:
                                t = py_udp_trial("spead2" if impl == "spead2" else "py", place, scen, n, rate,
                                                 udp_dur, gso, gro=gro)
                                t["impl"] = impl
                                results["raw"].append(t)
                                first.append(t)
                                return t

                            s = py_search(trial, udp_steps)
                            s["cpu_s_per_gbyte_at_max"] = first[0].get("cpu_s_per_gbyte")
                            searches.setdefault(impl, []).append(s)
                            log(f"    {impl}: zero loss {s['zero_loss_gbps']} Gb/s (sender-bound: {s['sender_bound']})")
                        except Exception as e:  # noqa: BLE001
                            traceback.print_exc()
                            searches.setdefault(impl, []).append({"error": repr(e)})
                row = {}
                for impl, ss in searches.items():
                    ok = [x for x in ss if "zero_loss_gbps" in x]
                    row[impl] = dict(max(ok, key=lambda x: x["zero_loss_gbps"])) if ok else ss[-1]
                    row[impl]["all_zero_loss_gbps"] = [x.get("zero_loss_gbps") for x in ss]
                results["udp"][scen][str(n)] = row
            for key, extra in [("recvmmsg", [])] + ([("recvmmsg-gro", ["--gro"])] if udp_gro else []):
                log(f"{key} {scen}")
                lines = run_go(["recvmmsg", "--scenario", scen, "--streams", "1"] + common + extra)
                results["raw"] += lines
                results["udp"][scen][key] = [l for l in lines if l["kind"] == "recvmmsg_search"][0]

        # Receiver alone: socket buffers filled first, then drained (best of repeat).
        for scen in scenarios:
            results["drain"][scen] = {}
            for n in udp_streams:
                log(f"udp drain {scen} N={n}")
                row = {}
                pre = ["--scenario", scen, "--streams", str(n), "--buffer", str(DRAIN_BUFFER),
                       "--prefill", str(PREFILL_HEAPS[scen] * n)] + (["--gso"] if gso else [])
                for impl, cmd in (("go", "udp"), ("recvmmsg", "recvmmsg")):
                    rs = []
                    for _ in range(repeat):
                        rs += run_go([cmd] + pre)
                    results["raw"] += rs
                    row[impl] = max(rs, key=lambda r: r["drain_packets_per_s"])
                    log(f"    {impl}: {row[impl]['drain_packets_per_s']} packets/s, loss {row[impl]['loss']}")
                if have_spead2:
                    rs = []
                    for _ in range(repeat):
                        try:
                            place = cplace.for_spead2(cplace.ctx(SCENARIOS[scen]))
                            rs.append(spead2_udp_drain(place, scen, n, gso))
                        except Exception as e:  # noqa: BLE001
                            traceback.print_exc()
                            rs.append({"impl": "spead2", "error": repr(e)})
                    results["raw"] += rs
                    ok = [r for r in rs if "drain_packets_per_s" in r]
                    row["spead2"] = max(ok, key=lambda r: r["drain_packets_per_s"]) if ok else rs[-1]
                    log(f"    spead2: {row['spead2'].get('drain_packets_per_s')} packets/s, loss {row['spead2'].get('loss')}")
                results["drain"][scen][str(n)] = row

    if args.xdp:
        run_xdp_section(results, scenarios, udp_dur, udp_steps, repeat)

    report = build_report(results)
    plot = plot_scaling(results, outdir / "memory-scaling.png")
    if plot:
        report += f"\nPlot of GB/s against N: {plot.name}\n"
    (outdir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (outdir / "results.md").write_text(report)
    print(report)
    log(f"wrote {outdir / 'results.json'} and {outdir / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
