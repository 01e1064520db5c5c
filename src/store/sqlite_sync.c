/*
 * sqlite_sync.c — group commit for the SQLite store. The write connection commits without
 * syncing; each successful COMMIT takes a ticket (in commit order, under w.lock), and a thread
 * that needs its ticket durable either waits for a sync in progress or becomes the one that
 * syncs: it notes the last ticket handed out, calls fdatasync on the WAL, and marks every ticket
 * up to the noted one durable. N commits that arrive while one sync runs pay one more sync
 * together. May touch only the WAL file and the sync state of struct store.
 *
 * fdatasync on our own descriptor of the WAL flushes the file, whoever wrote it (Linux syncs the
 * inode, not the descriptor). A failed sync is final (the kernel may have dropped the dirty
 * pages): every later wait fails and the store reports itself unhealthy.
 *
 * Metrics: the wait of each commit for its durability, each fdatasync's duration and how many
 * commits it made durable (the group size).
 */
#include "store/sqlite_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/metrics.h"

static const double group_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

static double seconds_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

void sq_sync_init(struct store *s) {
    struct sq_sync *y = &s->sync;
    pthread_mutex_init(&y->lock, NULL);
    pthread_cond_init(&y->done, NULL);
    y->wal_fd = -1;
    atomic_init(&y->synced_seq, 0);
}

enum cd_err sq_sync_attach(struct store *s, const char *db_path) {
    char wal[4096];
    if (snprintf(wal, sizeof wal, "%s-wal", db_path) >= (int)sizeof wal)
        return CD_E_INVALID;
    /* the writer created it when it switched to WAL mode; an empty file is an empty WAL */
    s->sync.wal_fd = open(wal, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->sync.wal_fd < 0) {
        log_error("store", "op=open_wal path=%s error=\"%s\"", log_q(wal), strerror(errno));
        return CD_E_STORE;
    }
    return CD_OK;
}

void sq_sync_close(struct store *s) {
    struct sq_sync *y = &s->sync;
    if (y->wal_fd >= 0) {
        log_debug("store", "op=close commits=%llu syncs=%llu", (unsigned long long)y->committed,
                  (unsigned long long)y->n_syncs);
        close(y->wal_fd);
    }
    y->wal_fd = -1;
    pthread_cond_destroy(&y->done);
    pthread_mutex_destroy(&y->lock);
}

uint64_t sq_sync_committed(struct store *s, int64_t outbox_hi) {
    struct sq_sync *y = &s->sync;
    pthread_mutex_lock(&y->lock);
    uint64_t ticket = ++y->committed;
    if (outbox_hi > y->committed_seq)
        y->committed_seq = outbox_hi;
    pthread_mutex_unlock(&y->lock);
    return ticket;
}

enum cd_err sq_sync_wait(struct store *s, uint64_t ticket) {
    struct sq_sync *y = &s->sync;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&y->lock);
    while (y->synced < ticket && !y->failed) {
        if (y->syncing) {
            pthread_cond_wait(&y->done, &y->lock);
            continue;
        }
        /* lead one sync for every commit so far */
        y->syncing = 1;
        uint64_t upto = y->committed;
        int64_t upto_seq = y->committed_seq;
        pthread_mutex_unlock(&y->lock);
        struct timespec s0;
        clock_gettime(CLOCK_MONOTONIC, &s0);
        sq_fault_sync_delay();
        int rc = fdatasync(y->wal_fd);
        int e = errno;
        metrics_observe("cohortd_store_sync_seconds", "", seconds_since(&s0));
        pthread_mutex_lock(&y->lock);
        y->syncing = 0;
        y->n_syncs++;
        if (rc != 0) {
            y->failed = 1;
            log_error("store",
                      "op=sync result=failed error=\"%s\" action=\"writes refused until "
                      "restart\"",
                      strerror(e));
        } else if (upto > y->synced) {
            metrics_observe_in("cohortd_store_group_commit_size", "", (double)(upto - y->synced),
                               group_bounds, sizeof group_bounds / sizeof group_bounds[0]);
            y->synced = upto;
            if (upto_seq > atomic_load(&y->synced_seq))
                atomic_store(&y->synced_seq, upto_seq);
        }
        pthread_cond_broadcast(&y->done);
    }
    enum cd_err err = y->failed ? CD_E_STORE : CD_OK;
    pthread_mutex_unlock(&y->lock);
    if (err == CD_OK)
        metrics_observe("cohortd_store_commit_seconds", "", seconds_since(&t0));
    return err;
}

bool sq_sync_ok(struct store *s) {
    pthread_mutex_lock(&s->sync.lock);
    bool ok = !s->sync.failed;
    pthread_mutex_unlock(&s->sync.lock);
    return ok;
}

bool sq_sync_idle(struct store *s) {
    pthread_mutex_lock(&s->sync.lock);
    bool idle = s->sync.synced == s->sync.committed;
    pthread_mutex_unlock(&s->sync.lock);
    return idle;
}

void sq_sync_raise_seq(struct store *s, int64_t seq) {
    pthread_mutex_lock(&s->sync.lock);
    if (seq > s->sync.committed_seq)
        s->sync.committed_seq = seq;
    if (seq > atomic_load(&s->sync.synced_seq))
        atomic_store(&s->sync.synced_seq, seq);
    pthread_mutex_unlock(&s->sync.lock);
}

int64_t sq_sync_durable_seq(struct store *s) {
    return atomic_load(&s->sync.synced_seq);
}
