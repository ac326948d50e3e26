/* Portable CRCs: slicing-by-8 tables built from the polynomials, for CRC-16/CCITT-FALSE, CRC-32C,
 * CRC-32 (ISO-HDLC) and the Proximity-1 CRC-32. */
#include "crc_internal.h"

static uint16_t t16[8][256];
static uint32_t t32c[8][256];
static uint32_t t32[8][256];
static uint32_t t32p[8][256];
static int tables_ready;

static void reflected_tables(uint32_t t[8][256], uint32_t poly_reflected)
{
    for (unsigned i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int b = 0; b < 8; b++) {
            c = (c >> 1) ^ ((c & 1u) ? poly_reflected : 0u);
        }
        t[0][i] = c;
    }
    for (unsigned k = 1; k < 8; k++) {
        for (unsigned i = 0; i < 256; i++) {
            t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
        }
    }
}

void pn_crc_tables_init(void)
{
    if (tables_ready) {
        return;
    }
    for (unsigned i = 0; i < 256; i++) {
        uint32_t c16 = i << 8;
        uint32_t c32p = i << 24;
        for (int b = 0; b < 8; b++) {
            c16 = ((c16 << 1) ^ ((c16 & 0x8000u) ? PN_CRC16_POLY : 0u)) & 0xFFFFu;
            c32p = (c32p << 1) ^ ((c32p & 0x80000000u) ? PN_CRC32P_POLY : 0u);
        }
        t16[0][i] = (uint16_t)c16;
        t32p[0][i] = c32p;
    }
    for (unsigned k = 1; k < 8; k++) {
        for (unsigned i = 0; i < 256; i++) {
            t16[k][i] = (uint16_t)((t16[k - 1][i] << 8) ^ t16[0][t16[k - 1][i] >> 8]);
            t32p[k][i] = (t32p[k - 1][i] << 8) ^ t32p[0][t32p[k - 1][i] >> 24];
        }
    }
    reflected_tables(t32c, PN_CRC32C_POLY_REFLECTED);
    reflected_tables(t32, PN_CRC32_POLY_REFLECTED);
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

static inline uint32_t reflected_slice8(uint32_t t[8][256], uint32_t reg, const uint8_t *p,
                                        size_t n)
{
    while (n >= 8) {
        uint32_t a = reg ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                            (uint32_t)p[3] << 24);
        reg = t[7][a & 0xFFu] ^ t[6][(a >> 8) & 0xFFu] ^ t[5][(a >> 16) & 0xFFu] ^ t[4][a >> 24] ^
              t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) {
        reg = (reg >> 8) ^ t[0][(reg ^ *p++) & 0xFFu];
    }
    return reg;
}

uint32_t pn_crc32c_portable_raw(uint32_t reg, const uint8_t *p, size_t n)
{
    return reflected_slice8(t32c, reg, p, n);
}

uint32_t pn_crc32_portable_raw(uint32_t reg, const uint8_t *p, size_t n)
{
    return reflected_slice8(t32, reg, p, n);
}

uint32_t pn_crc32p_portable(uint32_t reg, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint32_t a = reg ^ ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
                            (uint32_t)p[3]);
        reg = t32p[7][a >> 24] ^ t32p[6][(a >> 16) & 0xFFu] ^ t32p[5][(a >> 8) & 0xFFu] ^
              t32p[4][a & 0xFFu] ^ t32p[3][p[4]] ^ t32p[2][p[5]] ^ t32p[1][p[6]] ^ t32p[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) {
        reg = (reg << 8) ^ t32p[0][(reg >> 24) ^ *p++];
    }
    return reg;
}
