/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fake SCIF device's operations on the backing library (fake_scifdev.h):
 * what the kernel driver does for each ioctl, done with the public SCIF API
 * on the daemon's endpoints and process_vm_readv/writev on the caller.
 */
#include "fake_scifdev.h"

#include <scif.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHUNK (1u << 20) /* message bytes moved per backing call */
#define WAIT_MS 50	 /* blocking calls look for an interrupt this often */

static int err_of(int ret)
{
	return ret < 0 ? -errno : ret;
}

/* Copy between the daemon and process pid, like copy_{from,to}_user. */
static int vm_copy(pid_t pid, void *local, uint64_t remote, size_t len,
		   bool to_remote)
{
	while (len) {
		struct iovec l = { local, len };
		struct iovec r = { (void *)(uintptr_t)remote, len };
		ssize_t n = to_remote ? process_vm_writev(pid, &l, 1, &r, 1, 0)
				      : process_vm_readv(pid, &l, 1, &r, 1, 0);

		if (n <= 0)
			return -EFAULT;
		local = (char *)local + n;
		remote += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Wait until epd has `events`, or the caller gave up (-EINTR). */
static int wait_ready(struct fake_call *c, int epd, short events)
{
	struct scif_pollepd p = { .epd = epd, .events = events };

	for (;;) {
		if (c->intr(c->ctx))
			return -EINTR;
		if (scif_poll(&p, 1, WAIT_MS) < 0)
			return -errno;
		if (p.revents)
			return 0;
	}
}

int fake_bind(struct fake_call *c, int32_t *pn)
{
	int ret = scif_bind(c->fe->epd, (uint16_t)*pn);

	if (ret < 0)
		return -errno;
	*pn = ret;
	c->fe->port = ret;
	return 0;
}

int fake_listen(struct fake_call *c, int backlog)
{
	return err_of(scif_listen(c->fe->epd, backlog));
}

int fake_connect(struct fake_call *c, struct mic_io_connect *a)
{
	struct scif_portID dst = { a->peer.node, a->peer.port };
	int ret = scif_connect(c->fe->epd, &dst);

	if (ret < 0)
		return -errno;
	pthread_mutex_lock(&c->fe->fk->lock);
	c->fe->port = ret;
	c->fe->peer_port = dst.port;
	pthread_mutex_unlock(&c->fe->fk->lock);
	a->self.node = 0;
	a->self.port = (uint16_t)ret;
	return 0;
}

int fake_acceptreq(struct fake_call *c, struct mic_io_accept *a)
{
	struct fake *fk = c->fe->fk;
	struct fake_accepted *acc;
	struct scif_portID peer;
	int newepd, ret;

	if (a->flags & ~SCIF_ACCEPT_SYNC)
		return -EINVAL;
	for (;;) {
		ret = scif_accept(c->fe->epd, &peer, &newepd, 0);
		if (ret == 0)
			break;
		if (errno != EAGAIN || !(a->flags & SCIF_ACCEPT_SYNC))
			return -errno;
		ret = wait_ready(c, c->fe->epd, SCIF_POLLIN);
		if (ret)
			return ret;
	}
	acc = calloc(1, sizeof(*acc));
	if (!acc) {
		scif_close(newepd);
		return -ENOMEM;
	}
	acc->epd = newepd;
	acc->port = c->fe->port;
	acc->peer_port = peer.port;
	pthread_mutex_lock(&fk->lock);
	acc->handle = ++fk->next_handle;
	acc->next = fk->accepted;
	fk->accepted = acc;
	pthread_mutex_unlock(&fk->lock);
	a->peer.node = peer.node;
	a->peer.port = peer.port;
	a->endpt = acc->handle;
	return 0;
}

/* The second half of accept: this open file becomes the new endpoint. */
int fake_acceptreg(struct fake_call *c, uint64_t handle)
{
	struct fake *fk = c->fe->fk;
	struct fake_accepted **pp, *acc = NULL;
	int old;

	pthread_mutex_lock(&fk->lock);
	for (pp = &fk->accepted; *pp; pp = &(*pp)->next)
		if ((*pp)->handle == handle) {
			acc = *pp;
			*pp = acc->next;
			break;
		}
	if (!acc) {
		pthread_mutex_unlock(&fk->lock);
		return -ENOENT;
	}
	old = c->fe->epd;
	c->fe->epd = acc->epd;
	c->fe->port = acc->port;
	c->fe->peer_port = acc->peer_port;
	pthread_mutex_unlock(&fk->lock);
	scif_close(old);
	free(acc);
	return 0;
}

/* One backing send or receive of up to n bytes at the caller's `at`. */
static int msg_step(struct fake_call *c, char *buf, uint64_t at, int n,
		    bool send)
{
	int ret;

	if (send) {
		ret = vm_copy(c->pid, buf, at, (size_t)n, false);
		if (ret)
			return ret;
		ret = scif_send(c->fe->epd, buf, n, 0);
		return err_of(ret);
	}
	ret = scif_recv(c->fe->epd, buf, n, 0);
	if (ret > 0) {
		int e = vm_copy(c->pid, buf, at, (size_t)ret, true);

		if (e)
			return e;
	}
	return err_of(ret);
}

/* SCIF_SEND / SCIF_RECV: without the BLOCK flag what can move now, with
 * it all of len; bytes moved before an error are reported, as the
 * driver's scif_user_send/recv do. */
int fake_msg(struct fake_call *c, struct mic_io_msg *a, bool send)
{
	int bflag = send ? SCIF_SEND_BLOCK : SCIF_RECV_BLOCK;
	bool block = a->flags & bflag;
	int done = 0, ret = 0;
	char *buf;

	if (a->len < 0 || (a->flags & ~bflag))
		return -EINVAL;
	buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	while (done < a->len) {
		int n = a->len - done < (int)CHUNK ? a->len - done : (int)CHUNK;

		ret = msg_step(c, buf, a->msg + (uint64_t)done, n, send);
		if (ret < 0)
			break;
		done += ret;
		if (ret < n) {
			if (!block)
				break;
			ret = wait_ready(c, c->fe->epd,
					 send ? SCIF_POLLOUT : SCIF_POLLIN);
			if (ret)
				break;
		}
	}
	free(buf);
	if (ret < 0 && !done)
		return ret;
	a->out_len = done;
	return 0;
}

int fake_reg(struct fake_call *c, struct mic_io_reg *a)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct fake_win *w;
	off_t off;
	int ret;

	/* The driver pins [addr, addr + len): both page aligned. */
	if (!a->len || (a->addr | a->len) % (uint64_t)pg)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->shadow = mmap(NULL, a->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->shadow == MAP_FAILED) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = vm_copy(c->pid, w->shadow, a->addr, a->len, false);
	if (ret)
		goto err_unmap;
	off = scif_register(c->fe->epd, w->shadow, a->len, a->offset, a->prot,
			    a->flags);
	if (off == SCIF_REGISTER_FAILED) {
		ret = -errno;
		goto err_unmap;
	}
	w->off = off;
	w->len = a->len;
	w->va = a->addr;
	w->pid = c->pid;
	pthread_mutex_lock(&c->fe->fk->lock);
	w->next = c->fe->wins;
	c->fe->wins = w;
	pthread_mutex_unlock(&c->fe->fk->lock);
	a->out_offset = off;
	return 0;

err_unmap:
	munmap(w->shadow, a->len);
err_free:
	free(w);
	return ret;
}

/* Drop the records of windows inside [off, off + len) (all of them, once
 * the library unregistered the range). */
static void wins_drop(struct fake_ep *fe, int64_t off, uint64_t len)
{
	struct fake_win **pp = &fe->wins, *w;

	while ((w = *pp)) {
		if (len == UINT64_MAX ||
		    (w->off >= off && (uint64_t)(w->off - off) + w->len <= len)) {
			*pp = w->next;
			munmap(w->shadow, w->len);
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

int fake_unreg(struct fake_call *c, const struct mic_io_unreg *a)
{
	if (scif_unregister(c->fe->epd, a->offset, a->len))
		return -errno;
	pthread_mutex_lock(&c->fe->fk->lock);
	wins_drop(c->fe, a->offset, a->len);
	pthread_mutex_unlock(&c->fe->fk->lock);
	return 0;
}

/* [fk->lock] The endpoint at the other end of fe's connection. */
static struct fake_ep *peer_of(struct fake_ep *fe)
{
	struct fake_ep *p;

	if (!fe->peer_port)
		return NULL;
	for (p = fe->fk->eps; p; p = p->next)
		if (p != fe && p->port == fe->peer_port &&
		    p->peer_port == fe->port)
			return p;
	return NULL;
}

/* [fk->lock] Bring the shadow of [off, off + len) of fe's windows up to date
 * from their owners' memory (to_owner false), or write it back (true).
 * Parts not registered are skipped: the library reports them. */
static int wins_sync(struct fake_ep *fe, int64_t off, uint64_t len,
		     bool to_owner)
{
	struct fake_win *w;
	int ret = 0;

	/* unsigned: a window may end at 2^63 exactly */
	for (w = fe ? fe->wins : NULL; w && !ret; w = w->next) {
		uint64_t lo = (uint64_t)(off > w->off ? off : w->off);
		uint64_t end = (uint64_t)off + len;
		uint64_t wend = (uint64_t)w->off + w->len;
		uint64_t hi = end < wend ? end : wend;

		if (lo >= hi)
			continue;
		ret = vm_copy(w->pid, (char *)w->shadow + (lo - (uint64_t)w->off),
			      w->va + (lo - (uint64_t)w->off), (size_t)(hi - lo),
			      to_owner);
	}
	return ret;
}

static int sync_range(struct fake_ep *fe, bool peer, int64_t off,
		      uint64_t len, bool to_owner)
{
	int ret;

	pthread_mutex_lock(&fe->fk->lock);
	ret = wins_sync(peer ? peer_of(fe) : fe, off, len, to_owner);
	pthread_mutex_unlock(&fe->fk->lock);
	return ret;
}

/* The four RMA requests, synchronous.  The source range is refreshed
 * before, the destination written back after. */
int fake_copy(struct fake_call *c, enum mic_cmd cmd, const struct mic_io_copy *a)
{
	bool read = cmd == MIC_READFROM || cmd == MIC_VREADFROM;
	bool virt = cmd == MIC_VREADFROM || cmd == MIC_VWRITETO;
	int flags = a->flags | SCIF_RMA_SYNC, epd = c->fe->epd, ret = 0;
	void *tmp = NULL;

	if (virt) {
		tmp = malloc(a->len ? a->len : 1);
		if (!tmp)
			return -ENOMEM;
		if (!read && (ret = vm_copy(c->pid, tmp, a->addr, a->len, false)))
			goto out;
	}
	/* Source: the peer's range for reads, ours for a window write. */
	if (read)
		ret = sync_range(c->fe, true, a->roffset, a->len, false);
	else if (!virt)
		ret = sync_range(c->fe, false, a->loffset, a->len, false);
	if (ret)
		goto out;
	switch (cmd) {
	case MIC_READFROM:
		ret = scif_readfrom(epd, a->loffset, a->len, a->roffset, flags);
		break;
	case MIC_WRITETO:
		ret = scif_writeto(epd, a->loffset, a->len, a->roffset, flags);
		break;
	case MIC_VREADFROM:
		ret = scif_vreadfrom(epd, tmp, a->len, a->roffset, flags);
		break;
	default:
		ret = scif_vwriteto(epd, tmp, a->len, a->roffset, flags);
		break;
	}
	if (ret) {
		ret = -errno;
		goto out;
	}
	if (virt && read)
		ret = vm_copy(c->pid, tmp, a->addr, a->len, true);
	else if (read)
		ret = sync_range(c->fe, false, a->loffset, a->len, true);
	else
		ret = sync_range(c->fe, true, a->roffset, a->len, true);
out:
	free(tmp);
	return ret;
}

int fake_nodeids(struct fake_call *c, void *arg)
{
	enum mic_abi_kind abi = c->fe->fk->abi;
	int n = c->fe->fk->cards + 1, i, ret;
	uint64_t unodes, uself;
	uint16_t ids[64], self = 0;
	int32_t len;

	mic_abi_nodeids_unpack(abi, arg, &unodes, &uself, &len);
	if (len < 0)
		return -EINVAL;
	for (i = 0; i < n && i < len && i < 64; i++)
		ids[i] = (uint16_t)i;
	ret = vm_copy(c->pid, ids, unodes, (size_t)i * sizeof(ids[0]), true);
	if (!ret)
		ret = vm_copy(c->pid, &self, uself, sizeof(self), true);
	if (ret)
		return ret;
	mic_abi_nodeids_pack(abi, arg, unodes, uself, n);
	return 0;
}

int fake_fence_mark(struct fake_call *c, const struct mic_io_fence_mark *a)
{
	int mark;

	if (scif_fence_mark(c->fe->epd, a->flags, &mark))
		return -errno;
	return vm_copy(c->pid, &mark, a->mark, sizeof(mark), true);
}

int fake_fence_wait(struct fake_call *c, int mark)
{
	return err_of(scif_fence_wait(c->fe->epd, mark));
}

/* [fk->lock] The 8 bytes at off of fe's windows' shadows, or false. */
static bool shadow_word(struct fake_ep *fe, int64_t off, uint64_t *v)
{
	struct fake_win *w;

	for (w = fe ? fe->wins : NULL; w; w = w->next)
		if (off >= w->off && (uint64_t)(off - w->off) + 8 <= w->len) {
			*v = __atomic_load_n((uint64_t *)((char *)w->shadow +
							  (off - w->off)),
					     __ATOMIC_ACQUIRE);
			return true;
		}
	return false;
}

/* The library places a signal when the RMAs it waits for are done (for
 * INIT_PEER, the peer's): wait until the shadow holds the value, then
 * write the 8 bytes back to the owner. */
static int signal_back(struct fake_call *c, bool peer, int64_t off,
		       uint64_t val)
{
	int i, ret = -ETIMEDOUT;

	for (i = 0; i < 100000 && ret; i++) {
		uint64_t v;
		bool found;

		pthread_mutex_lock(&c->fe->fk->lock);
		found = shadow_word(peer ? peer_of(c->fe) : c->fe, off, &v);
		if (found && v == val)
			ret = wins_sync(peer ? peer_of(c->fe) : c->fe, off, 8,
					true);
		pthread_mutex_unlock(&c->fe->fk->lock);
		if (!found)
			return -ENXIO;
		if (ret)
			usleep(100);
	}
	return ret;
}

int fake_fence_signal(struct fake_call *c, const struct mic_io_fence_signal *a)
{
	int ret = 0;

	if (scif_fence_signal(c->fe->epd, a->loff, a->lval, a->roff, a->rval,
			      a->flags))
		return -errno;
	if (a->flags & SCIF_SIGNAL_LOCAL)
		ret = signal_back(c, false, a->loff, a->lval);
	if (!ret && (a->flags & SCIF_SIGNAL_REMOTE))
		ret = signal_back(c, true, a->roff, a->rval);
	return ret;
}

/* The file is closed: close the backing endpoint, forget its windows. */
void fake_ep_release(struct fake_ep *fe)
{
	if (fe->epd >= 0)
		scif_close(fe->epd);
	pthread_mutex_lock(&fe->fk->lock);
	wins_drop(fe, 0, UINT64_MAX);
	pthread_mutex_unlock(&fe->fk->lock);
}
