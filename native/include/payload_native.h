/*
 * payload_native.h - the C core of the payload controller.
 *
 * Checksums (of packets and of CFDP files), COBS framing and CCSDS Space Packet primary headers:
 * the paths that every byte crossing a link goes through. No function here allocates memory;
 * every function takes its buffers from the caller and returns a status or a length.
 *
 * The block between the cffi markers is read verbatim by native/ffi_build.py as the cffi cdef,
 * so it must stay plain declarations (no preprocessor lines, no inline code).
 */
#ifndef PAYLOAD_NATIVE_H
#define PAYLOAD_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cffi:begin */
typedef enum pn_status {
    PN_OK = 0,
    PN_ERR_SHORT = -1,        /* buffer too short for what was asked */
    PN_ERR_RANGE = -2,        /* a field value does not fit its bit width */
    PN_ERR_COBS_ZERO = -3,    /* a COBS frame holds a 0x00 byte (delimiter inside a frame) */
    PN_ERR_COBS_OVERRUN = -4, /* a COBS code byte points past the end of the frame */
    PN_ERR_USLP_VERSION = -5, /* not a USLP frame: version number other than 12 */
    PN_ERR_USLP_TRUNCATED = -6, /* a truncated primary header, which this link does not use */
    PN_ERR_USLP_LENGTH = -7,  /* the frame length field disagrees with the frame's fields */
    PN_ERR_USLP_CRC = -8,     /* the frame error control field does not check */
    PN_ERR_USLP_POINTER = -9, /* a first header pointer beyond the data zone */
    PN_ERR_CFDP_NOT_FILE_DATA = -10, /* a CFDP PDU, but not file data of version 1 without
                                      * segment metadata (a directive, another version) */
    PN_ERR_CFDP_LENGTH = -11, /* a CFDP PDU's data field length disagrees with its octets */
    PN_ERR_CFDP_CRC = -12     /* a CFDP PDU's CRC-16 does not check */
} pn_status;

/* CCSDS Space Packet primary header (CCSDS 133.0-B-2, 6 octets, big-endian). */
typedef struct pn_sp_header {
    uint8_t version;          /* 3 bits, always 0 for version-1 packets */
    uint8_t type;             /* 1 bit: 0 telemetry, 1 telecommand */
    uint8_t sec_hdr_flag;     /* 1 bit */
    uint16_t apid;            /* 11 bits */
    uint8_t seq_flags;        /* 2 bits: 3 = unsegmented */
    uint16_t seq_count;       /* 14 bits */
    uint16_t data_length;     /* packet data field length minus one */
} pn_sp_header;

/* CRC implementations; the fastest the CPU runs is chosen at load time (PAYLOAD_NATIVE_PORTABLE=1
 * in the environment forces the portable one). */
typedef enum pn_crc_path {
    PN_CRC_PORTABLE = 0,       /* slicing-by-8 tables, any CPU */
    PN_CRC_X86_PCLMUL = 1,     /* x86-64 SSE4.2 crc32 and PCLMULQDQ folding */
    PN_CRC_X86_VPCLMUL = 2,    /* x86-64 AVX-512 VPCLMULQDQ folding */
    PN_CRC_ARM_CRC32 = 3,      /* AArch64 CRC32/CRC32C instructions (the others portable) */
    PN_CRC_ARM_PMULL = 4,      /* AArch64 PMULL folding and CRC32/CRC32C instructions */
    PN_CRC_PATH_COUNT = 5
} pn_crc_path;

/* Bit mask (1 << path) of the paths this CPU can run. */
unsigned pn_crc_paths(void);

/* The path in use. */
int pn_crc_path_get(void);

/* Use a path (tests and benchmarks); PN_ERR_RANGE if this CPU cannot run it. */
int pn_crc_path_set(int path);

/* CRC-16/CCITT-FALSE: poly 0x1021, not reflected, no final xor. Start with crc = 0xFFFF;
 * pass a previous result to continue over more data. */
uint16_t pn_crc16(uint16_t crc, const uint8_t *data, size_t len);

