/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp provider instance, settings and ops table.  It reaches every node
 * whose address resolves, and is the last choice (priority 50).
 *
 * Settings (environment, read once at initialisation):
 *   SCIF_TCP_WINDOW_KB        stream receive buffer per endpoint, the most
 *                             a sender has in flight (default 4096, 64 ..
 *                             65536, rounded up to a power of two)
 *   SCIF_TCP_USER_TIMEOUT_MS  TCP_USER_TIMEOUT: nothing acknowledged this
 *                             long ends the connection (default
 *                             SCIF_HEARTBEAT_TIMEOUT_MS, 3000; 0: the
 *                             kernel's retransmission limit)
 *   SCIF_TCP_KEEPALIVE_S      idle seconds before keepalive probes
 *                             (default SCIF_HEARTBEAT_MS in whole seconds,
 *                             1; 0: no keepalive)
 *   SCIF_TCP_KEEPINTVL_S      seconds between probes (default as above)
 *   SCIF_TCP_KEEPCNT          unanswered probes that end it (default
 *                             timeout / interval, 3)
 *   SCIF_TCP_CONNECT_MS       bound on a connect, and on node_probe
 *                             (default 5000)
 *   SCIF_TCP_SNDBUF_KB        SO_SNDBUF / SO_RCVBUF (default 0: the
 *                             kernel's autotuning)
 *   SCIF_TCP_SPIN_US          a thread about to sleep on a tcp endpoint
 *                             polls it this long first, unless SCIF_SPIN_US
 *                             is set (default 20: the peer's answer, or
 *                             its TCP's acknowledgement that sent means
 *                             delivered waits for, comes within a round
 *                             trip on a LAN, and sleeping costs two
 *                             wake-ups)
 * A silent peer is thus noticed after about USER_TIMEOUT, idle or not: its
 * node is lost (ENODEV); a reset or a close is its process's end.
 */
#include "tcp.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tcp_conn *tcp_conn_of(struct scif_ep *ep)
{
	return scif__ep_prov_data(ep);
}

static void setopt(int fd, int level, int name, int val, const char *what)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)))
		scif_dbg("tcp: setsockopt %s: %m", what);
}

/* Options of a connection's socket. */
void tcp_sockopts(struct tcp_prov *tp, int fd)
{
	setopt(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
	if (tp->user_timeout_ms)
		setopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, tp->user_timeout_ms,
		       "TCP_USER_TIMEOUT");
	if (tp->ka_idle) {
		setopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
		setopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, tp->ka_idle,
		       "TCP_KEEPIDLE");
		setopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, tp->ka_intvl,
		       "TCP_KEEPINTVL");
		setopt(fd, IPPROTO_TCP, TCP_KEEPCNT, tp->ka_cnt, "TCP_KEEPCNT");
	}
	if (tp->sndbuf) {
		setopt(fd, SOL_SOCKET, SO_SNDBUF, tp->sndbuf, "SO_SNDBUF");
		setopt(fd, SOL_SOCKET, SO_RCVBUF, tp->sndbuf, "SO_RCVBUF");
	}
}

void tcp_hello_encode(unsigned char *buf, uint8_t type,
		      const struct tcp_hello *m)
{
	struct scif_wire_hdr h = { .type = type, .len = 20 };
	unsigned char *p = buf + SCIF_WIRE_HDR_LEN;

	scif__wire_encode(buf, &h);
	tcp_put_le(p, TCP_MAGIC, 4);
	tcp_put_le(p + 4, TCP_VERSION, 2);
	tcp_put_le(p + 6, 0, 2);
	tcp_put_le(p + 8, m->node, 2);
	tcp_put_le(p + 10, m->port, 2);
	tcp_put_le(p + 12, m->dnode, 2);
	tcp_put_le(p + 14, m->dport, 2);
	tcp_put_le(p + 16, m->rxwin, 4);
}

/* A HELLO, ACCEPT or REJECT frame of len bytes: 0, or -EPROTO. */
int tcp_hello_decode(const unsigned char *buf, size_t len, uint8_t type,
		     struct tcp_hello *m)
{
	struct scif_wire_hdr h;
	const unsigned char *p = buf + SCIF_WIRE_HDR_LEN;

	if (len != SCIF_WIRE_HDR_LEN + 20 || scif__wire_decode(buf, len, &h) ||
	    (h.type != type && !(type == TCP_ACCEPT && h.type == TCP_REJECT)))
		return -EPROTO;
	m->magic = (uint32_t)tcp_get_le(p, 4);
	m->version = (uint16_t)tcp_get_le(p + 4, 2);
	m->node = (uint16_t)tcp_get_le(p + 8, 2);
	m->port = (uint16_t)tcp_get_le(p + 10, 2);
	m->dnode = (uint16_t)tcp_get_le(p + 12, 2);
	m->dport = (uint16_t)tcp_get_le(p + 14, 2);
	m->rxwin = (uint32_t)tcp_get_le(p + 16, 4);
	m->rsvd = h.type;
	if (m->magic != TCP_MAGIC || m->version != TCP_VERSION)
		return -EPROTO;
	return 0;
}

