/* Chunk ringbuffer semantics: blocking across threads, try variants,
 * timeouts, stop, producers, readiness fds with poll(). */
#include <poll.h>
#include <pthread.h>
#include <time.h>

#include "common.h"

static int readable(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_try_and_fifo(void) {
    CHECK(cg_ring_new(0) == NULL);
    CHECK(strstr(cg_last_error(), "capacity") != NULL);
    cg_ring *r = cg_ring_new(3);
    REQUIRE(r != NULL);
    CHECK_EQ(cg_ring_capacity(r), 3);
    CHECK_EQ(cg_ring_size(r), 0);
    cg_chunk c[4];
    memset(c, 0, sizeof c);
    cg_chunk *out = &c[0];
    CHECK_EQ(cg_ring_try_pop(r, &out), CG_EEMPTY);
    CHECK(out == NULL);
    CHECK_EQ(cg_ring_try_push(r, NULL), CG_EINVAL);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(cg_ring_try_push(r, &c[i]), CG_OK);
    CHECK_EQ(cg_ring_try_push(r, &c[3]), CG_EFULL);
    CHECK_EQ(cg_ring_size(r), 3);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(cg_ring_try_pop(r, &out), CG_OK);
        CHECK(out == &c[i]);
    }
    CHECK_EQ(cg_ring_stopped(r), 0);
    cg_ring_free(r);
}

static void test_timeouts(void) {
    cg_ring *r = cg_ring_new(1);
    cg_chunk c[2];
    cg_chunk *out = NULL;
    CHECK_EQ(cg_ring_pop_timeout(r, &out, 20000), CG_ETIMEDOUT);
    CHECK_EQ(cg_ring_push_timeout(r, &c[0], 20000), CG_OK);
    CHECK_EQ(cg_ring_push_timeout(r, &c[1], 20000), CG_ETIMEDOUT);
    CHECK_EQ(cg_ring_pop_timeout(r, &out, 20000), CG_OK);
    CHECK(out == &c[0]);
    cg_ring_free(r);
}

typedef struct prod_arg {
    cg_ring *r;
    cg_chunk *chunks;
    int n;
    int rc;
} prod_arg;

static void *producer(void *p) {
    prod_arg *a = (prod_arg *)p;
    for (int i = 0; i < a->n; i++) {
        int rc = cg_ring_push(a->r, &a->chunks[i]);
        if (rc != CG_OK) {
            a->rc = rc;
            return NULL;
        }
    }
    return NULL;
}

/* A producer thread blocks on a full ring of 2 while the consumer pops
 * 200 chunks in order. */
static void test_blocking_threads(void) {
    enum { N = 200 };
    cg_ring *r = cg_ring_new(2);
    cg_chunk *chunks = (cg_chunk *)calloc(N, sizeof *chunks);
    prod_arg a = {r, chunks, N, CG_OK};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, producer, &a) == 0);
    for (int i = 0; i < N; i++) {
        cg_chunk *out = NULL;
        int rc = cg_ring_pop_timeout(r, &out, T_TIMEOUT_US);
        CHECK_EQ(rc, CG_OK);
        if (rc != CG_OK)
            break;
        CHECK(out == &chunks[i]);
    }
    pthread_join(t, NULL);
    CHECK_EQ(a.rc, CG_OK);
    cg_ring_free(r);
    free(chunks);
}

typedef struct waiter_arg {
    cg_ring *r;
    int push; /* 1: push into a full ring, 0: pop from an empty one */
    int rc;
} waiter_arg;

static void *waiter(void *p) {
    waiter_arg *a = (waiter_arg *)p;
    static cg_chunk c;
    if (a->push) {
        a->rc = cg_ring_push(a->r, &c);
    } else {
        cg_chunk *out = NULL;
        a->rc = cg_ring_pop(a->r, &out);
    }
    return NULL;
}

