"""Low-level binding: the cffi declarations of ``include/chunkgroup.h`` (kept
in this one place; ``tests/python/test_ffi.py`` checks them against the
header), loading of ``libchunkgroup.so``, status-code to exception mapping,
the registry of chunks held by native code, and the native log bridge.

Nothing here is public API; use :mod:`chunkgroup`, :mod:`chunkgroup.recv` and
:mod:`chunkgroup.send`.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any, Callable, Dict, List, Optional

import cffi

from ._errors import Empty, Full, Stopped

# Declarations copied from include/chunkgroup.h (comments and include guards
# removed).  Keep in sync: test_ffi.py compares every function signature,
# struct layout and constant against the header.
CDEF = r"""
#define CG_VERSION_MAJOR 0
#define CG_VERSION_MINOR 1
#define CG_VERSION_PATCH 0
#define CG_ABI_VERSION 1
#define CG_OK 0
#define CG_EINVAL 1
#define CG_ESTATE 2
#define CG_EIO 3
#define CG_ESTOPPED 4
#define CG_EEMPTY 5
#define CG_EFULL 6
#define CG_ENOMEM 7
#define CG_ETIMEDOUT 8
#define CG_STAT_COUNTER 0
#define CG_STAT_MAXIMUM 1
#define CG_MEMCPY_STD 0
#define CG_MEMCPY_NONTEMPORAL 1
#define CG_EVICT_LOSSY 0
#define CG_EVICT_LOSSLESS 1
#define CG_LOG_DEBUG 0
#define CG_LOG_INFO 1
#define CG_LOG_WARNING 2
#define CG_LOG_ERROR 3
#define CG_HEAP_CNT_ID 1
#define CG_HEAP_LENGTH_ID 2
#define CG_PAYLOAD_OFFSET_ID 3
#define CG_PAYLOAD_LENGTH_ID 4
#define CG_DESCRIPTOR_ID 5
#define CG_STREAM_CTRL_ID 6
#define CG_CTRL_STREAM_STOP 2
#define CG_STAT_PACKETS 0
#define CG_STAT_BATCHES 1
#define CG_STAT_MAX_BATCH 2
#define CG_STAT_HEAPS 3
#define CG_STAT_INCOMPLETE_HEAPS_EVICTED 4
#define CG_STAT_INCOMPLETE_HEAPS_FLUSHED 5
#define CG_STAT_SINGLE_PACKET_HEAPS 6
#define CG_STAT_SEARCH_DIST 7
#define CG_STAT_WORKER_BLOCKED 8
#define CG_STAT_TOO_OLD_HEAPS 9
#define CG_STAT_REJECTED_HEAPS 10
#define CG_STAT_BAD_PLACEMENT_HEAPS 11
#define CG_STAT_MALFORMED_PACKETS 12
#define CG_NUM_STANDARD_STATS 13
typedef struct cg_chunk {
    int64_t   chunk_id;
    uintptr_t stream_id;
    uint8_t  *present;  size_t present_size;
    uint8_t  *data;     size_t data_size;
    uint8_t  *extra;    size_t extra_size;
    void     *user;
} cg_chunk;
typedef struct cg_place_data {
    const uint8_t *packet;   size_t packet_size;
    int64_t       *items;
    int64_t        chunk_id;
    size_t         heap_index;
    size_t         heap_offset;
    uint64_t      *batch_stats;
    uint8_t       *extra;
    size_t         extra_offset;
    size_t         extra_size;
} cg_place_data;
typedef void      (*cg_place_fn)(cg_place_data *data, size_t data_size, void *user);
typedef cg_chunk *(*cg_allocate_fn)(int64_t chunk_id, uint64_t *batch_stats, void *user);
typedef void      (*cg_ready_fn)(cg_chunk *chunk, uint64_t *batch_stats, void *user);
typedef void      (*cg_log_fn)(int level, const char *message, void *user);
typedef void      (*cg_release_fn)(void *user);
typedef struct cg_stream_config       cg_stream_config;
typedef struct cg_chunk_stream_config cg_chunk_stream_config;
typedef struct cg_group_config        cg_group_config;
typedef struct cg_ring                cg_ring;
typedef struct cg_group               cg_group;
typedef struct cg_stream              cg_stream;
typedef struct cg_sender              cg_sender;
const char *cg_version(void);
const char *cg_last_error(void);
int cg_last_errno(void);
int cg_last_status(void);
void cg_set_log_callback(cg_log_fn fn, void *user);
cg_stream_config *cg_stream_config_new(void);
void cg_stream_config_free(cg_stream_config *);
int  cg_stream_config_set_max_heaps(cg_stream_config *, size_t);
int  cg_stream_config_set_substreams(cg_stream_config *, size_t);
int  cg_stream_config_set_stop_on_stop_item(cg_stream_config *, int);
int  cg_stream_config_set_allow_out_of_order(cg_stream_config *, int);
int  cg_stream_config_set_stream_id(cg_stream_config *, uintptr_t);
int  cg_stream_config_set_explicit_start(cg_stream_config *, int);
int  cg_stream_config_set_memcpy(cg_stream_config *, int mode);
size_t    cg_stream_config_get_max_heaps(const cg_stream_config *);
size_t    cg_stream_config_get_substreams(const cg_stream_config *);
int       cg_stream_config_get_stop_on_stop_item(const cg_stream_config *);
int       cg_stream_config_get_allow_out_of_order(const cg_stream_config *);
uintptr_t cg_stream_config_get_stream_id(const cg_stream_config *);
int       cg_stream_config_get_explicit_start(const cg_stream_config *);
int       cg_stream_config_get_memcpy(const cg_stream_config *);
int  cg_stream_config_add_stat(cg_stream_config *, const char *name, int mode, size_t *index);
size_t      cg_stream_config_stat_count(const cg_stream_config *);
const char *cg_stream_config_stat_name(const cg_stream_config *, size_t index);
int         cg_stream_config_stat_mode(const cg_stream_config *, size_t index);
int  cg_stream_config_get_stat_index(const cg_stream_config *, const char *name, size_t *index);
cg_chunk_stream_config *cg_chunk_stream_config_new(void);
void cg_chunk_stream_config_free(cg_chunk_stream_config *);
int  cg_chunk_stream_config_set_items(cg_chunk_stream_config *, const uint64_t *ids, size_t n);
size_t cg_chunk_stream_config_get_items(const cg_chunk_stream_config *, uint64_t *ids, size_t n);
int  cg_chunk_stream_config_set_max_chunks(cg_chunk_stream_config *, size_t);
size_t cg_chunk_stream_config_get_max_chunks(const cg_chunk_stream_config *);
int  cg_chunk_stream_config_set_place(cg_chunk_stream_config *, cg_place_fn, void *user);
int  cg_chunk_stream_config_set_max_heap_extra(cg_chunk_stream_config *, size_t);
size_t cg_chunk_stream_config_get_max_heap_extra(const cg_chunk_stream_config *);
int  cg_chunk_stream_config_enable_packet_presence(cg_chunk_stream_config *, size_t payload_size);
int  cg_chunk_stream_config_disable_packet_presence(cg_chunk_stream_config *);
size_t cg_chunk_stream_config_get_packet_presence_payload_size(const cg_chunk_stream_config *);
int  cg_chunk_stream_config_set_allocate(cg_chunk_stream_config *, cg_allocate_fn, void *user);
int  cg_chunk_stream_config_set_ready(cg_chunk_stream_config *, cg_ready_fn, void *user);
typedef struct cg_grid_dim {
    size_t  item;
    int64_t origin;
    int64_t step;
    int64_t count;
    int64_t stride;
} cg_grid_dim;
typedef struct cg_grid {
    cg_grid_dim        time;
    const cg_grid_dim *dims;   size_t n_dims;
    int64_t            heap_size;
    int64_t            heap_length_item;
    const size_t      *extra_items; size_t n_extra_items;
} cg_grid;
int  cg_chunk_stream_config_set_grid_place(cg_chunk_stream_config *, const cg_grid *grid);
cg_group_config *cg_group_config_new(void);
void cg_group_config_free(cg_group_config *);
int  cg_group_config_set_max_chunks(cg_group_config *, size_t);
size_t cg_group_config_get_max_chunks(const cg_group_config *);
int  cg_group_config_set_eviction_mode(cg_group_config *, int);
int  cg_group_config_get_eviction_mode(const cg_group_config *);
int  cg_group_config_set_allocate(cg_group_config *, cg_allocate_fn, void *user);
int  cg_group_config_set_ready(cg_group_config *, cg_ready_fn, void *user);
cg_ring *cg_ring_new(size_t capacity);
void cg_ring_free(cg_ring *);
int  cg_ring_push(cg_ring *, cg_chunk *);
int  cg_ring_try_push(cg_ring *, cg_chunk *);
int  cg_ring_push_timeout(cg_ring *, cg_chunk *, int64_t timeout_us);
int  cg_ring_pop(cg_ring *, cg_chunk **out);
int  cg_ring_try_pop(cg_ring *, cg_chunk **out);
int  cg_ring_pop_timeout(cg_ring *, cg_chunk **out, int64_t timeout_us);
int  cg_ring_stop(cg_ring *);
int  cg_ring_stopped(const cg_ring *);
void cg_ring_add_producer(cg_ring *);
int  cg_ring_remove_producer(cg_ring *);
size_t cg_ring_size(const cg_ring *);
size_t cg_ring_capacity(const cg_ring *);
int  cg_ring_data_fd(cg_ring *);
int  cg_ring_space_fd(cg_ring *);
cg_group  *cg_group_new(const cg_group_config *);
cg_group  *cg_ring_group_new(const cg_group_config *, cg_ring *data, cg_ring *free);
cg_stream *cg_group_emplace_back(cg_group *, const cg_stream_config *, const cg_chunk_stream_config *);
size_t     cg_group_size(const cg_group *);
cg_stream *cg_group_get(cg_group *, size_t index);
int  cg_group_add_free_chunk(cg_group *, cg_chunk *);
int  cg_group_stop(cg_group *);
size_t cg_group_take_kept(cg_group *, cg_chunk **out, size_t n);
void cg_group_free(cg_group *);
cg_stream *cg_chunk_stream_new(const cg_stream_config *, const cg_chunk_stream_config *);
cg_stream *cg_chunk_ring_stream_new(const cg_stream_config *, const cg_chunk_stream_config *, cg_ring *data, cg_ring *free);
int  cg_chunk_ring_stream_add_free_chunk(cg_stream *, cg_chunk *);
size_t cg_chunk_ring_stream_take_kept(cg_stream *, cg_chunk **out, size_t n);
void cg_stream_free(cg_stream *);
int  cg_stream_add_buffer_reader(cg_stream *, const uint8_t *buf, size_t len);
int  cg_stream_add_buffer_reader_nocopy(cg_stream *, const uint8_t *buf, size_t len,
                                        cg_release_fn release, void *user);
