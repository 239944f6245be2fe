/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scif_bw: SCIF bandwidth benchmark in the manner of perftest's ib_write_bw.
 *
 *   scif_bw [options]             server: listens, serves one client, exits
 *   scif_bw [options] -n NODE     client: connects to NODE and drives the test
 *
 * Test parameters come from the client; the server follows them.  Both sides
 * print the same table.  See --help (usage() below) for every option.
 *
 * How a size is measured (the "driver" is the client, or both sides with
 * --bidir, each on its own connection):
 *   RMA tests   the target registers a window and sends its offset; the
 *               driver keeps --depth transfers without SCIF_RMA_SYNC in
 *               flight: it takes a scif_fence_mark(SELF) after each one and
 *               waits on the mark of the transfer --depth back before the
 *               next (a sliding window, as perftest keeps its send queue
 *               full).  --batch instead issues --depth transfers, then one
 *               fence, and repeats.  Time runs from the first transfer to
 *               the return of the last fence wait.  BW peak is the best
 *               stretch of --depth transfers.
 *   send        the driver scif_send(SCIF_SEND_BLOCK)s messages of --size
 *               bytes; the target scif_recv(SCIF_RECV_BLOCK)s them and
 *               measures on its side; it reports back, so both print the
 *               receiver's numbers (as perftest does).
 * Nothing busy-polls: every wait is a blocking SCIF call.
 */
#include "perf_util.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum test { T_WRITETO, T_READFROM, T_VWRITETO, T_VREADFROM, T_SEND, T_MMAP,
	    T_COUNT };
static const char *const test_names[T_COUNT] = {
	"writeto", "readfrom", "vwriteto", "vreadfrom", "send", "mmap"
};
static const char *const test_titles[T_COUNT] = {
	"SCIF RMA write BW test (scif_writeto)",
	"SCIF RMA read BW test (scif_readfrom)",
	"SCIF RMA write BW test, unregistered source (scif_vwriteto)",
	"SCIF RMA read BW test, unregistered destination (scif_vreadfrom)",
	"SCIF send BW test (scif_send/scif_recv)",
	"SCIF mmap read BW test (memcpy out of a scif_mmap mapping)",
};

#define DEF_SIZE 65536ull
#define DEF_DEPTH 16
#define DEF_PORT 3000
#define DEF_MAX_ITERS 1000ull
#define DEF_MIN_ITERS 16ull
#define DEF_BYTES (256ull << 20) /* default iterations move at most this */
#define WIN_CAP (16ull << 20)	 /* window: depth*size, capped here */
#define SWEEP_LO 0
#define SWEEP_HI 23
#define MAX_SIZES 64
#define MAGIC 0x53424657u /* "SBFW" */
#define VERSION 1

#define F_BIDIR 1u
#define F_CACHE 2u
#define F_VERIFY 4u
#define F_ALL 8u
#define F_BATCH 16u
#define F_SHARED 32u

/* What the client asks for, sent on every connection it opens. */
struct wire_params {
	uint32_t magic, version;
	uint32_t test, depth, flags, role; /* role: 0 client drives, 1 server */
	uint64_t size, iters, warmup;	   /* iters/warmup 0: default rule */
	double duration;
};

/* Driver -> target before each size. */
struct wire_size {
	uint64_t size, iters, warmup; /* iters 0 with duration > 0 */
	double duration;
};

/* Target -> driver: the window to use. */
struct wire_ready {
	uint64_t roff, wlen;
};

/* Both ways after each size. */
struct wire_result {
	uint64_t bytes, iters;
	double secs, peak_mbps;
	int64_t verify; /* -2 not checked, -1 ok, else first bad byte */
};

struct opts {
	enum test test;
	uint64_t size;
	int all, bidir, cache, json, verify, depth, batch;
	int shared; /* -M shared: RMA windows in shared memory */
	uint64_t iters, warmup; /* 0: default rule */
	double duration;
	long node; /* -1: server */
	uint16_t port;
};