/* CRC-32C (Castagnoli, reflected poly 0x82F63B78, init and final xor 0xFFFFFFFF).
 * Start with crc = 0; pass a previous result to continue over more data. */
uint32_t pn_crc32c(uint32_t crc, const uint8_t *data, size_t len);

/* CRC-32/ISO-HDLC (IEEE 802.3: reflected poly 0xEDB88320, init and final xor 0xFFFFFFFF), the
 * CFDP checksum type 3. Start with crc = 0; pass a previous result to continue over more data. */
uint32_t pn_crc32(uint32_t crc, const uint8_t *data, size_t len);

/* The Proximity-1 CRC-32 (CCSDS 211.2: poly 0x00A00805, not reflected, init 0, no final xor),
 * the CFDP checksum type 1. Start with crc = 0; pass a previous result to continue. */
uint32_t pn_crc32_prox1(uint32_t crc, const uint8_t *data, size_t len);

/* The CRC of data A followed by data B, from crc_a and crc_b (each as the function above returns
 * it for A and for B alone) and B's length in octets: no data is read (native/src/crc_combine.c). */
uint32_t pn_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);
uint32_t pn_crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);
uint32_t pn_crc32_prox1_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

/* The CFDP modular checksum (727.0-B-5, type 0): the sum mod 2^32 of the file's 32-bit
 * big-endian words, each aligned at a file offset that is a multiple of 4 (a short last word is
 * padded with zeros). Adds data, which sits at file offset offset, to sum; segments may come in
 * any order. */
uint32_t pn_cfdp_modular(uint32_t sum, uint64_t offset, const uint8_t *data, size_t len);

/* --- CFDP file data PDUs (CCSDS 727.0-B-5 5.3), docs/icd.md section 12. */

enum { PN_CFDP_PREFIX_MAX = 28 }; /* 4 octets and two 8-octet entity ids and an 8-octet number */

/* A transaction's fixed PDU header for its file data: its octets with the data field length
 * (octets 1 and 2) zero, as flight/cfdp/pdu_types.py Header.prefix writes them. Its first octet
 * says whether offsets are 8 octets (large file flag) or 4, and whether a CRC-16 ends each PDU. */
typedef struct pn_cfdp_fd_header {
    uint8_t prefix[28];
    uint8_t prefix_len;
} pn_cfdp_fd_header;

/* PN_OK when the header is one of file data PDUs (version 1, file data, no segmentation control
 * nor segment metadata, its length the one its id lengths give); PN_ERR_RANGE otherwise. */
int pn_cfdp_fd_check(const pn_cfdp_fd_header *h);

/* Octets of a file data PDU of this header beside its data: header, offset, CRC. */
size_t pn_cfdp_fd_overhead(const pn_cfdp_fd_header *h);

/* Cut len octets of file data, which sit at file offset offset, into file data PDUs of at most
 * seg octets of data each, written whole one after another into out; lens[i] receives the i-th
 * one's length. Stops when out has no room for the next PDU or max_pdus are written; *taken
 * receives the data octets written. Returns the PDUs written, or PN_ERR_RANGE (nothing written)
 * for a header pn_cfdp_fd_check refuses, seg 0, a PDU whose data field would exceed 65535
 * octets, or data beyond a small file's 32-bit offsets. */
int64_t pn_cfdp_fd_segment(const pn_cfdp_fd_header *h, uint64_t offset, const uint8_t *data,
                           size_t len, size_t seg, uint8_t *out, size_t cap, uint32_t *lens,
                           size_t max_pdus, size_t *taken);

/* Where the parts of one file data PDU are, as pn_cfdp_fd_parse reads them. */
typedef struct pn_cfdp_fd_view {
    uint64_t offset;          /* the file offset of its data */
    uint32_t header_len;      /* octets of its fixed header (its transaction's key: octet 0 and
                               * octets 3 to header_len, the length octets left out) */
    uint32_t data_at;         /* where its data begins in the PDU */
    uint32_t data_len;        /* octets of data (its CRC, when it has one, left out) */
} pn_cfdp_fd_view;

