/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A register-level software model of the Knights Corner x100 DMA engine
 * (8 channels in the SBOX), written from the public hardware description
 * (docs/mic.md), not from the driver.  It owns a shared-memory BAR4, a
 * "card memory" (what BAR0 shows) and a "host memory" window reached through
 * the SMPT, runs its own thread, watches DHPR and executes descriptors.
 *
 * Fault injection: an error on the k-th descriptor a channel executes from
 * now, a channel that hangs (at once or at its k-th descriptor, until it is
 * disabled) and slow completion.
 */
#ifndef MIC_X100_MODEL_H
#define MIC_X100_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "../mic_bar.h"

struct mic_model;

struct mic_model_cfg {
	size_t card_len;	/* bytes of card memory (default 64 MiB) */
	size_t host_len;	/* bytes of host window (default 64 MiB) */
	uint64_t host_bus;	/* bus address of the host window */
	uint32_t host_owned;	/* DCR owner bits preset (default 0x0f) */
};

/* Model-defined DCHERR bits (the real bit meanings are not public). */
#define MICM_ERR_TYPE	(1u << 0)	/* NOP..GENERAL only; KEY* rejected */
#define MICM_ERR_ALIGN	(1u << 1)	/* address not on its granularity */
#define MICM_ERR_LEN	(1u << 2)	/* zero or over the length limit */
#define MICM_ERR_ADDR	(1u << 3)	/* not card memory / not via SMPT */
#define MICM_ERR_RING	(1u << 4)	/* DRAR or DHPR out of range */
#define MICM_ERR_INJECT	(1u << 5)	/* fault injection */
#define MICM_ERR_RSVD	(1u << 6)	/* content-protection bits set */

int mic_model_start(const struct mic_model_cfg *cfg, struct mic_model **mp);
void mic_model_stop(struct mic_model *m);
void mic_model_bar(struct mic_model *m, struct mic_bar *bar);

/* Register access from the test side (same path as the driver's). */
uint32_t mic_model_rd(struct mic_model *m, uint32_t off);
void mic_model_wr(struct mic_model *m, uint32_t off, uint32_t val);

/* k-th descriptor executed on ch from now (0 = the next) fails; k < 0: off. */
void mic_model_fail_desc(struct mic_model *m, int ch, long k);
/* The channel stops executing (no error) until it is disabled. */
void mic_model_hang(struct mic_model *m, int ch, int on);
/* The channel stops at the k-th descriptor it executes from now (0 = the
 * next; the ones before it complete) until it is disabled; k < 0: off. */
void mic_model_hang_desc(struct mic_model *m, int ch, long k);
/* Each descriptor on ch takes at least usec microseconds. */
void mic_model_delay(struct mic_model *m, int ch, unsigned usec);
/* Memory copies between two fences land in reverse order (default on). */
void mic_model_reorder(struct mic_model *m, int on);

/*
 * Called in the model thread for every write the engine makes to memory
 * (card address, length), in the order the writes land; with reordering on,
 * a memory copy is reported line by line from its end.
 */
typedef void (*mic_model_hook)(void *arg, int ch, uint64_t addr, size_t len);
void mic_model_write_hook(struct mic_model *m, mic_model_hook fn, void *arg);

/* Descriptors executed on ch so far. */
uint64_t mic_model_executed(struct mic_model *m, int ch);

#endif
