/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the endpoint state machine table (libscif/epstate.c),
 * checked against the errors the SCIF header documents for each call
 * (/work/shared/reference/linux-scif.h) and the Linux SCIF driver's
 * per-state answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scif_priv.h"

#include <errno.h>
#include <string.h>

#define OK 0

/*
 * Expected answers, written out from the header, not copied from epstate.c:
 *
 * scif_bind:     EINVAL  - the endpoint or the port is already bound
 *                EISCONN - the endpoint is already connected
 *   (a listening endpoint is bound, not connected: EINVAL; connecting,
 *   connected and disconnected endpoints are or were connected: EISCONN)
 * scif_listen:   EINVAL  - the endpoint is not bound to a port
 *                EISCONN - already connected or listening
 *   (a disconnected endpoint answers EINVAL, as in the driver)
 * scif_connect:  EISCONN - already connected; EOPNOTSUPP - listening
 *   (an unbound endpoint is bound on the fly; a disconnected one gets
 *   EINVAL as in the driver)
 * scif_accept:   EINVAL  - epd is not a listening endpoint
 * scif_send/recv/register/RMA:
 *                ENOTCONN - the endpoint is not connected
 *                ECONNRESET - connection reset by peer (disconnected)
 * CLOSING: the descriptor is gone; nothing is allowed.
 */
static const struct {
	enum scif_ep_state state;
	enum scif_ep_op op;
	int want;
} expected[] = {
	/* UNBOUND */
	{ SCIF_EP_UNBOUND, SCIF_OP_BIND, OK },
	{ SCIF_EP_UNBOUND, SCIF_OP_LISTEN, -EINVAL },
	{ SCIF_EP_UNBOUND, SCIF_OP_CONNECT, OK },
	{ SCIF_EP_UNBOUND, SCIF_OP_ACCEPT, -EINVAL },
	{ SCIF_EP_UNBOUND, SCIF_OP_SEND, -ENOTCONN },
	{ SCIF_EP_UNBOUND, SCIF_OP_RECV, -ENOTCONN },
	{ SCIF_EP_UNBOUND, SCIF_OP_REGISTER, -ENOTCONN },
	{ SCIF_EP_UNBOUND, SCIF_OP_RMA, -ENOTCONN },
	/* BOUND */
	{ SCIF_EP_BOUND, SCIF_OP_BIND, -EINVAL },
	{ SCIF_EP_BOUND, SCIF_OP_LISTEN, OK },
	{ SCIF_EP_BOUND, SCIF_OP_CONNECT, OK },
	{ SCIF_EP_BOUND, SCIF_OP_ACCEPT, -EINVAL },
	{ SCIF_EP_BOUND, SCIF_OP_SEND, -ENOTCONN },
	{ SCIF_EP_BOUND, SCIF_OP_RECV, -ENOTCONN },
	{ SCIF_EP_BOUND, SCIF_OP_REGISTER, -ENOTCONN },
	{ SCIF_EP_BOUND, SCIF_OP_RMA, -ENOTCONN },
	/* LISTENING */
	{ SCIF_EP_LISTENING, SCIF_OP_BIND, -EINVAL },
	{ SCIF_EP_LISTENING, SCIF_OP_LISTEN, -EISCONN },
	{ SCIF_EP_LISTENING, SCIF_OP_CONNECT, -EOPNOTSUPP },
	{ SCIF_EP_LISTENING, SCIF_OP_ACCEPT, OK },
	{ SCIF_EP_LISTENING, SCIF_OP_SEND, -ENOTCONN },
	{ SCIF_EP_LISTENING, SCIF_OP_RECV, -ENOTCONN },
	{ SCIF_EP_LISTENING, SCIF_OP_REGISTER, -ENOTCONN },
	{ SCIF_EP_LISTENING, SCIF_OP_RMA, -ENOTCONN },
	/* CONNECTING */
	{ SCIF_EP_CONNECTING, SCIF_OP_BIND, -EISCONN },
	{ SCIF_EP_CONNECTING, SCIF_OP_LISTEN, -EISCONN },
	{ SCIF_EP_CONNECTING, SCIF_OP_CONNECT, -EISCONN },
	{ SCIF_EP_CONNECTING, SCIF_OP_ACCEPT, -EINVAL },
	{ SCIF_EP_CONNECTING, SCIF_OP_SEND, -ENOTCONN },
	{ SCIF_EP_CONNECTING, SCIF_OP_RECV, -ENOTCONN },
	{ SCIF_EP_CONNECTING, SCIF_OP_REGISTER, -ENOTCONN },
	{ SCIF_EP_CONNECTING, SCIF_OP_RMA, -ENOTCONN },
	/* CONNECTED */
	{ SCIF_EP_CONNECTED, SCIF_OP_BIND, -EISCONN },
	{ SCIF_EP_CONNECTED, SCIF_OP_LISTEN, -EISCONN },
	{ SCIF_EP_CONNECTED, SCIF_OP_CONNECT, -EISCONN },
	{ SCIF_EP_CONNECTED, SCIF_OP_ACCEPT, -EINVAL },
	{ SCIF_EP_CONNECTED, SCIF_OP_SEND, OK },
	{ SCIF_EP_CONNECTED, SCIF_OP_RECV, OK },
	{ SCIF_EP_CONNECTED, SCIF_OP_REGISTER, OK },
	{ SCIF_EP_CONNECTED, SCIF_OP_RMA, OK },
	/* DISCONNECTED */
	{ SCIF_EP_DISCONNECTED, SCIF_OP_BIND, -EISCONN },
	{ SCIF_EP_DISCONNECTED, SCIF_OP_LISTEN, -EINVAL },
	{ SCIF_EP_DISCONNECTED, SCIF_OP_CONNECT, -EINVAL },
	{ SCIF_EP_DISCONNECTED, SCIF_OP_ACCEPT, -EINVAL },
	{ SCIF_EP_DISCONNECTED, SCIF_OP_SEND, -ECONNRESET },
	{ SCIF_EP_DISCONNECTED, SCIF_OP_RECV, -ECONNRESET },
	{ SCIF_EP_DISCONNECTED, SCIF_OP_REGISTER, -ECONNRESET },
	{ SCIF_EP_DISCONNECTED, SCIF_OP_RMA, -ECONNRESET },
	/* CLOSING */
	{ SCIF_EP_CLOSING, SCIF_OP_BIND, -EINVAL },
	{ SCIF_EP_CLOSING, SCIF_OP_LISTEN, -EINVAL },
	{ SCIF_EP_CLOSING, SCIF_OP_CONNECT, -EINVAL },
	{ SCIF_EP_CLOSING, SCIF_OP_ACCEPT, -EINVAL },
	{ SCIF_EP_CLOSING, SCIF_OP_SEND, -ENOTCONN },
	{ SCIF_EP_CLOSING, SCIF_OP_RECV, -ENOTCONN },
	{ SCIF_EP_CLOSING, SCIF_OP_REGISTER, -ENOTCONN },
	{ SCIF_EP_CLOSING, SCIF_OP_RMA, -ENOTCONN },
};

