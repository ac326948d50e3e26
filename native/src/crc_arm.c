/* AArch64 CRC paths: the CRC32 and CRC32C instructions (FEAT_CRC32) for CRC-32 and CRC-32C, and
 * carry-less-multiply folding with PMULL (FEAT_PMULL) for every CRC, four 128-bit lanes at a time.
 *
 * The lanes are laid out as on x86-64 (little-endian: the low 64 bits are the first 8 bytes), so
 * the folding constants of crc_fold.c serve unchanged. The last folded block is finished by the
 * scalar path, exactly as in crc_x86.c.
 */
#include "crc_internal.h"

#if defined(__aarch64__)

#include <arm_acle.h>
#include <arm_neon.h>
#include <string.h>

#define TARGET_CRC __attribute__((target("+crc")))
#define TARGET_PMULL __attribute__((target("+crc+crypto")))
#define INLINE static inline __attribute__((always_inline))

INLINE TARGET_CRC uint32_t crc32c_instr(uint32_t reg, const uint8_t *p, size_t n)
{
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        reg = __crc32cd(reg, v);
    }
    while (n--) {
        reg = __crc32cb(reg, *p++);
    }
    return reg;
}

INLINE TARGET_CRC uint32_t crc32_instr(uint32_t reg, const uint8_t *p, size_t n)
{
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        reg = __crc32d(reg, v);
    }
    while (n--) {
        reg = __crc32b(reg, *p++);
    }
    return reg;
}

TARGET_CRC uint32_t pn_crc32c_arm_crc32_raw(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc32c_instr(reg, p, n);
}

TARGET_CRC uint32_t pn_crc32_arm_crc32_raw(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc32_instr(reg, p, n);
}

INLINE TARGET_PMULL poly64x2_t kvec(const pn_kpair *k)
{
    return vcombine_p64(vcreate_p64(k->lo), vcreate_p64(k->hi));
}

INLINE TARGET_PMULL uint8x16_t fold128(uint8x16_t x, poly64x2_t k, uint8x16_t next)
{
    poly64x2_t xp = vreinterpretq_p64_u8(x);
    uint8x16_t a = vreinterpretq_u8_p128(vmull_p64(vgetq_lane_p64(xp, 0), vgetq_lane_p64(k, 0)));
    uint8x16_t b = vreinterpretq_u8_p128(vmull_high_p64(xp, k));
    return veorq_u8(veorq_u8(a, b), next);
}

INLINE TARGET_PMULL uint8x16_t lane(uint8x16_t v, int reversed)
{
    if (!reversed) {
        return v;
    }
    uint8x16_t r = vrev64q_u8(v);
    return vextq_u8(r, r, 8);
}

INLINE TARGET_PMULL uint8x16_t load128(const uint8_t *p, int reversed)
{
    return lane(vld1q_u8(p), reversed);
}

INLINE TARGET_PMULL uint8x16_t load128_xor(const uint8_t *p, uint32_t first, int reversed)
{
    uint8x16_t init = vreinterpretq_u8_u32(vsetq_lane_u32(first, vdupq_n_u32(0), 0));
    return lane(veorq_u8(vld1q_u8(p), init), reversed);
}

INLINE TARGET_PMULL void store128(uint8_t *out, uint8x16_t v, int reversed)
{
    vst1q_u8(out, lane(v, reversed));
}

INLINE TARGET_PMULL uint8x16_t fold_kvec(const pn_kpair *k)
{
    return vreinterpretq_u8_p64(kvec(k));
}

INLINE TARGET_PMULL uint8x16_t fold128_u8(uint8x16_t x, uint8x16_t k, uint8x16_t next)
{
    return fold128(x, vreinterpretq_p64_u8(k), next);
}

#define FOLD_FN fold_pmull
#define FOLD_TARGET TARGET_PMULL
#define fold_vec uint8x16_t
#define fold128 fold128_u8
#define fold_load load128
#define fold_load_xor load128_xor
#define fold_store store128
#include "crc_fold_lanes.h"

typedef uint32_t (*scalar32_fn)(uint32_t reg, const uint8_t *p, size_t n);

/* A 32-bit CRC register continued over p[0..n): the whole 16-byte blocks folded, then the last
 * folded block and the tail through the scalar path. first is the register as it XORs onto the
 * first four bytes. */
INLINE TARGET_PMULL uint32_t crc32_pmull(uint32_t reg, uint32_t first, const uint8_t *p, size_t n,
                                         const pn_kpair *k, int reversed, scalar32_fn scalar)
{
    if (n >= 64) {
        uint8_t block[16];
        size_t done = fold_pmull(p, n, first, k, reversed, block);
        reg = scalar(0, block, sizeof block);
        p += done;
        n -= done;
    }
    return scalar(reg, p, n);
}

TARGET_PMULL uint32_t pn_crc32c_arm_pmull_raw(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc32_pmull(reg, reg, p, n, pn_fold_k32c, 0, pn_crc32c_arm_crc32_raw);
}

TARGET_PMULL uint32_t pn_crc32_arm_pmull_raw(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc32_pmull(reg, reg, p, n, pn_fold_k32, 0, pn_crc32_arm_crc32_raw);
}

TARGET_PMULL uint32_t pn_crc32p_arm_pmull(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc32_pmull(reg, pn_crc32p_first_bytes(reg), p, n, pn_fold_k32p, 1, pn_crc32p_portable);
}

TARGET_PMULL uint16_t pn_crc16_arm_pmull(uint16_t reg, const uint8_t *p, size_t n)
{
    if (n >= 64) {
        uint8_t block[16];
        size_t done = fold_pmull(p, n, pn_crc16_first_bytes(reg), pn_fold_k16, 1, block);
        reg = pn_crc16_portable(0, block, sizeof block);
        p += done;
        n -= done;
    }
    return pn_crc16_portable(reg, p, n);
}

#else
typedef int pn_crc_arm_unused; /* not an AArch64 target: nothing to build here */
#endif
