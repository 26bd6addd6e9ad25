"""ChunkRingbuffer semantics, chunks, and the asyncio ring."""

import _thread
import asyncio
import select
import threading
import time

import numpy as np
import pytest

from chunkgroup import Empty, Full, Stopped, recv
from chunkgroup import _ffi
import chunkgroup.recv.asyncio as recv_asyncio


def chunk(**kw):
    return recv.Chunk(present=np.zeros(4, np.uint8), data=np.zeros(16, np.uint8), **kw)


def readable(fd):
    return bool(select.select([fd], [], [], 0)[0])


class MyChunk(recv.Chunk):
    def __init__(self, tag, **kw):
        super().__init__(**kw)
        self.tag = tag


def test_chunk_buffers():
    p = np.zeros(4, np.uint8)
    d = bytearray(16)
    e = memoryview(bytearray(8))
    c = recv.Chunk(present=p, data=d, extra=e, chunk_id=5, stream_id=3)
    assert c.present is p and c.data is d and c.extra is e
    assert c.chunk_id == 5 and c.stream_id == 3
    assert c._c.present_size == 4 and c._c.data_size == 16 and c._c.extra_size == 8
    c.data = None
    assert c.data is None and c._c.data_size == 0
    assert recv.Chunk().chunk_id == -1


def test_chunk_read_only_and_non_contiguous_buffers():
    with pytest.raises((TypeError, BufferError, ValueError)):
        recv.Chunk(data=b"read only")
    ro = np.zeros(8, np.uint8)
    ro.flags.writeable = False
    with pytest.raises((TypeError, BufferError, ValueError)):
        recv.Chunk(data=ro)
    with pytest.raises((TypeError, BufferError, ValueError)):
        recv.Chunk(data=np.zeros((4, 4), np.uint8)[:, 1])
    with pytest.raises((TypeError, BufferError, ValueError)):
        recv.Chunk(present=np.zeros((4, 4), np.uint8, order="F"))
    with pytest.raises(TypeError):
        recv.Chunk(data=12)


def test_put_get_same_object_and_subclass():
    r = recv.ChunkRingbuffer(3)
    assert r.maxsize == 3 and r.qsize() == 0 and r.empty() and not r.full()
    a, b = chunk(), MyChunk("b", present=np.zeros(2, np.uint8))
    r.put(a)
    r.put_nowait(b)
    assert r.qsize() == 2 and _ffi.registry_size() >= 2
    with pytest.raises(RuntimeError):
        a.data = np.zeros(4, np.uint8)  # held by the ring
    got = r.get()
    assert got is a
    got = r.get_nowait()
    assert got is b and type(got) is MyChunk and got.tag == "b"
    assert r.empty()


def test_nowait_errors():
    r = recv.ChunkRingbuffer(1)
    with pytest.raises(Empty):
        r.get_nowait()
    r.put_nowait(chunk())
    assert r.full()
    with pytest.raises(Full):
        r.put_nowait(chunk())
    r.get()


def test_put_rejects_non_chunk():
    r = recv.ChunkRingbuffer(1)
    with pytest.raises(TypeError):
        r.put(b"not a chunk")


def test_invalid_maxsize():
    with pytest.raises(ValueError):
        recv.ChunkRingbuffer(0)


def test_stop_drains_then_stopped():
    r = recv.ChunkRingbuffer(4)
    cs = [chunk(chunk_id=i) for i in range(3)]
    for c in cs:
        r.put(c)
    assert r.stop() is True
    assert r.stop() is False
    with pytest.raises(Stopped):
        r.put(chunk())
    with pytest.raises(Stopped):
        r.put_nowait(chunk())
    assert [c.chunk_id for c in r] == [0, 1, 2]  # iteration drains, then ends
    with pytest.raises(Stopped):
        r.get()
    with pytest.raises(Stopped):
        r.get_nowait()


def test_producers():
    r = recv.ChunkRingbuffer(2)
    r.add_producer()
    r.add_producer()
    assert r.remove_producer() is False
    r.put(chunk(chunk_id=7))
    assert r.remove_producer() is True
    assert [c.chunk_id for c in r] == [7]
    assert r.stop() is False


def test_fds():
    r = recv.ChunkRingbuffer(1)
    assert r.data_fd >= 0 and r.space_fd >= 0
    assert not readable(r.data_fd)
    assert readable(r.space_fd)
    r.put(chunk())
    assert readable(r.data_fd)
    assert not readable(r.space_fd)
    r.get()
    assert not readable(r.data_fd)
    r.stop()
    assert readable(r.data_fd) and readable(r.space_fd)


def test_blocking_get_released_by_stop_from_another_thread():
    r = recv.ChunkRingbuffer(1)
    result = []

    def consumer():
        try:
            r.get()
            result.append("chunk")
        except Stopped:
            result.append("stopped")

    t = threading.Thread(target=consumer)
    t.start()
    time.sleep(0.2)
    assert t.is_alive()
    r.stop()
    t.join(10)
    assert not t.is_alive(), "get() was not released by stop()"
    assert result == ["stopped"]


def test_blocking_put_released_by_get():
    r = recv.ChunkRingbuffer(1)
    r.put(chunk(chunk_id=1))
    done = threading.Event()

    def producer():
        r.put(chunk(chunk_id=2))
        done.set()

    t = threading.Thread(target=producer)
    t.start()
    time.sleep(0.2)
    assert not done.is_set()
    assert r.get().chunk_id == 1
    assert done.wait(10)
    assert r.get().chunk_id == 2
    t.join(10)


