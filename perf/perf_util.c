/* SPDX-License-Identifier: BSD-3-Clause */
#include "perf_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

const char *perf_prog = "perf";

double perf_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int perf_cycles_have(void)
{
#if defined(__x86_64__) || defined(__aarch64__)
	return 1;
#else
	return 0;
#endif
}

uint64_t perf_cycles(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
#elif defined(__aarch64__)
	uint64_t v;

	__asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v));
	return v;
#else
	return 0;
#endif
}

/* x86: the kernel lists constant_tsc when the counter ticks at one rate
 * whatever the CPU's frequency; the generic timer of aarch64 always does. */
int perf_cycles_constant(void)
{
#if defined(__x86_64__)
	char line[4096];
	FILE *f = fopen("/proc/cpuinfo", "r");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags", 5) && strstr(line, " constant_tsc"))
			found = 1;
	fclose(f);
	return found;
#else
	return perf_cycles_have();
#endif
}

void perf_die(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	fprintf(stderr, "%s: ", perf_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(e));
	exit(1);
}

void perf_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", perf_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

long long perf_parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		v <<= 10, end++;
		break;
	case 'm': case 'M':
		v <<= 20, end++;
		break;
	case 'g': case 'G':
		v <<= 30, end++;
		break;
	default:
		return -1;
	}
	/* allow "64KB", "64KiB" */
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v > (1ull << 40))
		return -1;
	return (long long)v;
}

long long perf_parse_num(const char *s)
{
	char *end;
	long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	return v;
}

scif_epd_t perf_listen(uint16_t port)
{
	scif_epd_t epd = scif_open();

	if (epd == SCIF_OPEN_FAILED)
		perf_die("scif_open");
	if (scif_bind(epd, port) < 0)
		perf_die("scif_bind(port %u)", port);
	if (scif_listen(epd, 2) < 0)
		perf_die("scif_listen(port %u)", port);
	return epd;
}

scif_epd_t perf_accept(scif_epd_t lep, struct scif_portID *peer)
{
	struct scif_portID p;
	scif_epd_t epd;

	if (scif_accept(lep, peer ? peer : &p, &epd, SCIF_ACCEPT_SYNC) < 0)
		perf_die("scif_accept");
	return epd;
}

scif_epd_t perf_connect(uint16_t node, uint16_t port, double timeout_s)
{
	struct scif_portID dst = { .node = node, .port = port };
	double end = perf_now() + timeout_s;

	for (;;) {
		scif_epd_t epd = scif_open();

		if (epd == SCIF_OPEN_FAILED)
			perf_die("scif_open");
		if (scif_connect(epd, &dst) >= 0)
			return epd;
		if (errno != ECONNREFUSED || perf_now() > end)
			perf_die("scif_connect(node %u, port %u)", node, port);
		scif_close(epd);
		usleep(100000);
	}
}

void perf_send(scif_epd_t epd, const void *buf, size_t len)
{
	int n = scif_send(epd, (void *)buf, (int)len, SCIF_SEND_BLOCK);

	if (n < 0)
		perf_die("scif_send(%zu bytes)", len);
	if ((size_t)n != len)
		perf_fail("scif_send: %d of %zu bytes sent (peer gone?)", n, len);
}

void perf_recv(scif_epd_t epd, void *buf, size_t len)
{
	int n = scif_recv(epd, buf, (int)len, SCIF_RECV_BLOCK);

	if (n < 0)
		perf_die("scif_recv(%zu bytes)", len);
	if ((size_t)n != len)
		perf_fail("scif_recv: %d of %zu bytes received (peer gone?)", n,
			  len);
}

void *perf_alloc(size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	void *p;

	len = (len + pg - 1) / pg * pg;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		perf_die("mmap(%zu bytes)", len);
	return p;
}

/* The same in shared anonymous memory (a shmem file: scif_mmap's direct
 * path can map it in the peer). */
void *perf_alloc_shared(size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	void *p;

	len = (len + pg - 1) / pg * pg;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		perf_die("mmap(%zu bytes, shared)", len);
	return p;
}

void perf_free(void *p, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	if (p)
		munmap(p, (len + pg - 1) / pg * pg);
}

void perf_fill(uint8_t *buf, size_t len, uint64_t seed, uint64_t pos)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = perf_pat(seed, pos + i);
}

long perf_check(const uint8_t *buf, size_t len, uint64_t seed, uint64_t pos)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != perf_pat(seed, pos + i))
			return (long)i;
	return -1;
}

void perf_progress_start(struct perf_progress *p, int enabled)
{
	p->enabled = enabled;
	p->next = perf_now() + PERF_PROGRESS_S;
}

void perf_progress_tick(struct perf_progress *p, uint64_t size, uint64_t done,
			uint64_t total, double duration)
{
	if (p->enabled)
		perf_progress_at(p, perf_now(), size, done, total, duration);
}

void perf_progress_at(struct perf_progress *p, double t, uint64_t size,
		      uint64_t done, uint64_t total, double duration)
{
	if (!p->enabled)
		return;
	if (t < p->next)
		return;
	p->next = t + PERF_PROGRESS_S;
	if (duration > 0)
		fprintf(stderr, "%s: size %llu: %llu iterations so far (-D %.0f s)\n",
			perf_prog, (unsigned long long)size,
			(unsigned long long)done, duration);
	else
		fprintf(stderr, "%s: size %llu: %llu/%llu iterations\n",
			perf_prog, (unsigned long long)size,
			(unsigned long long)done, (unsigned long long)total);
}

int perf_sizes(uint64_t *out, int max, int all, int lo, int hi,
	       uint64_t size)
{
	int n = 0, e;

	if (!all) {
		out[0] = size;
		return 1;
	}
	for (e = lo; e <= hi && n < max; e++)
		out[n++] = 1ull << e;
	return n;
}
