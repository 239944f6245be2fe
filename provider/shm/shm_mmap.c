/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shm: the peer's window memory as a file, for scif_mmap's direct path
 * (docs/mmap.md).  A window's blob holds its address in the peer; the
 * peer's mapping there (/proc/PID/maps) is shareable when it is a
 * MAP_SHARED mapping of a regular file: a memfd, shm_open, shared
 * anonymous memory (shmem), a hugetlbfs or ordinary file.  We open that
 * file through /proc/PID/map_files (CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE, and ptrace rights over the peer, which RMA needs
 * anyway), or else by its path when it has one; either way it must be the
 * file the peer maps (device and inode).  Private memory (malloc, the
 * stack, MAP_PRIVATE) is refused: its pages are not the file's.
 */
#include "shm.h"
#include "../../libscif/procmaps.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct vma_find {
	uintptr_t va;
	struct scif_vma v;
	char path[256]; /* "" when too long: not opened by path */
};

static int vma_found(const struct scif_vma *v, void *arg)
{
	struct vma_find *f = arg;
	size_t n = strlen(v->path);

	f->v = *v; /* it meets [va, va + 1): holds va */
	f->path[0] = '\0';
	if (n < sizeof(f->path))
		memcpy(f->path, v->path, n + 1);
	f->v.path = f->path;
	return 1;
}

/* The file the peer maps, if fd is it. */
static bool same_file(int fd, const struct scif_vma *v)
{
	struct stat st;

	return !fstat(fd, &st) && S_ISREG(st.st_mode) &&
	       major(st.st_dev) == v->major && minor(st.st_dev) == v->minor &&
	       (uint64_t)st.st_ino == v->ino;
}

/* Open the file behind the peer's mapping v: map_files first; by path
 * when that is refused (no privilege) and the path is one (not a deleted
 * file, a memfd or shared anonymous memory). */
static int vma_open(pid_t pid, const struct scif_vma *v, bool write)
{
	int flags = (write ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	char name[80];
	size_t n = strlen(v->path);
	int fd;

	snprintf(name, sizeof(name), "/proc/%d/map_files/%lx-%lx", (int)pid,
		 (unsigned long)v->start, (unsigned long)v->end);
	fd = open(name, flags);
	if (fd < 0 && v->path[0] == '/' &&
	    (n < 10 || strcmp(v->path + n - 10, " (deleted)")))
		/* not blocking on a FIFO put in its place meanwhile */
		fd = open(v->path, flags | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		scif_dbg("shm: mapping %s of pid %d: %m", name, (int)pid);
		return -errno;
	}
	if (!same_file(fd, v)) {
		scif_dbg("shm: %s of pid %d is not the file it maps", name,
			 (int)pid);
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int shm_rmr_fd(struct scif_ep *ep, const struct scif_rmr *rmr, uint64_t roff,
	       uint64_t *len, bool write, int *fd, uint64_t *fd_off)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	struct vma_find f = { .va = (uintptr_t)(rmr->data[0] + roff) };
	struct shm_conn *c;
	pid_t pid = 0;
	int ret;

	scif__ep_lock(ep);
	c = shm_conn_of(ep);
	if (c && c->state == SHM_UP && !c->dead)
		pid = c->peer_pid;
	scif__ep_unlock(ep);
	if (!pid)
		return -ECONNRESET;
	ret = scif__vma_walk(pid, f.va, f.va + 1, vma_found, &f);
	if (ret <= 0) {
		scif_dbg("shm: peer pid %d: no mapping at 0x%llx (%s)",
			 (int)pid, (unsigned long long)f.va,
			 strerror(ret ? -ret : ENOENT));
		return ret ? ret : -ENOENT;
	}
	if (!f.v.shared || !f.v.ino || !f.v.r || (write && !f.v.w) ||
	    f.va % pg) {
		scif_dbg("shm: peer pid %d at 0x%llx: not a shared file "
			 "mapping allowing it (%s)",
			 (int)pid, (unsigned long long)f.va, f.v.path);
		return -EOPNOTSUPP;
	}
	ret = vma_open(pid, &f.v, write);
	if (ret < 0)
		return ret;
	*fd = ret;
	*fd_off = f.v.off + (f.va - f.v.start);
	if (*len > f.v.end - f.va)
		*len = f.v.end - f.va;
	return 0;
}
