"""Receiving: chunk streams, chunk stream groups and chunk ringbuffers.

The names, signatures and behaviour follow spead2's chunk API
(``spead2.recv.ChunkStreamRingGroup`` and friends), so code written for it
runs after changing imports.  Differences and additions:

- ``place`` accepts (1) a ``scipy.LowLevelCallable`` or any tuple whose first
  element is a PyCapsule named ``"void (void *, size_t)"`` or
  ``"void (void *, size_t, void *)"`` (numba ``cfunc`` callbacks written for
  spead2 work unchanged), (2) a cffi or ctypes function pointer with one of
  those signatures, optionally as ``(fnptr, user_data_pointer)`` (a numba
  ``cfunc`` object itself counts as its ctypes pointer), or (3) a
  :class:`GridPlacement` computed inside the library.  A plain Python
  function is refused (a Python call per heap would be far too slow).
- Chunks handed to native code are kept alive by the package until they come
  back; the same Python object (subclass included) is returned.
- Dropping the last reference to a group or ring stream stops it and frees
  its native objects.
"""

from __future__ import annotations

import copy as _copy
import ctypes
import enum
import ipaddress
import operator
import os
import select as _select
import socket as _socket
import threading
import weakref
from collections.abc import Sequence
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence as TypingSequence,
    Tuple,
    Union,
    overload,
)

from .. import ThreadPool
from .._errors import Empty, Full, Stopped
from .. import _ffi
from .._ffi import ffi, lib

__all__ = [
    "StreamStatConfig",
    "StreamConfig",
    "StreamStats",
    "ChunkStreamConfig",
    "Chunk",
    "ChunkRingbuffer",
    "ChunkStreamGroupConfig",
    "ChunkStreamRingGroup",
    "ChunkStreamGroupMember",
    "ChunkRingStream",
    "GridDim",
    "GridPlacement",
    "DEFAULT_UDP_MAX_SIZE",
    "DEFAULT_UDP_BUFFER_SIZE",
    "DEFAULT_TCP_MAX_SIZE",
    "DEFAULT_TCP_BUFFER_SIZE",
]

#: Defaults of the reader methods (as spead2).
DEFAULT_UDP_MAX_SIZE = 9200
DEFAULT_UDP_BUFFER_SIZE = 8 * 1024 * 1024
DEFAULT_TCP_MAX_SIZE = 65536
DEFAULT_TCP_BUFFER_SIZE = 212992

# Blocking ring calls wait in slices this long, so that Python can run signal
# handlers (Ctrl-C) between them.
_SLICE_US = 100_000
_SLICE_MS = _SLICE_US // 1000


def _nonneg(name: str, value: Any) -> int:
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from None
    if v < 0:
        raise ValueError(f"{name} must be non-negative")
    return v


def _positive(name: str, value: Any) -> int:
    v = _nonneg(name, value)
    if v == 0:
        raise ValueError(f"{name} must be at least 1")
    return v


class _Handle:
    """Holds a native pointer; the teardown finaliser is attached to this
    small object rather than to the public one, so it never keeps the public
    object alive."""

    __slots__ = ("ptr", "__weakref__")

    def __init__(self, ptr: Any) -> None:
        self.ptr = ptr


def _finalize(handle: _Handle, fn: Any, *args: Any) -> weakref.finalize:
    return weakref.finalize(handle, _ffi.run_finalizer, fn, *args)


# ---------------------------------------------------------------- statistics


class StreamStatConfig:
    """Name and combining mode of one stream statistic."""

    class Mode(enum.IntEnum):
        """How two values of the statistic combine."""

        COUNTER = lib.CG_STAT_COUNTER  #: values add up
        MAXIMUM = lib.CG_STAT_MAXIMUM  #: the larger value wins

    def __init__(self, name: str, mode: "StreamStatConfig.Mode" = Mode.COUNTER) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("statistic name must be a non-empty string")
        try:
            self._mode = StreamStatConfig.Mode(mode)
        except ValueError:
            raise ValueError(f"invalid statistic mode {mode!r}") from None
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def mode(self) -> "StreamStatConfig.Mode":
        return self._mode

    def combine(self, a: int, b: int) -> int:
        """Combine two values of this statistic (sum or maximum)."""
        return a + b if self._mode == StreamStatConfig.Mode.COUNTER else max(a, b)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StreamStatConfig):
            return NotImplemented
        return self._name == other._name and self._mode == other._mode

    def __hash__(self) -> int:
        return hash((self._name, int(self._mode)))

    def __repr__(self) -> str:
        return f"StreamStatConfig({self._name!r}, {self._mode!s})"


_C, _M = StreamStatConfig.Mode.COUNTER, StreamStatConfig.Mode.MAXIMUM
#: The standard statistics, in the order of their native indices.
STANDARD_STATS: Tuple[Tuple[str, StreamStatConfig.Mode], ...] = (
    ("packets", _C),
    ("batches", _C),
    ("max_batch", _M),
    ("heaps", _C),
    ("incomplete_heaps_evicted", _C),
    ("incomplete_heaps_flushed", _C),
    ("single_packet_heaps", _C),
    ("search_dist", _C),
    ("worker_blocked", _C),
    ("too_old_heaps", _C),
    ("rejected_heaps", _C),
    ("bad_placement_heaps", _C),
    ("malformed_packets", _C),
    ("far_jump_heaps", _C),
)
assert len(STANDARD_STATS) == lib.CG_NUM_STANDARD_STATS


class _StatNotFound(KeyError, IndexError):
    """No statistic of that name (a KeyError, and an IndexError as spead2
    raises)."""


