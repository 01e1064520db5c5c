/* err.c — names and HTTP statuses of cohortd's error codes (see err.h). */
#include "util/err.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static const struct {
    const char *name;
    int status;
} err_info[] = {
#define CD_ERR_INFO(code, name, status) {name, status},
    CD_ERR_TABLE(CD_ERR_INFO)
#undef CD_ERR_INFO
};

const char *cd_err_name(enum cd_err err) {
    if ((size_t)err >= sizeof err_info / sizeof err_info[0])
        return "unknown_error";
    return err_info[err].name;
}

int cd_err_status(enum cd_err err) {
    if ((size_t)err >= sizeof err_info / sizeof err_info[0])
        return 500;
    return err_info[err].status;
}

enum cd_err cd_invalid(struct cd_msg *msg, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg->text, sizeof msg->text, fmt, ap);
    va_end(ap);
    return CD_E_INVALID;
}
