/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Node membership for the kernel API's clients (include/scif_client.h):
 * scif_client_register / scif_client_unregister, with probe called for every
 * peer node that comes online and remove for every one that goes.
 *
 * One thread, "scif-members", started by the first registration, watches
 * the node map: every SCIF_NODE_WATCH_MS it asks scif__node_up of each node
 * but ours (the probes and their cache of scif_get_nodeIDs), and at once when
 * a connection reports its peer's node lost (scif__members_kick).  It makes
 * every callback, one at a time, without any library lock held: a callback
 * may call SCIF.  A client sees probe for each online node when it
 * registers (before scif_client_register returns), then a remove for each
 * node that goes and a probe for each that returns, and when it
 * unregisters a remove for each node it still holds (the kernel's
 * subsys_interface does the same), after which no callback comes.
 */
#include "scif_priv.h"
#include "log.h"

#include <scif_client.h>

#include <stdlib.h>
#include <string.h>

#define NODE_IDS 65535 /* 0..65534; 65535 is never a node */

enum client_state { CL_NEW, CL_ACTIVE, CL_LEAVING, CL_GONE };

/* A registration.  Only the thread unlinks and frees it (callbacks run
 * while it walks the list); its state is read without the lock, so it is
 * accessed atomically. */
struct member_client {
	struct member_client *next;
	struct scif_client *client;
	uint64_t id;
	int state; /* enum client_state */
	bool told; /* it had probes: it gets removes when it leaves */
};

struct scif_members {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* the thread's wake-up, and registrations' */
	pthread_t thread;
	bool stop, kicked;
	struct member_client *clients;
	uint64_t next_id;
	uint8_t *online; /* by node id: the last view (NODE_IDS bytes) */
	int period_ms;
};

static bool on_thread(struct scif_members *m)
{
	return pthread_equal(pthread_self(), m->thread);
}

static int state_of(struct member_client *mc)
{
	return __atomic_load_n(&mc->state, __ATOMIC_ACQUIRE);
}

static void state_set(struct member_client *mc, int st)
{
	__atomic_store_n(&mc->state, st, __ATOMIC_RELEASE);
}

static void call(struct member_client *mc, bool up, uint16_t node)
{
	struct scif_peer_dev dev = { .dev = NULL, .dnode = node };
	struct scif_client *c = mc->client;

	scif_dbg("client %s: %s node %u", c->name ? c->name : "?",
		 up ? "probe" : "remove", node);
	if (up && c->probe)
		c->probe(&dev);
	else if (!up && c->remove)
		c->remove(&dev);
}

/* Every node of the view, to one client (until it is gone: a callback may
 * unregister it). */
static void call_all(struct scif_members *m, struct member_client *mc,
		     bool up)
{
	unsigned id;

	for (id = 0; id < NODE_IDS; id++)
		if (m->online[id] && state_of(mc) != CL_GONE)
			call(mc, up, (uint16_t)id);
}

/* [m->lock, dropped around callbacks] Clients that joined get the whole
 * view, those leaving lose it; the ones gone are freed. */
