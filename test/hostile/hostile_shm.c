// SPDX-License-Identifier: BSD-3-Clause
/*
 * The attacks over shm: a SCIF client that connects through the library
 * as usual (in a process of its own), then writes the control ring of its
 * direction in the shared memory by hand (the library cannot stop it: the
 * memory is its to write) and rings the victim's doorbell.
 *
 * What shm cannot defend: the peer is a process of the same user on the
 * same node, which may read and write the victim's memory anyway
 * (process_vm_writev is how shm does RMA), so window protection against a
 * hostile shm peer is the initiator's library's, not the victim's
 * (docs/deviations.md).  The rma attack here writes legitimately.
 */
#include "hostile.h"
#include "../../provider/shm/shm.h"
#include "../../provider/shm/test/shm_raw.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHM_HDR 4096 /* shm_msg.c: the shared header, then the rings */

struct shm_att {
	scif_epd_t epd;
	struct shm_shared *sh;
	char *data0, *ctrl0; /* what we produce: direction 0 */
};

/* A control frame (header claiming `claimed` bytes, version ver, then
 * len bytes of p) at our control tail, published `advance` bytes on. */
static void ctrl_frame(struct shm_att *s, uint8_t type, uint8_t ver,
		       const void *p, uint32_t len, uint32_t claimed,
		       uint32_t advance)
{
	uint32_t csize = s->sh->csize, i;
	uint64_t ct = __atomic_load_n(&s->sh->dir[0].ctail, __ATOMIC_ACQUIRE);
	unsigned char f[SCIF_WIRE_HDR_LEN + 512] = { type, ver };

	hostile_le(f + 4, claimed, 4);
	memcpy(f + SCIF_WIRE_HDR_LEN, p, len);
	for (i = 0; i < SCIF_WIRE_HDR_LEN + len; i++)
		s->ctrl0[(ct + i) & (csize - 1)] = (char)f[i];
	__atomic_store_n(&s->sh->dir[0].ctail, ct + advance, __ATOMIC_RELEASE);
}

static void ctrl(struct shm_att *s, uint8_t type, const void *p, uint32_t len)
{
	ctrl_frame(s, type, SCIF_WIRE_VERSION, p, len, len,
		   shm_pad8(SCIF_WIRE_HDR_LEN + len));
}

static void win_add(struct shm_att *s, uint64_t off, uint64_t len,
		    uint32_t magic)
{
	unsigned char m[24 + 16];

	hostile_le(m, off, 8);
	hostile_le(m + 8, len, 8);
	hostile_le(m + 16, SCIF_PROT_READ | SCIF_PROT_WRITE, 4);
	hostile_le(m + 20, 16, 4);
	hostile_le(m + 24, magic, 4); /* the shm blob */
	hostile_le(m + 28, 1, 4);
	hostile_le(m + 32, 0x10000, 8);
	ctrl(s, SCIF_WIRE_WIN_ADD, m, sizeof(m));
}

#define SHM_BLOB_OK 0x42534353u

static void a_cut(struct shm_att *s)
{
	ctrl_frame(s, SCIF_WIRE_FENCE_REQ, SCIF_WIRE_VERSION, "", 0, 8, 4);
}

static void a_truncated(struct shm_att *s)
{
	ctrl(s, SCIF_WIRE_FENCE_REQ, "abcd", 4);
}

static void a_oversized(struct shm_att *s)
{
	ctrl_frame(s, SCIF_WIRE_WIN_DEL, SCIF_WIRE_VERSION, "", 0, 0x7fffffff,
		   16);
}

static void a_oversized_stream(struct shm_att *s)
{
	struct shm_dir *d = &s->sh->dir[0];

	__atomic_store_n(&d->tail, d->tail + s->sh->dsize + 1,
			 __ATOMIC_RELEASE);
}

static void a_unknown(struct shm_att *s)
{
	ctrl(s, 60, "??", 2);
}

static void a_bad_version(struct shm_att *s)
{
	ctrl_frame(s, SCIF_WIRE_FENCE_REQ, 9, "\1\0\0\0\0\0\0\0", 8, 8, 24);
}

static void a_out_of_order(struct shm_att *s)
{
	ctrl(s, SCIF_WIRE_WIN_SYNC_DONE, "\7\0\0\0\0\0\0\0", 8);
}

static void a_duplicate_win(struct shm_att *s)
{
	win_add(s, 0x10000, 0x1000, SHM_BLOB_OK);
	win_add(s, 0x10000, 0x1000, SHM_BLOB_OK);
}

static void a_overlap_win(struct shm_att *s)
{
	win_add(s, 0x10000, 0x2000, SHM_BLOB_OK);
	win_add(s, 0x11000, 0x2000, SHM_BLOB_OK);
}

static void a_overflow_win(struct shm_att *s)
{
	win_add(s, ~0ull - 0xfff, 0x2000, SHM_BLOB_OK);
}

static void a_bad_blob(struct shm_att *s)
{
	win_add(s, 0x10000, 0x1000, 0xdeadbeef);
}