/* Read one file data PDU of len octets: PN_OK and v filled when it is whole (version 1, file
 * data, no segment metadata, its data field length that of the octets after its header, room
 * for its offset, its CRC-16 checking where its flag is set). Otherwise PN_ERR_SHORT (shorter
 * than its header), PN_ERR_CFDP_NOT_FILE_DATA, PN_ERR_CFDP_LENGTH or PN_ERR_CFDP_CRC, and v is
 * not touched. */
int pn_cfdp_fd_parse(const uint8_t *pdu, size_t len, pn_cfdp_fd_view *v);

/* --- CFDP file reception (native/src/cfdp_receive.c): a file's data written at its offsets, the
 * ranges received kept merged with the checksum of each, the gaps found for NAKs. */

enum {
    PN_CFDP_CHECK_NONE = 255, /* no checksum kept (data came before its type was known) */
    PN_CFDP_RX_GAPS = 32,     /* gaps one call reports at most */
    PN_CFDP_RX_IOV = 64       /* pieces written in one system call at most */
};

/* Why pn_cfdp_rx_put stopped before the end of its datagrams. */
enum {
    PN_CFDP_RX_DONE = 0,         /* it did not: every datagram was taken */
    PN_CFDP_RX_OTHER = 1,        /* the next is not file data of this transaction, or does not
                                  * read whole: the caller reads it to say why */
    PN_CFDP_RX_GAPS_FULL = 2,    /* the next would open a gap and gaps[] is full */
    PN_CFDP_RX_RUNS_FULL = 3,    /* the next needs a run of its own and runs[] is full */
    PN_CFDP_RX_WRITE_FAILED = 4  /* a write failed (error says why): nothing more is taken */
};

/* One run of consecutive file octets received, [start, end), with their checksum (of the CFDP
 * type the reception keeps: the CRC of the run's octets, or their modular sum at their offsets). */
typedef struct pn_cfdp_run {
    uint64_t start;
    uint64_t end;
    uint32_t check;
} pn_cfdp_run;

typedef struct pn_cfdp_gap {
    uint64_t start;
    uint64_t end;
} pn_cfdp_gap;

/* A file being received. The owner sets the fields above runs_n (runs[] is its memory, runs_cap
 * entries, its first runs_n sorted, merged and apart) and takes and clears those below. */
typedef struct pn_cfdp_rx {
    uint8_t key[28];        /* octet 0 and octets 3 on of the header of its PDUs: which */
    uint32_t key_len;       /* transaction a datagram belongs to */
    int fd;                 /* the partial file, written with pwritev */
    uint32_t check_type;    /* CFDP checksum type 0 to 3 or 15 (NULL), or PN_CFDP_CHECK_NONE */
    uint32_t immediate_nak; /* a gap opened by data past the highest octet is reported */
    uint64_t limit;         /* data ending past this octet is refused (the file's size) */
    uint64_t reserve_to;    /* the file's size where its metadata said (0: not known): blocks
                             * are reserved up to it, 64 MiB ahead of the writes */
    uint64_t reserved;      /* the first octets whose blocks are reserved */
    uint64_t high;          /* the end of the highest data received */
    pn_cfdp_run *runs;
    uint32_t runs_cap;
    uint32_t runs_n;
    uint64_t written;       /* octets written to the file */
    uint32_t refused;       /* PDUs whose data ends past limit (taken, nothing written) */
    uint32_t repairs;       /* PDUs below high that brought octets not received before */
    uint32_t gaps_n;        /* gaps opened, in gaps[]: (high then, the PDU's offset) */
    int32_t error;          /* -errno of the write that failed, else 0 */
    uint32_t stop;          /* PN_CFDP_RX_*: why the last call stopped */
    pn_cfdp_gap gaps[32];
} pn_cfdp_rx;

