/* The promises of chunkgroup.h's conventions, each shown by a C program:
 * which thread runs ready (a library thread while data flows, the caller's
 * inside stop/free), cg_set_log_callback waiting for the old callback,
 * chunks handed back at free (release functions, or a warning), a refused
 * free chunk reported by the _v2 calls, bad-handle return values and a
 * last error that is never stale, and the growable structs' size field. */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

enum {
    HEAP_SIZE = 256,     /* one packet per heap */
    HEAPS_PER_CHUNK = 4,
    N_CHUNKS = 4,
    POOL = 8
};

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0) {
        /* EINTR (the Go runtime's SIGURG can land here): sleep the rest */
    }
}

static void place_by_cnt(cg_place_data *d, size_t size, void *user) {
    (void)user;
    if (size < sizeof(cg_place_data) || d->items[0] < 0)
        return;
    d->chunk_id = d->items[0] / HEAPS_PER_CHUNK;
    d->heap_index = (size_t)(d->items[0] % HEAPS_PER_CHUNK);
    d->heap_offset = d->heap_index * HEAP_SIZE;
}

static cg_chunk_stream_config *cnt_chunk_config(size_t max_chunks) {
    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    uint64_t id = CG_HEAP_CNT_ID;
    cg_chunk_stream_config_set_items(cc, &id, 1);
    cg_chunk_stream_config_set_max_chunks(cc, max_chunks);
    cg_chunk_stream_config_set_place(cc, place_by_cnt, NULL);
    return cc;
}

/* Sends heaps [first, last) to 127.0.0.1:port. */
static void send_heaps(int port, uint64_t first, uint64_t last) {
    char dest[32];
    snprintf(dest, sizeof dest, "127.0.0.1:%d", port);
    const char *dests[1] = {dest};
    cg_sender_config sc = CG_SENDER_CONFIG_INIT;
    sc.repeat_pointers = 1;
    cg_sender *s = cg_udp_sender_new(&sc, dests, 1);
    CHECK(s != NULL);
    if (!s)
        return;
    uint8_t payload[HEAP_SIZE];
    for (uint64_t cnt = first; cnt < last; cnt++) {
        for (size_t i = 0; i < HEAP_SIZE; i++)
            payload[i] = t_pattern(cnt, i);
        CHECK_EQ(cg_sender_send_heap(s, cnt, NULL, 0, payload, HEAP_SIZE, 0), CG_OK);
        sleep_us(200); /* gentle on loopback: no kernel drops */
    }
    cg_sender_flush(s);
    cg_sender_free(s);
}

/* Waits until the stream has completed `heaps` heaps; 0 on timeout. */
static int wait_heaps(cg_stream *st, uint64_t heaps) {
    uint64_t v[CG_NUM_STANDARD_STATS];
    for (int i = 0; i < 20000; i++) {
        if (cg_stream_stats(st, v, CG_NUM_STANDARD_STATS) == CG_OK && v[CG_STAT_HEAPS] >= heaps)
            return 1;
        sleep_us(1000);
    }
    return 0;
}

/* ---- which thread runs ready ---- */

typedef struct ready_log {
    pthread_mutex_t mu;
    cg_chunk chunks[POOL];
    uint8_t present[POOL][HEAPS_PER_CHUNK];
    uint8_t data[POOL][HEAPS_PER_CHUNK * HEAP_SIZE];
    int n;
    int64_t ids[POOL];
    pthread_t threads[POOL];
    int all_present[POOL];
} ready_log;

static cg_chunk *pool_allocate(int64_t id, uint64_t *stats, void *user) {
    (void)stats;
    ready_log *l = (ready_log *)user;
    if (id < 0 || id >= POOL)
        return NULL;
    cg_chunk *c = &l->chunks[id];
    *c = (cg_chunk){.present = l->present[id], .present_size = HEAPS_PER_CHUNK,
                    .data = l->data[id], .data_size = sizeof l->data[id]};
    return c;
}

