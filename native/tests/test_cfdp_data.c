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
    return check_report("cfdp_data");
}
