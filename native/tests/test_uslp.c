/* Unit tests for the USLP frame functions: pn_uslp_overhead, pn_uslp_pack, pn_uslp_scan, the
 * packer (pn_uslp_packer_init, _put, _flush), pn_uslp_unpack, pn_ccsds_randomise and
 * pn_cadu_sync. */
#include <string.h>

#include "check.h"
#include "payload_native.h"

static pn_uslp_packer packer;
static pn_uslp_unpacker unpacker;
static uint8_t packets[200000];
static uint8_t frames[400000];
static uint8_t back[400000];
static pn_uslp_row rows[2000];

/* A space packet of n octets (n >= 7) with a recognisable body. */
static size_t make_packet(uint8_t *out, uint16_t apid, uint16_t seq, size_t n)
{
    pn_sp_header hdr = {0, 0, 1, apid, 3, seq, (uint16_t)(n - 7u)};
    pn_sp_pack(&hdr, out);
    for (size_t i = 6; i < n; i++) {
        out[i] = check_rand_byte();
    }
    return n;
}

static void test_pack_and_scan(void)
{
    pn_uslp_frame f;
    memset(&f, 0, sizeof f);
    f.scid = 0xABCD;
    f.vcid = 5;
    f.map_id = 3;
    f.bypass = 1;
    f.count_len = 2;
    f.count = 0x1234;
    f.rules = 7;
    f.upid = 0;
    uint8_t out[64];
    int64_t n = pn_uslp_pack(&f, (const uint8_t *)"hello", 5, 1, out, sizeof out);
    /* header 7 + count 2 + data field header 1 + zone 5 + FECF 2 */
    CHECK_EQ(n, 17);
    CHECK_EQ(pn_uslp_overhead(&f, 1), 12);
    const uint8_t head[10] = {0xCA, 0xBC, 0xD0, 0xA6, 0x00, 16, 0x82, 0x12, 0x34, 0xE0};
    CHECK(memcmp(out, head, sizeof head) == 0);
    CHECK(memcmp(out + 10, "hello", 5) == 0);
    CHECK_EQ(pn_crc16(0xFFFFu, out, 17), 0);

    size_t next = 0;
    CHECK_EQ(pn_uslp_scan(out, (size_t)n, 0, 0, 1, rows, 4, &next), 1);
    CHECK_EQ(next, 17);
    CHECK_EQ(rows[0].status, PN_OK);
    CHECK_EQ(rows[0].frame.scid, 0xABCD);
    CHECK_EQ(rows[0].frame.vcid, 5);
    CHECK_EQ(rows[0].frame.map_id, 3);
    CHECK_EQ(rows[0].frame.bypass, 1);
    CHECK_EQ(rows[0].frame.count, 0x1234);
    CHECK_EQ(rows[0].frame.length, 17);
    CHECK_EQ(rows[0].frame.pointer, 0xFFFF);
    CHECK_EQ(rows[0].zone_offset, 10);
    CHECK_EQ(rows[0].zone_length, 5);

    /* Fields out of range, and too little room. */
    f.count_len = 1;
    CHECK_EQ(pn_uslp_pack(&f, out, 5, 1, out, sizeof out), PN_ERR_RANGE);
    f.count = 0x34;
    f.vcid = 64;
    CHECK_EQ(pn_uslp_pack(&f, out, 5, 1, out, sizeof out), PN_ERR_RANGE);
    f.vcid = 5;
    CHECK_EQ(pn_uslp_pack(&f, out, 5, 1, out, 10), PN_ERR_SHORT);

    /* A damaged octet fails the CRC; a cut frame waits for the rest; a wrong version ends the
     * scan; a truncated header is refused. */
    n = pn_uslp_pack(&f, (const uint8_t *)"hello", 5, 1, out, sizeof out);
    out[11] ^= 0x40;
    CHECK_EQ(pn_uslp_scan(out, (size_t)n, 0, 0, 1, rows, 4, &next), 1);
    CHECK_EQ(rows[0].status, PN_ERR_USLP_CRC);
    CHECK_EQ(next, (size_t)n);
    CHECK_EQ(pn_uslp_scan(out, (size_t)n - 1, 0, 0, 1, rows, 4, &next), 0);
    CHECK_EQ(next, 0);
    out[0] = 0x0A;
    CHECK_EQ(pn_uslp_scan(out, (size_t)n, 0, 0, 1, rows, 4, &next), 1);
    CHECK_EQ(rows[0].status, PN_ERR_USLP_VERSION);
    CHECK_EQ(next, 0);
    out[0] = 0xCA;
    out[3] |= 1u;
    CHECK_EQ(pn_uslp_scan(out, (size_t)n, 0, 0, 1, rows, 4, &next), 1);
    CHECK_EQ(rows[0].status, PN_ERR_USLP_TRUNCATED);

    /* Fixed length: a frame whose length field disagrees is reported, and the scan goes on. */
    n = pn_uslp_pack(&f, (const uint8_t *)"hello", 5, 1, out, sizeof out);
    CHECK_EQ(n, 16);
    CHECK_EQ(pn_uslp_scan(out, (size_t)n, 0, 15, 1, rows, 4, &next), 1);
    CHECK_EQ(rows[0].status, PN_ERR_USLP_LENGTH);
    CHECK_EQ(next, 15);
}

