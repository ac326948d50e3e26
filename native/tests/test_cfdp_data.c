/* Unit tests for the CFDP file data PDUs: the header checked, segments cut and written whole
 * (length field, offset of 4 or 8 octets, data, CRC-16), the limits of out and of a PDU. */
#include <string.h>

#include "check.h"
#include "payload_native.h"

/* A header as Header.prefix writes it: version 1, file data, ids of id_len octets. */
static pn_cfdp_fd_header header(int crc, int large, unsigned id_len, unsigned seq_len)
{
    pn_cfdp_fd_header h;
    memset(&h, 0, sizeof h);
    h.prefix[0] = (uint8_t)(1u << 5 | 1u << 4 | (unsigned)crc << 1 | (unsigned)large);
    h.prefix[3] = (uint8_t)((id_len - 1u) << 4 | (seq_len - 1u));
    size_t at = 4;
    for (unsigned i = 0; i < 2 * id_len + seq_len; i++) {
        h.prefix[at++] = (uint8_t)(0xA0u + i);
    }
    h.prefix_len = (uint8_t)at;
    return h;
}

static uint64_t get_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Every PDU of out checked against the data it should carry from file offset offset, as
 * written and as pn_cfdp_fd_parse reads it back. */
static void check_pdus(const pn_cfdp_fd_header *h, const uint8_t *out, const uint32_t *lens,
                       int64_t pdus, uint64_t offset, const uint8_t *data, size_t seg)
{
    unsigned fss = (h->prefix[0] & 1u) ? 8u : 4u;
    unsigned crc = (h->prefix[0] & 2u) ? 2u : 0u;
    size_t at = 0;
    size_t done = 0;
    for (int64_t i = 0; i < pdus; i++) {
        const uint8_t *p = out + at;
        size_t n = lens[i] - h->prefix_len - fss - crc;
        CHECK(n >= 1 && n <= seg);
        CHECK_EQ(p[0], h->prefix[0]);
        CHECK(memcmp(p + 3, h->prefix + 3, h->prefix_len - 3u) == 0);
        CHECK_EQ(get_be(p + 1, 2), fss + n + crc);
        CHECK_EQ(get_be(p + h->prefix_len, fss), offset + done);
        CHECK(memcmp(p + h->prefix_len + fss, data + done, n) == 0);
        if (crc) {
            CHECK_EQ(get_be(p + lens[i] - 2, 2), pn_crc16(0xFFFFu, p, lens[i] - 2u));
        }
        pn_cfdp_fd_view v;
        CHECK_EQ(pn_cfdp_fd_parse(p, lens[i], &v), PN_OK);
        CHECK_EQ(v.offset, offset + done);
        CHECK_EQ(v.header_len, h->prefix_len);
        CHECK_EQ(v.data_at, h->prefix_len + fss);
        CHECK_EQ(v.data_len, n);
        at += lens[i];
        done += n;
    }
}

/* Datagrams as GRO hands them over: ten file data PDUs of 100 octets of data from file offset
 * at, 116 octets each (CRC on), back to back in buf. */
static size_t datagrams(pn_cfdp_fd_header *h, uint64_t at, const uint8_t *data, uint8_t *buf)
{
    uint32_t lens[16];
    size_t taken = 0;
    CHECK_EQ(pn_cfdp_fd_segment(h, at, data, 1000, 100, buf, 2000, lens, 16, &taken), 10);
    CHECK_EQ(lens[0], 118u);
    return 10 * 118u;
}

