/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by scif_bw and scif_lat: clock, size parsing, connection
 * set-up with retry, checked stream I/O, data patterns, progress lines.
 *
 * Every helper that talks to SCIF exits the process with a message naming
 * the call and errno when it fails: a benchmark has nothing to recover.
 */
#ifndef SCIF_PERF_UTIL_H
#define SCIF_PERF_UTIL_H

#include <scif.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* perftest reports "MB/sec" with MB = 2^20 bytes (its format_factor for
 * the default MBS report is 0x100000); we use the same unit so the columns
 * of ib_write_bw and scif_bw compare directly. */
#define PERF_MB 1048576.0

extern const char *perf_prog; /* program name for messages */

double perf_now(void); /* CLOCK_MONOTONIC, seconds */

/* The CPU's cycle counter, as perftest's get_cycles(): rdtsc on x86-64,
 * cntvct_el0 on aarch64.  A read costs a few instructions where
 * clock_gettime can be a system call (an emulated HPET in a VM).  Its rate
 * is measured against CLOCK_MONOTONIC by the caller, over the whole run. */
int perf_cycles_have(void);     /* 1 if this build can read one */
int perf_cycles_constant(void); /* 1 if the CPU says its rate is fixed */
uint64_t perf_cycles(void);     /* 0 where perf_cycles_have() is 0 */

/* Print "prog: <what>: <strerror(errno)>" and exit(1). */
void perf_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Print "prog: <what>" (no errno) and exit(1). */
void perf_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* "65536", "64K", "64k", "1M", "2G" (binary multiples). -1 on error. */
long long perf_parse_size(const char *s);
/* Whole non-negative number, -1 on error. */
long long perf_parse_num(const char *s);

/* Listen on port (backlog 2). */
scif_epd_t perf_listen(uint16_t port);
/* Accept one connection (SCIF_ACCEPT_SYNC). */
scif_epd_t perf_accept(scif_epd_t lep, struct scif_portID *peer);
/* Connect to node:port, retrying ECONNREFUSED (server not listening yet)
 * every 100 ms for up to timeout_s seconds. */
scif_epd_t perf_connect(uint16_t node, uint16_t port, double timeout_s);

/* Blocking send/recv of exactly len bytes, or exit. */
void perf_send(scif_epd_t epd, const void *buf, size_t len);
void perf_recv(scif_epd_t epd, void *buf, size_t len);

/* Page-aligned, zeroed memory (mmap), or exit. */
void *perf_alloc(size_t len);
void *perf_alloc_shared(size_t len);
void perf_free(void *p, size_t len);

/* Position-dependent byte pattern: a lost or misplaced byte shows. */
static inline uint8_t perf_pat(uint64_t seed, uint64_t pos)
{
	uint64_t x = (pos + 1) * 0x9e3779b97f4a7c15ull ^ seed;

	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 8) ^ (pos >> 16));
}
void perf_fill(uint8_t *buf, size_t len, uint64_t seed, uint64_t pos);
/* Index of the first wrong byte, or -1. */
long perf_check(const uint8_t *buf, size_t len, uint64_t seed, uint64_t pos);

/* Progress line to stderr at most every PERF_PROGRESS_S seconds. */
#define PERF_PROGRESS_S 5.0
struct perf_progress {
	double next;
	int enabled;
};
void perf_progress_start(struct perf_progress *p, int enabled);
void perf_progress_tick(struct perf_progress *p, uint64_t size, uint64_t done,
			uint64_t total, double duration);
/* The same with the time already read (perf_now()). */
void perf_progress_at(struct perf_progress *p, double t, uint64_t size,
		      uint64_t done, uint64_t total, double duration);

/* Sizes 2^lo .. 2^hi, or the single size; returns the count. */
int perf_sizes(uint64_t *out, int max, int all, int lo, int hi,
	       uint64_t size);

#endif
