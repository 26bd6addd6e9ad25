"""chunkgroup.recv.asyncio.ChunkRingbuffer with many waiters: every chunk
reaches exactly one waiter, cancelling a waiter (directly or through
asyncio.wait_for) strands no other and loses no chunk, stop wakes them all
with Stopped, and ``async for`` ends.  Every test is bounded by
asyncio.wait_for, so a stranded waiter fails the test instead of hanging."""

import asyncio
import threading

import numpy as np
import pytest

from chunkgroup import Stopped, recv
import chunkgroup.recv.asyncio as recv_asyncio

BOUND = 10.0  # seconds any test may wait


def chunk(i):
    return recv.Chunk(chunk_id=i, present=np.zeros(1, np.uint8), data=np.zeros(8, np.uint8))


async def _bounded(aw):
    return await asyncio.wait_for(aw, BOUND)


@pytest.mark.asyncio
@pytest.mark.parametrize("waiters", [1, 2, 8])
async def test_each_chunk_reaches_exactly_one_waiter(waiters):
    r = recv_asyncio.ChunkRingbuffer(waiters)
    tasks = [asyncio.ensure_future(r.get()) for _ in range(waiters)]
    await asyncio.sleep(0.05)  # all of them are waiting now
    assert not any(t.done() for t in tasks)
    chunks = [chunk(i) for i in range(waiters)]
    loop = asyncio.get_running_loop()
    for i, c in enumerate(chunks):
        loop.call_later(0.01 * i, r.put_nowait, c)
    got = await _bounded(asyncio.gather(*tasks))
    assert sorted(x.chunk_id for x in got) == list(range(waiters))
    assert {id(x) for x in got} == {id(c) for c in chunks}  # the same objects
    assert r.qsize() == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("waiters", [2, 8])
async def test_put_from_another_thread_wakes_waiters(waiters):
    r = recv_asyncio.ChunkRingbuffer(waiters)
    tasks = [asyncio.ensure_future(r.get()) for _ in range(waiters)]
    await asyncio.sleep(0.05)
    chunks = [chunk(i) for i in range(waiters)]
    t = threading.Thread(target=lambda: [r.put(c) for c in chunks])
    t.start()
    got = await _bounded(asyncio.gather(*tasks))
    t.join(BOUND)
    assert sorted(x.chunk_id for x in got) == list(range(waiters))


