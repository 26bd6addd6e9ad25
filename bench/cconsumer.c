/* The memory scenario of shared/spec/performance.md driven from C: the
 * consumer is a thread of ours, as in a C or Python program, so comparing
 * it with the Go-driven run (chunkgroup-bench memory) and the Python-driven
 * one (bench.py) separates what a foreign consumer thread costs from what
 * Python adds (docs/tuning.md). Same group settings as bench.py: LOSSLESS,
 * group window 4, member windows 2, 16 chunks, max_heaps 4, the C place
 * function of bench/place.c.
 *
 * usage: cconsumer FILE SCENARIO N REPEAT [poll|pop|cb [K]]
 *   FILE      packets from `chunkgroup-bench packets --scenario S --out FILE`
 *   poll      wait with poll() on the data fd, then cg_ring_try_pop (the
 *             header's advice, and what Python does); pop: cg_ring_pop;
 *             cb: a callback group, chunks passed in C memory (see cbq)
 * Prints one JSON line per run. `make bench-c` builds it and runs small
 * N=1,2,4 with poll, pop and cb. */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "chunkgroup.h"

struct bench_place_ctx {
    int64_t heaps_per_chunk;
    int64_t heap_payload;
};
void bench_place(void *data, size_t data_size, void *user); /* bench/place.c */

enum { NCHUNKS = 16 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static void keep(void *user) { (void)user; } /* the buffers outlive every run */

static void die(const char *what) {
    fprintf(stderr, "cconsumer: %s: %s\n", what, cg_last_error());
    exit(1);
}

/* "cb": a callback group (cg_group_new) whose allocate and ready run on
 * the members' threads and meet the consumer in C memory: a FIFO of
 * readied chunks and a stack of free ones, one mutex and two condition
 * variables. The consumer never calls the library per chunk, so this
 * measures what rings whose consumer side stays out of the Go runtime
 * could give (docs/tuning.md, fourth round). With K > 1 (`cb K`) ready
 * wakes the consumer only once K chunks wait, and the consumer, woken or
 * not, looks again every millisecond: fewer wake-ups for some latency. */
struct cbq {
    pthread_mutex_t mu;
    pthread_cond_t data_cv, free_cv;
    cg_chunk *data[NCHUNKS], *free[NCHUNKS];
    size_t head, n, nfree;
    size_t wake_at; /* wake the consumer once this many chunks wait (cb K) */
    int data_waiting, free_waiting;
};

static cg_chunk *cb_allocate(int64_t chunk_id, uint64_t *batch_stats, void *user) {
    (void)batch_stats;
    struct cbq *q = user;
    pthread_mutex_lock(&q->mu);
    while (q->nfree == 0) {
        q->free_waiting++;
        pthread_cond_wait(&q->free_cv, &q->mu);
        q->free_waiting--;
    }
    cg_chunk *c = q->free[--q->nfree];
    pthread_mutex_unlock(&q->mu);
    c->chunk_id = chunk_id;
    return c;
}

static void cb_ready(cg_chunk *c, uint64_t *batch_stats, void *user) {
    (void)batch_stats;
    struct cbq *q = user;
    pthread_mutex_lock(&q->mu);
    q->data[(q->head + q->n++) % NCHUNKS] = c; /* at most NCHUNKS chunks exist */
    int wake = q->data_waiting && q->n >= q->wake_at;
    pthread_mutex_unlock(&q->mu);
    if (wake)
        pthread_cond_signal(&q->data_cv);
}

static struct timespec after_ns(long ns) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += ns;
    t.tv_sec += t.tv_nsec / 1000000000;
    t.tv_nsec %= 1000000000;
    return t;
}

/* The consumer's side: the next readied chunk, NULL after 5 s without
 * one (every heap arrives in memory; the limit only keeps a broken run
 * from hanging). */
static cg_chunk *cb_pop(struct cbq *q) {
    pthread_mutex_lock(&q->mu);
    struct timespec give_up = after_ns(5000000000L);
    while (q->n == 0) {
        struct timespec t = q->wake_at > 1 ? after_ns(1000000) : give_up;
        q->data_waiting++;
        pthread_cond_timedwait(&q->data_cv, &q->mu, &t);
        q->data_waiting--;
        struct timespec now_rt = after_ns(0);
        if (q->n == 0 && (now_rt.tv_sec > give_up.tv_sec ||
                          (now_rt.tv_sec == give_up.tv_sec && now_rt.tv_nsec >= give_up.tv_nsec))) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
    }
    cg_chunk *c = q->data[q->head];
    q->head = (q->head + 1) % NCHUNKS;
    q->n--;
    pthread_mutex_unlock(&q->mu);
    return c;
}

