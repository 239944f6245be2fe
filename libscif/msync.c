/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * msync(2) for scif_mmap mappings; in libscif.so only.  A program linked
 * against libscif.so binds its msync calls here: the link finds this one
 * before the C library's (version SCIF_0.1, libscif.map).  The C library's
 * msync (the next one, RTLD_NEXT) checks and does the call first; then the
 * pages of mappings in the range are written back (MS_SYNC) and, with
 * MS_INVALIDATE, dropped so that the next load fetches them.  MS_ASYNC
 * alone adds nothing: stores already reach the peer within the bound.
 * Without mappings (a program that never calls scif_mmap, the library's
 * own MS_ASYNC checks of a range) this is the C library's msync and one
 * load.  The static library has none: a static link keeps the C
 * library's msync, and a fence call is the write-back point there.
 */
#include "scif_priv.h"

#include <dlfcn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef int (*msync_fn)(void *, size_t, int);

SCIF_EXPORT int msync(void *addr, size_t len, int flags);

/* The next msync, looked up once (a constant of the process); without
 * one (no dynamic loader), the system call. */
static int next_msync(void *addr, size_t len, int flags)
{
	static msync_fn next;
	msync_fn f = __atomic_load_n(&next, __ATOMIC_ACQUIRE);
	void *sym;

	if (!f) {
		sym = dlsym(RTLD_NEXT, "msync");
		if (!sym || sym == (void *)msync)
			return (int)syscall(SYS_msync, addr, len, flags);
		memcpy(&f, &sym, sizeof(f));
		__atomic_store_n(&next, f, __ATOMIC_RELEASE);
	}
	return f(addr, len, flags);
}

SCIF_EXPORT int msync(void *addr, size_t len, int flags)
{
	int ret = next_msync(addr, len, flags);

	if (!ret && (flags & (MS_SYNC | MS_INVALIDATE)))
		scif__mmap_sync(addr, len, flags & MS_INVALIDATE);
	return ret;
}
