/* x86-64 CRC paths: carry-less-multiply folding (PCLMULQDQ on 128-bit lanes, VPCLMULQDQ on four
 * 128-bit lanes of a 512-bit register) for every CRC, and the SSE4.2 crc32 instruction for
 * CRC-32C.
 *
 * The folding algebra and its constants are in crc_fold.c. The last 16-byte block is, by
 * linearity, a message of its own: the scalar path finishes it from a zero register and then runs
 * over the remaining tail.
 */
#include "crc_internal.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#define TARGET_SSE __attribute__((target("sse4.2,ssse3,pclmul")))
#define TARGET_AVX512 \
    __attribute__((target("sse4.2,ssse3,pclmul,avx512f,avx512bw,avx512vl,vpclmulqdq")))
#define INLINE static inline __attribute__((always_inline))

INLINE TARGET_SSE __m128i kvec(const pn_kpair *k)
{
    return _mm_set_epi64x((long long)k->hi, (long long)k->lo);
}

INLINE TARGET_SSE __m128i fold128(__m128i x, __m128i k, __m128i next)
{
    __m128i a = _mm_clmulepi64_si128(x, k, 0x00);
    __m128i b = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(a, b), next);
}

INLINE TARGET_SSE __m128i reverse_mask(void)
{
    return _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
}

INLINE TARGET_SSE __m128i lane(__m128i v, int reversed)
{
    return reversed ? _mm_shuffle_epi8(v, reverse_mask()) : v;
}

INLINE TARGET_SSE __m128i load128(const uint8_t *p, int reversed)
{
    return lane(_mm_loadu_si128((const __m128i *)(const void *)p), reversed);
}

INLINE TARGET_SSE __m128i load128_xor(const uint8_t *p, uint32_t first, int reversed)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    return lane(_mm_xor_si128(v, _mm_cvtsi32_si128((int)first)), reversed);
}

INLINE TARGET_SSE void store128(uint8_t *out, __m128i v, int reversed)
{
    _mm_storeu_si128((__m128i *)(void *)out, lane(v, reversed));
}

#define FOLD_FN fold_sse
#define FOLD_TARGET TARGET_SSE
#define fold_vec __m128i
#define fold_kvec kvec
#define fold_load load128
#define fold_load_xor load128_xor
#define fold_store store128
#include "crc_fold_lanes.h"

INLINE TARGET_SSE uint32_t crc32c_instr(uint32_t reg, const uint8_t *p, size_t n)
{
    uint64_t r = reg;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        r = _mm_crc32_u64(r, v);
    }
    uint32_t r32 = (uint32_t)r;
    while (n--) {
        r32 = _mm_crc32_u8(r32, *p++);
    }
    return r32;
}

typedef uint32_t (*scalar32_fn)(uint32_t reg, const uint8_t *p, size_t n);

/* A 32-bit CRC register continued over p[0..n): the whole 16-byte blocks folded, then the last
 * folded block and the tail through the scalar path. first is the register as it XORs onto the
 * first four bytes. */
INLINE TARGET_SSE uint32_t crc32_sse(uint32_t reg, uint32_t first, const uint8_t *p, size_t n,
                                     const pn_kpair *k, int reversed, scalar32_fn scalar)
{
    if (n >= 64) {
        uint8_t block[16];
        size_t done = fold_sse(p, n, first, k, reversed, block);
        reg = scalar(0, block, sizeof block);
        p += done;
        n -= done;
    }
    return scalar(reg, p, n);
}

static TARGET_SSE uint32_t crc32c_scalar(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc32c_instr(reg, p, n);
}

TARGET_SSE uint32_t pn_crc32c_x86_pclmul_raw(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc32_sse(reg, reg, p, n, pn_fold_k32c, 0, crc32c_scalar);
}

TARGET_SSE uint32_t pn_crc32_x86_pclmul_raw(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc32_sse(reg, reg, p, n, pn_fold_k32, 0, pn_crc32_portable_raw);
}

TARGET_SSE uint32_t pn_crc32p_x86_pclmul(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc32_sse(reg, pn_crc32p_first_bytes(reg), p, n, pn_fold_k32p, 1, pn_crc32p_portable);
}

TARGET_SSE uint16_t pn_crc16_x86_pclmul(uint16_t reg, const uint8_t *p, size_t n)
{
    if (n >= 64) {
        uint8_t block[16];
        size_t done = fold_sse(p, n, pn_crc16_first_bytes(reg), pn_fold_k16, 1, block);
        reg = pn_crc16_portable(0, block, sizeof block);
        p += done;
        n -= done;
    }
    return pn_crc16_portable(reg, p, n);
}

