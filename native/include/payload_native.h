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
    PN_ERR_COBS_OVERRUN = -4  /* a COBS code byte points past the end of the frame */
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

/* The CFDP modular checksum (727.0-B-5, type 0): the sum mod 2^32 of the file's 32-bit
 * big-endian words, each aligned at a file offset that is a multiple of 4 (a short last word is
 * padded with zeros). Adds data, which sits at file offset offset, to sum; segments may come in
 * any order. */
uint32_t pn_cfdp_modular(uint32_t sum, uint64_t offset, const uint8_t *data, size_t len);

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
/* cffi:end */

#define PN_SP_HEADER_LEN 6u

#ifdef __cplusplus
}
#endif

#endif
