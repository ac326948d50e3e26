/* File writeback: start writing a file's dirty pages to disk without waiting, so that the
 * fsync that makes a received file durable has only the last of it left to wait for; and the
 * reservation of a received file's blocks before its data comes. */
#if defined(__linux__)
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>

#include "payload_native.h"

int pn_file_writeback(int fd, uint64_t offset, uint64_t len)
{
    if (fd < 0 || offset > INT64_MAX || len > INT64_MAX) {
        return -EINVAL;
    }
#if defined(__linux__)
    if (sync_file_range(fd, (off64_t)offset, (off64_t)len, SYNC_FILE_RANGE_WRITE) != 0) {
        return -errno;
    }
#endif
    return 0;
}

int pn_file_reserve(int fd, uint64_t size)
{
    if (fd < 0 || size > INT64_MAX) {
        return -EINVAL;
    }
#if defined(__linux__)
    if (size > 0 && fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off64_t)size) != 0) {
        if (errno == EOPNOTSUPP || errno == ENOSYS) {
            return 0;
        }
        return -errno;
    }
#else
    if (fcntl(fd, F_GETFD) < 0) {
        return -errno;
    }
#endif
    return 0;
}
