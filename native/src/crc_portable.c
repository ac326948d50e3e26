/* Portable CRC-16/CCITT-FALSE and CRC-32C: slicing-by-8 tables built from the polynomials. */
#include "crc_internal.h"

static uint16_t t16[8][256];
static uint32_t t32[8][256];
static int tables_ready;

void pn_crc_tables_init(void)
{
    if (tables_ready) {
        return;
    }
    for (unsigned i = 0; i < 256; i++) {
        uint32_t c16 = i << 8;
        uint32_t c32 = i;
        for (int b = 0; b < 8; b++) {
            c16 = ((c16 << 1) ^ ((c16 & 0x8000u) ? PN_CRC16_POLY : 0u)) & 0xFFFFu;
            c32 = (c32 >> 1) ^ ((c32 & 1u) ? PN_CRC32C_POLY_REFLECTED : 0u);
        }
        t16[0][i] = (uint16_t)c16;
        t32[0][i] = c32;
    }
    for (unsigned k = 1; k < 8; k++) {
        for (unsigned i = 0; i < 256; i++) {
            t16[k][i] = (uint16_t)((t16[k - 1][i] << 8) ^ t16[0][t16[k - 1][i] >> 8]);
            t32[k][i] = (t32[k - 1][i] >> 8) ^ t32[0][t32[k - 1][i] & 0xFFu];
        }
    }
    tables_ready = 1;
}

uint16_t pn_crc16_portable(uint16_t reg, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        unsigned x = reg ^ ((unsigned)p[0] << 8 | p[1]);
        reg = (uint16_t)(t16[7][x >> 8] ^ t16[6][x & 0xFFu] ^ t16[5][p[2]] ^ t16[4][p[3]] ^
                         t16[3][p[4]] ^ t16[2][p[5]] ^ t16[1][p[6]] ^ t16[0][p[7]]);
        p += 8;
        n -= 8;
    }
    while (n--) {
        reg = (uint16_t)((reg << 8) ^ t16[0][((reg >> 8) ^ *p++) & 0xFFu]);
    }
    return reg;
}

uint32_t pn_crc32c_portable_raw(uint32_t reg, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint32_t a = reg ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                            (uint32_t)p[3] << 24);
        reg = t32[7][a & 0xFFu] ^ t32[6][(a >> 8) & 0xFFu] ^ t32[5][(a >> 16) & 0xFFu] ^
              t32[4][a >> 24] ^ t32[3][p[4]] ^ t32[2][p[5]] ^ t32[1][p[6]] ^ t32[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) {
        reg = (reg >> 8) ^ t32[0][(reg ^ *p++) & 0xFFu];
    }
    return reg;
}
