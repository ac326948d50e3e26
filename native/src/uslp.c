/* USLP transfer frames (CCSDS 732.1-B-2): packing and reading frames, a virtual channel's packet
 * service into fixed-length frames and its extraction, the CCSDS pseudo-randomiser and frame
 * synchronisation on the attached sync marker. No allocation: every buffer is the caller's. */
#include <string.h>

#include "payload_native.h"

#define USLP_VERSION 12u
#define USLP_MAX_FRAME 65536u
#define USLP_FIXED_HEADER 7u /* primary header without its frame count */
#define NO_POINTER 0xFFFFu
#define IDLE_APID 0x7FFu
#define SP_MIN_PACKET 7u
#define OCF_LEN 4u
#define FECF_LEN 2u

static const uint8_t ASM[4] = {0x1A, 0xCF, 0xFC, 0x1D};

static int has_pointer(uint8_t rules)
{
    return rules <= 2u;
}

size_t pn_uslp_overhead(const pn_uslp_frame *f, int fecf)
{
    return USLP_FIXED_HEADER + f->count_len + (has_pointer(f->rules) ? 3u : 1u) +
           (f->ocf ? OCF_LEN : 0u) + (fecf ? FECF_LEN : 0u);
}

/* The values a frame count of count_len octets (0..7) takes. */
static uint64_t count_mask(uint8_t count_len)
{
    return (1ull << (8u * count_len)) - 1u;
}

static int fields_fit(const pn_uslp_frame *f)
{
    if (f->dest > 1u || f->vcid > 63u || f->map_id > 15u || f->bypass > 1u || f->control > 1u ||
        f->ocf > 1u || f->count_len > 7u || f->rules > 7u || f->upid > 31u) {
        return 0;
    }
    return (f->count & ~count_mask(f->count_len)) == 0u;
}

/* Primary header and data field header at out; returns the data zone's offset. */
static size_t write_headers(const pn_uslp_frame *f, size_t length, uint8_t *out)
{
    uint32_t word = (USLP_VERSION << 28) | ((uint32_t)f->scid << 12) | ((uint32_t)f->dest << 11) |
                    ((uint32_t)f->vcid << 5) | ((uint32_t)f->map_id << 1);
    out[0] = (uint8_t)(word >> 24);
    out[1] = (uint8_t)(word >> 16);
    out[2] = (uint8_t)(word >> 8);
    out[3] = (uint8_t)word;
    out[4] = (uint8_t)((length - 1u) >> 8);
    out[5] = (uint8_t)(length - 1u);
    out[6] = (uint8_t)((f->bypass << 7) | (f->control << 6) | (f->ocf << 3) | f->count_len);
    size_t at = USLP_FIXED_HEADER;
    for (unsigned i = f->count_len; i > 0u; i--) {
        out[at++] = (uint8_t)(f->count >> (8u * (i - 1u)));
    }
    out[at++] = (uint8_t)((f->rules << 5) | f->upid);
    if (has_pointer(f->rules)) {
        out[at++] = (uint8_t)(f->pointer >> 8);
        out[at++] = (uint8_t)f->pointer;
    }
    return at;
}

/* The operational control field and the frame error control field, after the data zone. */
static void write_trailer(const pn_uslp_frame *f, int fecf, uint8_t *frame, size_t length)
{
    size_t at = length - (fecf ? FECF_LEN : 0u);
    if (f->ocf) {
        memcpy(frame + at - OCF_LEN, f->clcw, OCF_LEN);
    }
    if (fecf) {
        uint16_t crc = pn_crc16(0xFFFFu, frame, at);
        frame[at] = (uint8_t)(crc >> 8);
        frame[at + 1u] = (uint8_t)crc;
    }
}

int64_t pn_uslp_pack(const pn_uslp_frame *f, const uint8_t *zone, size_t zone_len, int fecf,
                     uint8_t *out, size_t cap)
{
    size_t overhead = pn_uslp_overhead(f, fecf);
    if (!fields_fit(f) || zone_len > USLP_MAX_FRAME - overhead) {
        return PN_ERR_RANGE;
    }
    size_t length = overhead + zone_len;
    if (length > cap) {
        return PN_ERR_SHORT;
    }
    size_t at = write_headers(f, length, out);
    memcpy(out + at, zone, zone_len);
    write_trailer(f, fecf, out, length);
    return (int64_t)length;
}