@pytest.mark.asyncio
@pytest.mark.parametrize("waiters", [2, 8])
async def test_cancelling_one_waiter_strands_no_other(waiters):
    r = recv_asyncio.ChunkRingbuffer(waiters)
    tasks = [asyncio.ensure_future(r.get()) for _ in range(waiters)]
    await asyncio.sleep(0.05)
    tasks[0].cancel()  # the first to register: it shared the fd registration
    await asyncio.sleep(0)
    r.put_nowait(chunk(7))
    rest = tasks[1:]
    done, pending = await asyncio.wait(rest, timeout=BOUND, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1, "no remaining waiter got the chunk"
    assert next(iter(done)).result().chunk_id == 7
    assert tasks[0].cancelled()
    r.stop()
    results = await _bounded(asyncio.gather(*pending, return_exceptions=True))
    assert all(isinstance(x, Stopped) for x in results)


@pytest.mark.asyncio
async def test_cancelled_after_wakeup_loses_no_chunk():
    # A waiter woken by the chunk's arrival and cancelled before it runs
    # leaves the chunk for the others (every waiter was woken).
    r = recv_asyncio.ChunkRingbuffer(2)
    a = asyncio.ensure_future(r.get())
    b = asyncio.ensure_future(r.get())
    await asyncio.sleep(0.05)
    r.put_nowait(chunk(1))
    # Let the loop see the fd readable (wakes a and b), then cancel a
    # before it runs again.
    loop = asyncio.get_running_loop()
    woke = loop.create_future()
    loop.call_soon(lambda: (a.cancel(), woke.set_result(None)))
    await woke
    got = await _bounded(b)
    assert got.chunk_id == 1
    with pytest.raises(asyncio.CancelledError):
        await a
    assert r.qsize() == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("waiters", [1, 2, 8])
async def test_wait_for_timeouts_lose_no_chunk(waiters):
    # Waiters that time out through asyncio.wait_for again and again while
    # chunks arrive: every chunk is taken exactly once by someone.
    n = 200
    r = recv_asyncio.ChunkRingbuffer(n)
    got = []

    async def waiter():
        while True:
            try:
                c = await asyncio.wait_for(r.get(), 0.001)
            except asyncio.TimeoutError:
                continue
            except Stopped:
                return
            got.append(c.chunk_id)

    tasks = [asyncio.ensure_future(waiter()) for _ in range(waiters)]

    def producer():
        for i in range(n):
            r.put(chunk(i))
            if i % 16 == 0:
                threading.Event().wait(0.001)
        r.stop()

    t = threading.Thread(target=producer)
    t.start()
    await _bounded(asyncio.gather(*tasks))
    t.join(BOUND)
    assert sorted(got) == list(range(n))


@pytest.mark.asyncio
@pytest.mark.parametrize("waiters", [1, 2, 8])
async def test_stop_wakes_every_waiter(waiters):
    r = recv_asyncio.ChunkRingbuffer(2)
    tasks = [asyncio.ensure_future(r.get()) for _ in range(waiters)]
    await asyncio.sleep(0.05)
    asyncio.get_running_loop().call_later(0.02, r.stop)
    results = await _bounded(asyncio.gather(*tasks, return_exceptions=True))
    assert len(results) == waiters and all(isinstance(x, Stopped) for x in results)


@pytest.mark.asyncio
@pytest.mark.parametrize("waiters", [1, 2, 8])
async def test_async_for_consumers_share_and_end(waiters):
    n = 64
    r = recv_asyncio.ChunkRingbuffer(8)
    seen = [[] for _ in range(waiters)]

    async def consume(k):
        async for c in r:
            seen[k].append(c.chunk_id)

    tasks = [asyncio.ensure_future(consume(k)) for k in range(waiters)]

    def producer():
        for i in range(n):
            r.put(chunk(i))
        r.stop()

    t = threading.Thread(target=producer)
    t.start()
    await _bounded(asyncio.gather(*tasks))  # every async for ended
    t.join(BOUND)
    assert sorted(sum(seen, [])) == list(range(n))


@pytest.mark.asyncio
async def test_waiters_of_a_ring_group():
    # Two coroutines consume one group's data ring: all chunks arrive once.
    from conftest import HPC, check_chunks, make_chunk, member_buffers, grid, ITEMS

    data = recv_asyncio.ChunkRingbuffer(8)
    free = recv.ChunkRingbuffer(8)
    g = recv.ChunkStreamRingGroup(recv.ChunkStreamGroupConfig(max_chunks=8), data, free)
    for i in range(4):
        g.emplace_back(None, recv.StreamConfig(stream_id=i),
                       recv.ChunkStreamConfig(items=ITEMS, max_chunks=4, place=grid()))
    for _ in range(8):
        g.add_free_chunk(make_chunk())
    ts = list(range(4 * HPC))
    got = []

    async def consume():
        async for c in data:
            got.append((c.chunk_id, np.array(c.present), np.array(c.data)))
            g.add_free_chunk(c)

    tasks = [asyncio.ensure_future(consume()) for _ in range(2)]
    for m, b in zip(g, member_buffers(ts)):
        m.add_buffer_reader(b)
    await _bounded(asyncio.gather(*tasks))
    got.sort(key=lambda x: x[0])

    class G:
        def __init__(self, t):
            self.chunk_id, self.present, self.data = t

    check_chunks([G(x) for x in got], ts, range(4))
    g.stop()
