// SPDX-License-Identifier: BSD-3-Clause
/*
 * An engine fault in the middle of RMAs (mic provider, SCIF_MIC_DMA=model,
 * SCIF_MIC_MODEL_FAIL=K: the model fails its K-th descriptor once, or
 * SCIF_MIC_MODEL_HANG=K: the engine stops there until the driver's progress
 * bound resets it):
 *   t_mic_dma server PORT  |  t_mic_dma client NODE PORT
 * The client writes 1 MiB chunks until one fails; that call must fail with
 * ENODEV, not hang; every chunk written before it must be intact on the
 * server, the failing one must hold new data up to a cache line boundary
 * (what the engine had moved) and the old data after it, the chunks after it
 * their old data.  Then the channel works again: the failed chunk rewritten,
 * a fence, reads back, an unaligned vwriteto and a remote signal, every byte
 * checked by the server.
 */
#include "../cluster/tc.h"

#include <sys/mman.h>

#define MiB (1024u * 1024)
#define WIN (8 * MiB)
#define OLD 1 /* the server's initial pattern */

enum { OP_VERIFY = 1, OP_PREFIX, OP_WORD, OP_QUIT };

struct cmd {
	uint32_t op, pad;
	uint64_t off, len, seed;
};

static uint8_t *map_win(void)
{
	void *p = mmap(NULL, WIN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	TC_CHECK(p != MAP_FAILED, "mmap");
	return p;
}

/* OP_PREFIX: bytes of [off, off + len) that hold seed's data before the
 * first that does not; the rest must be the old data (else -1). */
static int64_t prefix(const uint8_t *w, const struct cmd *c)
{
	uint64_t i = 0;

	while (i < c->len && w[c->off + i] == tc_pat(c->seed, c->off + i))
		i++;
	if (tc_verify(w + c->off + i, c->len - i, OLD, c->off + i) >= 0)
		return -1;
	return (int64_t)i;
}

static int server(uint16_t port)
{
	scif_epd_t l = tc_listen(port, 1), epd;
	struct scif_portID peer;
	uint8_t *w = map_win();
	struct cmd c;
	int64_t r;

	tc_fill(w, WIN, OLD, 0);
	TC_CHECK(scif_accept(l, &peer, &epd, SCIF_ACCEPT_SYNC) == 0, "accept");
	TC_CHECK(scif_register(epd, w, WIN, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			       SCIF_MAP_FIXED) == 0,
		 "register");
	tc_send_all(epd, "r", 1);
	for (;;) {
		tc_recv_all(epd, &c, sizeof(c));
		if (c.op == OP_QUIT)
			break;
		TC_CHECK(c.off <= WIN && c.len <= WIN - c.off, "command range");
		if (c.op == OP_VERIFY)
			r = tc_verify(w + c.off, c.len, c.seed, c.off);
		else if (c.op == OP_PREFIX)
			r = prefix(w, &c);
		else
			r = *(volatile uint64_t *)(w + c.off) == c.seed ? -1 : 0;
		tc_send_all(epd, &r, sizeof(r));
	}
	TC_CHECK(scif_unregister(epd, 0, WIN) == 0, "unregister");
	r = 0;
	tc_send_all(epd, &r, sizeof(r)); /* then the client may close */
	scif_close(epd);
	scif_close(l);
	return 0;
}

static int64_t ask(scif_epd_t epd, uint32_t op, uint64_t off, uint64_t len,
		   uint64_t seed)
{
	struct cmd c = { .op = op, .off = off, .len = len, .seed = seed };
	int64_t r;

	tc_send_all(epd, &c, sizeof(c));
	tc_recv_all(epd, &r, sizeof(r));
	return r;
}

static void verify(scif_epd_t epd, uint64_t off, uint64_t len, uint64_t seed,
		   const char *what)
{
	int64_t r = ask(epd, OP_VERIFY, off, len, seed);

	TC_CHECK(r < 0, "%s: byte %lld of [%llu, +%llu) is wrong", what,
		 (long long)r, (unsigned long long)off,
		 (unsigned long long)len);
}

/* Write 1 MiB chunks until the injected fault; the failing chunk. */
static unsigned write_until_fault(scif_epd_t epd, uint8_t *l)
{
	double t0;
	unsigned i;
	int r;

	for (i = 0; i < WIN / MiB; i++) {
		tc_fill(l + i * MiB, MiB, 100 + i, i * MiB);
		t0 = tc_now();
		r = scif_writeto(epd, i * MiB, MiB, i * MiB, SCIF_RMA_SYNC);
		if (r) {
			TC_CHECK(errno == ENODEV, "the faulted writeto");
			printf("chunk %u: writeto failed with ENODEV after "
			       "%.3f s\n", i, tc_now() - t0);
			return i;
		}
	}
	TC_FAIL("no engine error: is SCIF_MIC_MODEL_FAIL set?");
}

static void after_fault(scif_epd_t epd, uint8_t *l, unsigned f)
{
	uint8_t *v = malloc(MiB + 64);
	int mark;

	/* The channel was reset: the failed write goes through now. */
	TC_CHECK(scif_writeto(epd, f * MiB, MiB, f * MiB, SCIF_RMA_SYNC) == 0,
		 "writeto after the fault");
	verify(epd, f * MiB, MiB, 100 + f, "rewritten chunk");
	TC_CHECK(scif_fence_mark(epd, SCIF_FENCE_INIT_SELF, &mark) == 0 &&
			 scif_fence_wait(epd, mark) == 0,
		 "fence after the fault");
	memset(l, 0, WIN);
	TC_CHECK(scif_readfrom(epd, 0, (f + 1) * MiB, 0, SCIF_RMA_SYNC) == 0,
		 "readfrom after the fault");
	for (unsigned i = 0; i <= f; i++)
		TC_CHECK(tc_verify(l + i * MiB, MiB, 100 + i, i * MiB) < 0,
			 "readfrom chunk %u", i);
	TC_CHECK(v, "malloc");
	tc_fill(v + 3, MiB - 100, 77, 7 * MiB + 5);
	TC_CHECK(scif_vwriteto(epd, v + 3, MiB - 100, 7 * MiB + 5,
			       SCIF_RMA_SYNC | SCIF_RMA_ORDERED) == 0,
		 "unaligned vwriteto");
	verify(epd, 7 * MiB + 5, MiB - 100, 77, "unaligned vwriteto");
	TC_CHECK(scif_fence_signal(epd, 0, 0, WIN - 8, 0xfeedf00dcafeull,
				   SCIF_FENCE_INIT_SELF |
					   SCIF_SIGNAL_REMOTE) == 0,
		 "signal");
	TC_CHECK(ask(epd, OP_WORD, WIN - 8, 8, 0xfeedf00dcafeull) < 0,
		 "the remote signal's value");
	free(v);
}

static int client(uint16_t node, uint16_t port)
{
	scif_epd_t epd = tc_connect(node, port, 30);
	uint8_t *l = map_win();
	unsigned f, i;
	int64_t p;
	char ready;

	TC_CHECK(scif_register(epd, l, WIN, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			       SCIF_MAP_FIXED) == 0,
		 "register");
	tc_recv_all(epd, &ready, 1);
	f = write_until_fault(epd, l);
	for (i = 0; i < f; i++)
		verify(epd, i * MiB, MiB, 100 + i, "chunk written before");
	p = ask(epd, OP_PREFIX, f * MiB, MiB, 100 + f);
	TC_CHECK(p >= 0 && p % 64 == 0 && p < MiB,
		 "the failed chunk: %lld bytes of new data, then not the old",
		 (long long)p);
	printf("failed chunk %u: %lld bytes landed before the fault, the rest "
	       "intact\n", f, (long long)p);
	for (i = f + 1; i < WIN / MiB; i++)
		verify(epd, i * MiB, MiB, OLD, "chunk not yet written");
	after_fault(epd, l, f);
	TC_CHECK(scif_unregister(epd, 0, WIN) == 0, "unregister");
	ask(epd, OP_QUIT, 0, 0, 0);
	scif_close(epd);
	printf("engine fault mid-RMA: ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	return tc_main(argc, argv, server, client);
}
