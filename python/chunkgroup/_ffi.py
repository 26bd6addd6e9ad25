"""Low-level binding: the cffi declarations, read from the C header itself
(``include/chunkgroup.h``, bundled in the wheel next to the library), so
there is one source of truth; loading of ``libchunkgroup.so``, status-code to exception mapping,
the registry of chunks held by native code, and the native log bridge.

Nothing here is public API; use :mod:`chunkgroup`, :mod:`chunkgroup.recv` and
:mod:`chunkgroup.send`.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import weakref
from typing import Any, Callable, Dict, List, Optional

import cffi

from ._errors import Empty, Full, Stopped

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
_LIB_NAME = "libchunkgroup.so"


def _candidate_paths() -> List[str]:
    """Where the shared library may be, best first.

    1. ``$CHUNKGROUP_LIB`` (an explicit override always wins);
    2. in a source checkout (``python/chunkgroup`` next to ``include/`` and
       ``build/``), ``build/libchunkgroup.so`` when it is newer than the
       bundled copy: ``make lib`` is how developers rebuild, and an older
       bundled copy left by a wheel build must not shadow it;
    3. the copy bundled in the package (``chunkgroup/_lib``), as installed
       from a wheel;
    4. ``build/libchunkgroup.so`` of a source checkout.
    """
    paths = []
    env = os.environ.get("CHUNKGROUP_LIB")
    if env:
        paths.append(env)
    bundled = os.path.join(_PKG_DIR, "_lib", _LIB_NAME)
    root = os.path.dirname(os.path.dirname(_PKG_DIR))
    checkout = os.path.join(root, "build", _LIB_NAME)
    is_checkout = os.path.exists(os.path.join(root, "include", "chunkgroup.h"))
    if is_checkout and os.path.exists(checkout) and (
        not os.path.exists(bundled) or os.path.getmtime(checkout) >= os.path.getmtime(bundled)
    ):
        paths.append(checkout)
    paths.append(bundled)
    if is_checkout:
        paths.append(checkout)
    return paths


def header_cdef(src: str) -> str:
    """The header's declarations as cffi's cdef takes them: comments,
    include guards, includes and the C++ wrapper removed; integer #defines
    of CG_ constants kept."""
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    src = re.sub(r"//[^\n]*", "", src)
    lines = []
    for line in src.splitlines():
        s = line.strip()
        if s.startswith("#"):
            m = re.match(r"#define\s+(CG_\w+)\s+(\d+)\s*$", s)
            if m:
                lines.append(f"#define {m.group(1)} {m.group(2)}")
            continue
        if s in ('extern "C" {', "}"):
            continue
        lines.append(line)
    return "\n".join(lines)


def _header_for(lib_path: str) -> str:
    """The header that goes with the library: the one bundled beside it, or
    a source checkout's include/chunkgroup.h."""
    root = os.path.dirname(os.path.dirname(_PKG_DIR))
    beside = os.path.join(os.path.dirname(os.path.abspath(lib_path)), "chunkgroup.h")
    candidates = [beside, os.path.join(root, "include", "chunkgroup.h"), os.path.join(_PKG_DIR, "_lib", "chunkgroup.h")]
    for path in candidates:
        if os.path.exists(path):
            return path
    raise ImportError("chunkgroup: cannot find chunkgroup.h (tried " + ", ".join(candidates) + ")")


def _load() -> Any:
    errors = []
    for path in _candidate_paths():
        if not os.path.exists(path):
            errors.append(f"{path}: not found")
            continue
        with open(_header_for(path)) as f:
            ffi.cdef(header_cdef(f.read()))
        try:
            return ffi.dlopen(path), path
        except OSError as exc:  # pragma: no cover - broken library
            errors.append(f"{path}: {exc}")
            break  # the declarations are made: no second library
    raise ImportError(
        "chunkgroup: cannot load libchunkgroup.so; build it with `make lib` or "
        "install the wheel, or set CHUNKGROUP_LIB. Tried:\n  " + "\n  ".join(errors)
    )


ffi = cffi.FFI()
lib, LIB_PATH = _load()


# ---------------------------------------------------------------- errors

def last_error() -> str:
    """Message of the last failed call on this thread."""
    msg = lib.cg_last_error()
    return ffi.string(msg).decode("utf-8", "replace") if msg != ffi.NULL else ""


def make_error(status: int, what: str = "") -> BaseException:
    """The Python exception for a CG_E* status, with the native message."""
    msg = last_error() or what or f"chunkgroup error {status}"
    if status == lib.CG_EINVAL:
        return ValueError(msg)
    if status == lib.CG_ESTATE:
        return RuntimeError(msg)
    if status == lib.CG_EIO:
        err = lib.cg_last_errno()
        return OSError(err, msg) if err else OSError(msg)
    if status == lib.CG_ESTOPPED:
        return Stopped(msg)
    if status == lib.CG_EEMPTY:
        return Empty(msg)
    if status == lib.CG_EFULL:
        return Full(msg)
    if status == lib.CG_ENOMEM:
        return MemoryError(msg)
    if status == lib.CG_ETIMEDOUT:
        return TimeoutError(msg)
    return RuntimeError(msg)


def check(status: int, what: str = "") -> None:
    """Raise the matching exception unless status is CG_OK."""
    if status != lib.CG_OK:
        raise make_error(status, what)


def check_ptr(ptr: Any, what: str, default: type = ValueError) -> Any:
    """Raise for a NULL returned by a constructor, mapped from the
    thread's last status (cg_last_status) like any other failure; default
    is used only if the library recorded no status."""
    if ptr == ffi.NULL:
        status = lib.cg_last_status()
        if status != lib.CG_OK:
            raise make_error(status, f"{what} failed")
        raise default(last_error() or f"{what} failed")
    return ptr


