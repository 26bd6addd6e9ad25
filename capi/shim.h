/* Private glue between the Go exports and C: trampolines that call the
 * user's C function pointers (Go cannot call a C function pointer
 * directly), and the thread-local error state. Not installed.
 *
 * The public header is deliberately not included here: cgo copies the
 * preamble of every file with //export into _cgo_export.c next to its own
 * prototypes, which use void* for handles and so would clash with the
 * const-qualified, typed prototypes of chunkgroup.h. The ABI is the same. */
#ifndef CG_CAPI_SHIM_H
#define CG_CAPI_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Internal: not exported from the shared library. */
#define CGSHIM_HIDDEN __attribute__((visibility("hidden")))

struct cg_place_data;
struct cg_chunk;

typedef void (*cgshim_place_fn)(struct cg_place_data *, size_t, void *);
typedef struct cg_chunk *(*cgshim_allocate_fn)(int64_t, uint64_t *, void *);
typedef void (*cgshim_ready_fn)(struct cg_chunk *, uint64_t *, void *);
typedef void (*cgshim_log_fn)(int, const char *, void *);
typedef void (*cgshim_release_fn)(void *);

/* Integer arguments: cgo checks every pointer argument of a call for Go
 * pointers (GODEBUG=cgocheck=1, the default), which costs more than the
 * call itself on the per-heap path. These are all C or off-heap addresses. */
static inline void cgshim_place(uintptr_t fn, uintptr_t pd, size_t size, uintptr_t user) {
    ((cgshim_place_fn)fn)((struct cg_place_data *)pd, size, (void *)user);
}
/* The place function over n consecutive cg_place_data: one cgo call for a
 * slice of packets instead of one per heap (recv.BatchPlacer). */
static inline void cgshim_place_batch(uintptr_t fn, uintptr_t first, size_t n, size_t size, uintptr_t user) {
    for (size_t i = 0; i < n; i++)
        ((cgshim_place_fn)fn)((struct cg_place_data *)(first + i * size), size, (void *)user);
}
static inline void *cgshim_allocate(void *fn, int64_t chunk_id, void *batch_stats, void *user) {
    return ((cgshim_allocate_fn)fn)(chunk_id, (uint64_t *)batch_stats, user);
}
static inline void cgshim_ready(void *fn, void *chunk, void *batch_stats, void *user) {
    ((cgshim_ready_fn)fn)((struct cg_chunk *)chunk, (uint64_t *)batch_stats, user);
}
/* Log calls this thread is inside now: cg_set_log_callback from inside the
 * log callback must not wait for the call it is made from. */
CGSHIM_HIDDEN extern __thread int cgshim_log_depth;
static inline void cgshim_log(void *fn, int level, const char *msg, void *user) {
    cgshim_log_depth++;
    ((cgshim_log_fn)fn)(level, msg, user);
    cgshim_log_depth--;
}
static inline int cgshim_get_log_depth(void) { return cgshim_log_depth; }
typedef void (*cgshim_chunk_release_fn)(struct cg_chunk *, void *);
static inline void cgshim_chunk_release(void *fn, void *chunk, void *user) {
    ((cgshim_chunk_release_fn)fn)((struct cg_chunk *)chunk, user);
}
static inline void cgshim_release(void *fn, void *user) {
    ((cgshim_release_fn)fn)(user);
}


/* Records the calling thread's last error (msg need not be terminated),
 * its errno and its CG_E* status. */
CGSHIM_HIDDEN void cgshim_set_error(const char *msg, size_t len, int errnum, int status);
/* Clears it: every export starts with this, so cg_last_* describe the most
 * recent call on the thread, never an older failure. */
CGSHIM_HIDDEN void cgshim_clear_error(void);
/* cgshim_clear_error, then 1 if the calling thread last passed through the
 * Go scheduler CGSHIM_SCHED_EVERY_NS or more ago (it is then counted as
 * having passed now), else 0. */
#define CGSHIM_SCHED_EVERY_NS 5000000LL
CGSHIM_HIDDEN int cgshim_enter(void);

/* Layout of the ABI structs as the C compiler sees them (see layout.go). */
CGSHIM_HIDDEN size_t cgshim_layout_count(void);
CGSHIM_HIDDEN size_t cgshim_layout(size_t i);

#endif
