/* Communications Link Transmission Units (CCSDS 231.0-B, TC Synchronization and Channel
 * Coding): the uplink's physical-layer framing. A start sequence, then BCH(63,56) codeblocks of 7
 * information octets and one octet of complemented parity with a zero filler bit, then the tail
 * sequence, a codeblock that never checks. No allocation: every buffer is the caller's. */
#include <string.h>

#include "payload_native.h"

#define INFO 7u
#define BLOCK 8u
#define FILL 0x55u
#define BCH_POLY 0x45u /* g(x) = x^7 + x^6 + x^2 + 1, without its x^7 term */
#define MAX_INFO 65541u /* a unit never carries more: the largest frame, in whole codeblocks */

static const uint8_t START[2] = {0xEB, 0x90};
static const uint8_t TAIL[BLOCK] = {0xC5, 0xC5, 0xC5, 0xC5, 0xC5, 0xC5, 0xC5, 0x79};

/* The parity octet of 7 information octets: the complemented remainder, then a zero bit. */
static uint8_t bch_parity(const uint8_t *info)
{
    unsigned reg = 0;
    for (unsigned i = 0; i < INFO; i++) {
        for (int bit = 7; bit >= 0; bit--) {
            unsigned feedback = ((reg >> 6) ^ (unsigned)(info[i] >> bit)) & 1u;
            reg = (reg << 1) & 0x7Fu;
            if (feedback) {
                reg ^= BCH_POLY;
            }
        }
    }
    return (uint8_t)((~reg & 0x7Fu) << 1);
}

size_t pn_cltu_len(size_t len)
{
    return sizeof START + (len + INFO - 1u) / INFO * BLOCK + BLOCK;
}

size_t pn_cltu_encode(const uint8_t *data, size_t len, uint8_t *out, size_t cap)
{
    size_t total = pn_cltu_len(len);
    if (len == 0 || total > cap) {
        return 0;
    }
    memcpy(out, START, sizeof START);
    size_t at = sizeof START;
    for (size_t i = 0; i < len; i += INFO) {
        size_t n = len - i < INFO ? len - i : INFO;
        memcpy(out + at, data + i, n);
        memset(out + at + n, FILL, INFO - n);
        out[at + INFO] = bch_parity(out + at);
        at += BLOCK;
    }
    memcpy(out + at, TAIL, BLOCK);
    return total;
}

size_t pn_cltu_sync(const uint8_t *buf, size_t len, uint8_t *out, size_t cap, uint32_t *lengths,
                    size_t max_units, size_t *next, pn_cltu_counts *counts)
{
    size_t at = 0;
    size_t written = 0;
    size_t units = 0;
    while (units < max_units && len - at >= sizeof START) {
        if (buf[at] != START[0] || buf[at + 1] != START[1]) {
            at++;
            counts->skipped++;
            continue;
        }
        /* Decode codeblocks until one does not check: the tail, or an error. */
        size_t block = at + sizeof START;
        size_t info = 0;
        int ended = 0;
        while (len - block >= BLOCK) {
            const uint8_t *b = buf + block;
            if (bch_parity(b) != b[INFO]) {
                if (memcmp(b, TAIL, BLOCK) == 0) {
                    counts->units++;
                } else {
                    counts->abandoned++;
                }
                block += BLOCK;
                ended = 1;
                break;
            }
            if (info + INFO > MAX_INFO) {
                counts->abandoned++; /* a unit with no end: passed over */
                info = 0;
                ended = 1;
                break;
            }
            if (cap - written - info < INFO) {
                break; /* no room: the caller comes back with more */
            }
            memcpy(out + written + info, b, INFO);
            info += INFO;
            block += BLOCK;
        }
        if (!ended) {
            break; /* the rest of this unit is still to come (or out is full) */
        }
        if (info != 0u) {
            lengths[units++] = (uint32_t)info;
            written += info;
        }
        at = block;
    }
    *next = at;
    return units;
}
