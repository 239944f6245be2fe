/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The library instance: provider registry and selection, node map, the
 * descriptor table and endpoint lifetime.
 */
#include "scif_priv.h"
#include "log.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * The instance is created on first use under lib_lock; the_lib is read
 * without it once set.  After fork() the child abandons the parent's
 * instance (fork_child) and creates its own on its next call; the
 * abandoned ones are kept, newest first, only to recognise the endpoints
 * the child inherited (they fail with SCIF_EP_INHERITED_ERR).
 */
static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static struct scif_lib *the_lib;
static pid_t lib_pid; /* the process that initialised it */
static int lib_err;
static bool atfork_set;
#define SCIF_MAX_ABANDONED 16
static struct scif_lib *abandoned[SCIF_MAX_ABANDONED]; /* [lib_lock] */
static int nabandoned;

/* The provider registry: the only process-wide list besides the instance.
 * Built-in providers first; scif__provider_add() appends one (a provider
 * loaded at run time, or a test's fake) before the library initialises. */
static const struct scif_provider_ops *providers[SCIF_MAX_PROVIDERS * 2] = {
	&scif_shm_ops,
	&scif_tcp_ops,
	&scif_mic_ops,
#ifndef SCIF_DL_PROVIDERS
	&scif_verbs_ops, /* the static library links it in */
#endif
};
#ifndef SCIF_DL_PROVIDERS
static size_t nregistry = 4;
#else
static size_t nregistry = 3; /* and what scif__plugins_load() adds */
#endif
#define NREGISTRY (sizeof(providers) / sizeof(providers[0]))

int scif__provider_add(const struct scif_provider_ops *ops)
{
	if (the_lib || lib_err)
		return -EBUSY; /* the instance has chosen already */
	if (nregistry == NREGISTRY)
		return -ENOSPC;
	providers[nregistry++] = ops;
	return 0;
}


SCIF_HOT long long scif__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t scif__env_u32(const char *name, uint32_t def, uint32_t lo,
		       uint32_t hi)
{
	const char *s = getenv(name);
	unsigned long v;
	char *end;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || *s == '-' || v < lo || v > hi) {
		scif_warn("%s=%s out of range [%u, %u], using %u", name, s, lo,
			  hi, def);
		return def;
	}
	return (uint32_t)v;
}

/* ---- stubs for the slots a provider leaves empty ---- */

static bool stub_reaches(struct scif_prov *p, const struct scif_node *n)
{
	(void)p, (void)n;
	return true;
}
static int stub_node_probe(struct scif_prov *p, const struct scif_node *n,
			   int t)
{
	(void)p, (void)n, (void)t;
	return 0; /* no way to ask: listed means online */
}
static void stub_unlisten(struct scif_prov *p, void *l)
{
	(void)p, (void)l;
}
static int stub_ctrl_send(struct scif_ep *ep, uint8_t t, const void *p,
			  uint32_t l)
{
	(void)ep, (void)t, (void)p, (void)l;
	return -EOPNOTSUPP;
}
static int stub_ep_progress(struct scif_ep *ep)
{
	(void)ep;
	return 0;
}
static int stub_ep_idle(struct scif_ep *ep)
{
	(void)ep;
	return 0;
}
static void stub_ep_park(struct scif_ep *ep)
{
	(void)ep;
}
static bool stub_ep_late(struct scif_ep *ep)
{
	(void)ep;
	return false;
}
static int stub_send_pending(struct scif_ep *ep)
{
	(void)ep;
	return 0;
}

static short stub_ready(struct scif_ep *ep)
{
	return (short)((ep->ops->recv_ready(ep) ? POLLIN : 0) |
		       (ep->ops->send_ready(ep) ? POLLOUT : 0));
}

