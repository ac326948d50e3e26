/* libFuzzer target: COBS decode and stream splitting on any bytes.
 * Properties: nothing reads or writes outside its buffers (ASan); a frame that decodes re-encodes
 * to a frame that decodes to the same bytes; any input round-trips through encode and decode;
 * split never reports more than it was given. */
#include <stdlib.h>
#include <string.h>

#include "payload_native.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *decoded = malloc(size + 1);
    uint8_t *encoded = malloc(pn_cobs_max_encoded_len(size) + 1);
    uint8_t *again = malloc(size + 1);
    if (decoded == NULL || encoded == NULL || again == NULL) {
        abort();
    }
    size_t n = 0;
    if (pn_cobs_decode(data, size, decoded, &n) == PN_OK) {
        if (n > size) {
            abort();
        }
        size_t e = pn_cobs_encode(decoded, n, encoded);
        size_t m = 0;
        if (pn_cobs_decode(encoded, e, again, &m) != PN_OK || m != n ||
            (n > 0 && memcmp(again, decoded, n) != 0)) {
            abort();
        }
    }
    size_t e = pn_cobs_encode(data, size, encoded);
    size_t m = 0;
    if (e > pn_cobs_max_encoded_len(size) || memchr(encoded, 0, e) != NULL ||
        pn_cobs_decode(encoded, e, again, &m) != PN_OK || m != size ||
        (size > 0 && memcmp(again, data, size) != 0)) {
        abort();
    }

    pn_frame frames[64];
    size_t consumed = 0;
    size_t count = pn_cobs_split(data, size, 32, decoded, frames, 64, &consumed);
    if (consumed > size || count > 64) {
        abort();
    }
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (frames[i].status == PN_OK) {
            if (frames[i].offset != total || frames[i].length > 32) {
                abort();
            }
            total += frames[i].length;
        }
    }
    if (total > consumed) {
        abort();
    }
    free(decoded);
    free(encoded);
    free(again);
    return 0;
}
