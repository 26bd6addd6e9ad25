"""Streams and groups: readers, statistics, ChunkStreamRingGroup and its
members, ChunkRingStream."""

from __future__ import annotations

import copy as _copy
import ipaddress
import operator
import os
import socket as _socket
import threading
import weakref
from collections.abc import Sequence
from typing import (
    Any,
    List,
    Optional,
    Union,
    overload,
)

from .. import ThreadPool
from .. import _ffi
from .._ffi import ffi, lib
from ._common import DEFAULT_TCP_BUFFER_SIZE, DEFAULT_TCP_MAX_SIZE, DEFAULT_UDP_BUFFER_SIZE, DEFAULT_UDP_MAX_SIZE, _Handle, _finalize, _nonneg
from .chunks import _OK, Chunk, ChunkRingbuffer, _check_chunk
from .config import ChunkStreamGroupConfig, StreamConfig, StreamStatConfig, StreamStats, UdpXdpConfig, _native_stream_config
from .placement import ChunkStreamConfig, _native_chunk_stream_config


# ---------------------------------------------------------------- streams


def _is_socket(obj: Any) -> bool:
    return not isinstance(obj, (int, str, bytes)) and hasattr(obj, "fileno")


def _add_free_chunk(fn: Any, handle: Any, chunk: Chunk) -> None:
    # fn is a _v2 function: one call into the library per chunk, which says
    # CG_ESTOPPED when the free ring has stopped (then the chunk is dropped
    # silently, as spead2 does; native code never took it).
    _ffi.register(_check_chunk(chunk))
    st = fn(handle, chunk._c)
    if st != _OK:
        _ffi.unregister(chunk._c)
        if st != lib.CG_ESTOPPED:
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

    def add_udp_xdp_reader(self, config: UdpXdpConfig) -> dict:
        """Receive the endpoints' UDP datagrams from one interface queue
        through AF_XDP (Linux; see :class:`UdpXdpConfig`). Call it from a
        thread in the interface's network namespace. Returns the modes the
        reader got: ``{"zero_copy": bool, "native_xdp": bool}``. Missing
        privileges or kernel support raise ``OSError`` (the message names the
        capability to grant); a bad configuration raises ``ValueError``."""
        if not isinstance(config, UdpXdpConfig):
            raise TypeError(f"config must be a UdpXdpConfig, not {type(config).__name__}")
        eps = config.endpoints
        if not eps:
            raise ValueError("UdpXdpConfig has no endpoints")
        hosts = []
        for host, _ in eps:
            if host and not _is_ip(host):
                host = _socket.getaddrinfo(host, None, _socket.AF_INET)[0][4][0]
            hosts.append(ffi.new("char[]", host.encode()))
        c_hosts = ffi.new("const char *[]", hosts)
        c_ports = ffi.new("uint16_t[]", [p for _, p in eps])
        mode = ffi.new("int *")
        zc = {None: lib.CG_XDP_ZERO_COPY_AUTO, True: lib.CG_XDP_ZERO_COPY_ON, False: lib.CG_XDP_ZERO_COPY_OFF}[config.zero_copy]
        _ffi.check(
            lib.cg_stream_add_udp_xdp_reader(
                self._sptr(), c_hosts, c_ports, len(eps), config.interface.encode(), config.queue,
                config.buffer_size, config.max_size, zc, config.busy_poll, mode,
            )
        )
        return {"zero_copy": bool(mode[0] & lib.CG_XDP_MODE_ZERO_COPY), "native_xdp": bool(mode[0] & lib.CG_XDP_MODE_NATIVE)}

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


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


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
            _ffi.check(lib.cg_group_config_set_lossy_grace(gc_, config._grace_us()))
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
        _add_free_chunk(lib.cg_group_add_free_chunk_v2, self._state.ptr, chunk)

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
        _add_free_chunk(lib.cg_chunk_ring_stream_add_free_chunk_v2, self._info.ptr, chunk)

    def stop(self) -> None:
        """Stop the stream (both rings first) and ready its chunks."""
        _ffi.check(lib.cg_stream_stop(self._info.ptr))
        _ffi.take_kept(lib.cg_chunk_ring_stream_take_kept, self._info.ptr)

    def __repr__(self) -> str:
        return "<chunkgroup.recv.ChunkRingStream>"
