/* SPDX-License-Identifier: BSD-3-Clause */
#include "wire.h"
#include "log.h"

#include <errno.h>
#include <string.h>

static SCIF_HOT void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static SCIF_HOT void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static SCIF_HOT uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static SCIF_HOT uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

SCIF_HOT void scif__wire_encode(void *buf, const struct scif_wire_hdr *h)
{
	uint8_t *p = buf;

	p[0] = h->type;
	p[1] = SCIF_WIRE_VERSION;
	put16(p + 2, h->credits);
	put32(p + 4, h->len);
	put16(p + 8, h->ccredits);
	put16(p + 10, 0);
}

SCIF_HOT int scif__wire_decode(const void *buf, size_t total,
			       struct scif_wire_hdr *h)
{
	const uint8_t *p = buf;

	if (total < SCIF_WIRE_HDR_LEN)
		return -EPROTO;
	h->type = p[0];
	h->version = p[1];
	h->credits = get16(p + 2);
	h->len = get32(p + 4);
	h->ccredits = get16(p + 8);
	if (h->version != SCIF_WIRE_VERSION)
		return -EPROTO;
	if ((size_t)h->len != total - SCIF_WIRE_HDR_LEN)
		return -EPROTO;
	return 0;
}

SCIF_HOT int scif__wire_dispatch(const struct scif_wire_handler *table,
				 size_t ntable, void *ctx, const void *buf,
				 size_t total)
{
	struct scif_wire_hdr h;
	const struct scif_wire_handler *e;

	if (scif__wire_decode(buf, total, &h)) {
		scif_err("malformed message of %zu bytes dropped", total);
		return -EPROTO;
	}
	if (h.type >= ntable || !table[h.type].fn) {
		scif_err("message of unknown type %u dropped", h.type);
		return -EPROTO;
	}
	e = &table[h.type];
	if (h.len < e->min_len || h.len > e->max_len) {
		scif_err("message type %u with bad length %u dropped", h.type,
			 h.len);
		return -EPROTO;
	}
	return e->fn(ctx, &h, (const uint8_t *)buf + SCIF_WIRE_HDR_LEN);
}
