/* Unit tests for file writeback: a file's written range starts on its way to disk (and stays
 * as written); a bad descriptor or range is refused with its errno. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    close(fd);
    CHECK_EQ(pn_file_writeback(fd, 0, 0), -EBADF);
    unlink(path);
    return check_report("file_io");
}
