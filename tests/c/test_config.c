/* Configuration errors, getters, NULL and freed handles, logging. */
#include <pthread.h>

#include "common.h"

static void dummy_place(cg_place_data *d, size_t size, void *user) {
    (void)size;
    (void)user;
    d->chunk_id = -1;
}

static void test_version(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", CG_VERSION_MAJOR, CG_VERSION_MINOR, CG_VERSION_PATCH);
    CHECK(strcmp(cg_version(), want) == 0);
    CHECK(cg_last_error() != NULL);
}

static void test_stream_config(void) {
    cg_stream_config *c = cg_stream_config_new();
    REQUIRE(c != NULL);
    CHECK_EQ(cg_stream_config_get_max_heaps(c), 4);
    CHECK_EQ(cg_stream_config_get_substreams(c), 1);
    CHECK_EQ(cg_stream_config_get_stop_on_stop_item(c), 1);
    CHECK_EQ(cg_stream_config_get_allow_out_of_order(c), 0);
    CHECK_EQ(cg_stream_config_get_stream_id(c), 0);
    CHECK_EQ(cg_stream_config_get_explicit_start(c), 0);

    CHECK_EQ(cg_stream_config_set_max_heaps(c, 0), CG_EINVAL);
    CHECK(strstr(cg_last_error(), "max_heaps") != NULL);
    CHECK_EQ(cg_stream_config_set_substreams(c, 0), CG_EINVAL);
    CHECK(strstr(cg_last_error(), "substreams") != NULL);
    CHECK_EQ(cg_stream_config_get_max_heaps(c), 4);

    CHECK_EQ(cg_stream_config_set_max_heaps(c, 9), CG_OK);
    CHECK_EQ(cg_stream_config_set_substreams(c, 3), CG_OK);
    CHECK_EQ(cg_stream_config_set_stop_on_stop_item(c, 0), CG_OK);
    CHECK_EQ(cg_stream_config_set_allow_out_of_order(c, 1), CG_OK);
    CHECK_EQ(cg_stream_config_set_stream_id(c, 77), CG_OK);
    CHECK_EQ(cg_stream_config_set_explicit_start(c, 1), CG_OK);
    CHECK_EQ(cg_stream_config_get_max_heaps(c), 9);
    CHECK_EQ(cg_stream_config_get_substreams(c), 3);
    CHECK_EQ(cg_stream_config_get_stop_on_stop_item(c), 0);
    CHECK_EQ(cg_stream_config_get_allow_out_of_order(c), 1);
    CHECK_EQ(cg_stream_config_get_stream_id(c), 77);
    CHECK_EQ(cg_stream_config_get_explicit_start(c), 1);

    CHECK_EQ(cg_stream_config_stat_count(c), CG_NUM_STANDARD_STATS);
    CHECK(strcmp(cg_stream_config_stat_name(c, CG_STAT_PACKETS), "packets") == 0);
    CHECK(strcmp(cg_stream_config_stat_name(c, CG_STAT_BAD_PLACEMENT_HEAPS), "bad_placement_heaps") == 0);
    CHECK(strcmp(cg_stream_config_stat_name(c, CG_STAT_FAR_JUMP_HEAPS), "far_jump_heaps") == 0);
    CHECK_EQ(cg_stream_config_stat_mode(c, CG_STAT_MAX_BATCH), CG_STAT_MAXIMUM);
    size_t idx = 0;
    CHECK_EQ(cg_stream_config_add_stat(c, "mine", CG_STAT_COUNTER, &idx), CG_OK);
    CHECK_EQ(idx, CG_NUM_STANDARD_STATS);
    CHECK_EQ(cg_stream_config_add_stat(c, "mine", CG_STAT_COUNTER, &idx), CG_EINVAL);
    CHECK(strstr(cg_last_error(), "mine") != NULL);
    CHECK_EQ(cg_stream_config_add_stat(c, "packets", CG_STAT_COUNTER, &idx), CG_EINVAL);
    CHECK_EQ(cg_stream_config_add_stat(c, "other", 7, &idx), CG_EINVAL);
    CHECK_EQ(cg_stream_config_add_stat(c, NULL, CG_STAT_COUNTER, &idx), CG_EINVAL);
    CHECK_EQ(cg_stream_config_add_stat(c, "peak", CG_STAT_MAXIMUM, &idx), CG_OK);
    CHECK_EQ(idx, CG_NUM_STANDARD_STATS + 1);
    CHECK_EQ(cg_stream_config_stat_count(c), CG_NUM_STANDARD_STATS + 2);
    CHECK(strcmp(cg_stream_config_stat_name(c, CG_NUM_STANDARD_STATS + 1), "peak") == 0);
    CHECK_EQ(cg_stream_config_stat_mode(c, CG_NUM_STANDARD_STATS + 1), CG_STAT_MAXIMUM);
    CHECK(cg_stream_config_stat_name(c, 99) == NULL);
    CHECK(cg_stream_config_stat_mode(c, 99) < 0);
    CHECK_EQ(cg_stream_config_get_stat_index(c, "mine", &idx), CG_OK);
    CHECK_EQ(idx, CG_NUM_STANDARD_STATS);
    CHECK_EQ(cg_stream_config_get_stat_index(c, "heaps", &idx), CG_OK);
    CHECK_EQ(idx, CG_STAT_HEAPS);
    CHECK_EQ(cg_stream_config_get_stat_index(c, "nope", &idx), CG_EINVAL);
    cg_stream_config_free(c);
}

