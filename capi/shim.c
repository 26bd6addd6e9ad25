/* C side of the C ABI: the thread-local last error and the few functions
 * that need no Go (version, last error), plus the struct layout table that
 * the Go tests compare against the Go mirror types. */
#include <string.h>
#include <time.h>
#include "chunkgroup.h"
#include "shim.h"

#define CG_STR2(x) #x
#define CG_STR(x) CG_STR2(x)

/* One buffer per thread: a cgo export runs on the calling C thread, so the
 * export sets the error of the thread that made the failing call. */
static __thread char cg_err_msg[1024];
static __thread int cg_err_errno;
static __thread int cg_err_status;

void cgshim_set_error(const char *msg, size_t len, int errnum, int status) {
    if (len >= sizeof cg_err_msg)
        len = sizeof cg_err_msg - 1;
    if (len > 0)
        memcpy(cg_err_msg, msg, len);
    cg_err_msg[len] = '\0';
    cg_err_errno = errnum;
    cg_err_status = status;
}

CGSHIM_HIDDEN __thread int cgshim_log_depth;

void cgshim_clear_error(void) {
    cg_err_msg[0] = '\0';
    cg_err_errno = 0;
    cg_err_status = 0;
}

/* When this thread last passed through the Go scheduler (see errors.go,
 * clearErr), CLOCK_MONOTONIC nanoseconds; 0 before its first call. */
static __thread long long cg_last_sched_ns;

int cgshim_enter(void) {
    cgshim_clear_error();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    if (now - cg_last_sched_ns < CGSHIM_SCHED_EVERY_NS)
        return 0;
    cg_last_sched_ns = now;
    return 1;
}

const char *cg_version(void) {
    return CG_STR(CG_VERSION_MAJOR) "." CG_STR(CG_VERSION_MINOR) "." CG_STR(CG_VERSION_PATCH);
}

int cg_version_number(void) { return CG_VERSION_NUMBER; }

int cg_abi_version(void) { return CG_ABI_VERSION; }

const char *cg_last_error(void) { return cg_err_msg; }

int cg_last_errno(void) { return cg_err_errno; }

int cg_last_status(void) { return cg_err_status; }

/* Order must match goLayout in layout.go. */
static const size_t cg_layout_table[] = {
    sizeof(cg_chunk),
    offsetof(cg_chunk, chunk_id), offsetof(cg_chunk, stream_id),
    offsetof(cg_chunk, present), offsetof(cg_chunk, present_size),
    offsetof(cg_chunk, data), offsetof(cg_chunk, data_size),
    offsetof(cg_chunk, extra), offsetof(cg_chunk, extra_size),
    offsetof(cg_chunk, user),
    sizeof(cg_place_data),
    offsetof(cg_place_data, packet), offsetof(cg_place_data, packet_size),
    offsetof(cg_place_data, items), offsetof(cg_place_data, chunk_id),
    offsetof(cg_place_data, heap_index), offsetof(cg_place_data, heap_offset),
    offsetof(cg_place_data, batch_stats), offsetof(cg_place_data, extra),
    offsetof(cg_place_data, extra_offset), offsetof(cg_place_data, extra_size),
    sizeof(cg_grid_dim),
    offsetof(cg_grid_dim, item), offsetof(cg_grid_dim, origin),
    offsetof(cg_grid_dim, step), offsetof(cg_grid_dim, count),
    offsetof(cg_grid_dim, stride),
    sizeof(cg_grid), offsetof(cg_grid, size),
    offsetof(cg_grid, time), offsetof(cg_grid, dims), offsetof(cg_grid, n_dims),
    offsetof(cg_grid, heap_size), offsetof(cg_grid, heap_length_item),
    offsetof(cg_grid, extra_items), offsetof(cg_grid, n_extra_items),
    sizeof(cg_item), offsetof(cg_item, id), offsetof(cg_item, value),
    sizeof(cg_sender_config), offsetof(cg_sender_config, size),
    offsetof(cg_sender_config, addr_bits), offsetof(cg_sender_config, max_packet_size),
    offsetof(cg_sender_config, packet_payload), offsetof(cg_sender_config, repeat_pointers),
    offsetof(cg_sender_config, rate), offsetof(cg_sender_config, interface_address),
    offsetof(cg_sender_config, ttl), offsetof(cg_sender_config, buffer_size),
    /* constants shared with Go */
    CG_OK, CG_EINVAL, CG_ESTATE, CG_EIO, CG_ESTOPPED, CG_EEMPTY, CG_EFULL, CG_ENOMEM, CG_ETIMEDOUT,
    CG_STAT_COUNTER, CG_STAT_MAXIMUM, CG_EVICT_LOSSY, CG_EVICT_LOSSLESS,
    CG_LOG_DEBUG, CG_LOG_ERROR, CG_NUM_STANDARD_STATS, CG_STAT_BAD_PLACEMENT_HEAPS,
    CG_STAT_MALFORMED_PACKETS, CG_STAT_FAR_JUMP_HEAPS, CG_STAT_NO_CHUNK_HEAPS, CG_STAT_HEAPS, CG_STAT_PACKETS,
};

size_t cgshim_layout_count(void) { return sizeof cg_layout_table / sizeof cg_layout_table[0]; }

size_t cgshim_layout(size_t i) {
    return i < cgshim_layout_count() ? cg_layout_table[i] : (size_t)-1;
}
