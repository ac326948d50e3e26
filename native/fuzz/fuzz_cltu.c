/* libFuzzer target: the CLTU synchroniser on any bytes. Properties: no access outside a buffer
 * (ASan); the units put out fit in what was given (each at most 7 octets per 8 octets read);
 * a unit encoded from the units' octets and decoded again comes back the same (allowing for the
 * fill its last codeblock gets). */
#include <stdlib.h>
#include <string.h>

#include "payload_native.h"

static uint8_t out[1u << 16];
static uint8_t again[1u << 17];
static uint8_t back[1u << 16];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > sizeof out) {
        return 0;
    }
    uint32_t lengths[64];
    size_t next = 0;
    pn_cltu_counts counts = {0, 0, 0};
    size_t units = pn_cltu_sync(data, size, out, sizeof out, lengths, 64, &next, &counts);
    size_t total = 0;
    for (size_t i = 0; i < units; i++) {
        if (lengths[i] == 0 || lengths[i] % 7u != 0) {
            abort();
        }
        total += lengths[i];
    }
    if (next > size || total * 8u > next * 7u || counts.skipped > next) {
        abort();
    }
    if (units > 0) {
        size_t n = pn_cltu_encode(out, lengths[0], again, sizeof again);
        uint32_t got[2];
        pn_cltu_counts c = {0, 0, 0};
        if (n == 0 || pn_cltu_sync(again, n, back, sizeof back, got, 2, &next, &c) != 1 ||
            got[0] != lengths[0] || memcmp(back, out, lengths[0]) != 0 || c.units != 1) {
            abort();
        }
    }
    return 0;
}
