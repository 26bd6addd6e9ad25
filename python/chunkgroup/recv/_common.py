"""Helpers shared by the chunkgroup.recv modules: argument checks, native
handles and their finalisers, the reader defaults."""

from __future__ import annotations

import operator
import weakref
from typing import (
    Any,
)

from .. import _ffi


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
