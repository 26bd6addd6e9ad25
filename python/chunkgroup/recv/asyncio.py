"""asyncio flavour of the chunk ringbuffer: ``await ring.get()`` and
``async for chunk in ring``, driven by the ring's readiness file descriptor
(``loop.add_reader``), so no thread blocks."""

from __future__ import annotations

import asyncio

from .._errors import Empty, Stopped
from . import Chunk
from . import ChunkRingbuffer as _SyncChunkRingbuffer

__all__ = ["ChunkRingbuffer"]


class ChunkRingbuffer(_SyncChunkRingbuffer):
    """A :class:`chunkgroup.recv.ChunkRingbuffer` whose :meth:`get` is a
    coroutine; ``async for`` yields chunks until the ring is stopped and
    drained.  Everything else (``put``, ``get_nowait``, ``stop``...) is as in
    the synchronous class, and it can be passed to groups and streams."""

    async def get(self) -> Chunk:  # type: ignore[override]
        """Wait for a chunk without blocking the event loop; Stopped once
        the ring is stopped and empty."""
        loop = asyncio.get_running_loop()
        fd = self.data_fd
        while True:
            try:
                return self.get_nowait()
            except Empty:
                pass
            fut: "asyncio.Future[None]" = loop.create_future()

            def ready() -> None:
                if not fut.done():
                    fut.set_result(None)

            loop.add_reader(fd, ready)
            try:
                await fut
            finally:
                loop.remove_reader(fd)

    def __aiter__(self) -> "ChunkRingbuffer":
        return self

    async def __anext__(self) -> Chunk:
        try:
            return await self.get()
        except Stopped:
            raise StopAsyncIteration from None
