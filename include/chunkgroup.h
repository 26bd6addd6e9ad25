/*
 * chunkgroup.h - C ABI of libchunkgroup, a SPEAD receiver that assembles
 * heaps straight into caller-owned chunks, and scales across cores with
 * chunk stream groups.
 *
 * Build: link with -lchunkgroup (pkg-config --cflags --libs chunkgroup).
 *
 * Conventions
 * - Every name starts with cg_ / CG_. Objects are opaque handles; a handle
 *   is unique for the life of the process and is never reused, so a call on
 *   a freed handle is detected and fails (see "Bad handles"), never crashes.
 * - Functions that can fail return an int status: CG_OK (0) or a positive
 *   CG_E* code. Constructors return NULL on failure. A few functions return
 *   a tri-state int (1, 0, or -CG_E* on failure); each says so.
 * - Every function except cg_last_*() and cg_version*() first clears the
 *   calling thread's last error; a failing call then sets it. So right
 *   after any call, cg_last_status() is CG_OK if and only if that call
 *   succeeded, with cg_last_error() the message and cg_last_errno() the
 *   errno of a failed system call. This is the way to check functions
 *   whose every return value is valid (the size_t getters) or that return
 *   void.
 * - Bad handles: NULL, freed, or of the wrong type. Status functions return
 *   CG_ESTATE, constructors and pointer getters NULL, size_t / uint64_t
 *   getters 0, tri-state functions -CG_ESTATE, fd getters -1, free
 *   functions do nothing; cg_last_status() is CG_ESTATE in every case.
 * - No function aborts the process on bad input.
 * - Ownership: memory you pass in (chunks, buffers, strings, arrays) stays
 *   yours; each call says how long the library keeps a pointer (most copy
 *   what they need before returning). Strings the library returns belong
 *   to it and stay valid until the point each function names.
 * - Threads: every function may be called from any thread, at any time,
 *   including concurrently on the same object, except where a function
 *   says otherwise. Calls on different objects never block each other,
 *   except as documented (a group and its members are one object).
 *
 * Chunks
 *
 * A cg_chunk and the memory it points to are yours, but from the moment
 * you hand one to the library (an allocate callback returns it, a ring
 * push, cg_group_add_free_chunk) until the library hands it back (a
 * ready callback, a ring pop, cg_group_take_kept, a release callback),
 * you must neither free it nor touch its memory: the library may be
 * writing it from another thread. Every chunk handed in comes back
 * exactly once: through ready or the data ring while the group runs;
 * cg_group_take_kept after a ring group's stop; and, for a chunk still
 * held when a group, stream or ring is freed, through the release
 * function you set (cg_group_config_set_release,
 * cg_chunk_stream_config_set_release, cg_ring_set_release). Without a
 * release function such chunks are dropped by the library with a
 * warning in the log; their memory stays yours to free.
 *
 * Callbacks
 * - place runs on a member stream's receive thread, concurrently with the
 *   place calls of other members (one member's calls are sequential).
 * - allocate and ready run on a member's receive thread, and ready also
 *   on YOUR thread, before the call returns, inside cg_group_stop,
 *   cg_group_free, cg_stream_stop and cg_stream_free (the chunks still in
 *   the window are readied there). Do not hold a lock that ready takes
 *   while you call those functions. For one group, ready calls never
 *   overlap each other and come in increasing chunk ID order; allocate
 *   calls never overlap each other and ask for increasing IDs; an allocate
 *   and a ready may run at the same time on different threads.
 * - release (chunk hand-back) runs on the thread that frees the object,
 *   before the free function returns.
 * - log may run on any thread, concurrently, including yours inside any
 *   call. cg_set_log_callback returns only once no call of the previous
 *   callback is running (except the call it is made from, if any), so its
 *   user data may be freed after it returns.
 * - Pointers a callback receives (packet, items, statistics, extra
 *   scratch) point outside the Go heap and are valid only during the call.
 *   Callbacks must not call into the group or stream that called them
 *   (cg_ring_* on other objects, cg_last_* and logging are fine), and must
 *   return: a callback that blocks forever blocks its stream.
 *
 * The Go runtime in your process
 *
 * The library is Go code built with -buildmode=c-shared. Loading it
 * starts a Go runtime with threads of its own. What that means for the
 * program that loads it:
 * - fork(): after fork() the child has only the forking thread and none of
 *   the runtime's; calling any cg_ function but cg_version* in the child
 *   hangs or crashes. Fork only to exec (posix_spawn
 *   is better); with Python multiprocessing use the "spawn" or
 *   "forkserver" start method.
 * - Signals: no cg_ function is async-signal-safe. A SIGINT handler must
 *   not call cg_ring_stop or cg_group_stop; have it set a volatile
 *   sig_atomic_t flag or write a byte to a pipe (or eventfd) that your
 *   loop polls next to cg_ring_data_fd(), or block the signal in every
 *   thread and take it with sigwait() in a thread of yours, then call
 *   cg_group_stop from normal code. The runtime installs handlers for the
 *   synchronous signals (SIGSEGV, SIGBUS, SIGFPE), for SIGPIPE and for
 *   SIGURG (goroutine preemption), and forwards signals it does not own to
 *   handlers installed before it. Handlers you install must use
 *   SA_ONSTACK (and should chain to the previous handler for the signals
 *   above), or a signal arriving on a Go thread crashes the process.
 * - EINTR: the runtime preempts goroutines with SIGURG sent to its own
 *   threads, and a thread of yours that is inside a library call (or a
 *   callback) at that moment can receive it too. Its handlers use
 *   SA_RESTART, but poll, epoll_wait, select, nanosleep and other calls the
 *   kernel never restarts return EINTR: retry them.
 * - Unloading: the runtime cannot be stopped, so the library must never be
 *   unloaded; dlclose() of it is a no-op at best (load it with
 *   RTLD_NODELETE if you dlopen it).
 * - Processors: the runtime uses two processors more than the machine has
 *   CPUs while there are no more streams than CPUs, one more otherwise
 *   (unless GOMAXPROCS is set in the environment, which is never
 *   overridden): your threads' calls find a free Go processor while member
 *   streams keep every CPU busy, and one stays idle so that the runtime
 *   does not take back the one your thread left. At most once every 5 ms
 *   per thread, a call also passes briefly through the Go scheduler (a
 *   few microseconds), so the runtime's monitor finds no processor held
 *   for 10 ms to take back and stays asleep. Wait for ring data with
 *   poll/epoll on cg_ring_data_fd() and cg_ring_try_pop() rather than
 *   sleeping inside a blocking call when you can: a thread of yours asleep
 *   inside the library costs two thread hand-offs per wake-up
 *   (docs/tuning.md). CHUNKGROUP_TRACE=FILE (and CHUNKGROUP_TRACE_SECONDS)
 *   writes a Go execution trace from the first reader on.
 * - Memory checkers: valgrind's memcheck reports thousands of false
 *   errors inside the Go runtime of a normal build. `make lib-valgrind`
 *   builds a valgrind-aware library (build/valgrind/libchunkgroup.so);
 *   run your program with it on LD_LIBRARY_PATH, GODEBUG=asyncpreemptoff=1
 *   in the environment and the suppression file `make install` puts in
 *   PREFIX/share/chunkgroup/valgrind.supp (docs/valgrind.md).
 */