/* Take the file data PDUs among datagrams of stride octets laid back to back in buf (len octets,
 * the last one possibly shorter; stride len for one), as UDP GRO hands them over: from the first
 * on, each that pn_cfdp_fd_parse reads whole and that carries rx's key. Of each, only the octets
 * not received before are written (a repeat, damaged or not, changes nothing) and added to the
 * runs and their checksums. Writes of consecutive octets go in one pwritev from buf itself, all
 * before this returns. Returns the octets of buf taken (whole datagrams); rx->stop says why it
 * stopped short. */
size_t pn_cfdp_rx_put(pn_cfdp_rx *rx, const uint8_t *buf, size_t len, size_t stride);

/* Take len octets of file data that lie at file offset offset (a PDU the caller read itself):
 * as one PDU of pn_cfdp_rx_put. Returns 1 when taken (rx->refused counts a refusal), else 0 and
 * rx->stop says why. */
int pn_cfdp_rx_data(pn_cfdp_rx *rx, uint64_t offset, const uint8_t *data, size_t len);

/* The gaps of [from, size) not received, at most max of them into out, in order; returns how
 * many (a caller wanting more asks again from the end of the last). */
size_t pn_cfdp_rx_gaps(const pn_cfdp_rx *rx, uint64_t from, uint64_t size, pn_cfdp_gap *out,
                       size_t max);

/* --- Files. */

/* Start writing len octets of fd's dirty pages from offset (len 0: to the end) to disk, without
 * waiting (sync_file_range, SYNC_FILE_RANGE_WRITE, on Linux; nothing elsewhere). 0, or -errno:
 * -EINVAL for a negative descriptor or a range past INT64_MAX, -EBADF for a closed one. */
int pn_file_writeback(int fd, uint64_t offset, uint64_t len);

/* Reserve the disk blocks of fd's first size octets without changing its size or its data
 * (fallocate, FALLOC_FL_KEEP_SIZE, on Linux): what is then written needs no block allocation
 * of its own, and a file that cannot fit is known at once. 0 (also where the file system or the
 * system cannot reserve: nothing was done), or -errno: -ENOSPC or -EDQUOT when the blocks are not
 * there, -EINVAL for a negative descriptor or a size past INT64_MAX, -EBADF for a closed one. */
int pn_file_reserve(int fd, uint64_t size);

/* --- UDP in batches (native/src/udp_batch.c). */

enum { PN_UDP_BATCH_MAX = 64 }; /* messages one call moves at most */

/* Receive up to n messages from a UDP socket in one call (recvmmsg, without waiting): the i-th
 * lands at buf + i * stride (stride at least the largest message: 65 536 octets, or 64 KiB more
 * with UDP GRO), its length in lens[i] and, where GRO coalesced several datagrams into it, their
 * size in segs[i] (the last may be shorter; 0: one datagram). The sender of the last message
 * goes into from (at most *from_len octets of its socket address; *from_len receives its
 * length). Returns the messages received (0 when none waits), or -errno: -ENOSYS off Linux,
 * -EINVAL for a bad argument. */
int pn_udp_recv_batch(int fd, uint8_t *buf, size_t stride, size_t n, uint32_t *lens,
                      uint32_t *segs, uint8_t *from, uint32_t *from_len);

/* Send n messages, the i-th lens[i] octets at bufs[i], in one call (sendmmsg,
 * without waiting), to the socket address to (to_len octets; NULL and 0: the connected peer).
 * A message whose segs[i] is above 0 and below its length is many datagrams of that size (the
 * last may be shorter) cut by the kernel (UDP GSO). Returns the messages the socket took, fewer
 * when it filled (0: no room now); or -errno for the first message when it was refused (-EINVAL
 * or -EIO: GSO refused on this path). -ENOSYS off Linux. */
int pn_udp_send_batch(int fd, const uint8_t *const *bufs, const uint32_t *lens,
                      const uint32_t *segs, size_t n, const uint8_t *to, uint32_t to_len);

/* Largest COBS encoding of len bytes (without the 0x00 delimiter). */
size_t pn_cobs_max_encoded_len(size_t len);

/* COBS-encode src into dst (capacity pn_cobs_max_encoded_len(len)); returns the encoded length.
 * The output contains no 0x00 byte and no delimiter. */
size_t pn_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst);

