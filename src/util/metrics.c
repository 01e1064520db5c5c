/*
 * metrics.c — the registry of metrics.h: a hash table of series under one mutex (each
 * update is a lookup and an add, far shorter than the requests it counts), descriptions in
 * a small table, and the text rendering grouped by metric name.
 */
#include "util/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

struct series {
    struct series *next; /* hash chain */
    char *name;
    char *labels;
    double value;            /* counter or gauge; the sum for a histogram */
    uint64_t count;          /* histogram */
    uint64_t *bucket_counts; /* histogram, n_bounds (not cumulative) */
    const double *bounds;    /* histogram: upper bounds (static storage) */
    size_t n_bounds;
};

struct description {
    char *name;
    enum metric_type type;
    char *help;
};

#define N_SLOTS 1024
#define MAX_DESCRIPTIONS 256
#define MAX_COLLECTORS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* one render (collectors, then the text) at a time: a collector's clear-then-set is never seen
 * half done by another render */
static pthread_mutex_t render_lock = PTHREAD_MUTEX_INITIALIZER;
static struct series *slots[N_SLOTS];
static size_t n_series;
static struct description descriptions[MAX_DESCRIPTIONS];
static size_t n_descriptions;
static struct {
    metrics_collector fn;
    void *ctx;
} collectors[MAX_COLLECTORS];
static size_t n_collectors;

static uint64_t hash(const char *name, const char *labels) {
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ '{') * 1099511628211ULL;
    for (const char *p = labels; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

/* The series (created when missing, a histogram with bounds when bounds is not NULL); NULL
 * when memory runs out. Caller holds lock. */
static struct series *find(const char *name, const char *labels, const double *bounds,
                           size_t n_bounds) {
    int histogram = bounds != NULL;
    if (!labels)
        labels = "";
    struct series **slot = &slots[hash(name, labels) % N_SLOTS];
    for (struct series *s = *slot; s; s = s->next)
        if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
            return s;
    struct series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->name = strdup(name);
    s->labels = strdup(labels);
    if (histogram) {
        s->bucket_counts = calloc(n_bounds ? n_bounds : 1, sizeof *s->bucket_counts);
        s->bounds = bounds;
        s->n_bounds = n_bounds;
    }
    if (!s->name || !s->labels || (histogram && !s->bucket_counts)) {
        free(s->name);
        free(s->labels);
        free(s->bucket_counts);
        free(s);
        return NULL;
    }
    s->next = *slot;
    *slot = s;
    n_series++;
    return s;
}

void metrics_describe(const char *name, enum metric_type type, const char *help) {
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < n_descriptions && strcmp(descriptions[i].name, name) != 0)
        i++;
    if (i == n_descriptions && n_descriptions < MAX_DESCRIPTIONS) {
        char *n = strdup(name), *h = strdup(help);
        if (n && h) {
            descriptions[n_descriptions++] = (struct description){n, type, h};
        } else {
            free(n);
            free(h);
        }
    }
    pthread_mutex_unlock(&lock);
}

void metrics_add(const char *name, const char *labels, double v) {
    pthread_mutex_lock(&lock);
    struct series *s = find(name, labels, NULL, 0);
    if (s)
        s->value += v;
    pthread_mutex_unlock(&lock);
}

void metrics_set(const char *name, const char *labels, double v) {
    pthread_mutex_lock(&lock);
    struct series *s = find(name, labels, NULL, 0);
    if (s)
        s->value = v;
    pthread_mutex_unlock(&lock);
}

void metrics_observe_in(const char *name, const char *labels, double v, const double *bounds,
                        size_t n_bounds) {
    pthread_mutex_lock(&lock);
    struct series *s = find(name, labels, bounds, n_bounds);
    if (s && s->bucket_counts) {
        s->value += v;
        s->count++;
        for (size_t i = 0; i < s->n_bounds; i++)
            if (v <= s->bounds[i]) {
                s->bucket_counts[i]++;
                break;
            }
    }
    pthread_mutex_unlock(&lock);
}

void metrics_observe(const char *name, const char *labels, double seconds) {
    metrics_observe_in(name, labels, seconds, buckets, N_BUCKETS);
}

double metrics_value(const char *name, const char *labels) {
    double v = 0;
    pthread_mutex_lock(&lock);
    if (!labels)
        labels = "";
    for (struct series *s = slots[hash(name, labels) % N_SLOTS]; s; s = s->next)
        if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
            v = s->value;
    pthread_mutex_unlock(&lock);
    return v;
}

static void series_free(struct series *s) {
    free(s->name);
    free(s->labels);
    free(s->bucket_counts);
    free(s);
}

void metrics_clear(const char *name) {
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < N_SLOTS; i++)
        for (struct series **p = &slots[i]; *p;) {
            struct series *s = *p;
            if (strcmp(s->name, name) == 0) {
                *p = s->next;
                series_free(s);
                n_series--;
            } else {
                p = &s->next;
            }
        }
    pthread_mutex_unlock(&lock);
}