static void test_chunk_stream_config(void) {
    cg_chunk_stream_config *c = cg_chunk_stream_config_new();
    REQUIRE(c != NULL);
    CHECK_EQ(cg_chunk_stream_config_get_max_chunks(c), 2);
    CHECK_EQ(cg_chunk_stream_config_get_items(c, NULL, 0), 0);
    CHECK_EQ(cg_chunk_stream_config_get_max_heap_extra(c), 0);
    CHECK_EQ(cg_chunk_stream_config_get_packet_presence_payload_size(c), 0);
    CHECK_EQ(cg_chunk_stream_config_get_max_jump_chunks(c), 0); /* default: off */
    CHECK_EQ(cg_chunk_stream_config_set_max_jump_chunks(c, 4096), CG_OK);
    CHECK_EQ(cg_chunk_stream_config_get_max_jump_chunks(c), 4096);
    CHECK_EQ(cg_chunk_stream_config_set_max_jump_chunks(c, (uint64_t)1 << 63), CG_EINVAL);
    CHECK_EQ(cg_chunk_stream_config_get_max_jump_chunks(c), 4096);
    CHECK_EQ(CG_STAT_FAR_JUMP_HEAPS, 13);

    CHECK_EQ(cg_chunk_stream_config_set_max_chunks(c, 0), CG_EINVAL);
    CHECK(strstr(cg_last_error(), "max_chunks") != NULL);
    CHECK_EQ(cg_chunk_stream_config_set_items(c, NULL, 3), CG_EINVAL);
    CHECK_EQ(cg_chunk_stream_config_set_place(c, NULL, NULL), CG_EINVAL);
    CHECK_EQ(cg_chunk_stream_config_enable_packet_presence(c, 0), CG_EINVAL);

    uint64_t ids[3] = {CG_HEAP_CNT_ID, 0x1600, 0x4101}, got[3] = {0, 0, 0};
    CHECK_EQ(cg_chunk_stream_config_set_items(c, ids, 3), CG_OK);
    ids[0] = 999; /* copied */
    CHECK_EQ(cg_chunk_stream_config_get_items(c, got, 2), 3);
    CHECK_EQ(got[0], CG_HEAP_CNT_ID);
    CHECK_EQ(got[1], 0x1600);
    CHECK_EQ(got[2], 0);
    CHECK_EQ(cg_chunk_stream_config_set_max_chunks(c, 5), CG_OK);
    CHECK_EQ(cg_chunk_stream_config_get_max_chunks(c), 5);
    CHECK_EQ(cg_chunk_stream_config_set_max_heap_extra(c, 16), CG_OK);
    CHECK_EQ(cg_chunk_stream_config_get_max_heap_extra(c), 16);
    CHECK_EQ(cg_chunk_stream_config_enable_packet_presence(c, 1024), CG_OK);
    CHECK_EQ(cg_chunk_stream_config_get_packet_presence_payload_size(c), 1024);
    CHECK_EQ(cg_chunk_stream_config_disable_packet_presence(c), CG_OK);
    CHECK_EQ(cg_chunk_stream_config_get_packet_presence_payload_size(c), 0);

    /* Grid: invalid steps fail at once; item indices when a stream is made. */
    cg_grid g;
    memset(&g, 0, sizeof g);
    g.time.item = 1;
    g.time.step = 0;
    g.time.count = 2;
    g.heap_size = 64;
    g.heap_length_item = -1;
    CHECK_EQ(cg_chunk_stream_config_set_grid_place(c, &g), CG_EINVAL);
    CHECK(strstr(cg_last_error(), "step") != NULL);
    CHECK_EQ(cg_chunk_stream_config_set_grid_place(c, NULL), CG_EINVAL);
    g.time.step = 1;
    CHECK_EQ(cg_chunk_stream_config_set_grid_place(c, &g), CG_OK);
    cg_chunk_stream_config_free(c);
}

