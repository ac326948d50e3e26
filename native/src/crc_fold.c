/* Folding constants for the carry-less-multiply CRC paths, computed from the polynomials.
 *
 * Folding moves a 128-bit block X of the message polynomial D bits forward onto later data:
 * X * x^D is congruent mod P to H * (x^(D+64) mod P) + L * (x^D mod P), where H and L are X's
 * high- and low-degree halves.
 * - CRC-16/CCITT-FALSE and the Proximity-1 CRC-32 are not reflected: lanes are byte-reversed so
 *   that bit 127 is x^127, and the constants are x^(D+64) mod P (for the high half) and x^D mod P
 *   (for the low half).
 * - CRC-32C and CRC-32 are reflected: bit 0 of the first byte is the highest degree, so the low 64
 *   bits of a lane are the high half. A carry-less product of bit-reflected operands is the
 *   reflected product times x, hence reflect(x^(D+63) mod P) for the low half and
 *   reflect(x^(D-1) mod P) for the high half, each a 32-bit value in the upper half of its 64-bit
 *   operand.
 */
#include "crc_internal.h"

pn_kpair pn_fold_k16[PN_K_COUNT];
pn_kpair pn_fold_k32c[PN_K_COUNT];
pn_kpair pn_fold_k32[PN_K_COUNT];
pn_kpair pn_fold_k32p[PN_K_COUNT];

static const unsigned fold_bits[PN_K_COUNT] = {128, 256, 384, 512, 2048};

/* x^e mod P, P of degree w given with its x^w term. */
static uint64_t xpow_mod(unsigned e, uint64_t poly, unsigned w)
{
    uint64_t r = 1;
    for (unsigned i = 0; i < e; i++) {
        r <<= 1;
        if ((r >> w) & 1u) {
            r ^= poly;
        }
    }
    return r;
}

static uint64_t reflect32_high(uint64_t v)
{
    uint32_t out = 0;
    for (unsigned i = 0; i < 32; i++) {
        out |= (uint32_t)((v >> i) & 1u) << (31u - i);
    }
    return (uint64_t)out << 32;
}

static void fold_reflected32(pn_kpair k[PN_K_COUNT], uint32_t poly)
{
    const uint64_t p = 0x100000000ull | poly;
    for (int i = 0; i < PN_K_COUNT; i++) {
        k[i].lo = reflect32_high(xpow_mod(fold_bits[i] + 63, p, 32));
        k[i].hi = reflect32_high(xpow_mod(fold_bits[i] - 1, p, 32));
    }
}

static void fold_plain(pn_kpair k[PN_K_COUNT], uint64_t poly, unsigned w)
{
    for (int i = 0; i < PN_K_COUNT; i++) {
        k[i].hi = xpow_mod(fold_bits[i] + 64, poly, w);
        k[i].lo = xpow_mod(fold_bits[i], poly, w);
    }
}

void pn_crc_fold_init(void)
{
    fold_plain(pn_fold_k16, 0x10000u | PN_CRC16_POLY, 16);
    fold_plain(pn_fold_k32p, 0x100000000ull | PN_CRC32P_POLY, 32);
    fold_reflected32(pn_fold_k32c, PN_CRC32C_POLY);
    fold_reflected32(pn_fold_k32, PN_CRC32_POLY);
}
