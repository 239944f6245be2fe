/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Grant-reference and dma-buf windows between two processes (pair.sh:
 * "t_gnt server PORT" and "t_gnt client NODE PORT").
 *
 * The server plays a Xen backend: the fake libxengnttab (SCIF_XENGNTTAB_LIB)
 * holds domain 1's granted pages; the server registers them as windows, the
 * client reads and writes them with scif_vreadfrom / scif_vwriteto, then
 * window to window from a window of its own with scif_readfrom /
 * scif_writeto (SYNC, and without SYNC then a fence; offsets and lengths
 * across page boundaries), and the server checks every byte in the
 * "foreign" pages themselves, the client every byte it reads.  Then a real
 * dma-buf (vgem, or the memfd stand-in) as a window, a dma-buf granted to
 * the domain, an unregister while the client's writes are in flight, and
 * the errors.
 *
 * T_GNT_DMABUF=ok (default): dma-buf windows work over this provider;
 * T_GNT_DMABUF=eopnotsupp: they cannot (verbs over rxe, which registers no
 * dma-buf, with a DRM dma-buf whose mapping cannot be pinned; shm likewise):
 * registration fails with EOPNOTSUPP leaving nothing behind, and grant
 * windows take the grant-map path.
 */
#include "dmabuf_src.h"
#include "fake_xengnttab.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <scif.h>
#include <scif_gnt.h>
#include <stdlib.h>
#include <time.h>

#define PS 4096
#define N 16   /* pages of the grant window */
#define NRO 4  /* of the read-only one */
#define NWO 2  /* of the write-only one */
#define ND 8   /* of the dma-buf window */
#define DOM 1

#define CHECK(c)                                                            \
	do {                                                                \
		if (!(c)) {                                                 \
			fprintf(stderr, "t_gnt %s:%d: %s failed (errno %d %s)\n", \
				role, __LINE__, #c, errno, strerror(errno)); \
			exit(1);                                            \
		}                                                           \
	} while (0)

static const char *role = "?";

static struct {
	void *(*page)(uint32_t, uint32_t);
	void (*ioctls)(int);
	void (*counts)(struct fakegnt_counts *);
	const char *(*backend)(void);
} fk;

struct offs {
	int64_t win, ro, wo, dbuf;
};

static uint8_t pat(int seed, size_t i)
{
	return (uint8_t)((i * 131 + (i >> 12) * 17 + (size_t)seed * 7) ^
			 (size_t)seed);
}

static void fill(uint8_t *p, size_t len, int seed, size_t from)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pat(seed, from + i);
}

/* every byte of p against the pattern; the first difference, or -1 */
static long differs(const uint8_t *p, size_t len, int seed, size_t from)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != pat(seed, from + i))
			return (long)i;
	return -1;
}

/* the first byte where a and b differ, or -1 */
static long first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (a[i] != b[i])
			return (long)i;
	return -1;
}

static uint32_t refs[N], refs_ro[NRO], refs_wo[NWO];

static void sendv(scif_epd_t ep, const void *b, int len)
{
	CHECK(scif_send(ep, (void *)b, len, SCIF_SEND_BLOCK) == len);
}

static void recvv(scif_epd_t ep, void *b, int len)
{
	CHECK(scif_recv(ep, b, len, SCIF_RECV_BLOCK) == len);
}

/*
 * Window to window: the client's own window (ordinary memory) and the
 * grant windows, by scif_writeto and scif_readfrom.  Byte x of a grant
 * window written with seed s holds pat(s, x); both sides replay the same
 * writes on model[], what every byte of the grant window must hold.
 */
#define LW ((N + 2) * PS) /* the client's window */

struct span {
	long l, r, len; /* offset in the client's window, in the grant window */
};

#define NS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* writeto with SYNC: misaligned differently on the two sides, across page
 * boundaries, two bytes across one, up to the window's end; gaps between */
static const struct span w_sync[] = {
	{ 0, 0, PS },
	{ PS + 5, PS + 100, 3 * PS - 37 },
	{ 6 * PS - 1, 5 * PS - 1, 2 },
	{ 8 * PS + 3001, 7 * PS + 4095, 5 * PS + 1 },
	{ LW - PS - 17, N * PS - PS - 17, PS + 17 },
};
/* writeto without SYNC, then one fence: over parts of those and the gaps,
 * disjoint from each other on both sides (they are not ordered) */
