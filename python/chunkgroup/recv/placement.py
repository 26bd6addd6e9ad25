"""Placement: the built-in GridPlacement, the place forms spead2 accepts
(scipy.LowLevelCallable, PyCapsule tuples, ctypes and cffi pointers,
numba cfuncs) and ChunkStreamConfig, which carries one."""

from __future__ import annotations

import copy as _copy
import ctypes
from typing import (
    Any,
    Iterable,
    List,
    Optional,
    Tuple,
)

from .. import _ffi
from .._ffi import ffi, lib
from ._common import _nonneg, _positive


class GridDim:
    """One dimension of a :class:`GridPlacement`.

    ``item`` is an index into ``ChunkStreamConfig.items`` (not an item ID).
    The position along the dimension is ``(value - origin) // step``, which
    must be below ``count``; it contributes ``position * stride`` to the heap
    index.  ``stride=None`` lets :class:`GridPlacement` choose C order.
    """

    def __init__(
        self, item: int, *, origin: int = 0, step: int = 1, count: int = 1, stride: Optional[int] = None
    ) -> None:
        self.item = _nonneg("item", item)
        self.origin = int(origin)
        self.step = _positive("step", step)
        self.count = _positive("count", count)
        self.stride = None if stride is None else _nonneg("stride", stride)

    def __repr__(self) -> str:
        return (
            f"GridDim({self.item}, origin={self.origin}, step={self.step}, "
            f"count={self.count}, stride={self.stride})"
        )


class GridPlacement:
    """The built-in placement, computed inside the library (no callback per
    heap, no compiler or numba needed).

    With ``v(i)`` the value of requested item number ``i`` (index into
    ``ChunkStreamConfig.items``)::

        t          = (v(time.item) - time.origin) // time.step
        chunk_id   = t // time.count
        heap_index = (t % time.count) * time.stride
                     + sum(((v(d.item) - d.origin) // d.step) * d.stride for d in dims)
        offset     = heap_index * heap_size

    A heap is rejected (``rejected_heaps``) when an item is absent, a value is
    below its origin, a position is >= its count, or (``heap_length_item``
    given) its heap length differs from ``heap_size``.  With ``extra_items``,
    their values are stored as little-endian int64 at ``extra`` offset
    ``heap_index * 8 * len(extra_items)``; ``max_heap_extra`` must then be at
    least ``8 * len(extra_items)`` (ChunkStreamConfig sets it when smaller).

    Strides left as ``None`` give C order: the last dimension varies fastest
    and time slowest, so a chunk has :attr:`heaps_per_chunk` heap slots and
    needs :attr:`chunk_size` data bytes.
    """

    def __init__(
        self,
        time: GridDim,
        heap_size: int,
        *,
        dims: Iterable[GridDim] = (),
        heap_length_item: Optional[int] = None,
        extra_items: Iterable[int] = (),
    ) -> None:
        if not isinstance(time, GridDim):
            raise TypeError("time must be a GridDim")
        dims = [_copy.copy(d) for d in dims]
        if not all(isinstance(d, GridDim) for d in dims):
            raise TypeError("dims must be GridDim objects")
        time = _copy.copy(time)
        stride = 1
        for d in reversed(dims):
            if d.stride is None:
                d.stride = stride
            stride = max(stride, d.stride * d.count)
        if time.stride is None:
            time.stride = stride
        self.time = time
        self.dims = dims
        self.heap_size = _positive("heap_size", heap_size)
        self.heap_length_item = None if heap_length_item is None else _nonneg("heap_length_item", heap_length_item)
        self.extra_items = [_nonneg("extra_items", i) for i in extra_items]

    @property
    def heaps_per_chunk(self) -> int:
        """Number of heap slots a chunk needs (size of ``present``)."""
        top = (self.time.count - 1) * self.time.stride
        top += sum((d.count - 1) * d.stride for d in self.dims)
        return top + 1

    @property
    def chunk_size(self) -> int:
        """Number of data bytes a chunk needs."""
        return self.heaps_per_chunk * self.heap_size

    @property
    def extra_size(self) -> int:
        """Number of extra bytes a chunk needs (0 without extra_items)."""
        return self.heaps_per_chunk * 8 * len(self.extra_items)

    def _items_used(self) -> List[int]:
        used = [self.time.item] + [d.item for d in self.dims] + list(self.extra_items)
        if self.heap_length_item is not None:
            used.append(self.heap_length_item)
        return used

    def _apply(self, csc: Any) -> None:
        def fill(dst: Any, d: GridDim) -> None:
            dst.item = d.item
            dst.origin = d.origin
            dst.step = d.step
            dst.count = d.count
            dst.stride = d.stride

        g = ffi.new("cg_grid *")
        g.size = ffi.sizeof("cg_grid")  # the growable-struct convention
        fill(g.time, self.time)
        dims = ffi.new("cg_grid_dim[]", max(1, len(self.dims)))
        for i, d in enumerate(self.dims):
            fill(dims[i], d)
        g.dims = dims
        g.n_dims = len(self.dims)
        g.heap_size = self.heap_size
        g.heap_length_item = -1 if self.heap_length_item is None else self.heap_length_item
        extra = ffi.new("size_t[]", max(1, len(self.extra_items)))
        for i, v in enumerate(self.extra_items):
            extra[i] = v
        g.extra_items = extra
        g.n_extra_items = len(self.extra_items)
        _ffi.check(lib.cg_chunk_stream_config_set_grid_place(csc, g))

    def __repr__(self) -> str:
        return (
            f"GridPlacement({self.time!r}, {self.heap_size}, dims={self.dims!r}, "
            f"heap_length_item={self.heap_length_item}, extra_items={self.extra_items})"
        )


