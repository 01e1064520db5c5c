/*
 * zip_stream.h — a ZIP archive (PKWARE APPNOTE 6.3, no ZIP64) produced a piece at a time from
 * gzip files written by gzip_file.h: each member's deflate data is copied from its file as it
 * is, so serving an archive costs reads, not compression. Sizes and offsets must fit 32 bits and
 * the members 65535: zip_stream_new refuses more.
 */
#ifndef COHORTD_UTIL_ZIP_STREAM_H
#define COHORTD_UTIL_ZIP_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "util/gzip_file.h"

/* One member: its name in the archive and the gzip file that holds its data. */
struct zip_member {
    const char *name;
    const char *gzip_path;
    struct gzip_file_info info;
};

struct zip_stream;

/* The whole archive of n members (copied), dated mtime_ms (UTC). NULL when the members do not
 * fit a ZIP without ZIP64 or memory ran out. */
struct zip_stream *zip_stream_new(const struct zip_member *members, size_t n, int64_t mtime_ms);
/* The archive's length in bytes. */
uint64_t zip_stream_size(const struct zip_stream *z);
/* Writes up to max next bytes of the archive into buf; returns how many, 0 at the end or when a
 * member's file can no longer be read (the archive is then cut short). */
size_t zip_stream_read(struct zip_stream *z, char *buf, size_t max);
void zip_stream_free(struct zip_stream *z);

#endif