int metrics_collect(metrics_collector fn, void *ctx) {
    int rc = -1;
    pthread_mutex_lock(&lock);
    if (n_collectors < MAX_COLLECTORS) {
        collectors[n_collectors].fn = fn;
        collectors[n_collectors].ctx = ctx;
        n_collectors++;
        rc = 0;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void metrics_uncollect(metrics_collector fn, void *ctx) {
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_collectors; i++)
        if (collectors[i].fn == fn && collectors[i].ctx == ctx) {
            collectors[i] = collectors[--n_collectors];
            break;
        }
    pthread_mutex_unlock(&lock);
}

/* A growing text buffer; on allocation failure `failed` is set and appends stop. */
struct text {
    char *buf;
    size_t len, cap;
    int failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...) {
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap <= t->len + (size_t)n)
            cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->failed = 1;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

static int by_name_then_labels(const void *a, const void *b) {
    const struct series *x = *(struct series *const *)a, *y = *(struct series *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->labels, y->labels);
}

static const struct description *description_of(const char *name) {
    for (size_t i = 0; i < n_descriptions; i++)
        if (strcmp(descriptions[i].name, name) == 0)
            return &descriptions[i];
    return NULL;
}

/* name{labels} or name{labels,extra} or name{extra} or name */
static void put_series_name(struct text *t, const char *name, const char *suffix,
                            const char *labels, const char *extra) {
    const char *sep = labels[0] && extra[0] ? "," : "";
    if (labels[0] || extra[0])
        put(t, "%s%s{%s%s%s}", name, suffix, labels, sep, extra);
    else
        put(t, "%s%s", name, suffix);
}

static void put_series(struct text *t, const struct series *s) {
    if (!s->bucket_counts) {
        put_series_name(t, s->name, "", s->labels, "");
        put(t, " %.15g\n", s->value);
        return;
    }
    uint64_t cumulative = 0;
    for (size_t i = 0; i < s->n_bounds; i++) {
        char le[32];
        cumulative += s->bucket_counts[i];
        snprintf(le, sizeof le, "le=\"%g\"", s->bounds[i]);
        put_series_name(t, s->name, "_bucket", s->labels, le);
        put(t, " %llu\n", (unsigned long long)cumulative);
    }
    put_series_name(t, s->name, "_bucket", s->labels, "le=\"+Inf\"");
    put(t, " %llu\n", (unsigned long long)s->count);
    put_series_name(t, s->name, "_sum", s->labels, "");
    put(t, " %.15g\n", s->value);
    put_series_name(t, s->name, "_count", s->labels, "");
    put(t, " %llu\n", (unsigned long long)s->count);
}

char *metrics_render(size_t *len) {
    pthread_mutex_lock(&render_lock);
    /* collectors run without `lock`: they call metrics_set */
    pthread_mutex_lock(&lock);
    size_t n = n_collectors;
    metrics_collector fns[MAX_COLLECTORS];
    void *ctxs[MAX_COLLECTORS];
    for (size_t i = 0; i < n; i++) {
        fns[i] = collectors[i].fn;
        ctxs[i] = collectors[i].ctx;
    }
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < n; i++)
        fns[i](ctxs[i]);

    struct text t = {0};
    pthread_mutex_lock(&lock);
    struct series **all = malloc((n_series ? n_series : 1) * sizeof(struct series *));
    if (!all) {
        pthread_mutex_unlock(&lock);
        pthread_mutex_unlock(&render_lock);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < N_SLOTS; i++)
        for (struct series *s = slots[i]; s; s = s->next)
            all[k++] = s;
    qsort(all, k, sizeof(struct series *), by_name_then_labels);
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    for (size_t i = 0; i < k; i++) {
        if (i == 0 || strcmp(all[i - 1]->name, all[i]->name) != 0) {
            const struct description *d = description_of(all[i]->name);
            if (d)
                put(&t, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
                    type_names[d->type]);
        }
        put_series(&t, all[i]);
    }
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&render_lock);
    free(all);
    if (!t.buf && !t.failed)
        put(&t, "%s", "");
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    *len = t.len;
    return t.buf;
}

char *metrics_label(char *buf, size_t len, const char *value) {
    size_t o = 0;
    for (const char *p = value; *p && o + 1 < len; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        if (esc) {
            if (o + 2 >= len)
                break;
            buf[o++] = esc[0];
            buf[o++] = esc[1];
        } else {
            buf[o++] = *p;
        }
    }
    if (len)
        buf[o < len ? o : len - 1] = '\0';
    return buf;
}

void metrics_reset(void) {
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < N_SLOTS; i++) {
        struct series *s = slots[i];
        while (s) {
            struct series *next = s->next;
            series_free(s);
            s = next;
        }
        slots[i] = NULL;
    }
    n_series = 0;
    for (size_t i = 0; i < n_descriptions; i++) {
        free(descriptions[i].name);
        free(descriptions[i].help);
    }
    n_descriptions = 0;
    n_collectors = 0;
    pthread_mutex_unlock(&lock);
}
