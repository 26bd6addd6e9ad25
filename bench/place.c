/* The place function of shared/spec/performance.md, shared by every
 * receiver in the benchmark: compiled once (gcc -O2 -shared -fPIC) and
 * handed to spead2 as a PyCapsule tuple and to chunkgroup as a function
 * pointer with user data, so the only difference measured is the receiver.
 *
 * Items requested, in this order: [HEAP_CNT, HEAP_LENGTH].
 *   wrong (or absent) heap length -> rejected (chunk_id -1)
 *   chunk_id    = heap_cnt / heaps_per_chunk
 *   heap_index  = heap_cnt % heaps_per_chunk
 *   heap_offset = heap_index * heap_payload
 * heaps_per_chunk and heap_payload come through the user pointer (the
 * capsule context for spead2), a struct bench_place_ctx.
 */
#include <stddef.h>
#include <stdint.h>

/* Field for field spead2::recv::chunk_place_data, which is also
 * chunkgroup's cg_place_data (include/chunkgroup.h); declared here so the
 * object depends on neither library's headers. */
struct bench_place_data {
    const uint8_t *packet;
    size_t packet_size;
    int64_t *items;
    int64_t chunk_id;
    size_t heap_index;
    size_t heap_offset;
    uint64_t *batch_stats;
    uint8_t *extra;
    size_t extra_offset;
    size_t extra_size;
};

struct bench_place_ctx {
    int64_t heaps_per_chunk;
    int64_t heap_payload;
};

/* Signature "void (void *, size_t, void *)". */
void bench_place(void *data_, size_t data_size, void *user)
{
    struct bench_place_data *data = data_;
    const struct bench_place_ctx *ctx = user;
    (void) data_size; /* only fields present in every version are used */
    int64_t cnt = data->items[0];
    int64_t length = data->items[1];
    if (length != ctx->heap_payload || cnt < 0)
    {
        data->chunk_id = -1; /* rejected */
        return;
    }
    data->chunk_id = cnt / ctx->heaps_per_chunk;
    data->heap_index = (size_t) (cnt % ctx->heaps_per_chunk);
    data->heap_offset = data->heap_index * (size_t) ctx->heap_payload;
}

/* Size of the context struct, so the Python side can check its layout. */
size_t bench_place_ctx_size(void) { return sizeof(struct bench_place_ctx); }
