"""Chunks and the chunk ringbuffer shared with native code."""

from __future__ import annotations

import select as _select
import threading
import weakref
from typing import (
    Any,
    Dict,
    Tuple,
)

from .._errors import Stopped
from .. import _ffi
from .._ffi import ffi, lib
from ._common import _Handle, _SLICE_MS, _SLICE_US, _finalize, _positive


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
        self._holds = _ffi.track(self)
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
    chunk = _ffi.unregister(ptr)
    if chunk is None:
        raise RuntimeError("a ring returned a chunk that was not put there from Python")
    return chunk


_OK, _EEMPTY = lib.CG_OK, lib.CG_EEMPTY
_local = threading.local()


def _try_pop(ptr: Any) -> Tuple[int, Any]:
    """One cg_ring_try_pop on ring ``ptr``: (status, the chunk if CG_OK
    else None)."""
    # The cg_chunk* out-parameter comes from a per-thread free list, not a
    # new cdata per call (0.1 us against 0.3 us, on a consumer's every
    # chunk): a call into the library releases the GIL, so threads cannot
    # share one, and taking it off the list keeps a nested call (a signal
    # handler that pops) from overwriting it.
    try:
        outs = _local.outs
    except AttributeError:
        outs = _local.outs = []
    out = outs.pop() if outs else ffi.new("cg_chunk **")
    st = lib.cg_ring_try_pop(ptr, out)
    c = out[0]
    outs.append(out)
    return st, (_take_back(c) if st == _OK else None)


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
        ptr = self._ptr
        st, chunk = _try_pop(ptr)
        if st == _EEMPTY:
            poller = self._data_poller()
            while st == _EEMPTY:
                poller.poll(_SLICE_MS)  # Ctrl-C is handled between slices
                st, chunk = _try_pop(ptr)
        if chunk is not None:
            return chunk
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
        st, chunk = _try_pop(self._ptr)
        if chunk is None:
            raise _ffi.make_error(st)
        return chunk

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
                _ffi.unregister(chunk._c)

    def put_nowait(self, chunk: Chunk) -> None:
        """Append a chunk; Full if there is no space, Stopped if stopped."""
        _ffi.register(_check_chunk(chunk))
        st = lib.cg_ring_try_push(self._ptr, chunk._c)
        if st != _OK:
            _ffi.unregister(chunk._c)
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