static const struct span w_async[] = {
	{ 3 * PS + 7, 2 * PS - 11, 2 * PS + 22 },
	{ 11, 15 * PS + 11, 77 },
	{ 10 * PS, 4 * PS + 4000, 3 * PS },
};
/* the write-only window, all of it in two pieces split mid-page */
static const struct span w_wo[] = {
	{ 50, 0, PS + 1234 },
	{ 3 * PS + 9, PS + 1234, PS - 1234 },
};
/* readfrom with SYNC: the whole grant window at an odd offset of the
 * client's; a part of it; the read-only window less 100 bytes each end */
static const struct span r_all[] = { { 123, 0, N * PS } };
static const struct span r_part[] = { { 5, 3 * PS - 999, 6 * PS + 1234 } };
static const struct span r_ro[] = { { 77, 100, NRO * PS - 200 } };
/* readfrom without SYNC, then one fence: the whole grant window in two
 * pieces split mid-page, a byte apart in the client's window */
static const struct span r_async[] = {
	{ 1, 0, 7 * PS + 1 },
	{ 7 * PS + 3, 7 * PS + 1, 9 * PS - 1 },
};

static uint8_t model[N * PS];

static void model_write(const struct span *s, int n, int seed)
{
	int i;

	for (i = 0; i < n; i++)
		fill(model + s[i].r, (size_t)s[i].len, seed, (size_t)s[i].r);
}

/* ---- server ---- */

static long long now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

static long long now_ms(void)
{
	return now_us() / 1000;
}


static void fake_load(void)
{
	void *h = dlopen(getenv("SCIF_XENGNTTAB_LIB"), RTLD_NOW);

	CHECK(h);
	fk.page = (void *(*)(uint32_t, uint32_t))dlsym(h, "fakegnt_page");
	fk.ioctls = (void (*)(int))dlsym(h, "fakegnt_dmabuf_ioctls");
	fk.counts = (void (*)(struct fakegnt_counts *))dlsym(h,
							    "fakegnt_counts");
	fk.backend = (const char *(*)(void))dlsym(h, "fakegnt_backend");
	CHECK(fk.page && fk.ioctls && fk.counts && fk.backend);
}

static void foreign_fill(const uint32_t *r, int n, int seed)
{
	int i;

	for (i = 0; i < n; i++) {
		uint8_t *p = fk.page(DOM, r[i]);

		CHECK(p);
		fill(p, PS, seed, (size_t)i * PS);
	}
}

/* every byte of the granted pages r[0..n) against want[0..n * PS) */
static void foreign_same(const uint32_t *r, int n, const uint8_t *want)
{
	int i;

	for (i = 0; i < n; i++) {
		const uint8_t *p = fk.page(DOM, r[i]);
		long d;

		CHECK(p);
		d = first_diff(p, want + (size_t)i * PS, PS);
		if (d >= 0)
			fprintf(stderr, "t_gnt: ref %u byte %ld (window byte %ld) "
					"wrong\n", r[i], d, (long)i * PS + d);
		CHECK(d < 0);
	}
}

static void foreign_check(const uint32_t *r, int n, int seed)
{
	static uint8_t want[N * PS];

	CHECK(n <= N);
	fill(want, (size_t)n * PS, seed, 0);
	foreign_same(r, n, want);
}

static void same_counts(const struct fakegnt_counts *a)
{
	struct fakegnt_counts c;

	fk.counts(&c);
	CHECK(!memcmp(&c, a, sizeof(c)));
}

static void nothing_left(void)
{
	struct fakegnt_counts c;

	fk.counts(&c);
	if (c.exports || c.maps || c.imports || c.handles)
		fprintf(stderr, "t_gnt: left: %d exports %d maps %d imports "
				"%d handles\n", c.exports, c.maps, c.imports,
			c.handles);
	CHECK(!c.exports && !c.maps && !c.imports && !c.handles);
}

static bool expect_ok(void)
{
	const char *e = getenv("T_GNT_DMABUF");

	return !e || strcmp(e, "eopnotsupp");
}

/* A grant window: the dma-buf path, or where dma-buf windows cannot work
 * here, EOPNOTSUPP from it and then the grant-map path. */