#ifndef CHUNKGROUP_H
#define CHUNKGROUP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CG_VERSION_MAJOR 0
#define CG_VERSION_MINOR 2
#define CG_VERSION_PATCH 0
/* MAJOR * 1000000 + MINOR * 1000 + PATCH, as cg_version_number() returns it. */
#define CG_VERSION_NUMBER (CG_VERSION_MAJOR * 1000000 + CG_VERSION_MINOR * 1000 + CG_VERSION_PATCH)
/* Bumped on any incompatible change of this header; the library's soname is
 * libchunkgroup.so.CG_ABI_VERSION. 2: a third safety statistic
 * (CG_STAT_FAR_JUMP_HEAPS), so custom statistics start at index 14.
 * 3: cg_sender_config and cg_grid start with a size field, so they can
 * grow without another bump; CG_STAT_NO_CHUNK_HEAPS, so custom statistics
 * start at index 15. */
#define CG_ABI_VERSION 3

/* Status codes. */
#define CG_OK        0
#define CG_EINVAL    1  /* invalid argument or configuration value */
#define CG_ESTATE    2  /* call not valid in the object's state, or a bad handle */
#define CG_EIO       3  /* socket or file failure: see cg_last_errno() */
#define CG_ESTOPPED  4  /* the ring or stream has stopped */
#define CG_EEMPTY    5  /* ring empty (non-blocking pop) */
#define CG_EFULL     6  /* ring full (non-blocking push), or output buffer too small */
#define CG_ENOMEM    7  /* out of memory (or of handles) */
#define CG_ETIMEDOUT 8  /* a timed wait expired (cg_ring_*_timeout) */

/* Statistic modes. */
#define CG_STAT_COUNTER 0
#define CG_STAT_MAXIMUM 1

/* How payload is copied into chunks (cg_stream_config_set_memcpy). */
#define CG_MEMCPY_STD         0  /* ordinary stores, through the cache */
#define CG_MEMCPY_NONTEMPORAL 1  /* streaming stores past the cache (default) */

/* Group eviction modes. */
#define CG_EVICT_LOSSY    0
#define CG_EVICT_LOSSLESS 1

/* Log levels. */
#define CG_LOG_DEBUG   0
#define CG_LOG_INFO    1
#define CG_LOG_WARNING 2
#define CG_LOG_ERROR   3

/* Special item IDs and the stream-stop control value. */
#define CG_HEAP_CNT_ID       1
#define CG_HEAP_LENGTH_ID    2
#define CG_PAYLOAD_OFFSET_ID 3
#define CG_PAYLOAD_LENGTH_ID 4
#define CG_DESCRIPTOR_ID     5
#define CG_STREAM_CTRL_ID    6
#define CG_CTRL_STREAM_STOP  2

/* Indices of the standard statistics in cg_stream_stats(). Custom
 * statistics follow from CG_NUM_STANDARD_STATS. */
#define CG_STAT_PACKETS                  0
#define CG_STAT_BATCHES                  1
#define CG_STAT_MAX_BATCH                2
#define CG_STAT_HEAPS                    3
#define CG_STAT_INCOMPLETE_HEAPS_EVICTED 4
#define CG_STAT_INCOMPLETE_HEAPS_FLUSHED 5
#define CG_STAT_SINGLE_PACKET_HEAPS      6
#define CG_STAT_SEARCH_DIST              7
#define CG_STAT_WORKER_BLOCKED           8
#define CG_STAT_TOO_OLD_HEAPS            9
#define CG_STAT_REJECTED_HEAPS           10
#define CG_STAT_BAD_PLACEMENT_HEAPS      11
#define CG_STAT_MALFORMED_PACKETS        12
#define CG_STAT_FAR_JUMP_HEAPS           13
/* Heaps dropped because their chunk had no memory: allocate returned NULL,
 * or a LOSSY ring group's free ring stayed empty (the consumer stopped
 * returning chunks) for more than a second. */
