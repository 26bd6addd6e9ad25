/* Groups and streams fed from buffers: exact contents of a 4-member ring
 * group (LOSSY and LOSSLESS), a callback group, bad placements, custom
 * statistics, grid placement, the zero-copy buffer reader. */
#include <pthread.h>

#include "common.h"

enum {
    MEMBERS = 4,
    HEAP_SIZE = 1024,
    PACKET_PAYLOAD = 512, /* two packets per heap */
    HEAPS_PER_CHUNK = 8,  /* two per member */
    CHUNK_BYTES = HEAP_SIZE * HEAPS_PER_CHUNK
};

/* Heap cnt goes to chunk cnt / HEAPS_PER_CHUNK, slot cnt % HEAPS_PER_CHUNK. */
static void place_by_cnt(cg_place_data *d, size_t size, void *user) {
    (void)user;
    if (size < sizeof(cg_place_data) || d->items[0] < 0)
        return;
    int64_t cnt = d->items[0];
    d->chunk_id = cnt / HEAPS_PER_CHUNK;
    d->heap_index = (size_t)(cnt % HEAPS_PER_CHUNK);
    d->heap_offset = d->heap_index * HEAP_SIZE;
}

static cg_sender_config test_sender_config(void) {
    cg_sender_config c;
    memset(&c, 0, sizeof c);
    c.packet_payload = PACKET_PAYLOAD;
    c.repeat_pointers = 1;
    return c;
}

/* The packets for member m: heaps cnt = m, m+4, ... for n_chunks chunks. */
static void member_buffer(t_buf *b, int m, int n_chunks) {
    cg_sender_config cfg = test_sender_config();
    for (uint64_t cnt = (uint64_t)m; cnt < (uint64_t)n_chunks * HEAPS_PER_CHUNK; cnt += MEMBERS)
        t_append_heap(b, &cfg, cnt, NULL, 0, HEAP_SIZE);
}

/* Checks a complete chunk: every slot present, every byte as sent. */
static int chunk_exact(const cg_chunk *c) {
    for (size_t i = 0; i < HEAPS_PER_CHUNK; i++) {
        if (c->present[i] != 1)
            return 0;
        uint64_t cnt = (uint64_t)c->chunk_id * HEAPS_PER_CHUNK + i;
        for (size_t off = 0; off < HEAP_SIZE; off++)
            if (c->data[i * HEAP_SIZE + off] != t_pattern(cnt, off))
                return 0;
    }
    return 1;
}

static cg_chunk_stream_config *cnt_chunk_config(size_t max_chunks) {
    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    uint64_t id = CG_HEAP_CNT_ID;
    cg_chunk_stream_config_set_items(cc, &id, 1);
    cg_chunk_stream_config_set_max_chunks(cc, max_chunks);
    cg_chunk_stream_config_set_place(cc, place_by_cnt, NULL);
    return cc;
}

/* A 4-member ring group fed from buffers; every chunk must arrive in
 * order with exact contents. LOSSY uses a group window wider than the
 * data (so nothing can be evicted whatever the timing); LOSSLESS a
 * narrow window with chunks recycled by the consumer. */