/* Read one frame's fields from frame[0..avail); its length from its own field. */
static int read_frame(const uint8_t *frame, size_t avail, size_t frame_len, int fecf,
                      pn_uslp_row *row)
{
    pn_uslp_frame *f = &row->frame;
    memset(f, 0, sizeof *f);
    f->pointer = NO_POINTER;
    row->zone_offset = 0;
    row->zone_length = 0;
    if (avail < USLP_FIXED_HEADER) {
        return PN_ERR_SHORT;
    }
    if ((frame[0] >> 4) != USLP_VERSION) {
        return PN_ERR_USLP_VERSION;
    }
    f->scid = (uint16_t)(((frame[0] & 0x0Fu) << 12) | ((unsigned)frame[1] << 4) | (frame[2] >> 4));
    f->dest = (uint8_t)((frame[2] >> 3) & 1u);
    f->vcid = (uint8_t)(((frame[2] & 0x07u) << 3) | (frame[3] >> 5));
    f->map_id = (uint8_t)((frame[3] >> 1) & 0x0Fu);
    if (frame[3] & 1u) {
        return PN_ERR_USLP_TRUNCATED;
    }
    f->length = (((uint32_t)frame[4] << 8) | frame[5]) + 1u;
    f->bypass = (uint8_t)(frame[6] >> 7);
    f->control = (uint8_t)((frame[6] >> 6) & 1u);
    f->ocf = (uint8_t)((frame[6] >> 3) & 1u);
    f->count_len = (uint8_t)(frame[6] & 0x07u);
    size_t at = USLP_FIXED_HEADER;
    if (avail < at + f->count_len + 1u) {
        return PN_ERR_SHORT;
    }
    for (unsigned i = 0; i < f->count_len; i++) {
        f->count = (f->count << 8) | frame[at++];
    }
    f->rules = (uint8_t)(frame[at] >> 5);
    f->upid = (uint8_t)(frame[at] & 0x1Fu);
    at++;
    if (frame_len != 0u && f->length != frame_len) {
        return PN_ERR_USLP_LENGTH;
    }
    if (has_pointer(f->rules)) {
        if (avail < at + 2u) {
            return PN_ERR_SHORT;
        }
        f->pointer = (uint16_t)((frame[at] << 8) | frame[at + 1u]);
        at += 2u;
    }
    size_t tail = (f->ocf ? OCF_LEN : 0u) + (fecf ? FECF_LEN : 0u);
    if (f->length < at + tail) {
        return PN_ERR_USLP_LENGTH;
    }
    if (f->length > avail) {
        return PN_ERR_SHORT;
    }
    row->zone_offset = (uint32_t)at;
    row->zone_length = (uint32_t)(f->length - at - tail);
    if (f->ocf) {
        memcpy(f->clcw, frame + f->length - tail, OCF_LEN);
    }
    if (fecf && pn_crc16(0xFFFFu, frame, f->length) != 0u) {
        return PN_ERR_USLP_CRC;
    }
    if (f->rules == 0u && f->pointer != NO_POINTER && f->pointer >= row->zone_length) {
        return PN_ERR_USLP_POINTER;
    }
    return PN_OK;
}

size_t pn_uslp_scan(const uint8_t *buf, size_t len, size_t start, size_t frame_len, int fecf,
                    pn_uslp_row *rows, size_t max_rows, size_t *next)
{
    size_t offset = start;
    size_t count = 0;
    while (count < max_rows && offset < len) {
        size_t avail = len - offset;
        if (frame_len != 0u && avail < frame_len) {
            break;
        }
        pn_uslp_row *row = &rows[count];
        row->offset = offset;
        row->status = read_frame(buf + offset, frame_len ? frame_len : avail, frame_len, fecf, row);
        if (frame_len != 0u) {
            offset += frame_len;
        } else if (row->status == PN_ERR_SHORT) {
            break; /* the rest of the frame is still to come */
        } else if (row->status == PN_OK || row->status == PN_ERR_USLP_CRC ||
                   row->status == PN_ERR_USLP_POINTER) {
            offset += row->frame.length;
        } else {
            count++;
            break; /* no length to go by: the scan ends at this frame */
        }
        count++;
    }
    *next = offset;
    return count;
}

/* --- the packet service into fixed-length frames */

int pn_uslp_packer_init(pn_uslp_packer *p)
{
    pn_uslp_frame *t = &p->template;
    t->rules = 0;
    t->upid = 0;
    t->pointer = NO_POINTER;
    size_t overhead = pn_uslp_overhead(t, p->fecf);
    if (!fields_fit(t) || p->fecf > 1u || t->length > USLP_MAX_FRAME || t->length <= overhead) {
        return PN_ERR_RANGE;
    }
    p->zone_start = (uint32_t)(overhead - (t->ocf ? OCF_LEN : 0u) - (p->fecf ? FECF_LEN : 0u));
    p->zone_len = (uint32_t)(t->length - overhead);
    p->fill = 0;
    p->spill_len = 0;
    p->pointer = NO_POINTER;
    p->frames = 0;
    p->idle_octets = 0;
    return PN_OK;
}