static uint32_t round_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/*
 * The heartbeat is the kernel's: keepalive probes on an idle connection
 * (one empty segment per period, none while traffic flows, answered by the
 * peer's kernel even when its process is busy), and TCP_USER_TIMEOUT,
 * which ends the connection with ETIMEDOUT when nothing is acknowledged
 * for the timeout, idle (probes) or not (data).  Keepalive counts whole
 * seconds.  SCIF_TCP_* override the values derived from SCIF_HEARTBEAT_*.
 */
static void tcp_heartbeat(struct tcp_prov *tp, struct scif_lib *lib)
{
	int hb_ms, timeout_ms, s;

	scif__lib_heartbeat(lib, &hb_ms, &timeout_ms);
	s = (hb_ms + 999) / 1000;
	tp->user_timeout_ms = (int)scif__env_u32("SCIF_TCP_USER_TIMEOUT_MS",
						 (uint32_t)timeout_ms, 0,
						 3600000);
	tp->ka_idle = (int)scif__env_u32("SCIF_TCP_KEEPALIVE_S", (uint32_t)s,
					 0, 32767);
	tp->ka_intvl = (int)scif__env_u32("SCIF_TCP_KEEPINTVL_S", (uint32_t)s,
					  1, 32767);
	s = timeout_ms / (1000 * tp->ka_intvl);
	tp->ka_cnt = (int)scif__env_u32("SCIF_TCP_KEEPCNT",
					(uint32_t)(s < 1 ? 1 : s > 127 ? 127 : s),
					1, 127);
}

/* The error that ends a connection whose socket failed with errno err:
 * silence (nothing acknowledged in time) or no route to the peer is the
 * node's loss; a reset or anything else is the peer process's end. */
int tcp_loss_err(int err)
{
	switch (err) {
	case ETIMEDOUT:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENETDOWN:
		return -ENODEV;
	default:
		return -ECONNRESET;
	}
}

static int tcp_init(struct scif_lib *lib, struct scif_prov **out)
{
	struct tcp_prov *tp;
	int ret;

	tp = calloc(1, sizeof(*tp));
	if (!tp)
		return -ENOMEM;
	tp->lib = lib;
	tp->pg = scif__lib_progress(lib);
	tp->self = scif__self_node(lib);
	ret = scif__node_resolve(scif__self(lib), &tp->self_sa,
				 &tp->self_salen);
	if (ret) {
		scif_info("tcp: the local node's address does not resolve: "
			  "provider not available");
		free(tp);
		return -ENODEV;
	}
	tp->rxwin = round_pow2(scif__env_u32("SCIF_TCP_WINDOW_KB", 4096, 64,
					     65536)) << 10;
	tcp_heartbeat(tp, lib);
	tp->connect_ms = (int)scif__env_u32("SCIF_TCP_CONNECT_MS", 5000, 10,
					    600000);
	tp->sndbuf = (int)scif__env_u32("SCIF_TCP_SNDBUF_KB", 0, 0, 1 << 20)
		     << 10;
	tp->spin_us = scif__env_u32("SCIF_TCP_SPIN_US", 20, 0, 1000000);
	*out = (struct scif_prov *)tp;
	return 0;
}

static void tcp_fini(struct scif_prov *prov)
{
	free(prov);
}

static bool tcp_reaches(struct scif_prov *prov, const struct scif_node *node)
{
	struct sockaddr_storage sa;
	socklen_t len;

	return !scif__node_resolve(node, &sa, &len);
}

/* Whether the node's host answers (scif__node_answers: a TCP connect). */
static int tcp_node_probe(struct scif_prov *prov, const struct scif_node *node,
			  int timeout_ms)
{
	struct tcp_prov *tp = (struct tcp_prov *)prov;

	if (node->id == tp->self)
		return 0;
	return scif__node_answers(node, timeout_ms);
}

const struct scif_provider_ops scif_tcp_ops = {
	.size = sizeof(struct scif_provider_ops),
	.name = "tcp",
	.priority = 50,
	.init = tcp_init,
	.fini = tcp_fini,
	.reaches = tcp_reaches,
	.node_probe = tcp_node_probe,
	.listen = tcp_listen,
	.unlisten = tcp_unlisten,
	.ep_open = tcp_ep_open,
	.ep_connect = tcp_ep_connect,
	.ep_accept = tcp_ep_accept,
	.conn_reject = tcp_conn_reject,
	.ep_close = tcp_ep_close,
	.send = tcp_send,
	.recv = tcp_recv,
	.recv_ready = tcp_recv_ready,
	.recv_post = tcp_recv_post,
	.recv_unpost = tcp_recv_unpost,
	.send_ready = tcp_send_ready,
	.ready = tcp_ready,
	.ctrl_send = tcp_ctrl_send,
	.ep_progress = tcp_ep_progress,
	.ep_idle = tcp_ep_idle,
	.ep_park = tcp_ep_park,
	.ep_lead = tcp_ep_lead,
	.ep_lead_event = tcp_ep_lead_event,
	.ep_unlead = tcp_ep_unlead,
	.query = tcp_query,
	.mr_reg = tcp_mr_reg,
	.mr_dereg = tcp_mr_dereg,
	.mr_export = tcp_mr_export,
	.rmr_import = tcp_rmr_import,
	.rmr_release = tcp_rmr_release,
	.rma_post = tcp_rma_post,
	.send_pending = tcp_send_pending,
};
