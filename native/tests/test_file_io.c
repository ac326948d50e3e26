/* Unit tests for file writeback and reservation: a file's written range starts on its way to disk
 * (and stays as written); a reservation takes blocks and leaves the size and data alone; a bad
 * descriptor, range or size is refused with its errno. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "payload_native.h"

int main(void)
{
    char path[] = "/tmp/pn_file_io_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    static char data[1 << 16];
    memset(data, 0x5A, sizeof data);
    CHECK_EQ(write(fd, data, sizeof data), sizeof data);
    CHECK_EQ(pn_file_writeback(fd, 0, 0), 0);             /* the whole file */
    CHECK_EQ(pn_file_writeback(fd, 4096, 8192), 0);       /* a range of it */
    CHECK_EQ(pn_file_writeback(fd, 1u << 30, 4096), 0);   /* past its end: nothing to do */
    CHECK_EQ(fsync(fd), 0);
    char back[sizeof data];
    CHECK_EQ(pread(fd, back, sizeof back, 0), sizeof back);
    CHECK(memcmp(back, data, sizeof data) == 0);
    CHECK_EQ(pn_file_writeback(fd, UINT64_MAX, 1), -EINVAL);
    CHECK_EQ(pn_file_writeback(-1, 0, 0), -EINVAL);

    struct stat before, after;
    CHECK_EQ(fstat(fd, &before), 0);
    CHECK_EQ(pn_file_reserve(fd, 8u << 20), 0);
    CHECK_EQ(fstat(fd, &after), 0);
    CHECK_EQ(after.st_size, before.st_size);               /* the size as it was */
    CHECK(after.st_blocks >= before.st_blocks);            /* blocks taken, where it can */
    CHECK_EQ(pread(fd, back, sizeof back, 0), sizeof back);
    CHECK(memcmp(back, data, sizeof data) == 0);           /* the data as it was */
    CHECK_EQ(pn_file_reserve(fd, 0), 0);
    CHECK_EQ(pn_file_reserve(fd, UINT64_MAX), -EINVAL);
    CHECK_EQ(pn_file_reserve(-1, 1), -EINVAL);
    close(fd);
    CHECK_EQ(pn_file_writeback(fd, 0, 0), -EBADF);
    CHECK_EQ(pn_file_reserve(fd, 4096), -EBADF);
    unlink(path);
    return check_report("file_io");
}