static void test_group_config(void) {
    cg_group_config *c = cg_group_config_new();
    REQUIRE(c != NULL);
    CHECK_EQ(cg_group_config_get_max_chunks(c), 2);
    CHECK_EQ(cg_group_config_get_eviction_mode(c), CG_EVICT_LOSSY);
    CHECK_EQ(cg_group_config_set_max_chunks(c, 0), CG_EINVAL);
    CHECK_EQ(cg_group_config_set_eviction_mode(c, 5), CG_EINVAL);
    CHECK(strstr(cg_last_error(), "eviction") != NULL);
    CHECK_EQ(cg_group_config_set_eviction_mode(c, CG_EVICT_LOSSLESS), CG_OK);
    CHECK_EQ(cg_group_config_get_eviction_mode(c), CG_EVICT_LOSSLESS);
    CHECK_EQ(cg_group_config_set_max_chunks(c, 3), CG_OK);
    CHECK_EQ(cg_group_config_get_max_chunks(c), 3);
    /* A callback group needs both callbacks. */
    CHECK(cg_group_new(c) == NULL);
    CHECK(cg_last_error()[0] != '\0');
    cg_group_config_free(c);
}

/* Member window larger than the group's, no place function, grid item
 * out of range, emplace after a reader: all refused. */
static void test_group_errors(void) {
    cg_group_config *gc = cg_group_config_new();
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    cg_ring *data = cg_ring_new(4), *free_ring = cg_ring_new(4);
    REQUIRE(gc && sc && cc && data && free_ring);
    cg_group_config_set_max_chunks(gc, 2);
    cg_group *g = cg_ring_group_new(gc, data, free_ring);
    REQUIRE(g != NULL);

    CHECK(cg_group_emplace_back(g, sc, cc) == NULL); /* no place function */
    CHECK(strstr(cg_last_error(), "place") != NULL);
    cg_chunk_stream_config_set_place(cc, dummy_place, NULL);
    cg_chunk_stream_config_set_max_chunks(cc, 3);
    CHECK(cg_group_emplace_back(g, sc, cc) == NULL);
    CHECK(strstr(cg_last_error(), "max_chunks") != NULL);
    CHECK_EQ(cg_group_size(g), 0);

    cg_grid grid;
    memset(&grid, 0, sizeof grid);
    grid.time.item = 2; /* only one item is requested */
    grid.time.step = 1;
    grid.time.count = 1;
    grid.heap_size = 8;
    grid.heap_length_item = -1;
    uint64_t id = 0x1600;
    cg_chunk_stream_config_set_items(cc, &id, 1);
    cg_chunk_stream_config_set_max_chunks(cc, 2);
    CHECK_EQ(cg_chunk_stream_config_set_grid_place(cc, &grid), CG_OK);
    CHECK(cg_group_emplace_back(g, sc, cc) == NULL);
    CHECK(strstr(cg_last_error(), "item") != NULL);
    /* Extra items need room in max_heap_extra. */
    size_t extra_item = 0;
    grid.time.item = 0;
    grid.extra_items = &extra_item;
    grid.n_extra_items = 1;
    CHECK_EQ(cg_chunk_stream_config_set_grid_place(cc, &grid), CG_OK);
    CHECK(cg_group_emplace_back(g, sc, cc) == NULL);
    CHECK(strstr(cg_last_error(), "max_heap_extra") != NULL);
    cg_chunk_stream_config_set_max_heap_extra(cc, 8);
    cg_stream *m0 = cg_group_emplace_back(g, sc, cc);
    CHECK(m0 != NULL);

    cg_chunk_stream_config_set_place(cc, dummy_place, NULL);
    cg_stream *m1 = cg_group_emplace_back(g, sc, cc);
    REQUIRE(m1 != NULL);
    CHECK_EQ(cg_group_size(g), 2);
    CHECK(cg_group_get(g, 0) == m0);
    CHECK(cg_group_get(g, 1) == m1);
    CHECK(cg_group_get(g, 1) == m1);
    CHECK(cg_group_get(g, 2) == NULL);

    /* A member is freed with its group. */
    cg_stream_free(m1);
    CHECK(strstr(cg_last_error(), "member") != NULL);
    CHECK_EQ(cg_stream_stat_count(m1), CG_NUM_STANDARD_STATS);

    uint8_t empty = 0;
    CHECK_EQ(cg_stream_add_buffer_reader(m0, &empty, 0), CG_OK);
    /* A reader that brought no data does not close the group to members
     * (refusal after data: test_group.c test_emplace_back_rule). */
    CHECK(cg_group_emplace_back(g, sc, cc) != NULL);
    CHECK_EQ(cg_group_size(g), 3);
    /* A ring group has no allocate of its own to give a standalone chunk. */
    CHECK_EQ(cg_chunk_ring_stream_add_free_chunk(m0, NULL), CG_ESTATE);

    CHECK_EQ(cg_group_stop(g), CG_OK);
    CHECK_EQ(cg_group_stop(g), CG_OK); /* idempotent */
    CHECK_EQ(cg_stream_add_buffer_reader(m0, &empty, 1), CG_ESTATE);
    cg_group_free(g);
    /* Member handles die with the group. */
    CHECK_EQ(cg_stream_stat_count(m0), 0);
    CHECK_EQ(cg_stream_stop(m1), CG_ESTATE);
    cg_ring_free(data);
    cg_ring_free(free_ring);
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc);
    cg_group_config_free(gc);
}

