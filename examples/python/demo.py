#!/usr/bin/env python3
"""chunkgroup demo: a 4-port SPEAD stream on loopback, received into chunks
by a 4-member LOSSY chunk stream group.

The stream is what a correlator or beamformer front end typically emits:
4096 channels split into 16 channel groups of 256; every heap carries one
channel group for 256 time samples (8 KiB), with a TIMESTAMP item (in
samples) and a FREQUENCY item (first channel of the heap). UDP port p
carries channel groups 4p..4p+3.

The receiver assembles 8 heap times x 16 channel groups = 128 heaps (1 MiB)
into each chunk, one group member per port, placing heaps with the
library's built-in GridPlacement (no compiler, no per-heap Python).

To make things interesting the sender drops a few percent of the heaps of
one port (seeded, so the run is reproducible) and stops sending on another
port half-way through. A LOSSY group keeps going regardless: when the
healthy members get a group window ahead, the idle member is flushed.

At the end it prints a report and writes a PNG of chunk completeness over
time (rows = chunks, columns = heap slots, tinted by port).

    python examples/python/demo.py [--quick] [--out PATH] [--seed N] [--rate GBPS]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import sys
import threading
import time
from typing import Dict, List, Optional, TextIO

import numpy as np

import chunkgroup
from chunkgroup import recv, send


# ---------------------------------------------------------------- the stream

N_CHANNELS = 4096
CHANNELS_PER_HEAP = 256
N_GROUPS = N_CHANNELS // CHANNELS_PER_HEAP  # 16 channel groups
N_PORTS = 4
GROUPS_PER_PORT = N_GROUPS // N_PORTS  # port p: channel groups 4p..4p+3
SAMPLES_PER_HEAP = 256  # TIMESTAMP step from one heap time to the next
HEAP_SIZE = 8192  # payload bytes per heap
TIMES_PER_CHUNK = 8  # heap times per chunk
HEAPS_PER_CHUNK = TIMES_PER_CHUNK * N_GROUPS  # 128 heaps = 1 MiB per chunk
SLOTS_PER_PORT = HEAPS_PER_CHUNK // N_PORTS
TIMESTAMP_ID = 0x1600
FREQUENCY_ID = 0x4103
# Timestamp of the first heap: an ADC sample count since some sync epoch.
# The receiver is told it (GridDim origin) so that chunk IDs start at 0.
T0 = 0x12_3456_0000

LOSSY_PORT = 1
SILENT_PORT = 3
LOSS = 0.03  # fraction of the lossy port's heaps that the sender skips

# ---------------------------------------------------------------- receiver

# Group window: how far (in chunks) the healthy members may run ahead of an
# idle one before LOSSY flushes it. Large enough to absorb a member that is
# briefly descheduled (its packets wait in the socket buffer), small enough
# that a silent port delays chunks by a fraction of a second (8 MiB).
GROUP_WINDOW = 8
MEMBER_WINDOW = 2  # each member sees its heaps in time order
# Chunks in circulation: the group window, plus what sits in the data ring
# and with the consumer.
N_CHUNKS_FREE = GROUP_WINDOW + 4
SOCKET_BUFFER = 4 * 1024 * 1024

DEFAULT_CHUNKS = 192
QUICK_CHUNKS = 48
DEFAULT_RATE_GBPS = 0.4


def slot_of(t: int, group: int) -> int:
    """Heap slot within a chunk: channel-group-major, so a port's slots are
    contiguous (port p owns slots 32p..32p+31)."""
    return group * TIMES_PER_CHUNK + t


def port_of_slot(slot: int) -> int:
    return slot // SLOTS_PER_PORT


def timestamp(chunk: int, t: int) -> int:
    return T0 + (chunk * TIMES_PER_CHUNK + t) * SAMPLES_PER_HEAP


def make_placement() -> recv.GridPlacement:
    # items[0] = TIMESTAMP, items[1] = FREQUENCY, items[2] = HEAP_LENGTH.
    # chunk_id = (TIMESTAMP - T0) // (256 * 8); slot = channel group * 8 + t.
    place = recv.GridPlacement(
        recv.GridDim(0, origin=T0, step=SAMPLES_PER_HEAP, count=TIMES_PER_CHUNK, stride=1),
        HEAP_SIZE,
        dims=[recv.GridDim(1, origin=0, step=CHANNELS_PER_HEAP, count=N_GROUPS, stride=TIMES_PER_CHUNK)],
        heap_length_item=2,
    )
    assert place.heaps_per_chunk == HEAPS_PER_CHUNK and place.chunk_size == HEAPS_PER_CHUNK * HEAP_SIZE
    return place


def payload_tail(slot: int) -> bytes:
    """Payload after the first 8 bytes (which hold the timestamp): the slot
    number, so the consumer can check where each heap landed."""
    return bytes([slot]) * (HEAP_SIZE - 8)


# ---------------------------------------------------------------- sender


class Sender(threading.Thread):
    """Sends the whole stream from a Python thread (the Go sender does the
    encoding, pacing and sendmmsg; the GIL is released while it works)."""

    def __init__(self, ports: List[int], n_chunks: int, rate_gbps: float, seed: int) -> None:
        super().__init__(name="demo-sender", daemon=True)
        self.ports = ports
        self.n_chunks = n_chunks
        self.rate = rate_gbps * 1e9 / 8  # bytes per second
        self.rng = random.Random(seed)
        self.silent_from = n_chunks // 2
        self.sent = np.zeros((n_chunks, HEAPS_PER_CHUNK), dtype=bool)
        self.chunks_sent = 0
        self.error: Optional[BaseException] = None
        self.abort = threading.Event()

    def run(self) -> None:
        try:
            self._run()
        except BaseException as e:  # reported by the main thread
            self.error = e

    def _run(self) -> None:
        tails = [payload_tail(s) for s in range(HEAPS_PER_CHUNK)]
        cnt = [1] * N_PORTS  # heap counters, one sequence per port
        dests = [("127.0.0.1", p) for p in self.ports]
        with send.UdpSender(dests, rate=self.rate) as sender:
            for c in range(self.n_chunks):
                if self.abort.is_set():
                    return
                for t in range(TIMES_PER_CHUNK):
                    ts = timestamp(c, t)
                    head = ts.to_bytes(8, "little")
                    for g in range(N_GROUPS):
                        port = g // GROUPS_PER_PORT
                        if port == SILENT_PORT and c >= self.silent_from:
                            continue
                        if port == LOSSY_PORT and self.rng.random() < LOSS:
                            continue
                        slot = slot_of(t, g)
                        items = [(TIMESTAMP_ID, ts), (FREQUENCY_ID, g * CHANNELS_PER_HEAP)]
                        sender.send_heap(cnt[port], items, head + tails[slot], dest=port)
                        cnt[port] += 1
                        self.sent[c, slot] = True
                # The sender queues packets per destination; flushing after
                # every chunk keeps the four ports in step, as separate
                # hardware senders sharing a clock would be.
                sender.flush()
                self.chunks_sent = c + 1
            sender.send_stop()  # end of stream on every port
            sender.flush()


# ---------------------------------------------------------------- progress


class Progress:
    """A one-line live display: rewritten in place ~4x/s on a terminal,
    printed as a new line every few seconds otherwise."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = 0.25 if self.tty else 3.0
        self.total = total
        self.start = time.monotonic()
        self.last_t = self.start
        self.last_bytes = 0
        self.width = 0

    def update(self, chunks: int, heaps: int, bytes_: int, final: bool = False) -> None:
        """Show the counts so far; ``bytes_`` (payload received) gives the
        rate since the last update, or the average over the run if
        ``final``."""
        now = time.monotonic()
        if not final and now - self.last_t < self.interval:
            return
        since_t, since_b = (self.start, 0) if final else (self.last_t, self.last_bytes)
        gbps = (bytes_ - since_b) * 8 / max(now - since_t, 1e-6) / 1e9
        self.last_t, self.last_bytes = now, bytes_
        slots = chunks * HEAPS_PER_CHUNK
        pct = 100.0 * heaps / slots if slots else 0.0
        line = (
            f"[{now - self.start:5.1f} s] chunks {chunks:4d}/{self.total}  heaps {heaps:7d}  "
            f"complete {pct:5.1f}%  {gbps:5.2f} Gb/s"
        )
        if self.tty:
            self.stream.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Leave the last line on the terminal."""
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0


# ---------------------------------------------------------------- image

PORT_COLORS = [(90, 170, 255), (255, 170, 60), (110, 220, 120), (230, 110, 230)]
SEPARATOR = (255, 255, 255)
MISSING_FACTOR = 0.2  # missing = the port's colour, very dark


def draw(present: np.ndarray, port_labels: List[str], path: str) -> Dict[str, float]:
    """Draw the completeness picture with matplotlib and return where its
    cells are (for the test), in pixels of the saved PNG: the centre of the
    cell of chunk c, slot s is at (x0 + col(s) * dx, y0 + c * dy), where
    col(s) = s + (s // slots_per_port) * sep skips the white separator
    columns between ports."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    n = present.shape[0]
    sep = 1
    ncols = HEAPS_PER_CHUNK + (N_PORTS - 1) * sep
    img = np.empty((n, ncols, 3))
    img[:] = np.array(SEPARATOR) / 255
    for slot in range(HEAPS_PER_CHUNK):
        col = slot + (slot // SLOTS_PER_PORT) * sep
        base = np.array(PORT_COLORS[port_of_slot(slot)]) / 255
        img[:, col] = np.where(present[:, slot, None], base, base * MISSING_FACTOR)

    fig, ax = plt.subplots(figsize=(11, min(9.0, 3.0 + n * 0.03)), dpi=100)
    ax.imshow(img, aspect="auto", interpolation="nearest", extent=(-0.5, ncols - 0.5, n - 0.5, -0.5))
    ax.set_xticks([p * (SLOTS_PER_PORT + sep) + (SLOTS_PER_PORT - 1) / 2 for p in range(N_PORTS)])
    ax.set_xticklabels(port_labels, fontsize=9)
    ax.set_xlabel(f"heap slots of a chunk: {HEAPS_PER_CHUNK // TIMES_PER_CHUNK} channel groups x "
                  f"{TIMES_PER_CHUNK} times each, grouped by the UDP port (member stream) that carries them")
    ax.set_ylabel(f"chunk ID (time; one chunk = {TIMES_PER_CHUNK} heap times)")
    ax.set_title(f"chunk completeness: {n} chunks x {HEAPS_PER_CHUNK} heap slots, as the consumer received them")
    handles = [Patch(facecolor=np.array(c) / 255, label=f"received via port {i + 1}")
               for i, c in enumerate(PORT_COLORS[:N_PORTS])]
    handles.append(Patch(facecolor=np.array(PORT_COLORS[0]) / 255 * MISSING_FACTOR,
                         label="missing (the port's colour, dark)"))
    handles.append(Patch(facecolor="white", edgecolor="grey", label="border between ports"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    fig.tight_layout()
    fig.canvas.draw()
    width, height = fig.canvas.get_width_height()

    def px(x: float, y: float):
        X, Y = ax.transData.transform((x, y))
        return float(X), float(height - Y)  # image rows count from the top

    x0, y0 = px(0, 0)
    x1, y1 = px(1, 1)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=fig.dpi)
    plt.close(fig)
    return {"x0": x0, "y0": y0, "dx": x1 - x0, "dy": y1 - y0, "sep": sep, "slots_per_port": SLOTS_PER_PORT,
            "width": width, "height": height}


# ---------------------------------------------------------------- receiver


def build_group() -> recv.ChunkStreamRingGroup:
    data_ring = recv.ChunkRingbuffer(N_CHUNKS_FREE)
    free_ring = recv.ChunkRingbuffer(N_CHUNKS_FREE)
    group = recv.ChunkStreamRingGroup(
        recv.ChunkStreamGroupConfig(max_chunks=GROUP_WINDOW, eviction_mode=recv.ChunkStreamGroupConfig.EvictionMode.LOSSY),
        data_ring,
        free_ring,
    )
    place = make_placement()
    items = [TIMESTAMP_ID, FREQUENCY_ID, chunkgroup.HEAP_LENGTH_ID]
    for p in range(N_PORTS):
        group.emplace_back(
            chunkgroup.ThreadPool(),
            recv.StreamConfig(max_heaps=4, stream_id=p),
            recv.ChunkStreamConfig(items=items, max_chunks=MEMBER_WINDOW, place=place),
        )
    for _ in range(N_CHUNKS_FREE):
        group.add_free_chunk(
            recv.Chunk(present=np.zeros(HEAPS_PER_CHUNK, np.uint8), data=np.zeros(place.chunk_size, np.uint8))
        )
    return group


def check_payloads(chunk: recv.Chunk) -> int:
    """Number of present heaps whose payload is not what the sender put at
    that slot (timestamp in the first 8 bytes, slot number after)."""
    cid = chunk.chunk_id
    present = np.asarray(chunk.present, dtype=bool)
    data = np.asarray(chunk.data).reshape(HEAPS_PER_CHUNK, HEAP_SIZE)
    slots = np.arange(HEAPS_PER_CHUNK)
    want_ts = T0 + (cid * TIMES_PER_CHUNK + slots % TIMES_PER_CHUNK) * SAMPLES_PER_HEAP
    got_ts = data[:, :8].copy().view("<u8").ravel()
    ok = (got_ts == want_ts.astype(np.uint64)) & (data[:, 8] == slots) & (data[:, -1] == slots)
    return int(np.count_nonzero(present & ~ok))


def pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.2f}%" if b else "n/a"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_CHUNKS} chunks instead of {DEFAULT_CHUNKS}")
    ap.add_argument("--chunks", type=int, default=None, help="number of chunks to send")
    ap.add_argument("--out", default=os.path.join("build", "demo-completeness.png"), help="PNG path")
    ap.add_argument("--seed", type=int, default=1, help="seed of the injected loss")
    ap.add_argument("--rate", type=float, default=DEFAULT_RATE_GBPS, help="sender rate limit in Gb/s")
    ap.add_argument("--json", default=None, help="also write the results as JSON here (for tests)")
    args = ap.parse_args(argv)
    n_chunks = args.chunks or (QUICK_CHUNKS if args.quick else DEFAULT_CHUNKS)
    if n_chunks < 2 or args.rate <= 0:
        ap.error("need at least 2 chunks and a positive rate")

    group = build_group()
    ports = []
    for member in group:
        member.add_udp_reader(0, buffer_size=SOCKET_BUFFER, bind_hostname="127.0.0.1")
        ports.append(member.last_reader_port)
    print(
        f"chunkgroup {chunkgroup.__version__} demo: {N_CHANNELS} channels in {N_GROUPS} groups of "
        f"{CHANNELS_PER_HEAP}, {HEAP_SIZE // 1024} KiB heaps, over UDP ports {', '.join(map(str, ports))} "
        f"on 127.0.0.1"
    )
    print(
        f"  {n_chunks} chunks of {TIMES_PER_CHUNK} times x {N_GROUPS} channel groups = {HEAPS_PER_CHUNK} heaps "
        f"({HEAPS_PER_CHUNK * HEAP_SIZE // 1048576} MiB); LOSSY group of {N_PORTS} members, window "
        f"{GROUP_WINDOW} chunks; sender at {args.rate:g} Gb/s"
    )
    print(
        f"  injected: {LOSS:.0%} of port {ports[LOSSY_PORT]}'s heaps dropped (seed {args.seed}); "
        f"port {ports[SILENT_PORT]} silent from chunk {n_chunks // 2}"
    )
    sys.stdout.flush()

    sender = Sender(ports, n_chunks, args.rate, args.seed)
    progress = Progress(sys.stderr, n_chunks)
    present = np.zeros((n_chunks, HEAPS_PER_CHUNK), dtype=bool)
    seen = np.zeros(n_chunks, dtype=bool)
    unexpected_ids: List[int] = []
    bad_payloads = 0
    heaps = 0
    chunks = 0
    out_of_order = 0
    last_id = -1
    forced_stop = False
    data_ring = group.data_ringbuffer
    t_start = time.monotonic()
    sender.start()
    last_chunk_t = time.monotonic()
    try:
        while True:
            r, _, _ = select.select([data_ring.data_fd], [], [], 0.1)
            if r:
                try:
                    chunk = data_ring.get_nowait()
                except chunkgroup.Empty:
                    chunk = None
                except chunkgroup.Stopped:
                    break  # every member saw the end of its stream
                if chunk is not None:
                    last_chunk_t = time.monotonic()
                    cid = chunk.chunk_id
                    p = np.asarray(chunk.present, dtype=bool)
                    if 0 <= cid < n_chunks:
                        present[cid] = p
                        seen[cid] = True
                        bad_payloads += check_payloads(chunk)
                    else:
                        unexpected_ids.append(cid)
                    if cid < last_id:
                        out_of_order += 1
                    last_id = cid
                    heaps += int(np.count_nonzero(p))
                    chunks += 1
                    group.add_free_chunk(chunk)
            progress.update(chunks, heaps, heaps * HEAP_SIZE)
            # The stop heaps end the stream; should one be lost on the way,
            # don't wait for ever.
            if not sender.is_alive() and time.monotonic() - last_chunk_t > 3.0:
                forced_stop = True
                group.stop()
    except KeyboardInterrupt:
        sender.abort.set()
        progress.close()
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        sender.abort.set()
    elapsed = time.monotonic() - t_start
    progress.update(chunks, heaps, heaps * HEAP_SIZE, final=True)
    progress.close()
    sender.join(timeout=10)
    stats = [m.stats for m in group]
    group.stop()
    if sender.error is not None:
        print(f"sender failed: {sender.error!r}", file=sys.stderr)
        return 1

    # ------------------------------------------------------------ report
    sent = sender.sent
    port_slots = [slice(p * SLOTS_PER_PORT, (p + 1) * SLOTS_PER_PORT) for p in range(N_PORTS)]
    n_sent = int(sent.sum())
    n_slots = n_chunks * HEAPS_PER_CHUNK
    lost_in_transit = int(np.count_nonzero(sent & ~present))
    phantom = int(np.count_nonzero(present & ~sent))  # must be 0: nothing invented
    per_port = []
    for p in range(N_PORTS):
        sl = port_slots[p]
        per_port.append({
            "port": ports[p],
            "received": int(present[:, sl].sum()),
            "sent": int(sent[:, sl].sum()),
            "slots": n_chunks * SLOTS_PER_PORT,
        })
    silent_sl = port_slots[SILENT_PORT]
    silent_any = present[:, silent_sl].any(axis=1)
    silent_first = next((c for c in range(n_chunks) if not silent_any[c]), None)
    half = sender.silent_from
    silent_after = int(present[half:, silent_sl].sum())
    silent_before = int(present[:half, silent_sl].sum())
    lossy = per_port[LOSSY_PORT]
    lossy_missing = lossy["slots"] - lossy["received"]
    lossy_injected = lossy["slots"] - lossy["sent"]

    print()
    print(f"chunks received:   {int(seen.sum())} of {n_chunks}"
          + (f" ({out_of_order} out of order)" if out_of_order else ", in order")
          + (f"; unexpected IDs {unexpected_ids}" if unexpected_ids else ""))
    print(f"heaps received:    {heaps} of {n_sent} sent ({lost_in_transit} lost in transit); "
          f"{pct(heaps, n_slots)} of {n_slots} slots")
    print(f"payload check:     {'all heaps at the right place' if bad_payloads == 0 else f'{bad_payloads} heaps WRONG'}")
    print("completeness per port (member):")
    roles = {LOSSY_PORT: "lossy", SILENT_PORT: "silent half-way"}
    for p, pp in enumerate(per_port):
        ch0 = p * GROUPS_PER_PORT * CHANNELS_PER_HEAP
        ch1 = ch0 + GROUPS_PER_PORT * CHANNELS_PER_HEAP - 1
        print(f"  member {p}  port {pp['port']:5d}  channels {ch0:4d}-{ch1:4d}  "
              f"{pp['received']:6d}/{pp['slots']:<6d} {pct(pp['received'], pp['slots']):>8}  {roles.get(p, 'healthy')}")
    print(f"lossy port {ports[LOSSY_PORT]}:   {lossy_missing} of {lossy['slots']} heaps missing "
          f"({pct(lossy_missing, lossy['slots'])}); the sender skipped {lossy_injected}")
    if silent_first is None:
        print(f"silent port {ports[SILENT_PORT]}:  never stopped contributing")
    else:
        print(f"silent port {ports[SILENT_PORT]}:  stopped contributing at chunk {silent_first} "
              f"(first chunk with all its {SLOTS_PER_PORT} slots missing; the sender stopped at "
              f"chunk {half}); heaps after: {silent_after}, before: {silent_before}/{half * SLOTS_PER_PORT}")
    print("per-member statistics:")
    cols = ["packets", "heaps", "too_old_heaps", "rejected_heaps", "incomplete_heaps_evicted",
            "incomplete_heaps_flushed", "worker_blocked"]
    print("  member " + " ".join(f"{c:>{max(8, len(c))}}" for c in cols))
    for p, st in enumerate(stats):
        print(f"  {p:6d} " + " ".join(f"{st[c]:>{max(8, len(c))}d}" for c in cols))
    if lost_in_transit:
        print(f"note: {lost_in_transit} heaps were sent but not received: loopback UDP dropped packets "
              f"(a busy machine); try a lower --rate")
    if forced_stop:
        print("note: a stop heap did not arrive; the group was stopped after 3 s without data")

    labels = []
    for p, pp in enumerate(per_port):
        role = {LOSSY_PORT: "lossy", SILENT_PORT: "silent"}.get(p, "ok")
        ch0 = p * GROUPS_PER_PORT * CHANNELS_PER_HEAP
        labels.append(
            f"port {p + 1}: udp {pp['port']}\nchannels {ch0}-{ch0 + GROUPS_PER_PORT * CHANNELS_PER_HEAP - 1}\n"
            f"{role}, {100.0 * pp['received'] / pp['slots']:.1f}% received"
        )
    geometry = draw(present, labels, args.out)
    print(f"image:             {args.out}  (rows = chunks, columns = 16 channel groups x 8 times, "
          f"coloured by port; bright = received, dark = missing; drawn with matplotlib)")
    print(f"elapsed:           {elapsed:.1f} s, {heaps * HEAP_SIZE * 8 / elapsed / 1e9:.2f} Gb/s of payload on average")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({
                "n_chunks": n_chunks,
                "chunks_received": int(seen.sum()),
                "unexpected_ids": unexpected_ids,
                "heaps_received": heaps,
                "heaps_sent": n_sent,
                "lost_in_transit": lost_in_transit,
                "phantom": phantom,
                "bad_payloads": bad_payloads,
                "ports": per_port,
                "lossy_port": LOSSY_PORT,
                "silent_port": SILENT_PORT,
                "silent_from": half,
                "silent_first_missing": silent_first,
                "silent_after": silent_after,
                "lossy_missing": lossy_missing,
                "lossy_injected": lossy_injected,
                "present": present.astype(np.uint8).tolist(),
                "stats": [dict(st.items()) for st in stats],
                "forced_stop": forced_stop,
                "image": args.out,
                "geometry": geometry,
            }, f)
    failed = bad_payloads or phantom or unexpected_ids or not seen.any()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
