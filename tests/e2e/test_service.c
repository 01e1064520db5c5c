/*
 * test_service.c — what systemd sees of `cohortd serve` under Type=notify: READY=1 on the
 * notification socket once it answers HTTP, and STOPPING=1 when SIGTERM stops it. The test
 * plays the service manager: it binds a datagram socket and passes it as NOTIFY_SOCKET.
 */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The next notification on fd, waiting up to limit_ms; "" when none came. Copies into buf. */
static const char *next_notification(int fd, int limit_ms, char *buf, size_t len) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    buf[0] = '\0';
    int n = poll(&p, 1, limit_ms);
    if (n == 1) {
        ssize_t got = recv(fd, buf, len - 1, 0);
        buf[got > 0 ? got : 0] = '\0';
    }
    return buf;
}

static void test_serve_notifies_ready_when_serving_and_stopping_on_sigterm(void **state) {
    (void)state;
    struct server s;
    server_init(&s);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    char *path = strf("%s/notify.sock", s.data);
    assert_true(strlen(path) < sizeof addr.sun_path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    free(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(setenv("NOTIFY_SOCKET", addr.sun_path, 1), 0);
    server_start(&s); /* returns once /healthz answers */
    assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);

    char buf[256];
    /* READY=1 follows the listen within microseconds; 10 s is only a bound for slow builds */
    assert_string_equal(next_notification(fd, 10000, buf, sizeof buf), "READY=1");
    /* nothing more while it serves */
    struct resp r;
    http_req(&s, "GET", "/healthz", NULL, NULL, &r);
    assert_resp(&r, 200, "{\"status\":\"ok\"}");
    resp_free(&r);
    assert_string_equal(next_notification(fd, 0, buf, sizeof buf), "");

    server_stop(&s); /* SIGTERM, and a clean exit asserted */
    assert_string_equal(next_notification(fd, 0, buf, sizeof buf), "STOPPING=1");
    assert_string_equal(next_notification(fd, 0, buf, sizeof buf), "");
    close(fd);
    server_cleanup(&s);
}

static void test_serve_without_notify_socket_runs_as_before(void **state) {
    (void)state;
    struct server s;
    assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
    server_up(&s);
    struct resp r;
    http_req(&s, "GET", "/healthz", NULL, NULL, &r);
    assert_resp(&r, 200, "{\"status\":\"ok\"}");
    resp_free(&r);
    server_stop(&s);
    server_cleanup(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serve_notifies_ready_when_serving_and_stopping_on_sigterm),
        cmocka_unit_test(test_serve_without_notify_socket_runs_as_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
