/*
 * bench_segments.c — exact segment sizes in process: N users (default 10 M) in a workspace's
 * in-memory indexes, 20 cohorts of varied density, a 3-valued attribute on every user; then
 * the four segments of issue 8 (one cohort; cohort AND NOT cohort; cohort includes + cohort
 * excludes + attribute equals; OR of 5 cohorts), each evaluated and counted 200 times; then
 * 0 to 5 "buy" events per user at random times in the last 60 days (out of order) and two event
 * segments ("buy" within 30 days; at least 3 times in the last 7 days).
 * Prints one JSON object per segment (wall p50 / p99 of segment_size in ms, the same in thread CPU
 * time, the time segment_eval takes to build the audience once, and the size), plus a build line.
 * The runs are timed twice: back to back, and paced (each after a 1 ms sleep, as a request
 * reaches a waiting worker: the caches hold whatever ran meanwhile). On a shared machine the
 * wall p99 of either is mostly the time another process holds the core during a run; compare
 * it with the thread-CPU figures, which leave those waits out.
 *
 * usage: bench_segments [USERS [NAME]]   (NAME: run only the segments whose name holds NAME;
 *                                      the events are built only when an event segment runs)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_users.h"
#include "core/index/bitmap.h"
#include "core/segments/segment_filter.h"
#include "core/workspace/workspace_int.h" /* an in-process benchmark of core builds a workspace */
#include "segment_workspace.h"

#define N_COHORTS 20
#define RUNS 200

/* this thread's CPU time in seconds: the work of a run without the waits for a core that a
 * shared machine adds to its wall time */