/* Decode one COBS frame (without its delimiter) into dst (capacity len bytes suffices).
 * On PN_OK *out_len holds the decoded length; on error *out_len holds the offset of the
 * offending byte in src. */
int pn_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t *out_len);

/* Pack a primary header into out[0..5]; PN_ERR_RANGE when a field exceeds its width. */
int pn_sp_pack(const pn_sp_header *hdr, uint8_t *out);

/* Unpack the primary header at buf[0..5]; PN_ERR_SHORT when len < 6. */
int pn_sp_unpack(const uint8_t *buf, size_t len, pn_sp_header *hdr);

/* One row per space packet found by pn_scan_packets. */
typedef struct pn_packet_row {
    uint64_t offset;          /* of the packet in the buffer */
    uint32_t length;          /* of the whole packet, header included */
    uint16_t apid;
    uint16_t seq_count;
    uint8_t type;
    uint8_t sec_hdr_flag;
    uint8_t seq_flags;
    uint8_t crc_ok;           /* 1 when the CRC-16 packet error control checks */
} pn_packet_row;

/* Scan the concatenated packets of buf from offset start (each packet found by its length
 * field), filling at most max_rows rows; offsets in the rows are from buf. *next receives the offset
 * after the last packet scanned: the start of an incomplete packet when fewer rows than max_rows
 * were filled. Returns the rows filled. */
size_t pn_scan_packets(const uint8_t *buf, size_t len, size_t start, pn_packet_row *rows,
                       size_t max_rows, size_t *next);

/* Fields of a PUS-C telemetry packet (docs/icd.md section 5). */
typedef struct pn_tm_fields {
    uint16_t apid;
    uint16_t seq_count;
    uint8_t service;
    uint8_t subtype;
    uint8_t time_synced;
    uint16_t msg_counter;
    uint16_t dest_id;
    uint32_t coarse_time;
    uint16_t fine_time;
} pn_tm_fields;

/* Write a whole PUS-C telemetry packet (headers, source data, CRC-16) into out; returns its
 * length, or 0 when it does not fit in cap octets or a field is out of range. */
size_t pn_tm_pack(const pn_tm_fields *tm, const uint8_t *data, size_t len, uint8_t *out,
                  size_t cap);

/* One frame found by pn_cobs_split: where its decoded octets are in dst, or why it is bad. */
typedef struct pn_frame {
    uint32_t offset;
    uint32_t length;
    int32_t status;           /* PN_OK, a PN_ERR_COBS_* code, or PN_ERR_SHORT if too long */
} pn_frame;

/* Split a byte stream at 0x00 delimiters and decode each complete, non-empty frame into dst
 * (capacity len). Frames longer than max_frame_len octets are not decoded (status PN_ERR_SHORT).
 * Returns the frames recorded (at most max_frames); *consumed receives the octets up to and
 * including the last delimiter handled. */
size_t pn_cobs_split(const uint8_t *src, size_t len, size_t max_frame_len, uint8_t *dst,
                     pn_frame *frames, size_t max_frames, size_t *consumed);
/* --- USLP transfer frames (CCSDS 732.1-B-2), docs/icd.md section 15. */

/* A frame's fields: its primary header (non-truncated), its data field header and its
 * operational control field. */
typedef struct pn_uslp_frame {
    uint16_t scid;            /* spacecraft id, 16 bits */
    uint8_t dest;             /* 1 bit: 0 the scid is the frame's source, 1 its destination */
    uint8_t vcid;             /* 6 bits; 63 carries only idle data */
    uint8_t map_id;           /* 4 bits */
    uint8_t bypass;           /* 1 bit: 1 expedited (Type-B), 0 sequence-controlled (Type-A) */
    uint8_t control;          /* 1 bit: 1 the data zone holds protocol control commands */
    uint8_t ocf;              /* 1 bit: 1 a 4-octet operational control field follows the data */
    uint8_t count_len;        /* octets of the virtual channel frame count, 0..7 */
    uint64_t count;           /* the virtual channel frame count */
    uint32_t length;          /* octets of the whole frame (the length field plus one) */
    uint8_t rules;            /* TFDZ construction rules, 3 bits */
    uint8_t upid;             /* USLP protocol identifier, 5 bits (0 space packets, 31 idle) */
    uint16_t pointer;         /* first header pointer or last valid octet (rules 0-2 only);
                               * 0xFFFF: none in this frame */
    uint8_t clcw[4];          /* the operational control field, when ocf */
} pn_uslp_frame;

