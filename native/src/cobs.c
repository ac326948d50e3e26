/* Consistent Overhead Byte Stuffing (Cheshire and Baker, 1999): encode and decode one frame. */
#include <string.h>

#include "payload_native.h"

size_t pn_cobs_max_encoded_len(size_t len)
{
    return len + len / 254u + 1u;
}

size_t pn_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst)
{
    size_t code_at = 0; /* where the code byte of the current block goes */
    size_t out = 1;
    uint8_t code = 1;   /* 1 + number of non-zero bytes in the current block */

    for (size_t i = 0; i < len; i++) {
        if (src[i] == 0u) {
            dst[code_at] = code;
            code_at = out++;
            code = 1;
            continue;
        }
        dst[out++] = src[i];
        code++;
        if (code == 0xFFu) {
            dst[code_at] = code;
            if (i + 1u == len) {
                return out; /* a full block at the end needs no trailing block */
            }
            code_at = out++;
            code = 1;
        }
    }
    dst[code_at] = code;
    return out;
}

int pn_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t *out_len)
{
    size_t in = 0;
    size_t out = 0;

    while (in < len) {
        uint8_t code = src[in];
        if (code == 0u) {
            *out_len = in;
            return PN_ERR_COBS_ZERO;
        }
        if ((size_t)code - 1u > len - in - 1u) {
            *out_len = in;
            return PN_ERR_COBS_OVERRUN;
        }
        in++;
        for (uint8_t k = 1; k < code; k++) {
            if (src[in] == 0u) {
                *out_len = in;
                return PN_ERR_COBS_ZERO;
            }
            dst[out++] = src[in++];
        }
        if (code != 0xFFu && in < len) {
            dst[out++] = 0u;
        }
    }
    *out_len = out;
    return PN_OK;
}

size_t pn_cobs_split(const uint8_t *src, size_t len, size_t max_frame_len, uint8_t *dst,
                     pn_frame *frames, size_t max_frames, size_t *consumed)
{
    size_t start = 0;
    size_t count = 0;
    size_t out = 0;
    *consumed = 0;
    while (count < max_frames) {
        const uint8_t *end = memchr(src + start, 0, len - start);
        if (end == NULL) {
            break;
        }
        size_t n = (size_t)(end - (src + start));
        if (n > 0) {
            pn_frame *f = &frames[count++];
            f->offset = (uint32_t)out;
            f->length = 0;
            if (n > max_frame_len) {
                f->status = PN_ERR_SHORT;
            } else {
                size_t decoded = 0;
                f->status = pn_cobs_decode(src + start, n, dst + out, &decoded);
                if (f->status == PN_OK) {
                    f->length = (uint32_t)decoded;
                    out += decoded;
                }
            }
        }
        start += n + 1;
        *consumed = start;
    }
    return count;
}
