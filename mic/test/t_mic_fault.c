// SPDX-License-Identifier: BSD-3-Clause
/*
 * The x100 DMA driver against the engine model, when things go wrong and
 * when several threads use several channels: an error on descriptor k, a
 * hung channel, slow completion (not a hang), the channel policy, the sysfs
 * side of the BAR seam, and four channels from four threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "mic_test.h"

/* Long bound unless a test needs a hang to show (loaded machines). */
static int setup_attr(void **state, uint32_t ms, int poll_dstat)
{
	struct mic_dev_attr a = { .timeout_ms = ms, .poll_dstat = poll_dstat };
	struct env *e = calloc(1, sizeof(*e));

	assert_int_equal(env_up(e, &a), 0);
	*state = e;
	return 0;
}

static int setup(void **state)
{
	return setup_attr(state, 2000, 0);
}

static int setup_dstat(void **state)
{
	return setup_attr(state, 2000, 1);
}

static int setup_short(void **state)
{
	return setup_attr(state, 300, 0);
}

static int setup_short_dstat(void **state)
{
	return setup_attr(state, 300, 1);
}

static int teardown(void **state)
{
	env_down(*state);
	free(*state);
	return 0;
}

/*
 * Descriptor k fails: the copies before it are complete and intact, the
 * one containing it and every later one fail with EIO, and the channel
 * works again afterwards.
 */
static void test_desc_error(void **state)
{
	size_t n = 64 * 1024, big = 1 << 20;
	struct env *e = *state;
	uint8_t *h = host_alloc(e, 8 << 20), *c = card_alloc(e, 8 << 20);
	uint64_t ca, cc, cd, ce;
	struct mic_chan_stats st;
	struct mic_chan *ch;

	assert_int_equal(mic_chan_open(e->dev, 0, &ch), 0);
	fill(h, 8 << 20, 11);
	assert_int_equal(mic_chan_copy(ch, c, h, n, 0, &ca), 0);
	assert_int_equal(mic_chan_copy(ch, c + n, h + n, n, MIC_COPY_SYNC,
				       NULL), 0);
	mic_model_fail_desc(e->m, 0, 1);	/* C's fine, D's first fails */
	assert_int_equal(mic_chan_copy(ch, c + 2 * n, h + 2 * n, n, 0, &cc),
			 0);
	assert_int_equal(mic_chan_copy(ch, c + 4 * n, h + 4 * n, big, 0, &cd),
			 0);
	assert_int_equal(mic_chan_copy(ch, c + 40 * n, h + 40 * n, n, 0, &ce),
			 0);
	assert_int_equal(mic_chan_wait(ch, cc), 0);
	assert_int_equal(mic_chan_wait(ch, cd), -EIO);
	assert_int_equal(mic_chan_wait(ch, ce), -EIO);
	assert_int_equal(mic_chan_test(ch, ce), -EIO);
	assert_int_equal(mic_chan_test(ch, ca), 1);
	assert_int_equal(diff_at(c, h, 3 * n), -1);
	mic_chan_stats(ch, &st);
	assert_int_equal(st.resets, 1);
	/* Recovered: the same copies again. */
	assert_int_equal(mic_chan_copy(ch, c + 4 * n, h + 4 * n, big,
				       MIC_COPY_SYNC, NULL), 0);
	assert_int_equal(mic_chan_copy(ch, c + 40 * n + 3, h + 40 * n + 3,
				       n, MIC_COPY_SYNC, NULL), 0);
	assert_int_equal(diff_at(c + 4 * n, h + 4 * n, big), -1);
	assert_int_equal(diff_at(c + 40 * n + 3, h + 40 * n + 3, n), -1);
	assert_int_equal(diff_at(c, h, 3 * n), -1);
	/* An error inside a synchronous copy is reported by the copy. */
	mic_model_fail_desc(e->m, 0, 0);
	assert_int_equal(mic_chan_copy(ch, c, h + 1, n, MIC_COPY_SYNC, NULL),
			 -EIO);
	assert_int_equal(mic_chan_copy(ch, c, h, n, MIC_COPY_SYNC, NULL), 0);
	mic_chan_close(ch);
}