class StreamStats:
    """A snapshot of a stream's statistics.

    Standard statistics are attributes (``stats.heaps``); every statistic,
    custom ones included, is available by name or index (``stats["heaps"]``,
    ``stats[3]``).  Iteration, ``keys()``, ``values()``, ``items()``,
    ``get()``, ``len()`` and ``in`` work as for a dict keyed by name.  ``a +
    b`` combines two snapshots with the same statistics (counters add,
    maxima take the larger).
    """

    __slots__ = ("_config", "_index", "_values")

    def __init__(self, config: TypingSequence[StreamStatConfig], values: Iterable[int]) -> None:
        self._config = list(config)
        self._values = [int(v) for v in values]
        if len(self._values) != len(self._config):
            raise ValueError("number of values does not match the statistics")
        self._index = {c.name: i for i, c in enumerate(self._config)}

    @property
    def config(self) -> List[StreamStatConfig]:
        """The statistic configurations (a copy)."""
        return list(self._config)

    def __getattr__(self, name: str) -> int:
        try:
            return self._values[self._index[name]]
        except (KeyError, AttributeError):
            raise AttributeError(f"no statistic named {name!r}") from None

    def __getitem__(self, key: Union[int, str]) -> int:
        if isinstance(key, str):
            try:
                return self._values[self._index[key]]
            except KeyError:
                raise KeyError(key) from None
        return self._values[operator.index(key)]

    def get(self, name: str, default: Any = None) -> Any:
        i = self._index.get(name)
        return default if i is None else self._values[i]

    def keys(self) -> List[str]:
        return [c.name for c in self._config]

    def values(self) -> List[int]:
        return list(self._values)

    def items(self) -> List[Tuple[str, int]]:
        return [(c.name, v) for c, v in zip(self._config, self._values)]

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __add__(self, other: "StreamStats") -> "StreamStats":
        if not isinstance(other, StreamStats):
            return NotImplemented
        if self._config != other._config:
            raise ValueError("cannot combine statistics with different configurations")
        return StreamStats(
            self._config,
            [c.combine(a, b) for c, a, b in zip(self._config, self._values, other._values)],
        )

    def __iadd__(self, other: "StreamStats") -> "StreamStats":
        return self.__add__(other)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StreamStats):
            return NotImplemented
        return self._config == other._config and self._values == other._values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "StreamStats(" + ", ".join(f"{k}={v}" for k, v in self.items()) + ")"


# ---------------------------------------------------------------- configs


class StreamConfig:
    """Heap assembly settings of a stream (spead2's ``StreamConfig``).

    Every argument is also a read/write property.  Invalid values raise
    :exc:`ValueError`.  Custom statistics are added with :meth:`add_stat` and
    get indices from 13 on (after the standard ones, see
    :data:`STANDARD_STATS`); a place function increments
    ``batch_stats[index]``.
    """

    DEFAULT_MAX_HEAPS = 4

    def __init__(
        self,
        *,
        max_heaps: int = DEFAULT_MAX_HEAPS,
        substreams: int = 1,
        stop_on_stop_item: bool = True,
        allow_out_of_order: bool = False,
        stream_id: int = 0,
        explicit_start: bool = False,
        memcpy: int = 1,
    ) -> None:
        self._stats = [StreamStatConfig(n, m) for n, m in STANDARD_STATS]
        self.max_heaps = max_heaps
        self.substreams = substreams
        self.stop_on_stop_item = stop_on_stop_item
        self.allow_out_of_order = allow_out_of_order
        self.stream_id = stream_id
        self.explicit_start = explicit_start
        self.memcpy = memcpy

    @property
    def memcpy(self) -> int:
        """How payload is copied into chunks: ``chunkgroup.MEMCPY_NONTEMPORAL``
        (default; streaming stores past the cache) or ``MEMCPY_STD``."""
        return self._memcpy

    @memcpy.setter
    def memcpy(self, value: int) -> None:
        if value not in (lib.CG_MEMCPY_STD, lib.CG_MEMCPY_NONTEMPORAL):
            raise ValueError(f"memcpy must be MEMCPY_STD or MEMCPY_NONTEMPORAL, not {value!r}")
        self._memcpy = int(value)

    @property
    def max_heaps(self) -> int:
        """Incomplete heaps kept per substream (>= 1)."""
        return self._max_heaps

    @max_heaps.setter
    def max_heaps(self, value: int) -> None:
        self._max_heaps = _positive("max_heaps", value)

    @property
    def substreams(self) -> int:
        """Number of substreams (heap_cnt mod substreams; >= 1)."""
        return self._substreams

    @substreams.setter
    def substreams(self, value: int) -> None:
        self._substreams = _positive("substreams", value)

    @property
    def stop_on_stop_item(self) -> bool:
        """Whether a stream-control stop item stops the stream."""
        return self._stop_on_stop_item

    @stop_on_stop_item.setter
    def stop_on_stop_item(self, value: bool) -> None:
        self._stop_on_stop_item = bool(value)

    @property
    def allow_out_of_order(self) -> bool:
        """Whether packets of a heap may arrive out of offset order."""
        return self._allow_out_of_order

    @allow_out_of_order.setter
    def allow_out_of_order(self, value: bool) -> None:
        self._allow_out_of_order = bool(value)

    @property
    def stream_id(self) -> int:
        """Recorded in the chunks the stream fills (``Chunk.stream_id``)."""
        return self._stream_id

    @stream_id.setter
    def stream_id(self, value: int) -> None:
        v = _nonneg("stream_id", value)
        if v >= 1 << (8 * ffi.sizeof("uintptr_t")):
            raise ValueError("stream_id is too large")
        self._stream_id = v

    @property
    def explicit_start(self) -> bool:
        """Whether readers wait for ``start()``."""
        return self._explicit_start

    @explicit_start.setter
    def explicit_start(self, value: bool) -> None:
        self._explicit_start = bool(value)

    def add_stat(self, name: str, mode: StreamStatConfig.Mode = StreamStatConfig.Mode.COUNTER) -> int:
        """Add a custom statistic; returns its index.  A duplicate name
        raises :exc:`ValueError`."""
        stat = StreamStatConfig(name, mode)
        if any(s.name == name for s in self._stats):
            raise ValueError(f"a statistic named {name!r} already exists")
        self._stats.append(stat)
        return len(self._stats) - 1

    def get_stat_index(self, name: str) -> int:
        """Index of the named statistic (KeyError/IndexError if absent)."""
        for i, s in enumerate(self._stats):
            if s.name == name:
                return i
        raise _StatNotFound(name)

    def next_stat_index(self) -> int:
        """The index the next :meth:`add_stat` will return."""
        return len(self._stats)

    @property
    def stats(self) -> List[StreamStatConfig]:
        """All statistics, standard ones first (a copy)."""
        return list(self._stats)

    def __copy__(self) -> "StreamConfig":
        new = StreamConfig.__new__(StreamConfig)
        new.__dict__.update(self.__dict__)
        new._stats = list(self._stats)
        return new

    def __repr__(self) -> str:
        return (
            f"StreamConfig(max_heaps={self._max_heaps}, substreams={self._substreams}, "
            f"stop_on_stop_item={self._stop_on_stop_item}, "
            f"allow_out_of_order={self._allow_out_of_order}, stream_id={self._stream_id}, "
            f"explicit_start={self._explicit_start}, memcpy={self._memcpy})"
        )


