"""4-member ring groups fed from in-memory buffers, exact chunk contents."""

import ctypes
import gc
import time
import weakref

import cffi
import numpy as np
import pytest

import chunkgroup
from chunkgroup import Stopped, recv, send
from chunkgroup import _ffi
from conftest import (
    HEAP_SIZE, HPC, INT64_MAX, ITEMS, LOSSLESS, LOSSY, PLACE_SIG2, PLACE_SIG3, TS_ID, Params, check_chunks,
    collect, expected_chunk, grid, make_capsule, make_chunk, make_group, member_buffers, params, payload,
)

# LOSSY exact-content tests use a group window wider than the data (members
# fed from memory race each other); LOSSLESS uses a tight window and recycles.
MODES = [
    pytest.param(dict(mode=LOSSY, group_chunks=8, n_free=8), False, id="lossy"),
    pytest.param(dict(mode=LOSSLESS, group_chunks=2, n_free=4), True, id="lossless"),
]


def run(group, bufs, recycle):
    for m, b in zip(group, bufs):
        m.add_buffer_reader(b)
    return collect(group, recycle=recycle)


# ------------------------------------------------------------------ sequence


def test_sequence_behaviour():
    g = make_group(n_members=4, n_free=1)
    assert len(g) == 4
    m = [g[i] for i in range(4)]
    assert g[0] is m[0] and g[-1] is m[3] and g[-4] is m[0]
    assert g[1:3] == m[1:3] and g[::-1] == m[::-1] and g[:] == m
    assert list(g) == m and list(reversed(g)) == m[::-1]
    assert m[2] in g and g.index(m[2]) == 2 and g.count(m[1]) == 1
    with pytest.raises(IndexError):
        g[4]
    with pytest.raises(IndexError):
        g[-5]
    assert isinstance(g, __import__("collections").abc.Sequence)
    assert g.config.max_chunks == 8
    assert isinstance(g.data_ringbuffer, recv.ChunkRingbuffer) and isinstance(g.free_ringbuffer, recv.ChunkRingbuffer)
    assert m[1].config.stream_id == 1
    assert m[1].chunk_stream_config.items == ITEMS
    g.stop()


def test_member_not_constructible():
    with pytest.raises(TypeError):
        recv.ChunkStreamGroupMember()


def test_members_keep_group_alive():
    g = make_group(n_members=2, n_free=1)
    ref = weakref.ref(g)
    m = g[1]
    del g
    gc.collect()
    assert ref() is not None
    assert m.group is ref() and len(m.group) == 2
    assert m.stats.heaps == 0
    del m
    gc.collect()
    assert ref() is None


def test_emplace_back_errors():
    data, free = recv.ChunkRingbuffer(2), recv.ChunkRingbuffer(2)
    g = recv.ChunkStreamRingGroup(recv.ChunkStreamGroupConfig(max_chunks=2), data, free)
    with pytest.raises(ValueError):  # window larger than the group's
        g.emplace_back(chunkgroup.ThreadPool(), recv.StreamConfig(),
                       recv.ChunkStreamConfig(items=ITEMS, max_chunks=3, place=grid()))
    with pytest.raises(ValueError):  # no place function
        g.emplace_back(chunkgroup.ThreadPool(), recv.StreamConfig(), recv.ChunkStreamConfig(items=ITEMS))
    with pytest.raises(ValueError):  # grid uses an item index that does not exist
        g.emplace_back(chunkgroup.ThreadPool(), recv.StreamConfig(), recv.ChunkStreamConfig(items=[TS_ID], place=grid()))
    m = g.emplace_back(chunkgroup.ThreadPool(), recv.StreamConfig(), recv.ChunkStreamConfig(items=ITEMS, place=grid()))
    assert len(g) == 1
    # Once the group has received data, and only then (the seed's rule).
    g.add_free_chunk(make_chunk())
    m.add_buffer_reader(send.encode_heap(1, {TS_ID: 0}, payload(0)))
    deadline = time.monotonic() + 10
    while m.stats.packets == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert m.stats.packets == 1
    with pytest.raises(RuntimeError, match="^invalid state: cannot add a stream to a group that has received data$"):
        g.emplace_back(chunkgroup.ThreadPool(), recv.StreamConfig(), recv.ChunkStreamConfig(items=ITEMS, place=grid()))
    assert len(g) == 1
    g.stop()