static int stub_ep_lead(struct scif_ep *ep)
{
	(void)ep;
	return -EOPNOTSUPP;
}
static void stub_ep_unlead(struct scif_ep *ep)
{
	(void)ep;
}
static void stub_query(struct scif_ep *ep, struct scif_prov_attr *a)
{
	(void)ep;
	a->max_piece = 1u << 30;
	a->align = 1;
	a->caps = 0;
}
static int stub_mr_reg(struct scif_ep *ep, const struct scif_mem *m,
		       struct scif_mr *mr)
{
	(void)ep, (void)m, (void)mr;
	return -EOPNOTSUPP;
}
static void stub_mr_dereg(struct scif_ep *ep, struct scif_mr *mr)
{
	(void)ep, (void)mr;
}
static int stub_mr_export(struct scif_ep *ep, const struct scif_mr *mr,
			  void *b, size_t c)
{
	(void)ep, (void)mr, (void)b, (void)c;
	return -EOPNOTSUPP;
}
static int stub_rmr_import(struct scif_ep *ep, const void *b, size_t bl,
			   uint64_t l, struct scif_rmr *r)
{
	(void)ep, (void)b, (void)bl, (void)l, (void)r;
	return -EOPNOTSUPP;
}
static void stub_rmr_release(struct scif_ep *ep, struct scif_rmr *r)
{
	(void)ep, (void)r;
}
static int stub_rma_post(struct scif_ep *ep, const struct scif_rma_seg *s,
			 int n)
{
	(void)ep, (void)s, (void)n;
	return -EOPNOTSUPP;
}
static int stub_cache_stats(struct scif_ep *ep, struct scif_regcache_stats *st)
{
	(void)ep, (void)st;
	return -EOPNOTSUPP;
}
int scif__stub_recv_post(struct scif_ep *ep, void *buf, size_t len)
{
	(void)ep, (void)buf, (void)len;
	return -EOPNOTSUPP;
}
static size_t stub_recv_unpost(struct scif_ep *ep)
{
	(void)ep;
	return 0;
}

static int stub_rmr_fd(struct scif_ep *ep, const struct scif_rmr *r,
		       uint64_t roff, uint64_t *len, bool write, int *fd,
		       uint64_t *fd_off)
{
	(void)ep, (void)r, (void)roff, (void)len, (void)write, (void)fd;
	(void)fd_off;
	return -EOPNOTSUPP;
}

static void fill_stubs(struct scif_provider_ops *o)
{
#define FILL(slot, fn)                                                       \
	do {                                                                 \
		if (!o->slot)                                                \
			o->slot = fn;                                        \
	} while (0)
	FILL(reaches, stub_reaches);
	FILL(node_probe, stub_node_probe);
	FILL(unlisten, stub_unlisten);
	FILL(ctrl_send, stub_ctrl_send);
	FILL(ep_progress, stub_ep_progress);
	FILL(ep_idle, stub_ep_idle);
	FILL(ep_park, stub_ep_park);
	FILL(ep_late, stub_ep_late);
	FILL(send_pending, stub_send_pending);
	FILL(ep_lead, stub_ep_lead);
	FILL(ep_lead_event, stub_ep_progress);
	FILL(ep_unlead, stub_ep_unlead);
	FILL(query, stub_query);
	FILL(mr_reg, stub_mr_reg);
	FILL(mr_dereg, stub_mr_dereg);
	FILL(mr_export, stub_mr_export);
	FILL(rmr_import, stub_rmr_import);
	FILL(rmr_release, stub_rmr_release);
	FILL(rma_post, stub_rma_post);
	FILL(cache_stats, stub_cache_stats);
	FILL(recv_post, scif__stub_recv_post);
	FILL(recv_unpost, stub_recv_unpost);
	FILL(rmr_fd, stub_rmr_fd);
	FILL(ready, stub_ready);
#undef FILL
}

/* ---- the null provider of an endpoint not yet connected ---- */

static int null_open(struct scif_prov *p, struct scif_ep *ep)
{
	(void)p, (void)ep;
	return -ENOTCONN;
}
static int null_connect(struct scif_ep *ep, const struct scif_node *n,
			uint16_t port)
{
	(void)ep, (void)n, (void)port;
	return -ENOTCONN;
}
static int null_accept(struct scif_conn_req *req, struct scif_ep *ep)
{
	(void)req, (void)ep;
	return -ENOTCONN;
}
static void null_close(struct scif_ep *ep)
{
	(void)ep;
}
static ssize_t null_send(struct scif_ep *ep, const void *b, size_t l)
{
	(void)ep, (void)b, (void)l;
	return -ENOTCONN;
}
static ssize_t null_recv(struct scif_ep *ep, void *b, size_t l)
{
	(void)ep, (void)b, (void)l;
	return 0;
}
static int null_ready(struct scif_ep *ep)
{
	(void)ep;
	return 0;
}

