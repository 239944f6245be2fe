/* SPDX-License-Identifier: BSD-3-Clause */
#include "wire.h"
#include "log.h"

#include <errno.h>
#include <string.h>

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