static void clients_settle(struct scif_members *m)
{
	struct member_client **pp, *mc;
	bool again;

	do {
		again = false;
		for (mc = m->clients; mc; mc = mc->next) {
			int st = state_of(mc);

			if (st != CL_NEW && st != CL_LEAVING)
				continue;
			if (st == CL_NEW || mc->told) {
				mc->told = st == CL_NEW;
				pthread_mutex_unlock(&m->lock);
				call_all(m, mc, st == CL_NEW);
				pthread_mutex_lock(&m->lock);
			}
			/* unregistered meanwhile: once more */
			if (!__atomic_compare_exchange_n(
				    &mc->state, &st,
				    st == CL_NEW ? CL_ACTIVE : CL_GONE, false,
				    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				again = st == CL_LEAVING;
		}
	} while (again);
	for (pp = &m->clients; (mc = *pp);) {
		if (state_of(mc) == CL_GONE) {
			*pp = mc->next;
			free(mc);
		} else {
			pp = &mc->next;
		}
	}
	pthread_cond_broadcast(&m->cond);
}

/* [m->lock, dropped] One look at every node; changes go to the active
 * clients in the order of the ids, removes first. */
static void view_update(struct scif_lib *lib, struct scif_members *m)
{
	uint8_t *now = calloc(NODE_IDS, 1);
	struct member_client *head = m->clients, *mc;
	size_t i;
	int pass;

	if (!now)
		return;
	pthread_mutex_unlock(&m->lock);
	for (i = 0; i < lib->map.count; i++) {
		uint16_t id = lib->map.nodes[i].id;

		now[id] = id != lib->self && scif__node_up(lib, id);
	}
	for (pass = 0; pass < 2; pass++) {
		unsigned id;

		for (id = 0; id < NODE_IDS; id++) {
			if (m->online[id] == now[id] || now[id] != pass)
				continue;
			m->online[id] = now[id];
			scif_info("node %u %s", id, pass ? "is online" :
							   "went offline");
			/* entries behind head are unlinked only by us */
			for (mc = head; mc; mc = mc->next)
				if (state_of(mc) == CL_ACTIVE)
					call(mc, pass, (uint16_t)id);
		}
	}
	free(now);
	pthread_mutex_lock(&m->lock);
}

static void *members_thread(void *arg)
{
	struct scif_lib *lib = arg;
	struct scif_members *m = lib->members;

	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		struct timespec ts;

		view_update(lib, m);
		clients_settle(m);
		if (m->kicked || m->stop) {
			m->kicked = false;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += m->period_ms / 1000;
		ts.tv_nsec += (long)(m->period_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!m->kicked && !m->stop &&
		       pthread_cond_timedwait(&m->cond, &m->lock, &ts) == 0)
			;
		m->kicked = false;
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* [lib->members_lock] The watch, started at the first registration. */
static int members_start(struct scif_lib *lib)
{
	struct scif_members *m = calloc(1, sizeof(*m));
	pthread_condattr_t ca;
	int ret;

	if (!m)
		return -ENOMEM;
	m->online = calloc(NODE_IDS, 1);
	if (!m->online) {
		ret = -ENOMEM;
		goto err_free;
	}
	m->period_ms = (int)scif__env_u32("SCIF_NODE_WATCH_MS", 1000, 10,
					  3600000);
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	__atomic_store_n(&lib->members, m, __ATOMIC_RELEASE);
	ret = -pthread_create(&m->thread, NULL, members_thread, lib);
	if (ret) {
		scif_err("scif_client_register: no thread: %s", strerror(-ret));
		__atomic_store_n(&lib->members, NULL, __ATOMIC_RELEASE);
		goto err_cond;
	}
	pthread_setname_np(m->thread, "scif-members");
	return 0;

err_cond:
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m->online);
err_free:
	free(m);
	return ret;
}

void scif__members_kick(struct scif_lib *lib)
{
	struct scif_members *m = __atomic_load_n(&lib->members,
						 __ATOMIC_ACQUIRE);

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->kicked = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

void scif__members_stop(struct scif_lib *lib)
{
	struct scif_members *m = lib->members;
	struct member_client *mc;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->thread, NULL);
	while ((mc = m->clients)) {
		m->clients = mc->next;
		free(mc);
	}
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m->online);
	free(m);
	lib->members = NULL;
}

bool scif__members_thread(struct scif_lib *lib)
{
	struct scif_members *m = __atomic_load_n(&lib->members,
						 __ATOMIC_ACQUIRE);

	return m && on_thread(m);
}

/* [m->lock] The registration of client, if any. */
static struct member_client *client_find(struct scif_members *m,
					 const struct scif_client *client)
{
	struct member_client *mc;

	for (mc = m->clients; mc; mc = mc->next)
		if (mc->client == client && state_of(mc) < CL_LEAVING)
			return mc;
	return NULL;
}

/* [m->lock] Whether registration id is still listed. */
static bool client_listed(struct scif_members *m, uint64_t id)
{
	struct member_client *mc;

	for (mc = m->clients; mc; mc = mc->next)
		if (mc->id == id)
			return true;
	return false;
}

/* [m->lock] Have the thread look now. */
static void kick(struct scif_members *m)
{
	m->kicked = true;
	pthread_cond_broadcast(&m->cond);
}

SCIF_EXPORT int scif_client_register(struct scif_client *client)
{
	struct scif_lib *lib = scif__lib();
	struct member_client *mc;
	struct scif_members *m;
	int ret = 0;

	if (!lib)
		return -1;
	if (!client)
		return scif__ret(-EINVAL);
	pthread_mutex_lock(&lib->members_lock);
	if (!lib->members)
		ret = members_start(lib);
	pthread_mutex_unlock(&lib->members_lock);
	if (ret)
		return scif__ret(ret);
	m = lib->members;
	mc = calloc(1, sizeof(*mc));
	if (!mc)
		return scif__ret(-ENOMEM);
	mc->client = client;
	mc->state = CL_NEW;
	pthread_mutex_lock(&m->lock);
	if (client_find(m, client)) {
		pthread_mutex_unlock(&m->lock);
		free(mc);
		return scif__ret(-EEXIST);
	}
	mc->id = ++m->next_id;
	mc->next = m->clients;
	m->clients = mc;
	kick(m);
	/* its probes for the nodes online now come before we return (from
	 * a callback they come after it: we are the thread) */
	while (!on_thread(m) && !m->stop && state_of(mc) == CL_NEW)
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

SCIF_EXPORT void scif_client_unregister(struct scif_client *client)
{
	struct scif_lib *lib = scif__lib();
	struct scif_members *m = lib ? lib->members : NULL;
	struct member_client *mc;
	uint64_t id;

	if (!m || !client)
		return;
	pthread_mutex_lock(&m->lock);
	mc = client_find(m, client);
	if (!mc) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	id = mc->id;
	if (on_thread(m)) {
		/* from a callback: its removes now, in this thread */
		state_set(mc, CL_LEAVING);
		pthread_mutex_unlock(&m->lock);
		if (mc->told)
			call_all(m, mc, false);
		state_set(mc, CL_GONE);
		return;
	}
	state_set(mc, CL_LEAVING);
	kick(m);
	while (!m->stop && client_listed(m, id))
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
}