/* One direction of a run: a connection and who drives on it. */
struct dir {
	scif_epd_t epd;
	int drive;
	struct opts o;
	uint64_t sizes[MAX_SIZES];
	int nsizes;
	struct wire_result res[MAX_SIZES]; /* the official numbers */
	int progress;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage:\n"
"  scif_bw [options]            start a server and wait for one client\n"
"  scif_bw [options] -n NODE    connect to the server on SCIF node NODE\n"
"\n"
"Measures SCIF bandwidth like perftest's ib_write_bw. Test options are\n"
"taken from the client; the server follows them. Both sides print:\n"
"  #bytes  #iterations  BW peak[MB/sec]  BW average[MB/sec]  MsgRate[Mpps]\n"
"MB = 2^20 bytes, as in perftest's default report. BW average is all bytes\n"
"over all time (first transfer to last completion); BW peak is the best\n"
"stretch of --depth transfers; MsgRate is transfers per second / 10^6.\n"
"\n"
"Options:\n"
"  -n, --node=NODE       be the client and connect to node NODE, retrying\n"
"                        for up to 60 s while nobody listens there yet\n"
"                        (default: be the server)\n"
"  -p, --port=PORT       SCIF port to listen on / connect to (default %d)\n"
"  -t, --test=TEST       what to measure (default writeto):\n"
"                          writeto    scif_writeto between registered windows\n"
"                          readfrom   scif_readfrom between registered windows\n"
"                          vwriteto   scif_vwriteto from unregistered memory\n"
"                          vreadfrom  scif_vreadfrom into unregistered memory\n"
"                          send       scif_send / scif_recv, blocking\n"
"                          mmap       memcpy out of a scif_mmap of the peer's\n"
"                                     window, mapped once per size (sizes:\n"
"                                     whole pages)\n"
"  -s, --size=BYTES      bytes per transfer; K, M, G suffixes are binary\n"
"                        (default %llu)\n"
"  -a, --all             sweep sizes 2^%d .. 2^%d (1 B .. 8 MiB)\n"
"  -i, --iters=N         transfers per size. Default: %llu, fewer for big\n"
"                        sizes so that a size moves at most %llu MiB:\n"
"                        N = max(%llu, min(%llu, %llu MiB / size))\n"
"                        (64K -> 1000, 1M -> 256, 8M -> 32)\n"
"  -D, --duration=SEC    run each size for SEC seconds instead of -i\n"
"  -d, --depth=N         RMA tests: transfers kept in flight; all tests:\n"
"                        the stretch BW peak is measured over (default %d)\n"
"      --batch           RMA tests: issue --depth transfers, wait for all\n"
"                        of them with one fence, repeat (the default keeps\n"
"                        --depth in flight, waiting on the oldest only)\n"
"  -w, --warmup=N        untimed transfers before each size. Default: one\n"
"                        pass over the window for RMA tests (min(depth,\n"
"                        window/size) transfers, so -c registers every\n"
"                        slot before timing); iterations/8 (1..16) for send\n"
"  -b, --bidir           both sides drive at once, each on its own\n"
"                        connection; BW is the sum of both directions\n"
"  -c, --cache           SCIF_RMA_USECACHE on vwriteto/vreadfrom (keep\n"
"                        the buffer registered between calls)\n"
"  -M, --mem=KIND        RMA tests: both sides' window memory (default\n"
"                        private):\n"
"                          private    private anonymous memory\n"
"                          shared     shared anonymous memory: over shm a\n"
"                                     scif_mmap of it (-t mmap) is the\n"
"                                     peer's memory itself (the direct\n"
"                                     path, docs/mmap.md)\n"
"      --verify          check the data after each size (pattern check;\n"
"                        off by default, not counted in the time)\n"
"      --json            one JSON object per size on stdout, nothing else\n"
"                        (progress and errors still go to stderr)\n"
"  -h, --help            this text\n"
"\n"
"RMA tests: the server registers a window of depth*size bytes (at most\n"
"16 MiB, at least one transfer) and sends its offset; the client writes or\n"
"reads consecutive slots of it, wrapping around. Every wait is a blocking\n"
"SCIF call: nothing busy-polls. Long sizes print a progress line to stderr\n"
"every 5 s. Exit status is non-zero on any SCIF error or bad data.\n"
"\n"
"Examples (node map and node ids from SCIF_NODES_FILE / SCIF_SELF_NODE):\n"
"  node 0:  scif_bw                       node 1:  scif_bw -n 0\n"
"  scif_bw -n 0 -t readfrom -s 1M -i 500\n"
"  scif_bw -n 0 -a --json > sweep.json\n"
"  scif_bw -n 0 -t vwriteto -c -s 64K -D 5\n"
"  scif_bw -n 0 -t send -b -s 1M\n",
		DEF_PORT, DEF_SIZE, SWEEP_LO, SWEEP_HI, DEF_MAX_ITERS,
		DEF_BYTES >> 20, DEF_MIN_ITERS, DEF_MAX_ITERS, DEF_BYTES >> 20,
		DEF_DEPTH);
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