static void log_ready(cg_chunk *c, uint64_t *stats, void *user) {
    (void)stats;
    ready_log *l = (ready_log *)user;
    int ok = 1;
    for (size_t i = 0; i < HEAPS_PER_CHUNK; i++)
        ok &= c->present[i] == 1;
    pthread_mutex_lock(&l->mu);
    if (l->n < POOL) {
        l->ids[l->n] = c->chunk_id;
        l->threads[l->n] = pthread_self();
        l->all_present[l->n] = ok;
        l->n++;
    }
    pthread_mutex_unlock(&l->mu);
}

enum { VIA_GROUP_STOP, VIA_STREAM_STOP, VIA_GROUP_FREE };

/* Chunks 0 and 1 leave the 2-chunk window while data flows (ready on the
 * reader's thread); 2 and 3 are still in it at the stop and are readied on
 * the calling thread before the stop (or free) returns. */
static void ready_threads_case(int via) {
    static ready_log l;
    memset(&l, 0, sizeof l);
    pthread_mutex_init(&l.mu, NULL);
    cg_group_config *gc = cg_group_config_new();
    cg_group_config_set_max_chunks(gc, 2);
    cg_group_config_set_allocate(gc, pool_allocate, &l);
    cg_group_config_set_ready(gc, log_ready, &l);
    cg_group *g = cg_group_new(gc);
    REQUIRE(g != NULL);
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cnt_chunk_config(2);
    cg_stream *st = cg_group_emplace_back(g, sc, cc);
    REQUIRE(st != NULL);
    REQUIRE(cg_stream_add_udp_reader(st, "127.0.0.1", 0, 0, 0) == CG_OK);
    int port = cg_stream_last_reader_port(st);
    send_heaps(port, 0, N_CHUNKS * HEAPS_PER_CHUNK);
    CHECK(wait_heaps(st, N_CHUNKS * HEAPS_PER_CHUNK));
    pthread_mutex_lock(&l.mu);
    int before = l.n;
    pthread_mutex_unlock(&l.mu);
    CHECK_EQ(before, 2);
    if (via == VIA_GROUP_STOP)
        CHECK_EQ(cg_group_stop(g), CG_OK);
    else if (via == VIA_STREAM_STOP)
        CHECK_EQ(cg_stream_stop(st), CG_OK);
    /* VIA_GROUP_FREE: cg_group_free stops first */
    if (via == VIA_GROUP_FREE)
        cg_group_free(g);
    pthread_mutex_lock(&l.mu);
    CHECK_EQ(l.n, N_CHUNKS); /* all readied before the call returned */
    pthread_t me = pthread_self();
    for (int i = 0; i < l.n && i < N_CHUNKS; i++) {
        CHECK_EQ(l.ids[i], i);
        CHECK(l.all_present[i]);
        if (i < 2)
            CHECK(!pthread_equal(l.threads[i], me)); /* a library thread */
        else
            CHECK(pthread_equal(l.threads[i], me));  /* the caller's */
    }
    pthread_mutex_unlock(&l.mu);
    if (via != VIA_GROUP_FREE)
        cg_group_free(g);
    cg_stream_config_free(sc);
    cg_chunk_stream_config_free(cc);
    cg_group_config_free(gc);
    pthread_mutex_destroy(&l.mu);
}

static void test_ready_on_caller_thread_in_group_stop(void) { ready_threads_case(VIA_GROUP_STOP); }
static void test_ready_on_caller_thread_in_stream_stop(void) { ready_threads_case(VIA_STREAM_STOP); }
static void test_ready_on_caller_thread_in_group_free(void) { ready_threads_case(VIA_GROUP_FREE); }

/* ---- log callback swap ---- */

static int slow_entered, slow_finished, nested_calls;

static void slow_log(int level, const char *msg, void *user) {
    (void)level;
    (void)msg;
    (void)user;
    __atomic_store_n(&slow_entered, 1, __ATOMIC_SEQ_CST);
    sleep_us(300 * 1000);
    __atomic_store_n(&slow_finished, 1, __ATOMIC_SEQ_CST);
}

