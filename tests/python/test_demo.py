"""The demo (examples/python/demo.py) in quick mode: it must exit 0, and its
report, its JSON results and its PNG must all show exactly the stream the
sender produced: healthy ports complete, the lossy port missing precisely the
heaps the seeded sender skipped, the silent port present up to half-way and
absent after.

The PNG is decoded here with zlib alone (independently of the demo's writer).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "python" / "demo.py"

# The demo's stream, as its docstring describes it.
CHUNKS = 48  # --quick
HALF = CHUNKS // 2
SLOTS = 128  # 16 channel groups x 8 heap times
TIMES = 8
SLOTS_PER_PORT = 32
LOSSY, SILENT, HEALTHY = 1, 3, (0, 2)
LOSS = 0.03
SEED = 7
# Well below what loopback sustains here (about 1 Gb/s from the Python
# sender), so that nothing is dropped on a busy 2-core machine.
RATE = "0.2"


def expected_present() -> np.ndarray:
    """Which heaps the sender sends, replaying its seeded loss: heaps go out
    chunk by chunk, time by time, channel group by channel group, and the
    generator is drawn once per heap of the lossy port."""
    rng = random.Random(SEED)
    want = np.ones((CHUNKS, SLOTS), dtype=bool)
    for c in range(CHUNKS):
        for t in range(TIMES):
            for g in range(16):
                port = g // 4
                if port == SILENT and c >= HALF:
                    want[c, g * TIMES + t] = False
                elif port == LOSSY and rng.random() < LOSS:
                    want[c, g * TIMES + t] = False
    return want


def read_png(path) -> np.ndarray:
    """The picture as (height, width, 3) uint8 RGB (matplotlib reads it)."""
    import matplotlib.image

    img = matplotlib.image.imread(str(path))
    assert img.ndim == 3 and img.shape[2] in (3, 4), img.shape
    return np.rint(img[:, :, :3] * 255).astype(np.int32)


def luminance(px: np.ndarray) -> float:
    r, g, b = (float(v) for v in px)
    return 0.299 * r + 0.587 * g + 0.114 * b


def test_demo_quick(tmp_path):
    png_path = tmp_path / "completeness.png"
    json_path = tmp_path / "demo.json"
    proc = subprocess.run(
        [sys.executable, str(DEMO), "--quick", "--seed", str(SEED), "--rate", RATE,
         "--out", str(png_path), "--json", str(json_path)],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=120,
    )
    report = proc.stdout
    assert proc.returncode == 0, f"demo failed ({proc.returncode}):\n{report}\n{proc.stderr}"
    res = json.loads(json_path.read_text())
    want = expected_present()
    got = np.array(res["present"], dtype=bool)

    # ---- what was received: exactly what was sent, all of it in place.
    assert res["n_chunks"] == CHUNKS and res["chunks_received"] == CHUNKS
    assert res["unexpected_ids"] == [] and res["bad_payloads"] == 0 and res["phantom"] == 0
    assert res["forced_stop"] is False, "a stop heap was lost"
    assert res["lost_in_transit"] == 0, "loopback dropped packets: lower the test's rate"
    np.testing.assert_array_equal(got, want)
    n_want = int(want.sum())
    assert res["heaps_sent"] == res["heaps_received"] == n_want

    lossy_missing = int((~want[:, LOSSY * SLOTS_PER_PORT:(LOSSY + 1) * SLOTS_PER_PORT]).sum())
    assert 0 < lossy_missing < 0.08 * CHUNKS * SLOTS_PER_PORT  # "a few percent"
    assert res["lossy_missing"] == res["lossy_injected"] == lossy_missing
    assert res["silent_from"] == HALF and res["silent_first_missing"] == HALF
    assert res["silent_after"] == 0
    for p in HEALTHY:
        assert res["ports"][p]["received"] == res["ports"][p]["slots"] == CHUNKS * SLOTS_PER_PORT

    # Member statistics: every heap complete and placed, none too old.
    for p, st in enumerate(res["stats"]):
        assert st["heaps"] == res["ports"][p]["received"], f"member {p}: {st}"
        assert st["too_old_heaps"] == 0 and st["rejected_heaps"] == 0, f"member {p}: {st}"
        assert st["incomplete_heaps_evicted"] == st["incomplete_heaps_flushed"] == 0, f"member {p}: {st}"
        assert st["bad_placement_heaps"] == 0 and st["malformed_packets"] == 0
        assert st["packets"] > 0

    # ---- the printed report says the same.
    ports = [pp["port"] for pp in res["ports"]]
    assert f"chunks received:   {CHUNKS} of {CHUNKS}, in order" in report
    assert f"heaps received:    {n_want} of {n_want} sent (0 lost in transit)" in report
    assert "payload check:     all heaps at the right place" in report
    for p in range(4):
        line = next(ln for ln in report.splitlines() if re.match(rf"\s+member {p}\s+port\s+{ports[p]}\b", ln))
        received = int(want[:, p * SLOTS_PER_PORT:(p + 1) * SLOTS_PER_PORT].sum())
        slots = CHUNKS * SLOTS_PER_PORT
        assert f"{received:6d}/{slots:<6d}" in line, line
        assert f"{100.0 * received / slots:.2f}%" in line, line
        if p in HEALTHY:
            assert "100.00%" in line, line
    assert "silent half-way" in report and "50.00%" in report
    assert re.search(
        rf"lossy port {ports[LOSSY]}:\s+{lossy_missing} of {CHUNKS * SLOTS_PER_PORT} heaps missing .*"
        rf"the sender skipped {lossy_missing}$", report, re.M)
    assert re.search(
        rf"silent port {ports[SILENT]}:\s+stopped contributing at chunk {HALF} .*heaps after: 0, "
        rf"before: {HALF * SLOTS_PER_PORT}/{HALF * SLOTS_PER_PORT}$", report, re.M)
    stat_rows = re.findall(r"^\s+([0-3])\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", report, re.M)
    assert [int(r[0]) for r in stat_rows] == [0, 1, 2, 3]
    for r in stat_rows:
        st = res["stats"][int(r[0])]
        assert [int(v) for v in r[1:]] == [st[k] for k in (
            "packets", "heaps", "too_old_heaps", "rejected_heaps", "incomplete_heaps_evicted",
            "incomplete_heaps_flushed", "worker_blocked")]
    assert f"image:             {png_path}" in report
    # Progress went to stderr (not a terminal here: whole lines).
    assert re.search(rf"chunks\s+{CHUNKS}/{CHUNKS}\s+heaps\s+{n_want}\b", proc.stderr), proc.stderr

    # ---- the picture shows it: sample the centre of every cell.
    img = read_png(png_path)
    geo = res["geometry"]
    assert img.shape == (geo["height"], geo["width"], 3)
    x0, y0, dx, dy, sep = geo["x0"], geo["y0"], geo["dx"], geo["dy"], geo["sep"]
    assert geo["slots_per_port"] == SLOTS_PER_PORT
    assert dx >= 3 and dy >= 2, "cells large enough to sample"

    def at(c: float, col: float):
        return img[int(round(y0 + c * dy)), int(round(x0 + col * dx))]

    def col(s: int) -> int:
        return s + (s // SLOTS_PER_PORT) * sep

    def cell(c: int, s: int) -> float:
        return luminance(at(c, col(s)))

    lum = np.array([[cell(c, s) for s in range(SLOTS)] for c in range(CHUNKS)])
    bright, dark = lum > 120, lum < 60
    assert (bright | dark).all(), "every cell is clearly bright or dark"
    np.testing.assert_array_equal(bright, want)
    silent = slice(SILENT * SLOTS_PER_PORT, (SILENT + 1) * SLOTS_PER_PORT)
    lossy = slice(LOSSY * SLOTS_PER_PORT, (LOSSY + 1) * SLOTS_PER_PORT)
    assert bright[:HALF, silent].all() and dark[HALF:, silent].all()
    assert int(dark[:, lossy].sum()) == lossy_missing
    for p in HEALTHY:
        assert bright[:, p * SLOTS_PER_PORT:(p + 1) * SLOTS_PER_PORT].all()
    # Columns are coloured by port: the four ports' bright cells differ.
    tints = {tuple(at(0, col(p * SLOTS_PER_PORT))) for p in range(4)}
    assert len(tints) == 4
    # A separator between neighbouring ports, unlike either side, all the way down.
    for p in range(1, 4):
        xs = col(p * SLOTS_PER_PORT) - 1
        sep_px = tuple(at(0, xs))
        assert sep_px not in tints and sep_px == tuple(at(CHUNKS - 1, xs))