def test_emplace_back_interleaved_with_readers():
    # spead2 code that adds a reader to each member as it creates it works:
    # a member may be added after readers, as long as no data has arrived.
    from conftest import udp_socket

    data, free = recv.ChunkRingbuffer(8), recv.ChunkRingbuffer(8)
    g = recv.ChunkStreamRingGroup(recv.ChunkStreamGroupConfig(max_chunks=8), data, free)
    socks = [udp_socket() for _ in range(4)]
    for i, sock in enumerate(socks):
        m = g.emplace_back(chunkgroup.ThreadPool(1), recv.StreamConfig(stream_id=i),
                           recv.ChunkStreamConfig(items=ITEMS, max_chunks=4, place=grid()))
        m.add_udp_reader(sock)
    assert len(g) == 4
    for _ in range(8):
        g.add_free_chunk(make_chunk())
    ts = list(range(2 * HPC))
    with send.UdpSender([s.getsockname() for s in socks], rate=20e6) as tx:
        for x in ts:
            tx.send_heap(x + 1, {TS_ID: x}, payload(x), dest=x % 4)
        tx.send_stop()
    check_chunks(collect(g, recycle=False), ts, range(2))
    assert [g[i].stats.heaps for i in range(4)] == [len(ts) // 4] * 4
    with pytest.raises(RuntimeError, match="received data"):
        g.emplace_back(chunkgroup.ThreadPool(1), recv.StreamConfig(),
                       recv.ChunkStreamConfig(items=ITEMS, max_chunks=4, place=grid()))
    g.stop()
    for sock in socks:
        sock.close()


def test_add_free_chunk_full_and_stopped():
    g = make_group(n_members=1, n_free=0)  # rings of capacity 1
    g.add_free_chunk(make_chunk())
    with pytest.raises(chunkgroup.Full):
        g.add_free_chunk(make_chunk())
    g.stop()
    c = make_chunk()
    g.add_free_chunk(c)  # silent once stopped
    assert not _ffi.is_registered(c)


def test_add_free_chunk_zeroes_present():
    g = make_group(n_members=1, n_free=0)
    c = make_chunk()
    c.present[:] = 1
    g.add_free_chunk(c)
    assert not c.present.any()
    g.stop()


# ------------------------------------------------------------------ contents


@pytest.mark.parametrize("kw, recycle", MODES)
def test_all_data(kw, recycle):
    nchunks = 4 if not recycle else 8
    ts = list(range(nchunks * HPC))
    g = make_group(**kw)
    got = run(g, member_buffers(ts), recycle)
    check_chunks(got, ts, range(nchunks))
    assert {x.stream_id for x in got} <= {0, 1, 2, 3}
    total = g[0].stats + g[1].stats + g[2].stats + g[3].stats
    assert total.heaps == len(ts)
    assert total.packets == len(ts)
    assert total.rejected_heaps == 0 and total.bad_placement_heaps == 0
    # Every chunk came back from the rings to Python.
    g.stop()


@pytest.mark.parametrize("kw, recycle", MODES)
def test_one_stream_missing(kw, recycle):
    ts = [t for t in range(4 * HPC) if t % 4 != 3]
    g = make_group(**kw)
    bufs = member_buffers(ts)
    assert bufs[3] == b""
    got = run(g, bufs, recycle)
    check_chunks(got, ts, range(4))
    for x in got:
        assert list(x.present) == [1, 1, 1, 0, 1, 1, 1, 0]


@pytest.mark.parametrize("kw, recycle", MODES)
def test_missing_chunks(kw, recycle):
    ts = [t for t in range(5 * HPC) if t // HPC != 2]  # chunk 2 has no heaps
    g = make_group(**kw)
    got = run(g, member_buffers(ts), recycle)
    check_chunks(got, ts, range(5))
    assert not got[2].present.any()


def test_late_stream_lossless():
    ts = list(range(8 * HPC))
    g = make_group(mode=LOSSLESS, group_chunks=2, n_free=4)
    bufs = member_buffers(ts)
    for i in range(3):
        g[i].add_buffer_reader(bufs[i])
    time.sleep(0.5)
    # Member 3 has not started: LOSSLESS must not ready anything.
    assert g.data_ringbuffer.qsize() == 0
    g[3].add_buffer_reader(bufs[3])
    got = collect(g, recycle=True)
    check_chunks(got, ts, range(8))


def test_lossy_idle_members_do_not_block():
    # Every heap goes to member 0; members 1-3 are idle (no reader at all).
    # LOSSY with a 2-chunk window must ready chunks as member 0 advances,
    # without waiting for the idle members; the outcome is exact.
    ts = list(range(6 * HPC))
    g = make_group(mode=LOSSY, group_chunks=2, member_chunks=2, n_free=8)
    g[0].add_buffer_reader(member_buffers(ts, n=1)[0])
    # The last two chunks stay in the window: the idle members have not
    # moved past them.  stop() stops the data ring first, so they are kept
    # aside and handed back to Python (not delivered).
    got = collect(g, recycle=True, stop_after=4)
    check_chunks(got, ts, range(4))
    time.sleep(0.2)
    assert g.data_ringbuffer.qsize() == 0
    held = _ffi.registry_size()
    g.stop()
    assert collect(g, recycle=False) == []
    assert _ffi.registry_size() == held - 2  # the two kept-aside chunks came back


def test_chunk_ids_near_int64_max(place_lib):
    dll = ctypes.CDLL(place_lib)
    fn = ctypes.cast(dll.place3, PLACE_SIG3)
    p = params(chunk_base=INT64_MAX - 3)
    ts = list(range(4 * HPC))
    g = make_group(place=(fn, ctypes.pointer(p)), n_free=16)
    got = run(g, member_buffers(ts), False)
    # The first heap jumps far ahead of the initial window, which re-bases
    # at id - max_chunks + 1: the chunks before the data are back-filled.
    ids = [x.chunk_id for x in got]
    assert ids[-4:] == [INT64_MAX - 3 + i for i in range(4)]
    assert ids == list(range(ids[0], INT64_MAX + 1))
    assert all(not x.present.any() for x in got[:-4])
    check_chunks(got[-4:], ts, ids[-4:], base=INT64_MAX - 3)


def test_rejected_heaps_wrong_length():
    ts = list(range(HPC))
    bufs = [bytearray() for _ in range(4)]
    for t in ts:
        size = HEAP_SIZE if t != 5 else HEAP_SIZE // 2  # heap 5 has the wrong length
        bufs[t % 4] += send.encode_heap(t + 1, {TS_ID: t}, payload(t)[:size])
    g = make_group()
    got = run(g, [bytes(b) for b in bufs], False)
    good = [t for t in ts if t != 5]
    check_chunks(got, good, [0])
    assert g[1].stats.rejected_heaps == 1


def test_stop_item_and_subclass_round_trip():
    class Tagged(recv.Chunk):
        pass

    ts = list(range(2 * HPC))
    bufs = [b + send.encode_stop(1000) for b in member_buffers(ts)]
    g = make_group(chunk_cls=Tagged)
    got = run(g, bufs, False)
    check_chunks(got, ts, range(2))
    assert all(x.type is Tagged for x in got)


def test_explicit_start():
    ts = list(range(HPC))
    g = make_group(stream_config=recv.StreamConfig(explicit_start=True))
    for m, b in zip(g, member_buffers(ts)):
        m.add_buffer_reader(b)
    time.sleep(0.2)
    assert g.data_ringbuffer.qsize() == 0
    for m in g:
        m.start()
    check_chunks(collect(g, recycle=False), ts, [0])


def test_member_stop_stops_group():
    g = make_group()
    g[2].stop()
    with pytest.raises(Stopped):
        g.data_ringbuffer.get()


# ------------------------------------------------------------------ place forms


def _place_forms(place_lib):
    dll = ctypes.CDLL(place_lib)
    p = params()
    ffi = cffi.FFI()
    ffi.cdef("void place2(void *, size_t); void place3(void *, size_t, void *);")
    clib = ffi.dlopen(place_lib)
    addr3 = ctypes.cast(dll.place3, ctypes.c_void_p).value
    addr2 = ctypes.cast(dll.place2, ctypes.c_void_p).value
    pp = ctypes.addressof(p)
    forms = {
        "capsule3": (make_capsule(addr3, "void (void *, size_t, void *)", pp), None, p),
        "capsule2": (make_capsule(addr2, "void (void *, size_t)"), None),
        "ctypes3": (ctypes.cast(dll.place3, PLACE_SIG3), ctypes.pointer(p)),
        "ctypes2": ctypes.cast(dll.place2, PLACE_SIG2),
        "ctypes_bare": (dll.place3, p),
        "cffi3": (clib.place3, ffi.cast("void *", pp)),
        "cffi2": clib.place2,
        "cffi3_int_user": (clib.place3, pp),
    }
    return forms, (dll, clib, ffi, p)


@pytest.mark.parametrize("form", ["capsule3", "capsule2", "ctypes3", "ctypes2", "ctypes_bare", "cffi3", "cffi2",
                                  "cffi3_int_user"])
def test_place_forms(place_lib, form):
    forms, keep = _place_forms(place_lib)
    ts = list(range(2 * HPC))
    g = make_group(place=forms[form])
    del forms  # the group keeps what it needs
    gc.collect()
    got = run(g, member_buffers(ts), False)
    check_chunks(got, ts, range(2))


def test_place_scipy_low_level_callable(place_lib):
    # A C function through scipy.LowLevelCallable (numba ones are in
    # test_place_numba.py).
    import scipy

    dll = ctypes.CDLL(place_lib)
    p = params()
    llc = scipy.LowLevelCallable(ctypes.cast(dll.place3, PLACE_SIG3), ctypes.cast(ctypes.pointer(p), ctypes.c_void_p),
                                 "void (void *, size_t, void *)")
    ts = list(range(HPC))
    g = make_group(place=llc)
    check_chunks(run(g, member_buffers(ts), False), ts, [0])


def test_place_wrong_cffi_signature(place_lib):
    ffi = cffi.FFI()
    ffi.cdef("int place2(int, int);")
    clib = ffi.dlopen(place_lib)
    with pytest.raises(TypeError):
        recv.ChunkStreamConfig(place=clib.place2)
    with pytest.raises(TypeError):
        recv.ChunkStreamConfig(place=ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x))


# ------------------------------------------------------------------ features


def test_packet_presence(place_lib):
    dll = ctypes.CDLL(place_lib)
    ppp = 4  # packets per heap
    p = params(index_mult=ppp)
    cc = recv.ChunkStreamConfig(items=ITEMS, max_chunks=4, place=(ctypes.cast(dll.place3, PLACE_SIG3), ctypes.pointer(p)))
    cc.enable_packet_presence(HEAP_SIZE // ppp)
    g = make_group(chunk_config=cc, present=HPC * ppp, stream_config=recv.StreamConfig(allow_out_of_order=True))
    ts = list(range(HPC))
    bufs = [bytearray() for _ in range(4)]
    for t in ts:
        enc = send.encode_heap(t + 1, {TS_ID: t}, payload(t), packet_payload=HEAP_SIZE // ppp)
        assert len(enc) % ppp == 0
        plen = len(enc) // ppp
        pkts = [enc[i * plen:(i + 1) * plen] for i in range(ppp)]
        if t == 5:
            del pkts[2]  # heap 5 loses its third packet
        bufs[t % 4] += b"".join(pkts)
    got = run(g, [bytes(b) for b in bufs], False)
    assert [x.chunk_id for x in got] == [0]
    want = np.ones(HPC * ppp, np.uint8)
    want[5 * ppp + 2] = 0
    np.testing.assert_array_equal(got[0].present, want)
    _, data = expected_chunk(0, ts)
    q = HEAP_SIZE // ppp
    data[5 * HEAP_SIZE + 2 * q:5 * HEAP_SIZE + 3 * q] = 0  # never written
    np.testing.assert_array_equal(got[0].data, data)


def test_extra_data_and_custom_stat_from_c_place(place_lib):
    dll = ctypes.CDLL(place_lib)
    sc = recv.StreamConfig()
    idx = sc.add_stat("placed")
    assert idx == _ffi.lib.CG_NUM_STANDARD_STATS  # the first custom index
    p = params(stat_index=idx, extra=1)
    cc = recv.ChunkStreamConfig(items=ITEMS, max_chunks=4, max_heap_extra=8,
                                place=(ctypes.cast(dll.place3, PLACE_SIG3), ctypes.pointer(p)))
    g = make_group(chunk_config=cc, stream_config=sc, extra=HPC * 8)
    ts = list(range(3 * HPC))
    got = run(g, member_buffers(ts), False)
    check_chunks(got, ts, range(3))
    for x in got:
        assert list(x.extra.view(np.int64)) == [x.chunk_id * HPC + s for s in range(HPC)]
    stats = [m.stats for m in g]
    assert [s["placed"] for s in stats] == [len(ts) // 4] * 4
    assert sum(stats[1:], stats[0])["placed"] == len(ts)
    assert stats[0].keys()[idx] == "placed"


def test_grid_extra_items():
    place = grid(extra_items=[0])
    cc = recv.ChunkStreamConfig(items=ITEMS, max_chunks=4, place=place)
    g = make_group(chunk_config=cc, extra=HPC * 8)
    ts = list(range(2 * HPC))
    got = run(g, member_buffers(ts), False)
    check_chunks(got, ts, range(2))
    for x in got:
        assert list(x.extra.view(np.int64)) == [x.chunk_id * HPC + s for s in range(HPC)]


def test_grid_two_dims():
    # items: [ts, channel]; chunk = 4 timestamps x 2 channels
    ch_id = 0x1700
    place = recv.GridPlacement(recv.GridDim(0, count=4), HEAP_SIZE, dims=[recv.GridDim(1, count=2)],
                               heap_length_item=2)
    assert place.heaps_per_chunk == HPC
    cc = recv.ChunkStreamConfig(items=[TS_ID, ch_id, chunkgroup.HEAP_LENGTH_ID], max_chunks=4, place=place)
    g = make_group(chunk_config=cc, n_members=2)
    bufs = [bytearray(), bytearray()]
    for t in range(8):
        for ch in range(2):
            bufs[ch] += send.encode_heap(t * 2 + ch + 1, {TS_ID: t, ch_id: ch}, payload(t * 2 + ch))
    got = run(g, [bytes(b) for b in bufs], False)
    assert [x.chunk_id for x in got] == [0, 1]
    for x in got:
        assert x.present.all()
        for slot in range(HPC):
            t, ch = x.chunk_id * 4 + slot // 2, slot % 2
            assert bytes(x.data[slot * HEAP_SIZE:(slot + 1) * HEAP_SIZE]) == payload(t * 2 + ch)


def test_bad_placement_counted_not_written():
    # Chunks with a data buffer too small for the last heap slot.
    g = make_group(n_free=0, n_members=4)
    for _ in range(1):
        g.add_free_chunk(recv.Chunk(present=np.zeros(HPC, np.uint8), data=np.zeros((HPC - 1) * HEAP_SIZE, np.uint8)))
    ts = list(range(HPC))
    got = run(g, member_buffers(ts), False)
    assert [x.chunk_id for x in got] == [0]
    assert list(got[0].present) == [1] * 7 + [0]
    total = sum((m.stats for m in list(g)[1:]), g[0].stats)
    assert total.bad_placement_heaps == 1


def test_ring_stream():
    data, free = recv.ChunkRingbuffer(4), recv.ChunkRingbuffer(4)
    s = recv.ChunkRingStream(chunkgroup.ThreadPool(), recv.StreamConfig(stream_id=9),
                             recv.ChunkStreamConfig(items=ITEMS, max_chunks=2, place=grid()), data, free)
    for _ in range(4):
        s.add_free_chunk(make_chunk())
    ts = list(range(6 * HPC))
    buf = member_buffers(ts, n=1)[0]
    s.add_buffer_reader(buf)
    got = collect(s, recycle=True)
    check_chunks(got, ts, range(6))
    assert {x.stream_id for x in got} == {9}
    assert s.stats.heaps == len(ts)
    assert s.data_ringbuffer is data and s.free_ringbuffer is free
    s.stop()


def test_buffer_reader_keeps_buffer_until_released():
    g = make_group(n_members=1)
    before = _ffi.held_buffers()
    buf = bytearray(member_buffers(range(HPC), n=1)[0])
    g[0].add_buffer_reader(buf)
    del buf  # the member keeps it
    got = collect(g, recycle=False)
    check_chunks(got, list(range(HPC)), [0])
    deadline = time.monotonic() + 5
    while _ffi.held_buffers() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _ffi.held_buffers() == before


def test_buffer_reader_numpy_and_memoryview():
    ts = list(range(HPC))
    bufs = member_buffers(ts)
    g = make_group()
    g[0].add_buffer_reader(np.frombuffer(bufs[0], np.uint8))
    g[1].add_buffer_reader(memoryview(bufs[1]))
    g[2].add_buffer_reader(bytearray(bufs[2]))
    g[3].add_buffer_reader(bufs[3])
    check_chunks(collect(g, recycle=False), ts, [0])


@pytest.mark.parametrize("memcpy", [chunkgroup.MEMCPY_STD, chunkgroup.MEMCPY_NONTEMPORAL])
def test_memcpy_modes_exact(memcpy):
    """Heaps large enough for streaming stores (1 KiB, with odd chunk
    alignment) land byte for byte in both copy modes."""
    heap, hpc, n = 1000, 4, 12
    place = recv.GridPlacement(recv.GridDim(0, count=hpc), heap, heap_length_item=1)
    data = recv.ChunkRingbuffer(8)
    free = recv.ChunkRingbuffer(8)
    g = recv.ChunkStreamRingGroup(recv.ChunkStreamGroupConfig(max_chunks=4), data, free)
    for i in range(2):
        g.emplace_back(chunkgroup.ThreadPool(), recv.StreamConfig(stream_id=i, memcpy=memcpy),
                       recv.ChunkStreamConfig(items=[0x1600, chunkgroup.HEAP_LENGTH_ID], max_chunks=2, place=place))
    for _ in range(8):
        backing = np.zeros(hpc * heap + 3, np.uint8)
        g.add_free_chunk(recv.Chunk(present=np.zeros(hpc, np.uint8), data=backing[3:]))  # unaligned on purpose
    rng = np.random.default_rng(5)
    payloads = [rng.integers(0, 256, heap, dtype=np.uint8) for _ in range(n)]
    bufs = [bytearray(), bytearray()]
    for t in range(n):
        bufs[t % 2] += send.encode_heap(t + 1, {0x1600: t}, payloads[t].tobytes(), packet_payload=512)
    for m, b in zip(g, bufs):
        m.add_buffer_reader(bytes(b))
    got = {}
    for chunk in data:
        got[chunk.chunk_id] = (chunk.present.copy(), chunk.data.copy())
        g.add_free_chunk(chunk)
    assert sorted(got) == [0, 1, 2]
    for t in range(n):
        present, d = got[t // hpc]
        assert present[t % hpc] == 1
        assert np.array_equal(d[(t % hpc) * heap:(t % hpc + 1) * heap], payloads[t]), t


def test_max_jump_chunks_ignores_a_stray_heap():
    # One heap from far in the future among legitimate ones: with
    # max_jump_chunks it is dropped and counted, every chunk arrives whole.
    ts = list(range(4 * HPC))
    buf = bytearray()
    for t in ts:
        buf += send.encode_heap(t + 1, {TS_ID: t}, payload(t))
        if t == 2 * HPC:
            buf += send.encode_heap(10_000, {TS_ID: 1 << 40}, payload(0))
    cc = recv.ChunkStreamConfig(items=ITEMS, max_chunks=2, place=grid(), max_jump_chunks=64)
    assert cc.max_jump_chunks == 64
    g = make_group(n_members=1, chunk_config=cc)
    g[0].add_buffer_reader(bytes(buf))
    check_chunks(collect(g), ts, range(4))
    st = g[0].stats
    assert (st["far_jump_heaps"], st["too_old_heaps"], st["heaps"]) == (1, 0, len(ts) + 1)
    g.stop()


def test_max_jump_chunks_validation():
    with pytest.raises(ValueError):
        recv.ChunkStreamConfig(max_jump_chunks=-1)
    assert recv.ChunkStreamConfig().max_jump_chunks == 0
    assert "far_jump_heaps" in recv.StreamConfig().stats[13].name
