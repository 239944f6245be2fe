/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Windows of mic endpoints as the engine path needs them: where each
 * registered range lives (offset, length, address, protection), for our
 * side of a connection and, read from the peer's library, for the other.
 *
 * The kernel keeps the windows and gives a process no way to learn where a
 * peer's pages are; a real card's engine would take their DMA addresses
 * from the kernel.  Here each side's library publishes its windows in a
 * small table file, /dev/shm/scif-mic-dma.<node>.<port>.<c|a> (the
 * connecting side's node and port name the connection; c: the connecting
 * side's windows, a: the accepting side's), with its process id: the
 * model card reaches the peer's window memory there (docs/mic.md).
 */
#include "mic_dmaint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#define TAB_MAGIC 0x73636d64u /* "scmd" */
#define TAB_MAX 4096	      /* entries, live or dead */

struct tab_hdr {
	uint32_t magic, n;
	int32_t pid, pad;
};

static void tab_path(char *buf, size_t len, const struct mic_dma_conn *dc,
		     bool ours)
{
	bool side = ours ? dc->accepted : !dc->accepted;

	snprintf(buf, len, "/dev/shm/scif-mic-dma.%u.%u.%c", dc->node,
		 dc->port, side ? 'a' : 'c');
}

/* [d->lock] Our table file, created with the connection. */
int mic_dmawin_open(struct mic_dma_conn *dc)
{
	struct tab_hdr h = { .magic = TAB_MAGIC, .pid = (int32_t)getpid() };
	char path[96];
	int fd;

	if (dc->own_fd >= 0)
		return 0;
	tab_path(path, sizeof(path), dc, true);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		scif_err("mic dma: %s: %m", path);
		return -errno;
	}
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		scif_err("mic dma: %s: write: %m", path);
		close(fd);
		unlink(path);
		return -EIO;
	}
	dc->own_fd = fd;
	return 0;
}

/* [d->lock] Write entry i and the count to our table. */
static void own_publish(struct mic_dma_conn *dc, int i)
{
	struct tab_hdr h = { .magic = TAB_MAGIC, .n = (uint32_t)dc->nwin,
			     .pid = (int32_t)getpid() };
	off_t at = (off_t)(sizeof(h) + (size_t)i * sizeof(dc->win[0]));

	flock(dc->own_fd, LOCK_EX);
	if (pwrite(dc->own_fd, &dc->win[i], sizeof(dc->win[0]), at) !=
		    (ssize_t)sizeof(dc->win[0]) ||
	    pwrite(dc->own_fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		scif_err("mic dma: window table: %m");
	flock(dc->own_fd, LOCK_UN);
}

int mic_dmawin_add(struct mic_dma_conn *dc, int64_t off, uint64_t len,
		   uint64_t va, int prot)
{
	struct mic_dma_win *w;
	int i, ret = mic_dmawin_open(dc);

	if (ret)
		return ret;
	for (i = 0; i < dc->nwin && dc->win[i].live; i++)
		;
	if (i == dc->nwin) {
		if (dc->nwin == TAB_MAX)
			return -ENOMEM;
		w = realloc(dc->win, (size_t)(dc->nwin + 1) * sizeof(*w));
		if (!w)
			return -ENOMEM;
		dc->win = w;
		dc->nwin++;
	}
	dc->win[i] = (struct mic_dma_win){ .off = off, .len = len, .va = va,
					   .prot = prot, .live = 1 };
	own_publish(dc, i);
	return 0;
}

void mic_dmawin_del(struct mic_dma_conn *dc, int64_t off, uint64_t len)
{
	int i;

	for (i = 0; i < dc->nwin; i++) {
		struct mic_dma_win *w = &dc->win[i];

		if (w->live && w->off >= off &&
		    (uint64_t)(w->off - off) + w->len <= len) {
			w->live = 0;
			own_publish(dc, i);
		}
	}
}

/* [d->lock] The peer's table into dc->pwin; 0, or -ENOENT if it has none. */
int mic_dmawin_peer(struct mic_dma_conn *dc)
{
	struct tab_hdr h;
	char path[96];
	size_t sz;
	int ret = 0;

	if (dc->peer_fd < 0) {
		tab_path(path, sizeof(path), dc, false);
		dc->peer_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (dc->peer_fd < 0)
			return -ENOENT;
	}
	flock(dc->peer_fd, LOCK_SH);
	if (pread(dc->peer_fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    h.magic != TAB_MAGIC || h.n > TAB_MAX) {
		ret = -ENOENT;
		goto unlock;
	}
	sz = h.n * sizeof(dc->pwin[0]);
	if ((int)h.n > dc->pcap) {
		struct mic_dma_win *w = realloc(dc->pwin, sz);

		if (!w) {
			ret = -ENOMEM;
			goto unlock;
		}
		dc->pwin = w;
		dc->pcap = h.n;
	}
	if (pread(dc->peer_fd, dc->pwin, sz, sizeof(h)) != (ssize_t)sz)
		ret = -ENOENT;
	/* A table whose owner is gone was left by a crash. */
	if (!ret && kill(h.pid, 0) && errno == ESRCH)
		ret = -ENOENT;
	dc->npwin = ret ? 0 : (int)h.n;
	dc->peer_pid = h.pid;
unlock:
	flock(dc->peer_fd, LOCK_UN);
	return ret;
}

/*
 * The live window holding off with all of prot: its address at off and
 * the bytes from there to its end; false if none.  A range may run on into
 * the next window when the two are contiguous (the caller asks again).
 */
bool mic_dmawin_find(const struct mic_dma_win *w, int n, int64_t off,
		     int prot, uint64_t *va, uint64_t *run)
{
	int i;

	for (i = 0; i < n; i++) {
		if (!w[i].live || off < w[i].off ||
		    (uint64_t)(off - w[i].off) >= w[i].len)
			continue;
		if ((w[i].prot & prot) != prot)
			return false;
		*va = w[i].va + (uint64_t)(off - w[i].off);
		*run = w[i].len - (uint64_t)(off - w[i].off);
		return true;
	}
	return false;
}

/* The whole of [off, off + len) lies in windows with prot. */
bool mic_dmawin_covers(const struct mic_dma_win *w, int n, int64_t off,
		       uint64_t len, int prot)
{
	uint64_t va, run;

	while (len) {
		if (!mic_dmawin_find(w, n, off, prot, &va, &run))
			return false;
		if (run >= len)
			return true;
		off += (int64_t)run;
		len -= run;
	}
	return true;
}

void mic_dmawin_close(struct mic_dma_conn *dc)
{
	char path[96];

	if (dc->own_fd >= 0) {
		struct tab_hdr h = { .magic = 0 };

		/* A peer that has the file open sees the windows gone, and
		 * its calls go to the kernel (which says ECONNRESET). */
		flock(dc->own_fd, LOCK_EX);
		if (pwrite(dc->own_fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
			scif_warn("mic dma: window table: %m");
		tab_path(path, sizeof(path), dc, true);
		unlink(path);
		close(dc->own_fd);
	}
	if (dc->peer_fd >= 0)
		close(dc->peer_fd);
	free(dc->win);
	free(dc->pwin);
}
