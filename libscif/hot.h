/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SCIF_HOT marks the functions on the per-message path: send and recv,
 * their waits, the endpoint's wake-up, the wire header and the providers'
 * progress.  GCC and clang place them together (.text.hot), so that one
 * message runs through a few code pages rather than one or more per source
 * file.  Where a context switch empties the TLB (every sleep and wake-up of
 * a blocking call), each page the next message touches is a TLB refill; in
 * an emulated VM (QEMU/TCG) a refill is a software page-table walk.
 */
#ifndef SCIF_HOT_H
#define SCIF_HOT_H

#if defined(__GNUC__)
#define SCIF_HOT __attribute__((hot))
#else
#define SCIF_HOT
#endif

#endif