#define CG_STAT_NO_CHUNK_HEAPS           14
#define CG_NUM_STANDARD_STATS            15

/* ------------------------------------------------------------------ */
/* Types                                                               */

/* A chunk: caller-owned memory that receives the payloads of many heaps
 * (see "Chunks" above for when you may touch it). The library writes
 * chunk_id and stream_id when it allocates the chunk, payload bytes into
 * data, 1s into present, and extra bytes into extra; it never reads or
 * writes user. Every write is bounds-checked against the sizes, so a
 * placement outside them is dropped and counted, not written. The layout
 * is fixed for good (spead2's chunk fields). */
typedef struct cg_chunk {
    int64_t   chunk_id;
    uintptr_t stream_id;
    uint8_t  *present;  size_t present_size;
    uint8_t  *data;     size_t data_size;
    uint8_t  *extra;    size_t extra_size;
    void     *user;
} cg_chunk;

/* Field for field the layout of spead2::recv::chunk_place_data, so place
 * functions written for spead2 (C, C++, numba cfunc) work unchanged; fixed
 * for good. The place function reads packet/items, and sets chunk_id (-1
 * rejects the heap), heap_index, heap_offset and optionally
 * extra_offset/extra_size after writing up to max_heap_extra bytes to
 * extra. */
typedef struct cg_place_data {
    const uint8_t *packet;   size_t packet_size;
    int64_t       *items;        /* values of requested items, -1 if absent */
    int64_t        chunk_id;     /* out, -1 = discard */
    size_t         heap_index;   /* out */
    size_t         heap_offset;  /* out */
    uint64_t      *batch_stats;  /* per-batch statistics, by index */
    uint8_t       *extra;        /* scratch, max_heap_extra bytes */
    size_t         extra_offset; /* out */
    size_t         extra_size;   /* out */
} cg_place_data;

/* Called for each heap's first packet (see cg_chunk_stream_config_set_place). */
typedef void      (*cg_place_fn)(cg_place_data *data, size_t data_size, void *user);
/* Returns the chunk for chunk_id, or NULL (heaps for that chunk are dropped). */
typedef cg_chunk *(*cg_allocate_fn)(int64_t chunk_id, uint64_t *batch_stats, void *user);
/* Receives a chunk no stream will write again; it is yours from now on. */
typedef void      (*cg_ready_fn)(cg_chunk *chunk, uint64_t *batch_stats, void *user);
/* Receives a chunk the library still held when an object was freed. */
typedef void      (*cg_chunk_release_fn)(cg_chunk *chunk, void *user);
/* A log message (terminated; valid during the call). */
typedef void      (*cg_log_fn)(int level, const char *message, void *user);
/* Releases a buffer the library no longer reads (cg_stream_add_buffer_reader_nocopy). */
typedef void      (*cg_release_fn)(void *user);

typedef struct cg_stream_config       cg_stream_config;
typedef struct cg_chunk_stream_config cg_chunk_stream_config;
typedef struct cg_group_config        cg_group_config;
typedef struct cg_ring                cg_ring;
typedef struct cg_group               cg_group;
typedef struct cg_stream              cg_stream;
typedef struct cg_sender              cg_sender;

/* ------------------------------------------------------------------ */
/* Library                                                             */

/* "MAJOR.MINOR.PATCH" of the loaded library; static storage. */
const char *cg_version(void);
/* CG_VERSION_NUMBER of the loaded library (compare with the header's to
 * detect a program built against another version). */
int cg_version_number(void);
/* CG_ABI_VERSION of the loaded library. */
int cg_abi_version(void);
/* Message of the calling thread's most recent failed call ("" if it
 * succeeded); valid until this thread's next cg_ call. */
const char *cg_last_error(void);
/* errno of the most recent call on this thread if a socket or file call
 * failed in it, else 0. */
int cg_last_errno(void);
/* CG_E* status of the most recent call on this thread (CG_OK if it
 * succeeded): for constructors, which return NULL, this says why, and for
 * getters and void functions it is the only failure report. */
int cg_last_status(void);
/* Routes log messages (socket buffer smaller than asked, reader failures,
 * chunks dropped at shutdown) to fn at every level, with user passed
 * through. NULL restores the default: warnings and errors to stderr. fn
 * may run on any thread, concurrently. Returns once no call of the
 * previous callback is running on another thread; called from inside the
 * callback, it does not wait for that call. */
void cg_set_log_callback(cg_log_fn fn, void *user);

/* ------------------------------------------------------------------ */
/* Stream configuration (heap assembly). Defaults as spead2: max_heaps 4,
 * substreams 1, stop_on_stop_item 1, allow_out_of_order 0, stream_id 0,
 * explicit_start 0. Setters return CG_OK, CG_EINVAL for invalid values (0
 * heaps, 0 substreams) or CG_ESTATE for a bad handle. Getters return the
 * value, 0 for a bad handle. A configuration is copied when a stream is
 * made from it, and may be freed or reused at once after. */
cg_stream_config *cg_stream_config_new(void);       /* NULL: CG_ENOMEM */
void cg_stream_config_free(cg_stream_config *config);
int  cg_stream_config_set_max_heaps(cg_stream_config *config, size_t max_heaps);
int  cg_stream_config_set_substreams(cg_stream_config *config, size_t substreams);
int  cg_stream_config_set_stop_on_stop_item(cg_stream_config *config, int enable);
int  cg_stream_config_set_allow_out_of_order(cg_stream_config *config, int enable);
int  cg_stream_config_set_stream_id(cg_stream_config *config, uintptr_t stream_id);
int  cg_stream_config_set_explicit_start(cg_stream_config *config, int enable);
/* CG_MEMCPY_NONTEMPORAL (the default) writes payload into chunks with
 * streaming stores that skip the cache: chunk memory is handed to a
 * consumer, not read back by the receiving core, so this saves reading
 * every destination line first (1.1-1.7x faster copies when chunks are
 * larger than the cache). CG_MEMCPY_STD for chunks that stay in cache.
 * spead2's default is the ordinary copy. */
