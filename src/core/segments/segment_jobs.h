/*
 * segment_jobs.h — Braze's segment export job (POST /users/export/segment): a request snapshots
 * a saved segment's audience and queues a job; a background thread (workers/exporter.c) writes
 * the audience as gzip NDJSON files of SEGMENT_JOBS_USERS_PER_FILE users each under
 * DIR/exports/<object_prefix>/, and the job's signed URL serves them as one ZIP archive until
 * the job expires (the retention), when the files are deleted.
 *
 * On disk, per job: job.json (written when the request is accepted: workspace, segment, fields,
 * callback, times, URL) and, once finished, state.json (done with the files and their sizes, or
 * failed with the reason), each written whole (temporary file, fsync, rename). A job without
 * state.json when the server starts was interrupted: it is queued again and exports the
 * segment's audience as it is then. DIR/exports/url.key holds the key the URLs are signed with
 * (HMAC-SHA256 over the path and the expiry), made on first start.
 *
 * One job per (workspace, segment) at a time, counted from acceptance until its callback was
 * posted; at most SEGMENT_JOBS_MAX_ACTIVE jobs queued or running in all. The lock of this module
 * is a leaf (threads.md): nothing else is taken while it is held.
 */
#ifndef COHORTD_CORE_SEGMENTS_SEGMENT_JOBS_H
#define COHORTD_CORE_SEGMENTS_SEGMENT_JOBS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/users/users.h"
#include "core/workspace/workspace.h"
#include "util/zip_stream.h"

#define SEGMENT_JOBS_USERS_PER_FILE 5000
#define SEGMENT_JOBS_MAX_ACTIVE 100
/* The path the URLs name, before "<object_prefix>.zip". */
#define SEGMENT_JOBS_URL_PATH "/users/export/segment/files/"

/* One user as one line of an export file, without the newline (malloc'd; NULL when memory ran
 * out). fields: the job's fields_to_export (a JSON array). The API's, set by the composition
 * root, so the files hold Braze's export shape. */
typedef char *(*segment_job_render_fn)(const struct user_export *u, const json_t *fields);

struct segment_jobs_config {
    const char *data_dir;   /* files go under DATA_DIR/exports/ (made when missing) */
    const char *public_url; /* base of the URLs handed out, e.g. http://127.0.0.1:8080 */
    int64_t retention_ms;   /* a job's URL and files live this long after its request (> 0) */
    segment_job_render_fn render;
};

struct segment_jobs;
struct segment_job;

/* Loads the key (making it on first start) and queues the jobs a stop interrupted. CD_E_IO
 * when the directory or key cannot be made or read. */
enum cd_err segment_jobs_new(struct app *app, const struct segment_jobs_config *cfg,
                             struct segment_jobs **out);
void segment_jobs_free(struct segment_jobs *jobs);
/* Replaces the base of the URLs later jobs are given (a server bound to port 0 knows its port
 * only once listening). 0, or -1 when memory ran out (the old base stays). */
int segment_jobs_set_public_url(struct segment_jobs *jobs, const char *public_url);

struct segment_job_request {
    const char *segment_id;
    const json_t *fields;          /* fields_to_export, a non-empty array of names (checked) */
    unsigned parts;                /* USER_EXPORT_* the fields need */
    const char *callback_endpoint; /* NULL: none */
};

/* What an accepted job answers with. */
struct segment_job_ticket {
    char object_prefix[64]; /* "<uuid>-<UNIX seconds of the request>" */
    char *url;              /* malloc'd: the signed URL of the ZIP */
};

/* Snapshots the segment's audience now and queues the job. CD_E_NOT_FOUND for no such segment;
 * CD_E_BUSY when a job of the same segment is queued or running (msg says so) or
 * SEGMENT_JOBS_MAX_ACTIVE are; CD_E_IO when job.json cannot be written. On CD_OK free
 * ticket->url. */
enum cd_err segment_jobs_start(struct segment_jobs *jobs, struct workspace *ws,
                               const struct segment_job_request *req,
                               struct segment_job_ticket *ticket, struct cd_msg *msg);

/* ---- the worker's side ---- */

/* Waits up to wait_ms for a queued job and marks it running; NULL on timeout or once
 * segment_jobs_wake(jobs, true) was called. */
struct segment_job *segment_jobs_take(struct segment_jobs *jobs, int64_t wait_ms);
/* Wakes segment_jobs_take; with stopping, every later take answers NULL at once and a running
 * job gives up between users (without state.json: it runs again after the next start). */
void segment_jobs_wake(struct segment_jobs *jobs, bool stopping);
/* Whether segment_jobs_wake(jobs, true) was called. */
bool segment_jobs_take_stopped(struct segment_jobs *jobs);
/* Writes the job's files and its state.json. CD_OK when done, else it is marked failed (or,
 * on a stop, left to run again). */
enum cd_err segment_job_run(struct segment_jobs *jobs, struct segment_job *job);
/* The job's callback endpoint (NULL when none) and URL, borrowed until segment_jobs_done. */
const char *segment_job_callback(const struct segment_job *job);
const char *segment_job_url(const struct segment_job *job);
/* Ends the job (another export of its segment may start) and frees it. */
void segment_jobs_done(struct segment_jobs *jobs, struct segment_job *job);
/* Deletes the directories of finished jobs whose time passed; returns how many. */
int segment_jobs_sweep(struct segment_jobs *jobs, int64_t now_ms);

/* ---- downloads ---- */

enum segment_file_state {
    SEGMENT_FILE_FORBIDDEN, /* unknown file, bad or expired signature */
    SEGMENT_FILE_PENDING,   /* the export is not finished yet */
    SEGMENT_FILE_FAILED,    /* the export failed */
    SEGMENT_FILE_READY,     /* *zip is the archive */
};

/* The archive a URL names: file is "<object_prefix>.zip", expires and signature its query
 * arguments (NULL when absent). On READY the caller frees *zip. */
enum segment_file_state segment_jobs_open_file(struct segment_jobs *jobs, const char *file,
                                               const char *expires, const char *signature,
                                               int64_t now_ms, struct zip_stream **zip);

#endif
