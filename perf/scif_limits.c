/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scif_limits: SCIF at its limits (issue 18), one case per run, the server
 * a forked child of the client (same node: shm, or whatever SCIF_PROVIDER
 * and the node map choose):
 *   windows N   N one-page windows on one endpoint, on each side: time per
 *               scif_register, per small scif_writeto / scif_readfrom to a
 *               window picked across all of them (the lookup of both the
 *               local and the peer's window), per scif_unregister
 *   endpoints N N connected endpoints in one process: VmRSS and open
 *               descriptors before and after, on both sides
 *   msg SIZE    scif_send / scif_recv of SIZE bytes each way
 *   rma SIZE    one scif_writeto and one scif_readfrom of SIZE bytes
 * Every byte moved is checked; a wrong one fails the run (exit 1).
 */
#include "perf_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096u
#define PROBE 64u /* bytes of a small RMA */

struct opts {
	const char *mode;
	uint64_t n;
	uint16_t port;
	uint64_t iters; /* small RMAs timed per direction */
};

/* ---- process measurements ---- */

static long vmrss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		perf_die("/proc/self/status");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = -1; /* the directory's own descriptor */

	if (!d)
		perf_die("/proc/self/fd");
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2; /* . and .. */
}

/* Soft descriptor limit up to what n endpoints need, raising the hard
 * limit where allowed (root). */
static void raise_nofile(uint64_t n)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)(n * 4 + 256);

	if (getrlimit(RLIMIT_NOFILE, &rl))
		perf_die("getrlimit");
	if (rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want) {
		struct rlimit up = { want, want };

		if (!setrlimit(RLIMIT_NOFILE, &up))
			return;
		fprintf(stderr, "scif_limits: hard RLIMIT_NOFILE %llu < %llu\n",
			(unsigned long long)rl.rlim_max,
			(unsigned long long)want);
	}
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		perf_die("setrlimit");
}

static scif_epd_t listen_on(uint16_t port, int backlog)
{
	scif_epd_t lep = scif_open();

	if (lep < 0)
		perf_die("scif_open");
	if (scif_bind(lep, port) < 0)
		perf_die("scif_bind %u", port);
	if (scif_listen(lep, backlog) < 0)
		perf_die("scif_listen");
	return lep;
}

/* ---- endpoints ---- */

static void ep_server(const struct opts *o)
{
	scif_epd_t *ep = calloc(o->n, sizeof(*ep));
	long rss0 = vmrss_kib(), fd0 = open_fds(), rss1, fd1;
	scif_epd_t lep = listen_on(o->port, 128);
	struct scif_portID peer;

	if (!ep)
		perf_fail("out of memory");
	for (uint64_t i = 0; i < o->n; i++)
		ep[i] = perf_accept(lep, &peer);
	rss1 = vmrss_kib();
	fd1 = open_fds();
	for (uint64_t i = 0; i < o->n; i++) { /* echo each endpoint's index */
		uint64_t v;

		perf_recv(ep[i], &v, sizeof(v));
		v = ~v;
		perf_send(ep[i], &v, sizeof(v));
	}
	for (uint64_t i = 0; i < o->n; i++)
		scif_close(ep[i]);
	scif_close(lep);
	printf("endpoints %llu accept: RSS %+ld KiB (%.1f KiB each), "
	       "descriptors %+ld (%.2f each)\n",
	       (unsigned long long)o->n, rss1 - rss0,
	       (double)(rss1 - rss0) / (double)o->n, fd1 - fd0,
	       (double)(fd1 - fd0) / (double)o->n);
	free(ep);
}

