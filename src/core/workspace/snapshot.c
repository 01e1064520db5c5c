/*
 * snapshot.c — encode and decode of the start-up snapshot (snapshot.h). The file is a fixed
 * header, then a body of sections in a fixed order: the identity index (user table, live and
 * identified bitmaps, the five maps as their slot tables and key arenas), the attribute index,
 * the event index, the cohort bitmaps. Tables go as they are in memory (the header records
 * their element sizes, so a build with another layout refuses the file); bitmaps in Roaring's
 * portable format, checked on the way back (bitmap_from_blob). The body's length and checksum
 * are in the header: a torn or edited file is refused before anything is built from it.
 */
#include "core/workspace/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/index/bitmap.h"

#define SNAP_MAGIC "CDSNAP\r\n"
/* 2: the header holds a user change position (1 held a user generation) */
#define SNAP_VERSION 2u
#define SNAP_BUF (1u << 20) /* bytes written at a time; a multiple of 8 (the checksum's word) */

struct snap_header {
    char magic[8];
    uint32_t version;
    uint32_t sizes; /* sizeof user_mem, strmap_slot, event_stat: one byte each */
    uint8_t store_id[16];
    int64_t ws_id;
    int64_t user_seq;
    int64_t log_seq;
    uint64_t body_len;
    uint64_t checksum;
};

static uint32_t layout_sizes(void) {
    return (uint32_t)sizeof(struct user_mem) | (uint32_t)sizeof(struct strmap_slot) << 8 |
           (uint32_t)sizeof(struct event_stat) << 16;
}

static uint64_t fold(uint64_t h, const unsigned char *p, size_t len) {
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    for (; i < len; i++)
        h = (h ^ p[i]) * k;
    return h;
}

uint64_t snapshot_checksum(const void *p, size_t len) {
    return fold(0xC0FFEE5EEDull, p, len);
}

/* ---- writing ---- */

struct out {
    int fd;
    unsigned char *buf;
    size_t n;
    uint64_t sum;
    uint64_t len;
    int failed; /* errno of the first failed write, or -1 for no memory */
};

static void flush(struct out *o) {
    if (o->failed || !o->n)
        return;
    o->sum = fold(o->sum, o->buf, o->n);
    size_t off = 0;
    while (off < o->n) {
        ssize_t w = write(o->fd, o->buf + off, o->n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            o->failed = w < 0 ? errno : ENOSPC;
            return;
        }
        off += (size_t)w;
    }
    o->len += o->n;
    o->n = 0;
}

static void put(struct out *o, const void *p, size_t len) {
    if (!len)
        return;
    const unsigned char *s = p;
    while (len && !o->failed) {
        size_t k = SNAP_BUF - o->n < len ? SNAP_BUF - o->n : len;
        memcpy(o->buf + o->n, s, k);
        o->n += k;
        s += k;
        len -= k;
        if (o->n == SNAP_BUF)
            flush(o);
    }
}

static void put_u64(struct out *o, uint64_t v) {
    put(o, &v, sizeof v);
}

static void put_bitmap(struct out *o, const roaring_bitmap_t *b) {
    size_t len = 0;
    void *blob = bitmap_to_blob(b, &len);
    if (!blob) {
        o->failed = -1;
        return;
    }
    put_u64(o, len);
    put(o, blob, len);
    free(blob);
}

static void put_map(struct out *o, const struct strmap *m) {
    put_u64(o, m->cap);
    put_u64(o, m->n_used);
    put_u64(o, m->n_tomb);
    put_u64(o, m->arena_len);
    put(o, m->slots, m->cap * sizeof *m->slots);
    put(o, m->arena, m->arena_len);
}

static void put_text(struct out *o, const char *s) {
    size_t n = strlen(s);
    put_u64(o, n);
    put(o, s, n);
}