static void quiet_log(int level, const char *msg, void *user) {
    (void)level;
    (void)msg;
    (void)user;
}

/* Replaces itself from inside the call: must not wait for itself. */
static void self_replacing_log(int level, const char *msg, void *user) {
    (void)level;
    (void)msg;
    (void)user;
    __atomic_add_fetch(&nested_calls, 1, __ATOMIC_SEQ_CST);
    cg_set_log_callback(quiet_log, NULL);
}

/* A TCP connection that closes in the middle of a packet makes its reader
 * fail, which logs an error from the reader's thread. */
static void provoke_reader_error_log(void) {
    cg_group_config *gc = cg_group_config_new();
    cg_ring *data = cg_ring_new(2), *free_ring = cg_ring_new(2);
    cg_group *g = cg_ring_group_new(gc, data, free_ring);
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cnt_chunk_config(2);
    cg_stream *st = cg_group_emplace_back(g, sc, cc);
    REQUIRE(st != NULL);
    REQUIRE(cg_stream_add_tcp_reader(st, "127.0.0.1", 0, 0, 0) == CG_OK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cg_stream_last_reader_port(st))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    const uint8_t partial[3] = {0x53, 0x04, 0x02}; /* the start of a SPEAD header */
    CHECK_EQ(write(fd, partial, sizeof partial), 3);
    close(fd);
    /* The reader fails; wait for it to stop the stream. */
    for (int i = 0; i < 20000 && cg_stream_error(st) == NULL; i++)
        sleep_us(1000);
    CHECK(cg_stream_error(st) != NULL);
    cg_group_free(g);
    cg_ring_free(data);
    cg_ring_free(free_ring);
    cg_stream_config_free(sc);
    cg_chunk_stream_config_free(cc);
    cg_group_config_free(gc);
}

static void *provoke_thread(void *arg) {
    (void)arg;
    provoke_reader_error_log();
    return NULL;
}

static void test_log_swap_waits_for_old_callback(void) {
    __atomic_store_n(&slow_entered, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&slow_finished, 0, __ATOMIC_SEQ_CST);
    cg_set_log_callback(slow_log, NULL);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, provoke_thread, NULL) == 0);
    for (int i = 0; i < 20000 && !__atomic_load_n(&slow_entered, __ATOMIC_SEQ_CST); i++)
        sleep_us(1000);
    CHECK(__atomic_load_n(&slow_entered, __ATOMIC_SEQ_CST));
    cg_set_log_callback(quiet_log, NULL);
    /* The old callback was mid-call: the swap returned only after it did. */
    CHECK(__atomic_load_n(&slow_finished, __ATOMIC_SEQ_CST));
    pthread_join(t, NULL);
    cg_set_log_callback(NULL, NULL);
}

static void test_log_callback_may_replace_itself(void) {
    __atomic_store_n(&nested_calls, 0, __ATOMIC_SEQ_CST);
    cg_set_log_callback(self_replacing_log, NULL);
    provoke_reader_error_log(); /* would hang if the swap waited for itself */
    CHECK_EQ(__atomic_load_n(&nested_calls, __ATOMIC_SEQ_CST), 1);
    cg_set_log_callback(NULL, NULL);
}

/* ---- chunks handed back at free ---- */

typedef struct release_log {
    int n;
    cg_chunk *chunks[POOL];
    pthread_t threads[POOL];
} release_log;

static void log_release(cg_chunk *c, void *user) {
    release_log *r = (release_log *)user;
    if (r->n < POOL) {
        r->chunks[r->n] = c;
        r->threads[r->n] = pthread_self();
        r->n++;
    }
}

static char warnings[4][256];
static int n_warnings;
static void capture_log(int level, const char *msg, void *user) {
    (void)user;
    if (level >= CG_LOG_WARNING && n_warnings < 4)
        snprintf(warnings[n_warnings++], sizeof warnings[0], "%s", msg);
}

