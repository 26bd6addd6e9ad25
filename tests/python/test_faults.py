"""Faults a user sees (issue 12): the consumer stops consuming.

LOSSY keeps taking its input and counts what it cannot keep
(``no_chunk_heaps``); LOSSLESS blocks, and ``stop()`` releases it within a
second.  Every wait is bounded.
"""

import time

import chunkgroup
from chunkgroup import recv
from conftest import HPC, ITEMS, LOSSLESS, LOSSY, check_chunks, collect, grid, make_chunk, make_group, member_buffers


def _wait(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_lossy_consumer_stops_drops_are_counted():
    # One member, windows of 2 chunks, 4 chunks in circulation, a data ring
    # of 2; 10 chunks of data and nobody consuming.  Chunks 0-3 are filled
    # (0 and 1 in the data ring, 2 and 3 queued behind it); the free ring
    # stays empty for longer than the group waits (1 s), so the heaps of
    # chunks 4-9 are dropped and counted, and the member reaches the end of
    # its input instead of waiting for the consumer.
    data, free = recv.ChunkRingbuffer(2), recv.ChunkRingbuffer(4)
    g = recv.ChunkStreamRingGroup(recv.ChunkStreamGroupConfig(max_chunks=2, eviction_mode=LOSSY), data, free)
    g.emplace_back(chunkgroup.ThreadPool(), recv.StreamConfig(max_heaps=4),
                   recv.ChunkStreamConfig(items=ITEMS, max_chunks=2, place=grid()))
    for _ in range(4):
        g.add_free_chunk(make_chunk())
    ts = list(range(10 * HPC))
    g[0].add_buffer_reader(member_buffers(ts, n=1)[0])
    _wait(lambda: g[0].stats.heaps == len(ts), "the member to take all its input")
    st = g[0].stats
    assert (st.packets, st.heaps, st["no_chunk_heaps"]) == (len(ts), len(ts), 6 * HPC)
    assert st.too_old_heaps == 0 and st.incomplete_heaps_evicted == 0
    assert st.worker_blocked == 2  # chunks 2 and 3 found the data ring full
    # The consumer comes back: the kept chunks arrive in order and exact,
    # then the data ring stops by itself (the member has finished).
    got = collect(g, recycle=False, timeout=10.0)
    check_chunks(got, ts, range(4))
    g.stop()


def test_lossless_consumer_stops_stop_releases_within_a_second():
    ts = list(range(8 * HPC))
    g = make_group(mode=LOSSLESS, group_chunks=2, n_free=4)
    for m, b in zip(g, member_buffers(ts)):
        m.add_buffer_reader(b)
    # Chunks 0-3 use the 4 free chunks; 0-2 are readied once every member
    # needs chunk 4, and the members then wait for a free chunk that never
    # comes (LOSSLESS waits as long as it takes, as spead2).
    _wait(lambda: g.data_ringbuffer.qsize() == 3, "chunks 0-2 to be readied")
    before = sum(m.stats.heaps for m in g)
    time.sleep(0.3)
    assert sum(m.stats.heaps for m in g) == before < len(ts)  # stalled
    t0 = time.monotonic()
    g.stop()
    assert time.monotonic() - t0 < 1.0
    check_chunks(collect(g, recycle=False, timeout=5.0), ts, range(3))
