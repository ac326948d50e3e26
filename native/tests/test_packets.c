/* Unit tests for pn_tm_pack, pn_count_packets and pn_scan_packets. */
#include <string.h>

#include "check.h"
#include "payload_native.h"

static size_t make_tm(uint8_t *out, size_t cap, uint16_t seq, size_t data_len)
{
    uint8_t data[512];
    for (size_t i = 0; i < data_len; i++) {
        data[i] = check_rand_byte();
    }
    pn_tm_fields tm = {0x065, seq, 3, 25, 1, 7, 0x0100, 1767225600u, 0x8000u};
    return pn_tm_pack(&tm, data, data_len, out, cap);
}

int main(void)
{
    uint8_t buf[4096];

    /* A packet with 4 octets of source data: headers as in the ICD, CRC over everything. */
    pn_tm_fields tm = {0x065, 5, 17, 2, 1, 0x0102, 0x0100, 0x01020304u, 0x0506u};
    size_t n = pn_tm_pack(&tm, (const uint8_t *)"\xAA\xBB\xCC\xDD", 4, buf, sizeof buf);
    const uint8_t head[19] = {0x08, 0x65, 0xC0, 0x05, 0x00, 0x12, 0x21, 17,   2,    0x01,
                              0x02, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06};
    CHECK_EQ(n, 25);
    CHECK(memcmp(buf, head, sizeof head) == 0);
    CHECK(memcmp(buf + 19, "\xAA\xBB\xCC\xDD", 4) == 0);
    CHECK_EQ(pn_crc16(0xFFFFu, buf, n), 0);
    CHECK_EQ(pn_tm_pack(&tm, buf, 4, buf + 100, 24), 0); /* does not fit */
    tm.time_synced = 2;
    CHECK_EQ(pn_tm_pack(&tm, NULL, 0, buf, sizeof buf), 0);
    tm.time_synced = 1;
    tm.apid = 0x800;
    CHECK_EQ(pn_tm_pack(&tm, NULL, 0, buf, sizeof buf), 0);

    /* Three packets and a partial fourth; the third gets a bad CRC. */
    size_t a = make_tm(buf, sizeof buf, 1, 10);
    size_t b = make_tm(buf + a, sizeof buf - a, 2, 200);
    size_t c = make_tm(buf + a + b, sizeof buf - a - b, 3, 0);
    size_t d = make_tm(buf + a + b + c, sizeof buf - a - b - c, 4, 50);
    buf[a + b + c - 1] ^= 0x01;
    size_t total = a + b + c + d - 3;
    pn_packet_row rows[4];
    memset(rows, 0xEE, sizeof rows);
    size_t next = 0;
    CHECK_EQ(pn_scan_packets(buf, total, 0, rows, 4, &next), 3);
    CHECK_EQ(next, a + b + c);
    CHECK_EQ(rows[0].offset, 0);
    CHECK_EQ(rows[1].offset, a);
    CHECK_EQ(rows[2].offset, a + b);
    CHECK_EQ(rows[1].length, b);
    CHECK_EQ(rows[1].apid, 0x065);
    CHECK_EQ(rows[1].seq_count, 2);
    CHECK_EQ(rows[1].type, 0);
    CHECK_EQ(rows[1].sec_hdr_flag, 1);
    CHECK_EQ(rows[1].seq_flags, 3);
    CHECK_EQ(rows[0].crc_ok, 1);
    CHECK_EQ(rows[1].crc_ok, 1);
    CHECK_EQ(rows[2].crc_ok, 0);

    /* A row limit stops the scan; it resumes from where it stopped, offsets still from buf. */
    CHECK_EQ(pn_scan_packets(buf, total, 0, rows, 2, &next), 2);
    CHECK_EQ(next, a + b);
    CHECK_EQ(pn_scan_packets(buf, total, next, rows, 4, &next), 1);
    CHECK_EQ(rows[0].offset, a + b);
    CHECK_EQ(next, a + b + c);

    /* Fewer than six octets, a length field past the end, a start past the end: no rows. */
    CHECK_EQ(pn_scan_packets(buf, 5, 0, rows, 4, &next), 0);
    CHECK_EQ(next, 0);
    CHECK_EQ(pn_scan_packets(buf, a - 1, 0, rows, 4, &next), 0);
    CHECK_EQ(pn_scan_packets(buf, 0, 0, rows, 4, &next), 0);
    CHECK_EQ(pn_scan_packets(buf, total, total + 9, rows, 4, &next), 0);
    CHECK_EQ(next, total + 9);
    return check_report("test_packets");
}
