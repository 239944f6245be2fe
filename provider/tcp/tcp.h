/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The tcp provider: SCIF between any two hosts that reach each other over
 * TCP/IP.  The provider of last resort (priority 50: shm > verbs > tcp).
 *
 *  - Rendezvous: a listener is a TCP socket on the node's own address
 *    (the node map's) at the SCIF port number (the core reserved the port
 *    node wide).  The requester connects and sends HELLO; the acceptor
 *    answers ACCEPT or REJECT.  Outgoing connections use ephemeral source
 *    ports.
 *  - One TCP connection per endpoint carries everything, as wire.h frames:
 *    stream DATA, the core's control messages and our own messages (ACK,
 *    RMA requests, answers).  The receiver always reads its socket to the
 *    end: stream data goes into a receive buffer whose size bounds what
 *    the sender may have in flight (the window the receiver grants with
 *    ACK), RMA data straight into the registered memory.  So the socket
 *    never holds data the application has not read, and control messages
 *    never wait behind it.
 *  - Sent means delivered: a stream byte is at the peer once the peer's
 *    TCP acknowledged it (SIOCOUTQ: written bytes not yet acknowledged),
 *    as an RC acknowledgement is over verbs.  Linux signals no event for
 *    that, so a sender about to sleep on it asks (ACKREQ, or a flag in the
 *    DATA frame once its senders are seen to sleep) and the peer's library
 *    answers with ACK; a sender that polls sees the peer's TCP
 *    acknowledgement ride on its answer (request/response) at no cost.
 *    Every frame also says, in its header's last four bytes, how many
 *    stream bytes its sender had received (modulo 2^32) when it went: an
 *    answer proves delivery without asking the kernel.  send_pending
 *    reports the bytes not yet known to be in, and the core makes
 *    scif_send wait for them.
 *  - RMA runs at the TARGET, in its progress engine, against its own
 *    windows (scif__ep_window_get/put: protection is enforced there,
 *    whatever the initiator believes).  A write's data follows its request
 *    and is received straight into the window; a read is answered with the
 *    window's data, sent from the window.  Nothing is buffered whole.
 *    Pieces complete when the target says so (DONE) or the read's data is
 *    in: in any order, per piece.
 *  - Peer loss: end of file, reset, socket errors (ECONNRESET); a silent
 *    peer by TCP keepalive and TCP_USER_TIMEOUT, the heartbeat (ETIMEDOUT:
 *    the node is lost, ENODEV; settings in tcp_prov.c).
 *  - The progress thread watches only readability, so each connection has
 *    an epoll descriptor of its own holding its socket (EPOLLOUT only while
 *    output waits); that descriptor is what the progress thread watches.
 *
 * Files: tcp_prov.c (instance, settings, ops table), tcp_ep.c (listen,
 * connect, accept, close, the progress callbacks), tcp_msg.c (framing,
 * transmit queue, receive parser, stream, control messages), tcp_rma.c
 * (registrations, RMA at both ends).
 */
#ifndef SCIF_TCP_H
#define SCIF_TCP_H

#include "../../libscif/scif_provider.h"
#include "../../libscif/wire.h"
#include "../../libscif/progress.h"
#include "../../libscif/log.h"
#include "../../libscif/nodemap.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define TCP_MAGIC 0x50544353u /* "SCTP" */
#define TCP_VERSION 2

/* Our own message types (wire.h header, little-endian payloads). */
enum tcp_msg_type {
	TCP_HELLO = SCIF_WIRE_PROV_FIRST, /* requester's first frame */
	TCP_ACCEPT,			  /* the acceptor's answer */
	TCP_REJECT,
	TCP_ACK,   /* stream bytes received and consumed */
	TCP_WRITE, /* RMA write request, its data follows */
	TCP_READ,  /* RMA read request */
	TCP_RDATA, /* a read's data */
	TCP_DONE,  /* a write placed, or a request refused */
	TCP_ACKREQ, /* a sender sleeps until its stream bytes are in: ACK */
};