static void put_body(struct out *o, const struct snapshot_indexes *ix) {
    const struct identity *id = ix->ident;
    uint32_t rows = id->users ? id->n_users : 0; /* a fresh index has no table yet */
    put_u64(o, id->n_users);
    put_u64(o, id->n_live);
    put_u64(o, rows);
    put(o, id->users, (size_t)rows * sizeof *id->users);
    put_bitmap(o, id->live);
    put_bitmap(o, id->identified);
    put_map(o, &id->ext);
    put_map(o, &id->alias);
    put_map(o, &id->device);
    put_map(o, &id->contact[IDENTITY_EMAIL]);
    put_map(o, &id->contact[IDENTITY_PHONE]);

    const struct attr_index *ax = ix->attrs;
    put_map(o, &ax->names);
    put_u64(o, ax->n);
    for (size_t i = 0; i < ax->n; i++) {
        const struct attr_values *a = ax->v[i];
        put_text(o, ax->name_list[i]);
        put_bitmap(o, a->exists);
        put_map(o, &a->eq);
        put_map(o, &a->elem);
        put_u64(o, a->n_bitmaps);
        for (size_t k = 0; k < a->n_bitmaps; k++)
            put_bitmap(o, a->bitmaps[k]);
    }

    const struct event_index *ex = ix->events;
    put_map(o, &ex->names);
    put_u64(o, ex->n);
    for (size_t i = 0; i < ex->n; i++) {
        const struct event_column *c = &ex->cols[i];
        put_text(o, ex->name_list[i]);
        put_bitmap(o, c->users);
        put_u64(o, c->cap);
        put_u64(o, c->n);
        put(o, c->slots, c->cap * sizeof *c->slots);
        put_u64(o, c->pool_len);
        put(o, c->pool, c->pool_len * sizeof *c->pool);
        put(o, c->free_head, sizeof c->free_head);
    }

    const struct cohort_set *cs = ix->cohorts;
    put_u64(o, cs->n);
    for (size_t i = 0; i < cs->n; i++) {
        put_u64(o, (uint64_t)cs->v[i]->id);
        put_u64(o, (uint64_t)(ix->n_log ? ix->n_log[i] : cs->v[i]->n_log));
        put_bitmap(o, cs->v[i]->members);
    }
}

void snapshot_path(const char *dir, int64_t ws_id, char *out, size_t cap) {
    snprintf(out, cap, "%s/ws-%lld.snap", dir, (long long)ws_id);
}

