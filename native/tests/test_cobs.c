/* Unit tests for the COBS encoder and decoder: published vectors, round trips, malformed frames. */
#include <string.h>

#include "check.h"
#include "payload_native.h"

static void check_vector(const uint8_t *raw, size_t raw_len, const uint8_t *enc, size_t enc_len)
{
    uint8_t out[600];
    size_t n = pn_cobs_encode(raw, raw_len, out);
    CHECK_EQ(n, enc_len);
    CHECK(memcmp(out, enc, enc_len) == 0);
    CHECK(n <= pn_cobs_max_encoded_len(raw_len));

    uint8_t back[600];
    size_t back_len = 0;
    CHECK_EQ(pn_cobs_decode(enc, enc_len, back, &back_len), PN_OK);
    CHECK_EQ(back_len, raw_len);
    CHECK(memcmp(back, raw, raw_len) == 0);
}

int main(void)
{
    /* Vectors from the COBS paper's examples (and the usual published table). */
    check_vector((const uint8_t *)"", 0, (const uint8_t *)"\x01", 1);
    check_vector((const uint8_t *)"\x00", 1, (const uint8_t *)"\x01\x01", 2);
    check_vector((const uint8_t *)"\x00\x00", 2, (const uint8_t *)"\x01\x01\x01", 3);
    check_vector((const uint8_t *)"\x11\x22\x00\x33", 4, (const uint8_t *)"\x03\x11\x22\x02\x33", 5);
    check_vector((const uint8_t *)"\x11\x22\x33\x44", 4, (const uint8_t *)"\x05\x11\x22\x33\x44", 5);
    check_vector((const uint8_t *)"\x11\x00\x00\x00", 4, (const uint8_t *)"\x02\x11\x01\x01\x01", 5);

    /* 254 non-zero bytes fill one block exactly; 255 spill into a second block. */
    uint8_t raw[600];
    uint8_t enc[600];
    for (size_t i = 0; i < 255; i++) {
        raw[i] = (uint8_t)(i + 1);
    }
    enc[0] = 0xFF;
    memcpy(enc + 1, raw, 254);
    check_vector(raw, 254, enc, 255);
    enc[255] = 0x02;
    enc[256] = 0xFF;
    check_vector(raw, 255, enc, 257);

    /* Round trips of random data with many zeros, at every length up to 520. */
    for (size_t n = 0; n <= 520; n++) {
        for (size_t i = 0; i < n; i++) {
            uint8_t b = check_rand_byte();
            raw[i] = (b < 40) ? 0u : b;
        }
        size_t e = pn_cobs_encode(raw, n, enc);
        CHECK(e <= pn_cobs_max_encoded_len(n));
        CHECK(memchr(enc, 0, e) == NULL);
        uint8_t back[600];
        size_t back_len = 0;
        CHECK_EQ(pn_cobs_decode(enc, e, back, &back_len), PN_OK);
        CHECK_EQ(back_len, n);
        CHECK(memcmp(back, raw, n) == 0);
    }

    /* Malformed frames: a zero byte inside, a code running past the end. */
    uint8_t back[16];
    size_t where = 99;
    CHECK_EQ(pn_cobs_decode((const uint8_t *)"\x03\x11\x00", 3, back, &where), PN_ERR_COBS_ZERO);
    CHECK_EQ(where, 2);
    CHECK_EQ(pn_cobs_decode((const uint8_t *)"\x00", 1, back, &where), PN_ERR_COBS_ZERO);
    CHECK_EQ(where, 0);
    CHECK_EQ(pn_cobs_decode((const uint8_t *)"\x05\x11\x22", 3, back, &where), PN_ERR_COBS_OVERRUN);
    CHECK_EQ(where, 0);
    CHECK_EQ(pn_cobs_decode((const uint8_t *)"\x02\x11\x04\x01", 4, back, &where),
             PN_ERR_COBS_OVERRUN);
    CHECK_EQ(where, 2);
    size_t empty_len = 99;
    CHECK_EQ(pn_cobs_decode((const uint8_t *)"", 0, back, &empty_len), PN_OK);
    CHECK_EQ(empty_len, 0);

    /* Splitting a stream: a good frame, an empty one, a malformed one, an oversized one, a tail. */
    const uint8_t stream[] = {0x03, 0x11, 0x22, 0x00, 0x00, 0x05, 0x11, 0x00,
                              0x04, 0x01, 0x02, 0x03, 0x00, 0x02, 0x33};
    uint8_t dst[sizeof stream];
    pn_frame frames[8];
    size_t consumed = 0;
    size_t count = pn_cobs_split(stream, sizeof stream, 3, dst, frames, 8, &consumed);
    CHECK_EQ(count, 3);
    CHECK_EQ(consumed, 13);
    CHECK_EQ(frames[0].status, PN_OK);
    CHECK_EQ(frames[0].length, 2);
    CHECK(memcmp(dst + frames[0].offset, "\x11\x22", 2) == 0);
    CHECK_EQ(frames[1].status, PN_ERR_COBS_OVERRUN);
    CHECK_EQ(frames[2].status, PN_ERR_SHORT);
    CHECK_EQ(pn_cobs_split(stream, sizeof stream, 64, dst, frames, 1, &consumed), 1);
    CHECK_EQ(consumed, 4);
    CHECK_EQ(pn_cobs_split(stream + 13, 2, 64, dst, frames, 8, &consumed), 0);
    CHECK_EQ(consumed, 0);
    return check_report("test_cobs");
}