const struct scif_provider_ops scif__null_ops = {
	.size = sizeof(struct scif_provider_ops),
	.name = "none",
	.reaches = stub_reaches,
	.node_probe = stub_node_probe,
	.unlisten = stub_unlisten,
	.ep_open = null_open,
	.ep_connect = null_connect,
	.ep_accept = null_accept,
	.ep_close = null_close,
	.send = null_send,
	.recv = null_recv,
	.recv_ready = null_ready,
	.send_ready = null_ready,
	.ctrl_send = stub_ctrl_send,
	.ep_progress = stub_ep_progress,
	.ep_idle = stub_ep_idle,
	.ep_park = stub_ep_park,
	.ep_late = stub_ep_late,
	.send_pending = stub_send_pending,
	.ep_lead = stub_ep_lead,
	.ep_lead_event = stub_ep_progress,
	.ep_unlead = stub_ep_unlead,
	.query = stub_query,
	.mr_reg = stub_mr_reg,
	.mr_dereg = stub_mr_dereg,
	.mr_export = stub_mr_export,
	.rmr_import = stub_rmr_import,
	.rmr_release = stub_rmr_release,
	.rma_post = stub_rma_post,
	.cache_stats = stub_cache_stats,
	.recv_post = scif__stub_recv_post,
	.recv_unpost = stub_recv_unpost,
	.rmr_fd = stub_rmr_fd,
	.ready = stub_ready,
};

static bool ops_complete(const struct scif_provider_ops *p)
{
	/* The slots without which no endpoint can work. */
	return p->init && p->fini && p->listen && p->ep_open &&
	       p->ep_connect && p->ep_accept && p->conn_reject &&
	       p->ep_close && p->send && p->recv && p->recv_ready &&
	       p->send_ready;
}

/* Initialise one provider into the next instance slot. */
static int provider_start(struct scif_lib *lib,
			  const struct scif_provider_ops *p)
{
	struct scif_prov_inst *pi = &lib->provs[lib->nprovs];
	size_t n = p->size < sizeof(pi->ops) ? p->size : sizeof(pi->ops);
	int ret;

	if (!ops_complete(p)) {
		scif_err("provider %s lacks required operations", p->name);
		return -EINVAL;
	}
	memset(&pi->ops, 0, sizeof(pi->ops));
	memcpy(&pi->ops, p, n);
	fill_stubs(&pi->ops);
	ret = pi->ops.init(lib, &pi->prov);
	if (ret) {
		scif_info("provider %s unavailable: %s", p->name,
			  strerror(-ret));
		return ret;
	}
	scif_info("provider %s active", p->name);
	lib->nprovs++;
	return 0;
}

static const struct scif_provider_ops *registry_find(const char *name,
						     size_t len)
{
	size_t i;

	for (i = 0; i < nregistry; i++)
		if (strlen(providers[i]->name) == len &&
		    !strncmp(providers[i]->name, name, len))
			return providers[i];
	return NULL;
}

/* SCIF_PROVIDER: a comma-separated list in order of preference (as
 * FI_PROVIDER and UCX_TLS); unset: every provider, by priority. */