/* Packets of many sizes through the packer and back through the unpacker. */
static void test_packets_round_trip(void)
{
    memset(&packer, 0, sizeof packer);
    packer.template.scid = 42;
    packer.template.vcid = 1;
    packer.template.ocf = 1;
    packer.template.count_len = 1;
    packer.template.count = 250; /* wraps during the test */
    packer.template.length = 256;
    packer.fecf = 1;
    memcpy(packer.template.clcw, "\x01\x04\x00\x07", 4);
    CHECK_EQ(pn_uslp_packer_init(&packer), PN_OK);
    CHECK_EQ(packer.zone_len, 256 - 8 - 3 - 4 - 2);

    size_t total = 0;
    size_t sizes[] = {7, 8, 100, 237, 238, 239, 1000, 12, 5000, 7};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        total += make_packet(packets + total, 0x65, (uint16_t)i, sizes[i]);
    }
    size_t used = 0;
    size_t written = 0;
    /* Room for only 3 frames: whole packets only are taken. */
    int64_t got = pn_uslp_packer_put(&packer, packets, total, frames, 3 * 256, &used);
    CHECK(got >= 0 && got <= 3);
    CHECK(used < total);
    written = (size_t)got * 256;
    size_t more_used = 0;
    got = pn_uslp_packer_put(&packer, packets + used, total - used, frames + written,
                             sizeof frames - written, &more_used);
    CHECK(got > 0);
    CHECK_EQ(used + more_used, total);
    written += (size_t)got * 256;
    CHECK_EQ(pn_uslp_packer_flush(&packer, frames + written, 100), PN_ERR_SHORT);
    CHECK_EQ(pn_uslp_packer_flush(&packer, frames + written, 256), 1);
    written += 256;
    CHECK_EQ(pn_uslp_packer_flush(&packer, frames + written, 256), 0);
    CHECK_EQ(written % 256, 0);
    CHECK_EQ(packer.frames, written / 256);

    size_t next = 0;
    size_t nrows = pn_uslp_scan(frames, written, 0, 256, 1, rows, 2000, &next);
    CHECK_EQ(nrows, written / 256);
    for (size_t i = 0; i < nrows; i++) {
        CHECK_EQ(rows[i].status, PN_OK);
        CHECK_EQ(rows[i].frame.count, (250u + i) & 0xFFu);
        CHECK(memcmp(rows[i].frame.clcw, "\x01\x04\x00\x07", 4) == 0);
    }
    memset(&unpacker, 0, sizeof unpacker);
    size_t taken = 0;
    int64_t out_len = pn_uslp_unpack(&unpacker, frames, rows, nrows, back, sizeof back, &taken);
    CHECK_EQ(taken, nrows);
    CHECK_EQ(unpacker.gaps, 0);
    CHECK_EQ(unpacker.dropped, 0);
    /* the packets, then the idle packet that completed the last frame */
    CHECK(out_len > (int64_t)total);
    CHECK(memcmp(back, packets, total) == 0);
    CHECK_EQ(((back[total] & 7u) << 8) | back[total + 1], 0x7FF);
    CHECK_EQ(unpacker.packets, 11);

    /* A frame lost: the packet it cut is dropped, the stream resumes at the next header. */
    pn_uslp_row some[2000];
    size_t kept = 0;
    for (size_t i = 0; i < nrows; i++) {
        if (i != 2) {
            some[kept++] = rows[i];
        }
    }
    memset(&unpacker, 0, sizeof unpacker);
    out_len = pn_uslp_unpack(&unpacker, frames, some, kept, back, sizeof back, &taken);
    CHECK_EQ(unpacker.gaps, 1);
    CHECK(unpacker.dropped > 0);
    CHECK(out_len > 0 && out_len < (int64_t)total);
    /* every packet put out is one of those sent, whole */
    size_t at = 0;
    while (at < (size_t)out_len) {
        size_t len = (((size_t)back[at + 4] << 8) | back[at + 5]) + 7u;
        CHECK(at + len <= (size_t)out_len);
        int found = 0;
        for (size_t p = 0; p + len <= total && !found; p++) {
            found = memcmp(packets + p, back + at, len) == 0;
        }
        found |= (((back[at] & 7u) << 8) | back[at + 1]) == 0x7FF;
        CHECK(found);
        at += len;
    }
}