static void ring_group_case(int mode, size_t group_chunks, int n_chunks, int n_free) {
    cg_group_config *gc = cg_group_config_new();
    cg_group_config_set_max_chunks(gc, group_chunks);
    cg_group_config_set_eviction_mode(gc, mode);
    cg_ring *data = cg_ring_new((size_t)n_free), *free_ring = cg_ring_new((size_t)n_free);
    cg_group *g = cg_ring_group_new(gc, data, free_ring);
    REQUIRE(g != NULL);
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cnt_chunk_config(2);
    for (int m = 0; m < MEMBERS; m++) {
        cg_stream_config_set_stream_id(sc, (uintptr_t)m);
        REQUIRE(cg_group_emplace_back(g, sc, cc) != NULL);
    }
    cg_chunk **chunks = (cg_chunk **)calloc((size_t)n_free, sizeof *chunks);
    for (int i = 0; i < n_free; i++) {
        chunks[i] = t_chunk_new(HEAPS_PER_CHUNK, CHUNK_BYTES, 0);
        memset(chunks[i]->present, 0xEE, HEAPS_PER_CHUNK); /* add_free_chunk zeroes it */
        CHECK_EQ(cg_group_add_free_chunk(g, chunks[i]), CG_OK);
    }
    for (int m = 0; m < MEMBERS; m++) {
        t_buf b = {0};
        member_buffer(&b, m, n_chunks);
        CHECK_EQ(cg_stream_add_buffer_reader(cg_group_get(g, (size_t)m), b.data, b.len), CG_OK);
        t_buf_free(&b); /* copied */
    }
    int got = 0;
    for (;;) {
        cg_chunk *c = NULL;
        int rc = cg_ring_pop_timeout(data, &c, T_TIMEOUT_US);
        if (rc == CG_ESTOPPED)
            break;
        CHECK_EQ(rc, CG_OK);
        if (rc != CG_OK)
            break;
        CHECK_EQ(c->chunk_id, got);
        CHECK(chunk_exact(c));
        got++;
        CHECK_EQ(cg_group_add_free_chunk(g, c), CG_OK);
    }
    CHECK_EQ(got, n_chunks);
    uint64_t st[CG_NUM_STANDARD_STATS];
    uint64_t heaps = 0;
    for (int m = 0; m < MEMBERS; m++) {
        CHECK_EQ(cg_stream_stats(cg_group_get(g, (size_t)m), st, CG_NUM_STANDARD_STATS), CG_OK);
        heaps += st[CG_STAT_HEAPS];
        CHECK_EQ(st[CG_STAT_PACKETS], 2 * n_chunks * HEAPS_PER_CHUNK / MEMBERS);
        CHECK_EQ(st[CG_STAT_INCOMPLETE_HEAPS_EVICTED], 0);
        CHECK_EQ(st[CG_STAT_BAD_PLACEMENT_HEAPS], 0);
    }
    CHECK_EQ(heaps, n_chunks * HEAPS_PER_CHUNK);
    CHECK_EQ(cg_group_stop(g), CG_OK);
    cg_chunk *kept[8];
    while (cg_group_take_kept(g, kept, 8) > 0) {
    }
    cg_group_free(g);
    cg_ring_free(data);
    cg_ring_free(free_ring);
    for (int i = 0; i < n_free; i++)
        t_chunk_free(chunks[i]);
    free(chunks);
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc);
    cg_group_config_free(gc);
}

static void test_ring_group_lossy(void) { ring_group_case(CG_EVICT_LOSSY, 8, 6, 8); }

static void test_ring_group_lossless(void) { ring_group_case(CG_EVICT_LOSSLESS, 2, 10, 3); }

/* ---- callback group ---- */

typedef struct cb_state {
    pthread_mutex_t mu;
    int allocated, readied, bad_order, bad_content;
    int64_t next_ready;
} cb_state;

static cg_chunk *cb_allocate(int64_t chunk_id, uint64_t *batch_stats, void *user) {
    cb_state *s = (cb_state *)user;
    (void)chunk_id;
    (void)batch_stats;
    pthread_mutex_lock(&s->mu);
    s->allocated++;
    pthread_mutex_unlock(&s->mu);
    return t_chunk_new(HEAPS_PER_CHUNK, CHUNK_BYTES, 0);
}

static void cb_ready(cg_chunk *c, uint64_t *batch_stats, void *user) {
    cb_state *s = (cb_state *)user;
    (void)batch_stats;
    pthread_mutex_lock(&s->mu);
    if (c->chunk_id != s->next_ready)
        s->bad_order++;
    s->next_ready = c->chunk_id + 1;
    if (!chunk_exact(c))
        s->bad_content++;
    s->readied++;
    pthread_mutex_unlock(&s->mu);
    t_chunk_free(c);
}