static void ep_client(const struct opts *o)
{
	scif_epd_t *ep = calloc(o->n, sizeof(*ep));
	long rss0, fd0, rss1, fd1;
	double t0, t1;

	if (!ep)
		perf_fail("out of memory");
	scif_close(scif_open()); /* the library's own setup first */
	rss0 = vmrss_kib();
	fd0 = open_fds();
	t0 = perf_now();
	for (uint64_t i = 0; i < o->n; i++)
		ep[i] = perf_connect(0, o->port, 10);
	t1 = perf_now();
	rss1 = vmrss_kib();
	fd1 = open_fds();
	for (uint64_t i = 0; i < o->n; i++)
		perf_send(ep[i], &i, sizeof(i));
	for (uint64_t i = 0; i < o->n; i++) {
		uint64_t v;

		perf_recv(ep[i], &v, sizeof(v));
		if (v != ~i)
			perf_fail("endpoint %llu answered %llx",
				  (unsigned long long)i, (unsigned long long)v);
	}
	printf("endpoints %llu connect: %.1f us each, RSS %+ld KiB "
	       "(%.1f KiB each), descriptors %+ld (%.2f each)\n",
	       (unsigned long long)o->n, (t1 - t0) * 1e6 / (double)o->n,
	       rss1 - rss0, (double)(rss1 - rss0) / (double)o->n, fd1 - fd0,
	       (double)(fd1 - fd0) / (double)o->n);
	for (uint64_t i = 0; i < o->n; i++)
		scif_close(ep[i]);
	free(ep);
}

/* ---- windows ---- */

/* Register n one-page windows of buf at chosen offsets (they must come out
 * contiguous, lowest first); returns seconds per call, *base the first. */
static double reg_all(scif_epd_t epd, uint8_t *buf, uint64_t n, off_t *base)
{
	double t0;

	/* faulted in first: the RMAs time the lookup and the copy, not the
	 * first touch of each page */
	memset(buf, 0xff, n * PG);
	t0 = perf_now();

	for (uint64_t i = 0; i < n; i++) {
		off_t off = scif_register(epd, buf + i * PG, PG, 0,
					  SCIF_PROT_READ | SCIF_PROT_WRITE, 0);

		if (off < 0)
			perf_die("scif_register %llu", (unsigned long long)i);
		if (!i)
			*base = off;
		else if (off != *base + (off_t)(i * PG))
			perf_fail("window %llu at 0x%llx", (unsigned long long)i,
				  (unsigned long long)off);
	}
	return (perf_now() - t0) / (double)n;
}

static double unreg_all(scif_epd_t epd, uint64_t n, off_t base)
{
	double t0 = perf_now();

	for (uint64_t i = 0; i < n; i++)
		if (scif_unregister(epd, base + (off_t)(i * PG), PG))
			perf_die("scif_unregister %llu",
				 (unsigned long long)i);
	return (perf_now() - t0) / (double)n;
}

static void fence(scif_epd_t epd)
{
	int mark;

	if (scif_fence_mark(epd, SCIF_FENCE_INIT_SELF, &mark) ||
	    scif_fence_wait(epd, mark))
		perf_die("fence");
}

/* Window i of the i-th small RMA: a stride prime to n visits them all. */
static uint64_t pick(uint64_t i, uint64_t n)
{
	return (i * 7919u) % n;
}

static void win_server(const struct opts *o)
{
	scif_epd_t lep = listen_on(o->port, 2);
	struct scif_portID peer;
	scif_epd_t epd = perf_accept(lep, &peer);
	uint8_t *buf = perf_alloc(o->n * PG);
	off_t base;
	double reg = reg_all(epd, buf, o->n, &base);
	uint8_t done;

	perf_send(epd, &base, sizeof(base));
	perf_recv(epd, &done, 1); /* the client wrote and fenced */
	for (uint64_t i = 0; i < o->n; i++)
		if (perf_check(buf + i * PG, PROBE, i, 0) >= 0)
			perf_fail("window %llu: wrong byte",
				  (unsigned long long)i);
	perf_send(epd, &done, 1); /* the client may read them now */
	perf_recv(epd, &done, 1);
	printf("windows %llu server: register %.2f us, unregister %.2f us\n",
	       (unsigned long long)o->n, reg * 1e6,
	       unreg_all(epd, o->n, base) * 1e6);
	perf_send(epd, &done, 1);
	scif_close(epd);
	scif_close(lep);
	perf_free(buf, o->n * PG);
}

/* Time iters small RMAs (write: ours to the peer's, else back) over n
 * windows on each side; seconds per call. */
