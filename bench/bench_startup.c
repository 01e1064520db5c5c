/*
 * bench_startup.c — start-up to serving and resident memory per user: N generated users (the
 * users of bench_import: 80 % with an external id, 10 % with an alias, 10 % with a device id),
 * then the server started RUNS times on the same data (stopped with SIGTERM between runs), each
 * timed from exec to its first healthy answer (and the server's CPU seconds by then, which a
 * busy machine disturbs less than the wall time). After the last start it reads the server's
 * resident set (/proc) and the bytes of each in-memory index from GET /metrics
 * (cohortd_workspace_index_bytes), and prints the breakdown per user; what the indexes do not
 * account for (the SQLite page cache, malloc slack, code and libraries) is "other".
 *
 * The first start reads the whole store (any start-up snapshot of an earlier run is removed
 * first); the bench then waits until the server has written its snapshot
 * (docs/internals/snapshot.md) before stopping it, so the later starts load the snapshot:
 * startup_full_s is the first start, startup_snapshot_s the median of the others (startup_s
 * stays the median of all). With a store other than SQLite there is no snapshot to wait for.
 *
 * Then (SQLite only) CHANGES users are changed through /users/track on that last server (half
 * of them existing users given a new attribute value, half new users with an attribute and an
 * event; 10000 unless BENCH_STARTUP_CHANGES says otherwise, 0: none), it is stopped and started
 * once more: startup_after_changes_s, the start with users changed since the snapshot (a full
 * load when the server replays no users behind its snapshot; `load` says which it was, from
 * the server log: "full" when it logged a full load, else "snapshot").
 *
 * Prints {"scenario":"startup",…} (the figures of the report),
 * {"scenario":"startup_breakdown",…} (bytes per user of each index) and
 * {"scenario":"startup_after_changes",…}.
 *
 * usage: bench_startup COHORTD_BIN [USERS] [RUNS] [DATA_DIR]
 * With DATA_DIR (made by an earlier run with BENCH_KEEP=1, which keeps its data directory and
 * names it on stderr) the users are not generated again: the server starts on that data, which
 * is kept.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_users.h"

struct text {
    char *p;
    size_t len;
};

static size_t keep(char *p, size_t s, size_t n, void *ud) {
    struct text *t = ud;
    char *q = realloc(t->p, t->len + s * n + 1);
    if (!q)
        return 0;
    memcpy(q + t->len, p, s * n);
    t->p = q;
    t->len += s * n;
    t->p[t->len] = '\0';
    return s * n;
}

/* The exposition of GET /metrics, malloc'd (NULL on failure). */
static char *scrape(const struct bench_server *b) {
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", b->port);
    struct text t = {NULL, 0};
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (status != 200) {
        free(t.p);
        return NULL;
    }
    return t.p;
}

/* The sum over workspaces of the series `name` with label index="<index>" (0 when absent). */
static double gauge(const char *text, const char *name, const char *index) {
    double sum = 0;
    char want[64];
    snprintf(want, sizeof want, "index=\"%s\"", index);
    size_t nl = strlen(name);
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > nl && strncmp(line, name, nl) == 0 && line[nl] == '{') {
            const char *close = memchr(line, '}', len);
            const char *hit = strstr(line, want);
            if (close && hit && hit < close)
                sum += strtod(close + 1, NULL);
        }
        line = end ? end + 1 : NULL;
    }
    return sum;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The size of the snapshot file in data/cohortd.db.snap (0: none yet). */
static long long snapshot_bytes(const char *data) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/cohortd.db.snap", data);
    DIR *d = opendir(dir);
    long long bytes = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".snap") == 0) {
            char path[900];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            FILE *f = fopen(path, "rb");
            if (f && fseek(f, 0, SEEK_END) == 0)
                bytes += ftell(f);
            if (f)
                fclose(f);
        }
    }
    if (d)
        closedir(d);
    return bytes;
}

/* Removes earlier snapshots, so that the first start reads the whole store. */
static void remove_snapshots(const char *data) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/cohortd.db.snap'", data);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_startup: could not remove %s/cohortd.db.snap\n", data);
}

/* Waits up to 10 minutes for the server's first snapshot; its seconds, or -1. */
static double wait_snapshot(const char *data) {
    double t0 = bench_now();
    while (bench_now() - t0 < 600) {
        if (snapshot_bytes(data) > 0)
            return bench_now() - t0;
        usleep(50000);
    }
    return -1;
}

