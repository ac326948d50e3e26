/* CCSDS Space Packet primary header (CCSDS 133.0-B-2 section 4.1.3): pack and unpack. */
#include "payload_native.h"

int pn_sp_pack(const pn_sp_header *hdr, uint8_t *out)
{
    if (hdr->version > 0x7u || hdr->type > 1u || hdr->sec_hdr_flag > 1u || hdr->apid > 0x7FFu ||
        hdr->seq_flags > 0x3u || hdr->seq_count > 0x3FFFu) {
        return PN_ERR_RANGE;
    }
    uint16_t id = (uint16_t)((hdr->version << 13) | (hdr->type << 12) | (hdr->sec_hdr_flag << 11) |
                             hdr->apid);
    uint16_t seq = (uint16_t)((hdr->seq_flags << 14) | hdr->seq_count);
    out[0] = (uint8_t)(id >> 8);
    out[1] = (uint8_t)id;
    out[2] = (uint8_t)(seq >> 8);
    out[3] = (uint8_t)seq;
    out[4] = (uint8_t)(hdr->data_length >> 8);
    out[5] = (uint8_t)hdr->data_length;
    return PN_OK;
}

int pn_sp_unpack(const uint8_t *buf, size_t len, pn_sp_header *hdr)
{
    if (len < PN_SP_HEADER_LEN) {
        return PN_ERR_SHORT;
    }
    uint16_t id = (uint16_t)((buf[0] << 8) | buf[1]);
    uint16_t seq = (uint16_t)((buf[2] << 8) | buf[3]);
    hdr->version = (uint8_t)(id >> 13);
    hdr->type = (uint8_t)((id >> 12) & 1u);
    hdr->sec_hdr_flag = (uint8_t)((id >> 11) & 1u);
    hdr->apid = (uint16_t)(id & 0x7FFu);
    hdr->seq_flags = (uint8_t)(seq >> 14);
    hdr->seq_count = (uint16_t)(seq & 0x3FFFu);
    hdr->data_length = (uint16_t)((buf[4] << 8) | buf[5]);
    return PN_OK;
}