def _native_stream_config(config: StreamConfig) -> Any:
    """A new native cg_stream_config mirroring ``config`` (caller frees)."""
    c = lib.cg_stream_config_new()
    _ffi.check_ptr(c, "cg_stream_config_new", MemoryError)
    try:
        _ffi.check(lib.cg_stream_config_set_max_heaps(c, config.max_heaps))
        _ffi.check(lib.cg_stream_config_set_substreams(c, config.substreams))
        _ffi.check(lib.cg_stream_config_set_stop_on_stop_item(c, int(config.stop_on_stop_item)))
        _ffi.check(lib.cg_stream_config_set_allow_out_of_order(c, int(config.allow_out_of_order)))
        _ffi.check(lib.cg_stream_config_set_stream_id(c, config.stream_id))
        _ffi.check(lib.cg_stream_config_set_explicit_start(c, int(config.explicit_start)))
        _ffi.check(lib.cg_stream_config_set_memcpy(c, config.memcpy))
        index = ffi.new("size_t *")
        for i, stat in enumerate(config._stats[lib.CG_NUM_STANDARD_STATS:], lib.CG_NUM_STANDARD_STATS):
            _ffi.check(lib.cg_stream_config_add_stat(c, stat.name.encode(), int(stat.mode), index))
            if index[0] != i:
                raise RuntimeError(f"native index {index[0]} of statistic {stat.name!r} != {i}")
    except BaseException:
        lib.cg_stream_config_free(c)
        raise
    return c


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


class ChunkStreamGroupConfig:
    """Settings of a chunk stream group: the group window (``max_chunks``)
    and the eviction mode."""

    DEFAULT_MAX_CHUNKS = 2

    class EvictionMode(enum.IntEnum):
        """What the group does when a stream needs a chunk beyond the window."""

        LOSSY = lib.CG_EVICT_LOSSY  #: flush the oldest chunk even if streams lag
        LOSSLESS = lib.CG_EVICT_LOSSLESS  #: wait for every stream to move on

    def __init__(
        self, *, max_chunks: int = DEFAULT_MAX_CHUNKS, eviction_mode: "ChunkStreamGroupConfig.EvictionMode" = EvictionMode.LOSSY
    ) -> None:
        self.max_chunks = max_chunks
        self.eviction_mode = eviction_mode

    @property
    def max_chunks(self) -> int:
        """Group window in chunks (>= 1)."""
        return self._max_chunks

    @max_chunks.setter
    def max_chunks(self, value: int) -> None:
        self._max_chunks = _positive("max_chunks", value)

    @property
    def eviction_mode(self) -> "ChunkStreamGroupConfig.EvictionMode":
        """LOSSY (default) or LOSSLESS."""
        return self._eviction_mode

    @eviction_mode.setter
    def eviction_mode(self, value: "ChunkStreamGroupConfig.EvictionMode") -> None:
        try:
            self._eviction_mode = ChunkStreamGroupConfig.EvictionMode(value)
        except ValueError:
            raise ValueError(f"invalid eviction mode {value!r}") from None

    def __copy__(self) -> "ChunkStreamGroupConfig":
        return ChunkStreamGroupConfig(max_chunks=self._max_chunks, eviction_mode=self._eviction_mode)

    def __repr__(self) -> str:
        return f"ChunkStreamGroupConfig(max_chunks={self._max_chunks}, eviction_mode={self._eviction_mode!s})"


# ---------------------------------------------------------------- chunks


