/* crc_fold_lanes.h - the four-lane 128-bit folding loop, written once for every ISA.
 *
 * Include it after defining, for the ISA at hand:
 *   FOLD_FN        the name of the function to define
 *   FOLD_TARGET    the function attribute that enables the ISA's instructions
 *   fold_vec       the 128-bit vector type
 *   fold_kvec(k)   a vector of the constant pair k (lo in the low 64 bits)
 *   fold128(x, k, next)     x folded by the constant vector k, XORed with next
 *   fold_load(p, reversed)  16 bytes at p, byte-reversed when reversed
 *   fold_load_xor(p, first, reversed)  the same with the 32-bit value first XORed into bytes 0-3
 *   fold_store(out, v, reversed)       v back to data order at out
 *
 * FOLD_FN(p, n, first, k, reversed, out) folds the whole 16-byte blocks of p[0..n), n >= 64, into
 * one block written to out in data order, with first (the initial register) XORed into the first
 * bytes, and returns the bytes consumed. crc_fold.c explains the algebra.
 */
static inline __attribute__((always_inline)) FOLD_TARGET size_t
FOLD_FN(const uint8_t *p, size_t n, uint32_t first, const pn_kpair *k, int reversed,
        uint8_t out[16])
{
    fold_vec x0 = fold_load_xor(p, first, reversed);
    fold_vec x1 = fold_load(p + 16, reversed);
    fold_vec x2 = fold_load(p + 32, reversed);
    fold_vec x3 = fold_load(p + 48, reversed);
    const fold_vec k512 = fold_kvec(&k[PN_K512]);
    const fold_vec k128 = fold_kvec(&k[PN_K128]);
    size_t done = 64;
    for (; n - done >= 64; done += 64) {
        x0 = fold128(x0, k512, fold_load(p + done, reversed));
        x1 = fold128(x1, k512, fold_load(p + done + 16, reversed));
        x2 = fold128(x2, k512, fold_load(p + done + 32, reversed));
        x3 = fold128(x3, k512, fold_load(p + done + 48, reversed));
    }
    /* Each lane moves by its own distance: three independent multiplies, not a chain. */
    x0 = fold128(x0, fold_kvec(&k[PN_K384]),
                 fold128(x1, fold_kvec(&k[PN_K256]), fold128(x2, k128, x3)));
    for (; n - done >= 16; done += 16) {
        x0 = fold128(x0, k128, fold_load(p + done, reversed));
    }
    fold_store(out, x0, reversed);
    return done;
}