static double small_rmas(scif_epd_t epd, const struct opts *o, off_t lbase,
			 off_t rbase, int write)
{
	double t0 = perf_now();

	for (uint64_t i = 0; i < o->iters; i++) {
		uint64_t w = pick(i, o->n);
		off_t l = lbase + (off_t)(w * PG), r = rbase + (off_t)(w * PG);
		int ret = write ? scif_writeto(epd, l, PROBE, r, 0) :
				  scif_readfrom(epd, l + PROBE, PROBE, r, 0);

		if (ret)
			perf_die("%s %llu", write ? "scif_writeto" :
						    "scif_readfrom",
				 (unsigned long long)i);
	}
	fence(epd);
	return (perf_now() - t0) / (double)o->iters;
}

static void win_client(const struct opts *o)
{
	scif_epd_t epd = perf_connect(0, o->port, 10);
	uint8_t *buf = perf_alloc(o->n * PG);
	off_t lbase, rbase;
	double reg = reg_all(epd, buf, o->n, &lbase), wr, rd, unreg;
	uint8_t done = 1;

	for (uint64_t i = 0; i < o->n; i++)
		perf_fill(buf + i * PG, PROBE, i, 0);
	perf_recv(epd, &rbase, sizeof(rbase));
	wr = small_rmas(epd, o, lbase, rbase, 1);
	perf_send(epd, &done, 1);
	perf_recv(epd, &done, 1);
	rd = small_rmas(epd, o, lbase, rbase, 0);
	for (uint64_t i = 0; i < o->n; i++)
		if (perf_check(buf + i * PG + PROBE, PROBE, i, 0) >= 0)
			perf_fail("read back from window %llu: wrong byte",
				  (unsigned long long)i);
	unreg = unreg_all(epd, o->n, lbase);
	perf_send(epd, &done, 1);
	perf_recv(epd, &done, 1);
	printf("windows %llu client: register %.2f us, writeto(%u) %.2f us, "
	       "readfrom(%u) %.2f us, unregister %.2f us\n",
	       (unsigned long long)o->n, reg * 1e6, PROBE, wr * 1e6, PROBE,
	       rd * 1e6, unreg * 1e6);
	scif_close(epd);
	perf_free(buf, o->n * PG);
}

/* ---- large messages and RMAs ---- */

static void check_all(const uint8_t *buf, uint64_t len, uint64_t seed,
		      const char *what)
{
	long bad = perf_check(buf, len, seed, 0);

	if (bad >= 0)
		perf_fail("%s: wrong byte at %ld", what, bad);
}

static void msg_side(const struct opts *o, int server)
{
	scif_epd_t lep = server ? listen_on(o->port, 2) : -1;
	struct scif_portID peer;
	scif_epd_t epd = server ? perf_accept(lep, &peer) :
				  perf_connect(0, o->port, 10);
	uint8_t *buf = perf_alloc(o->n);
	double t0, t1, t2;

	if (!server)
		perf_fill(buf, o->n, 1, 0);
	t0 = perf_now();
	if (server)
		perf_recv(epd, buf, o->n);
	else
		perf_send(epd, buf, o->n);
	t1 = perf_now();
	if (server) {
		check_all(buf, o->n, 1, "message received");
		perf_fill(buf, o->n, 2, 0);
		perf_send(epd, buf, o->n);
	} else {
		memset(buf, 0, o->n);
		t1 = perf_now();
		perf_recv(epd, buf, o->n);
		t2 = perf_now();
		check_all(buf, o->n, 2, "message returned");
		printf("msg %llu: send %.1f ms (%.0f MB/s), returned in "
		       "%.1f ms, every byte checked\n",
		       (unsigned long long)o->n, (t1 - t0) * 1e3,
		       (double)o->n / PERF_MB / (t1 - t0), (t2 - t1) * 1e3);
	}
	scif_close(epd);
	if (server)
		scif_close(lep);
	perf_free(buf, o->n);
}

static void rma_server(const struct opts *o)
{
	scif_epd_t lep = listen_on(o->port, 2);
	struct scif_portID peer;
	scif_epd_t epd = perf_accept(lep, &peer);
	uint8_t *buf = perf_alloc(o->n), done;
	off_t off;

	/* faulted in now: the transfer is timed, not the first touch */
	memset(buf, 0xff, o->n);
	off = scif_register(epd, buf, o->n, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			    0);
	if (off < 0)
		perf_die("scif_register %llu", (unsigned long long)o->n);
	perf_send(epd, &off, sizeof(off));
	perf_recv(epd, &done, 1); /* written */
	check_all(buf, o->n, 3, "window written");
	perf_fill(buf, o->n, 4, 0);
	perf_send(epd, &done, 1);
	perf_recv(epd, &done, 1); /* read */
	scif_close(epd);
	scif_close(lep);
	perf_free(buf, o->n);
}