/* A ring group that received chunks 0 and 1 and was stopped with nobody
 * consuming: both are kept aside. The first `take` are taken back; the rest
 * must come back through release at cg_group_free (or be named in a
 * warning without one). */
static void kept_case(int with_release, int take) {
    release_log rel = {0};
    n_warnings = 0;
    cg_set_log_callback(capture_log, NULL);
    cg_group_config *gc = cg_group_config_new();
    cg_group_config_set_max_chunks(gc, 2);
    if (with_release)
        cg_group_config_set_release(gc, log_release, &rel);
    cg_ring *data = cg_ring_new(POOL), *free_ring = cg_ring_new(POOL);
    cg_group *g = cg_ring_group_new(gc, data, free_ring);
    REQUIRE(g != NULL);
    cg_chunk *chunks[2];
    for (int i = 0; i < 2; i++) {
        chunks[i] = t_chunk_new(HEAPS_PER_CHUNK, HEAPS_PER_CHUNK * HEAP_SIZE, 0);
        CHECK_EQ(cg_group_add_free_chunk(g, chunks[i]), CG_OK);
    }
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cnt_chunk_config(2);
    cg_stream *st = cg_group_emplace_back(g, sc, cc);
    REQUIRE(st != NULL);
    REQUIRE(cg_stream_add_udp_reader(st, "127.0.0.1", 0, 0, 0) == CG_OK);
    send_heaps(cg_stream_last_reader_port(st), 0, 2 * HEAPS_PER_CHUNK);
    CHECK(wait_heaps(st, 2 * HEAPS_PER_CHUNK));
    CHECK_EQ(cg_group_stop(g), CG_OK);
    CHECK_EQ(cg_ring_size(data), 0); /* stopped before the chunks were readied */
    cg_chunk *out[2] = {NULL, NULL};
    if (take)
        CHECK_EQ(cg_group_take_kept(g, out, (size_t)take), take);
    cg_group_free(g);
    int left = 2 - take;
    if (with_release) {
        CHECK_EQ(rel.n, left);
        for (int i = 0; i < rel.n; i++) {
            CHECK(rel.chunks[i] == chunks[take + i]);
            CHECK_EQ(rel.chunks[i]->chunk_id, take + i);
            CHECK(pthread_equal(rel.threads[i], pthread_self()));
        }
        CHECK_EQ(n_warnings, 0);
    } else if (left > 0) {
        CHECK_EQ(n_warnings, 1);
        char want[64];
        snprintf(want, sizeof want, "cg_group_free: %d chunks", left);
        CHECK(strstr(warnings[0], want) != NULL);
    }
    if (take)
        CHECK(out[0] == chunks[0]);
    cg_set_log_callback(NULL, NULL);
    cg_ring_free(data);
    cg_ring_free(free_ring);
    for (int i = 0; i < 2; i++)
        t_chunk_free(chunks[i]);
    cg_stream_config_free(sc);
    cg_chunk_stream_config_free(cc);
    cg_group_config_free(gc);
}

static void test_group_free_hands_kept_chunks_to_release(void) { kept_case(1, 0); }
static void test_group_free_after_partial_take(void) { kept_case(1, 1); }
static void test_group_free_without_release_warns(void) { kept_case(0, 0); }

static void test_ring_free_hands_back_chunks(void) {
    release_log rel = {0};
    cg_chunk *c[3];
    cg_ring *r = cg_ring_new(4);
    REQUIRE(r != NULL);
    CHECK_EQ(cg_ring_set_release(r, log_release, &rel), CG_OK);
    for (int i = 0; i < 3; i++) {
        c[i] = t_chunk_new(1, 1, 0);
        CHECK_EQ(cg_ring_push(r, c[i]), CG_OK);
    }
    cg_ring_free(r);
    CHECK_EQ(rel.n, 3);
    for (int i = 0; i < rel.n && i < 3; i++) {
        CHECK(rel.chunks[i] == c[i]); /* oldest first */
        CHECK(pthread_equal(rel.threads[i], pthread_self()));
    }
    /* Without a release function: a warning that names the count. */
    n_warnings = 0;
    cg_set_log_callback(capture_log, NULL);
    r = cg_ring_new(4);
    CHECK_EQ(cg_ring_push(r, c[0]), CG_OK);
    cg_ring_free(r);
    CHECK_EQ(n_warnings, 1);
    CHECK(strstr(warnings[0], "cg_ring_free: 1 chunks") != NULL);
    cg_set_log_callback(NULL, NULL);
    for (int i = 0; i < 3; i++)
        t_chunk_free(c[i]);
}

