/*
 * gzip_file.h — writes one gzip file (RFC 1952) of a single member with a fixed 10-byte header
 * (no name, no extra fields), so that its deflate data starts at GZIP_FILE_DATA_OFFSET and ends
 * 8 bytes before the end: a ZIP archive (zip_stream.h) can carry that data as it is, without
 * compressing again. zlib does the deflating.
 */
#ifndef COHORTD_UTIL_GZIP_FILE_H
#define COHORTD_UTIL_GZIP_FILE_H

#include <stddef.h>
#include <stdint.h>

#define GZIP_FILE_DATA_OFFSET 10

/* What a finished file holds. */
struct gzip_file_info {
    uint32_t crc32;       /* of the uncompressed bytes */
    uint64_t size;        /* uncompressed bytes */
    uint64_t deflate_len; /* bytes of deflate data (the file is this + 18 bytes) */
};

struct gzip_file;

/* Creates (truncates) path with mode 0600. NULL when it cannot be created or memory ran out. */
struct gzip_file *gzip_file_create(const char *path);
/* Compresses n bytes into the file. 0, or -1 on an I/O or zlib error (the file is then only
 * good for gzip_file_abort). */
int gzip_file_write(struct gzip_file *g, const void *data, size_t n);
/* Ends the stream, fsyncs and closes the file, fills *info, frees g. 0 or -1 (g freed too). */
int gzip_file_close(struct gzip_file *g, struct gzip_file_info *info);
/* Closes and removes the file, frees g; NULL-safe. */
void gzip_file_abort(struct gzip_file *g);

#endif
