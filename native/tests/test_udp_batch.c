/* Unit tests for UDP in batches over loopback: messages of several sizes, each from a buffer of
 * its own, sent in one call arrive whole, in order, from the sender's address; a GSO message
 * arrives as its datagrams (coalesced again by GRO where the receiver asks, with their size);
 * nothing waiting is 0; bad arguments and descriptors are refused with their errno. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "payload_native.h"

enum { STRIDE = 1 << 17, SLOTS = 8 };

static uint8_t inbox[SLOTS * STRIDE];

static int udp_socket(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof *addr;
    CHECK_EQ(bind(fd, (struct sockaddr *)addr, len), 0);
    CHECK_EQ(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    return fd;
}

/* Receive until `want` messages are in (each call takes what waits). */
static int receive(int fd, uint32_t *lens, uint32_t *segs, struct sockaddr_in *from, int want)
{
    int got = 0;
    while (got < want) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) != 1) {
            break;
        }
        uint32_t from_len = sizeof *from;
        int n = pn_udp_recv_batch(fd, inbox + (size_t)got * STRIDE, STRIDE, (size_t)(want - got),
                                  lens + got, segs + got, (uint8_t *)from, &from_len);
        CHECK(n >= 0);
        if (n < 0) {
            break;
        }
        got += n;
    }
    return got;
}

int main(void)
{
    struct sockaddr_in rx_addr, tx_addr, from;
    int rx = udp_socket(&rx_addr);
    int tx = udp_socket(&tx_addr);
    uint32_t lens[SLOTS], segs[SLOTS];

    CHECK_EQ(pn_udp_recv_batch(rx, inbox, STRIDE, SLOTS, lens, segs, NULL, NULL), 0);

    /* Three messages of different sizes in one call. */
    static uint8_t out[3000];
    for (size_t i = 0; i < sizeof out; i++) {
        out[i] = check_rand_byte();
    }
    uint32_t out_lens[3] = {1, 1999, 1000}, no_segs[3] = {0, 0, 0};
    const uint8_t *parts[3] = {out, out + 1, out + 2000};
    CHECK_EQ(pn_udp_send_batch(tx, parts, out_lens, no_segs, 3, (const uint8_t *)&rx_addr,
                               sizeof rx_addr),
             3);
    CHECK_EQ(receive(rx, lens, segs, &from, 3), 3);
    size_t at = 0;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(lens[i], out_lens[i]);
        CHECK_EQ(segs[i], 0);
        CHECK(memcmp(inbox + (size_t)i * STRIDE, out + at, out_lens[i]) == 0);
        at += out_lens[i];
    }
    CHECK_EQ(from.sin_port, tx_addr.sin_port);
    CHECK_EQ(from.sin_addr.s_addr, tx_addr.sin_addr.s_addr);

    /* One GSO message of 2 datagrams of 1000 and a shorter last one, where the kernel has GSO:
     * a receiver with GRO takes it whole with the size, one without as three datagrams. */
    int one = 1;
    int gro = setsockopt(rx, IPPROTO_UDP, 104 /* UDP_GRO */, &one, sizeof one) == 0;
    uint32_t gso_len[1] = {2500}, gso_seg[1] = {1000};
    int sent = pn_udp_send_batch(tx, parts, gso_len, gso_seg, 1, (const uint8_t *)&rx_addr,
                                 sizeof rx_addr);
    if (sent == 1) {
        int want = gro ? 1 : 3;
        CHECK_EQ(receive(rx, lens, segs, &from, want), want);
        CHECK_EQ(lens[0], gro ? 2500u : 1000u);
        CHECK_EQ(segs[0], gro ? 1000u : 0u);
        CHECK(memcmp(inbox, out, lens[0]) == 0);
    } else {
        CHECK(sent == -EINVAL || sent == -EIO || sent == -EOPNOTSUPP); /* no GSO here */
    }

    /* Bad arguments and descriptors. */
    CHECK_EQ(pn_udp_recv_batch(-1, inbox, STRIDE, 1, lens, segs, NULL, NULL), -EINVAL);
    CHECK_EQ(pn_udp_recv_batch(rx, inbox, 0, 1, lens, segs, NULL, NULL), -EINVAL);
    CHECK_EQ(pn_udp_recv_batch(rx, inbox, STRIDE, 0, lens, segs, NULL, NULL), -EINVAL);
    CHECK_EQ(pn_udp_send_batch(tx, parts, out_lens, no_segs, 0, NULL, 0), -EINVAL);
    CHECK_EQ(pn_udp_send_batch(tx, parts, out_lens, no_segs, 1, NULL, 16), -EINVAL);
    const uint8_t *missing[1] = {NULL};
    CHECK_EQ(pn_udp_send_batch(tx, missing, out_lens, no_segs, 1, NULL, 0), -EINVAL);
    uint32_t too_big_seg[1] = {70000}; /* no datagram is that long */
    uint32_t big_len[1] = {80000};
    const uint8_t *big[1] = {inbox};
    CHECK_EQ(pn_udp_send_batch(tx, big, big_len, too_big_seg, 1, (const uint8_t *)&rx_addr,
                               sizeof rx_addr),
             -EINVAL);
    close(rx);
    close(tx);
    CHECK_EQ(pn_udp_recv_batch(rx, inbox, STRIDE, 1, lens, segs, NULL, NULL), -EBADF);
    CHECK_EQ(pn_udp_send_batch(tx, parts, out_lens, no_segs, 1, (const uint8_t *)&rx_addr,
                               sizeof rx_addr),
             -EBADF);
    return check_report("udp_batch");
}
