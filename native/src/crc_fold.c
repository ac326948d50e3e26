/* Folding constants for the carry-less-multiply CRC paths, computed from the polynomials.
 *
 * Folding moves a 128-bit block X of the message polynomial D bits forward onto later data:
 * X * x^D is congruent mod P to H * (x^(D+64) mod P) + L * (x^D mod P), where H and L are X's
 * high- and low-degree halves.
 * - CRC-16/CCITT-FALSE is not reflected: lanes are byte-reversed so that bit 127 is x^127, and the
 *   constants are x^(D+64) mod P (for the high half) and x^D mod P (for the low half).
 * - CRC-32C is reflected: bit 0 of the first byte is the highest degree, so the low 64 bits of a
 *   lane are the high half. A carry-less product of bit-reflected operands is the reflected
 *   product times x, hence reflect(x^(D+63) mod P) for the low half and reflect(x^(D-1) mod P) for
 *   the high half, each a 32-bit value in the upper half of its 64-bit operand.
 */
#include "crc_internal.h"

pn_kpair pn_fold_k16[PN_K_COUNT];
pn_kpair pn_fold_k32[PN_K_COUNT];

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

void pn_crc_fold_init(void)
{
    const uint64_t p16 = 0x10000u | PN_CRC16_POLY;
    const uint64_t p32 = 0x100000000ull | PN_CRC32C_POLY;
    for (int i = 0; i < PN_K_COUNT; i++) {
        unsigned d = fold_bits[i];
        pn_fold_k16[i].hi = xpow_mod(d + 64, p16, 16);
        pn_fold_k16[i].lo = xpow_mod(d, p16, 16);
        pn_fold_k32[i].lo = reflect32_high(xpow_mod(d + 63, p32, 32));
        pn_fold_k32[i].hi = reflect32_high(xpow_mod(d - 1, p32, 32));
    }
}
