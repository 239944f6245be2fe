// SPDX-License-Identifier: BSD-3-Clause
/*
 * A node is lost and comes back.  The victim (node 1) connects five
 * endpoints to the survivor (node 0), then tells the survivor on one of them
 * that it goes (marker 'D', time t0 at the survivor) and takes its only
 * interface down: from the survivor's side its node falls silent, as when
 * a machine loses power.  Within LIMIT_S of t0 the survivor must see:
 *   - a blocking scif_send under way (stream S, data outstanding) return
 *     ENODEV;
 *   - a loop of SYNC scif_writeto into the victim's window (R) end with
 *     ENODEV;
 *   - a blocked scif_recv (B) return ENODEV;
 *   - a scif_poll without timeout (P) return POLLHUP|POLLERR;
 *   - scif_get_nodeIDs stop counting node 1;
 * and then, on an idle endpoint (F), send, recv, register, unregister,
 * writeto, vreadfrom, fence_mark, fence_signal fail with ENODEV.  DOWN_S later the
 * victim brings its interface up: scif_get_nodeIDs counts node 1 again
 * within LIMIT_S, and a new connection carries checked bytes.
 *
 * The victim also boots late: its interface is down when it starts, and
 * comes up LATE_S later.  The survivor registers a scif_client before that
 * (no probe: only node 1 is a peer, and it is not online yet), and expects
 * probe(1) within LIMIT_S of the boot, remove(1) within LIMIT_S of t0,
 * probe(1) within LIMIT_S of the comeback, and remove(1) when it
 * unregisters; all from the library's "scif-members" thread.
 *
 *   t_nodeloss server PORT [vm]
 *   t_nodeloss client NODE PORT [vm]
 *
 * Runs as root in a namespace of netns.sh (the victim runs ip(8)).  With
 * "vm" (test/cluster, a VM per node) the victim's node dies instead: after
 * 'D' it reports success to cluster.sh itself and powers its VM off at once
 * (sysrq 'o'); there is no late boot and no comeback, node 1 is online when
 * the client registers (its probe comes before scif_client_register
 * returns), and after the loss it must stay uncounted.
 */
#include "../cluster/tc.h"

#include <scif_client.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>

#define CHUNK (64 * 1024)
#define WIN (1024 * 1024)
#define LIMIT_S 5.0
#define TRAFFIC_MS 1500
#define DOWN_S 7
#define LATE_S 3
#define FWIN 0x100000 /* a window of the survivor's on F */
#define SEED 0x10de

enum { EP_S, EP_R, EP_B, EP_P, EP_F, NEP };

struct result {
	int err;
	double at; /* tc_now() when it returned */
	const char *what;
};

static scif_epd_t g_ep[NEP];
static double g_t0; /* the survivor received 'D' */
static bool g_vm;   /* the victim is a VM that powers off */

/* What the client callbacks saw. */
#define NEV 16
static struct {
	pthread_mutex_t lock;
	int n;
	struct {
		bool up;
		uint16_t node;
		double at;
		char thread[16];
	} ev[NEV];
} g_cb = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void cb_record(bool up, struct scif_peer_dev *spdev)
{
	pthread_mutex_lock(&g_cb.lock);
	if (g_cb.n < NEV) {
		g_cb.ev[g_cb.n].up = up;
		g_cb.ev[g_cb.n].node = spdev->dnode;
		g_cb.ev[g_cb.n].at = tc_now();
		pthread_getname_np(pthread_self(), g_cb.ev[g_cb.n].thread,
				   sizeof(g_cb.ev[0].thread));
	}
	g_cb.n++;
	pthread_mutex_unlock(&g_cb.lock);
	printf("server: client callback: %s node %u\n",
	       up ? "probe" : "remove", spdev->dnode);
}

static void cb_probe(struct scif_peer_dev *spdev)
{
	cb_record(true, spdev);
}

static void cb_remove(struct scif_peer_dev *spdev)
{
	cb_record(false, spdev);
}

static struct scif_client g_client = {
	.name = "t_nodeloss", .probe = cb_probe, .remove = cb_remove
};

/* Wait until callback i has come: it must be (up, node 1), from the
 * library's thread, within LIMIT_S of since. */
