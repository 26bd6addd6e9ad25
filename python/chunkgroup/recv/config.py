"""Configuration: statistics (StreamStatConfig, StreamStats), StreamConfig
and ChunkStreamGroupConfig."""

from __future__ import annotations

import enum
import operator
from typing import (
    Any,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence as TypingSequence,
    Tuple,
    Union,
)

from .. import _ffi
from .._ffi import ffi, lib
from ._common import _nonneg, _positive


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
    ("no_chunk_heaps", _C),
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



class ChunkStreamGroupConfig:
    """Settings of a chunk stream group: the group window (``max_chunks``)
    and the eviction mode."""

    DEFAULT_MAX_CHUNKS = 2

    class EvictionMode(enum.IntEnum):
        """What the group does when a stream needs a chunk beyond the window."""

        LOSSY = lib.CG_EVICT_LOSSY  #: flush the oldest chunk even if streams lag
        LOSSLESS = lib.CG_EVICT_LOSSLESS  #: wait for every stream to move on

    def __init__(
        self,
        *,
        max_chunks: int = DEFAULT_MAX_CHUNKS,
        eviction_mode: "ChunkStreamGroupConfig.EvictionMode" = EvictionMode.LOSSY,
        lossy_grace: Optional[float] = None,
    ) -> None:
        self.max_chunks = max_chunks
        self.eviction_mode = eviction_mode
        self.lossy_grace = lossy_grace

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

    @property
    def lossy_grace(self) -> Optional[float]:
        """LOSSY only (not in spead2): seconds a member waits, before it
        evicts chunks another member still receiving has not finished, for
        that member to move on by itself. ``None`` is the library default
        (5 ms), 0 never waits (spead2's behaviour). See docs/tuning.md."""
        return self._lossy_grace

    @lossy_grace.setter
    def lossy_grace(self, value: Optional[float]) -> None:
        if value is not None:
            value = float(value)
            if not (0 <= value <= 3600):
                raise ValueError("lossy_grace must be None or between 0 and 3600 seconds")
        self._lossy_grace = value

    def _grace_us(self) -> int:
        """The value for cg_group_config_set_lossy_grace."""
        if self._lossy_grace is None:
            return 0
        return max(1, round(self._lossy_grace * 1e6)) if self._lossy_grace > 0 else -1

    def __copy__(self) -> "ChunkStreamGroupConfig":
        return ChunkStreamGroupConfig(
            max_chunks=self._max_chunks, eviction_mode=self._eviction_mode, lossy_grace=self._lossy_grace
        )

    def __repr__(self) -> str:
        extra = "" if self._lossy_grace is None else f", lossy_grace={self._lossy_grace}"
        return f"ChunkStreamGroupConfig(max_chunks={self._max_chunks}, eviction_mode={self._eviction_mode!s}{extra})"


# ---------------------------------------------------------------- AF_XDP


class UdpXdpConfig:
    """Settings of an AF_XDP reader (Linux), for
    ``member.add_udp_xdp_reader(config)``: the counterpart of spead2's
    ``UdpIbvConfig`` for any NIC with an XDP-capable driver (and, in
    generic mode, any NIC at all).

    ``endpoints`` are ``(host, port)`` pairs of IPv4 destinations ("" =
    any address; a multicast group is joined on the interface);
    ``interface`` is the interface name or one of its IPv4 addresses
    (``interface_address`` is accepted as spead2's name for it); ``queue``
    the RX queue (one reader per queue: give each group member its own);
    ``buffer_size`` the UMEM bytes; ``max_size`` the largest UDP payload;
    ``zero_copy`` None (zero-copy where the driver allows it, else copy
    mode), True (require it) or False (copy mode); ``busy_poll``
    microseconds of busy polling per poll (0 = off).

    Needs CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF (or CAP_SYS_ADMIN); the
    reader must be added from a thread in the interface's network
    namespace."""

    DEFAULT_BUFFER_SIZE = 16 * 1024 * 1024
    DEFAULT_MAX_SIZE = 9200

    def __init__(
        self,
        *,
        endpoints: Iterable[Tuple[str, int]] = (),
        interface: str = "",
        queue: int = 0,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        max_size: int = DEFAULT_MAX_SIZE,
        zero_copy: "bool | None" = None,
        busy_poll: int = 0,
        interface_address: str = "",
    ) -> None:
        self.endpoints = endpoints  # type: ignore[assignment]
        self.interface = interface or interface_address
        self.queue = queue
        self.buffer_size = buffer_size
        self.max_size = max_size
        self.zero_copy = zero_copy
        self.busy_poll = busy_poll

    @property
    def endpoints(self) -> List[Tuple[str, int]]:
        """The (host, port) destinations (a copy)."""
        return list(self._endpoints)

    @endpoints.setter
    def endpoints(self, value: Iterable[Tuple[str, int]]) -> None:
        eps = []
        for ep in value:
            try:
                host, port = ep
            except (TypeError, ValueError):
                raise ValueError(f"endpoint {ep!r} is not a (host, port) pair") from None
            if not isinstance(host, str):
                raise TypeError(f"endpoint host must be a str, not {type(host).__name__}")
            port = _nonneg("port", port)
            if not 0 < port < 65536:
                raise ValueError(f"port {port} out of range [1, 65535]")
            eps.append((host, port))
        self._endpoints = eps

    @property
    def interface(self) -> str:
        """Interface name or one of its IPv4 addresses."""
        return self._interface

    @interface.setter
    def interface(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("interface must be a str")
        self._interface = value

    # spead2's UdpIbvConfig calls it interface_address.
    interface_address = interface

    @property
    def queue(self) -> int:
        """RX queue of the interface."""
        return self._queue

    @queue.setter
    def queue(self, value: int) -> None:
        self._queue = _nonneg("queue", value)

    @property
    def buffer_size(self) -> int:
        """UMEM size in bytes (0 = the default)."""
        return self._buffer_size

    @buffer_size.setter
    def buffer_size(self, value: int) -> None:
        self._buffer_size = _nonneg("buffer_size", value)

    @property
    def max_size(self) -> int:
        """Largest UDP payload accepted (0 = the default)."""
        return self._max_size

    @max_size.setter
    def max_size(self, value: int) -> None:
        self._max_size = _nonneg("max_size", value)

    @property
    def zero_copy(self) -> "bool | None":
        """None: zero-copy where possible; True: required; False: copy mode."""
        return self._zero_copy

    @zero_copy.setter
    def zero_copy(self, value: "bool | None") -> None:
        if value is not None and not isinstance(value, bool):
            raise TypeError("zero_copy must be None, True or False")
        self._zero_copy = value

    @property
    def busy_poll(self) -> int:
        """Microseconds of busy polling per poll (0 = off)."""
        return self._busy_poll

    @busy_poll.setter
    def busy_poll(self, value: int) -> None:
        self._busy_poll = _nonneg("busy_poll", value)

    def __repr__(self) -> str:
        return (
            f"UdpXdpConfig(endpoints={self._endpoints!r}, interface={self._interface!r}, queue={self._queue}, "
            f"buffer_size={self._buffer_size}, max_size={self._max_size}, zero_copy={self._zero_copy!r}, "
            f"busy_poll={self._busy_poll})"
        )