static int select_providers(struct scif_lib *lib)
{
	const char *want = getenv("SCIF_PROVIDER"), *s, *e;
	const struct scif_provider_ops *order[NREGISTRY];
	size_t n = 0, i, j;

	if (want && *want) {
		for (s = want; *s; s = *e ? e + 1 : e) {
			const struct scif_provider_ops *p;

			e = strchrnul(s, ',');
			p = registry_find(s, (size_t)(e - s));
			if (!p) {
				const char *why =
					scif__plugin_why(s, (size_t)(e - s));

				scif_err("SCIF_PROVIDER=%s: no provider "
					 "named '%.*s'%s%s",
					 want, (int)(e - s), s,
					 why ? ": it could not be loaded: " :
					       "",
					 why ? why : "");
				return -ENODEV;
			}
			for (j = 0; j < n && order[j] != p; j++)
				;
			if (j == n && n < NREGISTRY)
				order[n++] = p;
		}
	} else {
		memcpy(order, providers, sizeof(order));
		n = nregistry;
		for (i = 1; i < n; i++) /* by priority, highest first */
			for (j = i; j > 0 &&
				    order[j]->priority > order[j - 1]->priority;
			     j--) {
				const struct scif_provider_ops *t = order[j];

				order[j] = order[j - 1];
				order[j - 1] = t;
			}
	}
	for (i = 0; i < n && lib->nprovs < SCIF_MAX_PROVIDERS; i++)
		provider_start(lib, order[i]);
	if (lib->nprovs)
		return 0;
	scif_err("no usable SCIF provider%s%s", want && *want ? " in " : "",
		 want && *want ? want : "");
	return -ENODEV;
}

static void providers_stop(struct scif_lib *lib)
{
	while (lib->nprovs > 0) {
		struct scif_prov_inst *pi = &lib->provs[--lib->nprovs];

		pi->ops.fini(pi->prov);
	}
}

struct scif_prov_inst *scif__lib_inst(struct scif_lib *lib,
				      const struct scif_prov *prov)
{
	int i;

	for (i = 0; i < lib->nprovs; i++)
		if (lib->provs[i].prov == prov)
			return &lib->provs[i];
	return NULL;
}

/* The node map: SCIF_NODES_FILE, else the default path; without either,
 * this host alone as node 0 (reached by the shared-memory provider). */
static int load_map(struct scif_lib *lib)
{
	const char *path = getenv("SCIF_NODES_FILE");
	char why[256] = "";
	int ret;

	if (!path || !*path) {
		path = SCIF_NODES_FILE_DEFAULT;
		ret = scif__nodemap_load(path, &lib->map, why, sizeof(why));
		if (ret == -ENOENT) {
			scif_info("no node map at %s: single node 0", path);
			ret = scif__nodemap_parse("0 127.0.0.1\n", &lib->map,
						  why, sizeof(why));
		}
	} else {
		ret = scif__nodemap_load(path, &lib->map, why, sizeof(why));
	}
	if (ret) {
		scif_err("node map: %s", why);
		return ret;
	}
	ret = scif__nodemap_self(&lib->map, &lib->self);
	if (ret) {
		scif__nodemap_free(&lib->map);
		return ret;
	}
	scif_dbg("self node %u, %zu nodes", lib->self, lib->map.count);
	return 0;
}

static void lib_settings(struct scif_lib *lib)
{
	lib->probe_timeout_ms =
		(int)scif__env_u32("SCIF_NODE_PROBE_MS", 1000, 1, 3600000);
	lib->probe_ttl_ms =
		(int)scif__env_u32("SCIF_NODE_PROBE_TTL_MS", 2000, 0, 3600000);
	lib->accept_timeout_ms =
		(int)scif__env_u32("SCIF_ACCEPT_TIMEOUT_MS", 10000, 1, 3600000);
	lib->close_timeout_ms =
		(int)scif__env_u32("SCIF_CLOSE_TIMEOUT_MS", 30000, 0, 3600000);
	lib->spin_us = (int)scif__env_u32("SCIF_SPIN_US", 0, 0, 1000000);
	lib->spin_set = getenv("SCIF_SPIN_US") != NULL;
	/* node loss: each provider's heartbeat (docs/nodes.md) */
	lib->hb_ms = (int)scif__env_u32("SCIF_HEARTBEAT_MS", 1000, 100, 3600000);
	lib->hb_timeout_ms = (int)scif__env_u32("SCIF_HEARTBEAT_TIMEOUT_MS",
						3000, 200, 3600000);
	if (lib->hb_timeout_ms < 2 * lib->hb_ms) {
		scif_warn("SCIF_HEARTBEAT_TIMEOUT_MS=%d is under twice "
			  "SCIF_HEARTBEAT_MS=%d: using %d",
			  lib->hb_timeout_ms, lib->hb_ms, 2 * lib->hb_ms);
		lib->hb_timeout_ms = 2 * lib->hb_ms;
	}
	/* a mapping's pages are re-fetched and its writes sent back within
	 * this bound (docs/mmap.md) */
	lib->mmap_coherence_us =
		scif__env_u32("SCIF_MMAP_COHERENCE_US", 1000, 10, 10000000);
	lib->mmap_prefetch = (size_t)scif__env_u32(
		"SCIF_MMAP_PREFETCH", 2u << 20, 4096, 64u << 20);
	/* 0: never map the peer's memory itself (docs/mmap.md) */
	lib->mmap_direct = scif__env_u32("SCIF_MMAP_DIRECT", 1, 0, 1);
}