static void cb_expect(int i, bool up, double since)
{
	double end = since + LIMIT_S + 3;
	int ok;

	for (;;) {
		pthread_mutex_lock(&g_cb.lock);
		ok = g_cb.n > i;
		pthread_mutex_unlock(&g_cb.lock);
		if (ok)
			break;
		TC_CHECK(tc_now() < end, "no callback %d (%s)", i,
			 up ? "probe" : "remove");
		usleep(20000);
	}
	pthread_mutex_lock(&g_cb.lock);
	TC_CHECK(g_cb.ev[i].up == up && g_cb.ev[i].node == 1,
		 "callback %d: %s node %u", i,
		 g_cb.ev[i].up ? "probe" : "remove", g_cb.ev[i].node);
	TC_CHECK(!strcmp(g_cb.ev[i].thread, "scif-members"),
		 "callback %d from thread '%s'", i, g_cb.ev[i].thread);
	printf("server: %s(1) %.2f s after the event\n", up ? "probe" : "remove",
	       g_cb.ev[i].at - since);
	TC_CHECK(g_cb.ev[i].at - since <= LIMIT_S, "callback %d late", i);
	pthread_mutex_unlock(&g_cb.lock);
}

static int nodes_up(void)
{
	uint16_t ids[8], self;
	int n = scif_get_nodeIDs(ids, 8, &self);

	TC_CHECK(n >= 1 && self == 0, "scif_get_nodeIDs: %d", n);
	return n;
}

/* Wait (polling) until scif_get_nodeIDs counts want nodes; when. */
static double wait_nodes(int want, double limit_s)
{
	double end = tc_now() + limit_s;

	while (nodes_up() != want) {
		TC_CHECK(tc_now() < end, "scif_get_nodeIDs never counted %d",
			 want);
		usleep(50000);
	}
	return tc_now();
}

static void *sender(void *arg)
{
	struct result *r = arg;
	static uint8_t buf[CHUNK];
	int n;

	/* a blocked send cut short returns its partial count: the next one
	 * fails */
	while ((n = scif_send(g_ep[EP_S], buf, CHUNK, SCIF_SEND_BLOCK)) >= 0)
		;
	r->err = errno;
	r->at = tc_now();
	r->what = "blocking send";
	return NULL;
}

static void *writer(void *arg)
{
	struct result *r = arg;
	static uint8_t src[WIN];

	while (!scif_vwriteto(g_ep[EP_R], src, sizeof(src), 0, SCIF_RMA_SYNC))
		;
	r->err = errno;
	r->at = tc_now();
	r->what = "writeto loop";
	return NULL;
}

static void *receiver(void *arg)
{
	struct result *r = arg;
	char c;

	tc_recv_all(g_ep[EP_B], &c, 1);
	TC_CHECK(c == 'D', "marker %d", c);
	g_t0 = tc_now();
	printf("server: the victim goes (t0)\n");
	TC_CHECK(scif_recv(g_ep[EP_B], &c, 1, SCIF_RECV_BLOCK) == -1,
		 "recv after the marker");
	r->err = errno;
	r->at = tc_now();
	r->what = "blocked recv";
	return NULL;
}

static void *poller(void *arg)
{
	struct result *r = arg;
	struct scif_pollepd p = { .epd = g_ep[EP_P], .events = POLLIN };

	TC_CHECK(scif_poll(&p, 1, -1) == 1, "poll");
	r->err = p.revents; /* events, not an errno */
	r->at = tc_now();
	r->what = "poll";
	return NULL;
}

/* Every call on the lost idle endpoint F that the header lets fail with
 * ENODEV does. */
static void idle_calls_fail(void *win)
{
	struct scif_pollepd p = { .epd = g_ep[EP_F], .events = POLLIN };
	scif_epd_t f = g_ep[EP_F];
	char c = 0;
	int mark;

	TC_CHECK(scif_poll(&p, 1, (long)((g_t0 + LIMIT_S - tc_now()) * 1000)) ==
			 1,
		 "the idle endpoint is not lost %.1f s after t0",
		 tc_now() - g_t0);
	TC_CHECK(p.revents & POLLHUP && p.revents & POLLERR, "idle revents %#x",
		 p.revents);
	TC_ERRNO(scif_send(f, &c, 1, SCIF_SEND_BLOCK), ENODEV);
	TC_ERRNO(scif_recv(f, &c, 1, SCIF_RECV_BLOCK), ENODEV);
	TC_ERRNO(scif_register(f, win, 4096, 0, SCIF_PROT_READ, 0), ENODEV);
	TC_ERRNO(scif_unregister(f, FWIN, 4096), ENODEV);
	TC_ERRNO(scif_writeto(f, 0, 4096, 0, 0), ENODEV);
	TC_ERRNO(scif_vreadfrom(f, win, 4096, 0, 0), ENODEV);
	TC_ERRNO(scif_fence_mark(f, SCIF_FENCE_INIT_SELF, &mark), ENODEV);
	TC_ERRNO(scif_fence_signal(f, 0, 1, 0, 1,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL),
		 ENODEV);
	printf("server: the idle endpoint: every call ENODEV\n");
}