static void test_callback_group(void) {
    cb_state s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    cg_group_config *gc = cg_group_config_new();
    cg_group_config_set_max_chunks(gc, 8);
    cg_group_config_set_allocate(gc, cb_allocate, &s);
    cg_group_config_set_ready(gc, cb_ready, &s);
    cg_group *g = cg_group_new(gc);
    REQUIRE(g != NULL);
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cnt_chunk_config(2);
    for (int m = 0; m < MEMBERS; m++)
        REQUIRE(cg_group_emplace_back(g, sc, cc) != NULL);
    CHECK_EQ(cg_group_add_free_chunk(g, NULL), CG_EINVAL);
    for (int m = 0; m < MEMBERS; m++) {
        t_buf b = {0};
        member_buffer(&b, m, 5);
        CHECK_EQ(cg_stream_add_buffer_reader(cg_group_get(g, (size_t)m), b.data, b.len), CG_OK);
        t_buf_free(&b);
    }
    /* The group readies every chunk once all members' input has ended;
     * stop waits for that and returns when no thread touches a chunk. */
    uint64_t st[CG_NUM_STANDARD_STATS];
    for (int i = 0; i < 2000; i++) { /* bounded wait for all heaps */
        uint64_t heaps = 0;
        for (int m = 0; m < MEMBERS; m++) {
            cg_stream_stats(cg_group_get(g, (size_t)m), st, CG_NUM_STANDARD_STATS);
            heaps += st[CG_STAT_HEAPS];
        }
        pthread_mutex_lock(&s.mu);
        int done = s.readied == 5;
        pthread_mutex_unlock(&s.mu);
        if (heaps == 5 * HEAPS_PER_CHUNK && done)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cg_group_free(g);
    CHECK_EQ(s.allocated, 5);
    CHECK_EQ(s.readied, 5);
    CHECK_EQ(s.bad_order, 0);
    CHECK_EQ(s.bad_content, 0);
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc);
    cg_group_config_free(gc);
    pthread_mutex_destroy(&s.mu);
}

/* ---- bad placements and custom statistics (standalone ring stream) ---- */

typedef struct bad_place_user {
    size_t odd_stat, peak_stat;
} bad_place_user;

/* Heaps of one chunk: cnt 0..7. cnt 1: offset past the data; cnt 2:
 * index past present; cnt 3: rejected; the rest placed normally. Odd
 * heaps are counted in a custom counter, cnt in a custom maximum. */
static void bad_place(cg_place_data *d, size_t size, void *user) {
    bad_place_user *u = (bad_place_user *)user;
    (void)size;
    int64_t cnt = d->items[0];
    if (cnt % 2)
        d->batch_stats[u->odd_stat]++;
    if ((uint64_t)cnt > d->batch_stats[u->peak_stat])
        d->batch_stats[u->peak_stat] = (uint64_t)cnt;
    if (cnt == 3)
        return; /* chunk_id stays -1 */
    d->chunk_id = 0;
    d->heap_index = (size_t)cnt;
    d->heap_offset = (size_t)cnt * HEAP_SIZE;
    if (cnt == 1)
        d->heap_offset = CHUNK_BYTES - HEAP_SIZE / 2; /* overruns data */
    if (cnt == 2)
        d->heap_index = HEAPS_PER_CHUNK; /* past present */
}