/* Standalone streams: missing callbacks, and NULL/wrong handles. */
static void test_standalone_errors(void) {
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    cg_chunk_stream_config_set_place(cc, dummy_place, NULL);
    CHECK(cg_chunk_stream_new(sc, cc) == NULL); /* no allocate/ready */
    CHECK(cg_chunk_ring_stream_new(sc, cc, NULL, NULL) == NULL);
    CHECK(cg_chunk_stream_new((cg_stream_config *)cc, cc) == NULL); /* wrong handle type */
    CHECK_EQ(cg_last_errno(), 0);
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc);
}

static void test_null_handles(void) {
    CHECK_EQ(cg_stream_config_set_max_heaps(NULL, 1), CG_ESTATE);
    CHECK(strstr(cg_last_error(), "NULL") != NULL);
    CHECK_EQ(cg_stream_config_get_max_heaps(NULL), 0);
    CHECK_EQ(cg_chunk_stream_config_set_max_chunks(NULL, 1), CG_ESTATE);
    CHECK_EQ(cg_group_config_set_max_chunks(NULL, 1), CG_ESTATE);
    CHECK_EQ(cg_ring_push(NULL, NULL), CG_ESTATE);
    CHECK(cg_ring_stop(NULL) < 0);
    CHECK_EQ(cg_ring_size(NULL), 0);
    CHECK_EQ(cg_ring_data_fd(NULL), -1);
    CHECK(cg_group_new(NULL) == NULL);
    CHECK(cg_ring_group_new(NULL, NULL, NULL) == NULL);
    CHECK(cg_group_emplace_back(NULL, NULL, NULL) == NULL);
    CHECK_EQ(cg_group_size(NULL), 0);
    CHECK(cg_group_get(NULL, 0) == NULL);
    CHECK_EQ(cg_group_stop(NULL), CG_ESTATE);
    CHECK_EQ(cg_group_take_kept(NULL, NULL, 0), 0);
    CHECK_EQ(cg_stream_start(NULL), CG_ESTATE);
    CHECK_EQ(cg_stream_stop(NULL), CG_ESTATE);
    CHECK_EQ(cg_stream_stats(NULL, NULL, 0), CG_ESTATE);
    CHECK(cg_stream_stat_name(NULL, 0) == NULL);
    CHECK(cg_stream_error(NULL) == NULL);
    CHECK_EQ(cg_stream_add_udp_reader(NULL, "127.0.0.1", 0, 0, 0), CG_ESTATE);
    CHECK_EQ(cg_sender_flush(NULL), CG_ESTATE);
    CHECK_EQ(cg_sender_send_stop(NULL, -1), CG_ESTATE);
    /* Frees of NULL are no-ops. */
    cg_stream_config_free(NULL);
    cg_chunk_stream_config_free(NULL);
    cg_group_config_free(NULL);
    cg_ring_free(NULL);
    cg_group_free(NULL);
    cg_stream_free(NULL);
    cg_sender_free(NULL);
    cg_set_log_callback(NULL, NULL);
}