_SIG2 = "void (void *, size_t)"
_SIG3 = "void (void *, size_t, void *)"

_capsule_api = ctypes.pythonapi
_capsule_api.PyCapsule_GetName.restype = ctypes.c_char_p
_capsule_api.PyCapsule_GetName.argtypes = [ctypes.py_object]
_capsule_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_capsule_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_api.PyCapsule_GetContext.restype = ctypes.c_void_p
_capsule_api.PyCapsule_GetContext.argtypes = [ctypes.py_object]


class _ResolvedPlace:
    """A place function as the native config wants it."""

    __slots__ = ("fn", "user", "grid", "keep")

    def __init__(self, fn: int = 0, user: int = 0, grid: Optional[GridPlacement] = None, keep: Any = None) -> None:
        self.fn = fn
        self.user = user
        self.grid = grid
        self.keep = keep


def _is_capsule(obj: Any) -> bool:
    return type(obj).__name__ == "PyCapsule"


def _is_numba_cfunc(obj: Any) -> bool:
    """A numba ``@cfunc`` result (numba.core.ccallback.CFunc), recognised
    without importing numba."""
    return type(obj).__module__.startswith("numba.") and hasattr(obj, "ctypes") and hasattr(obj, "address")


def _pointer_value(obj: Any) -> int:
    """Address from a user-data pointer: int, cffi pointer, ctypes object, None."""
    if obj is None:
        return 0
    if isinstance(obj, int):
        return obj
    if isinstance(obj, ffi.CData):
        return int(ffi.cast("uintptr_t", obj))
    if isinstance(obj, ctypes.c_void_p):
        return obj.value or 0
    if isinstance(obj, ctypes._Pointer):  # type: ignore[attr-defined]
        return ctypes.cast(obj, ctypes.c_void_p).value or 0
    if isinstance(obj, (ctypes.Array, ctypes.Structure, ctypes.Union, ctypes._SimpleCData)):  # type: ignore[attr-defined]
        return ctypes.addressof(obj)
    raise TypeError(f"cannot use {type(obj).__name__} as a user-data pointer")


def _cffi_fn_args(obj: Any) -> Optional[int]:
    """Number of arguments of a cffi place-like function pointer, or None."""
    t = ffi.typeof(obj)
    if t.kind == "pointer" and t.item.kind == "function":
        t = t.item
    if t.kind != "function" or t.ellipsis or t.result.kind != "void":
        return None
    args = t.args
    if len(args) not in (2, 3) or args[0].kind != "pointer":
        return None
    if args[1].kind != "primitive" or ffi.sizeof(args[1]) != ffi.sizeof("size_t"):
        return None
    if len(args) == 3 and args[2].kind != "pointer":
        return None
    return len(args)


def _ctypes_fn_ok(obj: Any) -> bool:
    argtypes = getattr(obj, "argtypes", None)
    if argtypes is None:
        return True  # a bare CDLL symbol: its signature cannot be checked
    if len(argtypes) not in (2, 3) or obj.restype is not None:
        return False
    return ctypes.sizeof(argtypes[1]) == ctypes.sizeof(ctypes.c_size_t)