static uint64_t default_warmup(uint64_t iters)
{
	uint64_t w = iters / 8;

	return w < 1 ? 1 : w > 16 ? 16 : w;
}

static uint64_t page_up(uint64_t n)
{
	return (n + 4095) & ~4095ull;
}

/* Window bytes for one size: depth transfers, capped, never under one. */
static uint64_t win_len(uint64_t size, int depth)
{
	uint64_t w = size * (uint64_t)depth, cap = size > WIN_CAP ? size : WIN_CAP;

	return page_up(w < cap ? w : cap);
}

static int is_rma(enum test t)
{
	return t != T_SEND;
}

static int is_read(enum test t)
{
	return t == T_READFROM || t == T_VREADFROM || t == T_MMAP;
}

static int is_v(enum test t)
{
	return t == T_VWRITETO || t == T_VREADFROM || t == T_MMAP;
}

/* ------------------------------------------------------------------ */

static void fence(scif_epd_t epd)
{
	int mark;

	if (scif_fence_mark(epd, SCIF_FENCE_INIT_SELF, &mark) < 0)
		perf_die("scif_fence_mark");
	if (scif_fence_wait(epd, mark) < 0)
		perf_die("scif_fence_wait");
}

struct rma_ctx {
	scif_epd_t epd;
	enum test test;
	int flags;
	off_t loff, roff;
	uint8_t *lbuf;
	uint8_t *map; /* mmap test: the target's window, mapped */
	uint64_t size, nslots;
	/* sliding window: the fence mark taken after each of the last depth
	 * transfers, by transfer number modulo depth */
	int *marks;
	uint64_t depth, issued;
};

/* The mmap test's transfer: read the slot through the mapping, in order.
 * A page read before is older than the coherence bound by the time it is
 * read again (a pass over the window takes longer), so every page read is
 * fetched from the peer again: by a fault, into the page it had. */
static int mmap_read(struct rma_ctx *c, uint64_t at)
{
	memcpy(c->lbuf + at, c->map + at, c->size);
	return 0;
}

static void rma_one(struct rma_ctx *c, uint64_t k)
{
	uint64_t at = (k % c->nslots) * c->size;
	int r;

	switch (c->test) {
	case T_WRITETO:
		r = scif_writeto(c->epd, c->loff + (off_t)at, c->size,
				 c->roff + (off_t)at, c->flags);
		break;
	case T_READFROM:
		r = scif_readfrom(c->epd, c->loff + (off_t)at, c->size,
				  c->roff + (off_t)at, c->flags);
		break;
	case T_VWRITETO:
		r = scif_vwriteto(c->epd, c->lbuf + at, c->size,
				  c->roff + (off_t)at, c->flags);
		break;
	case T_MMAP:
		r = mmap_read(c, at);
		break;
	default:
		r = scif_vreadfrom(c->epd, c->lbuf + at, c->size,
				   c->roff + (off_t)at, c->flags);
		break;
	}
	if (r < 0)
		perf_die("scif_%s(%llu bytes at remote offset 0x%llx)",
			 test_names[c->test], (unsigned long long)c->size,
			 (unsigned long long)(c->roff + (off_t)at));
}

/*
 * Sliding window (the default): before a transfer starts, the one depth
 * transfers back must have completed (its fence mark is waited on), so
 * depth transfers stay in flight, as perftest keeps its send queue full.
 * Self marks cost no message: a mark is the number of the newest request.
 * Where the window holds fewer than depth slots (big sizes), transfers in
 * flight share slots, as perftest's do; the data is the same pattern.
 */
static void rma_slide(struct rma_ctx *c, uint64_t k)
{
	int *m = &c->marks[c->issued % c->depth];

	if (c->issued >= c->depth && scif_fence_wait(c->epd, *m) < 0)
		perf_die("scif_fence_wait");
	rma_one(c, k);
	if (scif_fence_mark(c->epd, SCIF_FENCE_INIT_SELF, m) < 0)
		perf_die("scif_fence_mark");
	c->issued++;
}