int  cg_stream_config_set_memcpy(cg_stream_config *config, int mode);
size_t    cg_stream_config_get_max_heaps(const cg_stream_config *config);
size_t    cg_stream_config_get_substreams(const cg_stream_config *config);
int       cg_stream_config_get_stop_on_stop_item(const cg_stream_config *config);
int       cg_stream_config_get_allow_out_of_order(const cg_stream_config *config);
uintptr_t cg_stream_config_get_stream_id(const cg_stream_config *config);
int       cg_stream_config_get_explicit_start(const cg_stream_config *config);
int       cg_stream_config_get_memcpy(const cg_stream_config *config);
/* Adds a custom statistic (name copied; mode CG_STAT_COUNTER or
 * CG_STAT_MAXIMUM); *index receives its index in the statistics array (the
 * index a place function increments in batch_stats); index may be NULL. A
 * duplicate name is CG_EINVAL. */
int  cg_stream_config_add_stat(cg_stream_config *config, const char *name, int mode, size_t *index);
/* Number of statistics (standard + custom); 0 for a bad handle. */
size_t      cg_stream_config_stat_count(const cg_stream_config *config);
/* Name of statistic index, valid until the configuration is freed; NULL
 * (CG_EINVAL) out of range, NULL for a bad handle. */
const char *cg_stream_config_stat_name(const cg_stream_config *config, size_t index);
/* CG_STAT_COUNTER or CG_STAT_MAXIMUM; negative on failure: -CG_EINVAL out
 * of range, -CG_ESTATE for a bad handle (cg_last_status() has the
 * positive code). */
int         cg_stream_config_stat_mode(const cg_stream_config *config, size_t index);
/* Index of the named statistic in *index; CG_EINVAL if there is none. */
int  cg_stream_config_get_stat_index(const cg_stream_config *config, const char *name, size_t *index);

/* ------------------------------------------------------------------ */
/* Chunk stream configuration (placement). Defaults: no items, max_chunks 2,
 * no place function, max_heap_extra 0, no packet presence. Setters and
 * getters as for stream configurations (CG_ESTATE / 0 for a bad handle);
 * copied when a stream is made from it. */
cg_chunk_stream_config *cg_chunk_stream_config_new(void);  /* NULL: CG_ENOMEM */
void cg_chunk_stream_config_free(cg_chunk_stream_config *config);
/* The item IDs whose values the place function receives, in this order
 * (ids copied; n may be 0). */
int  cg_chunk_stream_config_set_items(cg_chunk_stream_config *config, const uint64_t *ids, size_t n);
/* Copies up to n item IDs to ids; returns the number of items (0 for a
 * bad handle). */
size_t cg_chunk_stream_config_get_items(const cg_chunk_stream_config *config, uint64_t *ids, size_t n);
int  cg_chunk_stream_config_set_max_chunks(cg_chunk_stream_config *config, size_t max_chunks);
size_t cg_chunk_stream_config_get_max_chunks(const cg_chunk_stream_config *config);
/* fn is called once for every heap, with its first packet, on the stream's
 * receive thread; user is passed through and must stay valid while a
 * stream made from this configuration exists. Replaces a grid placement.
 * The library places the heaps of each slice of up to 64 received packets
 * in one go, before processing the slice (calls into C cost more than most
 * place functions): fn must compute from the packet and items alone, as
 * spead2's place functions do, not from what it saw of earlier heaps. */
int  cg_chunk_stream_config_set_place(cg_chunk_stream_config *config, cg_place_fn fn, void *user);
int  cg_chunk_stream_config_set_max_heap_extra(cg_chunk_stream_config *config, size_t max_heap_extra);
size_t cg_chunk_stream_config_get_max_heap_extra(const cg_chunk_stream_config *config);
int  cg_chunk_stream_config_enable_packet_presence(cg_chunk_stream_config *config, size_t payload_size);
int  cg_chunk_stream_config_disable_packet_presence(cg_chunk_stream_config *config);
/* 0 when packet presence is disabled (or for a bad handle). */
size_t cg_chunk_stream_config_get_packet_presence_payload_size(const cg_chunk_stream_config *config);
/* Guard against a stray packet from far in the future (a corrupted or
 * hostile timestamp) dragging the window there, after which every
 * legitimate heap would be too old. With n > 0, a heap placed more than n
 * chunks past the end of the stream's window is dropped and counted in
 * CG_STAT_FAR_JUMP_HEAPS, unless 4 such heaps in a row (within n chunks of
 * each other, no heap inside the window between them) confirm the jump;
 * then the window follows. The first heap a stream places is never a jump.
 * 0, the default, follows every jump at once, as spead2 does; docs/tuning.md
 * suggests a value. CG_EINVAL above 2^62. */
int  cg_chunk_stream_config_set_max_jump_chunks(cg_chunk_stream_config *config, uint64_t n);
uint64_t cg_chunk_stream_config_get_max_jump_chunks(const cg_chunk_stream_config *config);
/* Standalone streams only (cg_chunk_stream_new); a group uses its own.
 * Threads as in "Callbacks" above; user must outlive the stream. */
