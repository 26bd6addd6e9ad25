"""numba helpers for place functions (needs numba; import it only if you
write place functions with numba).

``chunkgroup.numba.intp_to_voidptr`` has the name and use of spead2's
``spead2.numba.intp_to_voidptr``, so place functions written for spead2 run
with ``import chunkgroup as spead2`` and without spead2 installed::

    from chunkgroup.numba import intp_to_voidptr
    from chunkgroup.recv.numba import chunk_place_data

    @numba.cfunc(types.void(types.CPointer(chunk_place_data), types.size_t), nopython=True)
    def place(data_ptr, data_size):
        data = numba.carray(data_ptr, 1)
        items = numba.carray(intp_to_voidptr(data[0].items), 2, dtype=np.int64)
        ...
"""

from __future__ import annotations

from numba import types
from numba.extending import intrinsic

__all__ = ["intp_to_voidptr"]


@intrinsic
def intp_to_voidptr(typingctx, src):  # type: ignore[no-untyped-def]
    """Turn an integer address (a pointer field of
    :data:`chunkgroup.recv.numba.chunk_place_data`) into a ``void *`` that
    ``numba.carray`` accepts."""
    if not isinstance(src, types.Integer):
        return None
    sig = types.voidptr(src)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))

    return sig, codegen
