/* Unit tests for CFDP file reception: data in order and out of order written at its offsets and
 * kept as merged runs whose checksums (every CFDP type) are those of the file's octets; repeats,
 * damaged or not, change nothing; gaps reported; where a call stops (another transaction, a bad
 * PDU, gaps or runs full, a failed write); refusals past the limit; the gaps of a range; blocks
 * reserved ahead of the writes. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfdp_reference.h"
#include "check.h"
#include "payload_native.h"

static char path[] = "/tmp/pn_cfdp_receive_XXXXXX";
static pn_cfdp_run runs[64];
static uint8_t data[4000];

static pn_cfdp_fd_header header(int crc)
{
    pn_cfdp_fd_header h;
    memset(&h, 0, sizeof h);
    h.prefix[0] = (uint8_t)(1u << 5 | 1u << 4 | (unsigned)crc << 1);
    h.prefix[3] = 0x11u; /* ids and sequence numbers of 2 octets */
    for (size_t i = 4; i < 10; i++) {
        h.prefix[i] = (uint8_t)(0xA0u + i);
    }
    h.prefix_len = 10;
    return h;
}

static pn_cfdp_rx fresh(const pn_cfdp_fd_header *h, int fd, uint32_t check_type)
{
    pn_cfdp_rx rx;
    memset(&rx, 0, sizeof rx);
    rx.key[0] = h->prefix[0];
    memcpy(rx.key + 1, h->prefix + 3, h->prefix_len - 3u);
    rx.key_len = h->prefix_len - 2u;
    rx.fd = fd;
    rx.check_type = check_type;
    rx.immediate_nak = 1;
    rx.limit = sizeof data;
    rx.runs = runs;
    rx.runs_cap = 64;
    return rx;
}

/* PDUs of 100 octets of data each for [at, at + len), back to back in buf: their stride. */
static size_t pdus(const pn_cfdp_fd_header *h, uint64_t at, size_t len, const uint8_t *from,
                   uint8_t *buf, size_t *total)
{
    uint32_t lens[64];
    size_t taken = 0;
    int64_t n = pn_cfdp_fd_segment(h, at, from, len, 100, buf, 20000, lens, 64, &taken);
    CHECK_EQ(taken, len);
    *total = 0;
    for (int64_t i = 0; i < n; i++) {
        *total += lens[i];
    }
    return lens[0];
}

static int file_holds(int fd, uint64_t at, const uint8_t *octets, size_t len)
{
    static uint8_t back[sizeof data];
    return pread(fd, back, len, (off_t)at) == (ssize_t)len && memcmp(back, octets, len) == 0;
}

static void test_in_and_out_of_order(uint32_t type)
{
    static uint8_t buf[20000];
    int fd = open(path, O_RDWR | O_TRUNC);
    pn_cfdp_fd_header h = header(1);
    pn_cfdp_rx rx = fresh(&h, fd, type);
    size_t len = 0;

    /* In order: one run, written as it came. */
    size_t stride = pdus(&h, 0, 1000, data, buf, &len);
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, len, stride), len);
    CHECK_EQ(rx.stop, PN_CFDP_RX_DONE);
    CHECK_EQ(rx.runs_n, 1u);
    CHECK_EQ(rx.runs[0].end, 1000u);
    CHECK_EQ(rx.runs[0].check, reference_checksum(type, 0, data, 1000));
    CHECK_EQ(rx.high, 1000u);
    CHECK_EQ(rx.written, 1000u);
    CHECK_EQ(rx.gaps_n, 0u);
    CHECK(file_holds(fd, 0, data, 1000));

    /* 1500 to 2000 and 2500 to 3000: two gaps, reported as they open. */
    pdus(&h, 1500, 500, data + 1500, buf, &len);
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, len, stride), len);
    pdus(&h, 2500, 500, data + 2500, buf, &len);
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, len, stride), len);
    CHECK_EQ(rx.gaps_n, 2u);
    CHECK_EQ(rx.gaps[0].start, 1000u);
    CHECK_EQ(rx.gaps[0].end, 1500u);
    CHECK_EQ(rx.gaps[1].start, 2000u);
    CHECK_EQ(rx.gaps[1].end, 2500u);
    CHECK_EQ(rx.runs_n, 3u);
    CHECK_EQ(rx.repairs, 0u);
    pn_cfdp_gap gaps[4];
    CHECK_EQ(pn_cfdp_rx_gaps(&rx, 0, 3500, gaps, 4), 3u);
    CHECK_EQ(gaps[2].start, 3000u);
    CHECK_EQ(gaps[2].end, 3500u);
    CHECK_EQ(pn_cfdp_rx_gaps(&rx, 1200, 2200, gaps, 4), 2u);
    CHECK_EQ(gaps[0].start, 1200u);
    CHECK_EQ(gaps[1].end, 2200u);
    CHECK_EQ(pn_cfdp_rx_gaps(&rx, 0, 3000, gaps, 1), 1u);
    CHECK_EQ(pn_cfdp_rx_gaps(&rx, 0, 1000, gaps, 4), 0u);

    /* One piece across both gaps and the run between: its new parts only, the runs joined. */
    CHECK_EQ(pn_cfdp_rx_data(&rx, 900, data + 900, 1700), 1);
    CHECK_EQ(rx.repairs, 1u);
    CHECK_EQ(rx.runs_n, 1u);
    CHECK_EQ(rx.runs[0].end, 3000u);
    CHECK_EQ(rx.runs[0].check, reference_checksum(type, 0, data, 3000));
    CHECK_EQ(rx.written, 3000u);
    CHECK(file_holds(fd, 0, data, 3000));

    /* From the end backwards: a run each, joined to the one after. */
    for (uint64_t at = 3900; at >= 3000; at -= 100) {
        CHECK_EQ(pn_cfdp_rx_data(&rx, at, data + at, 100), 1);
    }
    CHECK_EQ(rx.runs_n, 1u);
    CHECK_EQ(rx.runs[0].check, reference_checksum(type, 0, data, 4000));
    CHECK(file_holds(fd, 0, data, 4000));
    close(fd);
}