/* Flushing with less than an idle packet's room: its tail begins the next frame. */
static void test_idle_spill(void)
{
    memset(&packer, 0, sizeof packer);
    packer.template.length = 64;
    packer.template.count_len = 1;
    packer.fecf = 1;
    CHECK_EQ(pn_uslp_packer_init(&packer), PN_OK);
    size_t zone = packer.zone_len; /* 64 - 8 - 3 - 2 = 51 */
    size_t n = make_packet(packets, 0x65, 1, zone - 3);
    size_t used;
    CHECK_EQ(pn_uslp_packer_put(&packer, packets, n, frames, sizeof frames, &used), 0);
    CHECK_EQ(pn_uslp_packer_flush(&packer, frames, 64), 1);
    CHECK_EQ(packer.spill_len, 4);
    size_t m = make_packet(packets + n, 0x65, 2, 20);
    CHECK_EQ(pn_uslp_packer_put(&packer, packets + n, m, frames + 64, 64, &used), 0);
    CHECK_EQ(pn_uslp_packer_flush(&packer, frames + 64, 64), 1);
    size_t next;
    size_t nrows = pn_uslp_scan(frames, 128, 0, 64, 1, rows, 4, &next);
    CHECK_EQ(nrows, 2);
    CHECK_EQ(rows[0].frame.pointer, 0);
    CHECK_EQ(rows[1].frame.pointer, 4); /* after the idle packet's last 4 octets */
    memset(&unpacker, 0, sizeof unpacker);
    size_t taken;
    int64_t out_len = pn_uslp_unpack(&unpacker, frames, rows, nrows, back, sizeof back, &taken);
    CHECK_EQ(unpacker.dropped, 0);
    CHECK(memcmp(back, packets, n) == 0);
    CHECK_EQ(((back[n] & 7u) << 8) | back[n + 1], 0x7FF); /* the idle packet, whole */
    CHECK_EQ(back[n + 5], 0);                             /* 7 octets long */
    CHECK(memcmp(back + n + 7, packets + n, m) == 0);
    CHECK(out_len > (int64_t)(n + 7 + m));
}