static void test_bad_placement_and_custom_stats(void) {
    bad_place_user u;
    cg_stream_config *sc = cg_stream_config_new();
    CHECK_EQ(cg_stream_config_add_stat(sc, "odd_heaps", CG_STAT_COUNTER, &u.odd_stat), CG_OK);
    CHECK_EQ(cg_stream_config_add_stat(sc, "peak_cnt", CG_STAT_MAXIMUM, &u.peak_stat), CG_OK);
    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    uint64_t id = CG_HEAP_CNT_ID;
    cg_chunk_stream_config_set_items(cc, &id, 1);
    cg_chunk_stream_config_set_place(cc, bad_place, &u);
    cg_ring *data = cg_ring_new(2), *free_ring = cg_ring_new(2);
    cg_stream *s = cg_chunk_ring_stream_new(sc, cc, data, free_ring);
    REQUIRE(s != NULL);
    cg_chunk *c = t_chunk_new(HEAPS_PER_CHUNK, CHUNK_BYTES, 0);
    memset(c->data, 0x5A, CHUNK_BYTES);
    CHECK_EQ(cg_chunk_ring_stream_add_free_chunk(s, c), CG_OK);
    t_buf b = {0};
    cg_sender_config cfg = test_sender_config();
    for (uint64_t cnt = 0; cnt < HEAPS_PER_CHUNK; cnt++)
        CHECK_EQ(t_append_heap(&b, &cfg, cnt, NULL, 0, HEAP_SIZE), CG_OK);
    CHECK_EQ(cg_stream_add_buffer_reader(s, b.data, b.len), CG_OK);
    t_buf_free(&b);
    cg_chunk *out = NULL;
    CHECK_EQ(cg_ring_pop_timeout(data, &out, T_TIMEOUT_US), CG_OK);
    CHECK(out == c);
    CHECK_EQ(cg_ring_pop_timeout(data, &out, T_TIMEOUT_US), CG_ESTOPPED);
    for (size_t i = 0; i < HEAPS_PER_CHUNK; i++) {
        int good = i != 1 && i != 2 && i != 3;
        CHECK_EQ(c->present[i], good);
        for (size_t off = 0; off < HEAP_SIZE; off++) {
            uint8_t want = good ? t_pattern(i, off) : 0x5A;
            if (c->data[i * HEAP_SIZE + off] != want) {
                CHECK_EQ(c->data[i * HEAP_SIZE + off], want);
                break;
            }
        }
    }
    size_t n = cg_stream_stat_count(s);
    CHECK_EQ(n, CG_NUM_STANDARD_STATS + 2);
    uint64_t st[CG_NUM_STANDARD_STATS + 2];
    CHECK_EQ(cg_stream_stats(s, st, n), CG_OK);
    CHECK_EQ(st[CG_STAT_BAD_PLACEMENT_HEAPS], 2);
    CHECK_EQ(st[CG_STAT_REJECTED_HEAPS], 1);
    CHECK_EQ(st[CG_STAT_HEAPS], HEAPS_PER_CHUNK);
    CHECK_EQ(st[u.odd_stat], 4);
    CHECK_EQ(st[u.peak_stat], 7);
    CHECK(strcmp(cg_stream_stat_name(s, u.odd_stat), "odd_heaps") == 0);
    CHECK_EQ(cg_stream_stat_mode(s, u.peak_stat), CG_STAT_MAXIMUM);
    CHECK(cg_stream_stat_name(s, n) == NULL);
    cg_stream_free(s);
    cg_stream_free(s); /* double free: detected */
    CHECK_EQ(cg_stream_stats(s, st, n), CG_ESTATE);
    cg_ring_free(data);
    cg_ring_free(free_ring);
    t_chunk_free(c);
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc);
}

/* ---- grid placement ---- */

enum { GRID_HEAP = 64, GRID_T = 2, GRID_CH = 4 };