/* Octets of the primary header and data field header of a frame with these fields. */
size_t pn_uslp_overhead(const pn_uslp_frame *f, int fecf);

/* Write a whole frame: the fields of f (its length computed here), the data zone and, when fecf
 * is 1, the CRC-16 frame error control field. Returns the frame's length, PN_ERR_RANGE when a
 * field does not fit its width or the frame would exceed 65536 octets, PN_ERR_SHORT when it does
 * not fit in cap octets. */
int64_t pn_uslp_pack(const pn_uslp_frame *f, const uint8_t *zone, size_t zone_len, int fecf,
                     uint8_t *out, size_t cap);

/* One frame found by pn_uslp_scan. */
typedef struct pn_uslp_row {
    pn_uslp_frame frame;
    uint64_t offset;          /* of the frame in the buffer */
    uint32_t zone_offset;     /* of the data zone from the frame's start */
    uint32_t zone_length;
    int32_t status;           /* PN_OK or why the frame is bad (fields read as far as they go) */
} pn_uslp_row;

/* Read the frames of a buffer of concatenated frames, from offset start: each frame_len octets
 * long, or, when frame_len is 0, as long as its own length field says. fecf: 1 when frames end in
 * a CRC-16. Fills at most max_rows rows; *next receives the offset after the last frame read (a
 * frame longer than what is left is not read). A frame whose header cannot be read ends a
 * variable-length scan (status in the row, *next at that frame). Returns the rows filled. */
size_t pn_uslp_scan(const uint8_t *buf, size_t len, size_t start, size_t frame_len, int fecf,
                    pn_uslp_row *rows, size_t max_rows, size_t *next);

/* A virtual channel's packet service into fixed-length frames (construction rules 000: packets
 * span frames, located by the first header pointer). The caller fills template (scid, dest,
 * vcid, map_id, ocf, count_len, count, length; clcw before each call when ocf) and fecf; the
 * rest is the packer's own state. */
typedef struct pn_uslp_packer {
    pn_uslp_frame template;
    uint8_t fecf;
    uint8_t spill_len;        /* octets of an idle packet left to begin the next frame with */
    uint16_t pointer;         /* of the frame under construction */
    uint32_t fill;            /* octets in the frame under construction's data zone */
    uint32_t zone_len;        /* the data zone of one frame */
    uint32_t zone_start;      /* its offset in the frame */
    uint64_t frames;          /* frames completed */
    uint64_t idle_octets;     /* octets of idle packets written to complete frames */
    uint8_t spill[8];
    uint8_t frame[65536];
} pn_uslp_packer;

/* Check the template and empty the packer; PN_ERR_RANGE when a field or the frame length
 * (overheads plus at least 1 octet of data zone, at most 65536) does not fit. */
int pn_uslp_packer_init(pn_uslp_packer *p);

/* Add concatenated whole space packets (each one's extent from its length field). Every frame
 * completed is written to out, one after the other. Stops when out has no room for the next
 * frame: *used receives the packet octets taken. Returns the frames written, or PN_ERR_SHORT
 * when the last packet is not whole (nothing of it taken). */
int64_t pn_uslp_packer_put(pn_uslp_packer *p, const uint8_t *packets, size_t len, uint8_t *out,
                           size_t cap, size_t *used);

/* Complete the frame under construction with an idle packet (whose last octets, when it does
 * not fit, begin the next frame) and write it to out. Returns 1 when a frame was written, 0 when
 * none was under construction, PN_ERR_SHORT when out is shorter than a frame. */
int64_t pn_uslp_packer_flush(pn_uslp_packer *p, uint8_t *out, size_t cap);

