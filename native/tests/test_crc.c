/* Unit tests for pn_crc16 and pn_crc32c: check values, chaining, bitwise reference. */
#include <string.h>

#include "check.h"
#include "payload_native.h"

static uint16_t crc16_bitwise(uint16_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
        }
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

int main(void)
{
    const uint8_t check[] = "123456789";
    CHECK_EQ(pn_crc16(0xFFFFu, check, 9), 0x29B1u);
    CHECK_EQ(pn_crc32c(0u, check, 9), 0xE3069283u);
    CHECK_EQ(pn_crc16(0xFFFFu, check, 0), 0xFFFFu);
    CHECK_EQ(pn_crc32c(0u, check, 0), 0u);

    uint8_t buf[4096];
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = check_rand_byte();
    }
    for (size_t n = 0; n <= sizeof buf; n += 97) {
        CHECK_EQ(pn_crc16(0xFFFFu, buf, n), crc16_bitwise(0xFFFFu, buf, n));
        CHECK_EQ(pn_crc32c(0u, buf, n), crc32c_bitwise(0u, buf, n));
        size_t cut = n / 3;
        CHECK_EQ(pn_crc16(pn_crc16(0xFFFFu, buf, cut), buf + cut, n - cut),
                 pn_crc16(0xFFFFu, buf, n));
        CHECK_EQ(pn_crc32c(pn_crc32c(0u, buf, cut), buf + cut, n - cut), pn_crc32c(0u, buf, n));
    }
    return check_report("test_crc");
}