/* Stop wakes blocked callers; pops drain what is left, then ESTOPPED. */
static void test_stop(void) {
    cg_ring *r = cg_ring_new(1);
    waiter_arg pop = {r, 0, -1};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, waiter, &pop) == 0);
    sleep_ms(50);
    CHECK_EQ(cg_ring_stop(r), 1);
    CHECK_EQ(cg_ring_stop(r), 0);
    pthread_join(t, NULL);
    CHECK_EQ(pop.rc, CG_ESTOPPED);
    CHECK_EQ(cg_ring_stopped(r), 1);
    cg_chunk c;
    CHECK_EQ(cg_ring_try_push(r, &c), CG_ESTOPPED);
    cg_ring_free(r);

    r = cg_ring_new(1);
    CHECK_EQ(cg_ring_push(r, &c), CG_OK);
    waiter_arg push = {r, 1, -1};
    REQUIRE(pthread_create(&t, NULL, waiter, &push) == 0);
    sleep_ms(50);
    CHECK_EQ(cg_ring_stop(r), 1);
    pthread_join(t, NULL);
    CHECK_EQ(push.rc, CG_ESTOPPED);
    cg_chunk *out = NULL;
    CHECK_EQ(cg_ring_pop(r, &out), CG_OK); /* drains after stop */
    CHECK(out == &c);
    CHECK_EQ(cg_ring_pop(r, &out), CG_ESTOPPED);
    CHECK_EQ(cg_ring_try_pop(r, &out), CG_ESTOPPED);
    cg_ring_free(r);

    /* Freeing a ring wakes a blocked popper too. */
    r = cg_ring_new(1);
    waiter_arg pop2 = {r, 0, -1};
    REQUIRE(pthread_create(&t, NULL, waiter, &pop2) == 0);
    sleep_ms(50);
    cg_ring_free(r);
    pthread_join(t, NULL);
    CHECK(pop2.rc == CG_ESTOPPED || pop2.rc == CG_ESTATE);
}

static void test_producers(void) {
    cg_ring *r = cg_ring_new(2);
    CHECK_EQ(cg_ring_remove_producer(r), 0); /* none registered: no-op */
    CHECK_EQ(cg_ring_stopped(r), 0);
    cg_ring_add_producer(r);
    cg_ring_add_producer(r);
    CHECK_EQ(cg_ring_remove_producer(r), 0);
    CHECK_EQ(cg_ring_stopped(r), 0);
    CHECK_EQ(cg_ring_remove_producer(r), 1);
    CHECK_EQ(cg_ring_stopped(r), 1);
    cg_ring_free(r);
}

static void test_fds(void) {
    cg_ring *r = cg_ring_new(1);
    int dfd = cg_ring_data_fd(r), sfd = cg_ring_space_fd(r);
    REQUIRE(dfd >= 0 && sfd >= 0);
    CHECK_EQ(cg_ring_data_fd(r), dfd); /* the same fd each time */
    CHECK(!readable(dfd));
    CHECK(readable(sfd));
    cg_chunk c;
    CHECK_EQ(cg_ring_push(r, &c), CG_OK);
    CHECK(readable(dfd));
    CHECK(!readable(sfd));
    cg_chunk *out = NULL;
    CHECK_EQ(cg_ring_pop(r, &out), CG_OK);
    CHECK(!readable(dfd));
    CHECK(readable(sfd));

    /* A poll() that blocks is woken by a push from another thread. */
    prod_arg a = {r, &c, 1, CG_OK};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, producer, &a) == 0);
    struct pollfd p = {dfd, POLLIN, 0};
    CHECK_EQ(poll(&p, 1, 20000), 1);
    pthread_join(t, NULL);
    CHECK_EQ(cg_ring_try_pop(r, &out), CG_OK);

    CHECK_EQ(cg_ring_stop(r), 1);
    CHECK(readable(dfd)); /* stopped: both readable for good */
    CHECK(readable(sfd));
    cg_ring_free(r);
}

int main(void) {
    RUN(test_try_and_fifo);
    RUN(test_timeouts);
    RUN(test_blocking_threads);
    RUN(test_stop);
    RUN(test_producers);
    RUN(test_fds);
    TEST_MAIN_END();
}
