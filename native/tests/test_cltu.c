/* Unit tests for the CLTU functions: pn_cltu_len, pn_cltu_encode and pn_cltu_sync. */
#include <string.h>

#include "check.h"
#include "payload_native.h"

/* The remainder of a 63-bit codeword (56 information bits, then 7 parity bits) divided by
 * g(x) = x^7 + x^6 + x^2 + 1, by long division one bit at a time: 0 for a codeword. */
static unsigned remainder_of(const uint8_t *block)
{
    unsigned long long word = 0;
    for (int i = 0; i < 7; i++) {
        word = (word << 8) | block[i];
    }
    word = (word << 7) | ((unsigned)(~block[7] >> 1) & 0x7Fu); /* the parity, un-complemented */
    const unsigned long long g = 0xC5ull;                       /* x^7 + x^6 + x^2 + 1 */
    for (int bit = 62; bit >= 7; bit--) {
        if (word >> bit & 1u) {
            word ^= g << (bit - 7);
        }
    }
    return (unsigned)word;
}

int main(void)
{
    uint8_t data[100];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = check_rand_byte();
    }
    uint8_t cltu[200];
    size_t n = pn_cltu_encode(data, 20, cltu, sizeof cltu);
    CHECK_EQ(n, pn_cltu_len(20));
    CHECK_EQ(n, 2 + 3 * 8 + 8);
    CHECK_EQ(cltu[0], 0xEB);
    CHECK_EQ(cltu[1], 0x90);
    for (int b = 0; b < 3; b++) {
        CHECK_EQ(remainder_of(cltu + 2 + 8 * b), 0);
        CHECK_EQ(cltu[2 + 8 * b + 7] & 1u, 0); /* the filler bit */
    }
    CHECK_EQ(cltu[2 + 16 + 6], 0x55); /* fill after the 20th octet */
    CHECK(memcmp(cltu + n - 8, "\xC5\xC5\xC5\xC5\xC5\xC5\xC5\x79", 8) == 0);
    CHECK_EQ(pn_cltu_encode(data, 20, cltu, n - 1), 0);
    CHECK_EQ(pn_cltu_encode(data, 0, cltu, sizeof cltu), 0);

    /* Noise, a unit, a unit with a damaged codeblock, half a unit. */
    uint8_t stream[600];
    size_t len = 0;
    memcpy(stream, "\x01\xEB\x02\x03", 4);
    len = 4;
    len += pn_cltu_encode(data, 20, stream + len, sizeof stream - len);
    size_t second = len;
    len += pn_cltu_encode(data + 20, 30, stream + len, sizeof stream - len);
    stream[second + 2 + 8 + 3] ^= 0x04; /* its second codeblock */
    size_t third = len;
    len += pn_cltu_encode(data, 40, stream + len, sizeof stream - len);
    size_t cut = len - 12;
    uint8_t out[600];
    uint32_t lengths[8];
    size_t next = 0;
    pn_cltu_counts counts = {0, 0, 0};
    CHECK_EQ(pn_cltu_sync(stream, cut, out, sizeof out, lengths, 8, &next, &counts), 2);
    CHECK_EQ(lengths[0], 21);
    CHECK(memcmp(out, data, 20) == 0);
    CHECK_EQ(out[20], 0x55);
    CHECK_EQ(lengths[1], 7); /* the codeblock before the damaged one */
    CHECK(memcmp(out + 21, data + 20, 7) == 0);
    CHECK_EQ(counts.units, 1);
    CHECK_EQ(counts.abandoned, 1);
    CHECK_EQ(counts.skipped, 4 + 32); /* the noise, and the damaged unit after its bad block */
    /* the search went on after the damaged block: it found the third unit, not yet ended */
    CHECK_EQ(next, third);
    CHECK_EQ(pn_cltu_sync(stream + next, len - next, out, sizeof out, lengths, 8, &next, &counts),
             1);
    CHECK_EQ(lengths[0], 42);
    CHECK(memcmp(out, data, 40) == 0);
    CHECK_EQ(counts.units, 2);
    return check_report("cltu");
}