/* A hung channel: ETIMEDOUT after the timeout, then it works again. */
static void test_hang(void **state)
{
	size_t n = 64 * 1024;
	struct env *e = *state;
	uint8_t *h = host_alloc(e, 4 * n), *c = card_alloc(e, 4 * n);
	struct mic_chan *ch;
	uint64_t ck, t0, dt;

	assert_int_equal(mic_chan_open(e->dev, 1, &ch), 0);
	fill(h, 4 * n, 12);
	assert_int_equal(mic_chan_copy(ch, c, h, n, MIC_COPY_SYNC, NULL), 0);
	mic_model_hang(e->m, 1, 1);
	assert_int_equal(mic_chan_copy(ch, c + n, h + n, n, 0, &ck), 0);
	t0 = now_ns();
	assert_int_equal(mic_chan_wait(ch, ck), -ETIMEDOUT);
	dt = now_ns() - t0;
	assert_true(dt >= 290000000ull && dt < 5000000000ull);
	assert_int_equal(mic_chan_copy(ch, c + 2 * n, h + 2 * n, n,
				       MIC_COPY_SYNC, NULL), 0);
	assert_int_equal(diff_at(c, h, n), -1);
	assert_int_equal(diff_at(c + 2 * n, h + 2 * n, n), -1);
	mic_chan_close(ch);
}

/* A channel that hangs at its k-th descriptor: the ones before it land,
 * the copy holding it fails with ETIMEDOUT, then the channel works. */
static void test_hang_desc(void **state)
{
	size_t big = 2 << 20, half = 512 * 1024;
	struct env *e = *state;
	uint8_t *h = host_alloc(e, big), *c = card_alloc(e, big);
	struct mic_chan *ch;

	assert_int_equal(mic_chan_open(e->dev, 2, &ch), 0);
	fill(h, big, 13);
	memset(c, 0, big);
	mic_model_hang_desc(e->m, 2, 2);	/* 512 KiB each: 2 land */
	assert_int_equal(mic_chan_copy(ch, c, h, big, MIC_COPY_SYNC, NULL),
			 -ETIMEDOUT);
	assert_int_equal(diff_at(c, h, 2 * half), -1);
	assert_true(c[2 * half] == 0 && c[big - 1] == 0);
	assert_int_equal(mic_model_executed(e->m, 2), 2);
	assert_int_equal(mic_chan_copy(ch, c, h, big, MIC_COPY_SYNC, NULL), 0);
	assert_int_equal(diff_at(c, h, big), -1);
	mic_chan_close(ch);
}

/* Slow but moving: 6 descriptors x 100 ms > the 300 ms bound, no error. */
static void test_slow(void **state)
{
	size_t big = 3 << 20;
	struct env *e = *state;
	uint8_t *h = host_alloc(e, big), *c = card_alloc(e, big);
	struct mic_chan *ch;
	uint64_t t0;

	assert_int_equal(mic_chan_open(e->dev, 2, &ch), 0);
	fill(h, big, 13);
	mic_model_delay(e->m, 2, 100000);
	t0 = now_ns();
	assert_int_equal(mic_chan_copy(ch, c, h, big, MIC_COPY_SYNC, NULL), 0);
	assert_true(now_ns() - t0 > 500000000ull);
	assert_int_equal(diff_at(c, h, big), -1);
	mic_model_delay(e->m, 2, 0);
	mic_chan_close(ch);
}

/* Host to host and foreign pointers are refused before the engine. */
static void test_refused(void **state)
{
	struct env *e = *state;
	uint8_t *h = host_alloc(e, 8192), stack[64];
	struct mic_chan *ch;

	assert_int_equal(mic_chan_open(e->dev, -1, &ch), 0);
	assert_int_equal(mic_chan_copy(ch, h, h + 4096, 128, 0, NULL),
			 -EINVAL);
	assert_int_equal(mic_chan_copy(ch, stack, h, 64, 0, NULL), -EINVAL);
	mic_chan_close(ch);
}

/* Channel policy: the allowed set, and card-owned channels. */
static void test_policy(void **state)
{
	struct mic_dev_attr a = { 0 };
	struct mic_chan *ch[5];
	struct env e;
	int i;

	setenv("MIC_DMA_CHANNELS", "2,4-7", 1);
	assert_int_equal(env_up(&e, &a), 0);
	assert_int_equal(mic_chan_open(e.dev, 0, &ch[0]), -EACCES);
	assert_int_equal(mic_chan_open(e.dev, 5, &ch[0]), -EPERM);
	assert_int_equal(mic_chan_open(e.dev, -1, &ch[0]), 0);
	assert_int_equal(mic_chan_num(ch[0]), 2);
	assert_int_equal(mic_chan_open(e.dev, 2, &ch[1]), -EBUSY);
	mic_chan_close(ch[0]);
	env_down(&e);
	setenv("MIC_DMA_CHANNELS", "9", 1);
	assert_int_equal(env_up(&e, &a), -EINVAL);
	unsetenv("MIC_DMA_CHANNELS");
	assert_int_equal(env_up(&e, &a), 0);	/* default: 0-3 */
	for (i = 0; i < 4; i++)
		assert_int_equal(mic_chan_open(e.dev, -1, &ch[i]), 0);
	assert_int_not_equal(mic_chan_open(e.dev, -1, &ch[4]), 0);
	for (i = 0; i < 4; i++)
		mic_chan_close(ch[i]);
	env_down(&e);
	(void)state;
}