/* The frame under construction is full: finish it into out and start the next. */
static void emit_frame(pn_uslp_packer *p, uint8_t *out)
{
    pn_uslp_frame *t = &p->template;
    t->pointer = p->pointer;
    write_headers(t, t->length, p->frame);
    write_trailer(t, p->fecf, p->frame, t->length);
    memcpy(out, p->frame, t->length);
    p->frames++;
    t->count = (t->count + 1u) & count_mask(t->count_len);
    p->fill = 0;
    p->pointer = NO_POINTER;
}

/* Copy a packet into the frame under construction, emitting each frame it fills to out at
 * *written (the caller has made room). Returns the frames emitted. */
static int64_t copy_packet(pn_uslp_packer *p, const uint8_t *src, size_t n, uint8_t *out,
                           size_t *written)
{
    int64_t frames = 0;
    size_t at = 0;
    while (at < n) {
        if (p->fill == 0u && p->spill_len != 0u) {
            memcpy(p->frame + p->zone_start, p->spill, p->spill_len);
            p->fill = p->spill_len;
            p->spill_len = 0;
        }
        if (at == 0u && p->pointer == NO_POINTER) {
            p->pointer = (uint16_t)p->fill;
        }
        size_t room = p->zone_len - p->fill;
        size_t take = n - at < room ? n - at : room;
        memcpy(p->frame + p->zone_start + p->fill, src + at, take);
        p->fill += (uint32_t)take;
        at += take;
        if (p->fill == p->zone_len) {
            emit_frame(p, out + *written);
            *written += p->template.length;
            frames++;
        }
    }
    return frames;
}

int64_t pn_uslp_packer_put(pn_uslp_packer *p, const uint8_t *packets, size_t len, uint8_t *out,
                           size_t cap, size_t *used)
{
    size_t offset = 0;
    size_t written = 0;
    int64_t frames = 0;
    *used = 0;
    while (offset < len) {
        if (len - offset < PN_SP_HEADER_LEN) {
            return PN_ERR_SHORT;
        }
        size_t n = (((size_t)packets[offset + 4] << 8) | packets[offset + 5]) + 7u;
        if (n > len - offset) {
            return PN_ERR_SHORT;
        }
        /* A packet is taken whole or not at all: room for every frame it completes. */
        size_t pending = p->fill == 0u ? p->spill_len : p->fill;
        size_t completes = (pending + n) / p->zone_len;
        if ((size_t)(cap - written) / p->template.length < completes) {
            break;
        }
        frames += copy_packet(p, packets + offset, n, out, &written);
        offset += n;
        *used = offset;
    }
    return frames;
}

int64_t pn_uslp_packer_flush(pn_uslp_packer *p, uint8_t *out, size_t cap)
{
    if (p->fill == 0u) {
        return 0;
    }
    if (cap < p->template.length) {
        return PN_ERR_SHORT;
    }
    size_t room = p->zone_len - p->fill;
    size_t n = room < SP_MIN_PACKET ? SP_MIN_PACKET : room;
    uint8_t idle[SP_MIN_PACKET];
    pn_sp_header hdr = {0, 0, 0, IDLE_APID, 3, 0, (uint16_t)(n - 7u)};
    pn_sp_pack(&hdr, idle);
    idle[6] = 0;
    if (p->pointer == NO_POINTER) {
        p->pointer = (uint16_t)p->fill;
    }
    size_t head = room < PN_SP_HEADER_LEN + 1u ? room : PN_SP_HEADER_LEN + 1u;
    memcpy(p->frame + p->zone_start + p->fill, idle, head);
    memset(p->frame + p->zone_start + p->fill + head, 0, room - head);
    p->fill = p->zone_len;
    p->idle_octets += room;
    emit_frame(p, out);
    if (n > room) {
        p->spill_len = (uint8_t)(n - room);
        memcpy(p->spill, idle + room, p->spill_len);
        p->idle_octets += p->spill_len;
    }
    return 1;
}

/* --- extraction from fixed-length frames */

/* The length of the packet in reassembly once its header is whole, else 0. */
static size_t packet_need(const pn_uslp_unpacker *u)
{
    if (u->have < PN_SP_HEADER_LEN) {
        return 0;
    }
    return (((size_t)u->packet[4] << 8) | u->packet[5]) + 7u;
}

/* Whether a zone continues the packet in reassembly as its first header pointer says: the
 * packet ends where the pointer points, or goes on past the zone when there is no pointer. */
