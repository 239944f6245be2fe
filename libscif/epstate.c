/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Endpoint state machine: which call is allowed in which state, and the errno
 * the header documents when it is not.  Kept as one table so that every call
 * answers a wrong state the same way, and so it can be tested on its own.
 *
 *   UNBOUND --bind--> BOUND --listen--> LISTENING
 *      |                |
 *      +----connect-----+--> CONNECTING --> CONNECTED --peer gone--> DISCONNECTED
 *                               |
 *                               +--refused/unreachable--> BOUND
 *   any --close--> CLOSING (the descriptor is gone)
 */
#include "scif_priv.h"

#define OK 0

static const int allowed[SCIF_EP_NSTATES][SCIF_OP_NOPS] = {
	/*			BIND	 LISTEN	  CONNECT      ACCEPT	SEND	    RECV	REGISTER    RMA */
	[SCIF_EP_UNBOUND] =	{ OK,	  -EINVAL,  OK,		-EINVAL, -ENOTCONN,  -ENOTCONN,  -ENOTCONN,  -ENOTCONN },
	[SCIF_EP_BOUND] =	{ -EINVAL, OK,	    OK,		-EINVAL, -ENOTCONN,  -ENOTCONN,  -ENOTCONN,  -ENOTCONN },
	[SCIF_EP_LISTENING] =	{ -EINVAL, -EISCONN, -EOPNOTSUPP, OK,	 -ENOTCONN,  -ENOTCONN,  -ENOTCONN,  -ENOTCONN },
	[SCIF_EP_CONNECTING] =	{ -EISCONN, -EISCONN, -EISCONN,	-EINVAL, -ENOTCONN,  -ENOTCONN,  -ENOTCONN,  -ENOTCONN },
	[SCIF_EP_CONNECTED] =	{ -EISCONN, -EISCONN, -EISCONN,	-EINVAL, OK,	     OK,	 OK,	     OK },
	[SCIF_EP_DISCONNECTED] = { -EISCONN, -EINVAL, -EINVAL,	-EINVAL, -ECONNRESET, -ECONNRESET, -ECONNRESET, -ECONNRESET },
	[SCIF_EP_CLOSING] =	{ -EINVAL, -EINVAL,  -EINVAL,	-EINVAL, -ENOTCONN,  -ENOTCONN,  -ENOTCONN,  -ENOTCONN },
};

int scif__ep_check(enum scif_ep_state state, enum scif_ep_op op)
{
	if ((unsigned)state >= SCIF_EP_NSTATES || (unsigned)op >= SCIF_OP_NOPS)
		return -EINVAL;
	return allowed[state][op];
}

const char *scif__ep_state_name(enum scif_ep_state state)
{
	static const char *const names[SCIF_EP_NSTATES] = {
		"unbound",   "bound",	     "listening", "connecting",
		"connected", "disconnected", "closing",
	};

	return (unsigned)state < SCIF_EP_NSTATES ? names[state] : "invalid";
}
