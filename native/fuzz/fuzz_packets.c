/* libFuzzer target: the packet scanner and header unpacking on any bytes.
 * Properties: no access outside the buffer (ASan); every row lies inside the buffer, rows follow
 * each other without gaps, crc_ok agrees with a CRC of the row's octets, and a truncated packet
 * is never reported as a row. */
#include <stdlib.h>

#include "payload_native.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pn_packet_row rows[32];
    size_t next = 0;
    size_t count = pn_scan_packets(data, size, 0, rows, 32, &next);
    size_t expect = 0;
    for (size_t i = 0; i < count; i++) {
        if (rows[i].offset != expect || rows[i].length < 7 || rows[i].length > size - expect) {
            abort();
        }
        if (rows[i].crc_ok != (pn_crc16(0xFFFFu, data + expect, rows[i].length) == 0)) {
            abort();
        }
        expect += rows[i].length;
    }
    if (next != expect) {
        abort();
    }
    if (count < 32 && size - next >= 6) {
        size_t length = (((size_t)data[next + 4] << 8) | data[next + 5]) + 7u;
        if (length <= size - next) {
            abort(); /* a whole packet was left unscanned */
        }
    }
    pn_sp_header hdr;
    uint8_t back[6];
    if (pn_sp_unpack(data, size, &hdr) == PN_OK) {
        if (pn_sp_pack(&hdr, back) != PN_OK) {
            abort();
        }
        for (int i = 0; i < 6; i++) {
            if (back[i] != data[i]) {
                abort();
            }
        }
    }
    return 0;
}