class Chunk:
    """A chunk: caller-owned buffers that receive the payloads of many heaps.

    ``present``, ``data`` and ``extra`` accept any writable C-contiguous
    buffer (numpy array, bytearray, memoryview...) and return the object that
    was set.  While a ring, group or stream holds the chunk its buffers
    cannot be replaced (RuntimeError), and the package keeps the chunk alive.
    Subclasses are welcome: the very same object comes back from the rings.
    """

    def __init__(
        self,
        *,
        chunk_id: int = -1,
        stream_id: int = 0,
        present: Any = None,
        data: Any = None,
        extra: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)  # cooperative with mixins of subclasses
        self._c = ffi.new("cg_chunk *")
        self._bufs: Dict[str, Tuple[Any, Any]] = {}
        self.chunk_id = chunk_id
        self.stream_id = stream_id
        self.present = present
        self.data = data
        self.extra = extra

    def _set_buffer(self, field: str, value: Any) -> None:
        if _ffi.is_registered(self):
            raise RuntimeError(f"cannot replace Chunk.{field} while a ring or stream holds the chunk")
        if value is None:
            cd, size = ffi.NULL, 0
        else:
            cd = ffi.from_buffer("uint8_t[]", value, require_writable=True)
            size = len(cd)
            if size:
                mv = memoryview(value)
                if not mv.c_contiguous:
                    raise ValueError(f"Chunk.{field} must be C-contiguous")
        setattr(self._c, field, cd)
        setattr(self._c, field + "_size", size)
        self._bufs[field] = (value, cd)

    def _get_buffer(self, field: str) -> Any:
        return self._bufs.get(field, (None, None))[0]

    @property
    def chunk_id(self) -> int:
        """Chunk ID (written by the stream when it takes the chunk)."""
        return int(self._c.chunk_id)

    @chunk_id.setter
    def chunk_id(self, value: int) -> None:
        self._c.chunk_id = value

    @property
    def stream_id(self) -> int:
        """``stream_id`` of the stream (one of the group's) that took it."""
        return int(self._c.stream_id)

    @stream_id.setter
    def stream_id(self, value: int) -> None:
        self._c.stream_id = value

    @property
    def present(self) -> Any:
        """One byte per heap (or packet) slot: 1 once received."""
        return self._get_buffer("present")

    @present.setter
    def present(self, value: Any) -> None:
        self._set_buffer("present", value)

    @property
    def data(self) -> Any:
        """Heap payloads, at the offsets the place function chose."""
        return self._get_buffer("data")

    @data.setter
    def data(self, value: Any) -> None:
        self._set_buffer("data", value)

    @property
    def extra(self) -> Any:
        """Extra data written per heap by the place function."""
        return self._get_buffer("extra")

    @extra.setter
    def extra(self, value: Any) -> None:
        self._set_buffer("extra", value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} chunk_id={self.chunk_id} stream_id={self.stream_id}>"


def _check_chunk(chunk: Any) -> Chunk:
    if not isinstance(chunk, Chunk):
        raise TypeError(f"expected a Chunk, not {type(chunk).__name__}")
    return chunk


def _take_back(ptr: Any) -> Chunk:
    chunk = _ffi.unregister_addr(_ffi.addr(ptr))
    if chunk is None:
        raise RuntimeError("a ring returned a chunk that was not put there from Python")
    return chunk


def _teardown_ring(ptr: Any) -> None:
    _ffi.drain_ring(ptr)
    lib.cg_ring_free(ptr)


# Rings still alive, to stop when the interpreter shuts down. Python joins
# non-daemon threads before it runs atexit handlers and finalisers, so a
# consumer thread blocked in get() on a live group's ring would hang the
# exit for ever; threading's own shutdown hook runs before that join.
_live_rings: "weakref.WeakSet[ChunkRingbuffer]" = weakref.WeakSet()


def _stop_rings_at_exit() -> None:
    for ring in list(_live_rings):
        try:
            lib.cg_ring_stop(ring._ptr)  # blocked get()/put() raise Stopped
        except Exception:  # noqa: BLE001 - never fail the interpreter's exit
            pass


try:
    threading._register_atexit(_stop_rings_at_exit)  # type: ignore[attr-defined]
except (AttributeError, RuntimeError):  # Python < 3.9, or already shutting down
    pass


