/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scif_lat: SCIF latency benchmark in the manner of perftest's ib_send_lat.
 *
 *   scif_lat [options]            server: answers one client, exits
 *   scif_lat [options] -n NODE    client: connects to NODE, measures
 *
 * Ping-pong: the client sends SIZE bytes, the server answers with SIZE bytes,
 * the client times the round trip.  One-way latency = round trip / 2, as in
 * perftest.  Both sides print the client's statistics.
 *   send    scif_send(SCIF_SEND_BLOCK) / scif_recv(SCIF_RECV_BLOCK)
 *   signal  scif_writeto of SIZE bytes (no SYNC), then
 *           scif_fence_signal(INIT_SELF | SIGNAL_REMOTE) that writes a
 *           sequence number into a flag word of the peer's window once the
 *           data is there; the peer watches the word (sleeping 1 us between
 *           looks, not spinning) and answers the same way.
 */
#include "perf_util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum test { T_SEND, T_SIGNAL, T_COUNT };
static const char *const test_names[T_COUNT] = { "send", "signal" };
static const char *const test_titles[T_COUNT] = {
	"SCIF send latency test (scif_send/scif_recv)",
	"SCIF RMA write + remote fence signal latency test",
};

#define DEF_SIZE 2ull
#define DEF_PORT 3001
#define DEF_ITERS 1000ull
#define DEF_MIN_ITERS 16ull
#define DEF_BYTES (256ull << 20)
#define DEF_WARMUP 16ull
#define SWEEP_LO 1
#define SWEEP_HI 23
#define MAX_SIZES 64
#define MAGIC 0x53434c54u /* "SCLT" */
#define VERSION 1
#define FLAG_TIMEOUT_S 60.0

struct wire_params {
	uint32_t magic, version, test, all;
	uint64_t size, iters, warmup; /* iters 0: default rule */
	uint64_t data_off, flag_off;  /* sender's windows (signal test) */
};

struct wire_size {
	uint64_t size, iters, warmup;
};

struct wire_stats {
	uint64_t iters;
	double min, max, typical, avg, stdev, p99, p999; /* usec, one-way */
};

struct opts {
	enum test test;
	uint64_t size, iters, warmup;
	int all, json, warmup_set, cycles;
	long node;
	uint16_t port;
	long poll_ns;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage:\n"
"  scif_lat [options]            start a server and wait for one client\n"
"  scif_lat [options] -n NODE    connect to the server on SCIF node NODE\n"
"\n"
"Measures SCIF ping-pong latency like perftest's ib_send_lat. Test options\n"
"are taken from the client; the server follows them. Both sides print:\n"
"  #bytes #iterations t_min t_max t_typical t_avg t_stdev 99%% 99.9%%\n"
"in microseconds, one-way = round trip / 2 (as perftest), t_typical being\n"
"the median.\n"
"\n"
"Options:\n"
"  -n, --node=NODE       be the client and connect to node NODE, retrying\n"
"                        for up to 60 s while nobody listens there yet\n"
"                        (default: be the server)\n"
"  -p, --port=PORT       SCIF port (default %d)\n"
"  -t, --test=TEST       send    scif_send / scif_recv, blocking (default)\n"
"                        signal  scif_writeto + scif_fence_signal(INIT_SELF |\n"
"                                SIGNAL_REMOTE); the peer sleeps-polls the\n"
"                                signal word, then answers the same way\n"
"  -s, --size=BYTES      bytes each way; K, M suffixes (default %llu)\n"
"  -a, --all             sweep sizes 2^%d .. 2^%d (2 B .. 8 MiB)\n"
"  -i, --iters=N         round trips per size. Default: %llu, fewer above\n"
"                        256 KiB so that a size moves at most %llu MiB\n"
"                        each way: N = max(%llu, min(%llu, %llu MiB / size))\n"
"  -w, --warmup=N        untimed round trips before each size (default %llu)\n"
"      --spin=US         spin budget: a blocked call polls its endpoint\n"
"                        for up to US microseconds before it sleeps (sets\n"
"                        SCIF_SPIN_US; 0 never spins; a large value\n"
"                        busy-polls like ib_send_lat without -e)\n"
"      --poll-us=US      signal test: sleep between looks at the signal\n"
"                        word (default 1; the kernel's timer slack, 50 us\n"
"                        for normal threads, adds to this)\n"
"      --clock=CLOCK     how the client times round trips:\n"
"                        cycles  the CPU's cycle counter, as perftest\n"
"                                (rdtsc), its rate measured against\n"
"                                CLOCK_MONOTONIC over each size's run\n"
"                        mono    clock_gettime(CLOCK_MONOTONIC) per round\n"
"                                trip (a system call where the clock\n"
"                                source is emulated, as in most VMs)\n"
"                        default: cycles where the CPU says the counter's\n"
"                        rate is fixed (x86 constant_tsc, aarch64), else\n"
"                        mono\n"
"      --json            one JSON object per size on stdout, nothing else\n"
"  -h, --help            this text\n"
"\n"
"Every wait is a blocking SCIF call or a sleep: nothing busy-polls.\n"
"\n"
"Examples:\n"
"  node 0:  scif_lat                      node 1:  scif_lat -n 0\n"
"  scif_lat -n 0 -s 8 -i 5000\n"
"  scif_lat -n 0 -t signal -a --json\n",
		DEF_PORT, DEF_SIZE, SWEEP_LO, SWEEP_HI, DEF_ITERS, DEF_BYTES >> 20,
		DEF_MIN_ITERS, DEF_ITERS, DEF_BYTES >> 20, DEF_WARMUP);
}