def test_gil_released_while_blocked():
    r = recv.ChunkRingbuffer(1)
    blocked = threading.Event()
    out = []

    def consumer():
        blocked.set()
        out.append(r.get())

    t = threading.Thread(target=consumer)
    t.start()
    assert blocked.wait(5)
    count = 0
    end = time.monotonic() + 0.3
    while time.monotonic() < end:  # this thread runs Python while the other blocks
        count += 1
    assert count > 1000
    c = chunk()
    r.put(c)
    t.join(10)
    assert out == [c]


def test_ctrl_c_interrupts_blocking_get():
    r = recv.ChunkRingbuffer(1)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        r.get()
    assert time.monotonic() - start < 10
    timer.join()


def test_ctrl_c_interrupts_blocking_put():
    r = recv.ChunkRingbuffer(1)
    r.put(chunk())
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    c = chunk()
    with pytest.raises(KeyboardInterrupt):
        r.put(c)
    timer.join()
    assert not _ffi.is_registered(c)  # not left in the registry
    r.get()


def test_ring_teardown_releases_chunks():
    base = _ffi.registry_size()
    r = recv.ChunkRingbuffer(4)
    for i in range(3):
        r.put(chunk(chunk_id=i))
    assert _ffi.registry_size() == base + 3
    del r
    assert _ffi.registry_size() == base


def test_registry_counts_each_hold_and_forgets_dead_chunks():
    import gc

    r = recv.ChunkRingbuffer(4)
    c = chunk(chunk_id=7)
    entries = len(_ffi._registry)
    r.put(c)
    r.put(c)  # held twice: both pops give the same object back
    assert _ffi.is_registered(c) and len(c._holds) == 2
    assert r.get() is c and _ffi.is_registered(c)
    assert r.get() is c and not _ffi.is_registered(c)
    assert _ffi.unregister(c._c) is None  # no hold left to give back
    r.put(c)  # a chunk with no hold left can be held again
    assert r.get() is c and not _ffi.is_registered(c)
    del c
    gc.collect()
    assert len(_ffi._registry) == entries - 1  # the entry went with the chunk


def test_registry_holds_stay_exact_across_threads():
    # Several threads push and pop the same chunks through two rings, each
    # chunk held twice at once (the registry takes no lock: each step must
    # be atomic under the GIL, also on one chunk's holds). Every pop must
    # return a pushed object, and at the end no hold may be left or lost.
    a, b = recv.ChunkRingbuffer(16), recv.ChunkRingbuffer(16)
    chunks = [chunk(chunk_id=i) for i in range(8)]
    for c in chunks + chunks:
        a.put(c)
    seen = set()
    errors = []

    def mover(src, dst, n):
        try:
            for _ in range(n):
                c = src.get()
                seen.add(id(c))
                dst.put(c)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=mover, args=(a, b, 3000)) for _ in range(3)]
    threads += [threading.Thread(target=mover, args=(b, a, 3000)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    assert seen == {id(c) for c in chunks}
    assert a.qsize() + b.qsize() == 16
    assert [len(c._holds) for c in chunks] == [2] * 8
    got = [a.get_nowait() for _ in range(a.qsize())] + [b.get_nowait() for _ in range(b.qsize())]
    assert sorted(c.chunk_id for c in got) == sorted(list(range(8)) * 2)
    assert all(g is chunks[g.chunk_id] for g in got)
    assert not any(_ffi.is_registered(c) for c in chunks)


def test_asyncio_ring_get_and_async_for():
    async def main():
        r = recv_asyncio.ChunkRingbuffer(4)
        loop = asyncio.get_running_loop()
        c1, c2 = chunk(chunk_id=1), chunk(chunk_id=2)
        loop.call_later(0.1, r.put, c1)
        got = await asyncio.wait_for(r.get(), 10)
        assert got is c1

        def later():
            r.put(c2)
            r.stop()

        threading.Timer(0.1, later).start()
        ids = []

        async def drain():
            async for c in r:
                ids.append(c.chunk_id)

        await asyncio.wait_for(drain(), 10)
        assert ids == [2]
        with pytest.raises(Stopped):
            await r.get()

    asyncio.run(main())


@pytest.mark.asyncio
async def test_asyncio_ring_does_not_block_loop():
    r = recv_asyncio.ChunkRingbuffer(1)
    task = asyncio.ensure_future(r.get())
    ticks = 0
    for _ in range(5):
        await asyncio.sleep(0.02)
        ticks += 1
    assert ticks == 5 and not task.done()
    r.stop()
    with pytest.raises(Stopped):
        await asyncio.wait_for(task, 10)


def test_get_from_several_threads_at_once():
    # Regression: get() waits on the readiness fd with poll(); two threads
    # waiting on one ring at once must each get a chunk (a shared poll
    # object raised "concurrent poll() invocation").
    r = recv.ChunkRingbuffer(4)
    got, errors = [], []

    def waiter():
        try:
            got.append(r.get().chunk_id)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=waiter) for _ in range(4)]
    for t in ts:
        t.start()
    time.sleep(0.2)
    for i in range(4):
        r.put(chunk(chunk_id=i))
    for t in ts:
        t.join(10)
    assert not errors and sorted(got) == [0, 1, 2, 3]
