/* Lifetime cycles from C (issue 12): CHUNKGROUP_CYCLES times (default 1000)
 * create a 2-member LOSSY ring group with UDP readers on two sockets that
 * live for the whole run, let packets from a sender thread flow into it
 * while a consumer thread recycles chunks, then stop it (even cycles:
 * cg_group_stop, cg_group_take_kept, cg_group_free) or drop it (odd cycles:
 * cg_group_free alone, which stops first) from the main thread while the
 * consumer is still waiting on the data ring and packets keep arriving.
 *
 * Threads, file descriptors and RSS are read from /proc before (after a
 * warm-up, so the Go runtime's own threads are counted in the baseline) and
 * after; the run fails unless fds are back exactly, threads are within
 * +4 (Go may keep idle OS threads it made for blocking system calls) and
 * RSS within +16 MiB. Built and run by run.sh (plain run only: valgrind
 * would take hours at this count). Prints one PASS or FAIL line. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

enum { MEMBERS = 2, HEAP_SIZE = 1024, HPC = 4, CHUNK_BYTES = HEAP_SIZE * HPC, NCHUNKS = 8, WARMUP = 20 };

static void place_by_cnt(cg_place_data *d, size_t size, void *user) {
    (void)size;
    (void)user;
    if (d->items[0] < 0)
        return;
    d->chunk_id = d->items[0] / HPC;
    d->heap_index = (size_t)(d->items[0] % HPC);
    d->heap_offset = d->heap_index * HEAP_SIZE;
}

static long proc_status(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

typedef struct sender_arg {
    cg_sender *s;
    volatile int stop;
    uint64_t sent;
} sender_arg;

/* About 16k heaps a second: packets always flow, and the two shared cores
 * are not saturated. */
static void *sender_main(void *p) {
    sender_arg *a = (sender_arg *)p;
    uint8_t payload[HEAP_SIZE];
    for (uint64_t cnt = 0; !a->stop; cnt++) {
        for (size_t i = 0; i < HEAP_SIZE; i++)
            payload[i] = t_pattern(cnt, i);
        cg_sender_send_heap(a->s, cnt, NULL, 0, payload, HEAP_SIZE, -1);
        if (cnt % 16 == 15) {
            cg_sender_flush(a->s);
            sleep_us(1000);
        }
        a->sent = cnt + 1;
    }
    return NULL;
}

typedef struct consumer_arg {
    cg_group *g;
    cg_ring *data;
    volatile int got; /* chunks seen this cycle */
} consumer_arg;

/* Recycles chunks until the data ring stops (the group stopped or was
 * freed); a recycle into a freed group fails harmlessly (CG_ESTATE). */
static void *consumer_main(void *p) {
    consumer_arg *a = (consumer_arg *)p;
    for (;;) {
        cg_chunk *c = NULL;
        int rc = cg_ring_pop_timeout(a->data, &c, 100 * 1000);
        if (rc == CG_ETIMEDOUT)
            continue;
        if (rc != CG_OK)
            return NULL;
        a->got++;
        cg_group_add_free_chunk(a->g, c);
    }
}

static cg_chunk *chunks[NCHUNKS];
static int ports[MEMBERS];
static int socks[MEMBERS];
static uint64_t consumed;

/* One cycle; 0 on success. */
static int cycle(int i, const cg_stream_config *sc, const cg_chunk_stream_config *cc) {
    cg_group_config *gc = cg_group_config_new();
    cg_group_config_set_max_chunks(gc, 2);
    cg_ring *data = cg_ring_new(4), *free_ring = cg_ring_new(NCHUNKS);
    cg_group *g = cg_ring_group_new(gc, data, free_ring);
    cg_group_config_free(gc);
    if (!g)
        return 1;
    for (int m = 0; m < MEMBERS; m++)
        if (!cg_group_emplace_back(g, sc, cc))
            return 2;
    for (int k = 0; k < NCHUNKS; k++)
        if (cg_group_add_free_chunk(g, chunks[k]) != CG_OK)
            return 3;
    consumer_arg ca = {g, data, 0};
    pthread_t ct;
    if (pthread_create(&ct, NULL, consumer_main, &ca) != 0)
        return 4;
    for (int m = 0; m < MEMBERS; m++)
        if (cg_stream_add_udp_socket_reader(cg_group_get(g, (size_t)m), socks[m], 0) != CG_OK)
            return 5;
    /* Fed: wait (bounded) until a chunk has gone round. */
    for (int w = 0; ca.got == 0; w++) {
        if (w == 20000) {
            fprintf(stderr, "  cycle %d: no chunk within 20 s\n", i);
            return 6;
        }
        sleep_us(100);
    }
    if (i % 2 == 0) {
        if (cg_group_stop(g) != CG_OK)
            return 7;
        cg_chunk *kept[NCHUNKS];
        while (cg_group_take_kept(g, kept, NCHUNKS) > 0) {
        }
    }
    cg_group_free(g); /* odd cycles: dropped running, free stops it */
    pthread_join(ct, NULL);
    consumed += (uint64_t)ca.got;
    cg_ring_free(data);
    cg_ring_free(free_ring);
    return 0;
}

