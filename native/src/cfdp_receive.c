/* CFDP file reception (CCSDS 727.0-B-5 4.6.1.2): the receiving side's data path, many PDUs to a
 * call. Each PDU's data is cut against the runs already received: only the octets not received
 * before are taken. They are written at their offsets with pwritev straight from the datagrams,
 * consecutive pieces in one call. Each run keeps the checksum of its own octets, continued as
 * data extends it and combined when two runs meet, so a complete file's checksum is known
 * without reading it back. Data past the highest octet so far opens a gap that the caller NAKs
 * at once. Nothing here allocates: the runs live in the caller's memory, the writes' pieces on
 * the stack. */
#if defined(__linux__)
#define _GNU_SOURCE
#else
#define _DEFAULT_SOURCE
#endif
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "payload_native.h"

#define RESERVE_AHEAD (64ull << 20)

enum { CHECK_MODULAR = 0, CHECK_PROX1 = 1, CHECK_CRC32C = 2, CHECK_CRC32 = 3 };

/* The writes not yet made: consecutive pieces of the file, each where it lies in a datagram. */
typedef struct pending {
    uint64_t at;
    uint64_t len;
    int n;
    struct iovec iov[PN_CFDP_RX_IOV];
} pending;

static uint32_t check_update(uint32_t type, uint32_t value, uint64_t offset, const uint8_t *data,
                             size_t len)
{
    switch (type) {
    case CHECK_MODULAR:
        return pn_cfdp_modular(value, offset, data, len);
    case CHECK_PROX1:
        return pn_crc32_prox1(value, data, len);
    case CHECK_CRC32C:
        return pn_crc32c(value, data, len);
    case CHECK_CRC32:
        return pn_crc32(value, data, len);
    default:
        return 0;
    }
}

/* The checksum of run A followed by run B (len_b octets) from theirs. */
static uint32_t check_join(uint32_t type, uint32_t a, uint32_t b, uint64_t len_b)
{
    switch (type) {
    case CHECK_MODULAR:
        return a + b; /* each octet's place in its word comes from its offset: sums add */
    case CHECK_PROX1:
        return pn_crc32_prox1_combine(a, b, len_b);
    case CHECK_CRC32C:
        return pn_crc32c_combine(a, b, len_b);
    case CHECK_CRC32:
        return pn_crc32_combine(a, b, len_b);
    default:
        return 0;
    }
}

static void reserve(pn_cfdp_rx *rx, uint64_t end)
{
    uint64_t to = rx->reserve_to;
    if (end <= rx->reserved || rx->reserved >= to) {
        return;
    }
    rx->reserved = end >= to || to - end <= RESERVE_AHEAD ? to : end + RESERVE_AHEAD;
    (void)pn_file_reserve(rx->fd, rx->reserved); /* a head start: the write says if it fits */
}

