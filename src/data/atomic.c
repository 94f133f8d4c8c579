/*
 * atomic.c - atomic file writes for the data writers (IDX, PNG): contents go to
 * "<path>.tmp.<pid>", are fsync'ed and renamed over path, then the directory is synced, so a
 * crash or an error mid-write never leaves a partial file under the final name.
 */
#include "data_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

bool cx__write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t put = write(fd, p, len);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) {
            if (put == 0) errno = EIO;
            return false;
        }
        p += put;
        len -= (size_t)put;
    }
    return true;
}

/* Makes a completed rename durable (best effort: a directory that cannot be opened for
 * syncing does not undo a successful write). */
static void sync_dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    char *dir = cx__alloc(n + 1);
    if (!dir) {
        cx_clear_error();
        return;
    }
    if (slash) memcpy(dir, path, n);
    else dir[0] = '.';
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cx__free(dir);
    if (fd < 0) return;
    fsync(fd);
    close(fd);
}

cx_status cx__write_atomic(const char *who, const char *path, cx__fill_fn fill, void *ctx) {
    if (!path) return cx__error(CX_ERR_ARG, "%s: path is NULL", who);
    size_t tmp_len = strlen(path) + 32;
    char *tmp = cx__alloc(tmp_len);
    if (!tmp) return CX_ERR_OOM;
    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());

    cx_status st;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = cx__error(CX_ERR_IO, "%s: cannot create %s: %s", who, tmp, strerror(errno));
    } else {
        st = fill(fd, tmp, ctx);
        if (st == CX_OK && fsync(fd) != 0)
            st = cx__error(CX_ERR_IO, "%s: fsync of %s failed: %s", who, tmp, strerror(errno));
        if (close(fd) != 0 && st == CX_OK)
            st = cx__error(CX_ERR_IO, "%s: closing %s failed: %s", who, tmp, strerror(errno));
        if (st == CX_OK && rename(tmp, path) != 0)
            st = cx__error(CX_ERR_IO, "%s: renaming %s to %s failed: %s", who, tmp, path,
                           strerror(errno));
        if (st != CX_OK) unlink(tmp);
        else sync_dir_of(path);
    }
    cx__free(tmp);
    return st;
}
