/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the tcp provider's receive parser (provider/tcp/tcp_msg.c)
 * and the requests and answers it hands on (tcp_rma.c: RMA executed at the
 * target, read data and completions at the initiator; the core's control
 * messages).  The input is what the peer sends on an established
 * connection, fed through a socket to tcp_service, the function the
 * progress thread calls, in pieces whose sizes the input's first bytes
 * choose (frames split anywhere).
 *
 * Our side, before the peer speaks: two windows with guard pages around
 * them (0x10000 read-write, RW_LEN bytes: large enough for the parser to
 * receive a write straight from the socket; 0x20000 read-only, one page),
 * a peer window at 0x40000
 * (announced by a WIN_ADD), and two RMA pieces of ours in flight there: a
 * read of READ_LEN bytes (tag 1 << 32, into a heap block of exactly that
 * size) and an 8-byte fence write (tag 1 << 32 | 1).  Checked: nothing
 * outside those (guard pages, sanitizers), the read-only window unchanged,
 * every piece completed once, every window released at the end.
 */
#include "fuzz.h"
#include "../../provider/tcp/tcp.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define PAGE 4096
#define RW_OFF 0x10000
#define RO_OFF 0x20000
#define PEER_OFF 0x40000
#define PEER_LEN 0x10000
#define RW_LEN (8 * PAGE)
#define READ_LEN 20000 /* above RX_DIRECT too, and not a page multiple */

static struct tcp_prov fz_tp = { .rxwin = 64u << 10 };
/* guard, rw window, guard, ro window, guard */
#define RO_AT (2 * PAGE + RW_LEN)
static unsigned char *fz_mem;

static struct scif_provider_ops fz_ops;

static void setup_once(void)
{
	fz_mem = mmap(NULL, RO_AT + 2 * PAGE, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FZ_CHECK(fz_mem != MAP_FAILED);
	FZ_CHECK(!mprotect(fz_mem + PAGE, RW_LEN, PROT_READ | PROT_WRITE));
	FZ_CHECK(!mprotect(fz_mem + RO_AT, PAGE, PROT_READ | PROT_WRITE));
	fz_ops = scif_tcp_ops;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fz_quiet();
	setup_once();
	return 0;
}

static void reg(struct scif_ep *ep, void *va, uint64_t len, uint64_t off,
		int prot)
{
	struct scif_mem mem = { .kind = SCIF_MEM_VA, .va = va, .len = len };
	off_t po;

	FZ_CHECK(!scif__register(ep, &mem, (off_t)off, prot, SCIF_MAP_FIXED,
				 NULL, NULL, &po));
}

/* [ep locked] The peer's window, announced as the peer's provider does. */
static void peer_window(struct scif_ep *ep, struct tcp_conn *c)
{
	unsigned char m[sizeof(struct scif_wire_win_add) + 8] = { 0 };
	struct scif_wire_hdr h = { .type = SCIF_WIRE_WIN_ADD,
				   .version = SCIF_WIRE_VERSION,
				   .len = sizeof(m) };

	tcp_put_le(m, PEER_OFF, 8);
	tcp_put_le(m + 8, PEER_LEN, 8);
	tcp_put_le(m + 16, SCIF_PROT_READ | SCIF_PROT_WRITE, 4);
	tcp_put_le(m + 20, 8, 4);
	FZ_CHECK(fz_ops.mr_export(ep, NULL, m + 24, 8) == 8);
	c->win_off = PEER_OFF;
	FZ_CHECK(!scif__ep_ctrl_recv(ep, &h, m));
}

/* [ep locked] Our read of READ_LEN bytes into dst, and a fence write. */
static void our_pieces(struct scif_ep *ep, char *dst)
{
	struct scif_rwindow *rw = scif__rwindow_find(ep, PEER_OFF, 8);
	struct scif_mr lmr = { .va = dst, .len = READ_LEN };
	struct scif_rma_seg seg = { .op = SCIF_RMA_OP_READ,
				    .lmr = &lmr,
				    .rmr = &rw->rmr,
				    .roff = 0x100,
				    .len = READ_LEN };

	FZ_CHECK(rw && !scif__rma_inflight_grow(ep));
	seg.seq = ++ep->rma_seq;
	scif__rma_inflight_set(ep, seg.seq, 1);
	FZ_CHECK(fz_ops.rma_post(ep, &seg, 1) == 1);
	FZ_CHECK(!scif__rma_post_signal(ep, rw, PEER_OFF + 0x8, 7));
}

/* What we sent, read and dropped (the socket must not fill). */
static void drain(int fd)
{
	char buf[16384];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* Feed the input to the connection in pieces; returns when it is used up
 * or the connection ended. */
static void feed(struct tcp_conn *c, int peer, struct fz_in *in)
{
	size_t chunk = 1 + fz_u8(in) * 64u;
	ssize_t w;

	while (in->left && !c->dead) {
		w = send(peer, in->p, in->left < chunk ? in->left : chunk,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			in->p += w;
			in->left -= (size_t)w;
		}
		tcp_service(c);
		drain(peer);
	}
	shutdown(peer, SHUT_WR); /* then the end of the connection */
	while (!c->dead) {
		tcp_service(c);
		drain(peer);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	unsigned char *rw = fz_mem + PAGE, *ro = fz_mem + RO_AT;
	struct tcp_conn *c = calloc(1, sizeof(*c));
	char *dst = malloc(READ_LEN);
	struct scif_ep *ep;
	int sv[2], i;

	FZ_CHECK(c && dst);
	FZ_CHECK(!socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	memset(rw, 0x11, RW_LEN);
	memset(ro, 0x22, PAGE);
	c->tp = &fz_tp;
	c->fd = sv[0];
	c->efd = c->handle = c->timer = -1;
	c->state = TCP_UP;
	c->peer_node = 1;
	c->peer_port = 2000;
	FZ_CHECK(!tcp_conn_buffers(c, 64u << 10));
	ep = fz_ep_new(&fz_ops, c);
	c->ep = ep;
	scif__ep_unlock(ep);
	reg(ep, rw, RW_LEN, RW_OFF, SCIF_PROT_READ | SCIF_PROT_WRITE);
	reg(ep, ro, PAGE, RO_OFF, SCIF_PROT_READ);
	scif__ep_lock(ep);
	peer_window(ep, c);
	our_pieces(ep, dst);

	feed(c, sv[1], &in);

	/* every piece of ours completed (answered, or failed at the end) */
	FZ_CHECK(c->nslots == 0);
	FZ_CHECK(ep->rma_err || ep->rma_done_seq == ep->rma_seq);
	for (i = 0; i < PAGE; i++)
		FZ_CHECK(ro[i] == 0x22);
	FZ_CHECK(!c->wmr && !c->tx_head);
	fz_ep_free(ep);
	tcp_conn_free_bufs(c);
	close(sv[0]);
	close(sv[1]);
	free(c);
	free(dst);
	return 0;
}
