/* The CFDP modular checksum (CCSDS 727.0-B-5 4.2.2.2): 32-bit words summed mod 2^32. */
#include "payload_native.h"

static inline uint32_t word_byte(uint8_t b, uint64_t offset)
{
    return (uint32_t)b << (8u * (3u - (unsigned)(offset & 3u)));
}

uint32_t pn_cfdp_modular(uint32_t sum, uint64_t offset, const uint8_t *data, size_t len)
{
    const uint8_t *p = data;
    size_t n = len;
    for (; n > 0 && (offset & 3u) != 0; n--, offset++) {
        sum += word_byte(*p++, offset);
    }
    /* The aligned words, written so that the compiler vectorises the sum. */
    uint32_t words = 0;
    size_t whole = n / 4;
    for (size_t i = 0; i < whole; i++) {
        const uint8_t *w = p + 4 * i;
        words += (uint32_t)w[0] << 24 | (uint32_t)w[1] << 16 | (uint32_t)w[2] << 8 | w[3];
    }
    sum += words;
    p += 4 * whole;
    offset += 4 * whole;
    for (n -= 4 * whole; n > 0; n--, offset++) {
        sum += word_byte(*p++, offset);
    }
    return sum;
}
