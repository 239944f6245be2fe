/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fake_scifdev: the fake kernel SCIF device (fake_scifdev.h), CUSE side.
 *
 *   fake_scifdev [--abi linux|mpss3] [--cards N] [--fail-after N]
 *
 * creates /dev/scif (linux, the default) or /dev/mic/scif (mpss3) and
 * serves it until killed.  CUSE ioctls are unrestricted: the argument
 * structure is fetched with the FUSE_IOCTL_RETRY protocol (the kernel then
 * copies exactly the structure's bytes in and back out, as the real
 * driver's copy_from_user/copy_to_user do); buffers the structure points to
 * are reached with process_vm_readv/writev.  --fail-after N: after N
 * ioctls the "card" is gone: every ioctl fails with EIO and poll reports
 * POLLERR, which the mic provider must turn into ENODEV.
 *
 * The backing library is forced to the shm provider (SCIF_PROVIDER=shm): a
 * daemon started from an environment that selects the mic provider would
 * otherwise talk to itself.
 */
#define FUSE_USE_VERSION 31
#include "fake_scifdev.h"

#include <cuse_lowlevel.h>
#include <fuse_lowlevel.h>
#include <scif.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static struct fake_ep *fe_of(struct fuse_file_info *fi)
{
	return (struct fake_ep *)(uintptr_t)fi->fh;
}

static void fk_open(fuse_req_t req, struct fuse_file_info *fi)
{
	struct fake *fk = fuse_req_userdata(req);
	struct fake_ep *fe = calloc(1, sizeof(*fe));

	if (!fe) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fe->fk = fk;
	fe->pid = fuse_req_ctx(req)->pid;
	fe->epd = scif_open();
	if (fe->epd < 0) {
		int err = errno;

		fprintf(stderr, "fake_scifdev: scif_open: %s\n", strerror(err));
		free(fe);
		fuse_reply_err(req, err);
		return;
	}
	/* An O_NONBLOCK file connects in the background (as the driver's
	 * f_flags check); CUSE passes the open flags only. */
	if ((fi->flags & O_NONBLOCK) &&
	    fcntl(fe->epd, F_SETFL, fcntl(fe->epd, F_GETFL) | O_NONBLOCK))
		perror("fake_scifdev: O_NONBLOCK");
	pthread_mutex_lock(&fk->lock);
	fe->next = fk->eps;
	fk->eps = fe;
	pthread_mutex_unlock(&fk->lock);
	fi->fh = (uintptr_t)fe;
	fi->direct_io = 1;
	fi->nonseekable = 1;
	fuse_reply_open(req, fi);
}

static void fk_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct fake_ep *fe = fe_of(fi), **pp;
	struct fake *fk = fe->fk;

	pthread_mutex_lock(&fk->lock);
	for (pp = &fk->eps; *pp; pp = &(*pp)->next)
		if (*pp == fe) {
			*pp = fe->next;
			break;
		}
	if (fe->epd >= 0)
		epoll_ctl(fk->epfd, EPOLL_CTL_DEL, fe->epd, NULL);
	if (fe->ph)
		fuse_pollhandle_destroy(fe->ph);
	pthread_mutex_unlock(&fk->lock);
	fake_ep_release(fe);
	free(fe);
	fuse_reply_err(req, 0);
}

/* The card is gone (fault injection): true from the fail_after-th ioctl. */
static bool gone(struct fake *fk, bool count)
{
	bool g;

	pthread_mutex_lock(&fk->lock);
	if (count)
		fk->nioctls++;
	g = fk->fail_after && fk->nioctls > fk->fail_after;
	pthread_mutex_unlock(&fk->lock);
	return g;
}

static void fk_poll(fuse_req_t req, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct fake_ep *fe = fe_of(fi);
	struct fake *fk = fe->fk;
	unsigned events = fi->poll_events ? fi->poll_events : POLLIN | POLLOUT;
	struct scif_pollepd p = { .epd = fe->epd, .events = (short)events };
	struct epoll_event ev = { .events = EPOLLONESHOT, .data.ptr = fe };

	if (gone(fk, false)) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLERR | POLLHUP);
		return;
	}
	if (scif_poll(&p, 1, 0) < 0)
		p.revents = POLLERR;
	if (ph) {
		pthread_mutex_lock(&fk->lock);
		if (fe->ph)
			fuse_pollhandle_destroy(fe->ph);
		fe->ph = ph;
		ev.events |= events & (EPOLLIN | EPOLLOUT);
		if (epoll_ctl(fk->epfd, EPOLL_CTL_MOD, fe->epd, &ev) &&
		    epoll_ctl(fk->epfd, EPOLL_CTL_ADD, fe->epd, &ev))
			perror("fake_scifdev: epoll_ctl");
		pthread_mutex_unlock(&fk->lock);
	}
	fuse_reply_poll(req, p.revents);
}

/* Wakes the kernel's pollers of an endpoint whose backing endpoint became
 * ready. */