static void rma_client(const struct opts *o)
{
	scif_epd_t epd = perf_connect(0, o->port, 10);
	uint8_t *buf = perf_alloc(o->n), done = 1;
	off_t roff, loff = scif_register(epd, buf, o->n, 0,
					 SCIF_PROT_READ | SCIF_PROT_WRITE, 0);
	double t0, wr, rd;

	if (loff < 0)
		perf_die("scif_register %llu", (unsigned long long)o->n);
	perf_fill(buf, o->n, 3, 0);
	perf_recv(epd, &roff, sizeof(roff));
	t0 = perf_now();
	if (scif_writeto(epd, loff, o->n, roff, SCIF_RMA_SYNC))
		perf_die("scif_writeto %llu", (unsigned long long)o->n);
	wr = perf_now() - t0;
	perf_send(epd, &done, 1);
	memset(buf, 0, o->n);
	perf_recv(epd, &done, 1);
	t0 = perf_now();
	if (scif_readfrom(epd, loff, o->n, roff, SCIF_RMA_SYNC))
		perf_die("scif_readfrom %llu", (unsigned long long)o->n);
	rd = perf_now() - t0;
	check_all(buf, o->n, 4, "window read");
	perf_send(epd, &done, 1);
	printf("rma %llu: writeto %.1f ms (%.0f MB/s), readfrom %.1f ms "
	       "(%.0f MB/s), every byte checked\n",
	       (unsigned long long)o->n, wr * 1e3,
	       (double)o->n / PERF_MB / wr, rd * 1e3,
	       (double)o->n / PERF_MB / rd);
	scif_close(epd);
	perf_free(buf, o->n);
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: scif_limits [-p PORT] [-i ITERS] windows N | "
		"endpoints N | msg SIZE | rma SIZE\n"
		"  the server is a forked child; every byte is checked\n"
		"  -p PORT   SCIF port (default 7600)\n"
		"  -i ITERS  small RMAs timed each way (windows; default "
		"max(N, 20000))\n");
	exit(2);
}

static void run(const struct opts *o, int server)
{
	if (!strcmp(o->mode, "windows"))
		server ? win_server(o) : win_client(o);
	else if (!strcmp(o->mode, "endpoints"))
		server ? ep_server(o) : ep_client(o);
	else if (!strcmp(o->mode, "msg"))
		msg_side(o, server);
	else
		server ? rma_server(o) : rma_client(o);
}

int main(int argc, char **argv)
{
	struct opts o = { .port = 7600 };
	long long v;
	int c, st;
	pid_t pid;

	perf_prog = "scif_limits";
	while ((c = getopt(argc, argv, "p:i:")) != -1) {
		v = perf_parse_num(optarg);
		if (v < 0 || (c == 'p' && (v < 1 || v > 65535)))
			usage();
		if (c == 'p')
			o.port = (uint16_t)v;
		else if (c == 'i')
			o.iters = (uint64_t)v;
		else
			usage();
	}
	if (argc - optind != 2)
		usage();
	o.mode = argv[optind];
	v = perf_parse_size(argv[optind + 1]);
	if (v < 1 || (strcmp(o.mode, "windows") && strcmp(o.mode, "endpoints") &&
		      strcmp(o.mode, "msg") && strcmp(o.mode, "rma")))
		usage();
	o.n = (uint64_t)v;
	if (!o.iters)
		o.iters = o.n > 20000 ? o.n : 20000;
	if (!strcmp(o.mode, "endpoints"))
		raise_nofile(o.n);
	fflush(stdout);
	pid = fork(); /* before any SCIF call: each side its own library */
	if (pid < 0)
		perf_die("fork");
	run(&o, pid == 0);
	fflush(stdout);
	if (pid == 0)
		_exit(0);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		perf_fail("the server failed");
	return 0;
}