/* Write what is pending: 0, or -errno. */
static int flush(pn_cfdp_rx *rx, pending *w)
{
    if (w->n == 0) {
        return 0;
    }
    reserve(rx, w->at + w->len);
    struct iovec *iov = w->iov;
    int n = w->n;
    uint64_t at = w->at;
    uint64_t left = w->len;
    w->n = 0;
    w->len = 0;
    while (left > 0) {
        ssize_t done = pwritev(rx->fd, iov, n, (off_t)at);
        if (done < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (done == 0) {
            return -EIO;
        }
        rx->written += (uint64_t)done;
        at += (uint64_t)done;
        left -= (uint64_t)done;
        size_t rest = (size_t)done;
        while (n > 0 && rest >= iov->iov_len) { /* a short write: on from where it stopped */
            rest -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + rest;
            iov->iov_len -= rest;
        }
    }
    return 0;
}

/* Add a piece to the writes, those before it written first when it does not follow them. */
static int queue(pn_cfdp_rx *rx, pending *w, uint64_t at, const uint8_t *data, size_t len)
{
    if (w->n > 0 && (at != w->at + w->len || w->n == PN_CFDP_RX_IOV)) {
        int result = flush(rx, w);
        if (result != 0) {
            return result;
        }
    }
    if (w->n == 0) {
        w->at = at;
    }
    w->iov[w->n].iov_base = (void *)(uintptr_t)data;
    w->iov[w->n].iov_len = len;
    w->n++;
    w->len += len;
    return 0;
}

/* The first run that ends after offset. */
static uint32_t run_after(const pn_cfdp_rx *rx, uint64_t offset)
{
    uint32_t lo = 0;
    uint32_t hi = rx->runs_n;
    if (hi == 0 || rx->runs[hi - 1].end <= offset) { /* the common case: past them all */
        return hi;
    }
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2u;
        if (rx->runs[mid].end <= offset) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Octets [at, stop), not received, lying before runs[i] (or past the last: i == runs_n), added
 * to the runs: joined to the run that ends at at and to the one that begins at stop. Returns the
 * index of the run that now holds them. The caller has made room for one more run. */
static uint32_t add_piece(pn_cfdp_rx *rx, uint32_t i, uint64_t at, uint64_t stop,
                          const uint8_t *data)
{
    pn_cfdp_run *runs = rx->runs;
    uint32_t type = rx->check_type;
    size_t len = (size_t)(stop - at);
    int joins_before = i > 0 && runs[i - 1].end == at;
    int joins_after = i < rx->runs_n && runs[i].start == stop;
    if (joins_before) {
        pn_cfdp_run *before = &runs[i - 1];
        before->check = check_update(type, before->check, at, data, len);
        before->end = stop;
        if (joins_after) {
            before->check = check_join(type, before->check, runs[i].check,
                                       runs[i].end - runs[i].start);
            before->end = runs[i].end;
            memmove(&runs[i], &runs[i + 1], (rx->runs_n - i - 1u) * sizeof *runs);
            rx->runs_n--;
        }
        return i - 1u;
    }
    uint32_t check = check_update(type, 0, at, data, len);
    if (joins_after) {
        runs[i].check = check_join(type, check, runs[i].check, runs[i].end - runs[i].start);
        runs[i].start = at;
        return i;
    }
    memmove(&runs[i + 1], &runs[i], (rx->runs_n - i) * sizeof *runs);
    runs[i] = (pn_cfdp_run){at, stop, check};
    rx->runs_n++;
    return i;
}

/* One PDU's data: 1 when taken, 0 when rx->stop says why not (nothing of it taken, but for a
 * write that failed: the transaction's file is then abandoned). */
static int take(pn_cfdp_rx *rx, pending *w, uint64_t offset, const uint8_t *data, size_t len)
{
    if (offset > rx->limit || len > rx->limit - offset) {
        rx->refused++;
        return 1;
    }
    uint64_t end = offset + len;
    uint32_t i = run_after(rx, offset);
    int opens_gap = rx->immediate_nak && offset > rx->high;
    int needs_run = len > 0 && (i == rx->runs_n || rx->runs[i].start > end) &&
                    !(i > 0 && rx->runs[i - 1].end == offset); /* touches no run */
    if (opens_gap && rx->gaps_n == PN_CFDP_RX_GAPS) {
        rx->stop = PN_CFDP_RX_GAPS_FULL;
        return 0;
    }
    if (needs_run && rx->runs_n == rx->runs_cap) { /* the only way to need one more */
        rx->stop = PN_CFDP_RX_RUNS_FULL;
        return 0;
    }
    uint64_t at = offset;
    int repaired = 0;
    while (at < end) {
        if (i < rx->runs_n && rx->runs[i].start <= at) { /* received before: left as it came */
            at = rx->runs[i].end;
            i++;
            continue;
        }
        uint64_t stop = i < rx->runs_n && rx->runs[i].start < end ? rx->runs[i].start : end;
        const uint8_t *piece = data + (at - offset);
        int result = queue(rx, w, at, piece, (size_t)(stop - at));
        if (result != 0) {
            rx->error = result;
            rx->stop = PN_CFDP_RX_WRITE_FAILED;
            return 0;
        }
        repaired |= at < rx->high;
        i = add_piece(rx, i, at, stop, piece);
        at = rx->runs[i].end;
        i++;
    }
    rx->repairs += (uint32_t)repaired;
    if (opens_gap) {
        rx->gaps[rx->gaps_n++] = (pn_cfdp_gap){rx->high, offset};
    }
    if (end > rx->high) {
        rx->high = end;
    }
    return 1;
}

/* The pending writes made; a failure recorded in rx. */
static int finish(pn_cfdp_rx *rx, pending *w)
{
    int result = flush(rx, w);
    if (result != 0) {
        rx->error = result;
        rx->stop = PN_CFDP_RX_WRITE_FAILED;
    }
    return result;
}

size_t pn_cfdp_rx_put(pn_cfdp_rx *rx, const uint8_t *buf, size_t len, size_t stride)
{
    pending w = {0};
    size_t at = 0;
    rx->stop = PN_CFDP_RX_DONE;
    if (rx->error != 0) {
        rx->stop = PN_CFDP_RX_WRITE_FAILED;
        return 0;
    }
    while (stride > 0 && at < len) {
        size_t n = len - at < stride ? len - at : stride;
        const uint8_t *pdu = buf + at;
        pn_cfdp_fd_view v;
        if (pn_cfdp_fd_parse(pdu, n, &v) != PN_OK || v.header_len != rx->key_len + 2u ||
            pdu[0] != rx->key[0] || memcmp(pdu + 3, rx->key + 1, rx->key_len - 1u) != 0) {
            rx->stop = PN_CFDP_RX_OTHER;
            break;
        }
        if (!take(rx, &w, v.offset, pdu + v.data_at, v.data_len)) {
            break;
        }
        at += n;
    }
    if (stride == 0 && len > 0) {
        rx->stop = PN_CFDP_RX_OTHER;
    }
    finish(rx, &w);
    return at;
}

int pn_cfdp_rx_data(pn_cfdp_rx *rx, uint64_t offset, const uint8_t *data, size_t len)
{
    pending w = {0};
    rx->stop = PN_CFDP_RX_DONE;
    if (rx->error != 0) {
        rx->stop = PN_CFDP_RX_WRITE_FAILED;
        return 0;
    }
    int taken = take(rx, &w, offset, data, len);
    return finish(rx, &w) == 0 && taken;
}

size_t pn_cfdp_rx_gaps(const pn_cfdp_rx *rx, uint64_t from, uint64_t size, pn_cfdp_gap *out,
                       size_t max)
{
    size_t n = 0;
    uint64_t at = from;
    for (uint32_t i = run_after(rx, from); i < rx->runs_n && at < size && n < max; i++) {
        const pn_cfdp_run *run = &rx->runs[i];
        if (run->start > at) {
            out[n++] = (pn_cfdp_gap){at, run->start < size ? run->start : size};
        }
        at = run->end;
    }
    if (at < size && n < max) {
        out[n++] = (pn_cfdp_gap){at, size};
    }
    return n;
}
