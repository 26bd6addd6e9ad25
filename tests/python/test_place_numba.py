"""Place functions written as spead2 users write them: numba ``cfunc``s,
wrapped in ``scipy.LowLevelCallable`` (with and without user data), and
every other form spead2 accepts or we add (PyCapsule tuple, ctypes and
cffi pointers, the bare cfunc).  numba and scipy are test dependencies
(requirements-test.txt): nothing here skips for want of them.

Each test asserts the exact chunks delivered (IDs, present flags, payload
bytes) and what the function saw: the chunk base comes from the user data
(so wrong user data gives wrong chunk IDs), and the function counts every
heap it places in a custom statistic through ``batch_stats``.
"""

import ctypes

import cffi
import numba
import numpy as np
import pytest
import scipy
from numba import types

from chunkgroup import recv
from chunkgroup.numba import intp_to_voidptr
from chunkgroup.recv.numba import chunk_place_data
from conftest import HEAP_SIZE, HPC, ITEMS, Params, collect, check_chunks, make_capsule, make_group, member_buffers

SIG2 = "void (void *, size_t)"
SIG3 = "void (void *, size_t, void *)"
BASE = 3  # chunk base the user data carries (chunks 0-2 come back empty)
TS = list(range(2 * HPC))


def _stream_config():
    sc = recv.StreamConfig(max_heaps=4)
    sc.add_stat("placed")
    return sc


STAT = _stream_config().get_stat_index("placed")

# The place functions, in the style of spead2's documentation.
_place_type2 = types.void(types.CPointer(chunk_place_data), types.size_t)
_place_type3 = types.void(types.CPointer(chunk_place_data), types.size_t, types.voidptr)


@numba.njit
def _place_common(data, hpc, heap_size, stat, base):
    items = numba.carray(intp_to_voidptr(data[0].items), 2, dtype=np.int64)
    ts, length = items[0], items[1]
    if ts < 0 or length != heap_size:
        return  # chunk_id stays -1: rejected
    slot = ts % hpc
    data[0].chunk_id = base + ts // hpc
    data[0].heap_index = slot
    data[0].heap_offset = slot * heap_size
    stats = numba.carray(intp_to_voidptr(data[0].batch_stats), stat + 1, dtype=np.uint64)
    stats[stat] += 1


@numba.cfunc(_place_type2, nopython=True)
def place2(data_ptr, data_size):
    # No user data: the constants are compiled in (base 0).
    _place_common(numba.carray(data_ptr, 1), HPC, HEAP_SIZE, STAT, 0)


@numba.cfunc(_place_type3, nopython=True)
def place3(data_ptr, data_size, user_data):
    # User data: int64 [heaps_per_chunk, heap_size, stat_index, chunk_base],
    # as a numpy array or as the leading fields of conftest.Params.
    p = numba.carray(user_data, 4, dtype=np.int64)
    _place_common(numba.carray(data_ptr, 1), p[0], p[1], p[2], p[3])


def _user_array():
    return np.array([HPC, HEAP_SIZE, STAT, BASE], np.int64)


def _user_struct():
    return Params(HPC, HEAP_SIZE, STAT, BASE, 0, 1)


def _run(place, base):
    g = make_group(
        chunk_config=recv.ChunkStreamConfig(items=ITEMS, max_chunks=4, place=place),
        stream_config=_stream_config(),
    )
    for m, b in zip(g, member_buffers(TS)):
        m.add_buffer_reader(b)
    got = collect(g, recycle=False)
    # Chunks before the base enter the window unused (back-fill) and come
    # back empty; the data is in chunks base and base + 1.
    assert [x.chunk_id for x in got] == list(range(base + 2))
    assert not any(x.present.any() or x.data.any() for x in got[:base])
    check_chunks(got[base:], TS, [base, base + 1], base=base)
    placed = sum(m.stats["placed"] for m in g)
    assert placed == len(TS), f"the place function counted {placed} heaps"
    assert sum(m.stats["heaps"] for m in g) == len(TS)
    return got


# --------------------------------------------------- scipy.LowLevelCallable


def test_low_level_callable_two_args():
    # spead2's documented form: LowLevelCallable(cfunc.ctypes, signature=...)
    _run(scipy.LowLevelCallable(place2.ctypes, signature=SIG2), 0)