/* Every kind of handle: use after free and double free are CG_ESTATE. */
static void test_use_after_free(void) {
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    cg_group_config *gc = cg_group_config_new();
    cg_ring *r = cg_ring_new(2);
    REQUIRE(sc && cc && gc && r);
    cg_stream_config_free(sc);
    cg_chunk_stream_config_free(cc);
    cg_group_config_free(gc);
    cg_ring_free(r);
    CHECK_EQ(cg_stream_config_set_max_heaps(sc, 2), CG_ESTATE);
    CHECK(strstr(cg_last_error(), "freed") != NULL);
    CHECK_EQ(cg_chunk_stream_config_set_max_chunks(cc, 2), CG_ESTATE);
    CHECK_EQ(cg_group_config_set_max_chunks(gc, 2), CG_ESTATE);
    cg_chunk c;
    memset(&c, 0, sizeof c);
    CHECK_EQ(cg_ring_push(r, &c), CG_ESTATE);
    cg_chunk *out = NULL;
    CHECK_EQ(cg_ring_try_pop(r, &out), CG_ESTATE);
    CHECK(cg_ring_stopped(r) < 0);
    /* double free */
    cg_stream_config_free(sc);
    CHECK(strstr(cg_last_error(), "freed") != NULL);
    cg_chunk_stream_config_free(cc);
    cg_group_config_free(gc);
    cg_ring_free(r);
    /* handles are never reused */
    cg_ring *r2 = cg_ring_new(2);
    CHECK(r2 != r);
    CHECK_EQ(cg_ring_push(r, &c), CG_ESTATE);
    cg_ring_free(r2);
    /* one kind of handle is not another */
    cg_ring *r3 = cg_ring_new(1);
    CHECK_EQ(cg_stream_config_set_max_heaps((cg_stream_config *)r3, 2), CG_ESTATE);
    cg_stream_config_free((cg_stream_config *)r3);
    CHECK_EQ(cg_ring_capacity(r3), 1); /* still alive */
    cg_ring_free(r3);
}

/* The last error is per thread. */
static void *other_thread_error(void *arg) {
    (void)arg;
    if (cg_last_error()[0] != '\0')
        return (void *)1; /* a fresh thread starts clean */
    cg_ring_new(0);
    return strstr(cg_last_error(), "capacity") ? NULL : (void *)2;
}

