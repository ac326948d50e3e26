/* UDP in batches: many messages to one system call (Linux's recvmmsg and sendmmsg), and each
 * message itself many datagrams where the kernel has UDP GRO (coalesced on the way in, their
 * size in a control message) and UDP GSO (a segment size on the way out, the kernel cutting).
 * Every buffer is the caller's; the per-call headers live on the stack; nothing is allocated. */
#if defined(__linux__)
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <string.h>

#include "payload_native.h"

#if defined(__linux__)
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

typedef struct control {
    _Alignas(size_t) char buf[CMSG_SPACE(sizeof(int))]; /* aligned as a cmsghdr's length */
} control;

/* A call's messages, or 0 when the socket had none waiting (or no room), or -errno. */
static int messages_or_errno(int result)
{
    if (result >= 0) {
        return result;
    }
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
}

static uint32_t gro_size(struct msghdr *hdr)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(hdr); c != NULL; c = CMSG_NXTHDR(hdr, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int size;
            memcpy(&size, CMSG_DATA(c), sizeof size);
            return size > 0 ? (uint32_t)size : 0u;
        }
    }
    return 0;
}
#endif

static size_t at_most_a_batch(size_t n)
{
    return n > PN_UDP_BATCH_MAX ? PN_UDP_BATCH_MAX : n;
}

int pn_udp_recv_batch(int fd, uint8_t *buf, size_t stride, size_t n, uint32_t *lens,
                      uint32_t *segs, uint8_t *from, uint32_t *from_len)
{
    if (fd < 0 || buf == NULL || lens == NULL || segs == NULL || stride == 0 ||
        stride > UINT32_MAX || n == 0) {
        return -EINVAL;
    }
    n = at_most_a_batch(n);
#if defined(__linux__)
    struct mmsghdr msgs[PN_UDP_BATCH_MAX];
    struct iovec iov[PN_UDP_BATCH_MAX];
    struct sockaddr_in6 names[PN_UDP_BATCH_MAX];
    control controls[PN_UDP_BATCH_MAX];
    memset(msgs, 0, sizeof msgs[0] * n);
    for (size_t i = 0; i < n; i++) {
        iov[i].iov_base = buf + i * stride;
        iov[i].iov_len = stride;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &names[i];
        msgs[i].msg_hdr.msg_namelen = sizeof names[i];
        msgs[i].msg_hdr.msg_control = controls[i].buf;
        msgs[i].msg_hdr.msg_controllen = sizeof controls[i].buf;
    }
    int got = messages_or_errno(recvmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT, NULL));
    for (int i = 0; i < got; i++) {
        lens[i] = msgs[i].msg_len;
        segs[i] = gro_size(&msgs[i].msg_hdr);
        if (segs[i] >= lens[i]) {
            segs[i] = 0; /* one datagram */
        }
    }
    if (got > 0 && from != NULL && from_len != NULL) {
        socklen_t len = msgs[got - 1].msg_hdr.msg_namelen;
        if (len > *from_len) {
            len = *from_len;
        }
        memcpy(from, &names[got - 1], len);
        *from_len = len;
    }
    return got;
#else
    (void)from;
    (void)from_len;
    return -ENOSYS;
#endif
}

int pn_udp_send_batch(int fd, const uint8_t *const *bufs, const uint32_t *lens,
                      const uint32_t *segs, size_t n, const uint8_t *to, uint32_t to_len)
{
    if (fd < 0 || bufs == NULL || lens == NULL || segs == NULL || n == 0 ||
        (to == NULL && to_len != 0)) {
        return -EINVAL;
    }
    n = at_most_a_batch(n);
#if defined(__linux__)
    struct mmsghdr msgs[PN_UDP_BATCH_MAX];
    struct iovec iov[PN_UDP_BATCH_MAX];
    control controls[PN_UDP_BATCH_MAX];
    memset(msgs, 0, sizeof msgs[0] * n);
    for (size_t i = 0; i < n; i++) {
        if (bufs[i] == NULL) {
            return -EINVAL;
        }
        iov[i].iov_base = (void *)bufs[i];
        iov[i].iov_len = lens[i];
        struct msghdr *hdr = &msgs[i].msg_hdr;
        hdr->msg_iov = &iov[i];
        hdr->msg_iovlen = 1;
        hdr->msg_name = (void *)to;
        hdr->msg_namelen = to_len;
        if (segs[i] > 0 && segs[i] < lens[i]) {
            if (segs[i] > UINT16_MAX) {
                return -EINVAL;
            }
            uint16_t size = (uint16_t)segs[i];
            memset(&controls[i], 0, sizeof controls[i]);
            hdr->msg_control = controls[i].buf;
            hdr->msg_controllen = CMSG_SPACE(sizeof size);
            struct cmsghdr *c = CMSG_FIRSTHDR(hdr);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof size);
            memcpy(CMSG_DATA(c), &size, sizeof size);
        }
    }
    return messages_or_errno(sendmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT));
#else
    (void)to;
    (void)to_len;
    return -ENOSYS;
#endif
}