/* A virtual channel's packet extraction from fixed-length frames of construction rules 000. */
typedef struct pn_uslp_unpacker {
    uint64_t next_count;      /* the frame count expected next */
    uint64_t frames;          /* frames taken */
    uint64_t gaps;            /* frame counts out of sequence */
    uint64_t packets;         /* whole packets put out */
    uint64_t dropped;         /* octets dropped: a packet cut by a gap, or a zone with no packet
                               * start while out of step */
    uint32_t have;            /* octets of the packet being reassembled */
    uint8_t started;          /* 1 once a frame has been taken (next_count is meaningful) */
    uint8_t in_step;          /* 1 while the packet in reassembly continued without a gap */
    uint8_t packet[65542];
} pn_uslp_unpacker;

/* Take the frames of rows (all of one virtual channel, status PN_OK, from buf) in order and write
 * the whole packets they complete to out, concatenated. A frame count other than the one expected
 * (modulo its width) drops the packet in reassembly and resumes at the frame's first header
 * pointer, as does a zone that disagrees with its pointer. Rows of another status or construction
 * rule are passed over. Returns the octets written; *taken receives the rows taken, fewer than
 * nrows when out had no room for the next one's packets (the rows' data zones plus 65542 octets
 * always suffice). */
int64_t pn_uslp_unpack(pn_uslp_unpacker *u, const uint8_t *buf, const pn_uslp_row *rows,
                       size_t nrows, uint8_t *out, size_t cap, size_t *taken);

/* XOR data with the CCSDS pseudo-randomiser's sequence (h(x) = x^8+x^7+x^5+x^3+1, all ones at the
 * start of each frame, CCSDS 131.0-B): the same call randomises and derandomises. */
void pn_ccsds_randomise(uint8_t *data, size_t len);

/* Frame synchronisation of a byte stream of fixed-length frames, each after a 4-octet attached
 * sync marker (0x1ACFFC1D), as channel access data units are: find each ASM and copy the
 * frame_len octets after it to out, derandomised when derandomise is 1. Returns the frames copied
 * (back to back in out, *out_len octets, at most cap); *next receives the offset of the first
 * octet not yet used (a partial frame, or where the search stopped), *skipped adds the octets
 * passed over while searching. A frame_len of 0 finds nothing. */
size_t pn_cadu_sync(const uint8_t *buf, size_t len, size_t frame_len, int derandomise,
                    uint8_t *out, size_t cap, size_t *out_len, size_t *next, uint64_t *skipped);
/* --- CLTUs (CCSDS 231.0-B): the uplink's start sequence, BCH(63,56) codeblocks, tail sequence */

/* Octets of the CLTU that carries len octets. */
size_t pn_cltu_len(size_t len);

/* One CLTU around data (the last codeblock filled with 0x55); returns its length, or 0 when len
 * is 0 or it does not fit in cap octets. */
size_t pn_cltu_encode(const uint8_t *data, size_t len, uint8_t *out, size_t cap);

/* What pn_cltu_sync counts, added to across calls. */
typedef struct pn_cltu_counts {
    uint64_t units;           /* units ended by the tail sequence */
    uint64_t abandoned;       /* units ended by a codeblock that did not check (nor was the tail),
                               * or that ran past the largest unit */
    uint64_t skipped;         /* octets passed over while searching for a start sequence */
} pn_cltu_counts;

/* Find each CLTU in a byte stream and write the information octets of its codeblocks up to the
 * one that ends it (the tail, or an error) to out, one unit after another, its octet count in
 * lengths (a unit ended before any good codeblock writes nothing). At most max_units units, at
 * most cap octets; *next receives the offset of the first octet not yet used (a unit not yet
 * ended starts there). Returns the units written. */
size_t pn_cltu_sync(const uint8_t *buf, size_t len, uint8_t *out, size_t cap, uint32_t *lengths,
                    size_t max_units, size_t *next, pn_cltu_counts *counts);
/* cffi:end */

#define PN_SP_HEADER_LEN 6u

#ifdef __cplusplus
}
#endif

#endif
