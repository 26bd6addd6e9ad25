"""asyncio flavour of the chunk ringbuffer: ``await ring.get()`` and
``async for chunk in ring``, driven by the ring's readiness file descriptor
(``loop.add_reader``), so no thread blocks.

Any number of coroutines may wait on one ring at once.  An event loop
allows one reader callback per file descriptor (a second ``add_reader``
replaces the first, and ``remove_reader`` removes it for everyone), so the
waiters of one ring in one loop share a single registration
(:class:`_Waiters`).  When the fd becomes readable every waiter is woken and
each tries ``get_nowait()`` again; those that find the ring empty wait
again.  Waking all of them, not one, is what makes cancellation safe: a
woken waiter that is cancelled before it runs cannot strand another waiter
with a chunk left in the ring, because the others were woken too.  A waiter
never holds a chunk across an ``await``, so cancelling one never loses a
chunk.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Set

from .._errors import Empty, Stopped
from . import Chunk
from . import ChunkRingbuffer as _SyncChunkRingbuffer

__all__ = ["ChunkRingbuffer"]


class _Waiters:
    """The coroutines of one event loop waiting for data on one ring fd.

    The fd is registered with the loop while at least one waiter is
    pending, and only once.  All methods run on the loop's thread.
    """

    __slots__ = ("_loop", "_fd", "_pending", "_registered", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self._loop = loop
        self._fd = fd
        self._pending: Set["asyncio.Future[None]"] = set()
        self._registered = False

    def wait(self) -> "asyncio.Future[None]":
        """A future that completes at the next readiness of the fd."""
        fut = self._loop.create_future()
        self._pending.add(fut)
        if not self._registered:
            self._loop.add_reader(self._fd, self._ready)
            self._registered = True
        return fut

    def done(self, fut: "asyncio.Future[None]") -> None:
        """Forget fut (woken, cancelled or failed); unregister when idle."""
        self._pending.discard(fut)
        if not self._pending:
            self._unregister()

    def _ready(self) -> None:
        # Wake everyone: each waiter retries get_nowait() (see the module
        # docstring for why not just one).  Unregister until someone waits
        # again, so a readable fd does not spin the loop while the woken
        # waiters have not run yet.
        pending, self._pending = self._pending, set()
        for fut in pending:
            if not fut.done():
                fut.set_result(None)
        self._unregister()

    def _unregister(self) -> None:
        if self._registered:
            self._registered = False
            if not self._loop.is_closed():
                self._loop.remove_reader(self._fd)


class ChunkRingbuffer(_SyncChunkRingbuffer):
    """A :class:`chunkgroup.recv.ChunkRingbuffer` whose :meth:`get` is a
    coroutine; ``async for`` yields chunks until the ring is stopped and
    drained.  Everything else (``put``, ``get_nowait``, ``stop``...) is as in
    the synchronous class, and it can be passed to groups and streams.

    Several coroutines may await :meth:`get` at once; each chunk goes to
    exactly one of them, cancelling one (directly or through
    ``asyncio.wait_for``) never strands the others, and :meth:`stop` wakes
    them all (they raise :class:`chunkgroup.Stopped` once the ring is
    drained)."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        # One registration per event loop using this ring.
        self._waiters: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Waiters]" = (
            weakref.WeakKeyDictionary()
        )

    def _loop_waiters(self, loop: asyncio.AbstractEventLoop) -> _Waiters:
        w = self._waiters.get(loop)
        if w is None:
            w = self._waiters[loop] = _Waiters(loop, self.data_fd)
        return w

    async def get(self) -> Chunk:  # type: ignore[override]
        """Wait for a chunk without blocking the event loop; Stopped once
        the ring is stopped and empty."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                return self.get_nowait()
            except Empty:
                pass
            waiters = self._loop_waiters(loop)
            fut = waiters.wait()
            try:
                await fut
            finally:
                waiters.done(fut)

    def __aiter__(self) -> "ChunkRingbuffer":
        return self

    async def __anext__(self) -> Chunk:
        try:
            return await self.get()
        except Stopped:
            raise StopAsyncIteration from None
