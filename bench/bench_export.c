/*
 * bench_export.c — POST /users/export/segment/stream throughput: N generated users, a segment of
 * every identified user (80 % of them), exported as NDJSON over HTTP with the default fields
 * (braze_id, external_id). Counts the lines received. Prints one JSON object per server binary.
 *
 * usage: bench_export COHORTD_BIN [USERS [RUNS [OTHER_COHORTD_BIN]]]
 *
 * RUNS exports (default 1) are timed one after the other; each figure of the line is the median
 * over them (the only one with RUNS = 1), every run's rate is in runs_users_per_s. With
 * OTHER_COHORTD_BIN the same data directory is served in turn by both binaries (a server each, RUNS
 * exports each, the two alternating run by run), so a before / after pair is measured in the same
 * minutes on the same data; the other binary's line has the scenario "export_other". Beside the
 * wall time each line gives the CPU seconds the server and this client spent on the export and the
 * seconds each spent runnable but waiting for a CPU (a shared, loaded machine stretches the wall
 * time; these say which side costs what and how much the machine's other work added), and the time
 * to the first byte (the audience snapshot before the first line).
 *
 * The client reads with curl's largest receive buffer and counts newlines with memchr, so it
 * is cheap next to the server (its CPU seconds are in the line to show it).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <stddef.h>
#include <unistd.h>

#include "bench_users.h"

#define MAX_RUNS 15

/* Counts in a local (a store through `lines` could alias p[] and would be made per byte). */
static size_t count_lines(char *p, size_t s, size_t n, void *ud) {
    long *lines = ud, found = 0;
    for (const char *c = p, *end = p + s * n; (c = memchr(c, '\n', (size_t)(end - c))); c++)
        found++;
    *lines += found;
    return s * n;
}

/* Seconds the threads of pid (0: this process) ran, and spent runnable but waiting for a CPU
 * (the first two fields of each task's schedstat, in ns): the second is what a loaded machine
 * adds to the wall time. */
static void sched_seconds(pid_t pid, double *ran, double *waited) {
    *ran = *waited = 0;
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", pid ? (int)pid : (int)getpid());
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[128];
        snprintf(path, sizeof path, "%s/%.20s/schedstat", dir, e->d_name);
        FILE *f = fopen(path, "r");
        unsigned long long run = 0, wait = 0;
        if (f && fscanf(f, "%llu %llu", &run, &wait) == 2) {
            *ran += (double)run / 1e9;
            *waited += (double)wait / 1e9;
        }
        if (f)
            fclose(f);
    }
    closedir(d);
}

struct run {
    int status;
    long lines;
    double seconds, first_byte_s, server_cpu_s, client_cpu_s, server_wait_s, client_wait_s;
    double rate; /* lines / seconds */
};

