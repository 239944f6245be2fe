/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * memcpy_bw: single-thread memcpy bandwidth of one size, between two
 * page-aligned buffers of one process: the ceiling for one copy, against
 * which scif_bw over the shared-memory provider (one process_vm_writev /
 * process_vm_readv copy per transfer) is compared.  See --help.
 *
 * Both buffers are allocated with mmap and written in full before timing
 * (so no page fault and no zero-page mapping is measured), then --warmup
 * untimed copies run, then --iters timed ones.  The output has scif_bw's
 * columns and units (MB = 2^20 bytes, as perftest), or one JSON object with
 * --json.  The destination is compared with the source afterwards (not
 * timed).
 */
#include "perf_util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define DEF_SIZE 65536ull
#define DEF_DEPTH 16
#define DEF_MAX_ITERS 1000ull
#define DEF_MIN_ITERS 16ull
#define DEF_BYTES (256ull << 20) /* default iterations copy at most this */

struct opts {
	uint64_t size, iters, warmup;
	int json, depth, warmup_set;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage:\n"
"  memcpy_bw [options]\n"
"\n"
"Measures single-thread memcpy bandwidth of one size between two\n"
"page-aligned buffers in one process: the limit for one copy. Prints the\n"
"columns of scif_bw / perftest's ib_write_bw:\n"
"  #bytes  #iterations  BW peak[MB/sec]  BW average[MB/sec]  MsgRate[Mpps]\n"
"MB = 2^20 bytes. BW average is all bytes over all time (first copy to end\n"
"of last); BW peak is the best stretch of --depth consecutive copies;\n"
"MsgRate is copies per second / 10^6.\n"
"\n"
"Options:\n"
"  -s, --size=BYTES      bytes per copy; K, M, G suffixes are binary\n"
"                        (default %llu)\n"
"  -i, --iters=N         timed copies. Default: %llu, fewer for big sizes\n"
"                        so that a run copies at most %llu MiB:\n"
"                        N = max(%llu, min(%llu, %llu MiB / size)), as scif_bw\n"
"  -w, --warmup=N        untimed copies after touching the buffers\n"
"                        (default iterations/8, 1 .. 16)\n"
"  -d, --depth=N         copies per stretch for BW peak (default %d, at\n"
"                        most the iteration count)\n"
"      --json            one JSON object on stdout, nothing else\n"
"  -h, --help            this text\n"
"\n"
"Both buffers are written in full before timing (every page is faulted in\n"
"and backed by its own memory). The same source is copied to the same\n"
"destination every time, so sizes that fit a cache are measured from that\n"
"cache. Exit status is non-zero if the copy is wrong.\n"
"\n"
"Examples:\n"
"  memcpy_bw -s 64K\n"
"  memcpy_bw -s 64M -i 32 --json\n",
		DEF_SIZE, DEF_MAX_ITERS, DEF_BYTES >> 20, DEF_MIN_ITERS,
		DEF_MAX_ITERS, DEF_BYTES >> 20, DEF_DEPTH);
}

