/*
 * status.c - the thread-local error state behind cx_last_error().
 */
#include "cortex_impl.h"

#include <string.h>

static _Thread_local cx_status last_status = CX_OK;
static _Thread_local char last_message[512];

const char *cx_last_error(void) { return last_message; }

cx_status cx_last_status(void) { return last_status; }

void cx_clear_error(void) {
    last_status = CX_OK;
    last_message[0] = '\0';
}

cx_status cx__error(cx_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    last_status = status;
    return status;
}

const char *cx_status_name(cx_status s) {
    static const char *const names[] = {
        [CX_OK] = "CX_OK",
        [CX_ERR_SHAPE] = "CX_ERR_SHAPE",
        [CX_ERR_DTYPE] = "CX_ERR_DTYPE",
        [CX_ERR_ARG] = "CX_ERR_ARG",
        [CX_ERR_OOM] = "CX_ERR_OOM",
        [CX_ERR_IO] = "CX_ERR_IO",
        [CX_ERR_FORMAT] = "CX_ERR_FORMAT",
        [CX_ERR_DEVICE] = "CX_ERR_DEVICE",
        [CX_ERR_UNSUPPORTED] = "CX_ERR_UNSUPPORTED",
        [CX_ERR_NUMERIC] = "CX_ERR_NUMERIC",
    };
    if ((unsigned)s >= sizeof names / sizeof names[0]) return "CX_ERR_UNKNOWN";
    return names[s];
}

_Noreturn void cx__assert_fail(const char *cond, const char *file, int line) {
    fprintf(stderr, "cortex: internal error: %s:%d: assertion '%s' failed\n", file, line, cond);
    abort();
}