struct tcp_hello { /* HELLO, ACCEPT, REJECT */
	uint32_t magic;
	uint16_t version, rsvd;
	uint16_t node, port;	 /* the sender's SCIF node and port */
	uint16_t dnode, dport;	 /* HELLO: the SCIF node and port wanted */
	uint32_t rxwin;		 /* the sender's stream receive buffer */
};

struct tcp_ack {
	uint64_t rx;	   /* stream bytes received in all */
	uint64_t consumed; /* of them, read by the application */
};

struct tcp_req { /* WRITE (data follows), READ */
	uint64_t tag;
	uint64_t off; /* in the target's registered address space */
	uint64_t len; /* READ: bytes wanted; WRITE: flags (0) */
};

struct tcp_done {
	uint64_t tag;
	int32_t status; /* 0 or -errno */
	uint32_t rsvd;
};

struct tcp_rdata {
	uint64_t tag; /* the read's data follows */
};

/* Header flags (the credits field, unused by tcp): ACK this frame. */
#define TCP_F_ACK 0x01
#define TCP_FRAME_SMALL (SCIF_WIRE_HDR_LEN + SCIF_WIRE_CTRL_MAX)
#define TCP_SLOTS 64		     /* RMA pieces in flight per endpoint */
#define TCP_MAX_PIECE (16ull << 20) /* RMA piece, one frame */
#define TCP_RBUF (64u << 10)	     /* receive staging */
#define TCP_HELLO_MS 2000	     /* a requester must say HELLO by then */
#define TCP_IOV 64
/* Answers to the peer's requests (RMA data and completions, control
 * answers) still queued after a flush: the peer does not read what it asks
 * for.  Its own library always reads its socket, so this many means a
 * hostile peer, whose connection ends before it costs unbounded memory. */
#define TCP_ANSWERS_MAX 4096
/* A thread that polled a connection (SCIF_SPIN_US) keeps the progress
 * thread away from it until it has not polled for this long. */
#define TCP_MUTE_MS 2

struct tcp_prov {
	struct scif_lib *lib;
	struct scif_progress *pg;
	uint16_t self;
	struct sockaddr_storage self_sa;
	socklen_t self_salen;
	uint32_t rxwin;			     /* SCIF_TCP_WINDOW_KB */
	int user_timeout_ms;		     /* SCIF_TCP_USER_TIMEOUT_MS */
	int ka_idle, ka_intvl, ka_cnt;	     /* SCIF_TCP_KEEPALIVE_* */
	int connect_ms;			     /* SCIF_TCP_CONNECT_MS */
	int sndbuf;			     /* SCIF_TCP_SNDBUF_KB, 0: kernel */
	uint32_t spin_us;		     /* SCIF_TCP_SPIN_US */
};

/* An item of the transmit queue: a frame's head (hlen bytes in head[]),
 * then dlen bytes at data (not owned), sent from off on. */
struct tcp_txi {
	struct tcp_txi *next;
	uint64_t off, dlen;
	const char *data;
	const struct scif_mr *win; /* a window held until sent (RDATA) */
	uint32_t hlen;
	bool answer; /* queued by the receive parser (see TCP_ANSWERS_MAX) */
	bool framed; /* head[] starts with a frame's header */
	unsigned char head[];
};

/* An RMA piece in flight at the initiator. */
struct tcp_slot {
	bool used;
	uint8_t op;
	uint16_t gen;
	uint64_t seq;
	char *dst; /* READ: where its data goes */
	uint64_t len, got;
};

enum tcp_rx_phase {
	RX_HDR = 0, /* reading a frame header */
	RX_BODY,    /* reading the fixed part into sbuf */
	RX_BULK,    /* payload to its sink */
};

enum tcp_sink { SINK_DATA = 1, SINK_WRITE, SINK_RDATA, SINK_DROP };

/* A listener. */
struct tcp_hs;

struct tcp_listener {
	struct tcp_prov *tp;
	struct scif_prov *prov;
	struct scif_ep *lep;
	uint16_t port;
	int fd, handle;
	pthread_mutex_t lock; /* hs list, closing, delivering */
	pthread_cond_t idle;
	struct tcp_hs *hs;
	bool closing;
	int delivering;
};