static void lib_init(void)
{
	struct scif_lib *lib;
	int ret;

	lib = calloc(1, sizeof(*lib));
	if (!lib) {
		lib_err = ENOMEM;
		return;
	}
	pthread_mutex_init(&lib->probe_lock, NULL);
	pthread_mutex_init(&lib->members_lock, NULL);
	pthread_mutex_init(&lib->pinned_lock, NULL);
	pthread_mutex_init(&lib->gnt_lock, NULL);
	pthread_mutex_init(&lib->maps_lock, NULL);
	pthread_mutex_init(&lib->maps_op_lock, NULL);
	lib_settings(lib);
	ret = load_map(lib);
	if (ret)
		goto err_free;
	ret = scif__ports_init(&lib->ports);
	if (ret)
		goto err_map;
	ret = scif__progress_start(&lib->progress);
	if (ret)
		goto err_ports;
	scif__plugins_load();
	ret = select_providers(lib);
	if (ret)
		goto err_progress;
	lib_pid = getpid();
	__atomic_store_n(&the_lib, lib, __ATOMIC_RELEASE);
	return;

err_progress:
	scif__progress_stop(&lib->progress);
err_ports:
	scif__ports_fini(&lib->ports);
err_map:
	scif__nodemap_free(&lib->map);
err_free:
	free(lib);
	lib_err = ret == -ENOMEM ? ENOMEM : ENODEV;
}

/* ---- fork ---- */

/* Before fork(): no lock the child needs may be held by a thread that does
 * not exist there.  The child reads the instance's table, port reservations
 * and progress sources; the parent's threads keep working once released. */
static void fork_prepare(void)
{
	struct scif_lib *lib;

	pthread_mutex_lock(&lib_lock);
	lib = the_lib;
	if (!lib)
		return;
	scif__spin_lock(&lib->table_lock);
	pthread_mutex_lock(&lib->ports.lock);
	pthread_mutex_lock(&lib->progress.lock);
}

static void fork_release(struct scif_lib *lib)
{
	if (lib) {
		pthread_mutex_unlock(&lib->progress.lock);
		pthread_mutex_unlock(&lib->ports.lock);
		scif__spin_unlock(&lib->table_lock);
	}
	pthread_mutex_unlock(&lib_lock);
}

static void fork_parent(void)
{
	fork_release(the_lib);
}

/*
 * In the child: the instance is the parent's.  Its providers' kernel
 * objects (verbs contexts, PDs, rdma_cm ids; shm mappings) are shared with
 * the parent and never released here: a provider's fini would destroy the
 * parent's.  Only plain descriptors are closed, the child's copies: those
 * of the progress thread and its sources (connection sockets, listeners,
 * event channels: a copy kept open would hide the parent's close from its
 * peers), the port reservations, and the library's end of each endpoint's
 * descriptor pair.  The application's end is the inherited endpoint
 * descriptor: scif_close() closes it.
 */