static int check(const struct result *r, int want)
{
	double dt = r->at - g_t0;
	int ok = (want == ENODEV ? r->err == ENODEV :
				   (r->err & want) == want) &&
		 dt <= LIMIT_S;

	printf("server: %s: %s %#x after %.2f s%s\n", r->what,
	       want == ENODEV ? strerror(r->err) : "revents", r->err, dt,
	       ok ? "" : "  <-- FAIL");
	return ok;
}

/* The victim comes back: it connects again and sends the time its link
 * came up (CLOCK_MONOTONIC is the host's in every namespace). */
static void comeback(scif_epd_t l)
{
	struct scif_portID peer;
	uint8_t buf[4096];
	double t_up, t_back;
	scif_epd_t e;

	t_back = wait_nodes(2, DOWN_S + 15);
	TC_CHECK(scif_accept(l, &peer, &e, SCIF_ACCEPT_SYNC) == 0,
		 "accept after the comeback");
	tc_recv_all(e, &t_up, sizeof(t_up));
	cb_expect(2, true, t_up);
	tc_recv_all(e, buf, sizeof(buf));
	TC_CHECK(tc_verify(buf, sizeof(buf), SEED, 0) < 0, "comeback bytes");
	tc_send_all(e, "k", 1);
	printf("server: node 1 counted again %.2f s after its link came up\n",
	       t_back - t_up);
	TC_CHECK(t_back - t_up <= LIMIT_S, "node 1 back too late");
	scif_close(e);
}

static int server(uint16_t port)
{
	scif_epd_t l = tc_listen(port, NEP);
	struct scif_portID peer;
	struct result res[4] = { { 0 } };
	void *(*fn[4])(void *) = { sender, writer, receiver, poller };
	pthread_t th[4];
	void *win;
	double t_gone, t_boot;
	int i, ok = 1;

	/* netns: the victim is not up yet, no probe while registering; vm:
	 * it is, and its probe comes before the call returns */
	wait_nodes(g_vm ? 2 : 1, g_vm ? 120 : 10);
	TC_CHECK(scif_client_register(&g_client) == 0, "client_register");
	TC_ERRNO(scif_client_register(&g_client), EEXIST);
	TC_ERRNO(scif_client_register(NULL), EINVAL);
	TC_CHECK(g_cb.n == (g_vm ? 1 : 0), "%d probes at registration",
		 g_cb.n);
	TC_CHECK(!g_vm || (g_cb.ev[0].up && g_cb.ev[0].node == 1),
		 "registration: not probe(1)");
	for (i = 0; i < NEP; i++)
		TC_CHECK(scif_accept(l, &peer, &g_ep[i], SCIF_ACCEPT_SYNC) == 0,
			 "accept %d", i);
	/* its window is registered, and when it booted */
	tc_recv_all(g_ep[EP_R], &t_boot, sizeof(t_boot));
	if (!g_vm)
		cb_expect(0, true, t_boot);
	TC_CHECK(posix_memalign(&win, 4096, 4096) == 0, "memalign");
	TC_CHECK(scif_register(g_ep[EP_F], win, 4096, FWIN, SCIF_PROT_READ,
			       SCIF_MAP_FIXED) == FWIN,
		 "register on F");
	wait_nodes(2, LIMIT_S);
	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, fn[i], &res[i]);
	tc_send_all(g_ep[EP_F], "s", 1); /* probe(1) seen: the victim may go */
	while (!g_t0)
		usleep(10000);
	t_gone = wait_nodes(1, LIMIT_S + 3);
	printf("server: scif_get_nodeIDs dropped node 1 after %.2f s\n",
	       t_gone - g_t0);
	ok &= t_gone - g_t0 <= LIMIT_S;
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ok &= check(&res[i], i == 3 ? POLLHUP | POLLERR : ENODEV);
	}
	cb_expect(1, false, g_t0);
	idle_calls_fail(win);
	for (i = 0; i < NEP; i++)
		scif_close(g_ep[i]);
	if (g_vm) {
		/* dead for good: it must not count again (a probe that only
		 * resolved its address would, while the neighbour lasts) */
		sleep(3);
		TC_CHECK(nodes_up() == 1, "the dead node counts again");
		scif_client_unregister(&g_client); /* node 1 is offline */
		TC_CHECK(g_cb.n == 2, "unregister: %d callbacks", g_cb.n);
	} else {
		comeback(l);
		scif_client_unregister(&g_client); /* node 1 online: remove */
		TC_CHECK(g_cb.n == 4 && !g_cb.ev[3].up,
			 "unregister: %d callbacks", g_cb.n);
	}
	scif_client_unregister(&g_client); /* not registered: nothing */
	scif_close(l);
	free(win);
	printf("server: %s\n", ok ? "ok" : "FAILED");
	return !ok;
}