static void put_file(const char *dir, const char *name, const char *text,
		     off_t size)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	assert_true(fd >= 0);
	if (text)
		assert_int_equal(write(fd, text, strlen(text)),
				 (ssize_t)strlen(text));
	else
		assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

/* The sysfs side of the seam, on a fake PCI directory. */
static void test_sysfs(void **state)
{
	char root[] = "/tmp/mic_sysfs_XXXXXX", dir[600];
	struct mic_bar bar;

	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/0000:02:00.0", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	put_file(dir, "vendor", "0x8086\n", 0);
	put_file(dir, "device", "0x1234\n", 0);
	put_file(dir, "resource4", NULL, 0x20000);
	put_file(dir, "resource0", NULL, 1 << 20);
	assert_int_equal(mic_bar_open_sysfs(root, "0000:02:00.0", &bar),
			 -ENODEV);
	put_file(dir, "device", "0x225d\n", 0);
	assert_int_equal(mic_bar_open_sysfs(root, "0000:02:00.0", &bar), 0);
	assert_int_equal(bar.mmio_len, 0x20000);
	assert_int_equal(bar.aper_len, 1 << 20);
	bar.ops->wr(bar.ctx, 0x1A280, 0x55);
	assert_int_equal(bar.ops->rd(bar.ctx, 0x1A280), 0x55);
	mic_bar_close_sysfs(&bar);
	assert_int_equal(mic_bar_open_sysfs(root, "0000:09:00.0", &bar),
			 -ENOENT);
	snprintf(dir, sizeof(dir), "rm -rf '%s'", root);
	assert_int_equal(system(dir), 0);
	(void)state;
}

struct worker {
	struct env *e;
	int n;
	uint8_t *h, *c;
	int rc;
	char msg[160];
};

#define W_LEN (2u << 20)

static void *worker(void *arg)
{
	struct worker *w = arg;
	uint32_t x = 77 + (uint32_t)w->n;
	struct mic_chan *ch;
	int i, rc;

	w->rc = mic_chan_open(w->e->dev, w->n, &ch);
	if (w->rc)
		return NULL;
	for (i = 0; i < 150 && !w->rc; i++) {
		size_t len = 1 + (x = x * 1103515245 + 12345) % (W_LEN / 2);
		size_t so = (x >> 8) % 4096, dof = (x >> 20) % 4096;
		int up = i & 1;
		uint8_t *d = up ? w->c : w->h, *s = up ? w->h : w->c;

		fill(s + so, len, x);
		rc = mic_chan_copy(ch, d + dof, s + so, len,
				   MIC_COPY_SYNC | (i % 3 ? 0 : MIC_COPY_ORDERED),
				   NULL);
		if (rc || diff_at(d + dof, s + so, len) >= 0) {
			w->rc = rc ? rc : -EIO;
			snprintf(w->msg, sizeof(w->msg),
				 "chan %d copy %d len %zu: rc %d", w->n, i, len,
				 rc);
		}
	}
	mic_chan_close(ch);
	return NULL;
}

/* Four channels from four threads at once. */
static void test_four_threads(void **state)
{
	struct env *e = *state;
	struct worker w[4];
	pthread_t t[4];
	int i;

	for (i = 0; i < 4; i++) {
		w[i] = (struct worker){ .e = e, .n = i };
		w[i].h = host_alloc(e, W_LEN + 8192);
		w[i].c = card_alloc(e, W_LEN + 8192);
		assert_non_null(w[i].h);
		assert_non_null(w[i].c);
	}
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 4; i++) {
		if (w[i].rc)
			fail_msg("%s", w[i].msg[0] ? w[i].msg : "open failed");
		assert_true(mic_model_executed(e->m, i) > 100);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_desc_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_desc_error, setup_dstat,
						teardown),
		cmocka_unit_test_setup_teardown(test_hang_desc, setup_short,
						teardown),
		cmocka_unit_test_setup_teardown(test_hang, setup_short,
						teardown),
		cmocka_unit_test_setup_teardown(test_hang, setup_short_dstat,
						teardown),
		cmocka_unit_test_setup_teardown(test_slow, setup_short,
						teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_sysfs),
		cmocka_unit_test_setup_teardown(test_four_threads, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