class ChunkRingbuffer:
    """A bounded blocking FIFO of chunks, shared with native code.

    ``get``/``put`` block (releasing the GIL, interruptible with Ctrl-C);
    ``get_nowait``/``put_nowait`` raise :exc:`~chunkgroup.Empty` /
    :exc:`~chunkgroup.Full`.  After :meth:`stop`, gets drain what is left
    and then raise :exc:`~chunkgroup.Stopped`, and puts raise it at once.
    Iterating yields chunks until the ring is stopped and drained.
    """

    def __init__(self, maxsize: int) -> None:
        maxsize = _positive("maxsize", maxsize)
        ptr = _ffi.check_ptr(lib.cg_ring_new(maxsize), "cg_ring_new")
        self._handle = _Handle(ptr)
        self._ptr = ptr
        _finalize(self._handle, _teardown_ring, ptr)
        _live_rings.add(self)

    @property
    def maxsize(self) -> int:
        """Capacity."""
        return int(lib.cg_ring_capacity(self._ptr))

    def qsize(self) -> int:
        """Number of chunks in the ring now."""
        return int(lib.cg_ring_size(self._ptr))

    def empty(self) -> bool:
        return self.qsize() == 0

    def full(self) -> bool:
        return self.qsize() >= self.maxsize

    def get(self) -> Chunk:
        """Remove and return a chunk, waiting for one; Stopped once stopped
        and empty."""
        # Wait on the readiness fd in Python (poll releases the GIL), not
        # inside the library: a foreign thread that sleeps inside Go costs
        # two thread hand-offs per wake-up and then needs a free Go
        # processor, which busy member streams seldom leave (measured in
        # docs/tuning.md). Every call into the library here returns at once.
        out = ffi.new("cg_chunk **")
        ptr = self._ptr
        st = lib.cg_ring_try_pop(ptr, out)
        if st == lib.CG_EEMPTY:
            poller = self._data_poller()
            while st == lib.CG_EEMPTY:
                poller.poll(_SLICE_MS)  # Ctrl-C is handled between slices
                st = lib.cg_ring_try_pop(ptr, out)
        if st == lib.CG_OK:
            return _take_back(out[0])
        raise _ffi.make_error(st)

    def _data_poller(self) -> "_select.poll":
        # One poll object per thread: a poll object must not be used by two
        # threads at once, and several threads may wait on one ring.
        local = self.__dict__.get("_pollers")
        if local is None:
            local = self.__dict__.setdefault("_pollers", threading.local())
        p = getattr(local, "poller", None)
        if p is None:
            p = _select.poll()
            p.register(self.data_fd, _select.POLLIN)
            local.poller = p
        return p

    def get_nowait(self) -> Chunk:
        """Remove and return a chunk; Empty if there is none (Stopped if
        stopped and empty)."""
        out = ffi.new("cg_chunk **")
        _ffi.check(lib.cg_ring_try_pop(self._ptr, out))
        return _take_back(out[0])

    def put(self, chunk: Chunk) -> None:
        """Append a chunk, waiting for space; Stopped if stopped."""
        _check_chunk(chunk)
        _ffi.register(chunk)
        st = None
        try:
            while True:
                st = lib.cg_ring_push_timeout(self._ptr, chunk._c, _SLICE_US)
                if st == lib.CG_OK:
                    return
                if st != lib.CG_ETIMEDOUT:
                    raise _ffi.make_error(st)
        finally:
            if st != lib.CG_OK:
                _ffi.unregister_addr(_ffi.addr(chunk._c))

    def put_nowait(self, chunk: Chunk) -> None:
        """Append a chunk; Full if there is no space, Stopped if stopped."""
        _check_chunk(chunk)
        _ffi.register(chunk)
        st = lib.cg_ring_try_push(self._ptr, chunk._c)
        if st != lib.CG_OK:
            _ffi.unregister_addr(_ffi.addr(chunk._c))
            raise _ffi.make_error(st)

    def stop(self) -> bool:
        """Stop the ring; True only for the call that stopped it."""
        return lib.cg_ring_stop(self._ptr) == 1

    def add_producer(self) -> None:
        """Register a producer (see :meth:`remove_producer`)."""
        lib.cg_ring_add_producer(self._ptr)

    def remove_producer(self) -> bool:
        """Unregister a producer; removing the last one stops the ring
        (returns True if this call stopped it)."""
        return lib.cg_ring_remove_producer(self._ptr) == 1

    @property
    def data_fd(self) -> int:
        """A file descriptor readable while a chunk is available or the ring
        has stopped (for select/poll/event loops; never read it)."""
        return int(lib.cg_ring_data_fd(self._ptr))

    @property
    def space_fd(self) -> int:
        """A file descriptor readable while there is space or the ring has
        stopped."""
        return int(lib.cg_ring_space_fd(self._ptr))

    def __iter__(self) -> "ChunkRingbuffer":
        return self

    def __next__(self) -> Chunk:
        try:
            return ChunkRingbuffer.get(self)
        except Stopped:
            raise StopIteration from None

    def __len__(self) -> int:
        return self.qsize()

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} {self.qsize()}/{self.maxsize}>"


# ---------------------------------------------------------------- streams


def _is_socket(obj: Any) -> bool:
    return not isinstance(obj, (int, str, bytes)) and hasattr(obj, "fileno")


def _add_free_chunk(fn: Any, handle: Any, free_ring: ChunkRingbuffer, chunk: Chunk) -> None:
    _check_chunk(chunk)
    if lib.cg_ring_stopped(free_ring._ptr) == 1:
        return  # silently dropped, as spead2 does; native code never sees it
    _ffi.register(chunk)
    st = fn(handle, chunk._c)
    if st != lib.CG_OK:
        _ffi.unregister_addr(_ffi.addr(chunk._c))
        raise _ffi.make_error(st)


class _StreamInfo:
    """What a stream needs besides its native handle (no reference back to
    the public objects)."""

    __slots__ = ("ptr", "config", "chunk_stream_config", "stat_config")

    def __init__(self, ptr: Any, config: StreamConfig, chunk_stream_config: ChunkStreamConfig) -> None:
        self.ptr = ptr
        self.config = config
        self.chunk_stream_config = chunk_stream_config
        self.stat_config: Optional[List[StreamStatConfig]] = None


