"""Shared helpers for the Python tests.

Test data: heap ``ts`` (timestamp item 0x1600 = ts) carries HEAP_SIZE bytes
``payload(ts)``; chunk ``ts // HPC`` holds it at slot ``ts % HPC``.  Heap
``ts`` goes to member ``ts % 4``.
"""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import socket
import subprocess
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import pytest

import chunkgroup
from chunkgroup import Empty, Stopped
from chunkgroup import recv, send
from chunkgroup import _ffi

TS_ID = 0x1600
HPC = 8  # heaps per chunk
HEAP_SIZE = 64
ITEMS = [TS_ID, chunkgroup.HEAP_LENGTH_ID]
INT64_MAX = (1 << 63) - 1

LOSSY = recv.ChunkStreamGroupConfig.EvictionMode.LOSSY
LOSSLESS = recv.ChunkStreamGroupConfig.EvictionMode.LOSSLESS


def payload(ts: int) -> bytes:
    return bytes(((ts * 7 + j) & 0xFF) for j in range(HEAP_SIZE))


def grid(**kw) -> recv.GridPlacement:
    return recv.GridPlacement(recv.GridDim(0, count=HPC), HEAP_SIZE, heap_length_item=1, **kw)


def make_chunk(cls=recv.Chunk, extra: int = 0, present: int = HPC) -> recv.Chunk:
    return cls(
        present=np.zeros(present, np.uint8),
        data=np.zeros(HPC * HEAP_SIZE, np.uint8),
        extra=np.zeros(extra, np.uint8) if extra else None,
    )


def member_buffers(timestamps: Sequence[int], n: int = 4, **enc) -> List[bytes]:
    bufs = [bytearray() for _ in range(n)]
    for ts in timestamps:
        bufs[ts % n] += send.encode_heap(ts + 1, {TS_ID: ts}, payload(ts), **enc)
    return [bytes(b) for b in bufs]


def make_group(
    mode=LOSSY,
    group_chunks: int = 8,
    member_chunks: Optional[int] = None,
    n_free: int = 8,
    n_members: int = 4,
    place=None,
    stream_config: Optional[recv.StreamConfig] = None,
    chunk_config: Optional[recv.ChunkStreamConfig] = None,
    extra: int = 0,
    present: int = HPC,
    chunk_cls=recv.Chunk,
) -> recv.ChunkStreamRingGroup:
    data = recv.ChunkRingbuffer(max(n_free, 1))
    free = recv.ChunkRingbuffer(max(n_free, 1))
    group = recv.ChunkStreamRingGroup(
        recv.ChunkStreamGroupConfig(max_chunks=group_chunks, eviction_mode=mode), data, free
    )
    for i in range(n_members):
        sc = stream_config or recv.StreamConfig(max_heaps=4)
        sc.stream_id = i
        cc = chunk_config or recv.ChunkStreamConfig(
            items=ITEMS, max_chunks=member_chunks or min(group_chunks, 4), place=place or grid()
        )
        group.emplace_back(chunkgroup.ThreadPool(), sc, cc)
    for _ in range(n_free):
        group.add_free_chunk(make_chunk(chunk_cls, extra=extra, present=present))
    return group


class Got:
    """Copy of a delivered chunk's contents."""

    def __init__(self, chunk: recv.Chunk) -> None:
        self.chunk_id = chunk.chunk_id
        self.stream_id = chunk.stream_id
        self.present = np.array(chunk.present, copy=True)
        self.data = np.array(chunk.data, copy=True)
        self.extra = None if chunk.extra is None else np.array(chunk.extra, copy=True)
        self.type = type(chunk)


def collect(group, recycle: bool = True, timeout: float = 30.0, stop_after: Optional[int] = None) -> List[Got]:
    """Drain the group's data ring until it stops (every wait bounded)."""
    ring = group.data_ringbuffer
    out: List[Got] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for chunks; got {[g.chunk_id for g in out]}")
        r, _, _ = select.select([ring.data_fd], [], [], min(remaining, 1.0))
        if not r:
            continue
        try:
            chunk = ring.get_nowait()
        except Empty:
            continue
        except Stopped:
            return out
        out.append(Got(chunk))
        if recycle:
            group.add_free_chunk(chunk)
        if stop_after is not None and len(out) >= stop_after:
            return out


