/* A chunk stream group with allocate/ready callbacks in C, fed from
 * in-memory buffers encoded with cg_encode_heap.
 *
 * Four members each read a buffer holding every fourth heap. allocate
 * mallocs a chunk when the group first needs a chunk ID; ready receives
 * each chunk, in increasing ID order, once no member will write to it
 * again, checks it and frees it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunkgroup.h"

enum { MEMBERS = 4, HEAP_SIZE = 4096, HEAPS_PER_CHUNK = 8, N_CHUNKS = 6 };

typedef struct totals {
    int chunks, complete;
    int64_t last_id;
} totals;

static void place(cg_place_data *d, size_t size, void *user) {
    (void)size;
    (void)user;
    d->chunk_id = d->items[0] / HEAPS_PER_CHUNK;
    d->heap_index = (size_t)(d->items[0] % HEAPS_PER_CHUNK);
    d->heap_offset = d->heap_index * HEAP_SIZE;
}

static cg_chunk *allocate(int64_t chunk_id, uint64_t *batch_stats, void *user) {
    (void)chunk_id;
    (void)batch_stats;
    (void)user;
    cg_chunk *c = calloc(1, sizeof *c);
    c->present = calloc(HEAPS_PER_CHUNK, 1);
    c->present_size = HEAPS_PER_CHUNK;
    c->data = calloc(HEAPS_PER_CHUNK, HEAP_SIZE);
    c->data_size = (size_t)HEAPS_PER_CHUNK * HEAP_SIZE;
    return c;
}

/* Called with the group's lock held, one chunk at a time. */
static void ready(cg_chunk *c, uint64_t *batch_stats, void *user) {
    (void)batch_stats;
    totals *t = user;
    int ok = 1;
    for (size_t i = 0; i < HEAPS_PER_CHUNK; i++) {
        uint8_t want = (uint8_t)(c->chunk_id * HEAPS_PER_CHUNK + (int64_t)i);
        ok &= c->present[i] == 1 && c->data[i * HEAP_SIZE] == want && c->data[(i + 1) * HEAP_SIZE - 1] == want;
    }
    t->chunks++;
    t->complete += ok;
    t->last_id = c->chunk_id;
    free(c->present);
    free(c->data);
    free(c);
}

int main(void) {
    totals t = {0, 0, -1};
    cg_group_config *gc = cg_group_config_new();
    cg_group_config_set_max_chunks(gc, N_CHUNKS); /* wide enough for all: no eviction */
    cg_group_config_set_allocate(gc, allocate, &t);
    cg_group_config_set_ready(gc, ready, &t);
    cg_group *g = cg_group_new(gc);
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    uint64_t item = CG_HEAP_CNT_ID;
    cg_chunk_stream_config_set_items(cc, &item, 1);
    cg_chunk_stream_config_set_place(cc, place, NULL);
    for (int m = 0; m < MEMBERS; m++)
        if (!cg_group_emplace_back(g, sc, cc)) {
            fprintf(stderr, "emplace: %s\n", cg_last_error());
            return 1;
        }

    cg_sender_config cfg = CG_SENDER_CONFIG_INIT; /* size set, the rest defaults */
    cfg.repeat_pointers = 1;
    static uint8_t payload[HEAP_SIZE];
    for (int m = 0; m < MEMBERS; m++) {
        size_t cap = 1 << 20, len = 0, need;
        uint8_t *buf = malloc(cap);
        for (uint64_t cnt = (uint64_t)m; cnt < N_CHUNKS * HEAPS_PER_CHUNK; cnt += MEMBERS) {
            memset(payload, (int)(cnt & 0xff), sizeof payload);
            if (cg_encode_heap(&cfg, cnt, NULL, 0, payload, sizeof payload, buf + len, cap - len, &need) != CG_OK) {
                fprintf(stderr, "encode: %s\n", cg_last_error());
                return 1;
            }
            len += need;
        }
        /* The library copies the buffer, so it can be freed at once. */
        cg_stream_add_buffer_reader(cg_group_get(g, (size_t)m), buf, len);
        free(buf);
    }
    /* Each member stops at the end of its buffer; stopping the group then
     * returns once every chunk has been readied. A real program would wait
     * for its data instead: here the readers finish in microseconds, and
     * stop is safe either way (heaps not yet received are just missing). */
    uint64_t heaps;
    int waited_ms = 0;
    do {
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
        heaps = 0;
        for (int m = 0; m < MEMBERS; m++) {
            uint64_t st[CG_NUM_STANDARD_STATS];
            cg_stream_stats(cg_group_get(g, (size_t)m), st, CG_NUM_STANDARD_STATS);
            heaps += st[CG_STAT_HEAPS];
        }
    } while (heaps < N_CHUNKS * HEAPS_PER_CHUNK && ++waited_ms < 20000);
    cg_group_free(g); /* stops first */
    printf("callback_group: %d chunks readied (%d complete), last chunk ID %lld\n",
           t.chunks, t.complete, (long long)t.last_id);
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc);
    cg_group_config_free(gc);
    return t.chunks == N_CHUNKS && t.complete == N_CHUNKS ? 0 : 1;
}
