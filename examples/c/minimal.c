/* Minimal chunkgroup example in C: a 2-member ring group fed from
 * in-memory packets, with a C place function.
 * Heap t (heap counter t) carries 16 bytes of value t; chunk = t / 4,
 * slot = t % 4; even heaps go to member 0, odd ones to member 1. */
#include <stdio.h>
#include <string.h>

#include "chunkgroup.h"

enum { HEAPS_PER_CHUNK = 4, HEAP_SIZE = 16, N_HEAPS = 8, N_CHUNKS = 4 };

/* items[0] = heap counter, items[1] = heap length (see set_items below) */
static void place(cg_place_data *d, size_t size, void *user) {
    (void)size, (void)user;
    if (d->items[1] != HEAP_SIZE) return;          /* chunk_id stays -1: rejected */
    d->chunk_id = d->items[0] / HEAPS_PER_CHUNK;
    d->heap_index = (size_t)(d->items[0] % HEAPS_PER_CHUNK);
    d->heap_offset = d->heap_index * HEAP_SIZE;
}

int main(void) {
    static uint8_t present[N_CHUNKS][HEAPS_PER_CHUNK], data[N_CHUNKS][HEAPS_PER_CHUNK * HEAP_SIZE];
    cg_chunk chunks[N_CHUNKS];
    uint64_t items[] = {CG_HEAP_CNT_ID, CG_HEAP_LENGTH_ID};
    cg_ring *data_ring = cg_ring_new(N_CHUNKS), *free_ring = cg_ring_new(N_CHUNKS);
    cg_group_config *gcfg = cg_group_config_new();
    cg_stream_config *scfg = cg_stream_config_new();
    cg_chunk_stream_config *ccfg = cg_chunk_stream_config_new();
    cg_chunk_stream_config_set_items(ccfg, items, 2);
    cg_chunk_stream_config_set_place(ccfg, place, NULL);
    cg_group_config_set_max_chunks(gcfg, 4);
    cg_group *group = cg_ring_group_new(gcfg, data_ring, free_ring);
    for (int m = 0; m < 2; m++)
        if (!cg_group_emplace_back(group, scfg, ccfg)) {
            fprintf(stderr, "emplace_back: %s\n", cg_last_error());
            return 1;
        }
    for (int i = 0; i < N_CHUNKS; i++) {
        chunks[i] = (cg_chunk){.present = present[i], .present_size = HEAPS_PER_CHUNK,
                               .data = data[i], .data_size = sizeof data[i]};
        cg_group_add_free_chunk(group, &chunks[i]);
    }

    cg_sender_config enc = {.size = sizeof enc, .repeat_pointers = 1};
    uint8_t buf[2][1024], payload[HEAP_SIZE];
    size_t len[2] = {0, 0}, n;
    for (uint64_t t = 0; t < N_HEAPS; t++) {
        memset(payload, (int)t, sizeof payload);
        cg_encode_heap(&enc, t, NULL, 0, payload, sizeof payload,
                       buf[t % 2] + len[t % 2], sizeof buf[0] - len[t % 2], &n);
        len[t % 2] += n;
    }
    for (int m = 0; m < 2; m++)  /* copies the buffer; end of buffer ends the member */
        cg_stream_add_buffer_reader(cg_group_get(group, (size_t)m), buf[m], len[m]);

    cg_chunk *c;
    int received = 0;
    while (cg_ring_pop(data_ring, &c) == CG_OK) {  /* CG_ESTOPPED once every member ended */
        printf("chunk %lld: present=%d%d%d%d first bytes=%d %d %d %d\n", (long long)c->chunk_id,
               c->present[0], c->present[1], c->present[2], c->present[3],
               c->data[0], c->data[16], c->data[32], c->data[48]);
        received += c->present[0] + c->present[1] + c->present[2] + c->present[3];
        cg_group_add_free_chunk(group, c);
    }
    cg_group_free(group);  /* stops (already stopped) and frees the members */
    cg_ring_free(data_ring);
    cg_ring_free(free_ring);
    cg_chunk_stream_config_free(ccfg);
    cg_stream_config_free(scfg);
    cg_group_config_free(gcfg);
    printf("%d heaps received\n", received);
    return received == N_HEAPS ? 0 : 1;
}