int  cg_chunk_stream_config_set_allocate(cg_chunk_stream_config *config, cg_allocate_fn fn, void *user);
int  cg_chunk_stream_config_set_ready(cg_chunk_stream_config *config, cg_ready_fn fn, void *user);
/* Standalone ring streams (cg_chunk_ring_stream_new): fn receives, inside
 * cg_stream_free and on its thread, each chunk kept aside at stop that
 * cg_chunk_ring_stream_take_kept did not take. */
int  cg_chunk_stream_config_set_release(cg_chunk_stream_config *config, cg_chunk_release_fn fn, void *user);

/* Built-in grid placement, computed inside the library (no callback per
 * heap). With v(i) the value of requested item number i (an index into
 * the items set with cg_chunk_stream_config_set_items):
 *   t        = (v(time.item) - time.origin) / time.step
 *   chunk_id = t / time.count
 *   index    = (t % time.count) * time.stride
 *            + sum over dims d of ((v(d.item) - d.origin) / d.step) * d.stride
 *   offset   = index * heap_size
 * A heap is rejected when an item is absent, a value is below its origin,
 * a dimension position is >= its count, or (heap_length_item >= 0) the
 * heap length item differs from heap_size. With n_extra_items > 0, the
 * values of those items are stored as little-endian int64s at extra offset
 * index * 8 * n_extra_items (set max_heap_extra to 8 * n_extra_items). */
typedef struct cg_grid_dim {
    size_t  item;
    int64_t origin;
    int64_t step;    /* >= 1 */
    int64_t count;   /* >= 1 */
    int64_t stride;  /* >= 0 */
} cg_grid_dim;

/* Growable: start from CG_GRID_INIT (or set size = sizeof(cg_grid); 0 is
 * accepted and means this layout). Fields added by later versions go at
 * the end, default to zero, and a library older than your header accepts
 * the struct as long as those newer fields are zero. */
typedef struct cg_grid {
    size_t             size;              /* sizeof(cg_grid), or 0 */
    cg_grid_dim        time;
    const cg_grid_dim *dims;   size_t n_dims;
    int64_t            heap_size;
    int64_t            heap_length_item;  /* index into items, or -1 */
    const size_t      *extra_items; size_t n_extra_items;
} cg_grid;
#define CG_GRID_INIT { .size = sizeof(cg_grid) }

/* The struct and its arrays are copied; validated when a stream is made
 * (CG_EINVAL here only for a bad size field or array pointer). */
int  cg_chunk_stream_config_set_grid_place(cg_chunk_stream_config *config, const cg_grid *grid);

/* ------------------------------------------------------------------ */
/* Group configuration. Defaults: max_chunks 2, CG_EVICT_LOSSY. Setters
 * and getters as above; cg_group_config_get_eviction_mode returns
 * -CG_ESTATE for a bad handle. */
cg_group_config *cg_group_config_new(void);         /* NULL: CG_ENOMEM */
void cg_group_config_free(cg_group_config *config);
int  cg_group_config_set_max_chunks(cg_group_config *config, size_t max_chunks);
size_t cg_group_config_get_max_chunks(const cg_group_config *config);
int  cg_group_config_set_eviction_mode(cg_group_config *config, int mode);
int  cg_group_config_get_eviction_mode(const cg_group_config *config);
/* LOSSY only: before a member evicts chunks that another member still
 * receiving has not finished, it waits up to grace_us microseconds for that
 * member to move on by itself, so members sharing cores do not lose heaps
 * (too_old_heaps) to scheduling jitter. A member that takes in nothing for
 * a whole grace counts as idle until it does, and is flushed without a
 * wait. 0 (the default) means 5000 us; negative means never wait (spead2's
 * behaviour). CG_EINVAL above an hour. The getter returns the grace in
 * effect in microseconds (-1: none; 0 for a bad handle). */
int  cg_group_config_set_lossy_grace(cg_group_config *config, int64_t grace_us);
int64_t cg_group_config_get_lossy_grace(const cg_group_config *config);
/* For cg_group_new (threads as in "Callbacks" above; user must outlive the
 * group). allocate may block (it runs without the group's lock: the other
 * members keep filling the chunks they have; it must not call into the
 * group) and may return NULL (heaps for that chunk are dropped). ready receives each chunk once no stream will write to it
 * again, in increasing chunk ID order. */
int  cg_group_config_set_allocate(cg_group_config *config, cg_allocate_fn fn, void *user);
int  cg_group_config_set_ready(cg_group_config *config, cg_ready_fn fn, void *user);
/* fn receives, inside cg_group_free and on its thread, each chunk a ring
 * group kept aside at stop that cg_group_take_kept did not take. */
int  cg_group_config_set_release(cg_group_config *config, cg_chunk_release_fn fn, void *user);

/* ------------------------------------------------------------------ */
/* Chunk ringbuffers: bounded blocking FIFOs of cg_chunk pointers. A ring
 * keeps the pointers it holds; the chunks stay yours but are not to be
 * touched while in the ring. Every blocking call returns CG_ESTOPPED when
 * another thread stops (or frees) the ring. */
/* capacity 1 .. 2^24; NULL: CG_EINVAL, CG_ENOMEM. */
cg_ring *cg_ring_new(size_t capacity);
/* Stops the ring (waking blocked callers), hands every chunk still in it
 * to the release function (cg_ring_set_release; without one they are
 * dropped with a warning), closes the fds and frees the handle. Free
 * rings after every group and stream that uses them. */
void cg_ring_free(cg_ring *ring);
/* fn receives, inside cg_ring_free and on its thread, each chunk still in
 * the ring, oldest first. */
int  cg_ring_set_release(cg_ring *ring, cg_chunk_release_fn fn, void *user);
/* Pushes: the ring keeps chunk until it is popped. CG_EINVAL for a NULL
 * chunk, CG_ESTOPPED once stopped (the chunk stays yours). */