/* Batch mode (--batch): depth transfers, then a fence that drains them. */
static void rma_drive_batch(struct dir *d, struct rma_ctx *c,
			    const struct wire_size *ws, struct wire_result *res)
{
	struct perf_progress pr;
	uint64_t k = 0, n = 0, depth = (uint64_t)d->o.depth;
	double t0, tb, t;

	for (; k < ws->warmup; k++) {
		rma_one(c, k);
		if ((k + 1) % depth == 0)
			fence(c->epd);
	}
	if (ws->warmup)
		fence(c->epd);
	perf_progress_start(&pr, d->progress);
	t0 = tb = perf_now();
	res->peak_mbps = 0;
	for (;;) {
		uint64_t cnt = depth, j;

		if (ws->iters && ws->iters - n < cnt)
			cnt = ws->iters - n;
		for (j = 0; j < cnt; j++)
			rma_one(c, k++);
		fence(c->epd);
		t = perf_now();
		n += cnt;
		if (cnt == depth && t > tb) {
			double mbps = (double)(cnt * c->size) / (t - tb) / PERF_MB;

			if (mbps > res->peak_mbps)
				res->peak_mbps = mbps;
		}
		tb = t;
		if (ws->iters ? n >= ws->iters : t - t0 >= ws->duration)
			break;
		perf_progress_tick(&pr, c->size, n, ws->iters, ws->duration);
	}
	res->iters = n;
	res->bytes = n * c->size;
	res->secs = t - t0;
	if (res->peak_mbps == 0 && res->secs > 0) /* no full batch */
		res->peak_mbps = (double)res->bytes / res->secs / PERF_MB;
}

/* Run one size as the driver of an RMA test; fills res.  BW peak: the best
 * stretch of depth transfers; the clock stops when the last completed. */
static void rma_drive(struct dir *d, struct rma_ctx *c, const struct wire_size *ws,
		      struct wire_result *res)
{
	struct perf_progress pr;
	uint64_t k = 0, n = 0, depth = (uint64_t)d->o.depth;
	double t0, tb, t;

	if (d->o.batch) {
		rma_drive_batch(d, c, ws, res);
		return;
	}
	c->depth = depth;
	c->issued = 0;
	for (; k < ws->warmup; k++)
		rma_slide(c, k);
	if (ws->warmup)
		fence(c->epd);
	perf_progress_start(&pr, d->progress);
	t0 = tb = perf_now();
	res->peak_mbps = 0;
	for (;;) {
		rma_slide(c, k++);
		n++;
		if (ws->iters && n >= ws->iters)
			break;
		if (n % depth == 0) {
			t = perf_now();
			if (t > tb) {
				double mbps = (double)(depth * c->size) /
					      (t - tb) / PERF_MB;

				if (mbps > res->peak_mbps)
					res->peak_mbps = mbps;
			}
			tb = t;
			if (!ws->iters && t - t0 >= ws->duration)
				break;
			perf_progress_tick(&pr, c->size, n, ws->iters,
					   ws->duration);
		}
	}
	fence(c->epd);
	t = perf_now();
	res->iters = n;
	res->bytes = n * c->size;
	res->secs = t - t0;
	if (res->peak_mbps == 0 && res->secs > 0) /* fewer than depth */
		res->peak_mbps = (double)res->bytes / res->secs / PERF_MB;
}

/* send test, driver side: byte 0 of each message is 1 on the last one. */
static void send_drive(struct dir *d, uint8_t *buf, const struct wire_size *ws,
		       struct wire_result *res)
{
	struct perf_progress pr;
	uint64_t n = 0, k, depth = (uint64_t)d->o.depth;
	double t0, tb, t;
	int last = 0;

	buf[0] = 0;
	for (k = 0; k < ws->warmup; k++)
		perf_send(d->epd, buf, ws->size);
	perf_progress_start(&pr, d->progress);
	t0 = tb = perf_now();
	res->peak_mbps = 0;
	while (!last) {
		uint64_t cnt = depth, j;

		if (ws->iters && ws->iters - n <= cnt) {
			cnt = ws->iters - n;
			last = 1;
		} else if (!ws->iters && perf_now() - t0 >= ws->duration) {
			cnt = 1;
			last = 1;
		}
		for (j = 0; j < cnt; j++) {
			if (last && j == cnt - 1)
				buf[0] = 1;
			perf_send(d->epd, buf, ws->size);
		}
		n += cnt;
		t = perf_now();
		if (cnt == depth && t > tb) {
			double mbps = (double)(cnt * ws->size) / (t - tb) / PERF_MB;

			if (mbps > res->peak_mbps)
				res->peak_mbps = mbps;
		}
		tb = t;
		perf_progress_tick(&pr, ws->size, n, ws->iters, ws->duration);
	}
	res->iters = n;
	res->bytes = n * ws->size;
	res->secs = perf_now() - t0;
	if (res->peak_mbps == 0 && res->secs > 0)
		res->peak_mbps = (double)res->bytes / res->secs / PERF_MB;
}

