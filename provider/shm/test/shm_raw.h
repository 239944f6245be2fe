/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * For tests that play a hostile shm peer (shm_corrupt.c, test/hostile):
 * the rings of our connection in our own mapping, and the doorbell.
 */
#ifndef SCIF_SHM_RAW_H
#define SCIF_SHM_RAW_H

#include <stddef.h>

/* The newest mapping of a ring memfd in this process (its length in
 * *len); exits when there is none. */
char *shm_raw_find_rings(size_t *len);
/* Ring the peer: a byte on every socket we hold (a process that holds
 * only the attacked connection). */
void shm_raw_ring_all(void);

#endif
