/*
 * segment_jobs.c — the segment export jobs (segment_jobs.h): the queue and the one-per-segment
 * rule in memory, the job and state files on disk, the signing key, the writing of a job's
 * files and their retention. Touches the workspace (read lock, for the audience), committed
 * store reads (users, through core/users) and files under DATA_DIR/exports/ only.
 *
 * Invariants: a job in the active list is queued or running and is the only one of its
 * (workspace, segment); state.json exists only once all of a job's files are complete and
 * synced. Costs: a job reads each member's profile (and the parts its fields need) from the
 * store and writes ~1 gzip file per SEGMENT_JOBS_USERS_PER_FILE users; memory holds the audience
 * bitmap and one line at a time.
 */
#include "core/segments/segment_jobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/segments/segments.h"
#include "core/workspace/workspace_int.h"
#include "util/crypto.h"
#include "util/gzip_file.h"
#include "util/log.h"
#include "util/timeutil.h"

#define KEY_LEN 32
#define PATH_CAP 4096

enum job_state { JOB_QUEUED, JOB_RUNNING };

struct segment_job {
    struct segment_job *next;
    enum job_state state;
    int64_t ws_id;
    char *segment_id;
    char prefix[64];
    json_t *fields;
    unsigned parts;
    char *callback; /* NULL: none */
    char *url;
    roaring_bitmap_t *audience; /* the snapshot of the request; NULL after a restart */
    struct workspace *ws;       /* NULL after a restart: looked up when run */
};

struct segment_jobs {
    struct app *app;
    char *dir;        /* DATA_DIR/exports */
    char *public_url; /* under lock (segment_jobs_set_public_url) */
    int64_t retention_ms;
    segment_job_render_fn render;
    uint8_t key[KEY_LEN];
    pthread_mutex_t lock; /* leaf: the list, n_active, stopping, public_url */
    pthread_cond_t wake;
    struct segment_job *active; /* queued and running, oldest first */
    int n_active;
    bool stopping;
};

static void job_free(struct segment_job *j) {
    if (!j)
        return;
    free(j->segment_id);
    json_decref(j->fields);
    free(j->callback);
    free(j->url);
    if (j->audience)
        roaring_bitmap_free(j->audience);
    free(j);
}

/* ---- files ---- */

