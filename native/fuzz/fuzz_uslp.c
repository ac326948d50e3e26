/* libFuzzer target: the USLP frame reader, the packet extractor and the frame synchroniser on any
 * bytes. Properties: no access outside a buffer (ASan); every frame read lies inside the buffer
 * and its data zone inside the frame; a frame read as good checks its CRC; the extractor puts out
 * only whole packets, never more octets than its frames' zones held, and accounts for every octet
 * it did not put out; the synchroniser never puts out more than it was given. The first octet
 * picks the frame length of the fixed-length reading. */
#include <stdlib.h>
#include <string.h>

#include "payload_native.h"

static pn_uslp_unpacker unpacker;
static pn_uslp_row rows[512];
static uint8_t out[1u << 20];

static void check_rows(const uint8_t *data, size_t size, size_t count, int fecf)
{
    for (size_t i = 0; i < count; i++) {
        const pn_uslp_row *row = &rows[i];
        if (row->status != PN_OK) {
            continue;
        }
        if (row->offset + row->frame.length > size ||
            row->zone_offset + row->zone_length > row->frame.length) {
            abort();
        }
        if (fecf && pn_crc16(0xFFFFu, data + row->offset, row->frame.length) != 0u) {
            abort();
        }
    }
}

static void check_unpack(const uint8_t *data, size_t count)
{
    memset(&unpacker, 0, sizeof unpacker);
    size_t zones = 0;
    for (size_t i = 0; i < count; i++) {
        if (rows[i].status == PN_OK && rows[i].frame.rules == 0u) {
            zones += rows[i].zone_length;
        }
    }
    size_t taken = 0;
    int64_t n = pn_uslp_unpack(&unpacker, data, rows, count, out, sizeof out, &taken);
    if (n < 0 || (size_t)n > zones || taken != count) {
        abort();
    }
    if ((size_t)n + unpacker.dropped + unpacker.have != zones) {
        abort(); /* every octet is put out, dropped, or held for the next frame */
    }
    size_t at = 0;
    while (at < (size_t)n) {
        if ((size_t)n - at < 7u) {
            abort();
        }
        at += (((size_t)out[at + 4] << 8) | out[at + 5]) + 7u;
    }
    if (at != (size_t)n) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t frame_len = 16u + data[0];
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    for (int fecf = 0; fecf <= 1; fecf++) {
        size_t next = 0;
        size_t count = pn_uslp_scan(body, len, 0, frame_len, fecf, rows, 512, &next);
        if (next > len || (count < 512 && len - next >= frame_len)) {
            abort();
        }
        check_rows(body, len, count, fecf);
        check_unpack(body, count);
        count = pn_uslp_scan(body, len, 0, 0, fecf, rows, 512, &next);
        if (next > len) {
            abort();
        }
        check_rows(body, len, count, fecf);
    }
    for (int derandomise = 0; derandomise <= 1; derandomise++) {
        size_t out_len = 0;
        size_t next = 0;
        uint64_t skipped = 0;
        pn_cadu_sync(body, len, frame_len, derandomise, out, sizeof out,
                     &out_len, &next, &skipped);
        if (out_len > len || next > len || skipped > next) {
            abort();
        }
    }
    return 0;
}
