/* Network readers on loopback: stop and free while UDP readers run and a
 * sender thread keeps sending; a TCP stream; socket errors. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "common.h"

enum { MEMBERS = 4, HEAP_SIZE = 1024, HEAPS_PER_CHUNK = 8, CHUNK_BYTES = HEAP_SIZE * HEAPS_PER_CHUNK };

static void place_by_cnt(cg_place_data *d, size_t size, void *user) {
    (void)size;
    (void)user;
    if (d->items[0] < 0)
        return;
    d->chunk_id = d->items[0] / HEAPS_PER_CHUNK;
    d->heap_index = (size_t)(d->items[0] % HEAPS_PER_CHUNK);
    d->heap_offset = d->heap_index * HEAP_SIZE;
}

typedef struct sender_arg {
    cg_sender *s;
    volatile int stop;
    uint64_t sent;
} sender_arg;

static void *sender_main(void *p) {
    sender_arg *a = (sender_arg *)p;
    uint8_t payload[HEAP_SIZE];
    for (uint64_t cnt = 0; !a->stop; cnt++) {
        for (size_t i = 0; i < HEAP_SIZE; i++)
            payload[i] = t_pattern(cnt, i);
        /* Errors (e.g. ECONNREFUSED once the readers are gone) are fine. */
        cg_sender_send_heap(a->s, cnt, NULL, 0, payload, HEAP_SIZE, -1);
        if (cnt % 8 == 7)
            cg_sender_flush(a->s);
        a->sent = cnt + 1;
        if (cnt % 64 == 63) {
            struct timespec ts = {0, 1000 * 1000}; /* keep loopback from overflowing */
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void test_udp_group_stop_while_running(void) {
    cg_group_config *gc = cg_group_config_new();
    cg_group_config_set_max_chunks(gc, 4);
    cg_ring *data = cg_ring_new(4), *free_ring = cg_ring_new(8);
    cg_group *g = cg_ring_group_new(gc, data, free_ring);
    REQUIRE(g != NULL);
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    uint64_t id = CG_HEAP_CNT_ID;
    cg_chunk_stream_config_set_items(cc, &id, 1);
    cg_chunk_stream_config_set_place(cc, place_by_cnt, NULL);
    for (int m = 0; m < MEMBERS; m++)
        REQUIRE(cg_group_emplace_back(g, sc, cc) != NULL);
    cg_chunk *chunks[8];
    for (int i = 0; i < 8; i++) {
        chunks[i] = t_chunk_new(HEAPS_PER_CHUNK, CHUNK_BYTES, 0);
        CHECK_EQ(cg_group_add_free_chunk(g, chunks[i]), CG_OK);
    }
    char dests[MEMBERS][32];
    const char *dp[MEMBERS];
    for (int m = 0; m < MEMBERS; m++) {
        cg_stream *s = cg_group_get(g, (size_t)m);
        CHECK_EQ(cg_stream_last_reader_port(s), 0);
        REQUIRE(cg_stream_add_udp_reader(s, "127.0.0.1", 0, 0, 1 << 20) == CG_OK);
        int port = cg_stream_last_reader_port(s);
        CHECK(port > 0);
        snprintf(dests[m], sizeof dests[m], "127.0.0.1:%d", port);
        dp[m] = dests[m];
    }
    /* The port is taken: a second bind fails with EADDRINUSE. */
    int port0 = cg_stream_last_reader_port(cg_group_get(g, 0));
    CHECK_EQ(cg_stream_add_udp_reader(cg_group_get(g, 0), "127.0.0.1", (uint16_t)port0, 0, 0), CG_EIO);
    CHECK_EQ(cg_last_errno(), EADDRINUSE);

    cg_sender_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.repeat_pointers = 1;
    sender_arg sa = {cg_udp_sender_new(&cfg, dp, MEMBERS), 0, 0};
    REQUIRE(sa.s != NULL);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, sender_main, &sa) == 0);
    /* Consume a few chunks, recycling them, then stop mid-stream. */
    int got = 0;
    for (int i = 0; i < 4; i++) {
        cg_chunk *c = NULL;
        int rc = cg_ring_pop_timeout(data, &c, T_TIMEOUT_US);
        CHECK_EQ(rc, CG_OK);
        if (rc != CG_OK)
            break;
        got++;
        CHECK(c->chunk_id >= 0);
        CHECK_EQ(cg_group_add_free_chunk(g, c), CG_OK);
    }
    CHECK_EQ(got, 4);
    CHECK_EQ(cg_group_stop(g), CG_OK);
    cg_chunk *kept[8];
    size_t nk;
    while ((nk = cg_group_take_kept(g, kept, 8)) > 0) {
    }
    cg_group_free(g);
    sa.stop = 1;
    pthread_join(t, NULL);
    CHECK(sa.sent > 0);
    cg_sender_free(sa.s);
    cg_sender_free(sa.s); /* double free: detected */
    cg_ring_free(data);
    cg_ring_free(free_ring);
    for (int i = 0; i < 8; i++)
        t_chunk_free(chunks[i]);
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc);
    cg_group_config_free(gc);
}