static void test_grid_place(void) {
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    uint64_t ids[2] = {0x1600, 0x4101}; /* timestamp, channel */
    cg_chunk_stream_config_set_items(cc, ids, 2);
    cg_chunk_stream_config_set_max_heap_extra(cc, 8);
    cg_grid_dim ch = {1, 0, 1, GRID_CH, 1};
    size_t extra_items[1] = {1};
    cg_grid g;
    memset(&g, 0, sizeof g);
    g.time.item = 0;
    g.time.origin = 1000;
    g.time.step = 100;
    g.time.count = GRID_T;
    g.time.stride = GRID_CH;
    g.dims = &ch;
    g.n_dims = 1;
    g.heap_size = GRID_HEAP;
    g.heap_length_item = -1;
    g.extra_items = extra_items;
    g.n_extra_items = 1;
    CHECK_EQ(cg_chunk_stream_config_set_grid_place(cc, &g), CG_OK);
    cg_ring *data = cg_ring_new(4), *free_ring = cg_ring_new(4);
    cg_stream *s = cg_chunk_ring_stream_new(sc, cc, data, free_ring);
    REQUIRE(s != NULL);
    cg_chunk *chunks[3];
    for (int i = 0; i < 3; i++) {
        chunks[i] = t_chunk_new(GRID_T * GRID_CH, GRID_T * GRID_CH * GRID_HEAP, GRID_T * GRID_CH * 8);
        CHECK_EQ(cg_chunk_ring_stream_add_free_chunk(s, chunks[i]), CG_OK);
    }
    cg_sender_config cfg;
    memset(&cfg, 0, sizeof cfg);
    t_buf b = {0};
    uint64_t cnt = 1;
    for (int t = 0; t < 3 * GRID_T; t++)
        for (int c = 0; c < GRID_CH; c++) {
            cg_item items[2] = {{0x1600, (uint64_t)(1000 + 100 * t)}, {0x4101, (uint64_t)c}};
            CHECK_EQ(t_append_heap(&b, &cfg, cnt++, items, 2, GRID_HEAP), CG_OK);
        }
    cg_item stray[2] = {{0x1600, 1000}, {0x4101, GRID_CH}}; /* channel out of range */
    CHECK_EQ(t_append_heap(&b, &cfg, cnt++, stray, 2, GRID_HEAP), CG_OK);
    CHECK_EQ(cg_stream_add_buffer_reader(s, b.data, b.len), CG_OK);
    t_buf_free(&b);
    for (int k = 0; k < 3; k++) {
        cg_chunk *out = NULL;
        CHECK_EQ(cg_ring_pop_timeout(data, &out, T_TIMEOUT_US), CG_OK);
        if (!out)
            break;
        CHECK_EQ(out->chunk_id, k);
        for (int t = 0; t < GRID_T; t++)
            for (int c = 0; c < GRID_CH; c++) {
                size_t idx = (size_t)(t * GRID_CH + c);
                uint64_t hcnt = 1 + (uint64_t)((k * GRID_T + t) * GRID_CH + c);
                CHECK_EQ(out->present[idx], 1);
                CHECK_EQ(out->data[idx * GRID_HEAP + 5], t_pattern(hcnt, 5));
                int64_t v;
                memcpy(&v, out->extra + idx * 8, 8); /* little-endian hosts */
                CHECK_EQ(v, c);
            }
    }
    uint64_t st[CG_NUM_STANDARD_STATS];
    cg_chunk *out = NULL;
    CHECK_EQ(cg_ring_pop_timeout(data, &out, T_TIMEOUT_US), CG_ESTOPPED);
    CHECK_EQ(cg_stream_stats(s, st, CG_NUM_STANDARD_STATS), CG_OK);
    CHECK_EQ(st[CG_STAT_REJECTED_HEAPS] + st[CG_STAT_TOO_OLD_HEAPS], 1);
    cg_stream_free(s);
    cg_ring_free(data);
    cg_ring_free(free_ring);
    for (int i = 0; i < 3; i++)
        t_chunk_free(chunks[i]);
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc);
}

/* ---- zero-copy reader ---- */

typedef struct release_state {
    pthread_mutex_t mu;
    int calls;
} release_state;

static void on_release(void *user) {
    release_state *r = (release_state *)user;
    pthread_mutex_lock(&r->mu);
    r->calls++;
    pthread_mutex_unlock(&r->mu);
}

