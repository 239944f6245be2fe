/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fake provider (fake_prov.c): what test_provider.c uses of it.
 */
#ifndef SCIF_TEST_FAKE_PROV_H
#define SCIF_TEST_FAKE_PROV_H

#include "scif_priv.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define NLIS 8

struct fep;
struct fpipe;
struct cev;

struct lis {
	struct scif_ep *lep;
	uint16_t port;
};

struct fmr {
	void *va;
	uint64_t len;
};

struct fk_state {
	pthread_mutex_t mu;  /* the fake's state: a leaf lock */
	pthread_mutex_t dmu; /* upcalls vs ep_close/unlisten; before ep locks */
	pthread_cond_t cv;   /* counters changed */
	struct scif_lib *lib;
	int efd, src;
	struct fep *eps;
	struct fpipe *pipes;
	struct cev *cevs;
	struct lis lis[NLIS];
	/* knobs */
	unsigned caps;	 /* for endpoints opened from now on */
	int qmax;	 /* pieces in flight per endpoint (0: no limit) */
	int hold_next;	 /* hold back the next so many pieces */
	bool inline_odd; /* complete odd pieces of a batch inside rma_post */
	bool imm_inline; /* complete fence values inside rma_post */
	long fail_at;	 /* the piece with this number fails (0: none) */
	bool fail_soft;	 /* ... and the connection stays up (shm, a tcp
			  * target's refusal); else it breaks, as a QP */
	bool record;	 /* note where the next completed piece ended */
	unsigned spin_us; /* the attribute, for endpoints connected from now on */
	bool quiet; /* stream data arrives without a wake-up (a muted channel) */
	bool late;  /* ep_late says yes: the test raises POLLIN itself */
	char *first_rend;
	/* counters */
	long posted, done, outstanding, partial, imm_inlined, dropped;
	long mrs, rmrs, deregs;
	long progress; /* ep_progress calls */
	long parks;    /* ep_park calls */
	/* contract violations */
	long bad, imm_early, dereg_busy, ctrl_err;
};

extern struct fk_state fk;
extern const struct scif_provider_ops fake_ops;

void fk_lock(void);
void fk_unlock(void);
long fk_get(const long *counter);
void fk_release(int keep);
void fk_deadline(struct timespec *ts, int ms);
bool fk_wait_outstanding(long n, int ms);
int fk_window_get(scif_epd_t epd, uint64_t off, uint64_t len, int prot,
		  const struct scif_mr **mr, uint64_t *mr_off);
void fk_window_put(scif_epd_t epd, const struct scif_mr *mr);
/* What the provider's timer does for ep_late: 1 if a send had left POLLIN
 * to it (then raised), 0 if not, or -errno. */
int fk_raise_late(scif_epd_t epd);

#endif
