"""numba record type of the place data (needs numba).

``chunk_place_data`` is ``cg_place_data`` (include/chunkgroup.h), which has
the layout of spead2's ``chunk_place_data`` field for field, under the name
spead2 gives it in ``spead2.recv.numba``. Pointer fields are integers
(``intp``): turn them into arrays with
``numba.carray(chunkgroup.numba.intp_to_voidptr(field), n, dtype=...)``.
"""

from __future__ import annotations

from numba import types

__all__ = ["chunk_place_data"]

#: The place data as a numba record: use ``types.CPointer(chunk_place_data)``
#: as the first argument type of a place ``cfunc``.
chunk_place_data = types.Record.make_c_struct(
    [
        ("packet", types.intp),  # const uint8_t *: the heap's first packet
        ("packet_size", types.size_t),
        ("items", types.intp),  # int64_t *: values of ChunkStreamConfig.items, -1 if absent
        ("chunk_id", types.int64),  # out: < 0 rejects the heap
        ("heap_index", types.size_t),  # out: slot in present
        ("heap_offset", types.size_t),  # out: byte offset in data
        ("batch_stats", types.intp),  # uint64_t *: this batch's statistics, by index
        ("extra", types.intp),  # uint8_t *: scratch for extra data
        ("extra_offset", types.size_t),  # out: where extra goes in chunk.extra
        ("extra_size", types.size_t),  # out: bytes of extra to copy
    ]
)
