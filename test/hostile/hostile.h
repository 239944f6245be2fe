/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile peers (issue 18): what hostile.c (the victim, the good client,
 * the verdict) shares with the attacks of each transport.
 */
#ifndef SCIF_HOSTILE_H
#define SCIF_HOSTILE_H

#include "wire.h"
#include <scif.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096
#define WOFF 0x100000ull /* the victim's RW window; its RO window follows */
#define T_OFF 0x100	 /* the range of the RW window an attack may write */
#define T_LEN 16
#define T_BYTE 0xee	 /* ... with these bytes */
/* SCIF ports, from the victim's (PORT): the good client's, and attack i's
 * (distinct per test, so that tests can run at once) */
#define GOOD_PORT(port) ((uint16_t)((port) + 1))
#define ATTACK_PORT(port, i) ((uint16_t)((port) + 2 + (i)))

#define FAIL(...)                                                            \
	do {                                                                 \
		fprintf(stderr, "hostile: FAILED line %d: ", __LINE__);      \
		fprintf(stderr, __VA_ARGS__);                                \
		fprintf(stderr, " (%s)\n", strerror(errno));                 \
		exit(1);                                                     \
	} while (0)

struct shm_att;

struct attack {
	const char *name;
	int lines;  /* protocol errors the victim logs for it (one line each) */
	bool write; /* writes T_BYTE into [T_OFF, +T_LEN) legitimately */
	/* the attack itself, on a connection of the transport's */
	void (*tcp)(int fd);
	void (*shm)(struct shm_att *s);
};

struct transport {
	const char *name;
	const struct attack *attacks;
	int nattacks;
	/* the victim says 'g' once its windows are registered */
	bool go_byte;
	/* Connect from SCIF port `as` to the victim at port, attack, and
	 * return once the victim ended the connection (or it was ours to
	 * end). */
	void (*run)(uint16_t port, uint16_t as, const struct attack *a);
};

extern const struct transport hostile_tcp, hostile_shm;

/* Little-endian store. */
static inline void hostile_le(void *p, uint64_t v, int bytes)
{
	int i;

	for (i = 0; i < bytes; i++)
		((unsigned char *)p)[i] = (unsigned char)(v >> (8 * i));
}

#endif
