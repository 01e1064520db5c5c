/*
 * gzip_file.c — one gzip member written with zlib's raw deflate between a header and a trailer
 * of our own (see gzip_file.h), so the deflate data's place in the file is fixed. Memory: one
 * zlib stream (~256 KiB) and a 64 KiB output buffer per open file.
 */
#include "util/gzip_file.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define OUT_CAP 65536

struct gzip_file {
    int fd;
    char *path;
    z_stream z;
    uint32_t crc;
    uint64_t size, deflate_len;
    unsigned char out[OUT_CAP];
};

static int write_all(int fd, const void *buf, size_t n) {
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

struct gzip_file *gzip_file_create(const char *path) {
    struct gzip_file *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->path = strdup(path);
    g->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    /* raw deflate (negative window bits): the header and trailer are ours */
    if (!g->path || g->fd < 0 ||
        deflateInit2(&g->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
            Z_OK) {
        if (g->fd >= 0) {
            close(g->fd);
            unlink(path);
        }
        free(g->path);
        free(g);
        return NULL;
    }
    /* ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=unix */
    static const unsigned char header[GZIP_FILE_DATA_OFFSET] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    g->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    if (write_all(g->fd, header, sizeof header) != 0) {
        gzip_file_abort(g);
        return NULL;
    }
    return g;
}

/* Runs deflate over what z holds with flush, writing every output byte. */
static int pump(struct gzip_file *g, int flush) {
    int rc;
    do {
        g->z.next_out = g->out;
        g->z.avail_out = OUT_CAP;
        rc = deflate(&g->z, flush);
        if (rc == Z_STREAM_ERROR)
            return -1;
        size_t n = OUT_CAP - g->z.avail_out;
        if (n && write_all(g->fd, g->out, n) != 0)
            return -1;
        g->deflate_len += n;
    } while (g->z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    return 0;
}

int gzip_file_write(struct gzip_file *g, const void *data, size_t n) {
    const unsigned char *p = data;
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        g->crc = (uint32_t)crc32(g->crc, p, chunk);
        g->size += chunk;
        g->z.next_in = (unsigned char *)p;
        g->z.avail_in = chunk;
        if (pump(g, Z_NO_FLUSH) != 0)
            return -1;
        p += chunk;
        n -= chunk;
    }
    return 0;
}

int gzip_file_close(struct gzip_file *g, struct gzip_file_info *info) {
    g->z.next_in = NULL;
    g->z.avail_in = 0;
    unsigned char trailer[8];
    for (int i = 0; i < 4; i++) {
        trailer[i] = (unsigned char)(g->crc >> (8 * i));
        trailer[4 + i] = (unsigned char)((uint32_t)g->size >> (8 * i)); /* ISIZE: mod 2^32 */
    }
    if (pump(g, Z_FINISH) != 0 || write_all(g->fd, trailer, sizeof trailer) != 0 ||
        fsync(g->fd) != 0) {
        gzip_file_abort(g);
        return -1;
    }
    *info = (struct gzip_file_info){g->crc, g->size, g->deflate_len};
    deflateEnd(&g->z);
    int rc = close(g->fd);
    free(g->path);
    free(g);
    return rc == 0 ? 0 : -1;
}

void gzip_file_abort(struct gzip_file *g) {
    if (!g)
        return;
    deflateEnd(&g->z);
    close(g->fd);
    unlink(g->path);
    free(g->path);
    free(g);
}