static void *drain(void *arg)
{
	static uint8_t buf[CHUNK];
	int *err = arg;

	while (scif_recv(g_ep[EP_S], buf, CHUNK, SCIF_RECV_BLOCK) > 0)
		;
	*err = errno;
	return NULL;
}

static void ip_link(const char *how)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "ip link set eth0 %s", how);
	TC_CHECK(system(cmd) == 0, "%s", cmd);
}

/* The victim's VM: tell cluster.sh that this node succeeded (as its init
 * would), then power off at once, as a machine that loses power. */
static void power_off(void)
{
	const char *dir = getenv("CLUSTER_RESULTS_DIR"),
		   *me = getenv("CLUSTER_NODE");
	char tmp[512], rc[512];
	FILE *f;
	int fd;

	TC_CHECK(dir && me, "not in a cluster VM");
	snprintf(tmp, sizeof(tmp), "%s/node%s.rc.tmp", dir, me);
	snprintf(rc, sizeof(rc), "%s/node%s.rc", dir, me);
	f = fopen(tmp, "w");
	TC_CHECK(f && fprintf(f, "0\n") > 0 && fclose(f) == 0, "%s", tmp);
	TC_CHECK(rename(tmp, rc) == 0, "rename %s", rc);
	printf("client: powering off\n");
	fflush(NULL);
	sync();
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	TC_CHECK(fd >= 0 && write(fd, "o", 1) == 1, "sysrq o");
	pause();
}

static int client(uint16_t node, uint16_t port)
{
	uint8_t buf[4096];
	pthread_t dt;
	void *win;
	double t_up;
	int i, derr = 0;
	scif_epd_t e;
	char c;

	double t_boot;

	if (!g_vm) {
		ip_link("down"); /* it boots late */
		sleep(LATE_S);
		ip_link("up");
	}
	t_boot = tc_now();
	for (i = 0; i < NEP; i++)
		g_ep[i] = tc_connect(node, port, 30);
	TC_CHECK(posix_memalign(&win, 4096, WIN) == 0, "memalign");
	TC_CHECK(scif_register(g_ep[EP_R], win, WIN, 0,
			       SCIF_PROT_READ | SCIF_PROT_WRITE,
			       SCIF_MAP_FIXED) == 0,
		 "register");
	tc_send_all(g_ep[EP_R], &t_boot, sizeof(t_boot));
	pthread_create(&dt, NULL, drain, &derr);
	tc_recv_all(g_ep[EP_F], &c, 1); /* the survivor saw us come */
	usleep(TRAFFIC_MS * 1000);
	tc_send_all(g_ep[EP_B], "D", 1);
	if (g_vm)
		power_off();
	ip_link("down");
	printf("client: link down\n");
	pthread_join(dt, NULL);
	printf("client: my receive ended with %s\n", strerror(derr));
	sleep(DOWN_S);
	ip_link("up");
	t_up = tc_now();
	printf("client: link up\n");
	for (i = 0; i < NEP; i++)
		scif_close(g_ep[i]);
	e = tc_connect(node, port, 20);
	tc_send_all(e, &t_up, sizeof(t_up));
	tc_fill(buf, sizeof(buf), SEED, 0);
	tc_send_all(e, buf, sizeof(buf));
	tc_recv_all(e, &c, 1);
	scif_close(e);
	free(win);
	/* its own view: the survivor's node fell silent */
	return derr != ENODEV;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	g_vm = argc > 3 && !strcmp(argv[argc - 1], "vm");
	argc -= g_vm;
	if (argc == 3 && !strcmp(argv[1], "server"))
		return server((uint16_t)atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client((uint16_t)atoi(argv[2]),
			      (uint16_t)atoi(argv[3]));
	fprintf(stderr, "usage: t_nodeloss server PORT [vm] | "
			"client NODE PORT [vm]\n");
	return 2;
}