static double thread_cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 10000000;
    const char *only = argc > 2 ? argv[2] : NULL;
    double t0 = bench_now();
    struct workspace ws;
    struct cohort *c[N_COHORTS];
    segment_workspace_init(&ws, c, N_COHORTS);
    json_t *plans[3] = {json_pack("{s:s}", "plan", "free"), json_pack("{s:s}", "plan", "trial"),
                        json_pack("{s:s}", "plan", "pro")};
    unsigned s = 88172645u;
    uint8_t bid[12] = {0};
    identity_reserve(&ws.ident, n);
    for (uint32_t u = 1; u <= n; u++) {
        identity_add_user(&ws.ident, u, bid, NULL, false, false);
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        attr_index_set(&ws.attrs, u, NULL, plans[s % 3]);
        /* cohort k holds about 1 user in (k + 2): from half the users down to 1 in 21 */
        for (int k = 0; k < N_COHORTS; k++)
            if ((s >> (k % 8)) % (unsigned)(k + 2) == 0)
                roaring_bitmap_add(c[k]->members, u);
    }
    for (int k = 0; k < N_COHORTS; k++)
        roaring_bitmap_run_optimize(c[k]->members);
    long rss_before_events = bench_rss_bytes(getpid());
    const int64_t now = 1767225600000LL; /* 2026-01-01 */
    uint64_t n_events = 0;
    bool with_events = !only || strstr("buy within 30 days buy 3 times in 7 days", only);
    for (uint32_t u = 1; with_events && u <= n; u++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        for (unsigned e = 0; e < s % 6; e++) {
            int64_t at = now - (int64_t)((s >> 3) * 2654435761u % (60u * 86400u)) * 1000 -
                         (int64_t)e * 997 * 86400;
            event_index_bump(&ws.events, "buy", u, 1, at < now - 60LL * 86400000 ? now : at);
            n_events++;
        }
    }
    long events_rss = bench_rss_bytes(getpid()) - rss_before_events;
    printf("{\"scenario\":\"segments_build\",\"users\":%u,\"cohorts\":%d,\"build_s\":%.2f}\n", n,
           N_COHORTS, bench_now() - t0);
    static const struct {
        const char *name, *filter;
    } segs[] = {
        {"one cohort",
         "{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"c3\"},\"op\":\"includes\"}"},
        {"cohort and not cohort",
         "{\"and\":[{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"c0\"},\"op\":\"includes\"},"
         "{\"not\":{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"c1\"},\"op\":\"includes\"}}]"
         "}"},
        {"3 filters with an attribute",
         "{\"and\":[{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"c2\"},\"op\":\"includes\"},"
         "{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"c5\"},\"op\":\"excludes\"},"
         "{\"attribute\":\"plan\",\"op\":\"equals\",\"value\":\"trial\"}]}"},
        {"buy within 30 days", "{\"event\":\"buy\",\"op\":\"performed\",\"within_days\":30}"},
        {"buy 3 times in 7 days",
         "{\"event\":\"buy\",\"op\":\"performed\",\"min_count\":3,\"within_days\":7}"},
        {"or of 5 cohorts",
         "{\"or\":[{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"c6\"},\"op\":\"includes\"},"
         "{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"c7\"},\"op\":\"includes\"},"
         "{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"c8\"},\"op\":\"includes\"},"
         "{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"c9\"},\"op\":\"includes\"},"
         "{\"cohort\":{\"partner\":\"heap\",\"cohort_id\":\"c10\"},\"op\":\"includes\"}]}"},
    };
    for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) {
        if (only && !strstr(segs[i].name, only))
            continue;
        json_t *f = json_loads(segs[i].filter, 0, NULL);
        char err[256];
        struct seg_node *node = segment_filter_parse(f, &ws.cohorts, err, sizeof err);
        if (!node) {
            fprintf(stderr, "bench_segments: %s\n", err);
            return 1;
        }
        double lat[RUNS], cpu[RUNS], paced[RUNS];
        uint64_t size = 0;
        for (int r = 0; r < 2 * RUNS; r++) {
            if (r >= RUNS)
                usleep(1000);
            double a = bench_now(), ca = thread_cpu_s();
            if (segment_size(node, &ws, now, &size) != 0) {
                fprintf(stderr, "bench_segments: out of memory\n");
                return 1;
            }
            double ms = (bench_now() - a) * 1000;
            if (r >= RUNS) {
                paced[r - RUNS] = ms;
                continue;
            }
            lat[r] = ms;
            cpu[r] = (thread_cpu_s() - ca) * 1000;
        }
        qsort(paced, RUNS, sizeof paced[0], cmp);
        qsort(cpu, RUNS, sizeof cpu[0], cmp);
        /* the size is the audience's: segment_eval builds it, as exports and campaigns do */
        double a = bench_now();
        roaring_bitmap_t *aud = segment_eval(node, &ws, now);
        double audience_ms = (bench_now() - a) * 1000;
        bool agrees = aud && roaring_bitmap_get_cardinality(aud) == size;
        bitmap_free(aud);
        qsort(lat, RUNS, sizeof lat[0], cmp);
        printf("{\"scenario\":\"segment\",\"name\":\"%s\",\"users\":%u,\"size\":%llu,"
               "\"cohortd_p50_ms\":%.4f,\"cohortd_p99_ms\":%.4f,\"audience_ms\":%.3f,"
               "\"cohortd_cpu_p50_ms\":%.4f,\"cohortd_cpu_p99_ms\":%.4f,"
               "\"cohortd_paced_p50_ms\":%.4f,\"cohortd_paced_p99_ms\":%.4f,"
               "\"size_is_audience\":%s}\n",
               segs[i].name, n, (unsigned long long)size, lat[RUNS / 2], lat[RUNS * 99 / 100],
               audience_ms, cpu[RUNS / 2], cpu[RUNS * 99 / 100], paced[RUNS / 2],
               paced[RUNS * 99 / 100], agrees ? "true" : "false");
        fflush(stdout);
        segment_filter_free(node);
        json_decref(f);
    }
    size_t bitmap_bytes = 0;
    for (int k = 0; k < N_COHORTS; k++)
        bitmap_bytes += roaring_bitmap_portable_size_in_bytes(c[k]->members);
    uint64_t memberships = 0;
    for (int k = 0; k < N_COHORTS; k++)
        memberships += roaring_bitmap_get_cardinality(c[k]->members);
    printf("{\"scenario\":\"memory\",\"memberships\":%llu,\"bitmap_bytes\":%zu,"
           "\"bytes_per_membership\":%.3f,\"rss_bytes\":%ld}\n",
           (unsigned long long)memberships, bitmap_bytes,
           (double)bitmap_bytes / (double)memberships, bench_rss_bytes(getpid()));
    printf("{\"scenario\":\"event_memory\",\"events\":%llu,\"event_users\":%llu,"
           "\"rss_bytes\":%ld,\"bytes_per_event_user\":%.1f}\n",
           (unsigned long long)n_events,
           (unsigned long long)(ws.events.n ? ws.events.cols[0].n : 0), events_rss,
           ws.events.n && ws.events.cols[0].n ? (double)events_rss / (double)ws.events.cols[0].n
                                              : 0.0);
    for (int k = 0; k < 3; k++)
        json_decref(plans[k]);
    segment_workspace_free(&ws);
    return 0;
}