/* send test, target side: the receiver's view is the official one. */
static void send_serve(struct dir *d, uint8_t *buf, const struct wire_size *ws,
		       struct wire_result *res)
{
	uint64_t n = 0, k, depth = (uint64_t)d->o.depth;
	double t0, tb, t;

	for (k = 0; k < ws->warmup; k++)
		perf_recv(d->epd, buf, ws->size);
	t0 = tb = perf_now();
	res->peak_mbps = 0;
	for (;;) {
		perf_recv(d->epd, buf, ws->size);
		n++;
		if (n % depth == 0) {
			t = perf_now();
			if (t > tb) {
				double mbps = (double)(depth * ws->size) /
					      (t - tb) / PERF_MB;

				if (mbps > res->peak_mbps)
					res->peak_mbps = mbps;
			}
			tb = t;
		}
		if (buf[0] == 1)
			break;
		if (buf[0] != 0)
			perf_fail("send test: message %llu has a bad marker %u",
				  (unsigned long long)n, buf[0]);
	}
	t = perf_now();
	res->iters = n;
	res->bytes = n * ws->size;
	res->secs = t - t0;
	if (res->peak_mbps == 0 && res->secs > 0)
		res->peak_mbps = (double)res->bytes / res->secs / PERF_MB;
	if (ws->iters && n != ws->iters)
		perf_fail("send test: got %llu messages, expected %llu",
			  (unsigned long long)n, (unsigned long long)ws->iters);
}

/* ------------------------------------------------------------------ */

#define SEED 0x5c1f