static const char *const state_names[] = {
	"UNBOUND", "BOUND", "LISTENING", "CONNECTING",
	"CONNECTED", "DISCONNECTED", "CLOSING",
};
static const char *const op_names[] = {
	"BIND", "LISTEN", "CONNECT", "ACCEPT", "SEND", "RECV", "REGISTER", "RMA",
};

static void test_enum_sizes(void **state)
{
	(void)state;
	/* The expectations above cover exactly these states and ops. */
	assert_int_equal(SCIF_EP_NSTATES, 7);
	assert_int_equal(SCIF_OP_NOPS, 8);
	assert_int_equal(sizeof(expected) / sizeof(expected[0]),
			 SCIF_EP_NSTATES * SCIF_OP_NOPS);
}

static void test_full_table(void **state)
{
	int seen[SCIF_EP_NSTATES][SCIF_OP_NOPS] = { { 0 } };
	unsigned bad = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		int got = scif__ep_check(expected[i].state, expected[i].op);

		seen[expected[i].state][expected[i].op]++;
		if (got != expected[i].want) {
			print_error("%s in %s: got %d (%s), want %d (%s)\n",
				    op_names[expected[i].op],
				    state_names[expected[i].state], got,
				    strerror(-got), expected[i].want,
				    strerror(-expected[i].want));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	/* Every cell was checked exactly once. */
	for (i = 0; i < SCIF_EP_NSTATES * SCIF_OP_NOPS; i++)
		assert_int_equal(seen[i / SCIF_OP_NOPS][i % SCIF_OP_NOPS], 1);
}

/* The errnos each call documents for a wrong endpoint state. */
static int documented(enum scif_ep_op op, int err)
{
	switch (op) {
	case SCIF_OP_BIND:
		return err == -EINVAL || err == -EISCONN;
	case SCIF_OP_LISTEN:
		return err == -EINVAL || err == -EISCONN;
	case SCIF_OP_CONNECT:
		return err == -EINVAL || err == -EISCONN || err == -EOPNOTSUPP;
	case SCIF_OP_ACCEPT:
		return err == -EINVAL;
	case SCIF_OP_SEND:
	case SCIF_OP_RECV:
	case SCIF_OP_REGISTER:
	case SCIF_OP_RMA:
		return err == -ENOTCONN || err == -ECONNRESET;
	default:
		return 0;
	}
}

static void test_refusals_are_documented_errnos(void **state)
{
	int s, o;

	(void)state;
	for (s = 0; s < SCIF_EP_NSTATES; s++) {
		for (o = 0; o < SCIF_OP_NOPS; o++) {
			int got = scif__ep_check((enum scif_ep_state)s,
						 (enum scif_ep_op)o);

			if (got != 0 && !documented((enum scif_ep_op)o, got))
				fail_msg("%s in %s: %d is not documented",
					 op_names[o], state_names[s], got);
			assert_true(got <= 0);
		}
	}
}

static void test_data_ops_only_when_connected(void **state)
{
	int s;

	(void)state;
	/* The I/O calls are allowed in exactly one state. */
	for (s = 0; s < SCIF_EP_NSTATES; s++) {
		int want = s == SCIF_EP_CONNECTED ? 0 : 1;

		assert_int_equal(scif__ep_check(s, SCIF_OP_SEND) != 0, want);
		assert_int_equal(scif__ep_check(s, SCIF_OP_RECV) != 0, want);
		assert_int_equal(scif__ep_check(s, SCIF_OP_REGISTER) != 0,
				 want);
		assert_int_equal(scif__ep_check(s, SCIF_OP_RMA) != 0, want);
	}
	/* Nothing at all is allowed while closing. */
	for (s = 0; s < SCIF_OP_NOPS; s++)
		assert_int_not_equal(scif__ep_check(SCIF_EP_CLOSING, s), 0);
}

static void test_out_of_range(void **state)
{
	int o, s;

	(void)state;
	for (o = 0; o < SCIF_OP_NOPS; o++) {
		assert_int_equal(scif__ep_check(SCIF_EP_NSTATES, o), -EINVAL);
		assert_int_equal(scif__ep_check((enum scif_ep_state)100, o),
				 -EINVAL);
		assert_int_equal(scif__ep_check((enum scif_ep_state)-1, o),
				 -EINVAL);
	}
	for (s = 0; s < SCIF_EP_NSTATES; s++) {
		assert_int_equal(scif__ep_check(s, SCIF_OP_NOPS), -EINVAL);
		assert_int_equal(scif__ep_check(s, (enum scif_ep_op)1000),
				 -EINVAL);
		assert_int_equal(scif__ep_check(s, (enum scif_ep_op)-1),
				 -EINVAL);
	}
	/* Both out of range, and one past the CONNECTED row where OK cells
	 * would be read if the check were off by one. */
	assert_int_equal(scif__ep_check(SCIF_EP_NSTATES, SCIF_OP_NOPS), -EINVAL);
	assert_int_equal(scif__ep_check(SCIF_EP_CONNECTED, SCIF_OP_NOPS),
			 -EINVAL);
}

static void test_state_names(void **state)
{
	static const char *const want[SCIF_EP_NSTATES] = {
		[SCIF_EP_UNBOUND] = "unbound",
		[SCIF_EP_BOUND] = "bound",
		[SCIF_EP_LISTENING] = "listening",
		[SCIF_EP_CONNECTING] = "connecting",
		[SCIF_EP_CONNECTED] = "connected",
		[SCIF_EP_DISCONNECTED] = "disconnected",
		[SCIF_EP_CLOSING] = "closing",
	};
	int s;

	(void)state;
	for (s = 0; s < SCIF_EP_NSTATES; s++) {
		assert_non_null(scif__ep_state_name(s));
		assert_string_equal(scif__ep_state_name(s), want[s]);
	}
	assert_string_equal(scif__ep_state_name(SCIF_EP_NSTATES), "invalid");
	assert_string_equal(scif__ep_state_name((enum scif_ep_state)-1),
			    "invalid");
	assert_string_equal(scif__ep_state_name((enum scif_ep_state)12345),
			    "invalid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enum_sizes),
		cmocka_unit_test(test_full_table),
		cmocka_unit_test(test_refusals_are_documented_errnos),
		cmocka_unit_test(test_data_ops_only_when_connected),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