class _StreamBase:
    """Reader methods and statistics common to group members and ring
    streams."""

    _info: _StreamInfo

    def _sptr(self) -> Any:
        return self._info.ptr

    def add_buffer_reader(self, buffer: Any) -> None:
        """Read packets stored back to back in ``buffer`` (no copy: the
        stream keeps a reference until it is done with it).  The end of the
        buffer stops the stream."""
        view = ffi.from_buffer("uint8_t[]", buffer)
        key = _ffi.hold_buffer((buffer, view))
        # release is called exactly once, possibly before an error return.
        st = lib.cg_stream_add_buffer_reader_nocopy(
            self._sptr(), view, len(view), _ffi.release_callback, ffi.cast("void *", key)
        )
        _ffi.check(st)

    @overload
    def add_udp_reader(self, port: int, max_size: int = ..., buffer_size: int = ..., bind_hostname: str = "") -> None: ...
    @overload
    def add_udp_reader(
        self, multicast_group: str, port: int, max_size: int = ..., buffer_size: int = ..., interface_address: str = ""
    ) -> None: ...
    @overload
    def add_udp_reader(self, socket: _socket.socket, max_size: int = ...) -> None: ...

    def add_udp_reader(self, *args: Any, **kwargs: Any) -> None:
        """Receive UDP; three forms, as spead2:

        - ``add_udp_reader(port, max_size=9200, buffer_size=8 MiB,
          bind_hostname="")``;
        - ``add_udp_reader(multicast_group, port, max_size, buffer_size,
          interface_address="")`` (a unicast address here is the local
          address to bind);
        - ``add_udp_reader(socket, max_size=9200)``: an already-bound UDP
          socket (the library uses a duplicate; yours stays yours).
        """
        first = args[0] if args else kwargs.get("socket", kwargs.get("multicast_group", kwargs.get("port")))
        if "socket" in kwargs or (args and _is_socket(first)):
            self._udp_socket(*args, **kwargs)
        elif "multicast_group" in kwargs or isinstance(first, str):
            self._udp_multicast(*args, **kwargs)
        else:
            self._udp_port(*args, **kwargs)

    def _udp_port(
        self, port: int, max_size: int = DEFAULT_UDP_MAX_SIZE, buffer_size: int = DEFAULT_UDP_BUFFER_SIZE, bind_hostname: str = ""
    ) -> None:
        port = _check_port(port)
        _ffi.check(
            lib.cg_stream_add_udp_reader(
                self._sptr(), bind_hostname.encode(), port, _nonneg("max_size", max_size), _nonneg("buffer_size", buffer_size)
            )
        )

    def _udp_multicast(
        self,
        multicast_group: str,
        port: int,
        max_size: int = DEFAULT_UDP_MAX_SIZE,
        buffer_size: int = DEFAULT_UDP_BUFFER_SIZE,
        interface_address: str = "",
    ) -> None:
        port = _check_port(port)
        try:
            multicast = ipaddress.ip_address(multicast_group).is_multicast
        except ValueError:
            multicast = False
        if multicast:
            st = lib.cg_stream_add_udp_multicast_reader(
                self._sptr(), multicast_group.encode(), port, interface_address.encode(),
                _nonneg("max_size", max_size), _nonneg("buffer_size", buffer_size),
            )
        else:
            st = lib.cg_stream_add_udp_reader(
                self._sptr(), multicast_group.encode(), port, _nonneg("max_size", max_size), _nonneg("buffer_size", buffer_size)
            )
        _ffi.check(st)

    def _udp_socket(self, socket: Any, max_size: int = DEFAULT_UDP_MAX_SIZE) -> None:
        fd = socket.fileno()
        _ffi.check(lib.cg_stream_add_udp_socket_reader(self._sptr(), fd, _nonneg("max_size", max_size)))

    @overload
    def add_tcp_reader(self, port: int, max_size: int = ..., buffer_size: int = ..., bind_hostname: str = "") -> None: ...
    @overload
    def add_tcp_reader(self, acceptor: _socket.socket, max_size: int = ...) -> None: ...

    def add_tcp_reader(self, *args: Any, **kwargs: Any) -> None:
        """Accept one TCP connection and read packets framed back to back;
        the end of the connection stops the stream.  Forms:
        ``add_tcp_reader(port, max_size=65536, buffer_size=212992,
        bind_hostname="")`` and ``add_tcp_reader(acceptor, max_size=65536)``
        with a listening socket."""
        first = args[0] if args else kwargs.get("acceptor", kwargs.get("port"))
        if "acceptor" in kwargs or (args and _is_socket(first)):
            self._tcp_acceptor(*args, **kwargs)
        else:
            self._tcp_port(*args, **kwargs)

    def _tcp_port(
        self, port: int, max_size: int = DEFAULT_TCP_MAX_SIZE, buffer_size: int = DEFAULT_TCP_BUFFER_SIZE, bind_hostname: str = ""
    ) -> None:
        port = _check_port(port)
        _ffi.check(
            lib.cg_stream_add_tcp_reader(
                self._sptr(), bind_hostname.encode(), port, _nonneg("max_size", max_size), _nonneg("buffer_size", buffer_size)
            )
        )

    def _tcp_acceptor(self, acceptor: Any, max_size: int = DEFAULT_TCP_MAX_SIZE) -> None:
        fd = acceptor.fileno()
        _ffi.check(lib.cg_stream_add_tcp_acceptor_reader(self._sptr(), fd, _nonneg("max_size", max_size)))

    def add_udp_pcap_file_reader(self, filename: Union[str, "os.PathLike[str]"], filter: str = "") -> None:
        """Read UDP packets from a classic pcap file; ``filter`` is "" or
        ``"udp dst port N"`` / ``"port N"``."""
        _ffi.check(lib.cg_stream_add_pcap_file_reader(self._sptr(), os.fsencode(filename), filter.encode()))

    @property
    def last_reader_port(self) -> int:
        """Local port of the most recently added UDP/TCP reader (useful with
        port 0); 0 if none.  (An addition to spead2's API.)"""
        return int(lib.cg_stream_last_reader_port(self._sptr()))

    def set_udp_gro(self, enable: bool = True) -> None:
        """Use UDP generic receive offload for UDP readers added after this
        call, where the kernel has it (several datagrams per receive; far
        fewer system calls with senders that use segmentation offload).
        (An addition to spead2's API.)"""
        _ffi.check(lib.cg_stream_set_udp_gro(self._sptr(), 1 if enable else 0))

    def start(self) -> None:
        """Start the readers (with ``StreamConfig(explicit_start=True)``)."""
        _ffi.check(lib.cg_stream_start(self._sptr()))

    @property
    def error(self) -> Optional[str]:
        """Message of the error that stopped a reader, or None."""
        msg = lib.cg_stream_error(self._sptr())
        return None if msg == ffi.NULL else ffi.string(msg).decode("utf-8", "replace")

    @property
    def config(self) -> StreamConfig:
        """The stream configuration (a copy)."""
        return _copy.copy(self._info.config)

    @property
    def chunk_stream_config(self) -> ChunkStreamConfig:
        """The chunk stream configuration (a copy)."""
        return _copy.copy(self._info.chunk_stream_config)

    @property
    def stats(self) -> StreamStats:
        """A consistent snapshot of the statistics."""
        ptr = self._sptr()
        info = self._info
        if info.stat_config is None:
            n = lib.cg_stream_stat_count(ptr)
            info.stat_config = [
                StreamStatConfig(ffi.string(lib.cg_stream_stat_name(ptr, i)).decode(), lib.cg_stream_stat_mode(ptr, i))
                for i in range(n)
            ]
        n = len(info.stat_config)
        values = ffi.new("uint64_t[]", max(n, 1))
        _ffi.check(lib.cg_stream_stats(ptr, values, n))
        return StreamStats(info.stat_config, list(values)[:n])