INLINE TARGET_AVX512 __m512i fold512(__m512i x, __m512i k, __m512i next)
{
    __m512i a = _mm512_clmulepi64_epi128(x, k, 0x00);
    __m512i b = _mm512_clmulepi64_epi128(x, k, 0x11);
    return _mm512_ternarylogic_epi64(a, b, next, 0x96); /* a ^ b ^ next */
}

INLINE TARGET_AVX512 __m512i load512(const uint8_t *p, int reversed)
{
    __m512i v = _mm512_loadu_si512((const void *)p);
    return reversed ? _mm512_shuffle_epi8(v, _mm512_broadcast_i32x4(reverse_mask())) : v;
}

/* As fold_sse, four 512-bit accumulators (256 bytes a round); n >= 256. */
INLINE TARGET_AVX512 size_t fold_avx512(const uint8_t *p, size_t n, __m128i first,
                                        const pn_kpair *k, int reversed, uint8_t out[16])
{
    __m512i z0 = _mm512_xor_si512(_mm512_loadu_si512((const void *)p),
                                  _mm512_zextsi128_si512(first));
    if (reversed) {
        z0 = _mm512_shuffle_epi8(z0, _mm512_broadcast_i32x4(reverse_mask()));
    }
    __m512i z1 = load512(p + 64, reversed);
    __m512i z2 = load512(p + 128, reversed);
    __m512i z3 = load512(p + 192, reversed);
    const __m512i k2048 = _mm512_broadcast_i32x4(kvec(&k[PN_K2048]));
    const __m512i k512 = _mm512_broadcast_i32x4(kvec(&k[PN_K512]));
    size_t done = 256;
    for (; n - done >= 256; done += 256) {
        z0 = fold512(z0, k2048, load512(p + done, reversed));
        z1 = fold512(z1, k2048, load512(p + done + 64, reversed));
        z2 = fold512(z2, k2048, load512(p + done + 128, reversed));
        z3 = fold512(z3, k2048, load512(p + done + 192, reversed));
    }
    z0 = fold512(fold512(fold512(z0, k512, z1), k512, z2), k512, z3);
    for (; n - done >= 64; done += 64) {
        z0 = fold512(z0, k512, load512(p + done, reversed));
    }
    const __m128i k128 = kvec(&k[PN_K128]);
    __m128i x = fold128(_mm512_extracti32x4_epi32(z0, 2), k128, _mm512_extracti32x4_epi32(z0, 3));
    x = fold128(_mm512_extracti32x4_epi32(z0, 1), kvec(&k[PN_K256]), x);
    x = fold128(_mm512_extracti32x4_epi32(z0, 0), kvec(&k[PN_K384]), x);
    for (; n - done >= 16; done += 16) {
        x = fold128(x, k128, load128(p + done, reversed));
    }
    _mm_storeu_si128((__m128i *)(void *)out, lane(x, reversed));
    return done;
}

/* As crc32_sse, four 512-bit accumulators when there are 256 bytes or more. */
INLINE TARGET_AVX512 uint32_t crc32_avx512(uint32_t reg, uint32_t first, const uint8_t *p,
                                           size_t n, const pn_kpair *k, int reversed,
                                           scalar32_fn scalar)
{
    if (n < 256) {
        return crc32_sse(reg, first, p, n, k, reversed, scalar);
    }
    uint8_t block[16];
    size_t done = fold_avx512(p, n, _mm_cvtsi32_si128((int)first), k, reversed, block);
    reg = scalar(0, block, sizeof block);
    return scalar(reg, p + done, n - done);
}

TARGET_AVX512 uint32_t pn_crc32c_x86_vpclmul_raw(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc32_avx512(reg, reg, p, n, pn_fold_k32c, 0, crc32c_scalar);
}

TARGET_AVX512 uint32_t pn_crc32_x86_vpclmul_raw(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc32_avx512(reg, reg, p, n, pn_fold_k32, 0, pn_crc32_portable_raw);
}

TARGET_AVX512 uint32_t pn_crc32p_x86_vpclmul(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc32_avx512(reg, pn_crc32p_first_bytes(reg), p, n, pn_fold_k32p, 1,
                        pn_crc32p_portable);
}

TARGET_AVX512 uint16_t pn_crc16_x86_vpclmul(uint16_t reg, const uint8_t *p, size_t n)
{
    if (n < 256) {
        return pn_crc16_x86_pclmul(reg, p, n);
    }
    uint8_t block[16];
    size_t done = fold_avx512(p, n, _mm_cvtsi32_si128(pn_crc16_first_bytes(reg)), pn_fold_k16, 1, block);
    reg = pn_crc16_portable(0, block, sizeof block);
    return pn_crc16_portable(reg, p + done, n - done);
}

#else
typedef int pn_crc_x86_unused; /* not an x86-64 target: nothing to build here */
#endif
