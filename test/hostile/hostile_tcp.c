// SPDX-License-Identifier: BSD-3-Clause
/*
 * The attacks over tcp: a raw TCP client (no library on its side) that
 * says HELLO properly, waits for the victim's two WIN_ADDs, then breaks
 * the protocol one way.
 */
#include "hostile.h"
#include "../../provider/tcp/test/tcp_raw.h"

#include <poll.h>
#include <unistd.h>

static void frame(int fd, uint8_t type, const void *p, uint32_t len,
		  uint32_t claimed)
{
	if (tcp_raw_frame(fd, type, p, len, claimed))
		FAIL("attack: send");
}

static void win_add(int fd, uint64_t off, uint64_t len)
{
	unsigned char m[32];

	hostile_le(m, off, 8);
	hostile_le(m + 8, len, 8);
	hostile_le(m + 16, SCIF_PROT_READ | SCIF_PROT_WRITE, 4);
	hostile_le(m + 20, 8, 4);
	hostile_le(m + 24, 0x42544353u, 4); /* the tcp blob */
	hostile_le(m + 28, TCP_VERSION, 4);
	frame(fd, SCIF_WIRE_WIN_ADD, m, sizeof(m), sizeof(m));
}

static void rma(int fd, uint8_t type, uint64_t tag, uint64_t off,
		uint64_t len, uint32_t dlen)
{
	unsigned char m[24 + T_LEN];

	hostile_le(m, tag, 8);
	hostile_le(m + 8, off, 8);
	hostile_le(m + 16, len, 8);
	memset(m + 24, T_BYTE, dlen);
	frame(fd, type, m, 24 + dlen, 24 + dlen);
}

/* Half a READ request, then gone. */
static void a_cut(int fd)
{
	unsigned char m[10] = { 0 };

	frame(fd, TCP_READ, m, sizeof(m), 24);
}

/* A FENCE_REQ shorter than its type. */
static void a_truncated(int fd)
{
	frame(fd, SCIF_WIRE_FENCE_REQ, "abcd", 4, 4);
}

/* Stream data beyond the receive window the victim granted. */
static void a_oversized(int fd)
{
	static char big[1 << 16];

	frame(fd, SCIF_WIRE_DATA, big, sizeof(big), 64u << 20);
}

/* A control message longer than any. */
static void a_oversized_ctrl(int fd)
{
	static char big[300];

	frame(fd, SCIF_WIRE_WIN_DEL, big, sizeof(big), sizeof(big));
}

static void a_unknown(int fd)
{
	frame(fd, 99, "??", 2, 2);
}

static void a_bad_version(int fd)
{
	unsigned char h[SCIF_WIRE_HDR_LEN] = { SCIF_WIRE_DATA, 9, 0, 0, 1 };

	if (send(fd, h, sizeof(h), MSG_NOSIGNAL) != sizeof(h) ||
	    send(fd, "x", 1, MSG_NOSIGNAL) != 1)
		FAIL("attack: send");
}

/* An answer to a fence request the victim never sent. */
static void a_out_of_order(int fd)
{
	unsigned char m[8] = { 7 };

	frame(fd, SCIF_WIRE_FENCE_DONE, m, sizeof(m), sizeof(m));
}

/* The completion of an RMA the victim never posted. */
static void a_done_unasked(int fd)
{
	unsigned char m[16] = { 1 };

	frame(fd, TCP_DONE, m, sizeof(m), sizeof(m));
}

static void a_duplicate_win(int fd)
{
	win_add(fd, 0x10000, 0x1000);
	win_add(fd, 0x10000, 0x1000);
}

static void a_overlap_win(int fd)
{
	win_add(fd, 0x10000, 0x2000);
	win_add(fd, 0x11000, 0x2000);
}

static void a_overflow_win(int fd)
{
	win_add(fd, ~0ull - 0xfff, 0x2000);
}

/* Requests outside the windows and against their protection (refused,
 * not protocol errors), one legitimate write into [T_OFF, +T_LEN), then a
 * read of a length no request may have. */
static void a_rma(int fd)
{
	rma(fd, TCP_WRITE, 1, WOFF + PAGE - 8, 0, T_LEN); /* across RW end */
	rma(fd, TCP_WRITE, 2, WOFF + PAGE, 0, T_LEN);	  /* into RO */
	rma(fd, TCP_WRITE, 3, WOFF - 8, 0, T_LEN);	  /* below */
	rma(fd, TCP_READ, 4, WOFF + 2 * PAGE - 8, 16, 0); /* beyond RO */
	rma(fd, TCP_READ, 5, 0, 16, 0);			  /* no window */
	rma(fd, TCP_WRITE, 6, WOFF + T_OFF, 0, T_LEN);	  /* legitimate */
	rma(fd, TCP_WRITE, 7, WOFF + T_OFF, 1, T_LEN);	  /* flags */
	rma(fd, TCP_READ, 8, WOFF, 1ull << 40, 0);	  /* the error */
}

/* The victim sends; we never read nor acknowledge (credits never come
 * back).  Its sending thread blocks until we go. */
static void a_no_credits(int fd)
{
	unsigned char cmd[5] = { 'S' };

	hostile_le(cmd + 1, 8u << 20, 4);
	frame(fd, SCIF_WIRE_DATA, cmd, sizeof(cmd), sizeof(cmd));
	usleep(300000);
}

/* Connect, wait for both windows, attack, wait for the victim to end it
 * (when the attack breaks the protocol) or end it. */
static void run(uint16_t port, uint16_t as, const struct attack *a)
{
	unsigned char p[64];
	struct pollfd pfd;
	int fd = tcp_raw_connect(port, as);

	if (fd < 0 || tcp_raw_next(fd, SCIF_WIRE_WIN_ADD, p, sizeof(p)) < 24 ||
	    tcp_raw_next(fd, SCIF_WIRE_WIN_ADD, p, sizeof(p)) < 24)
		FAIL("attack from port %u: handshake", as);
	a->tcp(fd);
	if (a->lines) {
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		while (poll(&pfd, 1, 5000) == 1 && recv(fd, p, sizeof(p), 0) > 0)
			;
	}
	close(fd);
}

/* Read requests without end, their answers never read: the victim's queue
 * of answers would grow without bound.  Sending stops when the victim
 * ends the connection. */
static void a_flood(int fd)
{
	unsigned char m[24];
	int small = 4096, i;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	for (i = 0; i < 50000; i++) {
		hostile_le(m, 100 + i, 8);
		hostile_le(m + 8, WOFF, 8);
		hostile_le(m + 16, PAGE, 8);
		if (tcp_raw_frame(fd, TCP_READ, m, sizeof(m), sizeof(m)))
			break;
	}
}

#define ENTRY(fn, lines, write) { #fn, lines, write, a_##fn, NULL }
static const struct attack attacks[] = {
	ENTRY(cut, 0, false),
	ENTRY(truncated, 1, false),
	ENTRY(oversized, 1, false),
	ENTRY(oversized_ctrl, 1, false),
	ENTRY(unknown, 1, false),
	ENTRY(bad_version, 1, false),
	ENTRY(out_of_order, 1, false),
	ENTRY(done_unasked, 1, false),
	ENTRY(duplicate_win, 1, false),
	ENTRY(overlap_win, 1, false),
	ENTRY(overflow_win, 1, false),
	ENTRY(rma, 1, true),
	ENTRY(no_credits, 0, false),
	ENTRY(flood, 1, false),
};

const struct transport hostile_tcp = {
	.name = "tcp",
	.attacks = attacks,
	.nattacks = sizeof(attacks) / sizeof(attacks[0]),
	.run = run,
};
