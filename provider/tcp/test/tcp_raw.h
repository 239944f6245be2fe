/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A raw client of the tcp provider for tests that speak its protocol by
 * hand (tcp_target.c, test/hostile): no library on our side.
 */
#ifndef SCIF_TCP_RAW_H
#define SCIF_TCP_RAW_H

#include "../tcp.h"

/* Connect to 127.0.0.1:port (retrying a few seconds) and introduce us as
 * SCIF node 0 port `as` wanting `port`; -1 when refused or the answer is
 * not an ACCEPT.  The socket, after the ACCEPT. */
int tcp_raw_connect(uint16_t port, uint16_t as);
/* Read exactly len bytes: 0, or -1 at the end of the connection. */
int tcp_raw_read(int fd, void *buf, size_t len);
/* Skip frames until one of type want; its payload (up to cap bytes) in
 * buf; its length, or -1. */
int tcp_raw_next(int fd, uint8_t want, unsigned char *buf, size_t cap);
/* A frame's header claiming `claimed` payload bytes, then len bytes of p:
 * 0 or -1. */
int tcp_raw_frame(int fd, uint8_t type, const void *p, uint32_t len,
		  uint32_t claimed);

#endif
