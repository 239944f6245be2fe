/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz targets (libFuzzer entry points) and the harness they share.
 *
 * Each target feeds one parser or message handler of the library with
 * bytes from the peer's side, through the same function the transport
 * calls, on a real endpoint (scif__ep_new) in the connected state.  With
 * clang (-DSCIF_FUZZ=ON, scripts/fuzz.sh) a target links libFuzzer; with any
 * other compiler fuzz_main.c replays the corpus instead (the CTest
 * regression test).  A target aborts on a broken invariant: a crash,
 * sanitizer report or abort is a finding.
 */
#ifndef SCIF_FUZZ_H
#define SCIF_FUZZ_H

#include "scif_priv.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant: report where, then abort (a finding). */
#define FZ_CHECK(cond)                                                       \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "fuzz: %s:%d: %s\n", __FILE__,       \
				__LINE__, #cond);                            \
			abort();                                             \
		}                                                            \
	} while (0)

/* Input as a stream of bytes; reading past its end gives zeros. */
struct fz_in {
	const uint8_t *p;
	size_t left;
};

uint8_t fz_u8(struct fz_in *in);
uint32_t fz_le(struct fz_in *in, int bytes);
/* A copy of the next n bytes (fewer if the input ends; *n updated) in a
 * heap block of exactly that size, so any over-read is caught. */
void *fz_take(struct fz_in *in, size_t *n);

/* An endpoint connected through ops, with prov_data, as a provider's
 * connection would leave it (the RMA attributes queried).  Locked. */
struct scif_ep *fz_ep_new(const struct scif_provider_ops *ops,
			  void *prov_data);
/* Close it as the core does after the provider ended the connection
 * (every window and queued action released), then free it.  Locked on
 * entry. */
void fz_ep_free(struct scif_ep *ep);
/* Peer windows sorted, disjoint, non-empty, not wrapping: abort if not. */
void fz_check_rwindows(struct scif_ep *ep);
/* The log level of the library: errors only (hostile input logs a lot). */
void fz_quiet(void);

#endif