static void test_nocopy_reader(void) {
    release_state rs;
    memset(&rs, 0, sizeof rs);
    pthread_mutex_init(&rs.mu, NULL);
    /* bad handle: released before returning */
    CHECK_EQ(cg_stream_add_buffer_reader_nocopy(NULL, NULL, 0, on_release, &rs), CG_ESTATE);
    CHECK_EQ(rs.calls, 1);

    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cnt_chunk_config(2);
    cg_ring *data = cg_ring_new(2), *free_ring = cg_ring_new(2);
    cg_stream *s = cg_chunk_ring_stream_new(sc, cc, data, free_ring);
    REQUIRE(s != NULL);
    cg_chunk *c = t_chunk_new(HEAPS_PER_CHUNK, CHUNK_BYTES, 0);
    CHECK_EQ(cg_chunk_ring_stream_add_free_chunk(s, c), CG_OK);
    t_buf b = {0};
    cg_sender_config cfg = test_sender_config();
    for (uint64_t cnt = 0; cnt < HEAPS_PER_CHUNK; cnt++)
        t_append_heap(&b, &cfg, cnt, NULL, 0, HEAP_SIZE);
    CHECK_EQ(cg_stream_add_buffer_reader_nocopy(s, b.data, b.len, on_release, &rs), CG_OK);
    cg_chunk *out = NULL;
    CHECK_EQ(cg_ring_pop_timeout(data, &out, T_TIMEOUT_US), CG_OK);
    CHECK(out == c && chunk_exact(c));
    CHECK_EQ(cg_ring_pop_timeout(data, &out, T_TIMEOUT_US), CG_ESTOPPED);
    cg_stream_free(s); /* after this no library thread touches the buffer */
    pthread_mutex_lock(&rs.mu);
    CHECK_EQ(rs.calls, 2);
    pthread_mutex_unlock(&rs.mu);
    /* stopped stream: refused, released at once */
    t_buf_free(&b);
    cg_ring_free(data);
    cg_ring_free(free_ring);
    t_chunk_free(c);

    /* explicit start that never comes: released at free */
    cg_stream_config_set_explicit_start(sc, 1);
    data = cg_ring_new(2);
    free_ring = cg_ring_new(2);
    s = cg_chunk_ring_stream_new(sc, cc, data, free_ring);
    uint8_t tiny[8] = {0};
    CHECK_EQ(cg_stream_add_buffer_reader_nocopy(s, tiny, sizeof tiny, on_release, &rs), CG_OK);
    CHECK_EQ(rs.calls, 2);
    cg_stream_free(s);
    CHECK_EQ(rs.calls, 3);
    cg_ring_free(data);
    cg_ring_free(free_ring);
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc);
    pthread_mutex_destroy(&rs.mu);
}

/* A 2-chunk-config ring group with its rings and configurations, for the
 * tests below; rig_free stops it, drains the data ring and frees it all. */
typedef struct {
    cg_group_config *gc;
    cg_ring *data, *free_ring;
    cg_group *g;
    cg_stream_config *sc;
    cg_chunk_stream_config *cc;
} rig;

static rig rig_new(size_t group_chunks, int mode) {
    rig r;
    r.gc = cg_group_config_new();
    cg_group_config_set_max_chunks(r.gc, group_chunks);
    cg_group_config_set_eviction_mode(r.gc, mode);
    r.data = cg_ring_new(4);
    r.free_ring = cg_ring_new(4);
    r.g = cg_ring_group_new(r.gc, r.data, r.free_ring);
    r.sc = cg_stream_config_new();
    r.cc = cnt_chunk_config(2);
    return r;
}

static void rig_free(rig *r) {
    CHECK_EQ(cg_group_stop(r->g), CG_OK);
    cg_chunk *out = NULL;
    while (cg_ring_try_pop(r->data, &out) == CG_OK)
        ;
    cg_group_free(r->g);
    cg_ring_free(r->data);
    cg_ring_free(r->free_ring);
    cg_chunk_stream_config_free(r->cc);
    cg_stream_config_free(r->sc);
    cg_group_config_free(r->gc);
}

/* Polls s's statistics (every 5 ms, at most 10 s) until CG_STAT_PACKETS
 * reaches min; st holds the last snapshot. */
static void wait_packets(cg_stream *s, uint64_t min, uint64_t st[CG_NUM_STANDARD_STATS]) {
    memset(st, 0, CG_NUM_STANDARD_STATS * sizeof st[0]);
    for (int i = 0; i < 2000 && st[CG_STAT_PACKETS] < min; i++) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
        cg_stream_stats(s, st, CG_NUM_STANDARD_STATS);
    }
}

/* The seed's rule: a member may be added until the group has received data,
 * so a reader may be added to one member before the next is added (as in
 * spead2); after data, CG_ESTATE with the library's message. */