# ---------------------------------------------------------------- registry
#
# Every chunk that native code may hold (in a ring, in a group's window,
# kept aside after a stop) is referenced from here, so its buffers cannot be
# freed while Go could write to them, and so that a cg_chunk* popped from a
# ring maps back to the very same Python object.  Each Chunk has an entry
# from its creation (track) to its death: its cg_chunk pointer -> a list
# that holds the chunk once per hold by native code (a chunk may be pushed
# more than once).  cffi pointers hash and compare by address, so the
# pointer a ring returns finds the entry without a cast to an integer (a
# cast costs about 0.6 us in CPython, a hash 0.1 us).
#
# No lock: taking or giving back a hold is one list append or pop, and
# finding the list one dict lookup, each atomic under the GIL; the entry
# itself is created before the chunk can be held and removed only once the
# chunk is gone (nobody can hold it then).  With a lock, a hold taken and
# given back cost 0.66 us, without 0.15 us (docs/tuning.md, ninth round).

_registry: Dict[Any, List[Any]] = {}


def track(chunk: Any) -> List[Any]:
    """Create ``chunk``'s entry (from Chunk.__init__, once ``chunk._c``
    exists); returns the list of its holds."""
    holds: List[Any] = []
    key = chunk._c
    _registry[key] = holds
    # The finaliser references the key, never the chunk; a chunk that is
    # held is referenced from its own holds list, so it cannot die then.
    weakref.finalize(chunk, _registry.pop, key, None).atexit = False
    return holds


def register(chunk: Any) -> None:
    """Record that native code now holds ``chunk`` (once more)."""
    chunk._holds.append(chunk)


def unregister(ptr: Any) -> Any:
    """Native code gave back the chunk ``ptr`` (a cg_chunk pointer) points
    to; return the Python chunk (None if it was not registered)."""
    try:
        return _registry[ptr].pop()
    except (KeyError, IndexError):
        return None


def is_registered(chunk: Any) -> bool:
    """True while native code may hold ``chunk``."""
    return bool(chunk._holds)


def registry_size() -> int:
    """Number of distinct chunks native code may hold (for tests)."""
    return sum(1 for holds in list(_registry.values()) if holds)


def drain_ring(ring_ptr: Any) -> None:
    """Take back every chunk left in a ring (before freeing it)."""
    out = ffi.new("cg_chunk **")
    while lib.cg_ring_try_pop(ring_ptr, out) == lib.CG_OK:
        unregister(out[0])


def take_kept(fn: Callable[[Any, Any, int], int], handle: Any) -> None:
    """Take back the chunks a stopped group/stream kept aside."""
    n = 64
    out = ffi.new("cg_chunk *[]", n)
    while True:
        got = fn(handle, out, n)
        if got == 0:
            break
        for i in range(got):
            unregister(out[i])


# ---------------------------------------------------------------- callbacks
#
# Callbacks run on the library's threads.  A garbage collection triggered
# inside one may run finalisers that stop the very stream whose thread is in
# the callback, which would wait for itself; such finalisers are handed to a
# fresh thread instead (see run_finalizer).

_tls = threading.local()
_logger = logging.getLogger("chunkgroup")
_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


def in_callback() -> bool:
    return getattr(_tls, "depth", 0) > 0


def run_finalizer(fn: Callable[..., None], *args: Any) -> None:
    """Run a teardown function, off the callback thread if need be."""
    if in_callback():
        threading.Thread(target=fn, args=args, name="chunkgroup-teardown", daemon=True).start()
    else:
        fn(*args)


def _log_onerror(exc, value, tb):  # pragma: no cover - logging must not fail loudly
    return None


@ffi.callback("cg_log_fn", onerror=_log_onerror)
def _log_callback(level, message, user):
    _tls.depth = getattr(_tls, "depth", 0) + 1
    try:
        text = ffi.string(message).decode("utf-8", "replace")
        # Named, so a message printed without a logging configuration (the
        # last-resort handler prints the bare text) says where it is from.
        _logger.log(_LEVELS.get(level, logging.WARNING), "chunkgroup: %s", text)
    finally:
        _tls.depth -= 1


# Zero-copy buffer readers: the buffer (and its cffi view) stay referenced
# here until the library calls release exactly once.
_buffers: Dict[int, Any] = {}
_buffer_ids = iter(range(1, 1 << 62))
_buffer_lock = threading.Lock()


@ffi.callback("cg_release_fn")
def _release_callback(user):
    _tls.depth = getattr(_tls, "depth", 0) + 1
    try:
        key = int(ffi.cast("uintptr_t", user))
        with _buffer_lock:
            _buffers.pop(key, None)
    finally:
        _tls.depth -= 1


def hold_buffer(obj: Any) -> int:
    """Keep ``obj`` alive until the release callback for the returned key."""
    with _buffer_lock:
        key = next(_buffer_ids)
        _buffers[key] = obj
    return key


def held_buffers() -> int:
    """Number of buffers native readers still hold (for tests)."""
    return len(_buffers)


release_callback = _release_callback

lib.cg_set_log_callback(_log_callback, ffi.NULL)


@atexit.register
def _unset_log_callback() -> None:
    # Registered before any weakref.finalize, so it runs after them (atexit
    # is LIFO): library threads stopped by those finalisers may still log.
    lib.cg_set_log_callback(ffi.cast("cg_log_fn", 0), ffi.NULL)
