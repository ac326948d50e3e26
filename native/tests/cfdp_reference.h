/* cfdp_reference.h - the checksum of a CFDP type computed from its primitive (each tested on its
 * own against crcmod, crc32c and cfdp-py), for the tests and the fuzz target of reception. */
#ifndef PAYLOAD_CFDP_REFERENCE_H
#define PAYLOAD_CFDP_REFERENCE_H

#include "payload_native.h"

/* The CFDP checksum of type type (0 to 3; any other: 0) of len octets at file offset at. */
static inline uint32_t reference_checksum(uint32_t type, uint64_t at, const uint8_t *octets,
                                          size_t len)
{
    switch (type) {
    case 0:
        return pn_cfdp_modular(0, at, octets, len);
    case 1:
        return pn_crc32_prox1(0, octets, len);
    case 2:
        return pn_crc32c(0, octets, len);
    case 3:
        return pn_crc32(0, octets, len);
    default:
        return 0;
    }
}

#endif