/* ---- a refused free chunk ---- */

static void test_refused_free_chunk_is_reported(void) {
    cg_group_config *gc = cg_group_config_new();
    cg_ring *data = cg_ring_new(2), *free_ring = cg_ring_new(2);
    cg_group *g = cg_ring_group_new(gc, data, free_ring);
    REQUIRE(g != NULL);
    cg_chunk *c = t_chunk_new(4, 16, 0);
    c->present[0] = 1;
    CHECK_EQ(cg_group_add_free_chunk_v2(g, c), CG_OK); /* taken, present zeroed */
    CHECK_EQ(c->present[0], 0);
    CHECK_EQ(cg_ring_size(free_ring), 1);
    cg_chunk *back = NULL;
    CHECK_EQ(cg_ring_try_pop(free_ring, &back), CG_OK);
    CHECK(back == c);
    CHECK_EQ(cg_group_stop(g), CG_OK);
    /* The spec's call stays silent; the _v2 call says the chunk stays yours. */
    CHECK_EQ(cg_group_add_free_chunk(g, c), CG_OK);
    CHECK_EQ(cg_group_add_free_chunk_v2(g, c), CG_ESTOPPED);
    CHECK_EQ(cg_last_status(), CG_ESTOPPED);
    CHECK(strstr(cg_last_error(), "not taken") != NULL);
    CHECK_EQ(cg_ring_size(free_ring), 0);
    /* Standalone ring streams: the same pair. */
    cg_ring *d2 = cg_ring_new(2), *f2 = cg_ring_new(2);
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cnt_chunk_config(2);
    cg_stream *st = cg_chunk_ring_stream_new(sc, cc, d2, f2);
    REQUIRE(st != NULL);
    CHECK_EQ(cg_stream_stop(st), CG_OK);
    CHECK_EQ(cg_chunk_ring_stream_add_free_chunk(st, c), CG_OK);
    CHECK_EQ(cg_chunk_ring_stream_add_free_chunk_v2(st, c), CG_ESTOPPED);
    cg_stream_free(st);
    /* Producers of a stopped ring. */
    cg_ring *r = cg_ring_new(1);
    CHECK_EQ(cg_ring_add_producer_v2(r), CG_OK);
    CHECK_EQ(cg_ring_remove_producer(r), 1); /* the last one stops it */
    CHECK_EQ(cg_ring_add_producer_v2(r), CG_ESTOPPED);
    cg_ring_free(r);
    cg_group_free(g);
    cg_ring_free(data);
    cg_ring_free(free_ring);
    cg_ring_free(d2);
    cg_ring_free(f2);
    cg_stream_config_free(sc);
    cg_chunk_stream_config_free(cc);
    cg_group_config_free(gc);
    t_chunk_free(c);
}

/* ---- bad handles and the last error ---- */

#define CHECK_BAD(expr, want)                      \
    do {                                           \
        CHECK_EQ((long long)(expr), (long long)(want)); \
        CHECK_EQ(cg_last_status(), CG_ESTATE);     \
    } while (0)

