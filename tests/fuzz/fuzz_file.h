/*
 * fuzz_file.h - for fuzz targets of file readers: puts the input bytes into an in-memory file
 * (a memfd, made once and rewritten per input) and returns a path that opens it.
 */
#ifndef CX_FUZZ_FILE_H
#define CX_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* "/proc/self/fd/N" holding exactly data[0..size), or NULL if the memfd fails. */
static const char *fuzz_file(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("cx_fuzz", MFD_CLOEXEC);
        if (fd < 0) return NULL;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) return NULL;
    return path;
}

#endif