typedef struct cb_pool {
    pthread_mutex_t mu;
    int readied;
    int complete;
} cb_pool;

static cg_chunk *pool_alloc(int64_t id, uint64_t *bs, void *user) {
    (void)id;
    (void)bs;
    (void)user;
    return t_chunk_new(HEAPS_PER_CHUNK, CHUNK_BYTES, 0);
}

static void pool_ready(cg_chunk *c, uint64_t *bs, void *user) {
    cb_pool *p = (cb_pool *)user;
    (void)bs;
    int full = 1;
    for (int i = 0; i < HEAPS_PER_CHUNK; i++)
        full &= c->present[i] == 1 && c->data[i * HEAP_SIZE + 9] == t_pattern((uint64_t)c->chunk_id * HEAPS_PER_CHUNK + (uint64_t)i, 9);
    pthread_mutex_lock(&p->mu);
    p->readied++;
    p->complete += full;
    pthread_mutex_unlock(&p->mu);
    t_chunk_free(c);
}

/* A standalone callback stream over TCP: the end of the connection ends
 * the stream; every chunk arrives complete (TCP loses nothing). Also a
 * standalone stream freed while its UDP reader is blocked. */
static void test_tcp_stream_and_udp_free(void) {
    cb_pool pool;
    memset(&pool, 0, sizeof pool);
    pthread_mutex_init(&pool.mu, NULL);
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    uint64_t id = CG_HEAP_CNT_ID;
    cg_chunk_stream_config_set_items(cc, &id, 1);
    cg_chunk_stream_config_set_place(cc, place_by_cnt, NULL);
    cg_chunk_stream_config_set_allocate(cc, pool_alloc, &pool);
    cg_chunk_stream_config_set_ready(cc, pool_ready, &pool);
    cg_stream *s = cg_chunk_stream_new(sc, cc);
    REQUIRE(s != NULL);
    REQUIRE(cg_stream_add_tcp_reader(s, "127.0.0.1", 0, 0, 0) == CG_OK);
    int port = cg_stream_last_reader_port(s);
    CHECK(port > 0);
    char dest[32];
    snprintf(dest, sizeof dest, "127.0.0.1:%d", port);
    cg_sender *tx = cg_tcp_sender_new(NULL, dest);
    REQUIRE(tx != NULL);
    uint8_t payload[HEAP_SIZE];
    for (uint64_t cnt = 0; cnt < 4 * HEAPS_PER_CHUNK; cnt++) {
        for (size_t i = 0; i < HEAP_SIZE; i++)
            payload[i] = t_pattern(cnt, i);
        CHECK_EQ(cg_sender_send_heap(tx, cnt, NULL, 0, payload, HEAP_SIZE, -1), CG_OK);
    }
    CHECK_EQ(cg_sender_send_heap(tx, 0, NULL, 0, payload, HEAP_SIZE, 1), CG_EINVAL);
    CHECK_EQ(cg_sender_send_stop(tx, -1), CG_OK);
    cg_sender_free(tx);
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&pool.mu);
        int n = pool.readied;
        pthread_mutex_unlock(&pool.mu);
        if (n == 4)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cg_stream_free(s);
    CHECK_EQ(pool.readied, 4);
    CHECK_EQ(pool.complete, 4);

    /* UDP reader with nothing arriving: free must not hang. */
    s = cg_chunk_stream_new(sc, cc);
    REQUIRE(s != NULL);
    int cpu = 0;
    CHECK_EQ(cg_stream_set_affinity(s, &cpu, 1), CG_OK);
    CHECK_EQ(cg_stream_set_udp_gro(s, 1), CG_OK);
    CHECK_EQ(cg_stream_add_udp_reader(s, "127.0.0.1", 0, 0, 0), CG_OK);
    CHECK_EQ(cg_stream_stop(s), CG_OK);
    CHECK_EQ(cg_stream_add_udp_reader(s, "127.0.0.1", 0, 0, 0), CG_ESTATE);
    cg_stream_free(s);
    CHECK_EQ(cg_stream_set_udp_gro(s, 1), CG_ESTATE); /* freed handle */
    CHECK_EQ(cg_stream_set_udp_gro(NULL, 1), CG_ESTATE);
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc);
    pthread_mutex_destroy(&pool.mu);
}

int main(void) {
    RUN(test_udp_group_stop_while_running);
    RUN(test_tcp_stream_and_udp_free);
    TEST_MAIN_END();
}