int  cg_ring_push(cg_ring *ring, cg_chunk *chunk);             /* blocks while full */
int  cg_ring_try_push(cg_ring *ring, cg_chunk *chunk);         /* CG_EFULL when full */
int  cg_ring_push_timeout(cg_ring *ring, cg_chunk *chunk, int64_t timeout_us); /* + CG_ETIMEDOUT */
/* Pops into *out (NULL on failure); the chunk is yours again. After a
 * stop, what is left still comes out, then CG_ESTOPPED. */
int  cg_ring_pop(cg_ring *ring, cg_chunk **out);               /* blocks while empty */
int  cg_ring_try_pop(cg_ring *ring, cg_chunk **out);           /* CG_EEMPTY when empty */
int  cg_ring_pop_timeout(cg_ring *ring, cg_chunk **out, int64_t timeout_us); /* + CG_ETIMEDOUT */
/* The _timeout variants with timeout_us <= 0 do not wait (CG_ETIMEDOUT at once). */
/* 1 if this call stopped the ring, 0 if it was stopped already, -CG_ESTATE
 * for a bad handle. */
int  cg_ring_stop(cg_ring *ring);
/* 1 if stopped, 0 if not; -CG_ESTATE for a bad handle (non-zero on
 * purpose: a freed ring reads as stopped, so a `while
 * (!cg_ring_stopped(r))` loop ends). */
int  cg_ring_stopped(const cg_ring *ring);
/* Registers a producer: removing the last one stops the ring. The void
 * form reports a bad handle only through cg_last_status(); the _v2 form
 * returns CG_OK, CG_ESTATE, or CG_ESTOPPED (and adds nothing) when the
 * ring has stopped. */
void cg_ring_add_producer(cg_ring *ring);
int  cg_ring_add_producer_v2(cg_ring *ring);
/* 1 if this call stopped the ring (it removed the last producer), 0 if
 * not (or no producer was registered), -CG_ESTATE for a bad handle. */
int  cg_ring_remove_producer(cg_ring *ring);
/* Chunks in the ring now, and its capacity; 0 for a bad handle. */
size_t cg_ring_size(const cg_ring *ring);
size_t cg_ring_capacity(const cg_ring *ring);
/* File descriptors for poll/epoll (owned by the ring, closed by
 * cg_ring_free; never read, write or close them): the data fd is readable
 * while data is available or the ring has stopped, the space fd while
 * space is available or the ring has stopped. -1 on failure (CG_EIO) or
 * for a bad handle. */
int  cg_ring_data_fd(cg_ring *ring);
int  cg_ring_space_fd(cg_ring *ring);

/* ------------------------------------------------------------------ */
/* Groups. A group, its member streams and (for a ring group) its two rings
 * work together; the group's functions may be called from any thread. */
/* A group with allocate/ready callbacks (both required). NULL: CG_EINVAL,
 * CG_ESTATE for a bad configuration handle. */
cg_group  *cg_group_new(const cg_group_config *config);
/* Allocates by popping free and readies by pushing data; every member is a
 * producer of data, so data stops once every member's input has ended.
 * LOSSLESS blocks on both rings, as spead2. LOSSY never blocks on a full
 * data ring (readied chunks queue behind it, in order) and waits at most a
 * second on an empty free ring; then the heaps of chunks it cannot get are
 * dropped and counted (CG_STAT_NO_CHUNK_HEAPS) while the members keep
 * reading, until a chunk comes back. The ring handles must stay valid until
 * cg_group_free returns. */
cg_group  *cg_ring_group_new(const cg_group_config *config, cg_ring *data, cg_ring *free);
/* Adds a member stream (configurations are copied). CG_EINVAL (NULL) when
 * its max_chunks exceeds the group's; CG_ESTATE (NULL) once the group has
 * received data ("cannot add a stream to a group that has received data"),
 * and only then: a reader may be added to one member before the next member
 * is added, as in spead2. Adding every member before any reader is the safe
 * order. The stream handle belongs to the group (valid until cg_group_free;
 * never cg_stream_free it). */
cg_stream *cg_group_emplace_back(cg_group *group, const cg_stream_config *config,
                                 const cg_chunk_stream_config *chunk_config);
/* Number of members; 0 for a bad handle. */
size_t     cg_group_size(const cg_group *group);
/* Member index (the same handle each time); NULL if out of range
 * (CG_EINVAL) or for a bad handle. */
cg_stream *cg_group_get(cg_group *group, size_t index);
/* Ring groups: zeroes chunk->present and pushes chunk on the free ring
 * without blocking; the library keeps the pointer until the chunk comes
 * out of the data ring or cg_group_take_kept. CG_EFULL if full (the chunk
 * stays yours), CG_ESTATE if not a ring group. When the free ring has
 * stopped, cg_group_add_free_chunk returns CG_OK without taking the chunk
 * (spead2's behaviour), and cg_group_add_free_chunk_v2 returns CG_ESTOPPED:
 * the chunk stays yours. */
int  cg_group_add_free_chunk(cg_group *group, cg_chunk *chunk);
int  cg_group_add_free_chunk_v2(cg_group *group, cg_chunk *chunk);
/* Stops every member and readies every remaining chunk (a callback group
 * calls ready on this thread). A ring group stops both rings first, so a
 * consumer that no longer services them cannot block the stop; chunks
 * readied after that are kept aside (see cg_group_take_kept). Returns
 * when no library thread will touch a chunk again. Idempotent; a second
 * caller waits for the first. */
int  cg_group_stop(cg_group *group);
/* After cg_group_stop: moves up to n kept-aside chunks to out and returns
 * how many; call until it returns 0. They are yours again. 0 for a bad
 * handle. */