static void test_repeats_change_nothing(void)
{
    static uint8_t buf[20000];
    static uint8_t damaged[1000];
    int fd = open(path, O_RDWR | O_TRUNC);
    pn_cfdp_fd_header h = header(0); /* no PDU CRC: damage goes unseen by the link */
    pn_cfdp_rx rx = fresh(&h, fd, 2);
    size_t len = 0;
    size_t stride = pdus(&h, 0, 1000, data, buf, &len);
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, len, stride), len);
    memcpy(damaged, data, sizeof damaged);
    damaged[450] ^= 0xFFu;
    pdus(&h, 0, 1000, damaged, buf, &len);
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, len, stride), len);
    CHECK_EQ(rx.written, 1000u);
    CHECK_EQ(rx.repairs, 0u);
    CHECK_EQ(rx.runs[0].check, pn_crc32c(0, data, 1000));
    CHECK(file_holds(fd, 0, data, 1000));
    close(fd);
}

static void test_where_it_stops(void)
{
    static uint8_t buf[20000];
    int fd = open(path, O_RDWR | O_TRUNC);
    pn_cfdp_fd_header h = header(1);
    pn_cfdp_rx rx = fresh(&h, fd, 3);
    size_t len = 0;
    size_t stride = pdus(&h, 0, 1000, data, buf, &len);

    /* Another transaction's PDU (its sequence number), a CRC that fails, a directive, no
     * stride: stops before it, what came before taken. */
    buf[3 * stride + 9] ^= 0x01u;
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, len, stride), 3 * stride);
    CHECK_EQ(rx.stop, PN_CFDP_RX_OTHER);
    buf[3 * stride + 9] ^= 0x01u;
    buf[5 * stride + 40] ^= 0x10u;
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, len, stride), 5 * stride);
    CHECK_EQ(rx.stop, PN_CFDP_RX_OTHER);
    buf[5 * stride + 40] ^= 0x10u;
    buf[0] = (uint8_t)(buf[0] & ~0x10u);
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, len, stride), 0u);
    buf[0] = (uint8_t)(buf[0] | 0x10u);
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, len, 0), 0u);
    CHECK_EQ(rx.stop, PN_CFDP_RX_OTHER);
    CHECK_EQ(rx.written, 500u);

    /* Past the limit: refused, counted, taken. */
    rx.limit = 750;
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, len, stride), len);
    CHECK_EQ(rx.refused, 3u); /* 700 to 800, 800 to 900, 900 to 1000 */
    CHECK_EQ(rx.high, 700u);
    CHECK_EQ(pn_cfdp_rx_data(&rx, UINT64_MAX, data, 1), 1);
    CHECK_EQ(rx.refused, 4u);
    rx.limit = sizeof data;

    /* Every other PDU: a gap each, until gaps[] is full; then on once they are taken. */
    size_t every_other = 0;
    for (uint64_t at = 1000; at < 4000; at += 200) {
        size_t one = 0;
        pdus(&h, at + 100, 100, data + at + 100, buf + every_other, &one);
        every_other += one;
    }
    rx.gaps_n = PN_CFDP_RX_GAPS - 2u;
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, every_other, stride), 2 * stride);
    CHECK_EQ(rx.stop, PN_CFDP_RX_GAPS_FULL);
    CHECK_EQ(rx.gaps[PN_CFDP_RX_GAPS - 1u].start, 1200u);
    CHECK_EQ(rx.gaps[PN_CFDP_RX_GAPS - 1u].end, 1300u);
    rx.gaps_n = 0;
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf + 2 * stride, every_other - 2 * stride, stride),
             every_other - 2 * stride);
    CHECK_EQ(rx.gaps_n, 13u);
    CHECK_EQ(rx.runs_n, 16u);
    rx.gaps_n = PN_CFDP_RX_GAPS;
    CHECK_EQ(pn_cfdp_rx_data(&rx, 3900, data + 3900, 100), 1); /* no gap opened: taken */
    CHECK_EQ(pn_cfdp_rx_data(&rx, 4000, data, 0), 1);
    rx.gaps_n = 0;

    /* Runs full: what joins a run is taken, what needs one of its own is not. */
    rx.runs_cap = rx.runs_n;
    CHECK_EQ(pn_cfdp_rx_data(&rx, 700, data + 700, 50), 1);
    CHECK_EQ(pn_cfdp_rx_data(&rx, 760, data + 760, 10), 0);
    CHECK_EQ(rx.stop, PN_CFDP_RX_RUNS_FULL);
    CHECK_EQ(rx.runs_n, 16u);
    rx.runs_cap = 64;
    pdus(&h, 0, 4000, data, buf, &len); /* all of it: fills every gap */
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, len, stride), len);
    CHECK_EQ(rx.stop, PN_CFDP_RX_DONE);
    CHECK_EQ(rx.runs_n, 1u);
    CHECK_EQ(rx.runs[0].end, 4000u);
    CHECK_EQ(rx.runs[0].check, pn_crc32(0, data, 4000));
    CHECK(file_holds(fd, 0, data, 4000));
    close(fd);

    /* A write that fails: the error kept, nothing more taken. */
    fd = open(path, O_RDONLY);
    rx = fresh(&h, fd, 3);
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, len, stride), len);
    CHECK_EQ(rx.stop, PN_CFDP_RX_WRITE_FAILED);
    CHECK_EQ(rx.error, -EBADF);
    CHECK_EQ(pn_cfdp_rx_put(&rx, buf, len, stride), 0u);
    CHECK_EQ(pn_cfdp_rx_data(&rx, 0, data, 10), 0);
    CHECK_EQ(rx.stop, PN_CFDP_RX_WRITE_FAILED);
    close(fd);
}

