/* libFuzzer target: every CRC path this CPU runs against the portable one, on any bytes, at every
 * start offset up to 16 and with the first byte as a chaining split point; the CFDP modular
 * checksum split there too. Under ASan this also shows the vector paths never read outside the
 * buffer. */
#include <stdlib.h>

#include "payload_native.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned paths = pn_crc_paths();
    int saved = pn_crc_path_get();
    size_t cut = size > 0 ? data[0] % (size + 1) : 0;
    for (size_t start = 0; start <= size && start < 16; start++) {
        pn_crc_path_set(PN_CRC_PORTABLE);
        uint16_t c16 = pn_crc16(0xFFFFu, data + start, size - start);
        uint32_t c32 = pn_crc32c(0u, data + start, size - start);
        uint32_t ieee = pn_crc32(0u, data + start, size - start);
        uint32_t prox = pn_crc32_prox1(0u, data + start, size - start);
        for (int path = PN_CRC_PORTABLE + 1; path < PN_CRC_PATH_COUNT; path++) {
            if (!(paths & (1u << path))) {
                continue;
            }
            pn_crc_path_set(path);
            if (pn_crc16(0xFFFFu, data + start, size - start) != c16 ||
                pn_crc32c(0u, data + start, size - start) != c32 ||
                pn_crc32(0u, data + start, size - start) != ieee ||
                pn_crc32_prox1(0u, data + start, size - start) != prox) {
                abort();
            }
            if (start == 0 && (pn_crc16(pn_crc16(0xFFFFu, data, cut), data + cut, size - cut) != c16 ||
                               pn_crc32c(pn_crc32c(0u, data, cut), data + cut, size - cut) != c32 ||
                               pn_crc32(pn_crc32(0u, data, cut), data + cut, size - cut) != ieee ||
                               pn_crc32_prox1(pn_crc32_prox1(0u, data, cut), data + cut,
                                              size - cut) != prox)) {
                abort();
            }
        }
    }
    /* The modular checksum of two segments, added last first, is the whole file's. */
    if (pn_cfdp_modular(pn_cfdp_modular(0u, cut, data + cut, size - cut), 0u, data, cut) !=
        pn_cfdp_modular(0u, 0u, data, size)) {
        abort();
    }
    pn_crc_path_set(saved);
    return 0;
}