def _resolve_place(place: Any) -> Optional[_ResolvedPlace]:
    """Turn any accepted ``place`` into a function address and user pointer.

    The returned ``keep`` must stay referenced while any stream uses it.
    """
    if place is None:
        return None
    if isinstance(place, GridPlacement):
        return _ResolvedPlace(grid=place, keep=place)
    first, user_obj = place, None
    if isinstance(place, tuple):
        # Read the elements through tuple itself: scipy.LowLevelCallable is
        # a tuple subclass whose __getitem__ raises ValueError on purpose.
        n = tuple.__len__(place)
        if n == 0:
            raise TypeError("place tuple is empty: its first element must be the function")
        first = tuple.__getitem__(place, 0)
        user_obj = tuple.__getitem__(place, 1) if n > 1 else None
    if _is_numba_cfunc(first):
        # A numba @cfunc object itself (spead2 wants it wrapped in a
        # LowLevelCallable; accepting it bare is one step less).
        first = first.ctypes
    if _is_capsule(first):
        name = _capsule_api.PyCapsule_GetName(first)
        name_s = name.decode() if name is not None else None
        if name_s not in (_SIG2, _SIG3):
            raise TypeError(
                f"place capsule signature must be {_SIG2!r} or {_SIG3!r}, not {name_s!r}"
            )
        fn = _capsule_api.PyCapsule_GetPointer(first, name)
        # The 2-argument form is called as fn(data, size, NULL): a callee
        # that ignores a third argument is harmless in the x86-64 and
        # aarch64 C calling conventions.
        user = _capsule_api.PyCapsule_GetContext(first) if name_s == _SIG3 else 0
        return _ResolvedPlace(fn=fn or 0, user=user or 0, keep=place)
    if isinstance(first, ffi.CData):
        if _cffi_fn_args(first) is None:
            raise TypeError(
                f"cffi place function must have C type {_SIG2!r} or {_SIG3!r}, not "
                f"{ffi.typeof(first).cname!r}"
            )
        return _ResolvedPlace(
            fn=int(ffi.cast("uintptr_t", first)), user=_pointer_value(user_obj), keep=place
        )
    if isinstance(first, ctypes._CFuncPtr):  # type: ignore[attr-defined]
        if not _ctypes_fn_ok(first):
            raise TypeError(f"ctypes place function must have C type {_SIG2!r} or {_SIG3!r}")
        return _ResolvedPlace(
            fn=ctypes.cast(first, ctypes.c_void_p).value or 0, user=_pointer_value(user_obj), keep=place
        )
    if callable(first):
        raise TypeError(
            "place must be a compiled C function, not a Python callable (a Python call per "
            "heap would be far too slow): pass a scipy.LowLevelCallable (e.g. from a numba "
            "cfunc), a cffi/ctypes function pointer 'void (void *, size_t, void *)', or "
            "chunkgroup.recv.GridPlacement"
        )
    raise TypeError(f"unsupported place object {place!r}")


