/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the /proc/PID/maps parser (libscif/procmaps.c) behind
 * scif_mmap's direct path: the lines proc(5) shows (paths with spaces,
 * deleted files, none), malformed lines, and a walk over this process's
 * own mappings against what fstat says of the files mapped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "procmaps.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void test_parse_lines(void **state)
{
	char l1[] = "7f12a000-7f12c000 rw-s 00002000 00:01 4242                "
		    "       /memfd:t_mmap-W (deleted)\n";
	char l2[] = "55d0c000-55d0e000 r-xp 00001000 fd:01 131   /usr/bin/my "
		    "prog";
	char l3[] = "7ffd1000-7ffd3000 rw-p 00000000 00:00 0 \n";
	char l4[] = "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
		    "                  [vsyscall]";
	struct scif_vma v;

	(void)state;
	assert_int_equal(scif__vma_parse(l1, &v), 0);
	assert_true(v.start == 0x7f12a000 && v.end == 0x7f12c000);
	assert_true(v.r && v.w && !v.x && v.shared);
	assert_true(v.off == 0x2000 && v.major == 0 && v.minor == 1);
	assert_true(v.ino == 4242);
	assert_string_equal(v.path, "/memfd:t_mmap-W (deleted)");
	assert_int_equal(scif__vma_parse(l2, &v), 0);
	assert_true(v.r && !v.w && v.x && !v.shared);
	assert_true(v.major == 0xfd && v.minor == 1 && v.ino == 131);
	assert_true(v.off == 0x1000);
	assert_string_equal(v.path, "/usr/bin/my prog");
	assert_int_equal(scif__vma_parse(l3, &v), 0);
	assert_true(v.ino == 0 && !v.shared);
	assert_string_equal(v.path, "");
	assert_int_equal(scif__vma_parse(l4, &v), 0);
	assert_true(v.start == (uintptr_t)0xffffffffff600000ull);
	assert_string_equal(v.path, "[vsyscall]");
}

static void test_parse_bad(void **state)
{
	char b1[] = "";
	char b2[] = "7f12a000-7f12c000 rw-s 00002000 00:01\n";
	char b3[] = "7f12c000-7f12a000 rw-s 00000000 00:01 1 /x";
	char b4[] = "7f12a000 rw-s 00000000 00:01 1 /x";
	char b5[] = "7f12a000-7f12c000 rw 00000000 00:01 1 /x";
	char b6[] = "7f12a000-7f12a000 rw-s 00000000 00:01 1 /x";
	struct scif_vma v;

	(void)state;
	assert_int_equal(scif__vma_parse(b1, &v), -EINVAL);
	assert_int_equal(scif__vma_parse(b2, &v), -EINVAL);
	assert_int_equal(scif__vma_parse(b3, &v), -EINVAL);
	assert_int_equal(scif__vma_parse(b4, &v), -EINVAL);
	assert_int_equal(scif__vma_parse(b5, &v), -EINVAL);
	assert_int_equal(scif__vma_parse(b6, &v), -EINVAL);
}

struct seen {
	int n;
	struct scif_vma v[8];
	char path[8][128];
	int stop_at; /* return 7 from the call of that number */
};

static int record(const struct scif_vma *v, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8) {
		s->v[s->n] = *v;
		snprintf(s->path[s->n], sizeof(s->path[0]), "%s", v->path);
	}
	return ++s->n == s->stop_at ? 7 : 0;
}

/* Three mappings of ours side by side: a memfd at a file offset, shared
 * anonymous memory, private memory; the walk sees each as it is, only
 * those meeting the range, in order, and stops when told. */
static void test_walk_self(void **state)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	int fd = memfd_create("procmaps-test", MFD_CLOEXEC);
	struct seen s = { 0 };
	struct stat st;
	char *base;

	(void)state;
	assert_true(fd >= 0 && ftruncate(fd, (off_t)(8 * pg)) == 0);
	assert_int_equal(fstat(fd, &st), 0);
	base = mmap(NULL, 6 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		    0);
	assert_true(base != MAP_FAILED);
	assert_true(mmap(base, 2 * pg, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, (off_t)(3 * pg)) == base);
	assert_true(mmap(base + 2 * pg, 2 * pg, PROT_READ,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0) == base + 2 * pg);
	assert_true(mmap(base + 4 * pg, 2 * pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0) == base + 4 * pg);
	assert_int_equal(scif__vma_walk(0, (uintptr_t)base + pg,
					(uintptr_t)base + 5 * pg, record, &s),
			 0);
	assert_int_equal(s.n, 3);
	assert_true(s.v[0].start == (uintptr_t)base && s.v[0].shared);
	assert_true(s.v[0].off == 3 * pg && s.v[0].ino == st.st_ino);
	assert_true(s.v[0].major == major(st.st_dev) &&
		    s.v[0].minor == minor(st.st_dev));
	assert_string_equal(s.path[0], "/memfd:procmaps-test (deleted)");
	assert_true(s.v[1].start == (uintptr_t)base + 2 * pg);
	assert_true(s.v[1].shared && !s.v[1].w && s.v[1].ino != 0);
	assert_string_equal(s.path[1], "/dev/zero (deleted)");
	/* (it may have merged with private memory after it) */
	assert_true(s.v[2].start == (uintptr_t)base + 4 * pg);
	assert_true(!s.v[2].shared && s.v[2].ino == 0);
	/* one page: one mapping; stopped by the callback's answer */
	memset(&s, 0, sizeof(s));
	assert_int_equal(scif__vma_walk(getpid(), (uintptr_t)base + 2 * pg,
					(uintptr_t)base + 3 * pg, record, &s),
			 0);
	assert_int_equal(s.n, 1);
	assert_true(s.v[0].start == (uintptr_t)base + 2 * pg);
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	assert_int_equal(scif__vma_walk(0, (uintptr_t)base,
					(uintptr_t)base + 6 * pg, record, &s),
			 7);
	assert_int_equal(s.n, 2);
	/* a process that does not exist */
	assert_int_equal(scif__vma_walk(-2, 0, UINTPTR_MAX, record, &s),
			 -ENOENT);
	munmap(base, 6 * pg);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_lines),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_walk_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