static void *watcher(void *arg)
{
	struct fake *fk = arg;
	struct epoll_event evs[16];

	for (;;) {
		int n = epoll_wait(fk->epfd, evs, 16, -1), i;

		if (n < 0 && errno != EINTR)
			return NULL;
		pthread_mutex_lock(&fk->lock);
		for (i = 0; i < n; i++) {
			struct fake_ep *fe;

			for (fe = fk->eps; fe && fe != evs[i].data.ptr;
			     fe = fe->next)
				;
			if (!fe || !fe->ph)
				continue;
			fuse_lowlevel_notify_poll(fe->ph);
			fuse_pollhandle_destroy(fe->ph);
			fe->ph = NULL;
		}
		pthread_mutex_unlock(&fk->lock);
	}
}

static int interrupted(void *ctx)
{
	return fuse_req_interrupted(ctx);
}

static int dispatch(struct fake_call *c, enum mic_cmd cmd, void *a,
		    uintptr_t value)
{
	switch (cmd) {
	case MIC_BIND:
		return fake_bind(c, a);
	case MIC_LISTEN:
		return fake_listen(c, (int)value);
	case MIC_CONNECT:
		return fake_connect(c, a);
	case MIC_ACCEPTREQ:
		return fake_acceptreq(c, a);
	case MIC_ACCEPTREG:
		return fake_acceptreg(c, *(uint64_t *)a);
	case MIC_SEND:
	case MIC_RECV:
		return fake_msg(c, a, cmd == MIC_SEND);
	case MIC_REG:
		return fake_reg(c, a);
	case MIC_UNREG:
		return fake_unreg(c, a);
	case MIC_READFROM:
	case MIC_WRITETO:
	case MIC_VREADFROM:
	case MIC_VWRITETO:
		return fake_copy(c, cmd, a);
	case MIC_GET_NODEIDS:
		return fake_nodeids(c, a);
	case MIC_FENCE_MARK:
		return fake_fence_mark(c, a);
	case MIC_FENCE_WAIT:
		return fake_fence_wait(c, (int)value);
	case MIC_FENCE_SIGNAL:
		return fake_fence_signal(c, a);
	case MIC_GET_VERSION:
		return MIC_SCIF_VERSION;
	default:
		return -EINVAL;
	}
}

static void fk_ioctl(fuse_req_t req, int request, void *arg,
		     struct fuse_file_info *fi, unsigned flags,
		     const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	struct fake_ep *fe = fe_of(fi);
	struct fake *fk = fe->fk;
	enum mic_cmd cmd = mic_abi_decode(fk->abi, (unsigned)request);
	uint64_t a[MIC_IO_ARG_MAX / 8] = { 0 };
	struct fake_call c = { fe, fuse_req_ctx(req)->pid, interrupted, req };
	size_t sz = mic_abi_arg_size(fk->abi, cmd);
	int ret;

	/* The drivers answer EINVAL to a request they do not know. */
	if (!cmd || (flags & FUSE_IOCTL_COMPAT)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (mic_abi_arg(cmd) == MIC_ARG_PTR) {
		if (in_bufsz < sz || out_bufsz < sz) {
			struct iovec iov = { arg, sz };

			fuse_reply_ioctl_retry(req, &iov, 1, &iov, 1);
			return;
		}
		memcpy(a, in_buf, sz);
	}
	if (gone(fk, true)) {
		fuse_reply_err(req, EIO);
		return;
	}
	ret = dispatch(&c, cmd, a, (uintptr_t)arg);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_ioctl(req, ret, sz ? a : NULL, sz);
}

static const struct cuse_lowlevel_ops fk_ops = {
	.open = fk_open,
	.release = fk_release,
	.ioctl = fk_ioctl,
	.poll = fk_poll,
};

static int parse(int argc, char **argv, struct fake *fk)
{
	int i;

	fk->abi = MIC_ABI_LINUX;
	for (i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--abi") && v) {
			if (!strcmp(v, "mpss3"))
				fk->abi = MIC_ABI_MPSS3;
			else if (strcmp(v, "linux"))
				return -1;
		} else if (!strcmp(argv[i], "--cards") && v) {
			fk->cards = atoi(v);
		} else if (!strcmp(argv[i], "--fail-after") && v) {
			fk->fail_after = atoi(v);
		} else {
			return -1;
		}
		i++;
	}
	return fk->cards < 0 || fk->cards > 63 ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct fake fk = { 0 };
	const char *devname;
	char *cargv[] = { argv[0], "-f", NULL };
	const char *info[1];
	struct cuse_info ci = { 0 };

	if (parse(argc, argv, &fk)) {
		fprintf(stderr, "usage: %s [--abi linux|mpss3] [--cards N] "
				"[--fail-after N]\n", argv[0]);
		return 2;
	}
	setenv("SCIF_PROVIDER", "shm", 1);
	pthread_mutex_init(&fk.lock, NULL);
	fk.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (fk.epfd < 0 || pthread_create(&fk.watcher, NULL, watcher, &fk)) {
		perror("fake_scifdev: watcher");
		return 1;
	}
	devname = fk.abi == MIC_ABI_MPSS3 ? "DEVNAME=mic/scif" : "DEVNAME=scif";
	info[0] = devname;
	ci.dev_info_argc = 1;
	ci.dev_info_argv = info;
	ci.flags = CUSE_UNRESTRICTED_IOCTL;
	return cuse_lowlevel_main(2, cargv, &ci, &fk_ops, &fk);
}
