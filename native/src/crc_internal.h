/* crc_internal.h - shared by the CRC implementations: raw (un-inverted) register updates. */
#ifndef PAYLOAD_CRC_INTERNAL_H
#define PAYLOAD_CRC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define PN_CRC16_POLY 0x1021u
#define PN_CRC32C_POLY_REFLECTED 0x82F63B78u
#define PN_CRC32C_POLY 0x1EDC6F41u
#define PN_CRC32_POLY_REFLECTED 0xEDB88320u
#define PN_CRC32_POLY 0x04C11DB7u
#define PN_CRC32P_POLY 0x00A00805u

/* Fill the slicing tables; idempotent. */
void pn_crc_tables_init(void);

/* Portable register updates (no initial or final inversion). */
uint16_t pn_crc16_portable(uint16_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32c_portable_raw(uint32_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32_portable_raw(uint32_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32p_portable(uint32_t reg, const uint8_t *p, size_t n);

/* Folding constants (crc_fold.c), shared by the carry-less-multiply paths of every CPU: for a
 * fold of D bits, lo multiplies the low 64 bits of a 128-bit lane and hi the high 64 bits. */
typedef struct pn_kpair {
    uint64_t lo;
    uint64_t hi;
} pn_kpair;

enum { PN_K128, PN_K256, PN_K384, PN_K512, PN_K2048, PN_K_COUNT };
extern pn_kpair pn_fold_k16[PN_K_COUNT];
extern pn_kpair pn_fold_k32c[PN_K_COUNT];
extern pn_kpair pn_fold_k32[PN_K_COUNT];
extern pn_kpair pn_fold_k32p[PN_K_COUNT];
void pn_crc_fold_init(void);

/* The CRC-16 register XORs onto the first two message bytes, most significant byte first: as a
 * little-endian 16-bit word that is the byte-swapped register. */
static inline uint16_t pn_crc16_first_bytes(uint16_t reg)
{
    return (uint16_t)((reg >> 8) | (reg << 8));
}

/* The Proximity-1 CRC-32 register XORs onto the first four message bytes, most significant byte
 * first: as a little-endian 32-bit word, the byte-swapped register. */
static inline uint32_t pn_crc32p_first_bytes(uint32_t reg)
{
    return __builtin_bswap32(reg);
}

/* x86-64 paths; defined only when the compiler targets x86-64. */
uint16_t pn_crc16_x86_pclmul(uint16_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32c_x86_pclmul_raw(uint32_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32_x86_pclmul_raw(uint32_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32p_x86_pclmul(uint32_t reg, const uint8_t *p, size_t n);
uint16_t pn_crc16_x86_vpclmul(uint16_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32c_x86_vpclmul_raw(uint32_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32_x86_vpclmul_raw(uint32_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32p_x86_vpclmul(uint32_t reg, const uint8_t *p, size_t n);

/* AArch64 paths; defined only when the compiler targets AArch64. */
uint32_t pn_crc32c_arm_crc32_raw(uint32_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32_arm_crc32_raw(uint32_t reg, const uint8_t *p, size_t n);
uint16_t pn_crc16_arm_pmull(uint16_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32c_arm_pmull_raw(uint32_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32_arm_pmull_raw(uint32_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32p_arm_pmull(uint32_t reg, const uint8_t *p, size_t n);

#endif