static uint64_t default_iters(uint64_t size)
{
	uint64_t n = DEF_BYTES / (size ? size : 1);

	if (n > DEF_MAX_ITERS)
		n = DEF_MAX_ITERS;
	if (n < DEF_MIN_ITERS)
		n = DEF_MIN_ITERS;
	return n;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' },
		{ "iters", required_argument, NULL, 'i' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "depth", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { .size = DEF_SIZE, .depth = DEF_DEPTH };
	uint8_t *src, *dst;
	double *stamp, t0, secs, best, avg, peak, rate;
	uint64_t i, d;
	long long v;
	long bad;
	int c;

	perf_prog = "memcpy_bw";
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "s:i:w:d:h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			v = perf_parse_size(optarg);
			if (v < 1 || v > (1ll << 30))
				perf_fail("bad size '%s' (1 .. 1G)", optarg);
			o.size = (uint64_t)v;
			break;
		case 'i':
			v = perf_parse_num(optarg);
			if (v < 1)
				perf_fail("bad iteration count '%s'", optarg);
			o.iters = (uint64_t)v;
			break;
		case 'w':
			v = perf_parse_num(optarg);
			if (v < 0)
				perf_fail("bad warmup '%s'", optarg);
			o.warmup = (uint64_t)v;
			o.warmup_set = 1;
			break;
		case 'd':
			v = perf_parse_num(optarg);
			if (v < 1 || v > 4096)
				perf_fail("bad depth '%s' (1 .. 4096)", optarg);
			o.depth = (int)v;
			break;
		case 'J':
			o.json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "memcpy_bw: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!o.iters)
		o.iters = default_iters(o.size);
	if (!o.warmup_set) {
		o.warmup = o.iters / 8;
		if (o.warmup < 1)
			o.warmup = 1;
		if (o.warmup > 16)
			o.warmup = 16;
	}
	d = (uint64_t)o.depth < o.iters ? (uint64_t)o.depth : o.iters;

	src = perf_alloc(o.size);
	dst = perf_alloc(o.size);
	stamp = malloc((o.iters + 1) * sizeof(*stamp));
	if (!stamp)
		perf_fail("out of memory for %llu time stamps",
			  (unsigned long long)o.iters + 1);
	/* Touch every page of both: fault them in, and give the destination
	 * memory of its own (a read-faulted zero page would be shared). */
	perf_fill(src, o.size, 0x6d656d637079ull, 0);
	memset(dst, 0xa5, o.size);

	if (!o.json) {
		printf("---------------------------------------------------------------------------------------\n");
		printf("                    memcpy BW test (one thread, one process)\n");
		printf(" Buffers         : 2 x %llu bytes, page-aligned, touched before timing\n",
		       (unsigned long long)o.size);
		printf(" Warm-up         : %llu copies\n", (unsigned long long)o.warmup);
		printf(" Peak stretch    : %llu copies\n", (unsigned long long)d);
		printf("---------------------------------------------------------------------------------------\n");
		printf(" #bytes     #iterations    BW peak[MB/sec]    BW average[MB/sec]   MsgRate[Mpps]\n");
		fflush(stdout);
	}

	for (i = 0; i < o.warmup; i++) {
		memcpy(dst, src, o.size);
		__asm__ __volatile__("" : : "r"(dst) : "memory");
	}
	/* stamp[k]: end of copy k (stamp[0] the start); a clock read costs
	 * some tens of ns, under 1% of a 64 KiB copy */
	stamp[0] = perf_now();
	for (i = 0; i < o.iters; i++) {
		memcpy(dst, src, o.size);
		/* the copies must all happen: nothing reads dst in the loop */
		__asm__ __volatile__("" : : "r"(dst) : "memory");
		stamp[i + 1] = perf_now();
	}
	t0 = stamp[0];
	secs = stamp[o.iters] - t0;
	best = 0;
	for (i = d; i <= o.iters; i++) {
		double s = stamp[i] - stamp[i - d];

		if (s > 0 && (best == 0 || s < best))
			best = s;
	}
	avg = secs > 0 ? (double)o.size * (double)o.iters / secs / PERF_MB : 0;
	peak = best > 0 ? (double)o.size * (double)d / best / PERF_MB : 0;
	if (peak < avg)
		peak = avg;
	rate = secs > 0 ? (double)o.iters / secs / 1e6 : 0;
	bad = perf_check(dst, o.size, 0x6d656d637079ull, 0);

	if (o.json)
		printf("{\"tool\":\"memcpy_bw\",\"test\":\"memcpy\",\"bytes\":%llu,"
		       "\"iterations\":%llu,\"warmup\":%llu,\"depth\":%llu,"
		       "\"bw_peak_MBps\":%.2f,\"bw_avg_MBps\":%.2f,"
		       "\"msg_rate_Mpps\":%.6f,\"seconds\":%.6f,"
		       "\"total_bytes\":%llu,\"mb_bytes\":1048576,\"verify\":%s}\n",
		       (unsigned long long)o.size, (unsigned long long)o.iters,
		       (unsigned long long)o.warmup, (unsigned long long)d, peak,
		       avg, rate, secs,
		       (unsigned long long)(o.size * o.iters),
		       bad < 0 ? "\"ok\"" : "\"bad\"");
	else {
		printf(" %-7llu    %-10llu       %-7.2f            %-7.2f\t\t   %-7.6f\n",
		       (unsigned long long)o.size, (unsigned long long)o.iters,
		       peak, avg, rate);
		printf("---------------------------------------------------------------------------------------\n");
	}
	if (bad >= 0)
		fprintf(stderr, "memcpy_bw: COPY CHECK FAILED at byte %ld\n", bad);
	free(stamp);
	perf_free(src, o.size);
	perf_free(dst, o.size);
	return bad >= 0 ? 1 : 0;
}