/* A zone that disagrees with its first header pointer: out of step, resumed at the pointer. */
static void test_pointer_disagrees(void)
{
    memset(&packer, 0, sizeof packer);
    packer.template.length = 128;
    packer.template.count_len = 1;
    CHECK_EQ(pn_uslp_packer_init(&packer), PN_OK);
    size_t n = make_packet(packets, 0x65, 1, 300);
    size_t used;
    int64_t got = pn_uslp_packer_put(&packer, packets, n, frames, sizeof frames, &used);
    CHECK_EQ(pn_uslp_packer_flush(&packer, frames + (size_t)got * 128, 128), 1);
    size_t nframes = (size_t)got + 1;
    size_t next;
    size_t nrows = pn_uslp_scan(frames, nframes * 128, 0, 128, 0, rows, 8, &next);
    CHECK_EQ(nrows, nframes);
    rows[1].frame.pointer = 3; /* the packet begun in frame 0 goes on through frame 1 */
    memset(&unpacker, 0, sizeof unpacker);
    size_t taken;
    pn_uslp_unpack(&unpacker, frames, rows, nrows, back, sizeof back, &taken);
    CHECK_EQ(unpacker.gaps, 0);
    CHECK(unpacker.dropped > 0);
    CHECK(unpacker.packets < 2);
}

static void test_randomiser_and_sync(void)
{
    /* The first 40 bits of the sequence, as CCSDS 131.0-B gives them, and its 255-octet period. */
    uint8_t zeros[600];
    memset(zeros, 0, sizeof zeros);
    pn_ccsds_randomise(zeros, sizeof zeros);
    CHECK(memcmp(zeros, "\xFF\x48\x0E\xC0\x9A", 5) == 0);
    CHECK(memcmp(zeros, zeros + 255, 255) == 0);
    CHECK(memcmp(zeros, zeros + 1, 254) != 0);
    pn_ccsds_randomise(zeros, sizeof zeros);
    for (size_t i = 0; i < sizeof zeros; i++) {
        CHECK_EQ(zeros[i], 0);
    }

    /* Noise, then two randomised fixed-length CADUs, then half a third. */
    memset(&packer, 0, sizeof packer);
    packer.template.length = 100;
    packer.template.count_len = 1;
    packer.fecf = 1;
    CHECK_EQ(pn_uslp_packer_init(&packer), PN_OK);
    size_t n = make_packet(packets, 0x65, 1, 150);
    size_t used;
    int64_t got = pn_uslp_packer_put(&packer, packets, n, frames, sizeof frames, &used);
    CHECK_EQ(got, 1);
    CHECK_EQ(pn_uslp_packer_flush(&packer, frames + 100, 100), 1);
    uint8_t stream[400];
    size_t len = 0;
    memcpy(stream, "\x1A\xCF\x00\x55\x1A", 5);
    len = 5;
    for (int i = 0; i < 2; i++) {
        memcpy(stream + len, "\x1A\xCF\xFC\x1D", 4);
        memcpy(stream + len + 4, frames + 100 * i, 100);
        pn_ccsds_randomise(stream + len + 4, 100);
        len += 104;
    }
    memcpy(stream + len, "\x1A\xCF\xFC\x1D", 4);
    memcpy(stream + len + 4, frames, 40);
    len += 44;
    uint8_t out[400];
    size_t out_len = 0;
    size_t next = 0;
    uint64_t skipped = 0;
    CHECK_EQ(pn_cadu_sync(stream, len, 100, 1, out, sizeof out, &out_len, &next, &skipped), 2);
    CHECK_EQ(out_len, 200);
    CHECK_EQ(skipped, 5);
    CHECK_EQ(next, len - 44);
    CHECK(memcmp(out, frames, 200) == 0);

    CHECK_EQ(pn_cadu_sync(stream, len, 0, 1, out, sizeof out, &out_len, &next, &skipped), 0);
}

int main(void)
{
    test_pack_and_scan();
    test_packets_round_trip();
    test_idle_spill();
    test_pointer_disagrees();
    test_randomiser_and_sync();
    return check_report("uslp");
}