/* Run every size of one direction. */
static void *run_dir(void *arg)
{
	struct dir *d = arg;
	enum test t = d->o.test;
	uint64_t wmax = 0, bufmax = 0;
	uint8_t *mem = NULL;
	off_t off = 0, roff = 0;
	int i, vflag = 0, *marks = NULL;

	for (i = 0; i < d->nsizes; i++) {
		uint64_t w = win_len(d->sizes[i], d->o.depth);

		if (w > wmax)
			wmax = w;
		if (page_up(d->sizes[i]) > bufmax)
			bufmax = page_up(d->sizes[i]);
	}
	if (is_rma(t)) {
		mem = d->o.shared ? perf_alloc_shared(wmax) : perf_alloc(wmax);
		/* the target's window, and the driver's for writeto/readfrom */
		if (!d->drive || !is_v(t)) {
			int prot = SCIF_PROT_READ | SCIF_PROT_WRITE;

			off = scif_register(d->epd, mem, wmax, 0, prot, 0);
			if (off == SCIF_REGISTER_FAILED)
				perf_die("scif_register(%llu bytes)",
					 (unsigned long long)wmax);
		}
		if (d->drive && d->o.cache)
			vflag = SCIF_RMA_USECACHE;
		marks = calloc((size_t)d->o.depth, sizeof(*marks));
		if (!marks)
			perf_fail("out of memory");
	} else {
		mem = perf_alloc(bufmax);
	}

	for (i = 0; i < d->nsizes; i++) {
		uint64_t size = d->sizes[i];
		struct wire_size ws = { .size = size };
		struct wire_ready rd = { (uint64_t)off, wmax };
		struct wire_result mine = { .verify = -2 }, peer;
		uint64_t nslots = wmax / size, used;

		if (nslots > (uint64_t)d->o.depth)
			nslots = (uint64_t)d->o.depth;
		if (nslots < 1)
			nslots = 1;
		if (d->drive) {
			ws.duration = d->o.duration;
			ws.iters = d->o.duration > 0 ? 0 :
				   d->o.iters ? d->o.iters : default_iters(size);
			/* default warm-up: one pass over the window for RMA
			 * (so a cached v-op registers each slot before the
			 * clock starts), iterations/8 (1..16) for send */
			ws.warmup = d->o.warmup ? d->o.warmup :
				    is_rma(t) ? nslots :
				    default_warmup(ws.iters ? ws.iters :
						   DEF_MAX_ITERS);
			perf_send(d->epd, &ws, sizeof(ws));
		} else {
			perf_recv(d->epd, &ws, sizeof(ws));
			if (ws.size != size)
				perf_fail("protocol: size %llu, expected %llu",
					  (unsigned long long)ws.size,
					  (unsigned long long)size);
		}
		/* prepare data for --verify: pattern at the source, zeros at
		 * the destination */
		if (d->o.verify) {
			uint64_t span = is_rma(t) ? nslots * size : size;
			int src = d->drive ? !is_read(t) : is_read(t);

			if (!is_rma(t))
				src = d->drive;
			if (src)
				perf_fill(mem, span, SEED, 0);
			else
				memset(mem, 0, span);
		}
		if (d->drive) {
			perf_recv(d->epd, &rd, sizeof(rd));
			roff = (off_t)rd.roff;
		} else {
			perf_send(d->epd, &rd, sizeof(rd));
		}

		if (d->drive && is_rma(t)) {
			struct rma_ctx c = { .epd = d->epd, .test = t,
					     .flags = vflag, .loff = off,
					     .roff = roff, .lbuf = mem,
					     .size = size, .nslots = nslots,
					     .marks = marks };

			if (t == T_MMAP) {
				c.map = scif_mmap(NULL, nslots * size,
						  SCIF_PROT_READ, 0, d->epd,
						  roff);
				if (c.map == SCIF_MMAP_FAILED)
					perf_die("scif_mmap");
			}
			rma_drive(d, &c, &ws, &mine);
			if (t == T_MMAP && scif_munmap(c.map, nslots * size))
				perf_die("scif_munmap");
		} else if (d->drive) {
			send_drive(d, mem, &ws, &mine);
		} else if (!is_rma(t)) {
			send_serve(d, mem, &ws, &mine);
		}

		/* results: driver first, then target (after the last fence,
		 * so the target may check its window now) */
		used = (ws.warmup + (d->drive ? mine.iters : 0));
		if (d->drive) {
			if (d->o.verify && is_read(t)) {
				used = used < nslots ? used : nslots;
				mine.verify = perf_check(mem, used * size, SEED, 0);
			}
			perf_send(d->epd, &mine, sizeof(mine));
			perf_recv(d->epd, &peer, sizeof(peer));
		} else {
			perf_recv(d->epd, &peer, sizeof(peer));
			if (d->o.verify && is_rma(t) && !is_read(t)) {
				used = ws.warmup + peer.iters;
				used = used < nslots ? used : nslots;
				mine.verify = perf_check(mem, used * size, SEED, 0);
			} else if (d->o.verify && !is_rma(t)) {
				mine.verify = size > 1 ?
					perf_check(mem + 1, size - 1, SEED, 1) : -1;
				if (mine.verify >= 0)
					mine.verify++;
			}
			perf_send(d->epd, &mine, sizeof(mine));
		}
		/* official numbers: the driver's for RMA, the receiver's for
		 * send; the verdict from whoever checked */
		{
			struct wire_result *drv = d->drive ? &mine : &peer;
			struct wire_result *tgt = d->drive ? &peer : &mine;

			d->res[i] = is_rma(t) ? *drv : *tgt;
			d->res[i].verify = drv->verify != -2 ? drv->verify :
					   tgt->verify;
		}
	}
	/* A peer that has closed already is fine: the header's answer is then
	 * ECONNRESET, and closing releases the window. */
	if (is_rma(t) && (!d->drive || !is_v(t)) &&
	    scif_unregister(d->epd, off, wmax) < 0 && errno != ECONNRESET)
		perf_die("scif_unregister");
	perf_free(mem, is_rma(t) ? wmax : bufmax);
	free(marks);
	return NULL;
}

/* ------------------------------------------------------------------ */

static void print_header(const struct opts *o, const char *side,
			 uint16_t self, uint16_t peer)
{
	printf("---------------------------------------------------------------------------------------\n");
	printf("                    %s\n", test_titles[o->test]);
	printf(" %s: node %u <-> node %u, port %u\n", side, self, peer, o->port);
	printf(" Direction       : %s\n", o->bidir ? "bidirectional (sum of both)" :
	       "client -> server" );
	if (is_rma(o->test))
		printf(" Depth           : %d %s%s\n", o->depth,
		       o->batch ? "per batch, then a fence" : "in flight",
		       is_v(o->test) ? (o->cache ? ", SCIF_RMA_USECACHE" :
					", no cache") : "");
	else
		printf(" Batch for BW peak: %d messages, SCIF_SEND_BLOCK / SCIF_RECV_BLOCK\n",
		       o->depth);
	if (o->duration > 0)
		printf(" Duration        : %.1f s per size\n", o->duration);
	printf(" Data check      : %s\n", o->verify ? "on" : "off");
	printf("---------------------------------------------------------------------------------------\n");
	printf(" #bytes     #iterations    BW peak[MB/sec]    BW average[MB/sec]   MsgRate[Mpps]\n");
	fflush(stdout);
}

