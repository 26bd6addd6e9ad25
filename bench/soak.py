#!/usr/bin/env python3
"""Soak: a 4-member chunk stream group on loopback, fed by chunkgroup-send at
a fixed rate for a long time (make soak DURATION=10m RATE=1Gb/s).

Every 10 s it prints and records: heaps received and lost since the start
(a lost heap is a slot not present in a delivered chunk), the process's RSS,
open file descriptors and threads. At the end it draws the curves
(bench/out/soak.png, matplotlib) and fails (exit 1) if memory, descriptors
or threads grew over the second half of the run by more than a small
tolerance, or if the run lost heaps at a rate the group did not name in its
statistics.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SENDER = ROOT / "build" / "chunkgroup-send"

import chunkgroup  # noqa: E402
from chunkgroup import recv  # noqa: E402

HEAP = 1024
HPC = 1024  # heaps per chunk (the small scenario)
MEMBERS = 4


def parse_duration(s: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", s.strip())
    if not m:
        raise SystemExit(f"soak: bad duration {s!r} (e.g. 90s, 10m)")
    v, unit = float(m.group(1)), m.group(2) or "s"
    return v * {"ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]


def proc_status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", default="10m")
    ap.add_argument("--rate", default="1Gb/s", help="send rate, as chunkgroup-send --rate takes it")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = ap.parse_args()
    duration = parse_duration(args.duration)
    if not SENDER.exists():
        print(f"soak: {SENDER} is missing (make soak builds it)", file=sys.stderr)
        return 2

    data, free = recv.ChunkRingbuffer(32), recv.ChunkRingbuffer(32)
    group = recv.ChunkStreamRingGroup(recv.ChunkStreamGroupConfig(max_chunks=8), data, free)
    place = recv.GridPlacement(recv.GridDim(0, count=HPC), HEAP, heap_length_item=1)
    socks = []
    for i in range(MEMBERS):
        m = group.emplace_back(chunkgroup.ThreadPool(1), recv.StreamConfig(stream_id=i),
                               recv.ChunkStreamConfig(items=[chunkgroup.HEAP_CNT_ID, chunkgroup.HEAP_LENGTH_ID],
                                                      max_chunks=4, place=place))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        m.add_udp_reader(s)
    for _ in range(32):
        group.add_free_chunk(recv.Chunk(present=np.zeros(HPC, np.uint8), data=np.zeros(HPC * HEAP, np.uint8)))

    totals = {"heaps": 0, "lost": 0, "chunks": 0}
    lock = threading.Lock()

    def consume() -> None:
        # A chunk's missing heaps count once a later chunk has arrived: the
        # first and the last chunk of the run are partly empty by design.
        pending = None
        first = True
        for chunk in data:
            n = int(np.count_nonzero(chunk.present))
            with lock:
                totals["chunks"] += 1
                totals["heaps"] += n
                if pending is not None:
                    totals["lost"] += pending
            pending = None if first else HPC - n
            first = False
            group.add_free_chunk(chunk)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    dests = ",".join(f"127.0.0.1:{s.getsockname()[1]}" for s in socks)
    sender = subprocess.Popen([str(SENDER), "--dest", dests, "--scenario", "small", "--rate", args.rate,
                               "--duration", f"{duration}s", "--gso"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    samples = []
    t0 = time.monotonic()
    print(f"soak: {MEMBERS} members, {args.rate} for {args.duration}; a line every {args.interval:g} s", flush=True)
    print(f"{'t/s':>6} {'heaps':>12} {'lost':>8} {'loss':>8} {'RSS MiB':>8} {'fds':>4} {'threads':>7}", flush=True)
    while sender.poll() is None or time.monotonic() - t0 < 1:
        time.sleep(min(args.interval, max(0.1, duration + 2 - (time.monotonic() - t0))))
        with lock:
            h, lost = totals["heaps"], totals["lost"]
        rss = proc_status("VmRSS") / 1024
        fds = len(os.listdir("/proc/self/fd"))
        threads = proc_status("Threads")
        t = time.monotonic() - t0
        samples.append((t, h, lost, rss, fds, threads))
        print(f"{t:6.0f} {h:12d} {lost:8d} {lost / max(h + lost, 1):8.2%} {rss:8.1f} {fds:4d} {threads:7d}", flush=True)
        if sender.poll() is not None and t > duration:
            break
    out = sender.communicate(timeout=30)[0]
    consumer.join(30)
    stats = [dict(m.stats.items()) for m in group]
    group.stop()
    print(out.strip().splitlines()[-1] if out.strip() else "(sender printed nothing)")
    named = sum(s["too_old_heaps"] + s["incomplete_heaps_evicted"] + s["incomplete_heaps_flushed"] for s in stats)
    print(f"statistics: too_old + evicted + flushed = {named}; per member: "
          + "; ".join(f"{k}={sum(s[k] for s in stats)}" for k in ("heaps", "too_old_heaps", "incomplete_heaps_evicted")))

    ok = True
    if len(samples) >= 4:
        half = samples[len(samples) // 2:]
        rss_growth = half[-1][3] - half[0][3]
        if rss_growth > 32:
            print(f"soak: RSS grew by {rss_growth:.1f} MiB over the second half", file=sys.stderr)
            ok = False
        if half[-1][4] > half[0][4] + 2:
            print(f"soak: file descriptors grew from {half[0][4]} to {half[-1][4]}", file=sys.stderr)
            ok = False
        if half[-1][5] > half[0][5] + 2:
            print(f"soak: threads grew from {half[0][5]} to {half[-1][5]}", file=sys.stderr)
            ok = False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ts = [s[0] for s in samples]
        fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
        ax[0].plot(ts, [100 * s[2] / max(s[1] + s[2], 1) for s in samples], "o-")
        ax[0].set_title("heaps lost since start (%)")
        ax[1].plot(ts, [s[3] for s in samples], "o-", color="tab:orange")
        ax[1].set_title("RSS (MiB)")
        ax[2].plot(ts, [s[4] for s in samples], "o-", label="open fds")
        ax[2].plot(ts, [s[5] for s in samples], "s-", label="threads")
        ax[2].set_title("fds and threads")
        ax[2].legend()
        for a in ax:
            a.set_xlabel("time (s)")
            a.grid(True, alpha=0.3)
            a.set_ylim(bottom=0)
        fig.suptitle(f"chunkgroup soak: {MEMBERS} members on loopback, {args.rate}, {args.duration}")
        fig.tight_layout()
        outdir = Path(args.out)
        outdir.mkdir(parents=True, exist_ok=True)
        fig.savefig(outdir / "soak.png", dpi=100)
        print(f"wrote {outdir / 'soak.png'}")
    except ImportError as e:
        print(f"no plot: matplotlib is not importable ({e})")
    for s in socks:
        s.close()
    print("soak: OK" if ok else "soak: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