static void fork_child(void)
{
	struct scif_lib *lib = the_lib;
	int i;

	fork_release(lib);
	lib_err = 0; /* the child tries for itself */
	if (!lib)
		return;
	the_lib = NULL;
	lib_pid = 0;
	scif__progress_abandon(&lib->progress);
	scif__ports_abandon(&lib->ports);
	for (i = 0; i < lib->table_size; i++) {
		struct scif_ep *ep = lib->table[i];

		if (ep && ep->ev.lib_fd >= 0) {
			close(ep->ev.lib_fd);
			ep->ev.lib_fd = -1;
		}
		if (ep && ep->lead_efd >= 0) {
			close(ep->lead_efd);
			ep->lead_efd = -1;
		}
	}
	if (nabandoned == SCIF_MAX_ABANDONED)
		nabandoned--; /* the oldest's descriptors become ENOTTY */
	memmove(abandoned + 1, abandoned, nabandoned * sizeof(abandoned[0]));
	abandoned[0] = lib;
	nabandoned++;
}

/* [lib_lock] The abandoned instance whose table holds fd, if any. */
static struct scif_lib *inherited_find(int fd)
{
	int i;

	for (i = 0; i < nabandoned; i++)
		if (fd < abandoned[i]->table_size && abandoned[i]->table[fd])
			return abandoned[i];
	return NULL;
}

/* Whether fd (open, not an endpoint of this process's instance) is an
 * endpoint inherited across fork(). */
static bool ep_inherited(int fd)
{
	bool ret;

	if (!__atomic_load_n(&nabandoned, __ATOMIC_RELAXED))
		return false;
	pthread_mutex_lock(&lib_lock);
	ret = inherited_find(fd) != NULL;
	pthread_mutex_unlock(&lib_lock);
	return ret;
}

int scif__ep_inherited_close(int fd)
{
	struct scif_lib *lib;
	int ret = -EBADF;

	pthread_mutex_lock(&lib_lock);
	while ((lib = inherited_find(fd)) != NULL) {
		lib->table[fd] = NULL;
		ret = 0;
	}
	pthread_mutex_unlock(&lib_lock);
	if (!ret && close(fd))
		ret = -errno;
	return ret;
}

struct scif_lib *scif__lib_if_up(void)
{
	return __atomic_load_n(&the_lib, __ATOMIC_ACQUIRE);
}

/* The first call of the process (out of line: see ep_free). */
static __attribute__((noinline, cold)) struct scif_lib *lib_first(void)
{
	struct scif_lib *lib;
	int err;

	pthread_mutex_lock(&lib_lock);
	if (!the_lib && !lib_err)
		lib_init();
	if (!atfork_set) {
		atfork_set = !pthread_atfork(fork_prepare, fork_parent,
					     fork_child);
		if (!atfork_set)
			scif_warn("pthread_atfork failed: no SCIF after fork");
	}
	lib = the_lib;
	err = lib_err;
	pthread_mutex_unlock(&lib_lock);
	if (!lib)
		errno = err;
	return lib;
}

SCIF_HOT struct scif_lib *scif__lib(void)
{
	struct scif_lib *lib = __atomic_load_n(&the_lib, __ATOMIC_ACQUIRE);

	return lib ? lib : lib_first();
}

/* At exit, release the provider cleanly when no endpoint is left open (with
 * endpoints open other threads may still be inside calls; the kernel then
 * cleans up after the process). */
__attribute__((destructor)) static void lib_fini(void)
{
	struct scif_lib *lib = the_lib;
	int i;

	/* An instance is finalised by the process that created it: a child
	 * abandons its parent's at fork (fork_child), whose devices it
	 * shares; one created in the child is the child's. */
	if (!lib || getpid() != lib_pid)
		return;
	for (i = 0; i < lib->table_size; i++)
		if (lib->table[i])
			return;
	if (scif__members_thread(lib))
		return; /* exit() in a client callback: the watch is running */
	scif__members_stop(lib);
	providers_stop(lib);
	scif__progress_stop(&lib->progress);
	scif__ports_fini(&lib->ports);
	scif__nodemap_free(&lib->map);
	free(lib->table);
	free(lib->probes);
	free(lib);
	the_lib = NULL;
}

uint16_t scif__self_node(struct scif_lib *lib)
{
	return lib->self;
}

const struct scif_node *scif__self(struct scif_lib *lib)
{
	return scif__nodemap_find(&lib->map, lib->self);
}

