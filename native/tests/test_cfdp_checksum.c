/* Unit tests for pn_cfdp_modular: the worked values, word alignment by file offset, segments in
 * any order, against a word-by-word reference. */
#include <string.h>

#include "check.h"
#include "payload_native.h"

/* The whole-file reference: 4-octet words from offset 0, the last one padded with zeros. */
static uint32_t modular_reference(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint8_t w[4] = {0, 0, 0, 0};
        memcpy(w, p + i, n - i < 4 ? n - i : 4);
        sum += (uint32_t)w[0] << 24 | (uint32_t)w[1] << 16 | (uint32_t)w[2] << 8 | w[3];
    }
    return sum;
}

int main(void)
{
    const uint8_t abcd[] = {0x01, 0x02, 0x03, 0x04, 0x05};
    CHECK_EQ(pn_cfdp_modular(0u, 0u, abcd, 0), 0u);
    CHECK_EQ(pn_cfdp_modular(0u, 0u, abcd, 4), 0x01020304u);
    CHECK_EQ(pn_cfdp_modular(0u, 0u, abcd, 5), 0x01020304u + 0x05000000u);
    /* The same octet counts by where it sits in the file, not in the segment. */
    CHECK_EQ(pn_cfdp_modular(0u, 3u, abcd, 1), 0x01u);
    CHECK_EQ(pn_cfdp_modular(0u, 6u, abcd, 2), 0x0102u);
    /* Wraps mod 2^32. */
    const uint8_t ff[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x02};
    CHECK_EQ(pn_cfdp_modular(0u, 0u, ff, 8), 1u);

    static uint8_t buf[5000];
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = check_rand_byte();
    }
    for (size_t n = 0; n <= sizeof buf; n += (n < 300 ? 1 : 97)) {
        uint32_t whole = modular_reference(buf, n);
        CHECK_EQ(pn_cfdp_modular(0u, 0u, buf, n), whole);
        /* Three segments at arbitrary cuts, added last first. */
        size_t a = n / 3, b = n - n / 5;
        uint32_t sum = pn_cfdp_modular(0u, b, buf + b, n - b);
        sum = pn_cfdp_modular(sum, 0u, buf, a);
        sum = pn_cfdp_modular(sum, a, buf + a, b - a);
        CHECK_EQ(sum, whole);
    }
    /* Offsets past 4 GiB keep their alignment. */
    CHECK_EQ(pn_cfdp_modular(0u, 0x100000001ull, abcd, 3), 0x010203u);
    return check_report("test_cfdp_checksum");
}
