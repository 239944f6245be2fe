/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RMA and fences of mic endpoints through the x100 DMA engine driven by
 * this process (mic/x100_dma.h), when SCIF_MIC_DMA names the card and its
 * channels; without it every call is the kernel's (mic_rma.c).
 * docs/mic.md, "RMA through the engine", says what is modelled.
 *
 * SCIF_MIC_DMA=CARD[:CHANNELS]: CARD "model" is the register-level model
 * (mic/model), run in this process as the card; CHANNELS as
 * MIC_DMA_CHANNELS ("0-3", "2", "0x0f").  SCIF_MIC_MODEL_FAIL=K: the K-th
 * descriptor the model executes (0 = the first) fails, once;
 * SCIF_MIC_MODEL_HANG=K: the engine stops there (the driver's progress
 * bound, MIC_DMA_TIMEOUT_MS, then resets it), once.
 */
#ifndef MIC_DMA_H
#define MIC_DMA_H

#include "scif_provider.h"

#include <stdbool.h>
#include <stdint.h>

struct mic_dma;
struct mic_dma_conn;

/* NULL when SCIF_MIC_DMA is unset or names nothing usable (logged). */
struct mic_dma *mic_dma_new(void);
void mic_dma_free(struct mic_dma *d);

/*
 * The connection's engine state, shared by both sides' libraries through
 * a table of windows named by the connection (the connecting side's node
 * and port): accepted says which side we are.
 */
struct mic_dma_conn *mic_dma_conn_new(struct mic_dma *d, uint16_t node,
				      uint16_t port, bool accepted);
void mic_dma_conn_get(struct mic_dma_conn *dc);
void mic_dma_conn_put(struct mic_dma_conn *dc);

/*
 * 1 when the engine carried out the call (*ret: 0 or -errno), 0 when it
 * goes to the kernel.  Registration: kern is the kernel's call, made under
 * the engine's lock so that no engine RMA uses a window while it changes.
 */
int mic_dma_kcall(struct mic_dma_conn *dc, enum scif_kcall call,
		  struct scif_kcall_args *a, int *ret);
int mic_dma_window(struct mic_dma_conn *dc, enum scif_kcall call,
		   struct scif_kcall_args *a,
		   int (*kern)(void *ctx, struct scif_kcall_args *a),
		   void *ctx);

#endif
