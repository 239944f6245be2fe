/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The gntdev calls' argument checks and undo paths (cmocka), over a pair of
 * endpoints of this process connected through shm, with the fake
 * libxengnttab (memfd stand-in buffers).  After every failure, injected at
 * each step in turn, nothing may be left: no descriptor (/proc/self/fd), no
 * mapping (/proc/self/maps), no window (the range registers again), and in
 * the fake no export, grant mapping, import or gntdev handle.
 */
#include "fake_xengnttab.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <scif.h>
#include <scif_gnt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#define PS 4096
#define RW (SCIF_PROT_READ | SCIF_PROT_WRITE)
#define FIXED_AT 0x100000

static struct {
	void *(*page)(uint32_t, uint32_t);
	void (*inject)(const char *, int);
	void (*ioctls)(int);
	void (*counts)(struct fakegnt_counts *);
} fk;

static scif_epd_t lep, a, b; /* a: the backend's end, b: the peer */
static const uint32_t refs[4] = { 11, 9, 10, 8 };

struct usage {
	int fds, maps;
	struct fakegnt_counts c;
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	int n = 0, ch;

	assert_non_null(f);
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static void usage_get(struct usage *u)
{
	fk.counts(&u->c); /* first: the fake notices releases when asked */
	u->fds = count_fds();
	u->maps = count_maps();
}

static void usage_same(const struct usage *before)
{
	struct usage now;

	usage_get(&now);
	assert_int_equal(now.fds, before->fds);
	assert_int_equal(now.maps, before->maps);
	assert_int_equal(now.c.exports, before->c.exports);
	assert_int_equal(now.c.maps, before->c.maps);
	assert_int_equal(now.c.imports, before->c.imports);
	assert_int_equal(now.c.handles, before->c.handles);
}

/* The fixed range is free again: no window was left behind. */
static void range_free(void)
{
	void *p = aligned_alloc(PS, 4 * PS);
	off_t o;

	assert_non_null(p);
	o = scif_register(a, p, 4 * PS, FIXED_AT, RW, SCIF_MAP_FIXED);
	assert_int_equal(o, FIXED_AT);
	assert_int_equal(scif_unregister(a, o, 4 * PS), 0);
	free(p);
}

static off_t grant(int count, off_t at, int flags)
{
	return scif_register_grant_refs(a, 1, refs, count, at, RW, flags);
}

/* errno of a call that must fail */
#define FAILS_WITH(call, err)                                               \
	do {                                                                \
		errno = 0;                                                  \
		assert_true((call) == -1);                                  \
		assert_int_equal(errno, err);                               \
	} while (0)

static void test_grant_args(void **state)
{
	int wrong_prot[] = { 0, 8, SCIF_PROT_READ | 16 };
	struct usage u;
	size_t i;

	usage_get(&u);
	FAILS_WITH(scif_register_grant_refs(-1, 1, refs, 1, 0, RW, 0), EBADF);
	FAILS_WITH(scif_register_grant_refs(a, 1, NULL, 1, 0, RW, 0), EINVAL);
	FAILS_WITH(grant(0, 0, 0), EINVAL);
	FAILS_WITH(grant(-1, 0, 0), EINVAL);
	for (i = 0; i < sizeof(wrong_prot) / sizeof(wrong_prot[0]); i++)
		FAILS_WITH(scif_register_grant_refs(a, 1, refs, 1, 0,
						    wrong_prot[i], 0),
			   EINVAL);
	FAILS_WITH(grant(1, 0, 0x20), EINVAL);
	FAILS_WITH(grant(1, -PS, 0), EINVAL);
	FAILS_WITH(grant(1, FIXED_AT + 1, SCIF_MAP_FIXED), EINVAL);
	FAILS_WITH(scif_register_grant_refs(a, 77, refs, 1, 0, RW, 0), EINVAL);
	usage_same(&u);
	range_free();
}

static void test_dmabuf_args(void **state)
{
	int fd = memfd_create("t", MFD_CLOEXEC), rofd;
	char path[64];
	struct usage u;

	assert_true(fd >= 0 && !ftruncate(fd, 4 * PS));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rofd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(rofd >= 0);
	usage_get(&u);
	FAILS_WITH(scif_register_dmabuf(-7, fd, 0, PS, 0, RW, 0), EBADF);
	FAILS_WITH(scif_register_dmabuf(a, -1, 0, PS, 0, RW, 0), EBADF);
	FAILS_WITH(scif_register_dmabuf(a, 999, 0, PS, 0, RW, 0), EBADF);
	FAILS_WITH(scif_register_dmabuf(a, fd, -PS, PS, 0, RW, 0), EINVAL);
	FAILS_WITH(scif_register_dmabuf(a, fd, 1, PS, 0, RW, 0), EINVAL);
	FAILS_WITH(scif_register_dmabuf(a, fd, 0, 0, 0, RW, 0), EINVAL);
	FAILS_WITH(scif_register_dmabuf(a, fd, 0, PS + 1, 0, RW, 0), EINVAL);
	FAILS_WITH(scif_register_dmabuf(a, fd, PS, 4 * PS, 0, RW, 0), EINVAL);
	FAILS_WITH(scif_register_dmabuf(a, fd, 0, PS, 0, 0, 0), EINVAL);
	/* cannot be mapped writable, and shm needs the mapping */
	FAILS_WITH(scif_register_dmabuf(a, rofd, 0, PS, 0, RW, 0), EOPNOTSUPP);
	/* ... readable it can */
	assert_true(scif_register_dmabuf(a, rofd, 0, PS, FIXED_AT,
					 SCIF_PROT_READ, SCIF_MAP_FIXED) ==
		    FIXED_AT);
	assert_int_equal(scif_unregister(a, FIXED_AT, PS), 0);
	usage_same(&u);
	range_free();
	close(rofd);
	close(fd);
}

static void test_to_refs_args(void **state)
{
	int fd = memfd_create("t", MFD_CLOEXEC);
	uint32_t gr[4];
	struct usage u;

	assert_true(fd >= 0 && !ftruncate(fd, 4 * PS));
	usage_get(&u);
	FAILS_WITH(scif_dmabuf_to_grant_refs(fd, 1, 4, NULL), EINVAL);
	FAILS_WITH(scif_dmabuf_to_grant_refs(fd, 1, 0, gr), EINVAL);
	FAILS_WITH(scif_dmabuf_to_grant_refs(fd, 1, 5, gr), EINVAL);
	FAILS_WITH(scif_dmabuf_to_grant_refs(-1, 1, 4, gr), EBADF);
	FAILS_WITH(scif_dmabuf_to_grant_refs(fd, 77, 4, gr), EINVAL);
	fk.inject("xengnttab_dmabuf_imp_to_refs", ENOMEM);
	FAILS_WITH(scif_dmabuf_to_grant_refs(fd, 1, 4, gr), ENOMEM);
	fk.ioctls(0);
	FAILS_WITH(scif_dmabuf_to_grant_refs(fd, 1, 4, gr), EOPNOTSUPP);
	fk.ioctls(1);
	FAILS_WITH(scif_dmabuf_release_grant_refs(fd), ENOENT);
	usage_same(&u);
	assert_int_equal(scif_dmabuf_to_grant_refs(fd, 1, 4, gr), 0);
	FAILS_WITH(scif_dmabuf_to_grant_refs(fd, 1, 4, gr), EEXIST);
	assert_int_equal(scif_dmabuf_release_grant_refs(fd), 0);
	FAILS_WITH(scif_dmabuf_release_grant_refs(fd), ENOENT);
	usage_same(&u);
	close(fd);
}

/* One failure injected at each step of scif_register_grant_refs. */
static void test_grant_undo(void **state)
{
	void *p = aligned_alloc(PS, PS);
	struct usage u;
	off_t busy;

	assert_non_null(p);
	usage_get(&u);
	setenv("SCIF_XENGNTTAB_LIB", "/nonexistent/libxengnttab.so.1", 1);
	FAILS_WITH(grant(1, 0, 0), ENODEV);
	setenv("SCIF_XENGNTTAB_LIB", "libm.so.6", 1); /* not libxengnttab */
	FAILS_WITH(grant(1, 0, 0), ENODEV);
	setenv("SCIF_XENGNTTAB_LIB", getenv("T_FAKE_LIB"), 1);
	fk.inject("xengnttab_open", ENOENT); /* no /dev/xen/gntdev */
	FAILS_WITH(grant(1, 0, 0), ENODEV);
	fk.inject("xengnttab_dmabuf_exp_from_refs", EINVAL);
	FAILS_WITH(grant(4, 0, 0), EINVAL);
	fk.inject("xengnttab_dmabuf_exp_from_refs", ENOMEM);
	FAILS_WITH(grant(4, 0, 0), ENOMEM);
	usage_same(&u);
	/* exported and mapped, then the window cannot be placed */
	busy = scif_register(a, p, PS, FIXED_AT + PS, RW, SCIF_MAP_FIXED);
	assert_true(busy == FIXED_AT + PS);
	usage_get(&u);
	FAILS_WITH(grant(4, FIXED_AT, SCIF_MAP_FIXED), EADDRINUSE);
	usage_same(&u);
	/* the grant-map path: the mapping fails, or the window */
	fk.ioctls(0);
	fk.inject("xengnttab_map_domain_grant_refs", EINVAL);
	FAILS_WITH(grant(4, 0, 0), EINVAL);
	fk.inject("xengnttab_map_domain_grant_refs", ENOTTY);
	FAILS_WITH(grant(4, 0, 0), EOPNOTSUPP);
	FAILS_WITH(grant(4, FIXED_AT, SCIF_MAP_FIXED), EADDRINUSE);
	fk.ioctls(1);
	usage_same(&u);
	assert_int_equal(scif_unregister(a, busy, PS), 0);
	range_free();
	free(p);
}

/* Xen's own libxengnttab on a machine that is not a Xen domain: no
 * /dev/xen/gntdev, ENODEV (and ENODEV too where it is not installed). */
static void test_real_libxengnttab(void **state)
{
	int fd = memfd_create("t", MFD_CLOEXEC), fds;
	uint32_t gr[1];

	assert_true(fd >= 0 && !ftruncate(fd, PS));
	if (!access("/dev/xen/gntdev", F_OK))
		skip(); /* a Xen domain after all */
	fds = count_fds();
	unsetenv("SCIF_XENGNTTAB_LIB");
	FAILS_WITH(grant(1, 0, 0), ENODEV);
	FAILS_WITH(scif_dmabuf_to_grant_refs(fd, 1, 1, gr), ENODEV);
	setenv("SCIF_XENGNTTAB_LIB", getenv("T_FAKE_LIB"), 1);
	assert_int_equal(count_fds(), fds);
	close(fd);
}

static void test_grant_unconnected(void **state)
{
	int fd = memfd_create("t", MFD_CLOEXEC);
	scif_epd_t e = scif_open();
	struct usage u;

	assert_true(e >= 0 && fd >= 0 && !ftruncate(fd, PS));
	usage_get(&u);
	FAILS_WITH(scif_register_grant_refs(e, 1, refs, 4, 0, RW, 0),
		   ENOTCONN);
	FAILS_WITH(scif_register_dmabuf(e, fd, 0, PS, 0, RW, 0), ENOTCONN);
	usage_same(&u);
	assert_int_equal(scif_close(e), 0);
	close(fd);
}

/* The peer writes the window; the bytes are in the granted pages.  Then
 * unregister, or close, releases everything. */
static void write_through(off_t o, int alias)
{
	unsigned char buf[4 * PS];
	size_t i, k;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	assert_int_equal(scif_vwriteto(b, buf, sizeof(buf), o, SCIF_RMA_SYNC),
			 0);
	if (!alias) /* exported: the pages are back once released */
		assert_int_equal(scif_unregister(a, o, 4 * PS), 0);
	for (k = 0; k < 4; k++)
		assert_memory_equal(fk.page(1, refs[k]), buf + k * PS, PS);
	if (alias)
		assert_int_equal(scif_unregister(a, o, 4 * PS), 0);
}

static void test_grant_release(void **state)
{
	struct usage u;
	off_t o;

	usage_get(&u);
	o = grant(4, 0, 0);
	assert_true(o >= 0);
	write_through(o, 0);
	usage_same(&u);
	/* the grant-map path: the window is the domain's pages */
	fk.ioctls(0);
	o = grant(4, 0, 0);
	fk.ioctls(1);
	assert_true(o >= 0);
	write_through(o, 1);
	usage_same(&u);
	/* the kernel does not report the release in time: unregister still
	 * succeeds (and warns), and nothing of ours is left */
	o = grant(4, 0, 0);
	assert_true(o >= 0);
	fk.inject("xengnttab_dmabuf_exp_wait_released", ETIMEDOUT);
	assert_int_equal(scif_unregister(a, o, 4 * PS), 0);
	usage_same(&u);
}

static void *connect_thread(void *arg)
{
	struct scif_portID dst = { .node = 0, .port = *(uint16_t *)arg };

	b = scif_open();
	if (b < 0 || scif_connect(b, &dst) < 0)
		b = -1;
	return NULL;
}

static void pair_open(void)
{
	struct scif_portID peer;
	static uint16_t port;
	pthread_t t;
	int ret;

	lep = scif_open();
	assert_true(lep >= 0);
	ret = scif_bind(lep, 0); /* a free port: no clash with other runs */
	assert_true(ret > 0);
	port = (uint16_t)ret;
	assert_int_equal(scif_listen(lep, 2), 0);
	assert_int_equal(pthread_create(&t, NULL, connect_thread, &port), 0);
	assert_int_equal(scif_accept(lep, &peer, &a, SCIF_ACCEPT_SYNC), 0);
	pthread_join(t, NULL);
	assert_true(b >= 0);
}

/* scif_close releases the windows it still has. */
static void test_close_releases(void **state)
{
	struct usage u;

	scif_close(a);
	scif_close(b);
	scif_close(lep);
	pair_open();
	usage_get(&u);
	fk.ioctls(0);
	assert_true(grant(2, 0, 0) >= 0);
	fk.ioctls(1);
	assert_true(scif_register_grant_refs(a, 1, refs + 2, 2, 0, RW, 0) >=
		    0);
	assert_int_equal(scif_close(a), 0);
	a = -1;
	fk.counts(&u.c); /* released; the endpoint's own descriptors went */
	assert_int_equal(u.c.exports + u.c.maps + u.c.handles, 0);
}

static int group_setup(void **state)
{
	static char buf[4 * PS];
	struct fakegnt_counts c;
	void *h = dlopen(getenv("T_FAKE_LIB"), RTLD_NOW);

	if (!h)
		return -1;
	setenv("SCIF_XENGNTTAB_LIB", getenv("T_FAKE_LIB"), 1);
	fk.page = (void *(*)(uint32_t, uint32_t))dlsym(h, "fakegnt_page");
	fk.inject = (void (*)(const char *, int))dlsym(h, "fakegnt_fail");
	fk.ioctls = (void (*)(int))dlsym(h, "fakegnt_dmabuf_ioctls");
	fk.counts = (void (*)(struct fakegnt_counts *))dlsym(h,
							    "fakegnt_counts");
	if (!fk.page || !fk.inject || !fk.ioctls || !fk.counts)
		return -1;
	pair_open();
	/* the lazily made resources of the library and the fake exist
	 * before any baseline */
	range_free();
	fk.counts(&c);
	return scif_vwriteto(b, buf, sizeof(buf), 0x10000000, 0) == -1 &&
			       errno == ENXIO ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grant_args),
		cmocka_unit_test(test_dmabuf_args),
		cmocka_unit_test(test_to_refs_args),
		cmocka_unit_test(test_grant_undo),
		cmocka_unit_test(test_grant_unconnected),
		cmocka_unit_test(test_real_libxengnttab),
		cmocka_unit_test(test_grant_release),
		cmocka_unit_test(test_close_releases),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