static int fsync_dir_of(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

enum cd_err snapshot_write(const struct snapshot_indexes *ix,
                           const struct store_snapshot_mark *mark, const char *path,
                           uint64_t *bytes, char *why, size_t why_cap) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct out o = {.fd = -1, .sum = 0xC0FFEE5EEDull};
    o.buf = malloc(SNAP_BUF);
    if (!o.buf)
        return CD_E_NOMEM;
    o.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (o.fd < 0) {
        snprintf(why, why_cap, "open %s: %s", tmp, strerror(errno));
        free(o.buf);
        return CD_E_IO;
    }
    struct snap_header h = {.version = SNAP_VERSION,
                            .sizes = layout_sizes(),
                            .ws_id = ix->ws_id,
                            .user_seq = mark->user_seq,
                            .log_seq = mark->log_seq};
    memcpy(h.magic, SNAP_MAGIC, sizeof h.magic);
    memcpy(h.store_id, mark->store_id, sizeof h.store_id);
    /* the header is written last, over this placeholder, once the body's sum is known */
    if (lseek(o.fd, (off_t)sizeof h, SEEK_SET) < 0)
        o.failed = errno;
    put_body(&o, ix);
    flush(&o);
    h.body_len = o.len;
    h.checksum = o.sum;
    if (!o.failed && pwrite(o.fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        o.failed = errno ? errno : ENOSPC;
    if (!o.failed && fsync(o.fd) != 0)
        o.failed = errno;
    if (close(o.fd) != 0 && !o.failed)
        o.failed = errno;
    free(o.buf);
    if (!o.failed && rename(tmp, path) != 0)
        o.failed = errno;
    if (!o.failed && fsync_dir_of(path) != 0)
        o.failed = errno;
    if (o.failed) {
        unlink(tmp);
        if (o.failed == -1)
            return CD_E_NOMEM;
        snprintf(why, why_cap, "write %s: %s", tmp, strerror(o.failed));
        return CD_E_IO;
    }
    *bytes = o.len + sizeof h;
    return CD_OK;
}

/* ---- reading ---- */

struct in {
    const unsigned char *p;
    size_t left;
    int bad;   /* the body does not parse */
    int nomem; /* memory ran out */
};

static const void *take(struct in *in, size_t len) {
    if (in->bad || len > in->left) {
        in->bad = 1;
        return NULL;
    }
    const void *p = in->p;
    in->p += len;
    in->left -= len;
    return p;
}

static uint64_t get_u64(struct in *in) {
    const void *p = take(in, 8);
    uint64_t v = 0;
    if (p)
        memcpy(&v, p, 8);
    return v;
}

/* A copy of the next len bytes (len may be 0: NULL), or NULL with bad / nomem set. */
static void *get_copy(struct in *in, uint64_t len) {
    if (len > in->left) {
        in->bad = 1;
        return NULL;
    }
    const void *p = take(in, (size_t)len);
    if (!p || !len)
        return NULL;
    void *q = malloc((size_t)len);
    if (!q) {
        in->nomem = 1;
        return NULL;
    }
    memcpy(q, p, (size_t)len);
    return q;
}

static roaring_bitmap_t *get_bitmap(struct in *in) {
    uint64_t len = get_u64(in);
    if (len > in->left)
        in->bad = 1;
    const void *p = in->bad ? NULL : take(in, (size_t)len);
    if (!p)
        return NULL;
    const char *why = NULL;
    roaring_bitmap_t *b = bitmap_from_blob(p, (size_t)len, &why);
    if (!b)
        in->bad = 1;
    return b;
}

static char *get_text(struct in *in) {
    uint64_t len = get_u64(in);
    if (len > in->left) {
        in->bad = 1;
        return NULL;
    }
    const void *p = take(in, (size_t)len);
    char *s = p ? strndup(p, (size_t)len) : NULL;
    if (p && !s)
        in->nomem = 1;
    return s;
}

/* A map as put_map wrote it, into the empty map m; its key references are checked. */
static void get_map(struct in *in, struct strmap *m) {
    uint64_t cap = get_u64(in), n_used = get_u64(in), n_tomb = get_u64(in);
    uint64_t arena_len = get_u64(in);
    if (in->bad || cap > in->left / sizeof(struct strmap_slot) || arena_len > UINT32_MAX ||
        n_used + n_tomb > cap) {
        in->bad = 1;
        return;
    }
    m->slots = get_copy(in, cap * sizeof(struct strmap_slot));
    m->arena = get_copy(in, arena_len);
    if (in->bad || in->nomem) {
        free(m->slots);
        free(m->arena);
        m->slots = NULL;
        m->arena = NULL;
        return;
    }
    m->cap = (size_t)cap;
    m->n_used = (size_t)n_used;
    m->n_tomb = (size_t)n_tomb;
    m->arena_len = m->arena_cap = (size_t)arena_len;
    for (size_t i = 0; i < m->cap; i++) {
        if (strmap_slot_live(&m->slots[i]) && m->slots[i].key_ref > arena_len) {
            in->bad = 1;
            return;
        }
    }
}

static void get_identity(struct in *in, struct identity *id) {
    uint64_t n_users = get_u64(in), n_live = get_u64(in), rows = get_u64(in);
    if (in->bad || n_users < 1 || n_users > UINT32_MAX || n_live > n_users ||
        (rows != 0 && rows != n_users) || rows > in->left / sizeof(struct user_mem)) {
        in->bad = 1;
        return;
    }
    free(id->users);
    id->users = get_copy(in, rows * sizeof(struct user_mem));
    id->users_cap = id->users ? (uint32_t)rows : 0;
    id->n_users = (uint32_t)n_users;
    id->n_live = (uint32_t)n_live;
    roaring_bitmap_t *live = get_bitmap(in), *identified = get_bitmap(in);
    if (live) {
        roaring_bitmap_free(id->live);
        id->live = live;
    }
    if (identified) {
        roaring_bitmap_free(id->identified);
        id->identified = identified;
    }
    get_map(in, &id->ext);
    get_map(in, &id->alias);
    get_map(in, &id->device);
    get_map(in, &id->contact[IDENTITY_EMAIL]);
    get_map(in, &id->contact[IDENTITY_PHONE]);
    if (!in->bad && roaring_bitmap_get_cardinality(id->live) != n_live)
        in->bad = 1;
}

/* Room for n more pointers of size sz in *v (a fresh index: exact size). */
static void *get_array(struct in *in, uint64_t n, size_t sz) {
    if (n > in->left) { /* each element takes at least a byte of the file */
        in->bad = 1;
        return NULL;
    }
    void *v = n ? calloc((size_t)n, sz) : NULL;
    if (n && !v)
        in->nomem = 1;
    return v;
}

static void get_attrs(struct in *in, struct attr_index *ax) {
    get_map(in, &ax->names);
    uint64_t n = get_u64(in);
    ax->v = get_array(in, n, sizeof(void *)); /* pointers to attr_values */
    ax->name_list = get_array(in, n, sizeof *ax->name_list);
    if (!ax->v || !ax->name_list)
        return;
    ax->cap = (size_t)n;
    for (size_t i = 0; i < n && !in->bad && !in->nomem; i++) {
        struct attr_values *a = calloc(1, sizeof *a);
        if (!a) {
            in->nomem = 1;
            return;
        }
        ax->v[i] = a;
        ax->n = i + 1;
        ax->name_list[i] = get_text(in);
        a->exists = get_bitmap(in);
        strmap_init(&a->eq);
        strmap_init(&a->elem);
        get_map(in, &a->eq);
        get_map(in, &a->elem);
        uint64_t nb = get_u64(in);
        a->bitmaps = get_array(in, nb, sizeof(void *)); /* pointers to bitmaps */
        for (size_t k = 0; a->bitmaps && k < nb && !in->bad; k++) {
            a->bitmaps[k] = get_bitmap(in);
            a->n_bitmaps = a->bitmaps_cap = k + 1;
        }
        if (!a->exists || !ax->name_list[i])
            in->bad = 1;
    }
}

static void get_events(struct in *in, struct event_index *ex) {
    get_map(in, &ex->names);
    uint64_t n = get_u64(in);
    ex->cols = get_array(in, n, sizeof *ex->cols);
    ex->name_list = get_array(in, n, sizeof *ex->name_list);
    if (!ex->cols || !ex->name_list)
        return;
    ex->cap = (size_t)n;
    for (size_t i = 0; i < n && !in->bad && !in->nomem; i++) {
        struct event_column *c = &ex->cols[i];
        ex->n = i + 1;
        ex->name_list[i] = get_text(in);
        c->users = get_bitmap(in);
        uint64_t cap = get_u64(in), used = get_u64(in);
        if (in->bad || cap > in->left / sizeof *c->slots || used > cap) {
            in->bad = 1;
            return;
        }
        c->slots = get_copy(in, cap * sizeof *c->slots);
        c->cap = c->slots ? (size_t)cap : 0;
        c->n = (size_t)used;
        uint64_t pool_len = get_u64(in);
        if (in->bad || pool_len > in->left / sizeof *c->pool) {
            in->bad = 1;
            return;
        }
        c->pool = get_copy(in, pool_len * sizeof *c->pool);
        c->pool_len = c->pool_cap = c->pool ? (size_t)pool_len : 0;
        const void *fh = take(in, sizeof c->free_head);
        if (fh)
            memcpy(c->free_head, fh, sizeof c->free_head);
        if (!c->users || !ex->name_list[i])
            in->bad = 1;
    }
    if (!in->bad && !in->nomem && event_index_index_days(ex) != 0)
        in->nomem = 1; /* the day index is not in the file: built from the slots */
}

static void get_cohorts(struct in *in, struct snapshot_cohorts *out) {
    uint64_t n = get_u64(in);
    out->v = get_array(in, n, sizeof *out->v);
    for (size_t i = 0; out->v && i < n && !in->bad; i++) {
        struct snapshot_cohort *c = &out->v[i];
        c->id = (int64_t)get_u64(in);
        c->n_log = (int)get_u64(in);
        c->members = get_bitmap(in);
        out->n = i + 1;
        if (i > 0 && c->id <= out->v[i - 1].id)
            in->bad = 1; /* the set is in row id order (cohort_load looks cohorts up by id) */
    }
}

void snapshot_cohorts_free(struct snapshot_cohorts *c) {
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].members)
            roaring_bitmap_free(c->v[i].members);
    free(c->v);
    memset(c, 0, sizeof *c);
}

