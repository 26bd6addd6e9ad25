#!/usr/bin/env python3
"""Where a Python consumer's time goes: the memory scenario of bench.py
(same group settings), with the consumer loop written out so that every
call is timed, plus each thread's CPU time and context switches.

    .venv/bin/python bench/consumer_probe.py [--scenario small] [--streams 2]
        [--bytes N] [--repeat 3] [--place c|grid]

Per run it prints GB/s, the number of polls of the data fd (about one per
chunk when nothing spins; docs/tuning.md, third round), percentiles of
try_pop, add_free_chunk and the poll wait in microseconds, and the busiest
threads (CPU ticks, involuntary and voluntary switches; PY is the
consumer). Needs chunkgroup-bench built (make bench does it)."""
import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402  (the scenario data and the C place function)

import chunkgroup  # noqa: E402
import chunkgroup.recv as recv  # noqa: E402
from chunkgroup._ffi import ffi, lib  # noqa: E402
from chunkgroup.recv.chunks import _take_back  # noqa: E402


def thread_stats() -> Dict[str, Tuple[int, int, int]]:
    """tid -> (CPU ticks, involuntary switches, voluntary switches)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            status = open(f"/proc/self/task/{tid}/status").read()
        except OSError:
            continue
        inv = int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0])
        vol = int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0])
        out[tid] = (int(stat[11]) + int(stat[12]), inv, vol)
    return out


def pct(v: List[int]) -> str:
    if not v:
        return "-"
    p = np.percentile(np.array(v) / 1000.0, [50, 90, 99, 99.9])
    return "p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f us, sum %.1f ms" % (*p, max(v) / 1000.0, sum(v) / 1e6)


def run(place, bufs, sc) -> None:
    nchunks = 16
    hpc, hp = sc["heaps_per_chunk"], sc["heap_payload"]
    data_ring, free_ring = recv.ChunkRingbuffer(nchunks), recv.ChunkRingbuffer(nchunks)
    gcfg = recv.ChunkStreamGroupConfig(max_chunks=4, eviction_mode=recv.ChunkStreamGroupConfig.EvictionMode.LOSSLESS)
    group = recv.ChunkStreamRingGroup(gcfg, data_ring, free_ring)
    for i in range(len(bufs)):
        group.emplace_back(chunkgroup.ThreadPool(1), recv.StreamConfig(max_heaps=4, stream_id=i),
                           recv.ChunkStreamConfig(items=[B.HEAP_CNT_ID, B.HEAP_LENGTH_ID], max_chunks=2, place=place))
    for _ in range(nchunks):
        group.add_free_chunk(recv.Chunk(present=np.zeros(hpc, np.uint8), data=np.ones(hpc * hp, np.uint8)))
    pops: List[int] = []
    adds: List[int] = []
    waits: List[int] = []
    out = ffi.new("cg_chunk **")
    ptr = data_ring._ptr
    poller = data_ring._data_poller()
    clock = time.perf_counter_ns
    heaps = 0
    s0 = thread_stats()
    t0 = time.perf_counter()
    for i, stream in enumerate(group):
        stream.add_buffer_reader(bufs[i])
    while True:
        a = clock()
        st = lib.cg_ring_try_pop(ptr, out)
        b = clock()
        pops.append(b - a)
        if st == lib.CG_EEMPTY:
            poller.poll(200)
            waits.append(clock() - b)
            continue
        if st != lib.CG_OK:
            break  # stopped: every member ended
        chunk = _take_back(out[0])
        heaps += int(np.count_nonzero(chunk.present))
        a = clock()
        group.add_free_chunk(chunk)
        adds.append(clock() - a)
    elapsed = time.perf_counter() - t0
    s1 = thread_stats()
    group.stop()
    me = str(threading.get_native_id())
    rows = sorted(((tuple(x - y for x, y in zip(s1[t], s0.get(t, (0, 0, 0)))), t) for t in s1), reverse=True)
    print(f"{heaps * hp / elapsed / 1e9:.2f} GB/s in {elapsed * 1000:.0f} ms, {len(adds)} chunks, {len(waits)} polls")
    print("  try_pop        ", pct(pops))
    print("  add_free_chunk ", pct(adds))
    print("  poll wait      ", pct(waits))
    print("  threads (CPU ticks, involuntary, voluntary):",
          ", ".join(f"{c}/{i}/{v}{' PY' if t == me else ''}" for (c, i, v), t in rows[:6] if c or i or v))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="small", choices=sorted(B.SCENARIOS))
    ap.add_argument("--streams", type=int, default=2)
    ap.add_argument("--bytes", type=int, default=1 << 29)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--place", default="c", choices=["c", "grid"])
    args = ap.parse_args()
    sc = B.SCENARIOS[args.scenario]
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as d:
        tmp = Path(d)
        arr, meta = B.make_packets(args.scenario, args.bytes, tmp)
        if args.place == "c":
            cplace = B.CPlace(tmp)
            place = cplace.for_chunkgroup(cplace.ctx(sc))
        else:
            place = recv.GridPlacement(recv.GridDim(0, count=sc["heaps_per_chunk"]), sc["heap_payload"], heap_length_item=1)
        bufs = B.split_streams(arr, meta, args.streams)
        for _ in range(args.repeat):
            run(place, bufs, sc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