size_t cg_group_take_kept(cg_group *group, cg_chunk **out, size_t n);
/* Stops first if needed (as cg_group_stop, ready on this thread), hands
 * chunks still kept aside to the release function (or drops them with a
 * warning), and frees the group and its member handles. The rings stay
 * yours. */
void cg_group_free(cg_group *group);

/* ------------------------------------------------------------------ */
/* Standalone chunk streams (a group of one, with the same behaviour). */
/* Callbacks from cg_chunk_stream_config_set_allocate / _set_ready. */
cg_stream *cg_chunk_stream_new(const cg_stream_config *config, const cg_chunk_stream_config *chunk_config);
cg_stream *cg_chunk_ring_stream_new(const cg_stream_config *config, const cg_chunk_stream_config *chunk_config,
                                    cg_ring *data, cg_ring *free);
/* As cg_group_add_free_chunk and its _v2; CG_ESTATE for a group member. */
int  cg_chunk_ring_stream_add_free_chunk(cg_stream *stream, cg_chunk *chunk);
int  cg_chunk_ring_stream_add_free_chunk_v2(cg_stream *stream, cg_chunk *chunk);
/* Standalone streams only (0 and CG_ESTATE for a member). Kept-aside
 * chunks of a ring stream, as cg_group_take_kept. */
size_t cg_chunk_ring_stream_take_kept(cg_stream *stream, cg_chunk **out, size_t n);
/* Standalone streams only (CG_ESTATE and nothing done for a member); stops
 * first (ready on this thread), hands kept chunks to the release function. */
void cg_stream_free(cg_stream *stream);

/* ------------------------------------------------------------------ */
/* Readers and control (any stream). Adding a reader starts it (after
 * cg_stream_start with explicit_start). Readers of one stream share its
 * receive processing; each runs on its own thread. Reader functions
 * return CG_OK, CG_EINVAL (bad argument), CG_EIO (socket or file; errno in
 * cg_last_errno()), CG_ESTATE (bad handle, or the stream has stopped, or a
 * group member added after the group received data). */
/* Copies buf; the end of the buffer stops the stream. */
int  cg_stream_add_buffer_reader(cg_stream *stream, const uint8_t *buf, size_t len);
/* Zero-copy: buf must stay valid until release(user) is called (exactly
 * once, from any thread, possibly before this function returns on error). */
int  cg_stream_add_buffer_reader_nocopy(cg_stream *stream, const uint8_t *buf, size_t len,
                                        cg_release_fn release, void *user);
/* UDP on bind_host:port ("" or NULL: any address). max_size 0 = 9200,
 * buffer_size 0 = 8 MiB (forced past rmem_max when privileged). CG_EIO with
 * cg_last_errno() EADDRINUSE etc. Strings are copied. */
int  cg_stream_add_udp_reader(cg_stream *stream, const char *bind_host, uint16_t port,
                              size_t max_size, size_t buffer_size);
int  cg_stream_add_udp_multicast_reader(cg_stream *stream, const char *group, uint16_t port,
                                        const char *interface_address, size_t max_size, size_t buffer_size);
/* Adopts an already-bound UDP socket: the library dups fd; yours stays yours. */
int  cg_stream_add_udp_socket_reader(cg_stream *stream, int fd, size_t max_size);
/* Listens on bind_host:port, accepts one connection; end of connection
 * stops the stream. */
int  cg_stream_add_tcp_reader(cg_stream *stream, const char *bind_host, uint16_t port,
                              size_t max_size, size_t buffer_size);
/* Accepts one connection on a listening socket (dup'd; yours stays yours). */
int  cg_stream_add_tcp_acceptor_reader(cg_stream *stream, int listen_fd, size_t max_size);
/* Classic pcap of UDP packets; filter "" or "udp dst port N" / "port N". */
int  cg_stream_add_pcap_file_reader(cg_stream *stream, const char *path, const char *filter);
/* AF_XDP reader (Linux): receives the UDP datagrams of the endpoints from
 * one RX queue of one interface through an AF_XDP socket, bypassing the
 * kernel's IP stack; a steering XDP program (shared by the readers of one
 * interface, detached when the last one stops) redirects matching IPv4/UDP
 * packets and passes everything else to the kernel untouched. Mirrors
 * spead2's ibverbs reader: one reader per (interface, queue).
 *   hosts, ports, n_endpoints: destination IPv4 addresses (numeric; NULL or
 *     "" = any address, a multicast group is joined on the interface) and
 *     UDP ports; the arrays are read during the call only.
 *   interface_name: interface name or one of its IPv4 addresses.
 *   queue: RX queue. buffer_size: UMEM bytes (0 = 16 MiB). max_size:
 *     largest UDP payload (0 = 9200).
 *   zero_copy: CG_XDP_ZERO_COPY_AUTO (zero-copy where the driver allows,
 *     else copy mode), _ON (fail without it) or _OFF (copy mode).
 *   busy_poll_us: > 0 busy-polls the queue for that long per poll.
 *   mode_out (may be NULL): set to CG_XDP_MODE_ZERO_COPY and/or
 *     CG_XDP_MODE_NATIVE bits, the modes the reader got.
 * Call on a thread in the interface's network namespace (otherwise any
 * thread); nothing is kept after the call. Returns CG_ESTATE for a bad or stopped
 * stream handle, CG_EINVAL for a bad configuration, CG_EIO with
 * cg_last_errno() when the kernel refuses (EPERM: grant CAP_NET_RAW,
 * CAP_NET_ADMIN and CAP_BPF, or CAP_SYS_ADMIN; EAFNOSUPPORT: no AF_XDP;
 * the message says which). */