static void export_once(const struct bench_server *b, const char *body, struct run *r) {
    struct bench_request q;
    bench_request_init(&q, b, "/users/export/segment/stream", body, count_lines, &r->lines);
    curl_easy_setopt(q.curl, CURLOPT_BUFFERSIZE, (long)CURL_MAX_READ_SIZE);
    r->lines = 0;
    double cpu_server, wait_server, cpu_self, wait_self;
    sched_seconds(b->pid, &cpu_server, &wait_server);
    sched_seconds(0, &cpu_self, &wait_self);
    double t0 = bench_now();
    r->status = bench_request_perform(&q);
    r->seconds = bench_now() - t0;
    double cpu, wait;
    sched_seconds(b->pid, &cpu, &wait);
    r->server_cpu_s = cpu - cpu_server;
    r->server_wait_s = wait - wait_server;
    sched_seconds(0, &cpu, &wait);
    r->client_cpu_s = cpu - cpu_self;
    r->client_wait_s = wait - wait_self;
    curl_off_t first = 0;
    curl_easy_getinfo(q.curl, CURLINFO_STARTTRANSFER_TIME_T, &first);
    r->first_byte_s = (double)first / 1e6;
    bench_request_free(&q);
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of the field at byte offset `off` of struct run over the runs. */
static double median(const struct run *runs, int n_runs, size_t off) {
    double v[MAX_RUNS] = {0};
    for (int i = 0; i < n_runs; i++)
        memcpy(&v[i], (const char *)&runs[i] + off, sizeof v[i]);
    qsort(v, (size_t)n_runs, sizeof v[0], by_value);
    return v[n_runs / 2];
}

/* Prints the line of one binary's runs (each figure the median over the runs); returns 0 when
 * every run answered 200 with every identified user. */
static int report(const char *scenario, uint32_t n, struct run *runs, int n_runs, long want) {
    int ok = 1;
    for (int i = 0; i < n_runs; i++) {
        runs[i].rate = runs[i].seconds > 0 ? (double)runs[i].lines / runs[i].seconds : 0;
        ok = ok && runs[i].status == 200 && runs[i].lines == want;
    }
#define MED(f) median(runs, n_runs, offsetof(struct run, f))
    printf("{\"scenario\":\"%s\",\"users\":%u,\"status\":%d,\"exported\":%ld,\"seconds\":%.2f,"
           "\"users_per_s\":%.0f,\"first_byte_s\":%.3f,\"server_cpu_s\":%.3f,"
           "\"client_cpu_s\":%.3f,\"server_wait_s\":%.3f,\"client_wait_s\":%.3f,\"runs\":%d,"
           "\"runs_users_per_s\":[",
           scenario, n, ok ? 200 : runs[0].status, runs[0].lines, MED(seconds), MED(rate),
           MED(first_byte_s), MED(server_cpu_s), MED(client_cpu_s), MED(server_wait_s),
           MED(client_wait_s), n_runs);
#undef MED
    for (int i = 0; i < n_runs; i++)
        printf("%s%.0f", i ? "," : "", runs[i].rate);
    printf("]}\n");
    fflush(stdout);
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_export COHORTD_BIN [USERS [RUNS [OTHER_COHORTD_BIN]]]\n");
        return 2;
    }
    uint32_t n = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1000000;
    int n_runs = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 1;
    const char *other = argc > 4 ? argv[4] : NULL;
    if (n_runs < 1 || n_runs > MAX_RUNS) {
        fprintf(stderr, "bench_export: RUNS must be 1..%d\n", MAX_RUNS);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct bench_server b;
    if (bench_prepare(&b, argv[1], n) != 0 || bench_start(&b, argv[1]) != 0)
        return 1;
    bench_settle(&b);
    char created[512];
    if (bench_post_rest(&b, "/segments/create",
                        "{\"name\":\"identified\",\"filter\":{\"identified\":true}}", created,
                        sizeof created) != 201)
        return 1;
    json_t *j = json_loads(created, 0, NULL);
    char body[256];
    snprintf(body, sizeof body, "{\"segment_id\":\"%s\"}",
             json_string_value(json_object_get(j, "segment_id")));
    json_decref(j);
    long want = 0; /* users 1..n with i % 10 < 8 */
    for (uint32_t i = 1; i <= n; i++)
        want += bench_user_kind(i) == BENCH_EXTERNAL;
    struct run runs[MAX_RUNS], other_runs[MAX_RUNS];
    int rc = 0;
    for (int i = 0; i < n_runs && rc == 0; i++) {
        if (other) { /* the other binary first in each pair, so neither always runs warm */
            bench_stop(&b);
            if (bench_start(&b, other) != 0)
                rc = 1;
            if (rc == 0)
                export_once(&b, body, &other_runs[i]);
            bench_stop(&b);
            if (rc == 0 && bench_start(&b, argv[1]) != 0)
                rc = 1;
        }
        if (rc == 0)
            export_once(&b, body, &runs[i]);
    }
    if (rc == 0) {
        rc = report("export", n, runs, n_runs, want) != 0;
        if (other)
            rc = report("export_other", n, other_runs, n_runs, want) != 0 || rc;
    }
    bench_cleanup(&b);
    curl_global_cleanup();
    return rc;
}
