/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scif_mmap internals shared by mmap.c (the calls, the mapping list) and
 * mmap_fault.c (the fault thread of a mapping).  docs/mmap.md describes the
 * mechanism and the coherence it gives.
 */
#ifndef SCIF_MMAP_INT_H
#define SCIF_MMAP_INT_H

#include "scif_priv.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

/* Page states; only the fault thread reads or changes them. */
enum {
	PG_ABSENT = 0, /* not present: the next access faults to the thread */
	PG_AHEAD,      /* read ahead into the alias, not mapped yet: its
			* fault maps it and reads the next batch ahead */
	PG_CLEAN,      /* fetched, write-protected (writable mappings) */
	PG_DIRTY,      /* written since fetched: twin holds the fetched bytes */
	PG_DEAD,       /* poisoned: an empty file mapping (SIGBUS) */
	PG_GONE,       /* no longer this mapping's (unmapped or replaced) */
	PG_DIRECT,     /* direct mapping: the peer's memory itself */
};

/* Requests to the fault thread (one at a time: maps_op_lock). */
enum map_req {
	REQ_NONE = 0,
	REQ_FLUSH,  /* write back the dirty pages of [lo, hi) */
	REQ_INVALIDATE, /* the same, then drop every page of it (msync) */
	REQ_FORGET, /* the same, then the pages are not ours (GONE) */
	REQ_STOP,   /* write back everything and end */
};

#define MAP_NOTICES 8

/* A direct mapping's pages [p, p+n): a file the peer maps, at foff. */
struct map_piece {
	size_t p, n;
	uint64_t foff;
	uint64_t dev, ino;
};

struct scif_map {
	struct scif_map *next; /* lib->maps [lib->maps_lock] */
	struct scif_lib *lib;
	struct scif_ep *ep;    /* a reference held */
	char *base;
	size_t len, npages, pg;
	uint64_t off; /* the peer's offset of base */
	int prot;     /* SCIF_PROT_* */
	bool readable; /* the peer's windows allow reading */
	/* Direct (mmap_direct.c): the peer's files mapped, no thread, no
	 * userfaultfd; state[] holds DIRECT, DEAD or GONE, under lock. */
	bool direct;
	struct map_piece *piece;
	size_t npiece;
	int uffd, evfd, gonefd;
	int memfd;    /* the pages: shared by the mapping and the alias */
	char *alias;  /* the thread's view of them (not watched), registered:
		       * every transfer goes to or from it */
	pthread_t thread;

	pthread_mutex_t lock; /* the request and notice fields */
	pthread_cond_t cond;
	enum map_req req;
	size_t req_lo, req_hi; /* pages */
	bool req_unmap;	       /* FORGET: munmap the range too */
	bool req_done;
	size_t req_left; /* nleft when the request was done */
	/* windows the peer unregistered, for the thread to poison */
	struct {
		uint64_t off, len;
	} notice[MAP_NOTICES];
	int nnotice;
	bool notice_all; /* overflow: check every page */

	/* the fault thread's own */
	uint8_t *state;
	uint32_t *epoch; /* tick at which a live page was fetched */
	uint32_t tick;
	size_t nlive; /* AHEAD + CLEAN + DIRTY: pages that age */
	size_t ndirty;
	size_t live_lo, live_hi; /* no live page outside: what a tick scans */
	size_t nleft; /* not GONE */
	char *twin;   /* writable mappings: the fetched bytes of DIRTY pages */
	struct scif_mr alias_mr;
	bool alias_reg;
	bool continue_wp; /* UFFDIO_CONTINUE_MODE_WP works (Linux >= 6.5) */
	size_t prefetch;  /* pages fetched at most per fault */
	size_t seq_front, seq_next, batch; /* sequential prefetch: the
					    * last batch is [front, next) */
	size_t seq_reader; /* where the batch the reader is in began */
	bool ahead;		/* fetch the next batch before it is touched */
	long long next_tick_ns;
	/* scif__mmap_stats: written by the thread only, read atomically */
	uint64_t st_faults, st_fetches, st_pages;
};

/* mmap_fault.c */
void *scif__map_thread(void *arg);

/* mmap_direct.c (maps_op_lock held, unless said otherwise) */
/* Map the peer's memory itself at addr (fixed: exactly there): 0, or
 * -errno when some of it is not shareable (nothing mapped, but a fixed
 * range may have been replaced in part). */
int scif__map_direct(struct scif_map *m, void *addr, bool fixed);
/* A new direct mapping, on the list: poison what the peer withdrew
 * meanwhile (takes the endpoint lock). */
void scif__map_direct_recheck(struct scif_map *m);
/* The pages of [lo, hi) leave the mapping; unmap: those still ours are
 * unmapped too. */
void scif__map_direct_forget(struct scif_map *m, size_t lo, size_t hi,
			     bool unmap);
/* [ep locked] The peer's [off, off+len) is gone (all: every page): its
 * pages raise SIGBUS from now on. */
void scif__map_direct_gone(struct scif_map *m, uint64_t off, uint64_t len,
			   bool all);

static inline int map_vm_prot(int prot)
{
	return (prot & SCIF_PROT_WRITE) ? PROT_READ | PROT_WRITE :
	       (prot & SCIF_PROT_READ)	? PROT_READ :
					  PROT_NONE;
}
/* The pages of [lo, hi) of the mapping, as a byte range. */
static inline char *map_page(const struct scif_map *m, size_t p)
{
	return m->base + p * m->pg;
}

#endif