#define CG_XDP_ZERO_COPY_AUTO 0
#define CG_XDP_ZERO_COPY_ON   1
#define CG_XDP_ZERO_COPY_OFF  2
#define CG_XDP_MODE_ZERO_COPY 1
#define CG_XDP_MODE_NATIVE    2
int  cg_stream_add_udp_xdp_reader(cg_stream *stream, const char *const *hosts, const uint16_t *ports,
                                  size_t n_endpoints, const char *interface_name, uint32_t queue,
                                  size_t buffer_size, size_t max_size, int zero_copy, int busy_poll_us,
                                  int *mode_out);
/* Pins the receive threads of readers added later to these CPUs (copied). */
int  cg_stream_set_affinity(cg_stream *stream, const int *cpus, size_t n);
/* With enable != 0, UDP readers added later use generic receive offload
 * (UDP_GRO) where the kernel has it: the kernel hands over several
 * datagrams of one flow per receive, cutting per-packet cost (about 6x
 * fewer microseconds per 1472-byte packet on loopback with a sender using
 * segmentation offload). Silently off where the kernel refuses it. */
int  cg_stream_set_udp_gro(cg_stream *stream, int enable);
/* The local port of the most recently added UDP or TCP reader (useful with
 * port 0); 0 if none, or for a bad handle. */
int  cg_stream_last_reader_port(cg_stream *stream);
/* With explicit_start: starts the readers added so far (CG_OK if started
 * already); CG_ESTATE once stopped. */
int  cg_stream_start(cg_stream *stream);
/* Stops the stream; a group member stops its whole group (as spead2),
 * readying the remaining chunks, on this thread for callback groups. */
int  cg_stream_stop(cg_stream *stream);
/* Number of statistics; 0 for a bad handle. */
size_t cg_stream_stat_count(const cg_stream *stream);
/* Name of one, valid while the stream exists; NULL out of range (CG_EINVAL)
 * or for a bad handle. */
const char *cg_stream_stat_name(const cg_stream *stream, size_t index);
/* As cg_stream_config_stat_mode. */
int  cg_stream_stat_mode(const cg_stream *stream, size_t index);
/* Consistent snapshot of the first n statistics into values (n may be
 * less or more than the count: entries past the count are not written). A LOSSLESS member
 * stalled at the group's window publishes its batch before it waits, so a
 * stall shows in the counters. */
int  cg_stream_stats(const cg_stream *stream, uint64_t *values, size_t n);
/* Message of the error that stopped a reader of this stream, or NULL if
 * none (cg_last_status() tells a bad handle apart). Valid while the stream
 * exists. */
const char *cg_stream_error(cg_stream *stream);

/* ------------------------------------------------------------------ */
/* Sender (for tests, tools and benchmarks). */
typedef struct cg_item {
    uint64_t id;
    uint64_t value;   /* immediate value */
} cg_item;

/* Growable like cg_grid: start from CG_SENDER_CONFIG_INIT (or size =
 * sizeof(cg_sender_config); 0 is accepted and means this layout); every
 * other field's zero is its default. */
typedef struct cg_sender_config {
    size_t      size;               /* sizeof(cg_sender_config), or 0 */
    int         addr_bits;          /* 40 or 48; 0 = 48 (SPEAD-64-48) */
    size_t      max_packet_size;    /* bytes incl. headers; 0 = 1472 */
    size_t      packet_payload;     /* > 0: payload bytes per packet (overrides) */
    int         repeat_pointers;    /* items in every packet (chunk receivers need it) */
    double      rate;               /* bytes per second, 0 = unlimited */
    const char *interface_address;  /* multicast: outgoing interface, or NULL */
    int         ttl;                /* multicast TTL, 0 = default */
    size_t      buffer_size;        /* socket send buffer, 0 = default */
} cg_sender_config;
#define CG_SENDER_CONFIG_INIT { .size = sizeof(cg_sender_config) }

/* Encodes one heap (heap counter cnt, immediate items, payload) as packets
 * back to back into out. *out_len receives the size needed; CG_EFULL when
 * out_cap is smaller (call again with a larger buffer). config NULL: all
 * defaults. Pure computation: any thread, nothing kept. */
int cg_encode_heap(const cg_sender_config *config, uint64_t cnt, const cg_item *items, size_t n_items,
                   const uint8_t *payload, size_t payload_len,
                   uint8_t *out, size_t out_cap, size_t *out_len);
/* Encodes a stream-stop heap. */
int cg_encode_stop(const cg_sender_config *config, uint64_t cnt, uint8_t *out, size_t out_cap, size_t *out_len);
/* UDP to n destinations "host:port" (unicast or multicast; strings copied). */
cg_sender *cg_udp_sender_new(const cg_sender_config *config, const char *const *dests, size_t n);
/* TCP to one destination "host:port" (connects now). */
cg_sender *cg_tcp_sender_new(const cg_sender_config *config, const char *dest);
/* Sends a heap to destination dest, or to cnt % n when dest < 0. Calls on
 * one sender from several threads are safe and take turns (serialised). */
int  cg_sender_send_heap(cg_sender *sender, uint64_t cnt, const cg_item *items, size_t n_items,
                         const uint8_t *payload, size_t payload_len, int dest);
/* Sends a stream-stop heap to dest, or to every destination when dest < 0. */
int  cg_sender_send_stop(cg_sender *sender, int dest);
int  cg_sender_flush(cg_sender *sender);
void cg_sender_free(cg_sender *sender);                /* flushes, closes */

#ifdef __cplusplus
}
#endif
#endif /* CHUNKGROUP_H */