int  cg_stream_add_udp_reader(cg_stream *, const char *bind_host, uint16_t port, size_t max_size, size_t buffer_size);
int  cg_stream_add_udp_multicast_reader(cg_stream *, const char *group, uint16_t port, const char *interface_address, size_t max_size, size_t buffer_size);
int  cg_stream_add_udp_socket_reader(cg_stream *, int fd, size_t max_size);
int  cg_stream_add_tcp_reader(cg_stream *, const char *bind_host, uint16_t port, size_t max_size, size_t buffer_size);
int  cg_stream_add_tcp_acceptor_reader(cg_stream *, int listen_fd, size_t max_size);
int  cg_stream_add_pcap_file_reader(cg_stream *, const char *path, const char *filter);
int  cg_stream_set_udp_gro(cg_stream *, int enable);
int  cg_stream_set_affinity(cg_stream *, const int *cpus, size_t n);
int  cg_stream_last_reader_port(cg_stream *);
int  cg_stream_start(cg_stream *);
int  cg_stream_stop(cg_stream *);
size_t cg_stream_stat_count(const cg_stream *);
const char *cg_stream_stat_name(const cg_stream *, size_t index);
int  cg_stream_stat_mode(const cg_stream *, size_t index);
int  cg_stream_stats(const cg_stream *, uint64_t *values, size_t n);
const char *cg_stream_error(cg_stream *);
typedef struct cg_item {
    uint64_t id;
    uint64_t value;
} cg_item;
typedef struct cg_sender_config {
    int         addr_bits;
    size_t      max_packet_size;
    size_t      packet_payload;
    int         repeat_pointers;
    double      rate;
    const char *interface_address;
    int         ttl;
    size_t      buffer_size;
} cg_sender_config;
int cg_encode_heap(const cg_sender_config *, uint64_t cnt, const cg_item *items, size_t n_items,
                   const uint8_t *payload, size_t payload_len,
                   uint8_t *out, size_t out_cap, size_t *out_len);