def expected_chunk(chunk_id: int, timestamps: Sequence[int], base: int = 0):
    """(present, data) that chunk ``chunk_id`` must hold."""
    present = np.zeros(HPC, np.uint8)
    data = np.zeros(HPC * HEAP_SIZE, np.uint8)
    for ts in timestamps:
        if base + ts // HPC == chunk_id:
            slot = ts % HPC
            present[slot] = 1
            data[slot * HEAP_SIZE:(slot + 1) * HEAP_SIZE] = np.frombuffer(payload(ts), np.uint8)
    return present, data


def check_chunks(got: List[Got], timestamps: Sequence[int], chunk_ids: Sequence[int], base: int = 0) -> None:
    assert [g.chunk_id for g in got] == list(chunk_ids)
    for g in got:
        present, data = expected_chunk(g.chunk_id, timestamps, base)
        np.testing.assert_array_equal(g.present, present, err_msg=f"present of chunk {g.chunk_id}")
        np.testing.assert_array_equal(g.data, data, err_msg=f"data of chunk {g.chunk_id}")


def udp_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    s.bind(("127.0.0.1", 0))
    return s


def tcp_listener() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# ---------------------------------------------------------------- C place

PLACE_C = r"""
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct place_data {   /* spead2::recv::chunk_place_data */
    const uint8_t *packet; size_t packet_size;
    int64_t *items;
    int64_t chunk_id; size_t heap_index; size_t heap_offset;
    uint64_t *batch_stats;
    uint8_t *extra; size_t extra_offset; size_t extra_size;
};

struct params {
    int64_t heaps_per_chunk, heap_size, stat_index, chunk_base, extra, index_mult;
};

/* items[0] = timestamp, items[1] = heap length */
static void place_impl(struct place_data *p, const struct params *q) {
    int64_t ts = p->items[0];
    if (ts < 0 || p->items[1] != q->heap_size)
        return;                       /* chunk_id stays -1: rejected */
    int64_t slot = ts % q->heaps_per_chunk;
    p->chunk_id = q->chunk_base + ts / q->heaps_per_chunk;
    p->heap_index = slot * q->index_mult;
    p->heap_offset = slot * q->heap_size;
    if (q->stat_index >= 0)
        p->batch_stats[q->stat_index] += 1;
    if (q->extra) {
        memcpy(p->extra, &ts, sizeof(ts));
        p->extra_offset = slot * 8;
        p->extra_size = 8;
    }
}

void place3(void *data, size_t size, void *user) {
    if (size < sizeof(struct place_data)) return;
    place_impl(data, (const struct params *) user);
}

static const struct params defaults = {8, 64, -1, 0, 0, 1};
void place2(void *data, size_t size) {
    if (size < sizeof(struct place_data)) return;
    place_impl(data, &defaults);
}
"""


class Params(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_int64)
        for name in ("heaps_per_chunk", "heap_size", "stat_index", "chunk_base", "extra", "index_mult")
    ]


def params(stat_index=-1, chunk_base=0, extra=0, index_mult=1) -> Params:
    return Params(HPC, HEAP_SIZE, stat_index, chunk_base, extra, index_mult)


PLACE_SIG3 = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
PLACE_SIG2 = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t)

_capsule_names = {}  # PyCapsule keeps the name pointer: the bytes must live on


def make_capsule(address: int, name: str, context: int = 0):
    api = ctypes.pythonapi
    api.PyCapsule_New.restype = ctypes.py_object
    api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    api.PyCapsule_SetContext.restype = ctypes.c_int
    api.PyCapsule_SetContext.argtypes = [ctypes.py_object, ctypes.c_void_p]
    bname = _capsule_names.setdefault(name, ctypes.create_string_buffer(name.encode()))
    cap = api.PyCapsule_New(address, ctypes.cast(bname, ctypes.c_char_p), None)
    if context:
        api.PyCapsule_SetContext(cap, context)
    return cap


@pytest.fixture(scope="session")
def place_lib(tmp_path_factory):
    """A tiny place-function library compiled with gcc (skipped without)."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (gcc) to build a place function")
    d = tmp_path_factory.mktemp("place")
    src = d / "place.c"
    src.write_text(PLACE_C)
    so = d / "libplace.so"
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    return str(so)


@pytest.fixture(autouse=True)
def _no_chunk_leaks():
    """Every test must leave no chunk registered once its objects are gone."""
    yield
    import gc

    gc.collect()
    deadline = time.monotonic() + 5
    while _ffi.registry_size() and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)