static int continues(const pn_uslp_unpacker *u, size_t len, uint16_t pointer)
{
    if (u->have == 0u) {
        return pointer == 0u;
    }
    size_t need = packet_need(u);
    if (need == 0u) {
        return 1; /* its header is cut: the zone completes it */
    }
    size_t rest = need - u->have;
    return pointer == NO_POINTER ? rest >= len : rest == pointer;
}

/* Whole packets from one frame's data zone, appended to out at *written (the caller has made
 * room for the zone and the packet in reassembly). */
static void take_zone(pn_uslp_unpacker *u, const uint8_t *zone, size_t len, uint16_t pointer,
                      uint8_t *out, size_t *written)
{
    size_t at = 0;
    if (u->in_step && !continues(u, len, pointer)) {
        u->in_step = 0;
    }
    if (!u->in_step) {
        u->dropped += u->have;
        u->have = 0;
        if (pointer == NO_POINTER) {
            u->dropped += len;
            return;
        }
        u->dropped += pointer;
        at = pointer;
        u->in_step = 1;
    }
    while (at < len) {
        size_t need = packet_need(u);
        size_t take = (need ? need : PN_SP_HEADER_LEN) - u->have;
        if (take > len - at) {
            take = len - at;
        }
        memcpy(u->packet + u->have, zone + at, take);
        u->have += (uint32_t)take;
        at += take;
        need = packet_need(u);
        if (need != 0u && u->have == need) {
            memcpy(out + *written, u->packet, need);
            *written += need;
            u->packets++;
            u->have = 0;
        }
    }
}

int64_t pn_uslp_unpack(pn_uslp_unpacker *u, const uint8_t *buf, const pn_uslp_row *rows,
                       size_t nrows, uint8_t *out, size_t cap, size_t *taken)
{
    size_t written = 0;
    size_t i = 0;
    for (; i < nrows; i++) {
        const pn_uslp_row *row = &rows[i];
        const pn_uslp_frame *f = &row->frame;
        if (row->status != PN_OK || f->rules != 0u) {
            continue;
        }
        if (cap - written < (size_t)row->zone_length + u->have + PN_SP_HEADER_LEN) {
            break; /* not enough room to be sure of this frame's packets */
        }
        if (u->started && f->count != u->next_count) {
            u->gaps++;
            u->in_step = 0;
        }
        u->started = 1;
        u->next_count = (f->count + 1u) & count_mask(f->count_len);
        u->frames++;
        take_zone(u, buf + row->offset + row->zone_offset, row->zone_length, f->pointer, out,
                  &written);
    }
    *taken = i;
    return (int64_t)written;
}

/* --- the pseudo-randomiser and the frame synchroniser */

static uint8_t randomiser[255];
static int randomiser_ready;

static void randomiser_init(void)
{
    uint8_t state = 0xFF; /* x^8+x^7+x^5+x^3+1, the register all ones */
    for (size_t i = 0; i < sizeof randomiser; i++) {
        uint8_t byte = 0;
        for (int b = 0; b < 8; b++) {
            uint8_t bit = state & 1u;
            byte = (uint8_t)((byte << 1) | bit);
            uint8_t fb = (uint8_t)(bit ^ ((state >> 3) & 1u) ^ ((state >> 5) & 1u) ^ ((state >> 7) & 1u));
            state = (uint8_t)((state >> 1) | (fb << 7));
        }
        randomiser[i] = byte;
    }
    randomiser_ready = 1;
}

void pn_ccsds_randomise(uint8_t *data, size_t len)
{
    if (!randomiser_ready) {
        randomiser_init();
    }
    for (size_t i = 0; i < len; i++) {
        data[i] ^= randomiser[i % sizeof randomiser];
    }
}

size_t pn_cadu_sync(const uint8_t *buf, size_t len, size_t frame_len, int derandomise,
                    uint8_t *out, size_t cap, size_t *out_len, size_t *next, uint64_t *skipped)
{
    if (derandomise && !randomiser_ready) {
        randomiser_init();
    }
    size_t at = 0;
    size_t written = 0;
    size_t frames = 0;
    while (frame_len != 0u && len - at >= sizeof ASM + frame_len && cap - written >= frame_len) {
        if (memcmp(buf + at, ASM, sizeof ASM) != 0) {
            at++;
            (*skipped)++;
            continue;
        }
        memcpy(out + written, buf + at + sizeof ASM, frame_len);
        if (derandomise) {
            pn_ccsds_randomise(out + written, frame_len);
        }
        written += frame_len;
        frames++;
        at += sizeof ASM + frame_len;
    }
    *out_len = written;
    *next = at;
    return frames;
}