static void test_thread_local_error(void) {
    CHECK_EQ(cg_stream_config_set_max_heaps(NULL, 1), CG_ESTATE);
    pthread_t t;
    void *res = (void *)3;
    REQUIRE(pthread_create(&t, NULL, other_thread_error, NULL) == 0);
    pthread_join(t, &res);
    CHECK(res == NULL);
    CHECK(strstr(cg_last_error(), "NULL") != NULL); /* ours is unchanged */
}

typedef struct log_state {
    pthread_mutex_t mu;
    int n;
    int errors;
    char last[256];
} log_state;

static void on_log(int level, const char *msg, void *user) {
    log_state *s = (log_state *)user;
    pthread_mutex_lock(&s->mu);
    s->n++;
    if (level == CG_LOG_ERROR)
        s->errors++;
    snprintf(s->last, sizeof s->last, "%s", msg);
    pthread_mutex_unlock(&s->mu);
}

/* A reader failure is logged through the callback and kept as the
 * stream's error. */
static void test_log_callback(void) {
    log_state ls;
    memset(&ls, 0, sizeof ls);
    pthread_mutex_init(&ls.mu, NULL);
    cg_set_log_callback(on_log, &ls);

    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    cg_chunk_stream_config_set_place(cc, dummy_place, NULL);
    cg_ring *data = cg_ring_new(2), *free_ring = cg_ring_new(2);
    cg_stream *s = cg_chunk_ring_stream_new(sc, cc, data, free_ring);
    REQUIRE(s != NULL);
    CHECK(cg_stream_error(s) == NULL);
    uint8_t junk[64];
    memset(junk, 0xAB, sizeof junk);
    CHECK_EQ(cg_stream_add_buffer_reader(s, junk, sizeof junk), CG_OK);
    cg_chunk *out = NULL;
    /* The data ring stops when the only producer's input has ended. */
    CHECK_EQ(cg_ring_pop_timeout(data, &out, T_TIMEOUT_US), CG_ESTOPPED);
    const char *err = cg_stream_error(s);
    CHECK(err != NULL && strstr(err, "bad packet") != NULL);
    cg_stream_free(s);
    pthread_mutex_lock(&ls.mu);
    CHECK(ls.errors >= 1);
    CHECK(strstr(ls.last, "reader failed") != NULL);
    pthread_mutex_unlock(&ls.mu);
    cg_set_log_callback(NULL, NULL);
    cg_ring_free(data);
    cg_ring_free(free_ring);
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc);
    pthread_mutex_destroy(&ls.mu);
}

static void test_encode_errors(void) {
    uint8_t out[16] = {0};
    size_t need = 0;
    CHECK_EQ(cg_encode_heap(NULL, 1, NULL, 0, out, 8, out, sizeof out, &need), CG_EFULL);
    CHECK(need > sizeof out);
    cg_item bad = {CG_HEAP_CNT_ID, 5}; /* the encoder sets the heap counter itself */
    CHECK_EQ(cg_encode_heap(NULL, 1, &bad, 1, NULL, 0, out, sizeof out, &need), CG_EINVAL);
    cg_sender_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.addr_bits = 13;
    CHECK_EQ(cg_encode_stop(&cfg, 1, out, sizeof out, &need), CG_EINVAL);
    CHECK(cg_udp_sender_new(NULL, NULL, 0) == NULL);
    const char *bad_dest = "no-such-host.invalid:x";
    CHECK(cg_udp_sender_new(NULL, &bad_dest, 1) == NULL);
    CHECK(cg_last_error()[0] != '\0');
}

int main(void) {
    RUN(test_version);
    RUN(test_stream_config);
    RUN(test_chunk_stream_config);
    RUN(test_group_config);
    RUN(test_group_errors);
    RUN(test_standalone_errors);
    RUN(test_null_handles);
    RUN(test_use_after_free);
    RUN(test_thread_local_error);
    RUN(test_log_callback);
    RUN(test_encode_errors);
    TEST_MAIN_END();
}