static void test_bad_handle_results(void) {
    cg_ring *r = cg_ring_new(1);
    cg_ring_free(r);
    cg_chunk *out = NULL;
    cg_chunk c = {0};
    CHECK_BAD(cg_ring_push(r, &c), CG_ESTATE);
    CHECK_BAD(cg_ring_try_pop(r, &out), CG_ESTATE);
    CHECK_BAD(cg_ring_size(r), 0);
    CHECK_BAD(cg_ring_capacity(r), 0);
    CHECK_BAD(cg_ring_stop(r), -CG_ESTATE);
    CHECK_BAD(cg_ring_stopped(r), -CG_ESTATE);
    CHECK(cg_ring_stopped(r) != 0); /* a freed ring reads as stopped */
    CHECK_BAD(cg_ring_remove_producer(r), -CG_ESTATE);
    CHECK_BAD(cg_ring_data_fd(r), -1);
    CHECK_BAD(cg_ring_add_producer_v2(r), CG_ESTATE);
    cg_ring_add_producer(r);
    CHECK_EQ(cg_last_status(), CG_ESTATE);
    CHECK_BAD(cg_ring_set_release(r, NULL, NULL), CG_ESTATE);
    cg_ring_free(r); /* a second free: nothing done, reported */
    CHECK_EQ(cg_last_status(), CG_ESTATE);

    cg_stream_config *sc = cg_stream_config_new();
    cg_stream_config_free(sc);
    CHECK_BAD(cg_stream_config_get_max_heaps(sc), 0);
    CHECK_BAD(cg_stream_config_set_max_heaps(sc, 4), CG_ESTATE);
    CHECK_BAD(cg_stream_config_stat_count(sc), 0);
    CHECK_BAD(cg_stream_config_stat_mode(sc, 0), -CG_ESTATE);
    CHECK(cg_stream_config_stat_name(sc, 0) == NULL);
    CHECK_EQ(cg_last_status(), CG_ESTATE);

    cg_group_config *gc = cg_group_config_new();
    cg_ring *d = cg_ring_new(1), *f = cg_ring_new(1);
    cg_group *g = cg_ring_group_new(gc, d, f);
    cg_stream_config *sc2 = cg_stream_config_new();
    cg_chunk_stream_config *cc = cnt_chunk_config(2);
    cg_stream *st = cg_group_emplace_back(g, sc2, cc);
    REQUIRE(st != NULL);
    cg_group_free(g);
    CHECK_BAD(cg_group_size(g), 0);
    CHECK(cg_group_get(g, 0) == NULL);
    CHECK_EQ(cg_last_status(), CG_ESTATE);
    CHECK_BAD(cg_group_stop(g), CG_ESTATE);
    CHECK_BAD(cg_group_take_kept(g, &out, 1), 0);
    CHECK_BAD(cg_group_add_free_chunk_v2(g, &c), CG_ESTATE);
    CHECK_BAD(cg_stream_stat_count(st), 0); /* members die with their group */
    CHECK_BAD(cg_stream_stat_mode(st, 0), -CG_ESTATE);
    CHECK(cg_stream_error(st) == NULL);
    CHECK_EQ(cg_last_status(), CG_ESTATE);
    CHECK_BAD(cg_stream_last_reader_port(st), 0);
    cg_group_config_free(gc);
    CHECK_BAD(cg_group_config_get_eviction_mode(gc), -CG_ESTATE);
    CHECK_BAD(cg_group_config_get_max_chunks(gc), 0);
    CHECK(cg_group_new(gc) == NULL);
    CHECK_EQ(cg_last_status(), CG_ESTATE);

    /* Never stale: a later success clears the error. */
    CHECK_EQ(cg_ring_capacity(d), 1);
    CHECK_EQ(cg_last_status(), CG_OK);
    CHECK_EQ(cg_last_errno(), 0);
    CHECK_EQ(strlen(cg_last_error()), 0);
    cg_ring_free(d);
    cg_ring_free(f);
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc2);
}

/* ---- growable structs ---- */