/* An accepted socket until its HELLO is in. */
struct tcp_hs {
	struct tcp_hs *next;
	struct tcp_listener *l;
	int fd, handle, timer;
	uint32_t got;
	bool claimed;
	unsigned char buf[SCIF_WIRE_HDR_LEN + sizeof(struct tcp_hello)];
};

/* A request in the core's backlog. */
struct tcp_pending {
	int fd;
	uint16_t node, port;
	uint32_t rxwin;
};

enum tcp_state {
	TCP_IDLE = 0,
	TCP_CONNECTING, /* TCP connect under way */
	TCP_HELLO_SENT, /* ACCEPT awaited */
	TCP_UP,
	TCP_FAILED,
};

/* An endpoint's provider state. */
struct tcp_conn {
	struct tcp_prov *tp;
	struct scif_ep *ep;
	enum tcp_state state;
	int fd, efd, handle, timer;
	bool out_armed; /* EPOLLOUT in efd */
	uint16_t peer_node, peer_port, want_port;

	/* transmit */
	struct tcp_txi *tx_head, *tx_tail;
	uint32_t tx_answers; /* items queued by the receive parser */
	uint64_t tx_total;  /* stream bytes taken by send */
	uint64_t peer_rx;   /* of them, acknowledged as received */
	uint64_t peer_cons; /* ... and as consumed */
	uint32_t peer_win;  /* the peer's receive buffer */
	uint64_t sock_tx;   /* bytes written to the socket */
	uint64_t data_end;  /* sock_tx where the last stream frame ends */
	uint64_t in_end;    /* data_end the peer's TCP is known to hold */
	uint64_t ackreq_end; /* data_end when ACK was last asked for */
	uint64_t lost;	     /* stream bytes not delivered when it ended */
	bool want_ack;	     /* our senders sleep: ask in each DATA frame */
	bool answered;	     /* an ACK came since we last asked */
	bool ack_due;	     /* the peer asked: ACK after this receive */
	bool data_ask;	     /* the DATA frame being received asks */
	uint8_t probe;	     /* every 16th frame does not ask (want_ack) */

	/* stream receive buffer (rxwin bytes, a power of two) */
	char *ring;
	uint32_t rxwin;
	uint64_t rx_total, consumed, adv_consumed, adv_rx;
	/* a blocked scif_recv's buffer (recv_post): while the ring is empty
	 * stream bytes go there instead; to_post: the current sink is it */
	char *post;
	size_t post_len, post_got;
	bool to_post;

	/* receive parser */
	unsigned char *rbuf;
	uint32_t rpos, rend;
	enum tcp_rx_phase phase;
	uint32_t got, need;
	struct scif_wire_hdr h;
	unsigned char hbuf[SCIF_WIRE_HDR_LEN];
	unsigned char sbuf[TCP_FRAME_SMALL];
	enum tcp_sink sink;
	uint64_t left;
	char *bulk;		   /* SINK_WRITE: window memory */
	const struct scif_mr *wmr; /* SINK_WRITE: the window held */
	uint64_t wtag;
	int wstatus;
	struct tcp_slot *rslot;	   /* SINK_RDATA */

	/* RMA pieces in flight */
	struct tcp_slot slots[TCP_SLOTS];
	int nslots;
	uint64_t win_off; /* WIN_ADD being handled: its offset */

	bool dead, gone_told, closing, in_rx;
	bool rx_short; /* this receive pass's last read was short */
	/* the progress thread leaves the connection to a thread that polls
	 * it (polls: ep_progress calls since ep_idle; pollgen: all of them)
	 * or leads it; mute_timer gives it back when the polling stopped */
	bool muted, leading;
	unsigned polls, pollgen, pollgen_seen;
	int mute_timer;
};

