/* CRC combination: the CRC of A followed by B from the CRCs of A and of B and B's length, in
 * O(log length) carry-less multiplications modulo the polynomial, without reading any data. A
 * CFDP receiver keeps a checksum for each run of a file it got out of order and joins them as
 * the gaps between them fill, so a complete file's checksum is known without reading it back.
 *
 * For each of these CRCs, crc(A B) = crc(A) * x^(8 |B|) mod P  xor  crc(B): the initial and
 * final inversions of CRC-32C and CRC-32 cancel (as for zlib's crc32_combine), and the
 * Proximity-1 CRC has none. */
#include "crc_internal.h"
#include "payload_native.h"

/* a * b modulo the polynomial, all three in reflected form (x^0 in bit 31). Constant time. */
static uint32_t mul_mod(uint32_t a, uint32_t b, uint32_t poly)
{
    uint32_t product = 0;
    for (uint32_t bit = 1u << 31; bit != 0; bit >>= 1) {
        product ^= (a & bit) ? b : 0u;
        b = (b & 1u) ? (b >> 1) ^ poly : b >> 1; /* b times x */
    }
    return product;
}

/* x^(8 * octets) modulo the polynomial, reflected: square and multiply. */
static uint32_t x_to_8n(uint64_t octets, uint32_t poly)
{
    uint32_t result = 1u << 31;      /* x^0 */
    uint32_t power = 1u << (31 - 8); /* x^8, then x^16, x^32, ... */
    for (; octets != 0; octets >>= 1) {
        if (octets & 1u) {
            result = mul_mod(power, result, poly);
        }
        power = mul_mod(power, power, poly);
    }
    return result;
}

static uint32_t reflect32(uint32_t v)
{
    uint32_t r = 0;
    for (int i = 0; i < 32; i++) {
        r = (r << 1) | ((v >> i) & 1u);
    }
    return r;
}

uint32_t pn_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    return mul_mod(x_to_8n(len_b, PN_CRC32C_POLY_REFLECTED), crc_a, PN_CRC32C_POLY_REFLECTED) ^
           crc_b;
}

uint32_t pn_crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    return mul_mod(x_to_8n(len_b, PN_CRC32_POLY_REFLECTED), crc_a, PN_CRC32_POLY_REFLECTED) ^
           crc_b;
}

uint32_t pn_crc32_prox1_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    /* Its register is not reflected: reflect it in and out of the same arithmetic. */
    uint32_t poly = reflect32(PN_CRC32P_POLY);
    return reflect32(mul_mod(x_to_8n(len_b, poly), reflect32(crc_a), poly)) ^ crc_b;
}