static void test_growable_struct_sizes(void) {
    uint8_t out[4096];
    size_t len = 0;
    uint8_t payload[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    cg_sender_config zero;
    memset(&zero, 0, sizeof zero);
    CHECK_EQ(cg_encode_heap(&zero, 1, NULL, 0, payload, 8, out, sizeof out, &len), CG_OK);
    size_t len0 = len;
    cg_sender_config init = CG_SENDER_CONFIG_INIT;
    CHECK_EQ(init.size, sizeof(cg_sender_config));
    CHECK_EQ(cg_encode_heap(&init, 1, NULL, 0, payload, 8, out, sizeof out, &len), CG_OK);
    CHECK_EQ(len, len0);
    /* A caller built against a newer, larger struct. */
    struct {
        cg_sender_config c;
        uint64_t newer_field;
    } big;
    memset(&big, 0, sizeof big);
    big.c.size = sizeof big;
    CHECK_EQ(cg_encode_heap(&big.c, 1, NULL, 0, payload, 8, out, sizeof out, &len), CG_OK);
    big.newer_field = 7; /* a field this library cannot honour */
    CHECK_EQ(cg_encode_heap(&big.c, 1, NULL, 0, payload, 8, out, sizeof out, &len), CG_EINVAL);
    CHECK(strstr(cg_last_error(), "newer header") != NULL);
    init.size = 3; /* garbage */
    CHECK_EQ(cg_encode_heap(&init, 1, NULL, 0, payload, 8, out, sizeof out, &len), CG_EINVAL);
    CHECK(strstr(cg_last_error(), "CG_SENDER_CONFIG_INIT") != NULL);

    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    cg_grid g = CG_GRID_INIT;
    g.time = (cg_grid_dim){.item = 0, .origin = 0, .step = 1, .count = 4, .stride = 1};
    g.heap_size = 16;
    g.heap_length_item = -1;
    CHECK_EQ(cg_chunk_stream_config_set_grid_place(cc, &g), CG_OK);
    struct {
        cg_grid g;
        uint64_t newer_field;
    } gbig;
    memset(&gbig, 0, sizeof gbig);
    gbig.g = g;
    gbig.g.size = sizeof gbig;
    CHECK_EQ(cg_chunk_stream_config_set_grid_place(cc, &gbig.g), CG_OK);
    gbig.newer_field = 1;
    CHECK_EQ(cg_chunk_stream_config_set_grid_place(cc, &gbig.g), CG_EINVAL);
    cg_chunk_stream_config_free(cc);
}

static void test_lossy_grace_setting(void) {
    cg_group_config *gc = cg_group_config_new();
    CHECK_EQ(cg_group_config_get_lossy_grace(gc), 5000); /* the default */
    CHECK_EQ(cg_group_config_set_lossy_grace(gc, 1500), CG_OK);
    CHECK_EQ(cg_group_config_get_lossy_grace(gc), 1500);
    CHECK_EQ(cg_group_config_set_lossy_grace(gc, -7), CG_OK);
    CHECK_EQ(cg_group_config_get_lossy_grace(gc), -1); /* never wait */
    CHECK_EQ(cg_group_config_set_lossy_grace(gc, (int64_t)4000 * 1000 * 1000), CG_EINVAL);
    CHECK_EQ(cg_group_config_get_lossy_grace(gc), -1); /* unchanged */
    cg_group_config_free(gc);
    CHECK_EQ(cg_group_config_get_lossy_grace(gc), 0);
    CHECK_EQ(cg_last_status(), CG_ESTATE);
}

int main(void) {
    RUN(test_ready_on_caller_thread_in_group_stop);
    RUN(test_ready_on_caller_thread_in_stream_stop);
    RUN(test_ready_on_caller_thread_in_group_free);
    RUN(test_log_swap_waits_for_old_callback);
    RUN(test_log_callback_may_replace_itself);
    RUN(test_group_free_hands_kept_chunks_to_release);
    RUN(test_group_free_after_partial_take);
    RUN(test_group_free_without_release_warns);
    RUN(test_ring_free_hands_back_chunks);
    RUN(test_refused_free_chunk_is_reported);
    RUN(test_bad_handle_results);
    RUN(test_growable_struct_sizes);
    RUN(test_lossy_grace_setting);
    TEST_MAIN_END();
}
