"""chunkgroup: a SPEAD receiver that assembles heaps straight into chunks,
with chunk stream groups to spread one sender's traffic over several cores.

The receive API (:mod:`chunkgroup.recv`) follows spead2's chunk stream group
API, so code written for spead2 can switch by changing imports; a small
sender (:mod:`chunkgroup.send`) is included for tests and demos.

The native core is a Go library with a C ABI (``libchunkgroup.so``), opened
with cffi in ABI mode; no compiler is needed at install time.
"""

from __future__ import annotations

from typing import Iterable, List

from ._errors import Empty, Full, Stopped
from ._ffi import ffi as _ffi_mod_ffi, lib as _lib

__all__ = [
    "Stopped",
    "Empty",
    "Full",
    "ThreadPool",
    "HEAP_CNT_ID",
    "HEAP_LENGTH_ID",
    "PAYLOAD_OFFSET_ID",
    "PAYLOAD_LENGTH_ID",
    "DESCRIPTOR_ID",
    "STREAM_CTRL_ID",
    "CTRL_STREAM_STOP",
    "MEMCPY_STD",
    "MEMCPY_NONTEMPORAL",
    "__version__",
    "native_version",
]

__version__ = "0.2.0"

HEAP_CNT_ID = 1
HEAP_LENGTH_ID = 2
PAYLOAD_OFFSET_ID = 3
PAYLOAD_LENGTH_ID = 4
DESCRIPTOR_ID = 5
STREAM_CTRL_ID = 6
CTRL_STREAM_STOP = 2

# StreamConfig(memcpy=...): how payload is copied into chunks, as spead2
# names it. chunkgroup's default is MEMCPY_NONTEMPORAL (spead2's is
# MEMCPY_STD): chunks are handed to a consumer, not read back by the
# receiving core, so streaming stores that skip the cache are faster.
MEMCPY_STD = 0
MEMCPY_NONTEMPORAL = 1


def native_version() -> str:
    """Version string of the loaded ``libchunkgroup.so``."""
    return _ffi_mod_ffi.string(_lib.cg_version()).decode()


class ThreadPool:
    """Accepted wherever spead2 takes a thread pool.

    Each stream always runs on its own goroutine(s), so threads are not
    shared between streams and spead2's warning about a shared pool
    deadlocking a group does not apply; ``threads`` is recorded only.  A
    non-empty ``affinity`` pins the receive threads of every stream created
    with this pool to those CPUs (``cg_stream_set_affinity``).
    """

    def __init__(self, threads: int = 1, affinity: Iterable[int] = ()) -> None:
        threads = int(threads)
        if threads < 1:
            raise ValueError("threads must be at least 1")
        aff = [int(c) for c in affinity]
        if any(c < 0 for c in aff):
            raise ValueError("CPU numbers must be non-negative")
        self._threads = threads
        self._affinity = aff

    @property
    def num_threads(self) -> int:
        """The number of threads asked for."""
        return self._threads

    @property
    def affinity(self) -> List[int]:
        """The CPUs receive threads are pinned to (a copy; empty: no pinning)."""
        return list(self._affinity)

    def stop(self) -> None:
        """Nothing to do: streams own their threads (kept for spead2 code)."""

    def __repr__(self) -> str:
        return f"ThreadPool(threads={self._threads}, affinity={self._affinity})"