static int report(const struct opts *o, struct dir *dirs, int ndirs,
		  const char *side, uint16_t self, uint16_t peer)
{
	int i, j, bad = 0;

	for (i = 0; i < dirs[0].nsizes; i++) {
		uint64_t size = dirs[0].sizes[i], iters = 0, bytes = 0;
		double peak = 0, avg = 0, rate = 0, secs = 0;
		int64_t verify = -2;

		for (j = 0; j < ndirs; j++) {
			struct wire_result *r = &dirs[j].res[i];

			iters += r->iters;
			bytes += r->bytes;
			peak += r->peak_mbps;
			if (r->secs > 0) {
				avg += (double)r->bytes / r->secs / PERF_MB;
				rate += (double)r->iters / r->secs / 1e6;
			}
			if (r->secs > secs)
				secs = r->secs;
			if (r->verify >= 0 && verify < 0)
				verify = r->verify;
			else if (r->verify == -1 && verify == -2)
				verify = -1;
		}
		if (verify >= 0)
			bad = 1;
		if (o->json) {
			printf("{\"tool\":\"scif_bw\",\"test\":\"%s\",\"side\":\"%s\","
			       "\"node\":%u,\"peer\":%u,\"bytes\":%llu,\"iterations\":%llu,"
			       "\"bw_peak_MBps\":%.2f,\"bw_avg_MBps\":%.2f,"
			       "\"msg_rate_Mpps\":%.6f,\"seconds\":%.6f,"
			       "\"total_bytes\":%llu,\"depth\":%d,\"bidir\":%s,"
			       "\"cache\":%s,\"mb_bytes\":1048576,\"verify\":%s}\n",
			       test_names[o->test], side, self, peer,
			       (unsigned long long)size, (unsigned long long)iters,
			       peak, avg, rate, secs, (unsigned long long)bytes,
			       o->depth, o->bidir ? "true" : "false",
			       o->cache ? "true" : "false",
			       verify == -2 ? "null" : verify == -1 ? "\"ok\"" :
			       "\"bad\"");
		} else {
			printf(" %-7llu    %-10llu       %-7.2f            %-7.2f\t\t   %-7.6f\n",
			       (unsigned long long)size,
			       (unsigned long long)iters, peak, avg, rate);
		}
		if (verify >= 0)
			fprintf(stderr, "%s: size %llu: DATA CHECK FAILED at byte %lld\n",
				perf_prog, (unsigned long long)size,
				(long long)verify);
		else if (verify == -1 && !o->json)
			printf("   data check: ok\n");
		fflush(stdout);
	}
	if (!o->json)
		printf("---------------------------------------------------------------------------------------\n");
	return bad;
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
		{ "duration", required_argument, NULL, 'D' },
		{ "depth", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "bidir", no_argument, NULL, 'b' },
		{ "cache", no_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'M' },
		{ "verify", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'J' },
		{ "batch", no_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { .test = T_WRITETO, .size = DEF_SIZE, .depth = DEF_DEPTH,
			  .node = -1, .port = DEF_PORT };
	struct dir dirs[2];
	struct scif_portID peer = { 0, 0 };
	uint16_t self = 0;
	long long v;
	int c, i, ndirs, bad;
	double dv;
	char *end;

	perf_prog = "scif_bw";
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "n:p:t:s:ai:D:d:w:bcM:h", lo, NULL)) != -1) {
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
				perf_fail("unknown test '%s' (writeto, readfrom, vwriteto, vreadfrom, send)",
					  optarg);
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
			if (v < 1)
				perf_fail("bad iteration count '%s'", optarg);
			o.iters = (uint64_t)v;
			break;
		case 'D':
			dv = strtod(optarg, &end);
			if (*end || !(dv > 0) || dv > 86400)
				perf_fail("bad duration '%s'", optarg);
			o.duration = dv;
			break;
		case 'd':
			v = perf_parse_num(optarg);
			if (v < 1 || v > 4096)
				perf_fail("bad depth '%s' (1 .. 4096)", optarg);
			o.depth = (int)v;
			break;
		case 'w':
			v = perf_parse_num(optarg);
			if (v < 0)
				perf_fail("bad warmup '%s'", optarg);
			o.warmup = (uint64_t)v;
			break;
		case 'b':
			o.bidir = 1;
			break;
		case 'c':
			o.cache = 1;
			break;
		case 'M':
			if (strcmp(optarg, "private") && strcmp(optarg, "shared"))
				perf_fail("bad memory '%s' (private, shared)",
					  optarg);
			o.shared = !strcmp(optarg, "shared");
			break;
		case 'V':
			o.verify = 1;
			break;
		case 'J':
			o.json = 1;
			break;
		case 'B':
			o.batch = 1;
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
		fprintf(stderr, "scif_bw: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (o.cache && !is_v(o.test))
		fprintf(stderr, "scif_bw: note: --cache only affects vwriteto/vreadfrom\n");
	if (scif_get_nodeIDs(NULL, 0, &self) < 0)
		perf_die("scif_get_nodeIDs (is the node map set? SCIF_NODES_FILE)");

	memset(dirs, 0, sizeof(dirs));
	if (o.node >= 0) {
		/* client: one connection per direction, parameters on each */
		ndirs = o.bidir ? 2 : 1;
		peer.node = (uint16_t)o.node;
		peer.port = o.port;
		for (i = 0; i < ndirs; i++) {
			struct wire_params p = {
				MAGIC, VERSION, o.test, (uint32_t)o.depth,
				(o.bidir ? F_BIDIR : 0) | (o.cache ? F_CACHE : 0) |
					(o.verify ? F_VERIFY : 0) |
					(o.all ? F_ALL : 0) |
					(o.batch ? F_BATCH : 0) |
					(o.shared ? F_SHARED : 0),
				(uint32_t)i, o.size, o.iters, o.warmup, o.duration
			};

			dirs[i].epd = perf_connect(peer.node, o.port, 60);
			perf_send(dirs[i].epd, &p, sizeof(p));
			dirs[i].drive = i == 0;
		}
	} else {
		scif_epd_t lep = perf_listen(o.port);
		struct wire_params p;

		if (!o.json)
			fprintf(stderr, "scif_bw: node %u waiting for a client on port %u\n",
				self, o.port);
		ndirs = 1;
		for (i = 0; i < ndirs; i++) {
			dirs[i].epd = perf_accept(lep, &peer);
			perf_recv(dirs[i].epd, &p, sizeof(p));
			if (p.magic != MAGIC || p.version != VERSION ||
			    p.test >= T_COUNT || p.role != (uint32_t)i ||
			    p.depth < 1 || p.depth > 4096)
				perf_fail("client sent bad parameters (another program, or another version?)");
			if (i == 0) {
				o.test = (enum test)p.test;
				o.depth = (int)p.depth;
				o.bidir = !!(p.flags & F_BIDIR);
				o.cache = !!(p.flags & F_CACHE);
				o.verify = !!(p.flags & F_VERIFY);
				o.all = !!(p.flags & F_ALL);
				o.batch = !!(p.flags & F_BATCH);
				o.shared = !!(p.flags & F_SHARED);
				o.size = p.size;
				o.iters = p.iters;
				o.warmup = p.warmup;
				o.duration = p.duration;
				ndirs = o.bidir ? 2 : 1;
			}
			dirs[i].drive = i == 1;
		}
		scif_close(lep);
	}

	for (i = 0; i < ndirs; i++) {
		dirs[i].o = o;
		dirs[i].nsizes = perf_sizes(dirs[i].sizes, MAX_SIZES, o.all,
					    SWEEP_LO, SWEEP_HI, o.size);
		dirs[i].progress = dirs[i].drive && (o.node >= 0 || !o.bidir);
	}
	if (!o.json)
		print_header(&o, o.node >= 0 ? "Client" : "Server", self, peer.node);

	if (ndirs == 1) {
		run_dir(&dirs[0]);
	} else {
		pthread_t th;

		if (pthread_create(&th, NULL, run_dir, &dirs[1]))
			perf_fail("pthread_create failed");
		run_dir(&dirs[0]);
		pthread_join(th, NULL);
	}
	bad = report(&o, dirs, ndirs, o.node >= 0 ? "client" : "server", self,
		     peer.node);
	for (i = 0; i < ndirs; i++)
		if (scif_close(dirs[i].epd) < 0)
			perf_die("scif_close");
	return bad ? 1 : 0;
}
