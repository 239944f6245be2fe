/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Wire framing of the messages SCIF peers exchange over a message-carrying
 * transport (the verbs provider's SEND/RECV ring; a TCP or shared-memory
 * provider would reuse it).  Every message starts with a 12-byte header,
 * little-endian:
 *   byte 0    type (enum scif_wire_type)
 *   byte 1    version (SCIF_WIRE_VERSION)
 *   bytes 2-3 credits returned to the receiver of this message
 *   bytes 4-7 payload length
 *   bytes 8-9 control credits returned (see below)
 *   bytes 10-11 reserved, zero
 * Two credit pools keep control traffic (window announcements, fences)
 * flowing while the byte stream is stalled by a receiver that does not read:
 * stream messages spend data credits, everything else control credits.
 * Received messages are checked against the dispatch table: an unknown type,
 * a bad version or a length outside the type's bounds is logged and
 * refused, never trusted.
 */
#ifndef SCIF_WIRE_H
#define SCIF_WIRE_H

#include "hot.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define SCIF_WIRE_VERSION 1
#define SCIF_WIRE_HDR_LEN 12

enum scif_wire_type {
	SCIF_WIRE_DATA = 1,   /* byte-stream payload (data credit) */
	SCIF_WIRE_CREDIT = 2, /* credits only, no payload (control credit) */
	/* Core control messages (rma.c, fence.c), carried by the provider. */
	SCIF_WIRE_WIN_ADD = 3, /* a window was registered */
	SCIF_WIRE_WIN_DEL,     /* windows are being unregistered */
	SCIF_WIRE_WIN_DEL_ACK, /* the peer no longer uses them */
	SCIF_WIRE_FENCE_REQ,   /* tell me when your RMAs so far complete */
	SCIF_WIRE_FENCE_DONE,  /* they have */
	SCIF_WIRE_WIN_SYNC,    /* answer once you have sent every WIN_ADD */
	SCIF_WIRE_WIN_SYNC_DONE,
	SCIF_WIRE_NTYPES
};
#define SCIF_WIRE_CTRL_FIRST SCIF_WIRE_WIN_ADD
/* Largest payload of a core control message (WIN_ADD with the largest
 * window blob); a provider's message size must hold it. */
#define SCIF_WIRE_CTRL_MAX 256
/* Types from here on are a provider's own (never passed to the core). */
#define SCIF_WIRE_PROV_FIRST 64

/* Payloads of the core control messages (little-endian). */
struct scif_wire_win_add {
	uint64_t offset, len;
	uint32_t prot, bloblen;
	/* followed by bloblen bytes of the provider's blob */
};
struct scif_wire_win_del {
	uint64_t offset, len;
	uint32_t id, rsvd;
};
struct scif_wire_id { /* WIN_DEL_ACK, FENCE_*, WIN_SYNC* */
	uint32_t id, rsvd;
};

struct scif_wire_hdr {
	uint8_t type;
	uint8_t version;
	uint16_t credits;
	uint32_t len;
	uint16_t ccredits;
};

/* Encoding and decoding are inline: providers in plugins frame every
 * message with them, and a call into the core per message costs more than
 * the framing under emulation (docs/progress.md). */
static inline void scif__wire_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void scif__wire_put32(uint8_t *p, uint32_t v)
{
	scif__wire_put16(p, (uint16_t)v);
	scif__wire_put16(p + 2, (uint16_t)(v >> 16));
}

static inline uint16_t scif__wire_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t scif__wire_get32(const uint8_t *p)
{
	return scif__wire_get16(p) | (uint32_t)scif__wire_get16(p + 2) << 16;
}

static inline void scif__wire_encode(void *buf, const struct scif_wire_hdr *h)
{
	uint8_t *p = buf;

	p[0] = h->type;
	p[1] = SCIF_WIRE_VERSION;
	scif__wire_put16(p + 2, h->credits);
	scif__wire_put32(p + 4, h->len);
	scif__wire_put16(p + 8, h->ccredits);
	scif__wire_put16(p + 10, 0);
}

/*
 * Decode and check the framing of a received message of `total` bytes
 * (header included).  Returns 0, or -EPROTO (too short, bad version, length
 * not matching).  Types and their payload bounds are checked by dispatch.
 */
static inline int scif__wire_decode(const void *buf, size_t total,
				    struct scif_wire_hdr *h)
{
	const uint8_t *p = buf;

	if (total < SCIF_WIRE_HDR_LEN)
		return -EPROTO;
	h->type = p[0];
	h->version = p[1];
	h->credits = scif__wire_get16(p + 2);
	h->len = scif__wire_get32(p + 4);
	h->ccredits = scif__wire_get16(p + 8);
	if (h->version != SCIF_WIRE_VERSION)
		return -EPROTO;
	if ((size_t)h->len != total - SCIF_WIRE_HDR_LEN)
		return -EPROTO;
	return 0;
}

/* Dispatch: one handler per type, bounds-checked. */
typedef int (*scif_wire_fn)(void *ctx, const struct scif_wire_hdr *h,
			    const void *payload);
struct scif_wire_handler {
	scif_wire_fn fn;
	uint32_t min_len, max_len;
};
int scif__wire_dispatch(const struct scif_wire_handler *table, size_t ntable,
			void *ctx, const void *buf, size_t total);

#endif