def test_low_level_callable_user_data_numpy_array():
    arr = _user_array()
    llc = scipy.LowLevelCallable(place3.ctypes, ctypes.c_void_p(arr.ctypes.data), SIG3)
    _run(llc, BASE)
    assert arr.tolist() == [HPC, HEAP_SIZE, STAT, BASE]  # read, not written


def test_low_level_callable_user_data_ctypes_struct():
    p = _user_struct()
    llc = scipy.LowLevelCallable(place3.ctypes, ctypes.cast(ctypes.pointer(p), ctypes.c_void_p), SIG3)
    _run(llc, BASE)


def test_low_level_callable_user_data_cffi_pointer():
    arr = _user_array()
    ffi = cffi.FFI()
    llc = scipy.LowLevelCallable(place3.ctypes, ffi.cast("void *", arr.ctypes.data), SIG3)
    _run(llc, BASE)


def test_low_level_callable_wrong_signature_is_refused():
    llc = scipy.LowLevelCallable(place2.ctypes, signature="void (void *, int)")
    with pytest.raises(TypeError, match="signature"):
        recv.ChunkStreamConfig(place=llc)


def test_low_level_callable_keeps_user_data_alive():
    # The config holds the LowLevelCallable (which holds the user data's
    # ctypes object), so dropping the caller's names is safe.
    p = _user_struct()
    llc = scipy.LowLevelCallable(place3.ctypes, ctypes.cast(ctypes.pointer(p), ctypes.c_void_p), SIG3)
    cc = recv.ChunkStreamConfig(items=ITEMS, max_chunks=4, place=llc)
    assert cc.place is llc


# --------------------------------------------------- the other forms


def test_capsule_tuple_from_numba_address():
    arr = _user_array()
    cap = make_capsule(place3.address, SIG3, arr.ctypes.data)
    _run((cap, arr), BASE)  # the array rides in the tuple to stay alive


def test_capsule_tuple_two_args_from_numba_address():
    _run((make_capsule(place2.address, SIG2),), 0)


def test_ctypes_pointers_from_numba():
    _run(place2.ctypes, 0)
    arr = _user_array()
    _run((place3.ctypes, ctypes.c_void_p(arr.ctypes.data)), BASE)


def test_cffi_pointers_from_numba():
    # numba's own .cffi attribute is an untyped "void *", which is refused
    # (its signature cannot be checked); a typed cffi pointer works.
    ffi = cffi.FFI()
    with pytest.raises(TypeError, match="cffi place function must have C type"):
        recv.ChunkStreamConfig(place=place2.cffi)
    _run(ffi.cast("void (*)(void *, size_t)", place2.address), 0)
    arr = _user_array()
    _run((ffi.cast("void (*)(void *, size_t, void *)", place3.address), ffi.cast("void *", arr.ctypes.data)), BASE)


def test_bare_numba_cfunc():
    # An addition to spead2's forms: the @cfunc object itself.
    _run(place2, 0)
    p = _user_struct()
    _run((place3, p), BASE)


def test_numba_record_matches_the_c_layout():
    from chunkgroup import _ffi

    assert chunk_place_data.size == _ffi.ffi.sizeof("cg_place_data")
    for name in ("packet", "packet_size", "items", "chunk_id", "heap_index", "heap_offset", "batch_stats",
                 "extra", "extra_offset", "extra_size"):
        assert chunk_place_data.offset(name) == _ffi.ffi.offsetof("cg_place_data", name), name


def test_rejected_and_counted_from_numba():
    # Heap 3 has the wrong length: rejected by the cfunc, not counted by it.
    bufs = [bytearray() for _ in range(4)]
    from chunkgroup import send
    from conftest import TS_ID, payload

    for t in TS:
        body = payload(t)[: HEAP_SIZE // 2] if t == 3 else payload(t)
        bufs[t % 4] += send.encode_heap(t + 1, {TS_ID: t}, body)
    place = scipy.LowLevelCallable(place2.ctypes, signature=SIG2)
    g = make_group(chunk_config=recv.ChunkStreamConfig(items=ITEMS, max_chunks=4, place=place),
                   stream_config=_stream_config())
    for m, b in zip(g, bufs):
        m.add_buffer_reader(bytes(b))
    got = collect(g, recycle=False)
    good = [t for t in TS if t != 3]
    check_chunks(got, good, [0, 1])
    assert sum(m.stats["placed"] for m in g) == len(good)
    assert sum(m.stats["rejected_heaps"] for m in g) == 1
    assert g[3].stats["rejected_heaps"] == 1