static uint64_t default_iters(uint64_t size)
{
	uint64_t n = DEF_BYTES / size;

	return n > DEF_ITERS ? DEF_ITERS : n < DEF_MIN_ITERS ? DEF_MIN_ITERS : n;
}

static uint64_t page_up(uint64_t n)
{
	return (n + 4095) & ~4095ull;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* samples: one-way usec; sorted in place. */
static void stats(double *s, uint64_t n, struct wire_stats *st)
{
	double sum = 0, sq = 0;
	uint64_t i, k;

	qsort(s, n, sizeof(*s), cmp_dbl);
	for (i = 0; i < n; i++)
		sum += s[i];
	st->iters = n;
	st->avg = sum / (double)n;
	for (i = 0; i < n; i++)
		sq += (s[i] - st->avg) * (s[i] - st->avg);
	st->stdev = sqrt(sq / (double)n);
	st->min = s[0];
	st->max = s[n - 1];
	st->typical = s[n / 2];
	k = (uint64_t)ceil(0.99 * (double)n);
	st->p99 = s[k ? k - 1 : 0];
	k = (uint64_t)ceil(0.999 * (double)n);
	st->p999 = s[k ? k - 1 : 0];
}

/* ---- signal test ---- */

struct sig {
	scif_epd_t epd;
	off_t ldata, lflag, rdata, rflag;
	volatile uint64_t *flag;
	uint64_t seq;
	struct timespec nap;
};

static void sig_send(struct sig *g, uint64_t size)
{
	if (scif_writeto(g->epd, g->ldata, size, g->rdata, 0) < 0)
		perf_die("scif_writeto(%llu bytes)", (unsigned long long)size);
	if (scif_fence_signal(g->epd, 0, 0, g->rflag, g->seq,
			      SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_REMOTE) < 0)
		perf_die("scif_fence_signal");
}

static void sig_wait(struct sig *g)
{
	unsigned long looks = 0;
	double deadline = 0;

	while (__atomic_load_n(g->flag, __ATOMIC_ACQUIRE) != g->seq) {
		nanosleep(&g->nap, NULL);
		if ((++looks & 1023) == 0) {
			double t = perf_now();

			if (!deadline)
				deadline = t + FLAG_TIMEOUT_S;
			else if (t > deadline)
				perf_fail("no signal from the peer for %.0f s (word is %llu, waiting for %llu)",
					  FLAG_TIMEOUT_S,
					  (unsigned long long)*g->flag,
					  (unsigned long long)g->seq);
		}
	}
}

/* ------------------------------------------------------------------ */

static void print_header(const struct opts *o, const char *side,
			 uint16_t self, uint16_t peer)
{
	printf("---------------------------------------------------------------------------------------\n");
	printf("                    %s\n", test_titles[o->test]);
	printf(" %s: node %u <-> node %u, port %u\n", side, self, peer, o->port);
	if (o->test == T_SIGNAL)
		printf(" Signal wait     : sleep %ld us between looks (no spinning)\n",
		       o->poll_ns / 1000);
	else
		printf(" Waits           : SCIF_SEND_BLOCK / SCIF_RECV_BLOCK (%s%s%s)\n",
		       getenv("SCIF_SPIN_US") ? "spinning up to " : "no spinning",
		       getenv("SCIF_SPIN_US") ? getenv("SCIF_SPIN_US") : "",
		       getenv("SCIF_SPIN_US") ? " us first" : "");
	if (!strcmp(side, "Client"))
		printf(" Clock           : %s\n",
		       o->cycles ? "cycle counter, rate measured against CLOCK_MONOTONIC" :
				   "CLOCK_MONOTONIC");
	printf("---------------------------------------------------------------------------------------\n");
	printf(" #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    t_stdev[usec]   99%% percentile[usec]   99.9%% percentile[usec]\n");
	fflush(stdout);
}

static void print_row(const struct opts *o, uint64_t size,
		      const struct wire_stats *st, const char *side,
		      uint16_t self, uint16_t peer)
{
	if (o->json)
		printf("{\"tool\":\"scif_lat\",\"test\":\"%s\",\"side\":\"%s\","
		       "\"node\":%u,\"peer\":%u,\"bytes\":%llu,\"iterations\":%llu,"
		       "\"t_min_us\":%.3f,\"t_max_us\":%.3f,\"t_typical_us\":%.3f,"
		       "\"t_avg_us\":%.3f,\"t_stdev_us\":%.3f,\"t_p99_us\":%.3f,"
		       "\"t_p999_us\":%.3f}\n",
		       test_names[o->test], side, self, peer,
		       (unsigned long long)size, (unsigned long long)st->iters,
		       st->min, st->max, st->typical, st->avg, st->stdev,
		       st->p99, st->p999);
	else
		printf(" %-7llu %-11llu %-14.2f %-12.2f %-16.2f %-14.2f %-16.2f %-22.2f %-.2f\n",
		       (unsigned long long)size, (unsigned long long)st->iters,
		       st->min, st->max, st->typical, st->avg, st->stdev,
		       st->p99, st->p999);
	fflush(stdout);
}

static int parse_test(const char *s)
{
	int i;

	for (i = 0; i < T_COUNT; i++)
		if (!strcmp(s, test_names[i]))
			return i;
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "node", required_argument, NULL, 'n' },
		{ "port", required_argument, NULL, 'p' },
		{ "test", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 's' },
		{ "all", no_argument, NULL, 'a' },
		{ "iters", required_argument, NULL, 'i' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "poll-us", required_argument, NULL, 'P' },
		{ "spin", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'J' },
		{ "clock", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { .test = T_SEND, .size = DEF_SIZE, .node = -1,
			  .port = DEF_PORT, .warmup = DEF_WARMUP, .poll_ns = 1000,
			  .cycles = -1 };
	struct wire_params p;
	struct scif_portID peer = { 0, 0 };
	struct sig g = { 0 };
	uint64_t sizes[MAX_SIZES], maxsz = 0, maxit = 0;
	uint8_t *data = NULL;
	double *samp = NULL;
	const char *side;
	uint16_t self = 0;
	scif_epd_t epd;
	int c, i, nsizes, client;
	long long v;

	perf_prog = "scif_lat";
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "n:p:t:s:ai:w:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			v = perf_parse_num(optarg);
			if (v < 0 || v > 65534)
				perf_fail("bad node '%s'", optarg);
			o.node = v;
			break;
		case 'p':
			v = perf_parse_num(optarg);
			if (v < 1 || v > 65535)
				perf_fail("bad port '%s'", optarg);
			o.port = (uint16_t)v;
			break;
		case 't':
			if ((v = parse_test(optarg)) < 0)
				perf_fail("unknown test '%s' (send, signal)", optarg);
			o.test = (enum test)v;
			break;
		case 's':
			v = perf_parse_size(optarg);
			if (v < 1 || v > (1ll << 30))
				perf_fail("bad size '%s' (1 .. 1G)", optarg);
			o.size = (uint64_t)v;
			break;
		case 'a':
			o.all = 1;
			break;
		case 'i':
			v = perf_parse_num(optarg);
			if (v < 1 || v > 100000000)
				perf_fail("bad iteration count '%s'", optarg);
			o.iters = (uint64_t)v;
			break;
		case 'w':
			v = perf_parse_num(optarg);
			if (v < 0)
				perf_fail("bad warmup '%s'", optarg);
			o.warmup = (uint64_t)v;
			break;
		case 'P':
			v = perf_parse_num(optarg);
			if (v < 0 || v > 1000000)
				perf_fail("bad --poll-us '%s'", optarg);
			o.poll_ns = (long)v * 1000;
			break;
		case 'S':
			v = perf_parse_num(optarg);
			if (v < 0 || v > 1000000)
				perf_fail("bad --spin '%s' (0 .. 1000000)", optarg);
			/* read by the library when it starts (first call) */
			setenv("SCIF_SPIN_US", optarg, 1);
			break;
		case 'J':
			o.json = 1;
			break;
		case 'C':
			if (!strcmp(optarg, "mono"))
				o.cycles = 0;
			else if (!strcmp(optarg, "cycles") && perf_cycles_have())
				o.cycles = 1;
			else
				perf_fail("bad --clock '%s' (mono%s)", optarg,
					  perf_cycles_have() ? ", cycles" : "");
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
		fprintf(stderr, "scif_lat: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (scif_get_nodeIDs(NULL, 0, &self) < 0)
		perf_die("scif_get_nodeIDs (is the node map set? SCIF_NODES_FILE)");
	client = o.node >= 0;
	side = client ? "client" : "server";
	if (o.cycles < 0)
		o.cycles = perf_cycles_constant();

	if (client) {
		peer.node = (uint16_t)o.node;
		peer.port = o.port;
		epd = perf_connect(peer.node, o.port, 60);
	} else {
		scif_epd_t lep = perf_listen(o.port);

		if (!o.json)
			fprintf(stderr, "scif_lat: node %u waiting for a client on port %u\n",
				self, o.port);
		epd = perf_accept(lep, &peer);
		scif_close(lep);
	}

	/* parameters (client -> server) */
	memset(&p, 0, sizeof(p));
	if (client) {
		p.magic = MAGIC;
		p.version = VERSION;
		p.test = o.test;
		p.all = (uint32_t)o.all;
		p.size = o.size;
		p.iters = o.iters;
		p.warmup = o.warmup;
	}
	nsizes = perf_sizes(sizes, MAX_SIZES, o.all, SWEEP_LO, SWEEP_HI, o.size);
	if (!client) {
		perf_recv(epd, &p, sizeof(p));
		if (p.magic != MAGIC || p.version != VERSION || p.test >= T_COUNT)
			perf_fail("client sent bad parameters (another program, or another version?)");
		o.test = (enum test)p.test;
		o.all = (int)p.all;
		o.size = p.size;
		o.iters = p.iters;
		o.warmup = p.warmup;
		nsizes = perf_sizes(sizes, MAX_SIZES, o.all, SWEEP_LO, SWEEP_HI,
				    o.size);
	}
	for (i = 0; i < nsizes; i++) {
		uint64_t it = o.iters ? o.iters : default_iters(sizes[i]);

		if (sizes[i] > maxsz)
			maxsz = sizes[i];
		if (it > maxit)
			maxit = it;
	}
	data = perf_alloc(page_up(maxsz));
	if (o.test == T_SIGNAL) {
		int prot = SCIF_PROT_READ | SCIF_PROT_WRITE;

		g.epd = epd;
		g.flag = perf_alloc(4096);
		g.ldata = scif_register(epd, data, page_up(maxsz), 0, prot, 0);
		if (g.ldata == SCIF_REGISTER_FAILED)
			perf_die("scif_register(data window)");
		g.lflag = scif_register(epd, (void *)g.flag, 4096, 0, prot, 0);
		if (g.lflag == SCIF_REGISTER_FAILED)
			perf_die("scif_register(flag window)");
		g.nap.tv_sec = o.poll_ns / 1000000000;
		g.nap.tv_nsec = o.poll_ns % 1000000000;
	}
	/* offsets: each side tells the other (windows are announced to the
	 * peer in stream order, so they are known when this arrives) */
	if (client) {
		p.data_off = (uint64_t)g.ldata;
		p.flag_off = (uint64_t)g.lflag;
		perf_send(epd, &p, sizeof(p));
		perf_recv(epd, &p, sizeof(p));
	} else {
		struct wire_params mine = p;

		mine.data_off = (uint64_t)g.ldata;
		mine.flag_off = (uint64_t)g.lflag;
		perf_send(epd, &mine, sizeof(mine));
	}
	g.rdata = (off_t)p.data_off;
	g.rflag = (off_t)p.flag_off;
	if (client) {
		samp = malloc(sizeof(*samp) * maxit);
		if (!samp)
			perf_fail("out of memory");
	}
	if (!o.json)
		print_header(&o, client ? "Client" : "Server", self, peer.node);

	for (i = 0; i < nsizes; i++) {
		struct wire_size ws = { sizes[i], 0, o.warmup };
		struct wire_stats st;
		struct perf_progress pr;
		uint64_t k, total;
		double t0, mono0 = 0, cyc0 = 0, unit = 1;
		char go = 'G';

		if (client) {
			ws.iters = o.iters ? o.iters : default_iters(sizes[i]);
			perf_send(epd, &ws, sizeof(ws));
			perf_recv(epd, &go, 1);
		} else {
			perf_recv(epd, &ws, sizeof(ws));
			if (ws.size != sizes[i])
				perf_fail("protocol: size %llu, expected %llu",
					  (unsigned long long)ws.size,
					  (unsigned long long)sizes[i]);
			perf_send(epd, &go, 1);
		}
		total = ws.warmup + ws.iters;
		perf_progress_start(&pr, client);
		/* One clock read per round trip, its end the next one's start.
		 * With the cycle counter (as perftest) samples are in cycles
		 * until the run's end: in a VM whose clock source is emulated
		 * (HPET under QEMU TCG) a clock_gettime is a system call of a
		 * few us, which a round trip would otherwise include. */
		if (client) {
			mono0 = perf_now();
			cyc0 = o.cycles ? (double)perf_cycles() : mono0;
		}
		t0 = cyc0;
		for (k = 0; k < total; k++) {
			if (o.test == T_SEND) {
				if (client) {
					perf_send(epd, data, ws.size);
					perf_recv(epd, data, ws.size);
				} else {
					perf_recv(epd, data, ws.size);
					perf_send(epd, data, ws.size);
				}
			} else {
				g.seq++;
				if (client) {
					sig_send(&g, ws.size);
					sig_wait(&g);
				} else {
					sig_wait(&g);
					sig_send(&g, ws.size);
				}
			}
			if (client) {
				double t = o.cycles ? (double)perf_cycles() :
						      perf_now();

				if (k >= ws.warmup) {
					samp[k - ws.warmup] = t - t0;
					if (!o.cycles || !(k & 1023))
						perf_progress_at(
							&pr,
							o.cycles ? perf_now() : t,
							ws.size, k + 1 - ws.warmup,
							ws.iters, 0);
				}
				t0 = t;
			}
		}
		if (client) {
			/* seconds per cycle over this run; the warmup is in
			 * it too, which only lengthens the base */
			if (o.cycles && t0 > cyc0)
				unit = (perf_now() - mono0) / (t0 - cyc0);
			for (k = 0; k < ws.iters; k++)
				samp[k] *= unit * 1e6 / 2;
			stats(samp, ws.iters, &st);
			perf_send(epd, &st, sizeof(st));
		} else {
			perf_recv(epd, &st, sizeof(st));
		}
		print_row(&o, ws.size, &st, side, self, peer.node);
	}
	if (!o.json)
		printf("---------------------------------------------------------------------------------------\n");
	if (scif_close(epd) < 0)
		perf_die("scif_close");
	free(samp);
	return 0;
}