static void test_lifetime_cycles(void) {
    const char *env = getenv("CHUNKGROUP_CYCLES");
    int cycles = env ? atoi(env) : 1000;
    REQUIRE(cycles > 0);
    for (int m = 0; m < MEMBERS; m++) {
        socks[m] = socket(AF_INET, SOCK_DGRAM, 0);
        REQUIRE(socks[m] >= 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(bind(socks[m], (struct sockaddr *)&a, sizeof a) == 0);
        socklen_t len = sizeof a;
        REQUIRE(getsockname(socks[m], (struct sockaddr *)&a, &len) == 0);
        ports[m] = ntohs(a.sin_port);
    }
    char dests[MEMBERS][32];
    const char *dp[MEMBERS];
    for (int m = 0; m < MEMBERS; m++) {
        snprintf(dests[m], sizeof dests[m], "127.0.0.1:%d", ports[m]);
        dp[m] = dests[m];
    }
    for (int k = 0; k < NCHUNKS; k++)
        chunks[k] = t_chunk_new(HPC, CHUNK_BYTES, 0);
    cg_stream_config *sc = cg_stream_config_new();
    cg_chunk_stream_config *cc = cg_chunk_stream_config_new();
    uint64_t id = CG_HEAP_CNT_ID;
    cg_chunk_stream_config_set_items(cc, &id, 1);
    cg_chunk_stream_config_set_place(cc, place_by_cnt, NULL);
    cg_sender_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.repeat_pointers = 1;
    sender_arg sa = {cg_udp_sender_new(&cfg, dp, MEMBERS), 0, 0};
    REQUIRE(sa.s != NULL);
    pthread_t st;
    REQUIRE(pthread_create(&st, NULL, sender_main, &sa) == 0);

    int rc = 0, i = 0;
    for (; i < WARMUP && rc == 0; i++)
        rc = cycle(i, sc, cc);
    sleep_us(100 * 1000);
    long threads0 = proc_status("Threads"), rss0 = proc_status("VmRSS");
    int fds0 = count_fds();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t sent0 = sa.sent;
    for (i = 0; i < cycles && rc == 0; i++)
        rc = cycle(i, sc, cc);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t sent = sa.sent - sent0;
    sleep_us(100 * 1000);
    long threads1 = proc_status("Threads"), rss1 = proc_status("VmRSS");
    int fds1 = count_fds();
    CHECK_EQ(rc, 0);
    if (rc != 0)
        fprintf(stderr, "  cycle %d failed with step %d (%s)\n", i - 1, rc, cg_last_error());
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("lifetime: %d cycles in %.1f s while %llu heaps were sent, %llu chunks consumed; "
           "threads %ld -> %ld, fds %d -> %d, RSS %ld -> %ld KiB\n",
           cycles, secs, (unsigned long long)sent, (unsigned long long)consumed,
           threads0, threads1, fds0, fds1, rss0, rss1);
    CHECK(consumed >= (uint64_t)cycles);
    CHECK_EQ(fds1, fds0);
    CHECK(threads1 <= threads0 + 4);
    CHECK(rss1 <= rss0 + 16 * 1024);
    sa.stop = 1;
    pthread_join(st, NULL);
    cg_sender_free(sa.s);
    cg_chunk_stream_config_free(cc);
    cg_stream_config_free(sc);
    for (int k = 0; k < NCHUNKS; k++)
        t_chunk_free(chunks[k]);
    for (int m = 0; m < MEMBERS; m++)
        close(socks[m]);
}

int main(void) {
    RUN(test_lifetime_cycles);
    TEST_MAIN_END();
}
