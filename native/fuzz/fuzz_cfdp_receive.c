/* libFuzzer target: CFDP file reception against a reference model. The input is a script. Its
 * first octet chooses the checksum type, the PDU CRC and the data length L of every PDU; then
 * each step of 4 octets is one datagram: its file offset (within and past a 2 KiB file), what it
 * carries (the file's own octets, different octets at the same place, a broken CRC, another
 * transaction's key) and whether the batch ends after it. Batches go to pn_cfdp_rx_put as the
 * entity hands them over: what it stops at is skipped (a bad datagram, one that needs a run when
 * runs[] is full, kept small) or taken again (gaps full). The model keeps which octets came
 * first; after the script the runs must be exactly the octets it has, merged, each with the
 * checksum of the model's octets, the file must hold them, and the gaps, repairs, refusals and
 * octets written must be those the model counts. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "payload_native.h"
#include "../tests/cfdp_reference.h"

#define LIMIT 2048u
#define STEPS 64u
#define RUNS 6u

static uint8_t have[LIMIT];
static uint8_t first[LIMIT];
static pn_cfdp_gap gaps_seen[STEPS * 2];
static pn_cfdp_gap gaps_want[STEPS * 2];
static int fd = -1;

typedef struct step {
    uint64_t offset;
    uint8_t what;
    size_t len;
} step;

static uint8_t octet(uint64_t at, uint8_t what)
{
    return (uint8_t)(at * 131u + 7u) ^ (what == 1 ? 0x5Au : 0u);
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
    static const uint32_t types[8] = {0, 1, 2, 3, 15, PN_CFDP_CHECK_NONE, 2, 3};
    if (size < 1) {
        return 0;
    }
    if (fd < 0) {
        char path[] = "/tmp/fuzz_cfdp_receive_XXXXXX";
        fd = mkstemp(path);
        unlink(path);
    }
    if (fd < 0 || ftruncate(fd, 0) != 0) {
        abort();
    }
    uint32_t type = types[input[0] & 7u];
    int crc = (input[0] >> 3) & 1;
    size_t data_len = (size_t)(input[0] >> 4) * 37u + 1u; /* 1 to 556 octets */
    pn_cfdp_fd_header h;
    memset(&h, 0, sizeof h);
    h.prefix[0] = (uint8_t)(0x30u | (unsigned)crc << 1);
    h.prefix[3] = 0x00u; /* ids and sequence numbers of one octet */
    h.prefix[4] = 1;
    h.prefix[5] = 9;
    h.prefix[6] = 2;
    h.prefix_len = 7;
    static pn_cfdp_run runs[RUNS];
    pn_cfdp_rx rx;
    memset(&rx, 0, sizeof rx);
    rx.key[0] = h.prefix[0];
    memcpy(rx.key + 1, h.prefix + 3, 4);
    rx.key_len = 5;
    rx.fd = fd;
    rx.check_type = type;
    rx.immediate_nak = 1;
    rx.limit = LIMIT;
    rx.runs = runs;
    rx.runs_cap = RUNS;
    memset(have, 0, sizeof have);
    size_t gaps_n = 0, wanted_n = 0, refused = 0, repairs = 0;
    uint64_t high = 0;

    static uint8_t buf[STEPS * 600];
    static step steps[STEPS];
    static uint8_t data[600];
    const uint8_t *p = input + 1;
    size_t left = (size - 1) / 4u;
    while (left > 0) {
        size_t n = 0;
        size_t stride = 0;
        for (; left > 0 && n < STEPS; left--, p += 4) {
            step *s = &steps[n];
            s->offset = ((uint64_t)p[0] << 8 | p[1]) % (LIMIT + 600u);
            s->what = p[2] & 3u;
            s->len = data_len;
            for (size_t k = 0; k < s->len; k++) {
                data[k] = octet(s->offset + k, s->what);
            }
            uint32_t lens[1];
            size_t taken = 0;
            if (pn_cfdp_fd_segment(&h, s->offset, data, s->len, s->len, buf + n * stride,
                                   sizeof buf - n * stride, lens, 1, &taken) != 1) {
                abort();
            }
            stride = lens[0];
            uint8_t *pdu = buf + n * stride;
            if (s->what == 2) {
                pdu[stride - 1u] ^= crc ? 0x01u : 0u; /* a CRC that fails (where there is one) */
                pdu[0] = crc ? pdu[0] : (uint8_t)(pdu[0] & ~0x10u); /* else a directive */
            } else if (s->what == 3) {
                pdu[6] ^= 0x40u; /* another transaction's sequence number */
            }
            n++;
            if (p[3] & 0x80u) {
                left--;
                p += 4;
                break;
            }
        }
        /* As the entity does: what the rx stops at is skipped, or taken again once it has room. */
        size_t at = 0;
        size_t len = n * stride;
        while (at < len) {
            size_t used = pn_cfdp_rx_put(&rx, buf + at, len - at, stride);
            if (used % stride != 0 || used > len - at) {
                abort();
            }
            for (size_t i = at / stride; i < (at + used) / stride; i++) {
                step *s = &steps[i];
                if (s->what >= 2) {
                    abort(); /* a bad datagram or another's taken */
                }
                if (s->offset + s->len > LIMIT) {
                    refused++;
                    continue;
                }
                int repaired = 0;
                for (size_t k = 0; k < s->len; k++) {
                    uint64_t o = s->offset + k;
                    if (!have[o]) {
                        have[o] = 1;
                        first[o] = octet(o, s->what);
                        repaired |= o < high;
                    }
                }
                repairs += (size_t)repaired;
                if (s->offset > high) {
                    gaps_want[wanted_n++] = (pn_cfdp_gap){high, s->offset};
                }
                if (s->offset + s->len > high) {
                    high = s->offset + s->len;
                }
            }
            at += used;
            memcpy(gaps_seen + gaps_n, rx.gaps, rx.gaps_n * sizeof *rx.gaps);
            gaps_n += rx.gaps_n;
            rx.gaps_n = 0;
            if (rx.stop == PN_CFDP_RX_OTHER || rx.stop == PN_CFDP_RX_RUNS_FULL) {
                at += stride;
            } else if (rx.stop != PN_CFDP_RX_GAPS_FULL && at < len) {
                abort();
            }
        }
    }

    uint64_t total = 0;
    for (uint32_t i = 0; i < rx.runs_n; i++) {
        const pn_cfdp_run *r = &runs[i];
        if (r->start >= r->end || r->end > LIMIT || (i > 0 && r->start <= runs[i - 1].end)) {
            abort(); /* sorted, merged, apart */
        }
        for (uint64_t o = r->start; o < r->end; o++) {
            if (!have[o]) {
                abort();
            }
        }
        if (r->check != reference_checksum(type, r->start, first + r->start, r->end - r->start)) {
            abort();
        }
        static uint8_t back[LIMIT];
        size_t n = (size_t)(r->end - r->start);
        if (pread(fd, back, n, (off_t)r->start) != (ssize_t)n ||
            memcmp(back, first + r->start, n) != 0) {
            abort();
        }
        total += r->end - r->start;
    }
    size_t held = 0;
    for (size_t o = 0; o < LIMIT; o++) {
        held += have[o];
    }
    if (total != held || rx.written != held || rx.high != high || rx.refused != refused ||
        rx.repairs != repairs || gaps_n != wanted_n ||
        memcmp(gaps_seen, gaps_want, gaps_n * sizeof *gaps_seen) != 0 || rx.error != 0) {
        abort();
    }
    return 0;
}