static void test_gather(const uint8_t *data)
{
    static uint8_t buf[8000];
    static uint8_t out[8000];
    pn_cfdp_fd_run runs[4];
    size_t n_runs = 99;
    pn_cfdp_fd_header h = header(1, 0, 2, 4);
    size_t len = datagrams(&h, 5000, data, buf);

    /* One transaction's data in order: one run, every datagram consumed. */
    CHECK_EQ(pn_cfdp_fd_gather(buf, len, 118, UINT64_MAX, out, sizeof out, runs, 4, &n_runs), len);
    CHECK_EQ(n_runs, 1u);
    CHECK_EQ(runs[0].offset, 5000u);
    CHECK_EQ(runs[0].len, 1000u);
    CHECK(memcmp(out, data, 1000) == 0);

    /* A last datagram shorter than the rest (GRO's last one may be): gathered too. */
    uint32_t lens[4];
    size_t taken = 0;
    CHECK_EQ(pn_cfdp_fd_segment(&h, 6000, data + 1000, 30, 100, buf + len, 200, lens, 4, &taken),
             1);
    CHECK_EQ(pn_cfdp_fd_gather(buf, len + lens[0], 118, UINT64_MAX, out, sizeof out, runs, 4,
                               &n_runs),
             len + lens[0]);
    CHECK_EQ(n_runs, 1u); /* 6000 follows 5000 to 6000 */
    CHECK_EQ(runs[0].len, 1030u);
    CHECK(memcmp(out + 1000, data + 1000, 30) == 0);

    /* Another transaction's PDU (its sequence number) stops the gathering before it. */
    buf[3 * 118 + 7] ^= 0x01u;
    CHECK_EQ(pn_cfdp_fd_gather(buf, len, 118, UINT64_MAX, out, sizeof out, runs, 4, &n_runs),
             3 * 118u);
    CHECK_EQ(n_runs, 1u);
    CHECK_EQ(runs[0].len, 300u);
    buf[3 * 118 + 7] ^= 0x01u;

    /* So does a CRC that does not check, and a directive. */
    buf[5 * 118 + 50] ^= 0x10u;
    CHECK_EQ(pn_cfdp_fd_gather(buf, len, 118, UINT64_MAX, out, sizeof out, runs, 4, &n_runs),
             5 * 118u);
    buf[5 * 118 + 50] ^= 0x10u;
    buf[0] = (uint8_t)(buf[0] & ~0x10u);
    CHECK_EQ(pn_cfdp_fd_gather(buf, len, 118, UINT64_MAX, out, sizeof out, runs, 4, &n_runs), 0);
    CHECK_EQ(n_runs, 0u);
    buf[0] = (uint8_t)(buf[0] | 0x10u);

    /* Data past the limit (the file's size), out full, runs full: stops before that PDU. */
    CHECK_EQ(pn_cfdp_fd_gather(buf, len, 118, 5450, out, sizeof out, runs, 4, &n_runs),
             4 * 118u);
    CHECK_EQ(pn_cfdp_fd_gather(buf, len, 118, 4000, out, sizeof out, runs, 4, &n_runs), 0);
    CHECK_EQ(pn_cfdp_fd_gather(buf, len, 118, UINT64_MAX, out, 250, runs, 4, &n_runs), 2 * 118u);
    CHECK_EQ(pn_cfdp_fd_gather(buf, len, 118, UINT64_MAX, out, sizeof out, runs, 0, &n_runs), 0);

    /* Data out of order (a retransmission, a gap): a run each while runs last. */
    memcpy(buf + 2 * 118, buf + 7 * 118, 118); /* 5700 where 5200 was */
    CHECK_EQ(pn_cfdp_fd_gather(buf, len, 118, UINT64_MAX, out, sizeof out, runs, 4, &n_runs), len);
    CHECK_EQ(n_runs, 3u);
    CHECK_EQ(runs[0].len, 200u);
    CHECK_EQ(runs[1].offset, 5700u);
    CHECK_EQ(runs[1].len, 100u);
    CHECK_EQ(runs[2].offset, 5300u);
    CHECK_EQ(runs[2].len, 700u);
    CHECK_EQ(pn_cfdp_fd_gather(buf, len, 118, UINT64_MAX, out, sizeof out, runs, 2, &n_runs),
             3 * 118u);
    CHECK_EQ(pn_cfdp_fd_gather(buf, len, 0, UINT64_MAX, out, sizeof out, runs, 4, &n_runs), 0);
}

