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

/* The provider registry: the only process-wide list besides the instance. */
static const struct scif_provider_ops *const providers[] = {
	&scif_verbs_ops,
};

static struct scif_lib *the_lib;
static pid_t lib_pid; /* the process that initialised it */
static int lib_err;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

long long scif__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stubs for the slots a provider leaves empty (EOPNOTSUPP, as rdma-core's
 * verbs_context_ops does). */
static int stub_node_probe(struct scif_prov *p, const struct scif_node *n,
			   int t)
{
	(void)p, (void)n, (void)t;
	return 0; /* no way to ask: listed means online */
}
static int stub_listen(struct scif_ep *ep, int b)
{
	(void)ep, (void)b;
	return 0;
}
static int stub_ctrl_send(struct scif_ep *ep, uint8_t t, const void *p,
			  uint32_t l)
{
	(void)ep, (void)t, (void)p, (void)l;
	return -EOPNOTSUPP;
}
static int stub_win_register(struct scif_ep *ep, void *a, size_t l, off_t o,
			     int p, struct scif_mr *mr)
{
	(void)ep, (void)a, (void)l, (void)o, (void)p, (void)mr;
	return -EOPNOTSUPP;
}
static void stub_win_unregister(struct scif_ep *ep, struct scif_mr *mr)
{
	(void)ep, (void)mr;
}
static int stub_mr_get(struct scif_ep *ep, void *a, size_t l, int f,
		       struct scif_mr *mr)
{
	(void)ep, (void)a, (void)l, (void)f, (void)mr;
	return -EOPNOTSUPP;
}
static void stub_mr_put(struct scif_ep *ep, struct scif_mr *mr)
{
	(void)ep, (void)mr;
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
static uint64_t stub_rma_max_piece(struct scif_ep *ep)
{
	(void)ep;
	return 1u << 30;
}

static void fill_ops(struct scif_lib *lib, const struct scif_provider_ops *p)
{
	struct scif_provider_ops *o = &lib->ops_storage;
	size_t n = p->size < sizeof(*o) ? p->size : sizeof(*o);

	memset(o, 0, sizeof(*o));
	memcpy(o, p, n);
#define FILL(slot, fn)                                                       \
	do {                                                                 \
		if (!o->slot)                                                \
			o->slot = fn;                                        \
	} while (0)
	FILL(node_probe, stub_node_probe);
	FILL(ep_listen, stub_listen);
	FILL(ctrl_send, stub_ctrl_send);
	FILL(win_register, stub_win_register);
	FILL(win_unregister, stub_win_unregister);
	FILL(mr_get, stub_mr_get);
	FILL(mr_put, stub_mr_put);
	FILL(rma_post, stub_rma_post);
	FILL(rma_max_piece, stub_rma_max_piece);
	FILL(cache_stats, stub_cache_stats);
#undef FILL
	lib->ops = o;
}

static bool ops_complete(const struct scif_provider_ops *p)
{
	/* The slots without which no endpoint can work. */
	return p->init && p->fini && p->ep_open && p->ep_bind && p->ep_connect &&
	       p->ep_accept && p->conn_reject && p->ep_close && p->send &&
	       p->recv && p->recv_ready && p->send_ready;
}

static int select_provider(struct scif_lib *lib)
{
	const char *want = getenv("SCIF_PROVIDER");
	const struct scif_provider_ops *order[sizeof(providers) /
					      sizeof(providers[0])];
	size_t n = sizeof(providers) / sizeof(providers[0]), i, j;
	int ret = -ENODEV;

	memcpy(order, providers, sizeof(order));
	for (i = 1; i < n; i++) /* by priority, highest first */
		for (j = i; j > 0 && order[j]->priority > order[j - 1]->priority;
		     j--) {
			const struct scif_provider_ops *t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (i = 0; i < n; i++) {
		if (want && *want && strcmp(want, order[i]->name))
			continue;
		if (!ops_complete(order[i])) {
			scif_err("provider %s lacks required operations",
				 order[i]->name);
			continue;
		}
		fill_ops(lib, order[i]);
		ret = lib->ops->init(lib, &lib->prov);
		if (!ret) {
			scif_info("using provider %s", lib->ops->name);
			return 0;
		}
		scif_info("provider %s unavailable: %s", order[i]->name,
			  strerror(-ret));
	}
	if (want && *want)
		scif_err("SCIF_PROVIDER=%s: no such provider, or it is not "
			 "usable here",
			 want);
	else
		scif_err("no usable SCIF provider");
	return -ENODEV;
}

static int env_int(const char *name, int def)
{
	const char *s = getenv(name);

	return s && *s ? atoi(s) : def;
}

static void lib_init(void)
{
	const char *path = getenv("SCIF_NODES_FILE");
	struct scif_lib *lib;
	char why[256] = "";
	int ret;

	if (!path || !*path)
		path = SCIF_NODES_FILE_DEFAULT;
	lib = calloc(1, sizeof(*lib));
	if (!lib) {
		lib_err = ENOMEM;
		return;
	}
	pthread_mutex_init(&lib->table_lock, NULL);
	pthread_mutex_init(&lib->probe_lock, NULL);
	pthread_mutex_init(&lib->pinned_lock, NULL);
	lib->probe_timeout_ms = env_int("SCIF_NODE_PROBE_MS", 1000);
	lib->probe_ttl_ms = env_int("SCIF_NODE_PROBE_TTL_MS", 2000);
	lib->accept_timeout_ms = env_int("SCIF_ACCEPT_TIMEOUT_MS", 10000);
	lib->close_timeout_ms = env_int("SCIF_CLOSE_TIMEOUT_MS", 30000);
	if (lib->probe_timeout_ms < 1 || lib->probe_ttl_ms < 0 ||
	    lib->accept_timeout_ms < 1 || lib->close_timeout_ms < 0) {
		scif_warn("SCIF_NODE_PROBE_MS, SCIF_NODE_PROBE_TTL_MS, "
			  "SCIF_ACCEPT_TIMEOUT_MS or SCIF_CLOSE_TIMEOUT_MS out "
			  "of range: defaults used");
		lib->probe_timeout_ms = 1000;
		lib->probe_ttl_ms = 2000;
		lib->accept_timeout_ms = 10000;
		lib->close_timeout_ms = 30000;
	}

	ret = scif__nodemap_load(path, &lib->map, why, sizeof(why));
	if (ret) {
		scif_err("node map: %s", why);
		goto err_free;
	}
	ret = scif__nodemap_self(&lib->map, &lib->self);
	if (ret)
		goto err_map;
	ret = scif__ports_init(&lib->ports);
	if (ret)
		goto err_map;
	ret = scif__progress_start(&lib->progress);
	if (ret)
		goto err_ports;
	ret = select_provider(lib);
	if (ret)
		goto err_progress;
	scif_dbg("self node %u, %zu nodes in %s", lib->self, lib->map.count,
		 path);
	lib_pid = getpid();
	the_lib = lib;
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

struct scif_lib *scif__lib(void)
{
	pthread_once(&lib_once, lib_init);
	if (!the_lib)
		errno = lib_err;
	return the_lib;
}

/* At exit, release the provider cleanly when no endpoint is left open (with
 * endpoints open other threads may still be inside calls; the kernel then
 * cleans up after the process). */
__attribute__((destructor)) static void lib_fini(void)
{
	struct scif_lib *lib = the_lib;
	int i;

	/* A forked child shares the parent's devices and threads do not
	 * exist in it: leave everything to the parent. */
	if (!lib || getpid() != lib_pid)
		return;
	for (i = 0; i < lib->table_size; i++)
		if (lib->table[i])
			return;
	lib->ops->fini(lib->prov);
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

struct scif_progress *scif__lib_progress(struct scif_lib *lib)
{
	return &lib->progress;
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

	up = lib->ops->node_probe(lib->prov, node, lib->probe_timeout_ms) == 0;

	pthread_mutex_lock(&lib->probe_lock);
	for (i = 0; i < lib->nprobes && lib->probes[i].id != id; i++)
		;
	if (i == lib->nprobes) {
		void *n = realloc(lib->probes,
				  (lib->nprobes + 1) * sizeof(*lib->probes));

		if (!n) {
			pthread_mutex_unlock(&lib->probe_lock);
			return up;
		}
		lib->probes = n;
		lib->nprobes++;
	}
	lib->probes[i].id = id;
	lib->probes[i].up = up;
	lib->probes[i].when_ms = scif__now_ms();
	pthread_mutex_unlock(&lib->probe_lock);
	return up;
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
	pthread_mutex_init(&ep->send_lock, NULL);
	pthread_mutex_init(&ep->recv_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ep->cond, &ca);
	pthread_condattr_destroy(&ca);
	ep->state = SCIF_EP_UNBOUND;
	ep->port.node = lib->self;
	return ep;
}

void scif__ep_get(struct scif_ep *ep)
{
	__atomic_add_fetch(&ep->refs, 1, __ATOMIC_RELAXED);
}

void scif__ep_put(struct scif_ep *ep)
{
	if (__atomic_sub_fetch(&ep->refs, 1, __ATOMIC_ACQ_REL))
		return;
	scif__evfd_close(&ep->ev);
	pthread_cond_destroy(&ep->cond);
	pthread_mutex_destroy(&ep->send_lock);
	pthread_mutex_destroy(&ep->recv_lock);
	pthread_mutex_destroy(&ep->lock);
	free(ep);
}

int scif__ep_publish(struct scif_ep *ep)
{
	struct scif_lib *lib = ep->lib;
	int fd = ep->ev.app_fd;

	pthread_mutex_lock(&lib->table_lock);
	if (fd >= lib->table_size) {
		int nsize = lib->table_size ? lib->table_size : 64;
		struct scif_ep **t;

		while (nsize <= fd)
			nsize *= 2;
		t = realloc(lib->table, (size_t)nsize * sizeof(*t));
		if (!t) {
			pthread_mutex_unlock(&lib->table_lock);
			return -ENOMEM;
		}
		memset(t + lib->table_size, 0,
		       (size_t)(nsize - lib->table_size) * sizeof(*t));
		lib->table = t;
		lib->table_size = nsize;
	}
	lib->table[fd] = ep;
	pthread_mutex_unlock(&lib->table_lock);
	return 0;
}

void scif__ep_unpublish(struct scif_ep *ep)
{
	struct scif_lib *lib = ep->lib;
	int fd = ep->ev.app_fd;

	pthread_mutex_lock(&lib->table_lock);
	if (fd >= 0 && fd < lib->table_size && lib->table[fd] == ep)
		lib->table[fd] = NULL;
	pthread_mutex_unlock(&lib->table_lock);
}

int scif__ep_lookup(int fd, struct scif_ep **out)
{
	struct scif_lib *lib = scif__lib();
	struct scif_ep *ep = NULL;

	if (fd < 0)
		return -EBADF;
	if (lib) {
		pthread_mutex_lock(&lib->table_lock);
		if (fd < lib->table_size)
			ep = lib->table[fd];
		if (ep)
			scif__ep_get(ep);
		pthread_mutex_unlock(&lib->table_lock);
	}
	if (!ep) /* an open descriptor that is no endpoint: ENOTTY */
		return fcntl(fd, F_GETFD) < 0 ? -EBADF : -ENOTTY;
	*out = ep;
	return 0;
}

void scif__ep_lock(struct scif_ep *ep)
{
	pthread_mutex_lock(&ep->lock);
}

void scif__ep_unlock(struct scif_ep *ep)
{
	pthread_mutex_unlock(&ep->lock);
}

void *scif__ep_prov_data(struct scif_ep *ep)
{
	return ep->prov_data;
}

void scif__ep_set_prov_data(struct scif_ep *ep, void *data)
{
	ep->prov_data = data;
}

uint16_t scif__ep_port(struct scif_ep *ep)
{
	return ep->port.port;
}

short scif__ep_events(struct scif_ep *ep)
{
	const struct scif_provider_ops *ops = ep->lib->ops;
	short ev = 0;

	if (ep->nonblock_connect) {
		/* An asynchronous connect reports completion as POLLOUT. */
		if (ep->state != SCIF_EP_CONNECTING)
			ev |= POLLOUT;
		if (ep->state == SCIF_EP_DISCONNECTED)
			ev |= POLLHUP;
		return ev;
	}
	switch (ep->state) {
	case SCIF_EP_LISTENING:
		if (ep->npending)
			ev |= POLLIN;
		break;
	case SCIF_EP_CONNECTED:
		if (ops->recv_ready(ep))
			ev |= POLLIN;
		if (ops->send_ready(ep))
			ev |= POLLOUT;
		break;
	case SCIF_EP_DISCONNECTED:
		ev |= POLLHUP;
		if (ops->recv_ready(ep))
			ev |= POLLIN;
		break;
	default:
		ev |= POLLERR; /* as the kernel driver: no I/O in this state */
		break;
	}
	return ev;
}

void scif__ep_wake(struct scif_ep *ep)
{
	pthread_cond_broadcast(&ep->cond);
	if (ep->state != SCIF_EP_CLOSING)
		scif__evfd_set(&ep->ev, scif__ep_events(ep));
}

int scif__ep_wait(struct scif_ep *ep, long long deadline_ms)
{
	struct timespec ts;

	if (deadline_ms < 0) {
		pthread_cond_wait(&ep->cond, &ep->lock);
		return 0;
	}
	ts.tv_sec = deadline_ms / 1000;
	ts.tv_nsec = (deadline_ms % 1000) * 1000000;
	return pthread_cond_timedwait(&ep->cond, &ep->lock, &ts) == ETIMEDOUT ?
		       -ETIMEDOUT :
		       0;
}