static inline void tcp_put_le(unsigned char *p, uint64_t v, int bytes)
{
	int i;

	for (i = 0; i < bytes; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t tcp_get_le(const unsigned char *p, int bytes)
{
	uint64_t v = 0;
	int i;

	for (i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* tcp_prov.c */
struct tcp_conn *tcp_conn_of(struct scif_ep *ep);
void tcp_sockopts(struct tcp_prov *tp, int fd);
int tcp_loss_err(int err);
void tcp_hello_encode(unsigned char *buf, uint8_t type,
		      const struct tcp_hello *m);
int tcp_hello_decode(const unsigned char *buf, size_t len, uint8_t type,
		     struct tcp_hello *m);

/* tcp_ep.c */
int tcp_listen(struct scif_prov *prov, struct scif_ep *lep, uint16_t port,
	       int backlog, void **lctx);
void tcp_unlisten(struct scif_prov *prov, void *lctx);
int tcp_ep_open(struct scif_prov *prov, struct scif_ep *ep);
int tcp_ep_connect(struct scif_ep *ep, const struct scif_node *dst,
		   uint16_t port);
int tcp_ep_accept(struct scif_conn_req *req, struct scif_ep *newep);
void tcp_conn_reject(struct scif_prov *prov, struct scif_conn_req *req);
void tcp_ep_close(struct scif_ep *ep);
void tcp_conn_end(struct tcp_conn *c, int err);
void tcp_violation(struct tcp_conn *c, const char *what);
void tcp_want_out(struct tcp_conn *c, bool on);

/* tcp_msg.c */
int tcp_conn_buffers(struct tcp_conn *c, uint32_t peer_win);
void tcp_conn_free_bufs(struct tcp_conn *c);
struct tcp_txi *tcp_txi_new(uint8_t type, uint32_t plen, uint64_t dlen);
void tcp_tx_queue(struct tcp_conn *c, struct tcp_txi *t);
void tcp_tx_free(struct tcp_conn *c);
bool tcp_tx_flush(struct tcp_conn *c);
bool tcp_service(struct tcp_conn *c);
int tcp_send_small(struct tcp_conn *c, uint8_t type, const void *payload,
		   uint32_t len);
ssize_t tcp_send(struct scif_ep *ep, const void *buf, size_t len);
ssize_t tcp_recv(struct scif_ep *ep, void *buf, size_t len);
int tcp_recv_post(struct scif_ep *ep, void *buf, size_t len);
size_t tcp_recv_unpost(struct scif_ep *ep);
int tcp_recv_ready(struct scif_ep *ep);
int tcp_send_ready(struct scif_ep *ep);
short tcp_ready(struct scif_ep *ep);
int tcp_ctrl_send(struct scif_ep *ep, uint8_t type, const void *payload,
		  uint32_t len);
int tcp_ep_progress(struct scif_ep *ep);
int tcp_ep_lead(struct scif_ep *ep);
int tcp_ep_lead_event(struct scif_ep *ep);
void tcp_ep_unlead(struct scif_ep *ep);
int tcp_send_pending(struct scif_ep *ep);
int tcp_ep_idle(struct scif_ep *ep);
void tcp_ep_park(struct scif_ep *ep);
uint64_t tcp_tx_delivered(struct tcp_conn *c);
void tcp_unmute(struct tcp_conn *c);

/* tcp_rma.c */
void tcp_query(struct scif_ep *ep, struct scif_prov_attr *attr);
int tcp_mr_reg(struct scif_ep *ep, const struct scif_mem *mem,
	       struct scif_mr *mr);
void tcp_mr_dereg(struct scif_ep *ep, struct scif_mr *mr);
int tcp_mr_export(struct scif_ep *ep, const struct scif_mr *mr, void *blob,
		  size_t cap);
int tcp_rmr_import(struct scif_ep *ep, const void *blob, size_t bloblen,
		   uint64_t len, struct scif_rmr *rmr);
void tcp_rmr_release(struct scif_ep *ep, struct scif_rmr *rmr);
int tcp_rma_post(struct scif_ep *ep, const struct scif_rma_seg *segs, int n);
int tcp_rx_write(struct tcp_conn *c, const unsigned char *p, uint64_t dlen);
void tcp_rx_write_end(struct tcp_conn *c);
int tcp_rx_read(struct tcp_conn *c, const unsigned char *p);
int tcp_rx_rdata(struct tcp_conn *c, const unsigned char *p, uint64_t dlen);
int tcp_rx_rdata_end(struct tcp_conn *c);
int tcp_rx_done(struct tcp_conn *c, const unsigned char *p);
void tcp_slots_fail(struct tcp_conn *c, int err);

#endif