static off_t grant_window(scif_epd_t ep, const uint32_t *r, int n, int prot)
{
	struct fakegnt_counts before;
	off_t o;

	fk.counts(&before);
	o = scif_register_grant_refs(ep, DOM, r, n, 0, prot, 0);
	if (expect_ok())
		return o;
	CHECK(o == -1 && errno == EOPNOTSUPP);
	same_counts(&before);
	fk.ioctls(0);
	o = scif_register_grant_refs(ep, DOM, r, n, 0, prot, 0);
	fk.ioctls(1);
	return o;
}

static int dmabuf_new(int dev, size_t len, int *fd, char **view)
{
	return dev >= 0 ? dmabuf_src_vgem(dev, len, fd, view) :
			  dmabuf_src_memfd(len, fd, view);
}

/* A read-only descriptor of a dma-buf like fd's (a dma-buf cannot be
 * reopened through /proc: vgem exports a second buffer read-only). */
static int readonly_dmabuf(int dev, int fd)
{
	char path[64], *view;
	int rofd;

	if (dev >= 0) {
		CHECK(!dmabuf_src_vgem_mode(dev, ND * PS, 1, &rofd, &view));
		munmap(view, ND * PS);
		return rofd;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rofd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(rofd >= 0);
	return rofd;
}

/* the client's window-to-window RMA on the grant windows (client_rma) */
static void server_rma(scif_epd_t ep)
{
	int go = 1;

	foreign_fill(refs, N, 10); /* the "guest" writes anew */
	fill(model, N * PS, 10, 0);
	sendv(ep, &go, sizeof(go));
	recvv(ep, &go, sizeof(go)); /* read, refused, written with SYNC */
	model_write(w_sync, NS(w_sync), 12);
	foreign_same(refs, N, model);
	foreign_check(refs_ro, NRO, 2);
	foreign_check(refs_wo, NWO, 13);
	sendv(ep, &go, sizeof(go)); /* checked: the client writes on */
	recvv(ep, &go, sizeof(go)); /* written without SYNC, fenced */
	model_write(w_async, NS(w_async), 14);
	foreign_same(refs, N, model);
}

/* a dma-buf as a window, written and read by the client */
static void server_dmabuf(scif_epd_t ep, int dev, struct offs *o)
{
	char *view;
	int fd, rofd;

	CHECK(!dmabuf_new(dev, ND * PS, &fd, &view));
	fill((uint8_t *)view, ND * PS, 4, 0);
	o->dbuf = scif_register_dmabuf(ep, fd, 0, ND * PS, 0,
				       SCIF_PROT_READ | SCIF_PROT_WRITE, 0);
	/* a descriptor that cannot be mapped writable: EOPNOTSUPP */
	rofd = readonly_dmabuf(dev, fd);
	errno = 0;
	CHECK(scif_register_dmabuf(ep, rofd, 0, ND * PS, 0,
				   SCIF_PROT_READ | SCIF_PROT_WRITE, 0) == -1 &&
	      errno == EOPNOTSUPP);
	close(rofd);
	close(fd); /* the window holds the dma-buf */
	if (expect_ok())
		CHECK(o->dbuf >= 0);
	else
		CHECK(o->dbuf == -1 && errno == EOPNOTSUPP);
	sendv(ep, o, sizeof(*o));
	if (o->dbuf >= 0) {
		recvv(ep, &fd, sizeof(fd));
		CHECK(differs((uint8_t *)view, ND * PS, 5, 0) < 0);
		CHECK(!scif_unregister(ep, o->dbuf, ND * PS));
	}
	munmap(view, ND * PS);
}

/* a dma-buf granted to the domain: the domain sees its pages */
static void server_to_refs(int dev)
{
	uint32_t gr[ND];
	char *view;
	int fd, i;

	CHECK(!dmabuf_new(dev, ND * PS, &fd, &view));
	fill((uint8_t *)view, ND * PS, 7, 0);
	CHECK(!scif_dmabuf_to_grant_refs(fd, DOM, ND, gr));
	for (i = 0; i < ND; i++)
		CHECK(differs(fk.page(DOM, gr[i]), PS, 7, (size_t)i * PS) < 0);
	CHECK(scif_dmabuf_to_grant_refs(fd, DOM, ND, gr) == -1 &&
	      errno == EEXIST);
	CHECK(scif_dmabuf_to_grant_refs(fd, 99, ND, gr) == -1);
	CHECK(!scif_dmabuf_release_grant_refs(fd));
	CHECK(!fk.page(DOM, gr[0]));
	CHECK(scif_dmabuf_release_grant_refs(fd) == -1 && errno == ENOENT);
	CHECK(scif_dmabuf_to_grant_refs(fd, DOM, ND + 1, gr) == -1 &&
	      errno == EINVAL);
	CHECK(scif_dmabuf_to_grant_refs(-1, DOM, ND, gr) == -1 &&
	      errno == EBADF);
	close(fd);
	munmap(view, ND * PS);
}

static void server_errors(scif_epd_t ep)
{
	uint32_t bad[2] = { 8, 5000 };
	const char *lib = getenv("SCIF_XENGNTTAB_LIB");
	int rw = SCIF_PROT_READ | SCIF_PROT_WRITE;
	int mfd = memfd_create("t_gnt", MFD_CLOEXEC);
	struct fakegnt_counts before;

	fk.counts(&before);
	CHECK(mfd >= 0 && !ftruncate(mfd, PS));
	errno = 0;
	CHECK(scif_register_grant_refs(ep, 99, refs, 1, 0, rw, 0) == -1 &&
	      errno == EINVAL);
	CHECK(scif_register_grant_refs(ep, DOM, bad, 2, 0, rw, 0) == -1 &&
	      errno == EINVAL);
	CHECK(scif_register_grant_refs(ep, DOM, refs, 0, 0, rw, 0) == -1 &&
	      errno == EINVAL);
	CHECK(scif_register_grant_refs(ep, DOM, NULL, 1, 0, rw, 0) == -1 &&
	      errno == EINVAL);
	CHECK(scif_register_grant_refs(ep, DOM, refs, 1, 0, 0, 0) == -1 &&
	      errno == EINVAL);
	CHECK(scif_register_grant_refs(-5, DOM, refs, 1, 0, rw, 0) == -1 &&
	      errno == EBADF);
	setenv("SCIF_XENGNTTAB_LIB", "/nonexistent/libxengnttab.so.1", 1);
	CHECK(scif_register_grant_refs(ep, DOM, refs, 1, 0, rw, 0) == -1 &&
	      errno == ENODEV);
	CHECK(scif_dmabuf_to_grant_refs(mfd, DOM, 1, bad) == -1 &&
	      errno == ENODEV);
	setenv("SCIF_XENGNTTAB_LIB", lib, 1);
	close(mfd);
	same_counts(&before);
}

static int server(uint16_t port)
{
	int rw = SCIF_PROT_READ | SCIF_PROT_WRITE, dev = -1, i, go;
	scif_epd_t lep = scif_open(), ep;
	struct scif_portID peer;
	struct offs o = { 0 };
	long long t0;

	role = "server";
	fake_load();
	if (!strcmp(fk.backend(), "vgem"))
		CHECK((dev = dmabuf_src_vgem_open()) >= 0);
	for (i = 0; i < N; i++)
		refs[i] = 8 + (uint32_t)((i * 5 + 3) % N); /* out of order */
	for (i = 0; i < NRO; i++)
		refs_ro[i] = 40 + (uint32_t)i;
	for (i = 0; i < NWO; i++)
		refs_wo[i] = 48 + (uint32_t)i;
	foreign_fill(refs, N, 1);
	foreign_fill(refs_ro, NRO, 2);
	CHECK(lep >= 0 && scif_bind(lep, port) == port);
	CHECK(!scif_listen(lep, 4));
	CHECK(!scif_accept(lep, &peer, &ep, SCIF_ACCEPT_SYNC));
	o.win = grant_window(ep, refs, N, rw);
	o.ro = grant_window(ep, refs_ro, NRO, SCIF_PROT_READ);
	o.wo = grant_window(ep, refs_wo, NWO, SCIF_PROT_WRITE);
	CHECK(o.win >= 0 && o.ro >= 0 && o.wo >= 0);
	sendv(ep, &o, sizeof(o));
	recvv(ep, &go, sizeof(go));
	foreign_check(refs, N, 3); /* the client's writes, in place */
	foreign_check(refs_wo, NWO, 8);
	server_rma(ep);
	CHECK(!scif_unregister(ep, o.wo, NWO * PS));
	foreign_check(refs_wo, NWO, 13);
	server_dmabuf(ep, dev, &o);
	server_to_refs(dev);
	/* unregister while the client's writes are in flight */
	recvv(ep, &go, sizeof(go));
	t0 = now_us();
	CHECK(!scif_unregister(ep, o.win, N * PS));
	t0 = now_us() - t0;
	foreign_check(refs, N, 6);
	sendv(ep, &go, sizeof(go));
	server_errors(ep);
	recvv(ep, &go, sizeof(go));
	CHECK(!scif_close(ep)); /* releases the read-only window */
	CHECK(!scif_close(lep));
	nothing_left();
	printf("t_gnt server: ok (%s dma-bufs, dma-buf windows %s; unregister "
	       "under the peer's writes %lld us)\n", fk.backend(),
	       expect_ok() ? "work" : "refused as expected", t0);
	return 0;
}

/* ---- client ---- */

static struct {
	scif_epd_t ep;
	uint8_t *mem;
	off_t off;
} lw; /* the client's window */

static void fence(scif_epd_t ep)
{
	int mark;

	CHECK(!scif_fence_mark(ep, SCIF_FENCE_INIT_SELF, &mark));
	CHECK(!scif_fence_wait(ep, mark));
}

/* s[0..n) from the client's window to window win, with seed's pattern */
static void lw_write(off_t win, const struct span *s, int n, int seed,
		     int flags)
{
	int i;

	for (i = 0; i < n; i++) {
		fill(lw.mem + s[i].l, (size_t)s[i].len, seed, (size_t)s[i].r);
		CHECK(!scif_writeto(lw.ep, lw.off + s[i].l, (size_t)s[i].len,
				    win + s[i].r, flags));
	}
}

static bool in_spans(const struct span *s, int n, long x)
{
	int i;

	for (i = 0; i < n; i++)
		if (x >= s[i].l && x < s[i].l + s[i].len)
			return true;
	return false;
}

/* s[0..n) of window win into the client's window (without SYNC: then one
 * fence): every byte against want[] (byte x of win at want[x]), and no
 * byte of the client's window written outside the spans */
static void lw_read(off_t win, const struct span *s, int n, int flags,
		    const uint8_t *want)
{
	long d, x;
	int i;

	memset(lw.mem, 0xa5, LW);
	for (i = 0; i < n; i++)
		CHECK(!scif_readfrom(lw.ep, lw.off + s[i].l, (size_t)s[i].len,
				     win + s[i].r, flags));
	if (!(flags & SCIF_RMA_SYNC))
		fence(lw.ep);
	for (i = 0; i < n; i++) {
		d = first_diff(lw.mem + s[i].l, want + s[i].r,
			       (size_t)s[i].len);
		if (d >= 0)
			fprintf(stderr, "t_gnt: readfrom %ld+%ld: byte %ld "
					"wrong\n", s[i].r, s[i].len, d);
		CHECK(d < 0);
	}
	for (x = 0; x < LW; x++)
		CHECK(in_spans(s, n, x) || lw.mem[x] == 0xa5);
}

/* the grant windows by scif_readfrom / scif_writeto from a window of the
 * client's own (server_rma checks the granted pages) */
static void client_rma(scif_epd_t ep, const struct offs *o)
{
	static uint8_t ro_want[NRO * PS];
	int go = 1;

	lw.ep = ep;
	lw.mem = aligned_alloc(PS, LW);
	CHECK(lw.mem);
	lw.off = scif_register(ep, lw.mem, LW, 0,
			       SCIF_PROT_READ | SCIF_PROT_WRITE, 0);
	CHECK(lw.off >= 0);
	recvv(ep, &go, sizeof(go)); /* the "guest" has written anew */
	fill(model, N * PS, 10, 0);
	lw_read(o->win, r_all, NS(r_all), SCIF_RMA_SYNC, model);
	fill(ro_want, NRO * PS, 2, 0);
	lw_read(o->ro, r_ro, NS(r_ro), SCIF_RMA_SYNC, ro_want);
	errno = 0;
	CHECK(scif_writeto(ep, lw.off, PS, o->ro, SCIF_RMA_SYNC) == -1 &&
	      errno == EACCES);
	CHECK(scif_readfrom(ep, lw.off, PS, o->wo, SCIF_RMA_SYNC) == -1 &&
	      errno == EACCES);
	lw_write(o->win, w_sync, NS(w_sync), 12, SCIF_RMA_SYNC);
	model_write(w_sync, NS(w_sync), 12);
	lw_read(o->win, r_part, NS(r_part), SCIF_RMA_SYNC, model);
	lw_write(o->wo, w_wo, NS(w_wo), 13, SCIF_RMA_SYNC);
	sendv(ep, &go, sizeof(go));
	recvv(ep, &go, sizeof(go));
	lw_write(o->win, w_async, NS(w_async), 14, 0);
	fence(ep);
	model_write(w_async, NS(w_async), 14);
	sendv(ep, &go, sizeof(go));
	lw_read(o->win, r_async, NS(r_async), 0, model);
	CHECK(!scif_unregister(ep, lw.off, LW));
	free(lw.mem);
}


static int client(uint16_t node, uint16_t port)
{
	struct scif_portID dst = { .node = node, .port = port };
	uint8_t *buf = aligned_alloc(PS, N * PS);
	scif_epd_t ep = scif_open();
	struct offs o;
	long long end;
	int go = 1, n = 0;

	role = "client";
	CHECK(buf && ep >= 0);
	/* the server may not listen yet; a server that failed never will */
	for (end = now_ms() + 60000; scif_connect(ep, &dst) < 0;) {
		CHECK(errno == ECONNREFUSED && now_ms() < end);
		usleep(100000);
	}
	recvv(ep, &o, sizeof(o));
	CHECK(!scif_vreadfrom(ep, buf, N * PS, o.win, SCIF_RMA_SYNC));
	CHECK(differs(buf, N * PS, 1, 0) < 0);
	CHECK(!scif_vreadfrom(ep, buf, NRO * PS, o.ro, SCIF_RMA_SYNC));
	CHECK(differs(buf, NRO * PS, 2, 0) < 0);
	errno = 0;
	CHECK(scif_vwriteto(ep, buf, PS, o.ro, SCIF_RMA_SYNC) == -1 &&
	      errno == EACCES);
	CHECK(scif_vreadfrom(ep, buf, PS, o.wo, SCIF_RMA_SYNC) == -1 &&
	      errno == EACCES);
	fill(buf, NWO * PS, 8, 0);
	CHECK(!scif_vwriteto(ep, buf, NWO * PS, o.wo, SCIF_RMA_SYNC));
	fill(buf, N * PS, 3, 0);
	CHECK(!scif_vwriteto(ep, buf, N * PS, o.win, SCIF_RMA_SYNC));
	sendv(ep, &go, sizeof(go));
	client_rma(ep, &o);
	recvv(ep, &o, sizeof(o)); /* the server resends every offset */
	if (o.dbuf >= 0) {
		CHECK(!scif_vreadfrom(ep, buf, ND * PS, o.dbuf, SCIF_RMA_SYNC));
		CHECK(differs(buf, ND * PS, 4, 0) < 0);
		fill(buf, ND * PS, 5, 0);
		CHECK(!scif_vwriteto(ep, buf, ND * PS, o.dbuf, SCIF_RMA_SYNC));
		sendv(ep, &go, sizeof(go));
	}
	fill(buf, N * PS, 6, 0);
	CHECK(!scif_vwriteto(ep, buf, N * PS, o.win, SCIF_RMA_SYNC));
	/* the same bytes again and again until the window is gone; the
	 * server unregisters once the first few are posted (in flight) */
	for (end = now_ms() + 20000; now_ms() < end; n++) {
		if (scif_vwriteto(ep, buf, N * PS, o.win, 0))
			break;
		if (n == 3)
			sendv(ep, &go, sizeof(go));
	}
	CHECK(n > 3);
	CHECK(now_ms() < end && errno == ENXIO);
	recvv(ep, &go, sizeof(go));
	sendv(ep, &go, sizeof(go));
	CHECK(!scif_close(ep));
	printf("t_gnt client: ok (%d writes before ENXIO)\n", n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "server"))
		return server((uint16_t)atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client((uint16_t)atoi(argv[2]), (uint16_t)atoi(argv[3]));
	fprintf(stderr, "usage: t_gnt server PORT | t_gnt client NODE PORT\n");
	return 2;
}
