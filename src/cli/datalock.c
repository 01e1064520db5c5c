/*
 * datalock.c — the data-directory lock: an exclusive flock on DATA/cohortd.lock, with the
 * holder's pid written in the file. `serve` holds it while it runs; `restore` and a CLI command
 * that migrates the schema hold it while they work, so none of them runs beside a server.
 * The lock goes with the descriptor: closing it (or the process ending) releases it.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int cli_datalock_take(const char *data, char *holder, size_t holder_len, char *err,
                      size_t err_len) {
    char path[4096];
    snprintf(holder, holder_len, "unknown");
    snprintf(path, sizeof path, "%s/cohortd.lock", data);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return -2;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid_text[32] = "";
        /* the holder writes its pid right after locking: wait briefly for it */
        for (int i = 0; i < 100 && e == EWOULDBLOCK; i++) {
            ssize_t n = pread(fd, pid_text, sizeof pid_text - 1, 0);
            if (n > 0 && pid_text[n - 1] == '\n') {
                pid_text[n - 1] = '\0';
                snprintf(holder, holder_len, "%s", pid_text);
                break;
            }
            usleep(10000);
        }
        close(fd);
        if (e != EWOULDBLOCK) {
            snprintf(err, err_len, "cannot lock %s: %s", path, strerror(e));
            return -2;
        }
        snprintf(err, err_len, "data directory %s is in use by another cohortd (pid %s)", data,
                 holder);
        return -1;
    }
    char pid_text[32];
    int n = snprintf(pid_text, sizeof pid_text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid_text, (size_t)n, 0) != n) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        return -2;
    }
    return fd;
}
