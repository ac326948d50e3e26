/* crc_internal.h - shared by the CRC implementations: raw (un-inverted) register updates. */
#ifndef PAYLOAD_CRC_INTERNAL_H
#define PAYLOAD_CRC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define PN_CRC16_POLY 0x1021u
#define PN_CRC32C_POLY_REFLECTED 0x82F63B78u
#define PN_CRC32C_POLY 0x1EDC6F41u

/* Fill the slicing tables; idempotent. */
void pn_crc_tables_init(void);

/* Portable register updates (no initial or final inversion). */
uint16_t pn_crc16_portable(uint16_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32c_portable_raw(uint32_t reg, const uint8_t *p, size_t n);

/* x86-64 paths; defined only when the compiler targets x86-64. */
void pn_crc_x86_init(void);
uint16_t pn_crc16_x86_pclmul(uint16_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32c_x86_pclmul_raw(uint32_t reg, const uint8_t *p, size_t n);
uint16_t pn_crc16_x86_vpclmul(uint16_t reg, const uint8_t *p, size_t n);
uint32_t pn_crc32c_x86_vpclmul_raw(uint32_t reg, const uint8_t *p, size_t n);

#endif