class ChunkStreamConfig:
    """Placement settings of a chunk stream (spead2's ``ChunkStreamConfig``).

    ``items``: IDs of the items whose immediate values the place function
    gets; ``max_chunks``: window size (>= 1); ``place``: see the module
    documentation; ``max_heap_extra``: bytes of extra data per heap;
    ``max_jump_chunks`` (an addition to spead2's): see the property.
    """

    DEFAULT_MAX_CHUNKS = 2

    def __init__(
        self,
        *,
        items: Iterable[int] = (),
        max_chunks: int = DEFAULT_MAX_CHUNKS,
        place: Any = None,
        max_heap_extra: int = 0,
        max_jump_chunks: int = 0,
    ) -> None:
        self.items = items  # type: ignore[assignment]
        self.max_chunks = max_chunks
        self.place = place
        self.max_heap_extra = max_heap_extra
        self.max_jump_chunks = max_jump_chunks
        self._packet_presence = 0

    @property
    def items(self) -> List[int]:
        """Item IDs passed to the place function (a copy)."""
        return list(self._items)

    @items.setter
    def items(self, value: Iterable[int]) -> None:
        items = [_nonneg("item ID", v) for v in value]
        if any(v >= 1 << 63 for v in items):
            raise ValueError("item ID is too large")
        self._items = items

    @property
    def max_chunks(self) -> int:
        """Window size in chunks (>= 1)."""
        return self._max_chunks

    @max_chunks.setter
    def max_chunks(self, value: int) -> None:
        self._max_chunks = _positive("max_chunks", value)

    @property
    def place(self) -> Any:
        """The place object as it was set."""
        return self._place

    @place.setter
    def place(self, value: Any) -> None:
        self._resolved = _resolve_place(value)
        self._place = value

    @property
    def max_heap_extra(self) -> int:
        """Bytes of extra data a place function may write per heap."""
        return self._max_heap_extra

    @max_heap_extra.setter
    def max_heap_extra(self, value: int) -> None:
        self._max_heap_extra = _nonneg("max_heap_extra", value)

    @property
    def max_jump_chunks(self) -> int:
        """Guard against stray packets from far in the future: with n > 0, a
        heap placed more than n chunks past the end of the window is dropped
        (statistic ``far_jump_heaps``) until 4 such heaps in a row confirm
        the jump. 0 (the default, spead2's behaviour) follows every jump."""
        return self._max_jump_chunks

    @max_jump_chunks.setter
    def max_jump_chunks(self, value: int) -> None:
        value = _nonneg("max_jump_chunks", value)
        if value > 1 << 62:
            raise ValueError("max_jump_chunks is too large")
        self._max_jump_chunks = value

    def enable_packet_presence(self, payload_size: int) -> None:
        """Mark ``present`` per packet: index ``heap_index + payload_offset
        // payload_size``."""
        self._packet_presence = _positive("payload_size", payload_size)

    def disable_packet_presence(self) -> None:
        """Mark ``present`` per heap (the default)."""
        self._packet_presence = 0

    @property
    def packet_presence_payload_size(self) -> int:
        """Payload size for packet presence, 0 when disabled."""
        return self._packet_presence

    def __copy__(self) -> "ChunkStreamConfig":
        new = ChunkStreamConfig.__new__(ChunkStreamConfig)
        new.__dict__.update(self.__dict__)
        new._items = list(self._items)
        return new

    def __repr__(self) -> str:
        return (
            f"ChunkStreamConfig(items={self._items}, max_chunks={self._max_chunks}, "
            f"place={self._place!r}, max_heap_extra={self._max_heap_extra}, "
            f"max_jump_chunks={self._max_jump_chunks})"
        )


def _native_chunk_stream_config(config: ChunkStreamConfig) -> Tuple[Any, Any]:
    """A new native cg_chunk_stream_config (caller frees) and the object that
    must stay alive while a stream uses its place function."""
    place = config._resolved
    if place is None:
        raise ValueError("ChunkStreamConfig.place is not set: a chunk stream needs a place function")
    c = lib.cg_chunk_stream_config_new()
    _ffi.check_ptr(c, "cg_chunk_stream_config_new", MemoryError)
    try:
        ids = ffi.new("uint64_t[]", config._items or [0])
        _ffi.check(lib.cg_chunk_stream_config_set_items(c, ids, len(config._items)))
        _ffi.check(lib.cg_chunk_stream_config_set_max_chunks(c, config.max_chunks))
        extra = config.max_heap_extra
        if place.grid is not None:
            n = len(config._items)
            bad = [i for i in place.grid._items_used() if i >= n]
            if bad:
                raise ValueError(
                    f"GridPlacement uses item index {bad[0]} but ChunkStreamConfig.items has {n} items"
                )
            extra = max(extra, 8 * len(place.grid.extra_items))
        _ffi.check(lib.cg_chunk_stream_config_set_max_heap_extra(c, extra))
        _ffi.check(lib.cg_chunk_stream_config_set_max_jump_chunks(c, config.max_jump_chunks))
        if place.grid is not None:
            place.grid._apply(c)
        else:
            if not place.fn:
                raise ValueError("place function pointer is NULL")
            _ffi.check(
                lib.cg_chunk_stream_config_set_place(
                    c, ffi.cast("cg_place_fn", place.fn), ffi.cast("void *", place.user)
                )
            )
        if config._packet_presence:
            _ffi.check(lib.cg_chunk_stream_config_enable_packet_presence(c, config._packet_presence))
    except BaseException:
        lib.cg_chunk_stream_config_free(c)
        raise
    return c, place.keep
