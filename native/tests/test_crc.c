/* Unit tests for pn_crc16, pn_crc32c, pn_crc32 and pn_crc32_prox1 on every CPU path: check values,
 * chaining, bitwise references; and the combine functions against the CRCs of the whole. */
#include <string.h>

#include "check.h"
#include "payload_native.h"

static uint16_t crc16_bitwise(uint16_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t c = crc ^ ((uint32_t)p[i] << 8);
        for (int b = 0; b < 8; b++) {
            c = ((c << 1) ^ ((c & 0x8000u) ? 0x1021u : 0u)) & 0xFFFFu;
        }
        crc = (uint16_t)c;
    }
    return crc;
}

static uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) {
            crc = (crc & 1u) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
    }
    return ~crc;
}

static uint32_t crc32_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) {
            crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
    }
    return ~crc;
}

static uint32_t prox1_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint32_t)p[i] << 24;
        for (int b = 0; b < 8; b++) {
            crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x00A00805u : crc << 1;
        }
    }
    return crc;
}

static void check_path(int path)
{
    CHECK_EQ(pn_crc_path_set(path), PN_OK);
    const uint8_t check[] = "123456789";
    CHECK_EQ(pn_crc16(0xFFFFu, check, 9), 0x29B1u);
    CHECK_EQ(pn_crc32c(0u, check, 9), 0xE3069283u);
    CHECK_EQ(pn_crc16(0xFFFFu, check, 0), 0xFFFFu);
    CHECK_EQ(pn_crc32c(0u, check, 0), 0u);
    CHECK_EQ(pn_crc32(0u, check, 9), 0xCBF43926u);
    CHECK_EQ(pn_crc32(0u, check, 0), 0u);
    CHECK_EQ(pn_crc32_prox1(0u, check, 0), 0u);

    static uint8_t buf[9000];
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = check_rand_byte();
    }
    /* Every length to 1100 (all the fold thresholds and tails), then strides, at odd offsets. */
    for (size_t n = 0; n + 3 <= sizeof buf; n += (n < 1100 ? 1 : 331)) {
        const uint8_t *p = buf + (n % 3);
        CHECK_EQ(pn_crc16(0xFFFFu, p, n), crc16_bitwise(0xFFFFu, p, n));
        CHECK_EQ(pn_crc32c(0u, p, n), crc32c_bitwise(0u, p, n));
        size_t cut = n / 3;
        CHECK_EQ(pn_crc16(pn_crc16(0x1234u, p, cut), p + cut, n - cut), pn_crc16(0x1234u, p, n));
        CHECK_EQ(pn_crc32c(pn_crc32c(7u, p, cut), p + cut, n - cut), pn_crc32c(7u, p, n));
        CHECK_EQ(pn_crc32(0u, p, n), crc32_bitwise(0u, p, n));
        CHECK_EQ(pn_crc32(pn_crc32(7u, p, cut), p + cut, n - cut), pn_crc32(7u, p, n));
        CHECK_EQ(pn_crc32_prox1(0u, p, n), prox1_bitwise(0u, p, n));
        CHECK_EQ(pn_crc32_prox1(pn_crc32_prox1(7u, p, cut), p + cut, n - cut),
                 pn_crc32_prox1(7u, p, n));
        CHECK_EQ(pn_crc32c_combine(pn_crc32c(0u, p, cut), pn_crc32c(0u, p + cut, n - cut), n - cut),
                 pn_crc32c(0u, p, n));
        CHECK_EQ(pn_crc32_combine(pn_crc32(0u, p, cut), pn_crc32(0u, p + cut, n - cut), n - cut),
                 pn_crc32(0u, p, n));
        CHECK_EQ(pn_crc32_prox1_combine(pn_crc32_prox1(0u, p, cut),
                                        pn_crc32_prox1(0u, p + cut, n - cut), n - cut),
                 pn_crc32_prox1(0u, p, n));
    }
}

/* Combining across a long B: B is 40 000 zero octets after 7 octets of data, so its CRC can be
 * continued over the zeros in pieces and compared; and B empty leaves A's CRC as it was. */
static void check_combine_long_and_empty(void)
{
    static const uint8_t zeros[4096];
    static const uint8_t a[7] = {1, 2, 3, 4, 5, 6, 7};
    uint32_t whole_c = pn_crc32c(0u, a, sizeof a), b_c = 0;
    uint32_t whole = pn_crc32(0u, a, sizeof a), b = 0;
    uint32_t whole_p = pn_crc32_prox1(0u, a, sizeof a), b_p = 0;
    size_t len = 0;
    while (len < 40000) {
        size_t piece = sizeof zeros < 40000 - len ? sizeof zeros : 40000 - len;
        whole_c = pn_crc32c(whole_c, zeros, piece);
        b_c = pn_crc32c(b_c, zeros, piece);
        whole = pn_crc32(whole, zeros, piece);
        b = pn_crc32(b, zeros, piece);
        whole_p = pn_crc32_prox1(whole_p, zeros, piece);
        b_p = pn_crc32_prox1(b_p, zeros, piece);
        len += piece;
    }
    CHECK_EQ(pn_crc32c_combine(pn_crc32c(0u, a, sizeof a), b_c, len), whole_c);
    CHECK_EQ(pn_crc32_combine(pn_crc32(0u, a, sizeof a), b, len), whole);
    CHECK_EQ(pn_crc32_prox1_combine(pn_crc32_prox1(0u, a, sizeof a), b_p, len), whole_p);
    CHECK_EQ(pn_crc32c_combine(0xDEADBEEFu, 0u, 0), 0xDEADBEEFu);
    CHECK_EQ(pn_crc32_combine(0xDEADBEEFu, 0u, 0), 0xDEADBEEFu);
    CHECK_EQ(pn_crc32_prox1_combine(0xDEADBEEFu, 0u, 0), 0xDEADBEEFu);
    CHECK_EQ(pn_crc32c_combine(0u, 0x12345678u, 1u << 30), 0x12345678u); /* A empty */
}

int main(void)
{
    unsigned paths = pn_crc_paths();
    CHECK(paths & (1u << PN_CRC_PORTABLE));
    int ran = 0;
    for (int path = PN_CRC_PORTABLE; path < PN_CRC_PATH_COUNT; path++) {
        if (paths & (1u << path)) {
            check_path(path);
            ran++;
        } else {
            CHECK_EQ(pn_crc_path_set(path), PN_ERR_RANGE);
        }
    }
    CHECK_EQ(pn_crc_path_set(99), PN_ERR_RANGE);
    check_combine_long_and_empty();
    printf("test_crc: ran %d CRC paths (mask 0x%x)\n", ran, paths);
    return check_report("test_crc");
}