static void test_reservation(void)
{
    int fd = open(path, O_RDWR | O_TRUNC);
    pn_cfdp_fd_header h = header(1);
    pn_cfdp_rx rx = fresh(&h, fd, 2);
    CHECK_EQ(pn_cfdp_rx_data(&rx, 0, data, 100), 1);
    CHECK_EQ(rx.reserved, 0u); /* no size known: nothing reserved */
    rx.reserve_to = 100u << 20;
    rx.limit = rx.reserve_to;
    CHECK_EQ(pn_cfdp_rx_data(&rx, 100, data, 100), 1);
    CHECK_EQ(rx.reserved, 200u + (64u << 20));
    CHECK_EQ(pn_cfdp_rx_data(&rx, 70u << 20, data, 100), 1);
    CHECK_EQ(rx.reserved, 100u << 20); /* never past the size */
    struct stat st;
    CHECK_EQ(fstat(fd, &st), 0);
    CHECK_EQ(st.st_size, (70u << 20) + 100u);
    close(fd);
}

int main(void)
{
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = check_rand_byte();
    }
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    static const uint32_t types[] = {0, 1, 2, 3, 15, PN_CFDP_CHECK_NONE};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        test_in_and_out_of_order(types[i]);
    }
    test_repeats_change_nothing();
    test_where_it_stops();
    test_reservation();
    unlink(path);
    return check_report("cfdp_receive");
}
