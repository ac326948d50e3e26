/* Batch work on space packets: scanning concatenated packets with their CRCs checked, and packing
 * whole PUS-C telemetry packets. */
#include <string.h>

#include "payload_native.h"

static size_t packet_length_at(const uint8_t *p)
{
    return (((size_t)p[4] << 8) | p[5]) + 7u;
}

size_t pn_scan_packets(const uint8_t *buf, size_t len, size_t start, pn_packet_row *rows,
                       size_t max_rows, size_t *next)
{
    size_t offset = start;
    size_t count = 0;
    while (count < max_rows && offset <= len && len - offset >= PN_SP_HEADER_LEN) {
        const uint8_t *p = buf + offset;
        size_t n = packet_length_at(p);
        if (n > len - offset) {
            break;
        }
        pn_packet_row *row = &rows[count++];
        row->offset = offset;
        row->length = (uint32_t)n;
        row->type = (uint8_t)((p[0] >> 4) & 1u);
        row->sec_hdr_flag = (uint8_t)((p[0] >> 3) & 1u);
        row->apid = (uint16_t)(((p[0] & 0x7u) << 8) | p[1]);
        row->seq_flags = (uint8_t)(p[2] >> 6);
        row->seq_count = (uint16_t)(((p[2] & 0x3Fu) << 8) | p[3]);
        row->crc_ok = (uint8_t)(pn_crc16(0xFFFFu, p, n) == 0u);
        offset += n;
    }
    *next = offset;
    return count;
}

#define TM_HEADERS_LEN 19u /* primary 6 + PUS-C secondary 7 + CUC 6 */

size_t pn_tm_pack(const pn_tm_fields *tm, const uint8_t *data, size_t len, uint8_t *out,
                  size_t cap)
{
    size_t total = TM_HEADERS_LEN + len + 2u;
    if (total > cap || total - 7u > 0xFFFFu || tm->time_synced > 1u) {
        return 0;
    }
    pn_sp_header hdr = {0, 0, 1, tm->apid, 3, tm->seq_count, (uint16_t)(total - 7u)};
    if (pn_sp_pack(&hdr, out) != PN_OK) {
        return 0;
    }
    uint8_t *s = out + PN_SP_HEADER_LEN;
    s[0] = (uint8_t)(0x20u | tm->time_synced); /* PUS version 2, time reference status */
    s[1] = tm->service;
    s[2] = tm->subtype;
    s[3] = (uint8_t)(tm->msg_counter >> 8);
    s[4] = (uint8_t)tm->msg_counter;
    s[5] = (uint8_t)(tm->dest_id >> 8);
    s[6] = (uint8_t)tm->dest_id;
    s[7] = (uint8_t)(tm->coarse_time >> 24);
    s[8] = (uint8_t)(tm->coarse_time >> 16);
    s[9] = (uint8_t)(tm->coarse_time >> 8);
    s[10] = (uint8_t)tm->coarse_time;
    s[11] = (uint8_t)(tm->fine_time >> 8);
    s[12] = (uint8_t)tm->fine_time;
    if (len > 0) {
        memcpy(out + TM_HEADERS_LEN, data, len);
    }
    uint16_t crc = pn_crc16(0xFFFFu, out, total - 2u);
    out[total - 2u] = (uint8_t)(crc >> 8);
    out[total - 1u] = (uint8_t)crc;
    return total;
}