int cg_encode_stop(const cg_sender_config *, uint64_t cnt, uint8_t *out, size_t out_cap, size_t *out_len);
cg_sender *cg_udp_sender_new(const cg_sender_config *, const char *const *dests, size_t n);
cg_sender *cg_tcp_sender_new(const cg_sender_config *, const char *dest);
int  cg_sender_send_heap(cg_sender *, uint64_t cnt, const cg_item *items, size_t n_items,
                         const uint8_t *payload, size_t payload_len, int dest);
int  cg_sender_send_stop(cg_sender *, int dest);
int  cg_sender_flush(cg_sender *);
void cg_sender_free(cg_sender *);
"""

ffi = cffi.FFI()
ffi.cdef(CDEF)

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


def _load() -> Any:
    errors = []
    for path in _candidate_paths():
        if not os.path.exists(path):
            errors.append(f"{path}: not found")
            continue
        try:
            return ffi.dlopen(path), path
        except OSError as exc:  # pragma: no cover - broken library
            errors.append(f"{path}: {exc}")
    raise ImportError(
        "chunkgroup: cannot load libchunkgroup.so; build it with `make lib` or "
        "install the wheel, or set CHUNKGROUP_LIB. Tried:\n  " + "\n  ".join(errors)
    )


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


def addr(cdata: Any) -> int:
    """Integer address of a cdata pointer."""
    return int(ffi.cast("uintptr_t", cdata))


# ---------------------------------------------------------------- registry
#
# Every chunk that native code may hold (in a ring, in a group's window,
# kept aside after a stop) is referenced from here, keyed by the address of
# its cg_chunk, so its buffers cannot be freed while Go could write to them,
# and so that a cg_chunk* popped from a ring maps back to the very same
# Python object.  The count covers a chunk pushed more than once.

_registry: Dict[int, List[Any]] = {}
_registry_lock = threading.Lock()


def register(chunk: Any) -> int:
    """Record that native code now holds ``chunk``; returns its address."""
    key = addr(chunk._c)
    with _registry_lock:
        entry = _registry.get(key)
        if entry is None:
            _registry[key] = [chunk, 1]
        else:
            entry[1] += 1
    return key


def unregister_addr(key: int) -> Any:
    """Native code gave back the chunk at ``key``; return the Python chunk."""
    with _registry_lock:
        entry = _registry.get(key)
        if entry is None:
            return None
        entry[1] -= 1
        if entry[1] <= 0:
            del _registry[key]
        return entry[0]


def is_registered(chunk: Any) -> bool:
    """True while native code may hold ``chunk``."""
    return addr(chunk._c) in _registry


def registry_size() -> int:
    """Number of distinct chunks native code may hold (for tests)."""
    return len(_registry)


def drain_ring(ring_ptr: Any) -> None:
    """Take back every chunk left in a ring (before freeing it)."""
    out = ffi.new("cg_chunk **")
    while lib.cg_ring_try_pop(ring_ptr, out) == lib.CG_OK:
        unregister_addr(addr(out[0]))


def take_kept(fn: Callable[[Any, Any, int], int], handle: Any) -> None:
    """Take back the chunks a stopped group/stream kept aside."""
    n = 64
    out = ffi.new("cg_chunk *[]", n)
    while True:
        got = fn(handle, out, n)
        if got == 0:
            break
        for i in range(got):
            unregister_addr(addr(out[i]))


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
        _logger.log(_LEVELS.get(level, logging.WARNING), "%s", text)
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
