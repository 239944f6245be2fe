/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the cluster tests: checks that name what failed, data
 * patterns that make every byte verifiable, connect-with-retry.
 */
#ifndef SCIF_TC_H
#define SCIF_TC_H

#include <errno.h>
#include <scif.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TC_FAIL(...)                                                         \
	do {                                                                 \
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);        \
		fprintf(stderr, __VA_ARGS__);                                \
		fprintf(stderr, " (errno %d %s)\n", errno, strerror(errno)); \
		exit(1);                                                     \
	} while (0)

#define TC_CHECK(cond, ...)                                                  \
	do {                                                                 \
		if (!(cond))                                                 \
			TC_FAIL(__VA_ARGS__);                                \
	} while (0)

/* Expect a call to fail with -1 and a given errno. */
#define TC_ERRNO(call, want)                                                 \
	do {                                                                 \
		long _r;                                                     \
		errno = 0;                                                   \
		_r = (long)(call);                                           \
		TC_CHECK(_r == -1 && errno == (want),                        \
			 "%s: want -1/%s, got %ld/%s", #call, strerror(want), \
			 _r, strerror(errno));                               \
	} while (0)

static inline double tc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Byte at stream position pos of stream seed: position-dependent so that a
 * lost, duplicated or reordered byte is caught. */
static inline uint8_t tc_pat(uint64_t seed, uint64_t pos)
{
	uint64_t x = (pos + 1) * 0x9e3779b97f4a7c15ull ^ seed;

	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 8) ^ (pos >> 16));
}

static inline void tc_fill(uint8_t *buf, size_t len, uint64_t seed,
			   uint64_t pos)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = tc_pat(seed, pos + i);
}

/* Index of the first wrong byte, or -1. */
static inline long tc_verify(const uint8_t *buf, size_t len, uint64_t seed,
			     uint64_t pos)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != tc_pat(seed, pos + i))
			return (long)i;
	return -1;
}

/* Connect, retrying while the server is not listening yet. */
static inline scif_epd_t tc_connect(uint16_t node, uint16_t port,
				    double timeout_s)
{
	struct scif_portID dst = { .node = node, .port = port };
	double end = tc_now() + timeout_s;

	for (;;) {
		scif_epd_t epd = scif_open();

		TC_CHECK(epd >= 0, "scif_open");
		if (scif_connect(epd, &dst) >= 0)
			return epd;
		TC_CHECK(errno == ECONNREFUSED && tc_now() < end,
			 "connect to %u:%u", node, port);
		scif_close(epd);
		usleep(100000);
	}
}

static inline scif_epd_t tc_listen(uint16_t port, int backlog)
{
	scif_epd_t epd = scif_open();

	TC_CHECK(epd >= 0, "scif_open");
	TC_CHECK(scif_bind(epd, port) == port, "bind %u", port);
	TC_CHECK(scif_listen(epd, backlog) == 0, "listen");
	return epd;
}

static inline void tc_send_all(scif_epd_t epd, const void *buf, int len)
{
	int n = scif_send(epd, (void *)buf, len, SCIF_SEND_BLOCK);

	TC_CHECK(n == len, "send %d returned %d", len, n);
}

static inline void tc_recv_all(scif_epd_t epd, void *buf, int len)
{
	int n = scif_recv(epd, buf, len, SCIF_RECV_BLOCK);

	TC_CHECK(n == len, "recv %d returned %d", len, n);
}

/* main() of a two-role test: "server PORT" or "client NODE PORT". */
static inline int tc_main(int argc, char **argv, int (*server)(uint16_t),
			  int (*client)(uint16_t, uint16_t))
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 3 && !strcmp(argv[1], "server"))
		return server((uint16_t)atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client((uint16_t)atoi(argv[2]), (uint16_t)atoi(argv[3]));
	fprintf(stderr, "usage: %s server PORT | client NODE PORT\n", argv[0]);
	return 2;
}

#endif
