/* Small test harness shared by the C tests: checks that count failures
 * instead of aborting, chunk helpers, and encoding of test heaps. */
#ifndef CG_TEST_COMMON_H
#define CG_TEST_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkgroup.h"

static int t_failed_checks;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed (last error: %s)\n",      \
                    __FILE__, __LINE__, #cond, cg_last_error());                 \
            t_failed_checks++;                                                   \
        }                                                                        \
    } while (0)

#define CHECK_EQ(a, b)                                                           \
    do {                                                                         \
        long long a_ = (long long)(a), b_ = (long long)(b);                      \
        if (a_ != b_) {                                                          \
            fprintf(stderr, "  %s:%d: %s == %lld, want %s == %lld (last error: %s)\n", \
                    __FILE__, __LINE__, #a, a_, #b, b_, cg_last_error());        \
            t_failed_checks++;                                                   \
        }                                                                        \
    } while (0)

/* Fatal check: stop the current test (it returns). */
#define REQUIRE(cond)                                                            \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "  %s:%d: REQUIRE(%s) failed (last error: %s)\n",    \
                    __FILE__, __LINE__, #cond, cg_last_error());                 \
            t_failed_checks++;                                                   \
            return;                                                              \
        }                                                                        \
    } while (0)

static int t_passed, t_failed;

/* Every test prints exactly one PASS or FAIL line; run.sh counts them. */
#define RUN(fn)                                                                  \
    do {                                                                         \
        int before_ = t_failed_checks;                                           \
        fn();                                                                    \
        if (t_failed_checks == before_) {                                        \
            printf("PASS %s\n", #fn);                                            \
            t_passed++;                                                          \
        } else {                                                                 \
            printf("FAIL %s\n", #fn);                                            \
            t_failed++;                                                          \
        }                                                                        \
        fflush(stdout);                                                          \
    } while (0)

#define TEST_MAIN_END() return t_failed ? 1 : 0

/* Waits are bounded: a test that would hang fails instead. */
#define T_TIMEOUT_US ((int64_t)20 * 1000 * 1000)

/* ---- chunks ---- */

static inline cg_chunk *t_chunk_new(size_t n_present, size_t data_size, size_t extra_size) {
    cg_chunk *c = (cg_chunk *)calloc(1, sizeof *c);
    c->chunk_id = -1;
    c->present = (uint8_t *)calloc(n_present ? n_present : 1, 1);
    c->present_size = n_present;
    c->data = (uint8_t *)calloc(data_size ? data_size : 1, 1);
    c->data_size = data_size;
    if (extra_size) {
        c->extra = (uint8_t *)calloc(extra_size, 1);
        c->extra_size = extra_size;
    }
    return c;
}

static inline void t_chunk_free(cg_chunk *c) {
    if (!c)
        return;
    free(c->present);
    free(c->data);
    free(c->extra);
    free(c);
}

/* ---- test data ---- */

/* Payload byte at offset off of heap cnt: distinct per heap and position. */
static inline uint8_t t_pattern(uint64_t cnt, size_t off) {
    return (uint8_t)(cnt * 131u + off * 7u + (off >> 8) + 1u);
}

/* A growable byte buffer of encoded packets. */
typedef struct t_buf {
    uint8_t *data;
    size_t len, cap;
} t_buf;

static inline void t_buf_free(t_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static inline void t_buf_reserve(t_buf *b, size_t extra) {
    if (b->len + extra <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    b->data = (uint8_t *)realloc(b->data, cap);
    b->cap = cap;
}

/* Appends heap cnt (payload t_pattern, the given immediate items). */
static inline int t_append_heap(t_buf *b, const cg_sender_config *cfg, uint64_t cnt,
                         const cg_item *items, size_t n_items, size_t heap_size) {
    uint8_t *payload = (uint8_t *)malloc(heap_size ? heap_size : 1);
    for (size_t i = 0; i < heap_size; i++)
        payload[i] = t_pattern(cnt, i);
    size_t need = 0;
    int rc = cg_encode_heap(cfg, cnt, items, n_items, payload, heap_size, NULL, 0, &need);
    if (rc == CG_EFULL) {
        t_buf_reserve(b, need);
        rc = cg_encode_heap(cfg, cnt, items, n_items, payload, heap_size, b->data + b->len, b->cap - b->len, &need);
        if (rc == CG_OK)
            b->len += need;
    }
    free(payload);
    return rc;
}

static inline int t_append_stop(t_buf *b, const cg_sender_config *cfg, uint64_t cnt) {
    size_t need = 0;
    int rc = cg_encode_stop(cfg, cnt, NULL, 0, &need);
    if (rc != CG_EFULL)
        return rc;
    t_buf_reserve(b, need);
    rc = cg_encode_stop(cfg, cnt, b->data + b->len, b->cap - b->len, &need);
    if (rc == CG_OK)
        b->len += need;
    return rc;
}

#endif