static void cb_give_back(struct cbq *q, cg_chunk *c) {
    memset(c->present, 0, c->present_size);
    pthread_mutex_lock(&q->mu);
    q->free[q->nfree++] = c;
    int wake = q->free_waiting;
    pthread_mutex_unlock(&q->mu);
    if (wake)
        pthread_cond_signal(&q->free_cv);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s FILE large|small N REPEAT [poll|pop|cb [K]]\n", argv[0]);
        return 2;
    }
    int large = strcmp(argv[2], "large") == 0;
    int n = atoi(argv[3]), repeat = atoi(argv[4]);
    const char *wait = argc < 6 ? "poll" : argv[5];
    int use_poll = strcmp(wait, "poll") == 0, use_cb = strcmp(wait, "cb") == 0;
    if (!use_poll && !use_cb && strcmp(wait, "pop") != 0)
        return 2;
    size_t wake_at = use_cb && argc > 6 ? (size_t)atoi(argv[6]) : 1;
    if (wake_at < 1 || wake_at > NCHUNKS)
        return 2;
    struct bench_place_ctx ctx = {large ? 64 : 1024, large ? 65536 : 1024};
    size_t packet_payload = large ? 8192 : 1024;
    size_t chunk_bytes = (size_t)ctx.heaps_per_chunk * (size_t)ctx.heap_payload;
    if (n < 1 || n > 64 || repeat < 1)
        return 2;

    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size_t size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *all = malloc(size);
    if (!all || size < 8 || fread(all, 1, size, f) != size) {
        fprintf(stderr, "cconsumer: cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    /* Every heap has the same encoded size, packets_per_heap packets of a
     * header (8 bytes, then 8 per item pointer; the count is in bytes 6-7)
     * and packet_payload bytes: heap i is bytes [i*heap_bytes, (i+1)*heap_bytes). */
    size_t packets_per_heap = (size_t)ctx.heap_payload / packet_payload;
    size_t header_bytes = 8 + 8 * (size_t)((all[6] << 8) | all[7]);
    size_t heap_bytes = packets_per_heap * (header_bytes + packet_payload);
    size_t heaps = size / heap_bytes;
    if (heaps * heap_bytes != size) {
        fprintf(stderr, "cconsumer: file size %zu is not a whole number of %zu-byte heaps\n", size, heap_bytes);
        return 1;
    }
    uint8_t **bufs = calloc((size_t)n, sizeof *bufs);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    for (int m = 0; m < n; m++) {
        bufs[m] = malloc(size / (size_t)n + heap_bytes);
        for (size_t h = (size_t)m; h < heaps; h += (size_t)n) {
            memcpy(bufs[m] + lens[m], all + h * heap_bytes, heap_bytes);
            lens[m] += heap_bytes;
        }
    }
    free(all);

    static cg_chunk chunks[NCHUNKS];
    for (int i = 0; i < NCHUNKS; i++) {
        chunks[i].present = calloc((size_t)ctx.heaps_per_chunk, 1);
        chunks[i].present_size = (size_t)ctx.heaps_per_chunk;
        chunks[i].data = malloc(chunk_bytes);
        chunks[i].data_size = chunk_bytes;
        memset(chunks[i].data, 1, chunk_bytes); /* resident before the clock */
    }
    uint64_t items[] = {CG_HEAP_CNT_ID, CG_HEAP_LENGTH_ID};
    for (int rep = 0; rep < repeat; rep++) {
        cg_ring *data_ring = NULL, *free_ring = NULL;
        struct cbq q = {.mu = PTHREAD_MUTEX_INITIALIZER, .data_cv = PTHREAD_COND_INITIALIZER,
                        .free_cv = PTHREAD_COND_INITIALIZER, .wake_at = wake_at};
        cg_group_config *gcfg = cg_group_config_new();
        cg_group_config_set_max_chunks(gcfg, 4);
        cg_group_config_set_eviction_mode(gcfg, CG_EVICT_LOSSLESS);
        cg_group *group;
        if (use_cb) {
            cg_group_config_set_allocate(gcfg, cb_allocate, &q);
            cg_group_config_set_ready(gcfg, cb_ready, &q);
            group = cg_group_new(gcfg);
        } else {
            data_ring = cg_ring_new(NCHUNKS);
            free_ring = cg_ring_new(NCHUNKS);
            group = cg_ring_group_new(gcfg, data_ring, free_ring);
        }
        if (!group)
            die(use_cb ? "cg_group_new" : "cg_ring_group_new");
        for (int m = 0; m < n; m++) {
            cg_stream_config *scfg = cg_stream_config_new();
            cg_stream_config_set_max_heaps(scfg, 4);
            cg_stream_config_set_stream_id(scfg, (uintptr_t)m);
            cg_chunk_stream_config *ccfg = cg_chunk_stream_config_new();
            cg_chunk_stream_config_set_items(ccfg, items, 2);
            cg_chunk_stream_config_set_max_chunks(ccfg, 2);
            cg_chunk_stream_config_set_place(ccfg, (cg_place_fn)bench_place, &ctx);
            if (!cg_group_emplace_back(group, scfg, ccfg))
                die("cg_group_emplace_back");
            cg_chunk_stream_config_free(ccfg);
            cg_stream_config_free(scfg);
        }
        for (int i = 0; i < NCHUNKS; i++) {
            memset(chunks[i].present, 0, chunks[i].present_size);
            if (use_cb)
                q.free[q.nfree++] = &chunks[i];
            else if (cg_group_add_free_chunk_v2(group, &chunks[i]) != CG_OK)
                die("add_free_chunk");
        }
        int fd = use_cb ? -1 : cg_ring_data_fd(data_ring);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        size_t got = 0, nchunks = 0, polls = 0;
        double c0 = cpu(), t0 = now();
        for (int m = 0; m < n; m++)
            if (cg_stream_add_buffer_reader_nocopy(cg_group_get(group, (size_t)m), bufs[m], lens[m], keep, NULL) != CG_OK)
                die("add_buffer_reader");
        while (use_cb && got < heaps) {
            cg_chunk *c = cb_pop(&q);
            if (!c)
                break;
            for (size_t i = 0; i < c->present_size; i++)
                got += c->present[i];
            nchunks++;
            cb_give_back(&q, c);
        }
        for (; !use_cb;) {
            cg_chunk *c;
            int st;
            if (use_poll) {
                while ((st = cg_ring_try_pop(data_ring, &c)) == CG_EEMPTY) {
                    poll(&pfd, 1, 200);
                    polls++;
                }
            } else {
                st = cg_ring_pop(data_ring, &c);
            }
            if (st != CG_OK)
                break; /* CG_ESTOPPED: every member ended */
            for (size_t i = 0; i < c->present_size; i++)
                got += c->present[i];
            nchunks++;
            cg_group_add_free_chunk_v2(group, c);
        }
        double el = now() - t0, cs = cpu() - c0;
        cg_group_free(group);
        if (!use_cb) {
            cg_chunk *back;
            while (cg_ring_try_pop(free_ring, &back) == CG_OK) /* ours again before the ring goes */
                ;
            cg_ring_free(data_ring);
            cg_ring_free(free_ring);
        }
        cg_group_config_free(gcfg);
        double payload = (double)got * (double)ctx.heap_payload;
        printf("{\"impl\":\"c\",\"kind\":\"memory\",\"scenario\":\"%s\",\"streams\":%d,\"repeat\":%d,"
               "\"heaps\":%zu,\"heaps_expected\":%zu,\"chunks\":%zu,\"polls\":%zu,\"seconds\":%.6f,"
               "\"gbytes_per_s\":%.4f,\"cpu_seconds\":%.4f,\"cpu_s_per_gbyte\":%.4f,\"wait\":\"%s\",\"wake_at\":%zu}\n",
               large ? "large" : "small", n, rep, got, heaps, nchunks, polls, el, payload / el / 1e9, cs,
               cs / (payload / 1e9), wait, wake_at);
        fflush(stdout);
        if (got != heaps) {
            fprintf(stderr, "cconsumer: received %zu complete heaps of %zu\n", got, heaps);
            return 1;
        }
    }
    return 0;
}