/* Writes text to path whole: a temporary beside it, fsync, rename. 0 or -1. */
static int write_whole(const char *path, const char *text) {
    char tmp[PATH_CAP];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0) {
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int write_json(const char *path, json_t *obj) {
    char *text = json_dumps(obj, JSON_COMPACT);
    int rc = text ? write_whole(path, text) : -1;
    free(text);
    return rc;
}

static json_t *read_json(const char *dir, const char *prefix, const char *name) {
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/%s/%s", dir, prefix, name);
    json_t *j = json_load_file(path, 0, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Removes a job's directory and what is in it (files only: a job makes no subdirectory). */
static void remove_job_dir(const char *dir, const char *prefix) {
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/%s", dir, prefix);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char file[PATH_CAP + 256];
            snprintf(file, sizeof file, "%s/%s", path, e->d_name);
            unlink(file);
        }
        closedir(d);
    }
    rmdir(path);
}

/* An object prefix as this module makes them: 36 UUID characters, '-', digits. Guards every
 * path built from a name that came from a request. */
static bool prefix_valid(const char *p) {
    size_t n = strlen(p);
    if (n < 38 || n > 50 || p[36] != '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        if (i == 8 || i == 13 || i == 18 || i == 23 ? c != '-' : i == 36 ? c != '-' : !hex)
            return false;
        if (i > 36 && !(c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static int load_key(struct segment_jobs *jobs) {
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/url.key", jobs->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, jobs->key, KEY_LEN);
        close(fd);
        return n == KEY_LEN ? 0 : -1;
    }
    if (errno != ENOENT || crypto_random(jobs->key, KEY_LEN) != 0)
        return -1;
    char tmp[PATH_CAP + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    bool ok = write(fd, jobs->key, KEY_LEN) == KEY_LEN && fsync(fd) == 0;
    ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
    if (!ok)
        unlink(tmp);
    return ok ? 0 : -1;
}

/* Hex HMAC of "<path>\n<expires>" into out (65 bytes). */
static void sign(const struct segment_jobs *jobs, const char *prefix, long long expires,
                 char out[65]) {
    char path[128], tail[32];
    snprintf(path, sizeof path, SEGMENT_JOBS_URL_PATH "%s.zip", prefix);
    snprintf(tail, sizeof tail, "\n%lld", expires);
    uint8_t mac[32];
    crypto_hmac_sha256(jobs->key, KEY_LEN, path, strlen(path), tail, strlen(tail), mac);
    crypto_hex(mac, sizeof mac, out);
}

/* ---- the queue ---- */

static struct segment_job *job_from_file(const char *prefix, json_t *j) {
    struct segment_job *job = calloc(1, sizeof *job);
    const char *seg = json_string_value(json_object_get(j, "segment_id"));
    const char *url = json_string_value(json_object_get(j, "url"));
    const char *cb = json_string_value(json_object_get(j, "callback_endpoint"));
    json_t *fields = json_object_get(j, "fields");
    if (!job || !seg || !url || !json_is_array(fields)) {
        free(job);
        return NULL;
    }
    job->ws_id = json_integer_value(json_object_get(j, "workspace_id"));
    job->parts = (unsigned)json_integer_value(json_object_get(j, "parts"));
    job->segment_id = strdup(seg);
    job->url = strdup(url);
    job->callback = cb ? strdup(cb) : NULL;
    job->fields = json_incref(fields);
    snprintf(job->prefix, sizeof job->prefix, "%.63s", prefix);
    if (!job->segment_id || !job->url || (cb && !job->callback)) {
        job_free(job);
        return NULL;
    }
    return job;
}

static void append_active(struct segment_jobs *jobs, struct segment_job *job) {
    struct segment_job **p = &jobs->active;
    while (*p)
        p = &(*p)->next;
    *p = job;
    jobs->n_active++;
}

/* Queues every job that has job.json but no state.json (a stop interrupted it). */
static void requeue_interrupted(struct segment_jobs *jobs) {
    DIR *d = opendir(jobs->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!prefix_valid(e->d_name))
            continue;
        json_t *state = read_json(jobs->dir, e->d_name, "state.json");
        json_t *j = state ? NULL : read_json(jobs->dir, e->d_name, "job.json");
        struct segment_job *job = j ? job_from_file(e->d_name, j) : NULL;
        if (job) {
            append_active(jobs, job);
            log_info("exports", "op=requeue object_prefix=%s", job->prefix);
        }
        json_decref(state);
        json_decref(j);
    }
    closedir(d);
}

enum cd_err segment_jobs_new(struct app *app, const struct segment_jobs_config *cfg,
                             struct segment_jobs **out) {
    struct segment_jobs *jobs = calloc(1, sizeof *jobs);
    if (!jobs)
        return CD_E_NOMEM;
    jobs->app = app;
    jobs->retention_ms = cfg->retention_ms;
    jobs->render = cfg->render;
    jobs->public_url = strdup(cfg->public_url);
    size_t n = strlen(cfg->data_dir) + sizeof "/exports";
    jobs->dir = malloc(n);
    pthread_mutex_init(&jobs->lock, NULL);
    pthread_cond_init(&jobs->wake, NULL);
    if (!jobs->public_url || !jobs->dir) {
        segment_jobs_free(jobs);
        return CD_E_NOMEM;
    }
    snprintf(jobs->dir, n, "%s/exports", cfg->data_dir);
    if ((mkdir(jobs->dir, 0700) != 0 && errno != EEXIST) || load_key(jobs) != 0) {
        log_error("exports", "op=open dir=%s reason=\"%s\"", jobs->dir, strerror(errno));
        segment_jobs_free(jobs);
        return CD_E_IO;
    }
    requeue_interrupted(jobs);
    *out = jobs;
    return CD_OK;
}

void segment_jobs_free(struct segment_jobs *jobs) {
    if (!jobs)
        return;
    while (jobs->active) {
        struct segment_job *j = jobs->active;
        jobs->active = j->next;
        job_free(j);
    }
    pthread_cond_destroy(&jobs->wake);
    pthread_mutex_destroy(&jobs->lock);
    free(jobs->dir);
    free(jobs->public_url);
    free(jobs);
}

/* Writes DIR/<prefix>/job.json for job. 0 or -1 (nothing left behind). */
static int save_job(struct segment_jobs *jobs, const struct segment_job *job, int64_t now,
                    long long expires) {
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/%s", jobs->dir, job->prefix);
    if (mkdir(path, 0700) != 0)
        return -1;
    json_t *j = json_pack("{s:I, s:s, s:O, s:i, s:s, s:I, s:I}", "workspace_id",
                          (json_int_t)job->ws_id, "segment_id", job->segment_id, "fields",
                          job->fields, "parts", (int)job->parts, "url", job->url, "created_at",
                          (json_int_t)now, "expires_at", (json_int_t)expires);
    if (j && job->callback)
        json_object_set_new(j, "callback_endpoint", json_string(job->callback));
    snprintf(path, sizeof path, "%s/%s/job.json", jobs->dir, job->prefix);
    int rc = j ? write_json(path, j) : -1;
    json_decref(j);
    if (rc != 0)
        remove_job_dir(jobs->dir, job->prefix);
    return rc;
}

enum cd_err segment_jobs_start(struct segment_jobs *jobs, struct workspace *ws,
                               const struct segment_job_request *req,
                               struct segment_job_ticket *ticket, struct cd_msg *msg) {
    memset(ticket, 0, sizeof *ticket);
    struct segment_job *job = calloc(1, sizeof *job);
    if (!job)
        return CD_E_NOMEM;
    job->ws = ws;
    job->ws_id = ws->id;
    job->parts = req->parts;
    job->segment_id = strdup(req->segment_id);
    job->fields = json_deep_copy(req->fields);
    job->callback = req->callback_endpoint ? strdup(req->callback_endpoint) : NULL;
    char uuid[37];
    if (!job->segment_id || !job->fields || (req->callback_endpoint && !job->callback) ||
        crypto_uuid4(uuid) != 0) {
        job_free(job);
        return CD_E_NOMEM;
    }
    enum cd_err err = segments_audience(jobs->app, ws, req->segment_id, &job->audience);
    if (err != CD_OK) {
        job_free(job);
        return err;
    }
    int64_t now = time_now_ms();
    long long expires = (now + jobs->retention_ms + 999) / 1000;
    snprintf(job->prefix, sizeof job->prefix, "%s-%lld", uuid, (long long)(now / 1000));
    char sig[65];
    sign(jobs, job->prefix, expires, sig);
    pthread_mutex_lock(&jobs->lock);
    size_t url_len = strlen(jobs->public_url) + strlen(job->prefix) + 200;
    job->url = malloc(url_len);
    if (!job->url) {
        pthread_mutex_unlock(&jobs->lock);
        job_free(job);
        return CD_E_NOMEM;
    }
    snprintf(job->url, url_len, "%s" SEGMENT_JOBS_URL_PATH "%s.zip?expires=%lld&signature=%s",
             jobs->public_url, job->prefix, expires, sig);
    bool same = false;
    for (struct segment_job *j = jobs->active; j; j = j->next)
        same = same || (j->ws_id == job->ws_id && strcmp(j->segment_id, job->segment_id) == 0);
    if (same || jobs->n_active >= SEGMENT_JOBS_MAX_ACTIVE) {
        pthread_mutex_unlock(&jobs->lock);
        snprintf(msg->text, sizeof msg->text,
                 same ? "an export of this segment is already running; retry once it is done"
                      : "too many segment exports are running; retry later");
        job_free(job);
        return CD_E_BUSY;
    }
    /* under the lock, so a second request for the segment cannot slip in before it is listed */
    if (save_job(jobs, job, now, expires) != 0) {
        pthread_mutex_unlock(&jobs->lock);
        log_error("exports", "op=start object_prefix=%s reason=\"%s\"", job->prefix,
                  strerror(errno));
        job_free(job);
        return CD_E_IO;
    }
    snprintf(ticket->object_prefix, sizeof ticket->object_prefix, "%s", job->prefix);
    ticket->url = strdup(job->url);
    append_active(jobs, job);
    pthread_cond_signal(&jobs->wake);
    pthread_mutex_unlock(&jobs->lock);
    return ticket->url ? CD_OK : CD_E_NOMEM;
}

int segment_jobs_set_public_url(struct segment_jobs *jobs, const char *public_url) {
    char *url = strdup(public_url);
    if (!url)
        return -1;
    pthread_mutex_lock(&jobs->lock);
    char *old = jobs->public_url;
    jobs->public_url = url;
    pthread_mutex_unlock(&jobs->lock);
    free(old);
    return 0;
}

struct segment_job *segment_jobs_take(struct segment_jobs *jobs, int64_t wait_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(wait_ms / 1000);
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&jobs->lock);
    struct segment_job *found = NULL;
    int rc = 0;
    while (!jobs->stopping && rc == 0) {
        for (struct segment_job *j = jobs->active; j && !found; j = j->next)
            if (j->state == JOB_QUEUED)
                found = j;
        if (found)
            break;
        rc = pthread_cond_timedwait(&jobs->wake, &jobs->lock, &until);
    }
    if (found && !jobs->stopping)
        found->state = JOB_RUNNING;
    else
        found = NULL;
    pthread_mutex_unlock(&jobs->lock);
    return found;
}

void segment_jobs_wake(struct segment_jobs *jobs, bool stopping) {
    pthread_mutex_lock(&jobs->lock);
    jobs->stopping = jobs->stopping || stopping;
    pthread_cond_broadcast(&jobs->wake);
    pthread_mutex_unlock(&jobs->lock);
}

static bool is_stopping(struct segment_jobs *jobs) {
    pthread_mutex_lock(&jobs->lock);
    bool v = jobs->stopping;
    pthread_mutex_unlock(&jobs->lock);
    return v;
}

bool segment_jobs_take_stopped(struct segment_jobs *jobs) {
    return is_stopping(jobs);
}

const char *segment_job_callback(const struct segment_job *job) {
    return job->callback;
}

const char *segment_job_url(const struct segment_job *job) {
    return job->url;
}

void segment_jobs_done(struct segment_jobs *jobs, struct segment_job *job) {
    pthread_mutex_lock(&jobs->lock);
    for (struct segment_job **p = &jobs->active; *p; p = &(*p)->next)
        if (*p == job) {
            *p = job->next;
            jobs->n_active--;
            break;
        }
    pthread_mutex_unlock(&jobs->lock);
    job_free(job);
}

/* ---- running a job ---- */

struct run {
    struct segment_jobs *jobs;
    struct segment_job *job;
    json_t *files; /* [{"name","crc32","size","deflate_len"}] */
    struct gzip_file *gz;
    size_t in_file;
    uint64_t n_users;
    char path[PATH_CAP];
};

/* Ends the open file and lists it. 0 or -1. */
static int close_file(struct run *r) {
    if (!r->gz)
        return 0;
    struct gzip_file_info info;
    int rc = gzip_file_close(r->gz, &info);
    r->gz = NULL;
    if (rc != 0)
        return -1;
    char name[96];
    snprintf(name, sizeof name, "%s-%zu.json", r->job->prefix, json_array_size(r->files) + 1);
    json_t *f =
        json_pack("{s:s, s:I, s:I, s:I}", "name", name, "crc32", (json_int_t)info.crc32, "size",
                  (json_int_t)info.size, "deflate_len", (json_int_t)info.deflate_len);
    if (!f)
        return -1;
    return json_array_append_new(r->files, f);
}

static int add_line(struct run *r, const char *line) {
    if (r->gz && r->in_file == SEGMENT_JOBS_USERS_PER_FILE && close_file(r) != 0)
        return -1;
    if (!r->gz) {
        snprintf(r->path, sizeof r->path, "%s/%s/%zu.json.gz", r->jobs->dir, r->job->prefix,
                 json_array_size(r->files) + 1);
        r->gz = gzip_file_create(r->path);
        r->in_file = 0;
        if (!r->gz)
            return -1;
    }
    r->in_file++;
    r->n_users++;
    return gzip_file_write(r->gz, line, strlen(line)) == 0 && gzip_file_write(r->gz, "\n", 1) == 0
               ? 0
               : -1;
}

/* Writes every member's line; CD_E_BUSY when a stop interrupted it. */
static enum cd_err write_files(struct run *r, struct workspace *ws) {
    roaring_uint32_iterator_t *it = roaring_create_iterator(r->job->audience);
    if (!it)
        return CD_E_NOMEM;
    enum cd_err err = CD_OK;
    for (; it->has_value && err == CD_OK; roaring_advance_uint32_iterator(it)) {
        if ((r->n_users & 255) == 0 && is_stopping(r->jobs)) {
            err = CD_E_BUSY;
            break;
        }
        struct user_export u;
        err = users_export_uid(r->jobs->app, ws, it->current_value, r->job->parts, &u);
        if (err == CD_E_NOT_FOUND) { /* deleted since the snapshot */
            err = CD_OK;
            continue;
        }
        if (err != CD_OK)
            break;
        char *line = r->jobs->render(&u, r->job->fields);
        user_export_free(&u);
        if (!line || add_line(r, line) != 0)
            err = line ? CD_E_IO : CD_E_NOMEM;
        free(line);
    }
    roaring_free_uint32_iterator(it);
    if (err == CD_OK && close_file(r) != 0)
        err = CD_E_IO;
    return err;
}

static void remove_files(struct run *r) {
    gzip_file_abort(r->gz);
    r->gz = NULL;
    for (size_t i = 1; i <= json_array_size(r->files) + 1; i++) {
        snprintf(r->path, sizeof r->path, "%s/%s/%zu.json.gz", r->jobs->dir, r->job->prefix, i);
        unlink(r->path);
    }
}

enum cd_err segment_job_run(struct segment_jobs *jobs, struct segment_job *job) {
    struct run r = {.jobs = jobs, .job = job, .files = json_array()};
    struct cd_msg why = {{0}};
    enum cd_err err = r.files ? CD_OK : CD_E_NOMEM;
    struct workspace *ws = job->ws;
    if (err == CD_OK && !ws)
        err = app_workspace_msg(jobs->app, job->ws_id, &ws, &why);
    if (err == CD_OK && !job->audience)
        err = segments_audience(jobs->app, ws, job->segment_id, &job->audience);
    if (err == CD_E_NOT_FOUND)
        snprintf(why.text, sizeof why.text, "the segment no longer exists");
    if (err == CD_OK)
        err = write_files(&r, ws);
    if (err == CD_E_BUSY) { /* stopping: no state, so the next start runs it again */
        remove_files(&r);
        json_decref(r.files);
        return err;
    }
    json_t *state = err == CD_OK ? json_pack("{s:s, s:I, s:I, s:O}", "state", "done", "finished_at",
                                             (json_int_t)time_now_ms(), "n_users",
                                             (json_int_t)r.n_users, "files", r.files)
                                 : json_pack("{s:s, s:I, s:s}", "state", "failed", "finished_at",
                                             (json_int_t)time_now_ms(), "reason",
                                             why.text[0] ? why.text : cd_err_name(err));
    if (err != CD_OK)
        remove_files(&r);
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/%s/state.json", jobs->dir, job->prefix);
    if (!state || write_json(path, state) != 0) {
        if (err == CD_OK)
            remove_files(&r);
        err = err == CD_OK ? CD_E_IO : err;
    }
    json_decref(state);
    log_info("exports", "op=export object_prefix=%s segment_id=%s users=%llu files=%zu result=%s",
             job->prefix, job->segment_id, (unsigned long long)r.n_users,
             err == CD_OK ? json_array_size(r.files) : 0, cd_err_name(err));
    json_decref(r.files);
    return err;
}

/* ---- retention ---- */

static bool is_active(struct segment_jobs *jobs, const char *prefix) {
    pthread_mutex_lock(&jobs->lock);
    bool found = false;
    for (struct segment_job *j = jobs->active; j && !found; j = j->next)
        found = strcmp(j->prefix, prefix) == 0;
    pthread_mutex_unlock(&jobs->lock);
    return found;
}

int segment_jobs_sweep(struct segment_jobs *jobs, int64_t now_ms) {
    DIR *d = opendir(jobs->dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!prefix_valid(e->d_name) || is_active(jobs, e->d_name))
            continue;
        json_t *j = read_json(jobs->dir, e->d_name, "job.json");
        /* a directory without a readable job.json is a start that failed half-way */
        json_int_t expires = j ? json_integer_value(json_object_get(j, "expires_at")) : 0;
        json_decref(j);
        if (now_ms >= (int64_t)expires * 1000) {
            remove_job_dir(jobs->dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* ---- downloads ---- */

enum segment_file_state segment_jobs_open_file(struct segment_jobs *jobs, const char *file,
                                               const char *expires, const char *signature,
                                               int64_t now_ms, struct zip_stream **zip) {
    char prefix[64];
    size_t n = strlen(file);
    if (n < 5 || n - 4 >= sizeof prefix || strcmp(file + n - 4, ".zip") != 0 || !expires ||
        !signature)
        return SEGMENT_FILE_FORBIDDEN;
    memcpy(prefix, file, n - 4);
    prefix[n - 4] = '\0';
    char *end;
    long long exp = strtoll(expires, &end, 10);
    if (!prefix_valid(prefix) || end == expires || *end || exp <= 0)
        return SEGMENT_FILE_FORBIDDEN;
    char want[65];
    sign(jobs, prefix, exp, want);
    if (!crypto_equal(want, 64, signature, strlen(signature)) || now_ms >= exp * 1000)
        return SEGMENT_FILE_FORBIDDEN;
    json_t *state = read_json(jobs->dir, prefix, "state.json");
    if (!state) {
        json_t *j = read_json(jobs->dir, prefix, "job.json");
        json_decref(j);
        return j ? SEGMENT_FILE_PENDING : SEGMENT_FILE_FORBIDDEN;
    }
    const char *st = json_string_value(json_object_get(state, "state"));
    if (!st || strcmp(st, "done") != 0) {
        json_decref(state);
        return SEGMENT_FILE_FAILED;
    }
    json_t *files = json_object_get(state, "files");
    size_t n_files = json_array_size(files);
    struct zip_member *m = calloc(n_files + 1, sizeof *m);
    char(*paths)[PATH_CAP] = calloc(n_files + 1, sizeof *paths);
    enum segment_file_state result = SEGMENT_FILE_FAILED;
    if (m && paths) {
        for (size_t i = 0; i < n_files; i++) {
            json_t *f = json_array_get(files, i);
            snprintf(paths[i], PATH_CAP, "%s/%s/%zu.json.gz", jobs->dir, prefix, i + 1);
            m[i] = (struct zip_member){
                .name = json_string_value(json_object_get(f, "name")),
                .gzip_path = paths[i],
                .info = {(uint32_t)json_integer_value(json_object_get(f, "crc32")),
                         (uint64_t)json_integer_value(json_object_get(f, "size")),
                         (uint64_t)json_integer_value(json_object_get(f, "deflate_len"))}};
            if (!m[i].name)
                m[i].name = "export.json";
        }
        *zip =
            zip_stream_new(m, n_files, json_integer_value(json_object_get(state, "finished_at")));
        result = *zip ? SEGMENT_FILE_READY : SEGMENT_FILE_FAILED;
    }
    free(m);
    free(paths);
    json_decref(state);
    return result;
}
