/*
 * zip_stream.c — the archive as a list of pieces: for each member its local header (memory),
 * then its deflate data (a byte range of its gzip file); then the central directory and its end
 * record (memory). Reading walks the pieces; a member's file is opened when its data starts and
 * closed when it ends, so at most one descriptor is open. Memory: the headers, ~100 bytes a
 * member.
 */
#include "util/zip_stream.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOCAL_LEN 30
#define CENTRAL_LEN 46
#define END_LEN 22

struct piece {
    unsigned char *mem; /* owned, or NULL for a file range */
    char *path;         /* owned, for a file range */
    uint64_t off, len;
};

struct zip_stream {
    struct piece *pieces;
    size_t n_pieces;
    size_t cur;   /* piece being read */
    uint64_t pos; /* within it */
    int fd;       /* the current file piece's, or -1 */
    uint64_t size;
};

static unsigned char *put16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    return p + 2;
}

static unsigned char *put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    return p + 4;
}

/* MS-DOS date and time of ms (UTC), as ZIP keeps them. */
static void dos_time(int64_t ms, unsigned *date, unsigned *tm) {
    time_t t = (time_t)(ms / 1000);
    struct tm g;
    gmtime_r(&t, &g);
    if (g.tm_year < 80) {
        *date = (1u << 5) | 1u; /* 1980-01-01 */
        *tm = 0;
        return;
    }
    *date = (unsigned)(((g.tm_year - 80) << 9) | ((g.tm_mon + 1) << 5) | g.tm_mday);
    *tm = (unsigned)((g.tm_hour << 11) | (g.tm_min << 5) | (g.tm_sec / 2));
}

/* The fields a local and a central header share, from "version needed" to the extra length. */
static unsigned char *common_fields(unsigned char *p, const struct zip_member *m, unsigned date,
                                    unsigned tm) {
    p = put16(p, 20); /* version needed: deflate */
    p = put16(p, 0);  /* flags */
    p = put16(p, 8);  /* method: deflate */
    p = put16(p, tm);
    p = put16(p, date);
    p = put32(p, m->info.crc32);
    p = put32(p, (uint32_t)m->info.deflate_len);
    p = put32(p, (uint32_t)m->info.size);
    p = put16(p, (unsigned)strlen(m->name));
    return put16(p, 0); /* extra length */
}

void zip_stream_free(struct zip_stream *z) {
    if (!z)
        return;
    for (size_t i = 0; i < z->n_pieces; i++) {
        free(z->pieces[i].mem);
        free(z->pieces[i].path);
    }
    free(z->pieces);
    if (z->fd >= 0)
        close(z->fd);
    free(z);
}

struct zip_stream *zip_stream_new(const struct zip_member *members, size_t n, int64_t mtime_ms) {
    if (n > 0xffff)
        return NULL;
    struct zip_stream *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    z->fd = -1;
    z->pieces = calloc(2 * n + 1, sizeof *z->pieces);
    size_t cd_len = END_LEN;
    for (size_t i = 0; i < n; i++)
        cd_len += CENTRAL_LEN + strlen(members[i].name);
    unsigned char *cd = malloc(cd_len);
    if (!z->pieces || !cd) {
        free(cd);
        zip_stream_free(z);
        return NULL;
    }
    unsigned date, tm;
    dos_time(mtime_ms, &date, &tm);
    uint64_t off = 0;
    unsigned char *c = cd;
    for (size_t i = 0; i < n; i++) {
        const struct zip_member *m = &members[i];
        size_t name_len = strlen(m->name);
        if (name_len > 0xffff || m->info.size > 0xffffffffu || m->info.deflate_len > 0xffffffffu ||
            off > 0xffffffffu)
            goto fail;
        struct piece *h = &z->pieces[z->n_pieces++];
        h->len = LOCAL_LEN + name_len;
        h->mem = malloc(h->len);
        struct piece *d = &z->pieces[z->n_pieces++];
        d->path = strdup(m->gzip_path);
        d->off = GZIP_FILE_DATA_OFFSET;
        d->len = m->info.deflate_len;
        if (!h->mem || !d->path)
            goto fail;
        unsigned char *p = put32(h->mem, 0x04034b50);
        p = common_fields(p, m, date, tm);
        memcpy(p, m->name, name_len);
        c = put32(c, 0x02014b50);
        c = put16(c, (3u << 8) | 20u); /* made by: UNIX, 2.0 */
        c = common_fields(c, m, date, tm);
        c = put16(c, 0);              /* comment length */
        c = put16(c, 0);              /* disk number */
        c = put16(c, 0);              /* internal attributes */
        c = put32(c, 0100644u << 16); /* external: a regular file, rw-r--r-- */
        c = put32(c, (uint32_t)off);  /* where its local header is */
        memcpy(c, m->name, name_len);
        c += name_len;
        off += h->len + d->len;
    }
    uint64_t cd_size = (uint64_t)(c - cd);
    if (off > 0xffffffffu || off + cd_size > 0xffffffffu)
        goto fail;
    c = put32(c, 0x06054b50);
    c = put16(c, 0); /* this disk */
    c = put16(c, 0); /* the disk the directory starts on */
    c = put16(c, (unsigned)n);
    c = put16(c, (unsigned)n);
    c = put32(c, (uint32_t)cd_size);
    c = put32(c, (uint32_t)off);
    put16(c, 0); /* comment length */
    z->pieces[z->n_pieces++] = (struct piece){.mem = cd, .len = cd_len};
    z->size = off + cd_len;
    return z;
fail:
    free(cd);
    zip_stream_free(z);
    return NULL;
}

uint64_t zip_stream_size(const struct zip_stream *z) {
    return z->size;
}

size_t zip_stream_read(struct zip_stream *z, char *buf, size_t max) {
    size_t used = 0;
    while (used < max && z->cur < z->n_pieces) {
        struct piece *p = &z->pieces[z->cur];
        uint64_t left = p->len - z->pos;
        size_t n = left < max - used ? (size_t)left : max - used;
        if (p->mem) {
            memcpy(buf + used, p->mem + z->pos, n);
        } else if (n > 0) {
            if (z->fd < 0)
                z->fd = open(p->path, O_RDONLY | O_CLOEXEC);
            ssize_t r = z->fd < 0 ? -1 : pread(z->fd, buf + used, n, (off_t)(p->off + z->pos));
            if (r <= 0) {
                z->cur = z->n_pieces; /* cut short: the reader sees a truncated archive */
                return used;
            }
            n = (size_t)r;
        }
        used += n;
        z->pos += n;
        if (z->pos == p->len) {
            if (z->fd >= 0) {
                close(z->fd);
                z->fd = -1;
            }
            z->cur++;
            z->pos = 0;
        }
    }
    return used;
}
