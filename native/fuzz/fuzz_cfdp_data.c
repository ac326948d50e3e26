/* libFuzzer target: CFDP file data PDUs. Any bytes read as one received PDU: no access outside
 * it (ASan), and a PDU read whole has its parts inside it. Then the same bytes as header octets,
 * offset, segment size and data to write PDUs from: a header pn_cfdp_fd_check refuses writes
 * nothing; every PDU written fits in out, says its own length, carries its piece of the data at
 * its offset, ends in a CRC-16 that checks when the header asks for one, and reads back so.
 * (Datagrams laid back to back, as GRO hands them over, are fuzz_cfdp_receive's.) */
#include <stdlib.h>
#include <string.h>

#include "payload_native.h"

static uint8_t out[1u << 17];
static uint32_t lens[256];
static uint64_t get_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pn_cfdp_fd_view v;
    if (pn_cfdp_fd_parse(data, size, &v) == PN_OK &&
        (v.header_len < 4u || v.data_at < v.header_len || v.data_at + (size_t)v.data_len > size)) {
        abort();
    }
    /* prefix length, prefix (28), offset (8), segment (2), cap (3), then the file data */
    if (size < 1 + PN_CFDP_PREFIX_MAX + 8 + 2 + 3) {
        return 0;
    }
    pn_cfdp_fd_header h;
    h.prefix_len = data[0];
    memcpy(h.prefix, data + 1, PN_CFDP_PREFIX_MAX);
    const uint8_t *p = data + 1 + PN_CFDP_PREFIX_MAX;
    uint64_t offset = get_be(p, 8);
    size_t seg = (size_t)get_be(p + 8, 2);
    size_t cap = (size_t)get_be(p + 10, 3) % (sizeof out + 1);
    const uint8_t *file = p + 13;
    size_t len = size - (size_t)(file - data);
    size_t taken = 0;
    int valid = pn_cfdp_fd_check(&h) == PN_OK;
    int64_t n = pn_cfdp_fd_segment(&h, offset, file, len, seg, out, cap, lens, 256, &taken);
    if (n < 0) {
        if (n != PN_ERR_RANGE || taken != 0) {
            abort();
        }
        return 0;
    }
    if (!valid || taken > len) {
        abort();
    }
    unsigned fss = (h.prefix[0] & 1u) ? 8u : 4u;
    unsigned crc = (h.prefix[0] & 2u) ? 2u : 0u;
    size_t at = 0;
    size_t done = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *q = out + at;
        size_t overhead = h.prefix_len + fss + crc;
        if (lens[i] <= overhead || at + lens[i] > cap) {
            abort();
        }
        size_t piece = lens[i] - overhead;
        if (piece > seg || get_be(q + 1, 2) != lens[i] - h.prefix_len ||
            get_be(q + h.prefix_len, fss) != offset + done ||
            memcmp(q + h.prefix_len + fss, file + done, piece) != 0 ||
            (crc && get_be(q + lens[i] - 2, 2) != pn_crc16(0xFFFFu, q, lens[i] - 2u)) ||
            pn_cfdp_fd_parse(q, lens[i], &v) != PN_OK || v.offset != offset + done ||
            v.data_len != piece || v.data_at != h.prefix_len + fss) {
            abort();
        }
        at += lens[i];
        done += piece;
    }
    if (done != taken) {
        abort();
    }
    return 0;
}
