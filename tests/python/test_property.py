"""Property test (hypothesis): random packet sequences (reordered,
duplicated, dropped, truncated packets, garbage between them) through a
4-member ring group from the buffer reader.  Whatever the sequence:

- nothing is written outside a chunk's buffers (guard bytes around them);
- a heap is present exactly when all of its packets arrived whole, and then
  its bytes are exact;
- the statistics add up per member: packets, malformed packets and heaps
  are exactly what was sent.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from chunkgroup import recv, send
from conftest import HEAP_SIZE, HPC, ITEMS, TS_ID, collect, grid, payload

MEMBERS = 4
PACKETS = 4  # per heap: HEAP_SIZE // 16
GUARD = 64
NCHUNKS = 4  # timestamps 0 .. NCHUNKS * HPC - 1

heap_plan = st.fixed_dictionaries({
    "order": st.permutations(range(PACKETS)),
    "dup": st.lists(st.integers(0, PACKETS - 1), max_size=3),
    "drop": st.sets(st.integers(0, PACKETS - 1), max_size=PACKETS),
    "cut": st.sets(st.integers(0, PACKETS - 1), max_size=2),
    "garbage": st.lists(st.binary(min_size=0, max_size=40), max_size=2),
})


def _packets(ts):
    enc = send.encode_heap(ts + 1, {TS_ID: ts}, payload(ts), packet_payload=HEAP_SIZE // PACKETS)
    n = len(enc) // PACKETS
    return [enc[i * n:(i + 1) * n] for i in range(PACKETS)]


class GuardedChunk(recv.Chunk):
    pass


def _chunk():
    big_p = np.full(HPC + 2 * GUARD, 0xA5, np.uint8)
    big_d = np.full(HPC * HEAP_SIZE + 2 * GUARD, 0xA5, np.uint8)
    big_p[GUARD:-GUARD] = 0
    big_d[GUARD:-GUARD] = 0
    c = GuardedChunk(present=big_p[GUARD:-GUARD], data=big_d[GUARD:-GUARD])
    c.bigs = (big_p, big_d)
    return c


def _cut(p: bytes, c: int) -> bytes:
    """p with its last c payload bytes removed and its PAYLOAD_LENGTH item
    lowered to match: still a well-framed SPEAD packet, with bytes missing."""
    n_items = int.from_bytes(p[6:8], "big")
    b = bytearray(p[: len(p) - c])
    for i in range(n_items):
        at = 8 + 8 * i
        ptr = int.from_bytes(b[at:at + 8], "big")
        if (ptr >> 48) & 0x7FFF == 4:  # PAYLOAD_LENGTH (immediate)
            ptr -= c
            b[at:at + 8] = ptr.to_bytes(8, "big")
    return bytes(b)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(heap_plan, min_size=NCHUNKS * HPC, max_size=NCHUNKS * HPC),
       st.lists(st.binary(min_size=1, max_size=40), min_size=MEMBERS, max_size=MEMBERS))
def test_random_packet_sequences(plans, tails):
    bufs = [bytearray() for _ in range(MEMBERS)]
    want = {m: dict(packets=0, heaps=0) for m in range(MEMBERS)}
    complete = set()
    for ts, plan in enumerate(plans):
        m = ts % MEMBERS
        pkts = _packets(ts)
        order = [k for k in plan["order"] if k not in plan["drop"]] + [k for k in plan["dup"] if k not in plan["drop"]]
        # What the stream must make of them: a packet of a heap that is not
        # in progress starts one (also a duplicate after it completed), and
        # a heap completes when it has every byte once.
        live = None
        for k in order:
            p = pkts[k]
            cut = k in plan["cut"]
            if cut:
                p = _cut(p, 1 + k)  # bytes missing: this heap cannot complete
            want[m]["packets"] += 1
            bufs[m] += p
            if live is None:
                live = set()
                want[m]["heaps"] += 1
            live.add(k if not cut else ("cut", k))
            if live == set(range(PACKETS)):
                complete.add(ts)
                live = None
    # Odd members' buffers end in garbage (never the SPEAD magic): the
    # buffer reader stops there with an error, after every packet before it.
    for m in range(1, MEMBERS, 2):
        bufs[m] += bytes([0]) + tails[m][1:]

    data = recv.ChunkRingbuffer(NCHUNKS + 1)
    free = recv.ChunkRingbuffer(NCHUNKS + 1)
    g = recv.ChunkStreamRingGroup(recv.ChunkStreamGroupConfig(max_chunks=NCHUNKS + 1), data, free)
    for i in range(MEMBERS):
        g.emplace_back(None, recv.StreamConfig(stream_id=i, allow_out_of_order=True, max_heaps=4),
                       recv.ChunkStreamConfig(items=ITEMS, max_chunks=NCHUNKS, place=grid()))
    chunks = [_chunk() for _ in range(NCHUNKS + 1)]
    for c in chunks:
        g.add_free_chunk(c)
    for mem, b in zip(g, bufs):
        mem.add_buffer_reader(bytes(b))
    got = collect(g, recycle=False)
    assert [x.chunk_id for x in got] == list(range(NCHUNKS))
    for c in chunks:
        for big in c.bigs:
            assert (big[:GUARD] == 0xA5).all() and (big[-GUARD:] == 0xA5).all(), "write outside a chunk"
    for x in got:
        for slot in range(HPC):
            ts = x.chunk_id * HPC + slot
            assert bool(x.present[slot]) == (ts in complete), f"heap {ts}: present {x.present[slot]}"
            if ts in complete:
                assert bytes(x.data[slot * HEAP_SIZE:(slot + 1) * HEAP_SIZE]) == payload(ts)
    for i in range(MEMBERS):
        stats = g[i].stats
        assert stats["packets"] == want[i]["packets"], (i, dict(stats.items()), want[i])
        assert stats["heaps"] == want[i]["heaps"], (i, dict(stats.items()), want[i])
        assert stats["malformed_packets"] == 0 and stats["bad_placement_heaps"] == 0
        assert stats["rejected_heaps"] == 0 and stats["too_old_heaps"] == 0
        assert (g[i].error is not None) == (i % 2 == 1), (i, g[i].error)
    g.stop()
