/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A lock for sections of a few loads and stores (the descriptor table),
 * taken inline.  Every scif_send and scif_recv looks its endpoint up: with a
 * pthread mutex that was two calls into the C library per call, and under
 * QEMU's TCG, where the Soft-RoCE VMs run, a call to another object costs
 * more than the lookup it guards (docs/progress.md, "Code size under
 * emulation").  A waiter spins briefly, then yields: the holder may have
 * been descheduled inside the section.
 */
#ifndef SCIF_SPIN_H
#define SCIF_SPIN_H

#include <sched.h>
#include <stdbool.h>

struct scif_spin {
	bool held;
};

#define SCIF_SPIN_TRIES 64

static inline void scif__spin_lock(struct scif_spin *l)
{
	unsigned i = 0;

	while (__atomic_exchange_n(&l->held, true, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->held, __ATOMIC_RELAXED))
			if (++i % SCIF_SPIN_TRIES == 0)
				sched_yield();
}

static inline void scif__spin_unlock(struct scif_spin *l)
{
	__atomic_store_n(&l->held, false, __ATOMIC_RELEASE);
}

#endif