SCIF_HOT struct scif_progress *scif__lib_progress(struct scif_lib *lib)
{
	return &lib->progress;
}

int scif__lib_close_timeout_ms(struct scif_lib *lib)
{
	return lib->close_timeout_ms;
}

void scif__lib_heartbeat(struct scif_lib *lib, int *period_ms, int *timeout_ms)
{
	*period_ms = lib->hb_ms;
	*timeout_ms = lib->hb_timeout_ms;
}

/* Up when some provider that reaches it gets an answer. */
static bool node_probe(struct scif_lib *lib, const struct scif_node *node)
{
	int i;

	for (i = 0; i < lib->nprovs; i++) {
		struct scif_prov_inst *pi = &lib->provs[i];

		if (pi->ops.reaches(pi->prov, node) &&
		    !pi->ops.node_probe(pi->prov, node, lib->probe_timeout_ms))
			return true;
	}
	return false;
}

int scif__node_add(struct scif_lib *lib, uint16_t id)
{
	return scif__nodemap_add(&lib->map, id, "");
}

const struct scif_node *scif__node_find(struct scif_lib *lib, uint16_t id)
{
	return scif__nodemap_find(&lib->map, id);
}

/* Cache a node's liveness, as of now. */
static void probe_store(struct scif_lib *lib, uint16_t id, int up)
{
	size_t i;

	pthread_mutex_lock(&lib->probe_lock);
	for (i = 0; i < lib->nprobes && lib->probes[i].id != id; i++)
		;
	if (i == lib->nprobes) {
		void *n = realloc(lib->probes,
				  (lib->nprobes + 1) * sizeof(*lib->probes));

		if (!n) {
			pthread_mutex_unlock(&lib->probe_lock);
			return;
		}
		lib->probes = n;
		lib->nprobes++;
	}
	lib->probes[i].id = id;
	lib->probes[i].up = up;
	lib->probes[i].when_ms = scif__now_ms();
	pthread_mutex_unlock(&lib->probe_lock);
}

bool scif__node_up(struct scif_lib *lib, uint16_t id)
{
	const struct scif_node *node = scif__nodemap_find(&lib->map, id);
	long long now = scif__now_ms();
	size_t i;
	int up;

	if (!node)
		return false;
	if (id == lib->self)
		return true;
	pthread_mutex_lock(&lib->probe_lock);
	for (i = 0; i < lib->nprobes; i++) {
		if (lib->probes[i].id == id &&
		    now - lib->probes[i].when_ms < lib->probe_ttl_ms) {
			up = lib->probes[i].up;
			pthread_mutex_unlock(&lib->probe_lock);
			return up;
		}
	}
	pthread_mutex_unlock(&lib->probe_lock);

	up = node_probe(lib, node);
	probe_store(lib, id, up);
	return up;
}

void scif__node_lost(struct scif_lib *lib, uint16_t id)
{
	if (id != lib->self)
		probe_store(lib, id, 0);
	scif__members_kick(lib);
}

/* ---- endpoints ---- */

struct scif_ep *scif__ep_new(struct scif_lib *lib, int *err)
{
	struct scif_ep *ep = calloc(1, sizeof(*ep));
	pthread_condattr_t ca;

	if (!ep) {
		*err = -ENOMEM;
		return NULL;
	}
	*err = scif__evfd_open(&ep->ev);
	if (*err) {
		free(ep);
		return NULL;
	}
	ep->lib = lib;
	ep->refs = 1;
	pthread_mutex_init(&ep->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ep->cond, &ca);
	pthread_condattr_destroy(&ca);
	ep->state = SCIF_EP_UNBOUND;
	ep->port.node = lib->self;
	ep->ops = &scif__null_ops;
	ep->lead_fd = -1;
	ep->lead_efd = -1;
	return ep;
}

SCIF_HOT void scif__ep_get(struct scif_ep *ep)
{
	__atomic_add_fetch(&ep->refs, 1, __ATOMIC_RELAXED);
}

/* The last reference went: out of line, so that scif__ep_put is small
 * enough to inline on the per-message path. */