static void test_emplace_back_rule(void) {
    rig r = rig_new(4, CG_EVICT_LOSSY);
    REQUIRE(r.g != NULL);
    cg_stream *m0 = cg_group_emplace_back(r.g, r.sc, r.cc);
    REQUIRE(m0 != NULL);
    /* A TCP reader that nobody connects to: a reader, but no data. */
    CHECK_EQ(cg_stream_add_tcp_reader(m0, "127.0.0.1", 0, 65536, 0), CG_OK);
    cg_stream *m1 = cg_group_emplace_back(r.g, r.sc, r.cc);
    CHECK(m1 != NULL);
    CHECK_EQ(cg_group_size(r.g), (size_t)2);
    cg_chunk *c = t_chunk_new(HEAPS_PER_CHUNK, CHUNK_BYTES, 0);
    CHECK_EQ(cg_group_add_free_chunk(r.g, c), CG_OK);
    t_buf b = {0};
    cg_sender_config cfg = test_sender_config();
    t_append_heap(&b, &cfg, 1, NULL, 0, HEAP_SIZE);
    CHECK_EQ(cg_stream_add_buffer_reader(m1, b.data, b.len), CG_OK);
    uint64_t st[CG_NUM_STANDARD_STATS];
    wait_packets(m1, 2, st);
    CHECK_EQ(st[CG_STAT_PACKETS], (uint64_t)2); /* two packets per heap */
    CHECK(cg_group_emplace_back(r.g, r.sc, r.cc) == NULL);
    CHECK_EQ(cg_last_status(), CG_ESTATE);
    CHECK(cg_last_error() != NULL &&
          strcmp(cg_last_error(), "invalid state: cannot add a stream to a group that has received data") == 0);
    CHECK_EQ(cg_group_size(r.g), (size_t)2);
    rig_free(&r);
    t_chunk_free(c);
    t_buf_free(&b);
}

/* A LOSSLESS member stalled in the group's wait shows the statistics of the
 * batch it is stuck in (the other member is silent, so it cannot go on). */
static void test_stats_visible_while_stalled(void) {
    rig r = rig_new(2, CG_EVICT_LOSSLESS);
    REQUIRE(r.g != NULL);
    cg_stream *m0 = cg_group_emplace_back(r.g, r.sc, r.cc);
    cg_stream *m1 = cg_group_emplace_back(r.g, r.sc, r.cc);
    REQUIRE(m0 != NULL && m1 != NULL);
    cg_chunk *c[4];
    for (int i = 0; i < 4; i++) {
        c[i] = t_chunk_new(HEAPS_PER_CHUNK, CHUNK_BYTES, 0);
        CHECK_EQ(cg_group_add_free_chunk(r.g, c[i]), CG_OK);
    }
    /* Member 0: every heap of 8 chunks, in one buffer (one reader batch holds
     * up to 64 packets, so it stalls inside a batch). Member 1: silent. */
    t_buf b = {0};
    cg_sender_config cfg = test_sender_config();
    for (uint64_t cnt = 0; cnt < 8 * HEAPS_PER_CHUNK; cnt++)
        t_append_heap(&b, &cfg, cnt, NULL, 0, HEAP_SIZE);
    CHECK_EQ(cg_stream_add_buffer_reader(m0, b.data, b.len), CG_OK);
    uint64_t st[CG_NUM_STANDARD_STATS];
    wait_packets(m0, 1, st);
    CHECK(st[CG_STAT_PACKETS] > 0);
    CHECK(st[CG_STAT_HEAPS] > 0);
    CHECK(st[CG_STAT_PACKETS] < 2 * 8 * HEAPS_PER_CHUNK); /* stalled: not everything */
    rig_free(&r); /* the stop releases the stalled member */
    for (int i = 0; i < 4; i++)
        t_chunk_free(c[i]);
    t_buf_free(&b);
}

int main(void) {
    RUN(test_ring_group_lossy);
    RUN(test_ring_group_lossless);
    RUN(test_callback_group);
    RUN(test_bad_placement_and_custom_stats);
    RUN(test_grid_place);
    RUN(test_nocopy_reader);
    RUN(test_emplace_back_rule);
    RUN(test_stats_visible_while_stalled);
    TEST_MAIN_END();
}
