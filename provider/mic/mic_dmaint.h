/* SPDX-License-Identifier: BSD-3-Clause */
/* Internal structures of the mic engine path (mic_dma.c, mic_dmawin.c). */
#ifndef MIC_DMAINT_H
#define MIC_DMAINT_H

#include "log.h"
#include "mic_dma.h"
#include "x100_dma.h"
#include "x100_model.h"

#include <pthread.h>
#include <sys/types.h>

/* One registered window, as published in the table files. */
struct mic_dma_win {
	int64_t off;
	uint64_t len;
	uint64_t va;
	int32_t prot;
	int32_t live;
};

struct mic_dma_conn {
	struct mic_dma *d;
	int refs; /* under d->lock */
	uint16_t node, port;
	bool accepted;
	int own_fd, peer_fd;
	struct mic_dma_win *win; /* ours */
	int nwin;
	struct mic_dma_win *pwin; /* the peer's, as last read */
	int npwin, pcap;
	pid_t peer_pid;
	/* calls the engine carried out, bytes it moved, calls left to the
	 * kernel (logged at close) */
	uint64_t rmas, bytes, fences, kernel;
};

/* mic_dmawin.c, all under d->lock */
int mic_dmawin_open(struct mic_dma_conn *dc);
int mic_dmawin_add(struct mic_dma_conn *dc, int64_t off, uint64_t len,
		   uint64_t va, int prot);
void mic_dmawin_del(struct mic_dma_conn *dc, int64_t off, uint64_t len);
int mic_dmawin_peer(struct mic_dma_conn *dc);
bool mic_dmawin_find(const struct mic_dma_win *w, int n, int64_t off,
		     int prot, uint64_t *va, uint64_t *run);
bool mic_dmawin_covers(const struct mic_dma_win *w, int n, int64_t off,
		       uint64_t len, int prot);
void mic_dmawin_close(struct mic_dma_conn *dc);

#endif