int main(void)
{
    static uint8_t data[70000];
    static uint8_t out[200000];
    uint32_t lens[64];
    size_t taken = 0;
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = check_rand_byte();
    }

    /* Headers: what Header.prefix writes passes; anything else is refused. */
    pn_cfdp_fd_header h = header(0, 0, 2, 4);
    CHECK_EQ(h.prefix_len, 12u);
    CHECK_EQ(pn_cfdp_fd_check(&h), PN_OK);
    CHECK_EQ(pn_cfdp_fd_overhead(&h), 16u);
    pn_cfdp_fd_header bad = h;
    bad.prefix[0] = (uint8_t)(bad.prefix[0] & ~0x10u); /* a file directive */
    CHECK_EQ(pn_cfdp_fd_check(&bad), PN_ERR_RANGE);
    bad = h;
    bad.prefix[0] = (uint8_t)(bad.prefix[0] ^ 0x40u); /* version 3 */
    CHECK_EQ(pn_cfdp_fd_check(&bad), PN_ERR_RANGE);
    bad = h;
    bad.prefix_len = 13; /* longer than its id lengths say */
    CHECK_EQ(pn_cfdp_fd_check(&bad), PN_ERR_RANGE);
    bad = h;
    bad.prefix[3] |= 0x80u; /* segmentation control */
    CHECK_EQ(pn_cfdp_fd_check(&bad), PN_ERR_RANGE);
    bad = h;
    bad.prefix[2] = 1; /* a length already written */
    CHECK_EQ(pn_cfdp_fd_check(&bad), PN_ERR_RANGE);
    bad = h;
    bad.prefix_len = 29;
    CHECK_EQ(pn_cfdp_fd_check(&bad), PN_ERR_RANGE);
    CHECK_EQ(pn_cfdp_fd_segment(&bad, 0, data, 10, 4, out, sizeof out, lens, 64, &taken),
             PN_ERR_RANGE);
    pn_cfdp_fd_header widest = header(1, 1, 8, 8);
    CHECK_EQ(widest.prefix_len, 28u);
    CHECK_EQ(pn_cfdp_fd_check(&widest), PN_OK);
    CHECK_EQ(pn_cfdp_fd_overhead(&widest), 38u);

    /* 10 octets in segments of 4: 4, 4, 2. */
    int64_t n = pn_cfdp_fd_segment(&h, 100, data, 10, 4, out, sizeof out, lens, 64, &taken);
    CHECK_EQ(n, 3);
    CHECK_EQ(taken, 10u);
    CHECK_EQ(lens[0], 20u);
    CHECK_EQ(lens[2], 18u);
    check_pdus(&h, out, lens, n, 100, data, 4);
    CHECK_EQ(pn_cfdp_fd_segment(&h, 0, data, 0, 4, out, sizeof out, lens, 64, &taken), 0);
    CHECK_EQ(taken, 0u);
    CHECK_EQ(pn_cfdp_fd_segment(&h, 0, data, 10, 0, out, sizeof out, lens, 64, &taken),
             PN_ERR_RANGE);

    /* Every header shape, CRC or not, large or not, against many cuts. */
    for (int crc = 0; crc <= 1; crc++) {
        for (int large = 0; large <= 1; large++) {
            for (unsigned ids = 1; ids <= 8; ids += 3) {
                pn_cfdp_fd_header k = header(crc, large, ids, 9u - ids);
                for (size_t seg = 1; seg <= 9000; seg = seg * 3 + 1) {
                    uint64_t at = large ? 0x123456789ull : 7u;
                    n = pn_cfdp_fd_segment(&k, at, data, 20000, seg, out, sizeof out, lens, 64,
                                           &taken);
                    size_t whole = (20000 + seg - 1) / seg;
                    CHECK_EQ(n, whole < 64 ? whole : 64);
                    CHECK_EQ(taken, whole <= 64 ? 20000u : 64u * seg);
                    check_pdus(&k, out, lens, n, at, data, seg);
                }
            }
        }
    }

    /* out full: the PDUs that fit, whole; the rest left for the next call. */
    n = pn_cfdp_fd_segment(&h, 0, data, 1000, 100, out, 3 * 116 + 115, lens, 64, &taken);
    CHECK_EQ(n, 3);
    CHECK_EQ(taken, 300u);
    n = pn_cfdp_fd_segment(&h, 0, data, 1000, 100, out, sizeof out, lens, 2, &taken);
    CHECK_EQ(n, 2);
    CHECK_EQ(taken, 200u);
    n = pn_cfdp_fd_segment(&h, 0, data, 1000, 100, out, 115, lens, 64, &taken);
    CHECK_EQ(n, 0);

    /* The largest data field: 65535 octets in all. */
    n = pn_cfdp_fd_segment(&h, 0, data, 65531, 65531, out, sizeof out, lens, 64, &taken);
    CHECK_EQ(n, 1);
    CHECK_EQ(lens[0], 12u + 65535u);
    CHECK_EQ(pn_cfdp_fd_segment(&h, 0, data, 10, 65532, out, sizeof out, lens, 64, &taken),
             PN_ERR_RANGE);
    pn_cfdp_fd_header c = header(1, 1, 2, 4);
    CHECK_EQ(pn_cfdp_fd_segment(&c, 0, data, 10, 65525, out, sizeof out, lens, 64, &taken), 1);
    CHECK_EQ(pn_cfdp_fd_segment(&c, 0, data, 10, 65526, out, sizeof out, lens, 64, &taken),
             PN_ERR_RANGE);

    /* A small file's offsets end at 2^32 - 1. */
    CHECK_EQ(pn_cfdp_fd_segment(&h, 0xFFFFFFF0u, data, 15, 4, out, sizeof out, lens, 64, &taken),
             4);
    CHECK_EQ(pn_cfdp_fd_segment(&h, 0xFFFFFFF0u, data, 16, 4, out, sizeof out, lens, 64, &taken),
             PN_ERR_RANGE);
    CHECK_EQ(pn_cfdp_fd_segment(&h, 0x100000000ull, data, 1, 4, out, sizeof out, lens, 64,
                                &taken),
             PN_ERR_RANGE);

    /* Reading one back: anything but a whole file data PDU is refused, and says why. */
    pn_cfdp_fd_header k = header(1, 0, 2, 4);
    n = pn_cfdp_fd_segment(&k, 64, data, 100, 100, out, sizeof out, lens, 64, &taken);
    CHECK_EQ(n, 1);
    uint8_t pdu[200];
    memcpy(pdu, out, lens[0]);
    size_t len = lens[0];
    pn_cfdp_fd_view v = {7, 7, 7, 7};
    CHECK_EQ(pn_cfdp_fd_parse(pdu, len, &v), PN_OK);
    CHECK_EQ(v.offset, 64u);
    CHECK_EQ(v.data_len, 100u);
    for (size_t cut = 0; cut < len; cut++) { /* truncated anywhere */
        CHECK_EQ(pn_cfdp_fd_parse(pdu, cut, &v), cut < 12 ? PN_ERR_SHORT : PN_ERR_CFDP_LENGTH);
    }
    pdu[40] ^= 0x01u; /* a bit of data flipped: the CRC says so */
    CHECK_EQ(pn_cfdp_fd_parse(pdu, len, &v), PN_ERR_CFDP_CRC);
    pdu[40] ^= 0x01u;
    pdu[2] = (uint8_t)(pdu[2] + 1u); /* a length field one too long */
    CHECK_EQ(pn_cfdp_fd_parse(pdu, len, &v), PN_ERR_CFDP_LENGTH);
    pdu[2] = (uint8_t)(pdu[2] - 1u);
    pdu[0] = (uint8_t)(pdu[0] & ~0x10u); /* a directive */
    CHECK_EQ(pn_cfdp_fd_parse(pdu, len, &v), PN_ERR_CFDP_NOT_FILE_DATA);
    pdu[0] = (uint8_t)(pdu[0] | 0x10u | 0x40u); /* version 3 */
    CHECK_EQ(pn_cfdp_fd_parse(pdu, len, &v), PN_ERR_CFDP_NOT_FILE_DATA);
    pdu[0] = (uint8_t)(pdu[0] & ~0x40u);
    pdu[3] |= 0x08u; /* segment metadata */
    CHECK_EQ(pn_cfdp_fd_parse(pdu, len, &v), PN_ERR_CFDP_NOT_FILE_DATA);
    pdu[3] = (uint8_t)(pdu[3] & ~0x08u);
    CHECK_EQ(pn_cfdp_fd_parse(pdu, len, &v), PN_OK);
    /* A data field too short for its offset and CRC. */
    uint8_t tiny[18] = {0x32, 0x00, 0x05, 0x13, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0};
    CHECK_EQ(pn_cfdp_fd_parse(tiny, 17, &v), PN_ERR_CFDP_LENGTH);
    test_gather(data);
    return check_report("cfdp_data");
}