def _check_port(port: Any) -> int:
    p = _nonneg("port", port)
    if p > 65535:
        raise ValueError("port must be in 0..65535")
    return p


def _teardown_group(gptr: Any, data_handle: _Handle, free_handle: _Handle, keep: List[Any]) -> None:
    # Stopping stops both rings first, which releases a consumer blocked on
    # them; chunks readied afterwards are kept aside and returned here.
    # The ring handles are arguments so that the rings are freed after.
    lib.cg_group_stop(gptr)
    _ffi.take_kept(lib.cg_group_take_kept, gptr)
    lib.cg_group_free(gptr)
    del keep[:]


class _GroupState:
    """Everything a group's members share with it, without references to
    the public objects (so that dropping the group is not delayed to a
    cycle collection)."""

    def __init__(self, ptr: Any) -> None:
        self.ptr = ptr
        self.infos: List[_StreamInfo] = []
        self.keep: List[Any] = []


class ChunkStreamRingGroup(Sequence):  # type: ignore[type-arg]
    """A chunk stream group whose chunks come from ``free_ringbuffer`` and go
    to ``data_ringbuffer``.

    The group is a sequence of its member streams (len, indexing, slices,
    iteration, ``in``, ``index``, ``count``); the member returned for an
    index is the same object each time and keeps the group alive.  Every
    member is a producer of the data ring, so the ring stops (and a
    consumer's ``for chunk in data_ringbuffer`` ends) when every member's
    input has ended.  Dropping the last reference stops the group and frees
    it.
    """

    def __init__(
        self, config: ChunkStreamGroupConfig, data_ringbuffer: ChunkRingbuffer, free_ringbuffer: ChunkRingbuffer
    ) -> None:
        if not isinstance(config, ChunkStreamGroupConfig):
            raise TypeError("config must be a ChunkStreamGroupConfig")
        if not isinstance(data_ringbuffer, ChunkRingbuffer) or not isinstance(free_ringbuffer, ChunkRingbuffer):
            raise TypeError("data_ringbuffer and free_ringbuffer must be ChunkRingbuffer objects")
        gc_ = _ffi.check_ptr(lib.cg_group_config_new(), "cg_group_config_new", MemoryError)
        try:
            _ffi.check(lib.cg_group_config_set_max_chunks(gc_, config.max_chunks))
            _ffi.check(lib.cg_group_config_set_eviction_mode(gc_, int(config.eviction_mode)))
            gptr = _ffi.check_ptr(
                lib.cg_ring_group_new(gc_, data_ringbuffer._ptr, free_ringbuffer._ptr), "cg_ring_group_new"
            )
        finally:
            lib.cg_group_config_free(gc_)
        self._config = _copy.copy(config)
        self._data = data_ringbuffer
        self._free = free_ringbuffer
        self._state = _GroupState(gptr)
        self._handle = _Handle(gptr)
        self._members: "weakref.WeakValueDictionary[int, ChunkStreamGroupMember]" = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        _finalize(self._handle, _teardown_group, gptr, data_ringbuffer._handle, free_ringbuffer._handle, self._state.keep)

    @property
    def config(self) -> ChunkStreamGroupConfig:
        """The group configuration (a copy)."""
        return _copy.copy(self._config)

    @property
    def data_ringbuffer(self) -> ChunkRingbuffer:
        return self._data

    @property
    def free_ringbuffer(self) -> ChunkRingbuffer:
        return self._free

    def emplace_back(
        self, thread_pool: Optional[ThreadPool], config: StreamConfig, chunk_stream_config: ChunkStreamConfig
    ) -> "ChunkStreamGroupMember":
        """Add a member stream and return it.  ValueError for an invalid
        configuration (no place function, a window larger than the
        group's); RuntimeError once the group has received data (add every
        member before any reader to be sure of that)."""
        if not isinstance(config, StreamConfig):
            raise TypeError("config must be a StreamConfig")
        if not isinstance(chunk_stream_config, ChunkStreamConfig):
            raise TypeError("chunk_stream_config must be a ChunkStreamConfig")
        state = self._state
        if chunk_stream_config.max_chunks > self._config.max_chunks:
            raise ValueError(
                f"stream max_chunks ({chunk_stream_config.max_chunks}) exceeds the group's ({self._config.max_chunks})"
            )
        sc = _native_stream_config(config)
        try:
            csc, keep = _native_chunk_stream_config(chunk_stream_config)
            try:
                sptr = lib.cg_group_emplace_back(state.ptr, sc, csc)
                # The library refuses a member once the group has received
                # data (CG_ESTATE: RuntimeError, with its message).
                _ffi.check_ptr(sptr, "emplace_back")
            finally:
                lib.cg_chunk_stream_config_free(csc)
        finally:
            lib.cg_stream_config_free(sc)
        state.keep.append(keep)
        info = _StreamInfo(sptr, _copy.copy(config), _copy.copy(chunk_stream_config))
        if thread_pool is not None and thread_pool._affinity:
            cpus = ffi.new("int[]", thread_pool._affinity)
            _ffi.check(lib.cg_stream_set_affinity(sptr, cpus, len(thread_pool._affinity)))
        state.infos.append(info)
        return self[len(state.infos) - 1]

    def __len__(self) -> int:
        return len(self._state.infos)

    def _member(self, index: int) -> "ChunkStreamGroupMember":
        with self._lock:
            m = self._members.get(index)
            if m is None:
                m = ChunkStreamGroupMember._create(self, index)
                self._members[index] = m
            return m

    @overload
    def __getitem__(self, index: int) -> "ChunkStreamGroupMember": ...
    @overload
    def __getitem__(self, index: slice) -> List["ChunkStreamGroupMember"]: ...

    def __getitem__(self, index: Union[int, slice]) -> Any:
        n = len(self)
        if isinstance(index, slice):
            return [self._member(i) for i in range(*index.indices(n))]
        i = operator.index(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("group member index out of range")
        return self._member(i)

    def add_free_chunk(self, chunk: Chunk) -> None:
        """Zero ``chunk.present`` and put the chunk on the free ring without
        blocking (Full if full; silently ignored if the ring has stopped)."""
        _add_free_chunk(lib.cg_group_add_free_chunk, self._state.ptr, self._free, chunk)

    def stop(self) -> None:
        """Stop every member and ready every remaining chunk.  Both rings
        are stopped first, so a consumer that no longer services them cannot
        block this."""
        ptr = self._state.ptr
        _ffi.check(lib.cg_group_stop(ptr))
        _ffi.take_kept(lib.cg_group_take_kept, ptr)

    def __repr__(self) -> str:
        return f"<chunkgroup.recv.ChunkStreamRingGroup with {len(self)} streams>"


class ChunkStreamGroupMember(_StreamBase):
    """A member stream of a :class:`ChunkStreamRingGroup` (made by
    ``emplace_back``; not constructible directly).  It keeps its group
    alive."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("ChunkStreamGroupMember cannot be constructed; use ChunkStreamRingGroup.emplace_back")

    @classmethod
    def _create(cls, group: ChunkStreamRingGroup, index: int) -> "ChunkStreamGroupMember":
        self = cls.__new__(cls)
        self._group = group
        self._index = index
        self._info = group._state.infos[index]
        return self

    @property
    def group(self) -> ChunkStreamRingGroup:
        """The group this stream belongs to."""
        return self._group

    def stop(self) -> None:
        """Stop the whole group (as spead2)."""
        self._group.stop()

    def __repr__(self) -> str:
        return f"<chunkgroup.recv.ChunkStreamGroupMember {self._index}>"


def _teardown_ring_stream(sptr: Any, data_handle: _Handle, free_handle: _Handle, keep: Any) -> None:
    lib.cg_stream_stop(sptr)
    _ffi.take_kept(lib.cg_chunk_ring_stream_take_kept, sptr)
    lib.cg_stream_free(sptr)


class ChunkRingStream(_StreamBase):
    """A single chunk stream fed from ``free_ringbuffer`` and delivering to
    ``data_ringbuffer`` (spead2's ``ChunkRingStream``).  Dropping the last
    reference stops and frees it."""

    def __init__(
        self,
        thread_pool: Optional[ThreadPool],
        config: StreamConfig,
        chunk_stream_config: ChunkStreamConfig,
        data_ringbuffer: ChunkRingbuffer,
        free_ringbuffer: ChunkRingbuffer,
    ) -> None:
        if not isinstance(config, StreamConfig):
            raise TypeError("config must be a StreamConfig")
        if not isinstance(chunk_stream_config, ChunkStreamConfig):
            raise TypeError("chunk_stream_config must be a ChunkStreamConfig")
        if not isinstance(data_ringbuffer, ChunkRingbuffer) or not isinstance(free_ringbuffer, ChunkRingbuffer):
            raise TypeError("data_ringbuffer and free_ringbuffer must be ChunkRingbuffer objects")
        sc = _native_stream_config(config)
        try:
            csc, keep = _native_chunk_stream_config(chunk_stream_config)
            try:
                sptr = _ffi.check_ptr(
                    lib.cg_chunk_ring_stream_new(sc, csc, data_ringbuffer._ptr, free_ringbuffer._ptr),
                    "cg_chunk_ring_stream_new",
                )
            finally:
                lib.cg_chunk_stream_config_free(csc)
        finally:
            lib.cg_stream_config_free(sc)
        self._info = _StreamInfo(sptr, _copy.copy(config), _copy.copy(chunk_stream_config))
        self._data = data_ringbuffer
        self._free = free_ringbuffer
        self._handle = _Handle(sptr)
        _finalize(self._handle, _teardown_ring_stream, sptr, data_ringbuffer._handle, free_ringbuffer._handle, keep)
        if thread_pool is not None and thread_pool._affinity:
            cpus = ffi.new("int[]", thread_pool._affinity)
            _ffi.check(lib.cg_stream_set_affinity(sptr, cpus, len(thread_pool._affinity)))

    @property
    def data_ringbuffer(self) -> ChunkRingbuffer:
        return self._data

    @property
    def free_ringbuffer(self) -> ChunkRingbuffer:
        return self._free

    def add_free_chunk(self, chunk: Chunk) -> None:
        """Zero ``chunk.present`` and put it on the free ring without
        blocking (Full if full; ignored if the ring has stopped)."""
        _add_free_chunk(lib.cg_chunk_ring_stream_add_free_chunk, self._info.ptr, self._free, chunk)

    def stop(self) -> None:
        """Stop the stream (both rings first) and ready its chunks."""
        _ffi.check(lib.cg_stream_stop(self._info.ptr))
        _ffi.take_kept(lib.cg_chunk_ring_stream_take_kept, self._info.ptr)

    def __repr__(self) -> str:
        return "<chunkgroup.recv.ChunkRingStream>"