const char *snapshot_miss_name(enum snapshot_miss m) {
    switch (m) {
    case SNAPSHOT_USED:
        return "used";
    case SNAPSHOT_MISSING:
        return "missing";
    case SNAPSHOT_CORRUPT:
        return "corrupt";
    case SNAPSHOT_FOREIGN:
        return "foreign";
    case SNAPSHOT_STALE:
        return "stale";
    case SNAPSHOT_NOMEM:
        return "out_of_memory";
    }
    return "unknown";
}

static enum snapshot_miss check_header(const struct snap_header *h, size_t file_len, int64_t ws_id,
                                       const struct store_snapshot_mark *now, char *why,
                                       size_t why_cap) {
    if (memcmp(h->magic, SNAP_MAGIC, sizeof h->magic) != 0) {
        snprintf(why, why_cap, "not a snapshot file");
        return SNAPSHOT_CORRUPT;
    }
    if (h->version != SNAP_VERSION || h->sizes != layout_sizes()) {
        snprintf(why, why_cap, "format version %u, this build reads %u", h->version, SNAP_VERSION);
        return SNAPSHOT_FOREIGN;
    }
    if (memcmp(h->store_id, now->store_id, sizeof h->store_id) != 0 || h->ws_id != ws_id) {
        snprintf(why, why_cap, "written for another store or workspace");
        return SNAPSHOT_FOREIGN;
    }
    if (h->body_len != file_len - sizeof *h) {
        snprintf(why, why_cap, "length %zu, header says %llu", file_len - sizeof *h,
                 (unsigned long long)h->body_len);
        return SNAPSHOT_CORRUPT;
    }
    if (h->user_seq > now->user_seq) {
        snprintf(why, why_cap, "ahead of the store (user changes %lld, store %lld)",
                 (long long)h->user_seq, (long long)now->user_seq);
        return SNAPSHOT_STALE;
    }
    if (h->log_seq > now->log_seq) {
        snprintf(why, why_cap, "ahead of the store (log %lld, store %lld)", (long long)h->log_seq,
                 (long long)now->log_seq);
        return SNAPSHOT_STALE;
    }
    return SNAPSHOT_USED;
}

