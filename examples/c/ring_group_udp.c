/* A ring-group receiver over 4 UDP ports on loopback.
 *
 * Four member streams, one UDP socket each, assemble heaps into shared
 * chunks; a C place function maps heap counter -> (chunk, slot). A sender
 * thread sends heap i to port i % 4. The main thread pops complete chunks
 * from the data ring, checks them and gives them back through the group's
 * free ring, then prints a summary.
 *
 * Build: make (see Makefile), run: ./ring_group_udp
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkgroup.h"

enum {
    MEMBERS = 4,
    HEAP_SIZE = 1024,
    HEAPS_PER_CHUNK = 16,
    N_CHUNKS = 32,
    N_FREE = 12
};

/* Called by the library for the first packet of every heap. items[0] is
 * the heap counter (the only item requested). */
static void place(cg_place_data *d, size_t size, void *user) {
    (void)size;
    (void)user;
    int64_t cnt = d->items[0];
    if (cnt < 0)
        return; /* chunk_id stays -1: heap dropped */
    d->chunk_id = cnt / HEAPS_PER_CHUNK;
    d->heap_index = (size_t)(cnt % HEAPS_PER_CHUNK);
    d->heap_offset = d->heap_index * HEAP_SIZE;
}

typedef struct sender_args {
    char dests[MEMBERS][32];
} sender_args;

static void *sender(void *p) {
    sender_args *a = (sender_args *)p;
    const char *dests[MEMBERS];
    for (int m = 0; m < MEMBERS; m++)
        dests[m] = a->dests[m];
    cg_sender_config cfg = CG_SENDER_CONFIG_INIT; /* size set, the rest defaults */
    cfg.repeat_pointers = 1;
    cfg.rate = 10e6; /* 10 MB/s: gentle on loopback and a 2-core machine */
    cg_sender *s = cg_udp_sender_new(&cfg, dests, MEMBERS);
    if (!s) {
        fprintf(stderr, "sender: %s\n", cg_last_error());
        return NULL;
    }
    uint8_t payload[HEAP_SIZE];
    for (uint64_t cnt = 0; cnt < (uint64_t)N_CHUNKS * HEAPS_PER_CHUNK; cnt++) {
        memset(payload, (int)(cnt & 0xff), sizeof payload);
        cg_sender_send_heap(s, cnt, NULL, 0, payload, sizeof payload, -1); /* to cnt % 4 */
        /* The sender queues packets per destination and sends a batch at
         * a time; flushing once per chunk keeps the four members in step.
         * Without it one member could run a whole batch (16 chunks here)
         * ahead, and a LOSSY group would evict the others' chunks. */
        if (cnt % HEAPS_PER_CHUNK == HEAPS_PER_CHUNK - 1)
            cg_sender_flush(s);
    }
    cg_sender_send_stop(s, -1); /* every member's input ends */
    cg_sender_free(s);
    return NULL;
}

int main(void) {
    cg_group_config *gc = cg_group_config_new();
    cg_group_config_set_max_chunks(gc, 8); /* LOSSY: a member more than 8 chunks behind loses heaps */
    cg_ring *data = cg_ring_new(N_FREE), *free_ring = cg_ring_new(N_FREE);
    cg_group *g = cg_ring_group_new(gc, data, free_ring);
    if (!g) {
        fprintf(stderr, "group: %s\n", cg_last_error());
        return 1;
    }
    cg_stream_config *sc = cg_stream_config_new();
    cg_stream_config_set_max_heaps(sc, 8);
    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    uint64_t item = CG_HEAP_CNT_ID;
    cg_chunk_stream_config_set_items(cc, &item, 1);
    cg_chunk_stream_config_set_place(cc, place, NULL);
    cg_chunk_stream_config_set_max_chunks(cc, 4);
    for (int m = 0; m < MEMBERS; m++)
        cg_group_emplace_back(g, sc, cc);

    cg_chunk chunks[N_FREE];
    for (int i = 0; i < N_FREE; i++) {
        memset(&chunks[i], 0, sizeof chunks[i]);
        chunks[i].present = calloc(HEAPS_PER_CHUNK, 1);
        chunks[i].present_size = HEAPS_PER_CHUNK;
        chunks[i].data = malloc((size_t)HEAP_SIZE * HEAPS_PER_CHUNK);
        chunks[i].data_size = (size_t)HEAP_SIZE * HEAPS_PER_CHUNK;
        cg_group_add_free_chunk(g, &chunks[i]);
    }

    sender_args sa;
    for (int m = 0; m < MEMBERS; m++) {
        cg_stream *s = cg_group_get(g, (size_t)m);
        if (cg_stream_add_udp_reader(s, "127.0.0.1", 0, 0, 4 << 20) != CG_OK) {
            fprintf(stderr, "udp reader: %s (errno %d)\n", cg_last_error(), cg_last_errno());
            return 1;
        }
        snprintf(sa.dests[m], sizeof sa.dests[m], "127.0.0.1:%d", cg_stream_last_reader_port(s));
    }
    pthread_t t;
    pthread_create(&t, NULL, sender, &sa);

    /* The data ring stops once every member has seen its stop heap. */
    int n_chunks = 0, complete = 0;
    size_t heaps = 0;
    for (;;) {
        cg_chunk *c;
        int rc = cg_ring_pop_timeout(data, &c, 10 * 1000 * 1000);
        if (rc != CG_OK) {
            if (rc == CG_ETIMEDOUT)
                fprintf(stderr, "no chunk for 10 s, stopping\n");
            break;
        }
        size_t n = 0;
        for (size_t i = 0; i < HEAPS_PER_CHUNK; i++)
            n += c->present[i];
        n_chunks++;
        heaps += n;
        complete += n == HEAPS_PER_CHUNK;
        cg_group_add_free_chunk(g, c);
    }
    pthread_join(t, NULL);
    cg_group_stop(g);

    uint64_t total[CG_NUM_STANDARD_STATS] = {0};
    for (int m = 0; m < MEMBERS; m++) {
        uint64_t st[CG_NUM_STANDARD_STATS];
        cg_stream_stats(cg_group_get(g, (size_t)m), st, CG_NUM_STANDARD_STATS);
        for (int i = 0; i < CG_NUM_STANDARD_STATS; i++)
            total[i] += st[i];
    }
    printf("ring_group_udp: %d chunks (%d complete), %zu of %d heaps, %llu packets, %llu incomplete heaps evicted\n",
           n_chunks, complete, heaps, N_CHUNKS * HEAPS_PER_CHUNK,
           (unsigned long long)total[CG_STAT_PACKETS],
           (unsigned long long)total[CG_STAT_INCOMPLETE_HEAPS_EVICTED]);

    cg_group_free(g);
    cg_ring_free(data);
    cg_ring_free(free_ring);
    for (int i = 0; i < N_FREE; i++) {
        free(chunks[i].present);
        free(chunks[i].data);
    }
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc);
    cg_group_config_free(gc);
    return n_chunks > 0 ? 0 : 1;
}
