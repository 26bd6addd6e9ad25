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

The package is split by concept; everything public is imported here:
``config`` (statistics, StreamConfig, ChunkStreamGroupConfig),
``placement`` (GridPlacement, the place forms, ChunkStreamConfig),
``chunks`` (Chunk, ChunkRingbuffer), ``streams`` (readers, groups and their
members, ChunkRingStream), ``asyncio`` and ``numba``.
"""

from __future__ import annotations

from ._common import (
    DEFAULT_TCP_BUFFER_SIZE,
    DEFAULT_TCP_MAX_SIZE,
    DEFAULT_UDP_BUFFER_SIZE,
    DEFAULT_UDP_MAX_SIZE,
)
from .chunks import Chunk, ChunkRingbuffer
from .config import (  # noqa: F401  (STANDARD_STATS and _native_stream_config: for tools and tests)
    STANDARD_STATS,
    ChunkStreamGroupConfig,
    StreamConfig,
    StreamStatConfig,
    StreamStats,
    UdpXdpConfig,
    _native_stream_config,
)
from .placement import ChunkStreamConfig, GridDim, GridPlacement
from .streams import ChunkRingStream, ChunkStreamGroupMember, ChunkStreamRingGroup

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
    "UdpXdpConfig",
    "DEFAULT_UDP_MAX_SIZE",
    "DEFAULT_UDP_BUFFER_SIZE",
    "DEFAULT_TCP_MAX_SIZE",
    "DEFAULT_TCP_BUFFER_SIZE",
]

# The public classes show their public home (help(), reprs, error messages),
# whichever module of the package defines them.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