/* A legitimate write through the library, then an unknown message. */
static void a_rma(struct shm_att *s)
{
	static char src[PAGE] __attribute__((aligned(PAGE)));
	off_t lw;

	memset(src, T_BYTE, sizeof(src));
	lw = scif_register(s->epd, src, PAGE, 0, SCIF_PROT_READ, 0);
	if (lw < 0 || scif_writeto(s->epd, lw, T_LEN, (off_t)(WOFF + T_OFF),
				   SCIF_RMA_SYNC))
		FAIL("attack: rma");
	a_unknown(s);
}

/* Ask for more than the ring holds and never read: the victim's sender
 * waits for room that never comes, until we go. */
static void a_no_credits(struct shm_att *s)
{
	unsigned char cmd[5] = { 'S' };

	hostile_le(cmd + 1, 8u << 20, 4);
	if (scif_send(s->epd, cmd, 5, SCIF_SEND_BLOCK) != 5)
		FAIL("attack: send");
	usleep(300000);
}

/* Fence requests without end, their answers never taken: our library is
 * never rung (we keep it unarmed), so the victim's control ring fills and
 * its outbox would grow without bound. */
static void a_flood(struct shm_att *s)
{
	struct shm_dir *d0 = &s->sh->dir[0];
	uint32_t per = s->sh->csize / 24, i; /* FENCE_REQ: 24 bytes */
	struct pollfd pfd = { .fd = s->epd };
	int batch, wait;

	/* Our library may still be finishing the go byte's wake-up, at whose
	 * end it arms itself: a ring then would have it read the answers
	 * (and end the connection over answers to requests it never sent)
	 * before the victim's outbox fills.  Wait until it stays unarmed. */
	for (wait = 0; wait < 100; wait++) {
		__atomic_store_n(&s->sh->dir[1].rx_armed, 0, __ATOMIC_SEQ_CST);
		usleep(20000);
		if (!__atomic_load_n(&s->sh->dir[1].rx_armed, __ATOMIC_SEQ_CST))
			break;
	}
	for (batch = 0; batch < 32; batch++) {
		__atomic_store_n(&s->sh->dir[1].rx_armed, 0, __ATOMIC_SEQ_CST);
		for (i = 0; i < per; i++)
			ctrl(s, SCIF_WIRE_FENCE_REQ, "\1\0\0\0\0\0\0\0", 8);
		shm_raw_ring_all();
		/* until the victim took them all, or hung up */
		for (wait = 0; wait < 2000; wait++) {
			if (__atomic_load_n(&d0->chead, __ATOMIC_ACQUIRE) ==
			    d0->ctail)
				break;
			if (poll(&pfd, 1, 1) == 1)
				return;
		}
	}
}

static int attack(uint16_t port, uint16_t as, const struct attack *a)
{
	struct scif_portID dst = { .node = 0, .port = port };
	/* no events: our own ring() made the descriptor readable */
	struct pollfd pfd = { .events = 0 };
	struct shm_att s = { .epd = scif_open() };
	char *map, g;
	size_t len;
	int i;

	if (s.epd < 0 || scif_bind(s.epd, as) != as)
		FAIL("attack: bind");
	for (i = 0; scif_connect(s.epd, &dst) < 0; i++) {
		if (i == 50)
			FAIL("attack: connect");
		usleep(100000);
	}
	/* the victim's windows are announced before its go byte */
	if (scif_recv(s.epd, &g, 1, SCIF_RECV_BLOCK) != 1)
		FAIL("attack: go byte");
	map = shm_raw_find_rings(&len);
	s.sh = (struct shm_shared *)(void *)map;
	s.data0 = map + SHM_HDR;
	s.ctrl0 = s.data0 + s.sh->dsize;
	a->shm(&s);
	shm_raw_ring_all();
	if (a->lines) {
		/* the victim hangs up; we read nothing meanwhile (a read
		 * would publish our own sane positions) */
		pfd.fd = s.epd;
		if (poll(&pfd, 1, 5000) != 1 ||
		    !(pfd.revents & (POLLHUP | POLLERR)))
			FAIL("attack %s: the victim did not hang up", a->name);
	}
	scif_close(s.epd);
	return 0;
}

/* Each attack in a process of its own: its mapping and sockets are the
 * attacked connection's only. */
static void run(uint16_t port, uint16_t as, const struct attack *a)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(attack(port, as, a));
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st))
		FAIL("attack %s ended badly", a->name);
}

#define ENTRY(fn, lines, write) { #fn, lines, write, NULL, a_##fn }
static const struct attack attacks[] = {
	ENTRY(cut, 1, false),
	ENTRY(truncated, 1, false),
	ENTRY(oversized, 1, false),
	ENTRY(oversized_stream, 1, false),
	ENTRY(unknown, 1, false),
	ENTRY(bad_version, 1, false),
	ENTRY(out_of_order, 1, false),
	ENTRY(duplicate_win, 1, false),
	ENTRY(overlap_win, 1, false),
	ENTRY(overflow_win, 1, false),
	ENTRY(bad_blob, 1, false),
	ENTRY(rma, 1, true),
	ENTRY(no_credits, 0, false),
	ENTRY(flood, 1, false),
};

const struct transport hostile_shm = {
	.name = "shm",
	.attacks = attacks,
	.nattacks = sizeof(attacks) / sizeof(attacks[0]),
	.go_byte = true,
	.run = run,
};