enum snapshot_miss snapshot_read(const struct snapshot_indexes *ix, const char *path,
                                 const struct store_snapshot_mark *now,
                                 struct snapshot_cohorts *cohorts, char *why, size_t why_cap) {
    memset(cohorts, 0, sizeof *cohorts);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_cap, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? SNAPSHOT_MISSING : SNAPSHOT_CORRUPT;
    }
    struct stat st;
    struct snap_header h;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof h ||
        pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
        close(fd);
        snprintf(why, why_cap, "%s: shorter than its header", path);
        return SNAPSHOT_CORRUPT;
    }
    enum snapshot_miss m = check_header(&h, (size_t)st.st_size, ix->ws_id, now, why, why_cap);
    if (m != SNAPSHOT_USED) {
        close(fd);
        return m;
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        snprintf(why, why_cap, "mmap %s: %s", path, strerror(errno));
        return SNAPSHOT_NOMEM;
    }
    madvise(map, len, MADV_SEQUENTIAL);
    const unsigned char *body = (const unsigned char *)map + sizeof h;
    if (snapshot_checksum(body, (size_t)h.body_len) != h.checksum) {
        munmap(map, len);
        snprintf(why, why_cap, "checksum does not match");
        return SNAPSHOT_CORRUPT;
    }
    struct in in = {body, (size_t)h.body_len, 0, 0};
    get_identity(&in, ix->ident);
    get_attrs(&in, ix->attrs);
    get_events(&in, ix->events);
    get_cohorts(&in, cohorts);
    if (!in.bad && !in.nomem && in.left)
        in.bad = 1;
    munmap(map, len);
    cohorts->log_seq = h.log_seq;
    cohorts->user_seq = h.user_seq;
    if (in.bad || in.nomem) {
        /* the caller frees the half-filled indexes with the fresh workspace */
        snapshot_cohorts_free(cohorts);
        snprintf(why, why_cap, in.nomem ? "out of memory" : "content does not parse");
        return in.nomem ? SNAPSHOT_NOMEM : SNAPSHOT_CORRUPT;
    }
    return SNAPSHOT_USED;
}
