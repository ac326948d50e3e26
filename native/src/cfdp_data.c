/* CFDP file data PDUs (CCSDS 727.0-B-5 5.3): a transaction's file octets cut into segments, many
 * to a call, each written whole (fixed header with its data field length, offset, data, and the
 * CRC-16 when the header's CRC flag is set) into the caller's buffer; and one received PDU read,
 * every length and its CRC checked, before its data is trusted. */
#include <string.h>

#include "payload_native.h"

#define FD_VERSION 1u
#define FD_TYPE_BIT 0x10u
#define FD_CRC_BIT 0x02u
#define FD_LARGE_BIT 0x01u
#define FD_MAX_FIELD 0xFFFFu

int pn_cfdp_fd_check(const pn_cfdp_fd_header *h)
{
    if (h->prefix_len < 4u || h->prefix_len > PN_CFDP_PREFIX_MAX) {
        return PN_ERR_RANGE;
    }
    uint8_t first = h->prefix[0];
    unsigned id_len = ((h->prefix[3] >> 4) & 0x7u) + 1u;
    unsigned seq_len = (h->prefix[3] & 0x7u) + 1u;
    int segmented = (h->prefix[3] & 0x88u) != 0; /* segmentation control, metadata flag */
    if ((first >> 5) != FD_VERSION || !(first & FD_TYPE_BIT) || segmented ||
        h->prefix_len != 4u + 2u * id_len + seq_len || h->prefix[1] != 0 || h->prefix[2] != 0) {
        return PN_ERR_RANGE;
    }
    return PN_OK;
}

size_t pn_cfdp_fd_overhead(const pn_cfdp_fd_header *h)
{
    uint8_t first = h->prefix[0];
    return (size_t)h->prefix_len + ((first & FD_LARGE_BIT) ? 8u : 4u) +
           ((first & FD_CRC_BIT) ? 2u : 0u);
}

static void put_be(uint8_t *out, uint64_t value, unsigned octets)
{
    for (unsigned i = octets; i-- > 0;) {
        out[i] = (uint8_t)value;
        value >>= 8;
    }
}

int64_t pn_cfdp_fd_segment(const pn_cfdp_fd_header *h, uint64_t offset, const uint8_t *data,
                           size_t len, size_t seg, uint8_t *out, size_t cap, uint32_t *lens,
                           size_t max_pdus, size_t *taken)
{
    *taken = 0;
    if (pn_cfdp_fd_check(h) != PN_OK || seg == 0) {
        return PN_ERR_RANGE;
    }
    uint8_t first = h->prefix[0];
    unsigned fss = (first & FD_LARGE_BIT) ? 8u : 4u;
    unsigned crc = (first & FD_CRC_BIT) ? 2u : 0u;
    size_t overhead = pn_cfdp_fd_overhead(h);
    if (seg > FD_MAX_FIELD - fss - crc) {
        return PN_ERR_RANGE;
    }
    if (fss == 4u && (offset > 0xFFFFFFFFu || len > 0xFFFFFFFFu - offset)) {
        return PN_ERR_RANGE; /* beyond a small file's 32-bit offsets */
    }
    size_t pdus = 0;
    size_t used = 0;
    size_t done = 0;
    while (done < len && pdus < max_pdus) {
        size_t n = len - done < seg ? len - done : seg;
        size_t total = overhead + n;
        if (cap - used < total) {
            break;
        }
        uint8_t *p = out + used;
        size_t field = fss + n + crc;
        memcpy(p, h->prefix, h->prefix_len);
        p[1] = (uint8_t)(field >> 8);
        p[2] = (uint8_t)field;
        put_be(p + h->prefix_len, offset + done, fss);
        memcpy(p + h->prefix_len + fss, data + done, n);
        if (crc) {
            uint16_t c = pn_crc16(0xFFFFu, p, total - 2u);
            p[total - 2u] = (uint8_t)(c >> 8);
            p[total - 1u] = (uint8_t)c;
        }
        lens[pdus++] = (uint32_t)total;
        used += total;
        done += n;
    }
    *taken = done;
    return (int64_t)pdus;
}

static uint64_t get_be(const uint8_t *p, unsigned octets)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < octets; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

int pn_cfdp_fd_parse(const uint8_t *pdu, size_t len, pn_cfdp_fd_view *v)
{
    if (len < 4u) {
        return PN_ERR_SHORT;
    }
    uint8_t first = pdu[0];
    if ((first >> 5) != FD_VERSION || !(first & FD_TYPE_BIT) || (pdu[3] & 0x08u)) {
        return PN_ERR_CFDP_NOT_FILE_DATA;
    }
    size_t header = 4u + 2u * (((pdu[3] >> 4) & 0x7u) + 1u) + ((pdu[3] & 0x7u) + 1u);
    if (len < header) {
        return PN_ERR_SHORT;
    }
    size_t field = (size_t)pdu[1] << 8 | pdu[2];
    unsigned fss = (first & FD_LARGE_BIT) ? 8u : 4u;
    unsigned crc = (first & FD_CRC_BIT) ? 2u : 0u;
    if (field != len - header || field < fss + crc) {
        return PN_ERR_CFDP_LENGTH;
    }
    if (crc && get_be(pdu + len - 2u, 2) != pn_crc16(0xFFFFu, pdu, len - 2u)) {
        return PN_ERR_CFDP_CRC;
    }
    v->offset = get_be(pdu + header, fss);
    v->header_len = (uint32_t)header;
    v->data_at = (uint32_t)(header + fss);
    v->data_len = (uint32_t)(field - fss - crc);
    return PN_OK;
}