static __attribute__((noinline, cold)) void ep_free(struct scif_ep *ep)
{
	scif__evfd_close(&ep->ev);
	if (ep->lead_efd >= 0)
		close(ep->lead_efd);
	pthread_cond_destroy(&ep->cond);
	pthread_mutex_destroy(&ep->lock);
	free(ep);
}

SCIF_HOT void scif__ep_put(struct scif_ep *ep)
{
	if (!__atomic_sub_fetch(&ep->refs, 1, __ATOMIC_ACQ_REL))
		ep_free(ep);
}

int scif__ep_publish(struct scif_ep *ep)
{
	struct scif_lib *lib = ep->lib;
	int fd = ep->ev.app_fd;

	scif__spin_lock(&lib->table_lock);
	if (fd >= lib->table_size) {
		int nsize = lib->table_size ? lib->table_size : 64;
		struct scif_ep **t;

		while (nsize <= fd)
			nsize *= 2;
		t = realloc(lib->table, (size_t)nsize * sizeof(*t));
		if (!t) {
			scif__spin_unlock(&lib->table_lock);
			return -ENOMEM;
		}
		memset(t + lib->table_size, 0,
		       (size_t)(nsize - lib->table_size) * sizeof(*t));
		lib->table = t;
		lib->table_size = nsize;
	}
	lib->table[fd] = ep;
	scif__spin_unlock(&lib->table_lock);
	return 0;
}

void scif__ep_unpublish(struct scif_ep *ep)
{
	struct scif_lib *lib = ep->lib;
	int fd = ep->ev.app_fd;

	scif__spin_lock(&lib->table_lock);
	if (fd >= 0 && fd < lib->table_size && lib->table[fd] == ep)
		lib->table[fd] = NULL;
	scif__spin_unlock(&lib->table_lock);
}

/* No endpoint behind fd (out of line: see ep_free). */
static __attribute__((noinline, cold)) int ep_lookup_miss(int fd)
{
	/* an open descriptor that is no endpoint: ENOTTY */
	if (fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	/* the parent's endpoint, in a forked child */
	return ep_inherited(fd) ? -SCIF_EP_INHERITED_ERR : -ENOTTY;
}

SCIF_HOT int scif__ep_lookup(int fd, struct scif_ep **out)
{
	struct scif_lib *lib = scif__lib();
	struct scif_ep *ep = NULL;

	if (fd < 0)
		return -EBADF;
	if (lib) {
		scif__spin_lock(&lib->table_lock);
		if (fd < lib->table_size)
			ep = lib->table[fd];
		if (ep)
			scif__ep_get(ep);
		scif__spin_unlock(&lib->table_lock);
	}
	if (!ep)
		return ep_lookup_miss(fd);
	*out = ep;
	return 0;
}

SCIF_HOT void scif__ep_lock(struct scif_ep *ep)
{
	pthread_mutex_lock(&ep->lock);
}

SCIF_HOT void scif__ep_unlock(struct scif_ep *ep)
{
	if (ep->lead_fd >= 0) /* the leader's call ends: serve it again */
		scif__ep_unlead(ep);
	pthread_mutex_unlock(&ep->lock);
}

_Static_assert(offsetof(struct scif_ep, head) == 0,
	       "providers read the endpoint's head at its address");

void scif__ep_set_prov_data(struct scif_ep *ep, void *data)
{
	ep->head.prov_data = data;
}

uint16_t scif__ep_port(struct scif_ep *ep)
{
	return ep->port.port;
}

int scif__ep_bind_provider(struct scif_ep *ep, struct scif_prov_inst *pi)
{
	int ret;

	ep->pi = pi;
	ep->ops = &pi->ops;
	ret = pi->ops.ep_open(pi->prov, ep);
	if (ret) {
		ep->pi = NULL;
		ep->ops = &scif__null_ops;
	}
	return ret;
}

/* Internal (tests, diagnostics): the provider an endpoint is bound to. */
const char *scif__ep_provider_name(scif_epd_t epd)
{
	struct scif_ep *ep;
	const char *name;

	if (scif__ep_lookup(epd, &ep))
		return NULL;
	name = ep->ops->name;
	scif__ep_put(ep);
	return name;
}