/* The size of the server log (where the next start's lines begin). */
static long log_size(const char *data) {
    char path[600];
    snprintf(path, sizeof path, "%s/server.log", data);
    FILE *f = fopen(path, "rb");
    long n = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
    if (f)
        fclose(f);
    return n;
}

/* Whether the server log past byte `from` says a workspace was loaded in full. */
static int logged_full_load(const char *data, long from) {
    char path[600], line[2048];
    snprintf(path, sizeof path, "%s/server.log", data);
    FILE *f = fopen(path, "rb");
    int full = 0;
    if (f && fseek(f, from, SEEK_SET) == 0)
        while (fgets(line, sizeof line, f))
            full |= strstr(line, "action=full_load") != NULL;
    if (f)
        fclose(f);
    return full;
}

#define CHANGE_BATCH 50 /* users per /users/track request (at most 75 attributes objects) */

/* Changes `n` users of the n_users the data holds: request k changes CHANGE_BATCH / 2
 * existing users (a new "tier" value) and tracks CHANGE_BATCH / 2 new users (an attribute and
 * an event). Returns the users changed, or -1 when the server refused a request. */
static long change_users(const struct bench_server *b, uint32_t n_users, long n) {
    size_t cap = 160 * CHANGE_BATCH + 64;
    char *body = malloc(cap), resp[256];
    long done = 0;
    uint32_t next = 1;
    for (long k = 0; body && done < n; k++) {
        size_t len = (size_t)snprintf(body, cap, "{\"attributes\":[");
        int in_req = 0;
        for (; in_req < CHANGE_BATCH / 2 && done < n; in_req++, done++) {
            /* existing users with an external id, spread over the uids */
            do
                next = (uint32_t)((next + 7919u) % n_users) + 1;
            while (bench_user_kind(next) != BENCH_EXTERNAL);
            len += (size_t)snprintf(body + len, cap - len,
                                    "%s{\"external_id\":\"user_%u\",\"tier\":%ld}",
                                    in_req ? "," : "", next, k);
        }
        long first_new = done;
        for (int j = 0; j < CHANGE_BATCH / 2 && done < n; j++, done++)
            len += (size_t)snprintf(body + len, cap - len,
                                    ",{\"external_id\":\"changed_%ld\",\"tier\":%ld}", done, k);
        len += (size_t)snprintf(body + len, cap - len, "],\"events\":[");
        for (long u = first_new; u < done; u++)
            len += (size_t)snprintf(body + len, cap - len,
                                    "%s{\"external_id\":\"changed_%ld\",\"name\":\"changed\","
                                    "\"time\":\"2026-06-01T00:00:00Z\"}",
                                    u == first_new ? "" : ",", u);
        snprintf(body + len, cap - len, "]}");
        int st = bench_post_rest(b, "/users/track", body, resp, sizeof resp);
        if (st != 201) {
            fprintf(stderr, "bench_startup: /users/track answered %d: %s\n", st, resp);
            free(body);
            return -1;
        }
    }
    free(body);
    return done;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_startup COHORTD_BIN [USERS] [RUNS]\n");
        return 2;
    }
    const char *bin = argv[1];
    uint32_t n_users = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1000000;
    int runs = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 3;
    if (runs < 1 || runs > 20)
        runs = 3;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct bench_server b;
    const char *reuse = argc > 4 ? argv[4] : NULL;
    int keep_data = reuse || getenv("BENCH_KEEP");
    double t0 = bench_now();
    if (reuse) {
        memset(&b, 0, sizeof b);
        snprintf(b.data, sizeof b.data, "%s", reuse);
    } else if (bench_prepare(&b, bin, n_users) != 0) {
        fprintf(stderr, "bench_startup: cannot prepare %u users\n", n_users);
        return 1;
    }
    double gen_s = reuse ? 0 : bench_now() - t0;
    if (keep_data)
        fprintf(stderr, "bench_startup: data in %s (kept)\n", b.data);
    const char *given = getenv("COHORTD_STORE");
    int sqlite = !given || !*given || strncmp(given, "sqlite:", 7) == 0;
    remove_snapshots(b.data);
    double s[20], cpu[20], snap_wait = -1;
    for (int r = 0; r < runs; r++) {
        if (bench_start(&b, bin) != 0) {
            fprintf(stderr, "bench_startup: server did not start; see %s/server.log\n", b.data);
            bench_stop(&b);
            return 1;
        }
        s[r] = b.startup_s;
        cpu[r] = bench_cpu_seconds(b.pid);
        fprintf(stderr, "bench_startup: run %d: %.3f s, server cpu %.2f s\n", r + 1, s[r], cpu[r]);
        char snap_dir[600];
        snprintf(snap_dir, sizeof snap_dir, "%s/cohortd.db.snap", b.data);
        /* the server makes the directory at start unless snapshots are off */
        if (r == 0 && sqlite && runs > 1 && access(snap_dir, F_OK) == 0) {
            snap_wait = wait_snapshot(b.data);
            fprintf(stderr, "bench_startup: snapshot written %.1f s after serving (%lld bytes)\n",
                    snap_wait, snapshot_bytes(b.data));
        }
        if (r + 1 < runs)
            bench_stop(&b);
    }
    long rss = bench_rss_bytes(b.pid);
    char *m = scrape(&b);
    double first = s[0], first_cpu = cpu[0];
    /* the starts after the first load the snapshot (when there is one) */
    double later[20], later_cpu[20];
    int n_later = runs - 1;
    for (int r = 1; r < runs; r++) {
        later[r - 1] = s[r];
        later_cpu[r - 1] = cpu[r];
    }
    qsort(later, (size_t)n_later, sizeof later[0], cmp);
    qsort(later_cpu, (size_t)n_later, sizeof later_cpu[0], cmp);
    double snap_s = n_later ? later[n_later / 2] : 0,
           snap_cpu = n_later ? later_cpu[n_later / 2] : 0;
    qsort(s, (size_t)runs, sizeof s[0], cmp);
    qsort(cpu, (size_t)runs, sizeof cpu[0], cmp);
    printf(
        "{\"scenario\":\"startup\",\"users\":%u,\"generate_s\":%.2f,\"startup_s\":%.3f,"
        "\"startup_first_s\":%.3f,\"startup_min_s\":%.3f,\"startup_max_s\":%.3f,\"runs\":%d,"
        "\"startup_cpu_s\":%.2f,\"rss_bytes\":%ld,\"bytes_per_user\":%.1f,"
        "\"startup_full_s\":%.3f,\"startup_full_cpu_s\":%.2f,\"startup_snapshot_s\":%.3f,"
        "\"startup_snapshot_cpu_s\":%.2f,\"snapshot_bytes\":%lld,\"snapshot_write_wait_s\":%.1f}\n",
        n_users, gen_s, s[runs / 2], first, s[0], s[runs - 1], runs, cpu[runs / 2], rss,
        (double)rss / n_users, first, first_cpu, snap_s, snap_cpu, snapshot_bytes(b.data),
        snap_wait);
    static const char *const idx[] = {"user_table", "live",    "external_ids",
                                      "aliases",    "devices", "contacts",
                                      "attributes", "events",  "cohort_bitmaps"};
    double known = 0;
    printf("{\"scenario\":\"startup_breakdown\",\"users\":%u", n_users);
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) {
        double v = m ? gauge(m, "cohortd_workspace_index_bytes", idx[i]) : 0;
        known += v;
        printf(",\"%s\":%.2f", idx[i], v / n_users);
    }
    printf(",\"other\":%.2f,\"total\":%.2f}\n", ((double)rss - known) / n_users,
           (double)rss / n_users);
    free(m);
    const char *ch = getenv("BENCH_STARTUP_CHANGES");
    long n_changes = ch && *ch ? strtol(ch, NULL, 10) : 10000;
    if (sqlite && n_changes > 0) {
        double t_ch = bench_now();
        long changed = change_users(&b, n_users, n_changes);
        double change_s = bench_now() - t_ch;
        bench_stop(&b);
        long from = log_size(b.data);
        if (changed < 0 || bench_start(&b, bin) != 0) {
            fprintf(stderr, "bench_startup: the start after changes failed; see %s/server.log\n",
                    b.data);
            bench_stop(&b);
            return 1;
        }
        double after_cpu = bench_cpu_seconds(b.pid);
        int full = logged_full_load(b.data, from);
        fprintf(stderr, "bench_startup: after %ld user changes: %.3f s, server cpu %.2f s (%s)\n",
                changed, b.startup_s, after_cpu, full ? "full load" : "snapshot");
        printf("{\"scenario\":\"startup_after_changes\",\"users\":%u,\"changes\":%ld,"
               "\"change_s\":%.2f,\"startup_s\":%.3f,\"startup_cpu_s\":%.2f,\"load\":\"%s\"}\n",
               n_users, changed, change_s, b.startup_s, after_cpu, full ? "full" : "snapshot");
    }
    if (keep_data)
        bench_stop(&b);
    else
        bench_cleanup(&b);
    curl_global_cleanup();
    return 0;
}
