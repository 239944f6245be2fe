/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An MPSS-style program: it includes only <scif.h> and relies on what MPSS's
 * user header brings with it -- errno, sleep/usleep/sysconf (unistd.h),
 * poll() and POLLIN (poll.h), select() (sys/select.h), the fixed-width and
 * POSIX types -- and on the MPSS macros (SCIF_POLLIN..., the RAS fence
 * flags, the deprecated names, the reserved ports).  It is built as C
 * (gnu89, gnu99, c11) and, copied to a .cpp, as C++ (gnu++98, c++11,
 * c++17), all with -Wall -Werror: a header that stops providing any of
 * this breaks the build.  In C++ the calls also link only if the header
 * declares them extern "C".  Run, it checks the values and that errno set
 * by the library is the one the program sees.
 *
 * Written in the common subset of C89 and C++98 on purpose: nothing else
 * may be included.
 */
#include <scif.h>

/* Compile-time checks that work in every language mode tested. */
#define HDR_CHECK(name, cond) typedef char hdr_check_##name[(cond) ? 1 : -1]

#ifndef __SCIF_H__
#error "MPSS's include guard __SCIF_H__ is not defined"
#endif
#if !defined(SCIF_RMA_USECPU) || !defined(SCIF_RMA_USECACHE) || \
	!defined(SCIF_RMA_SYNC) || !defined(SCIF_RMA_ORDERED)
#error "the SCIF_RMA_* flags are macros in MPSS's header"
#endif
#if !defined(SCIF_POLLIN) || !defined(SCIF_POLLOUT) || \
	!defined(SCIF_POLLERR) || !defined(SCIF_POLLHUP) || \
	!defined(SCIF_POLLNVAL)
#error "SCIF_POLL* are not defined"
#endif

HDR_CHECK(pollin, SCIF_POLLIN == POLLIN);
HDR_CHECK(pollout, SCIF_POLLOUT == POLLOUT);
HDR_CHECK(pollerr, SCIF_POLLERR == POLLERR);
HDR_CHECK(pollhup, SCIF_POLLHUP == POLLHUP);
HDR_CHECK(pollnval, SCIF_POLLNVAL == POLLNVAL);
HDR_CHECK(fence_init, SCIF_FENCE_INIT_SELF == 1 && SCIF_FENCE_INIT_PEER == 2);
HDR_CHECK(fence_ras, SCIF_FENCE_RAS_SELF == 4 && SCIF_FENCE_RAS_PEER == 8);
HDR_CHECK(signal, SCIF_SIGNAL_LOCAL == 0x10 && SCIF_SIGNAL_REMOTE == 0x20);
HDR_CHECK(rma, SCIF_RMA_USECPU == 1 && SCIF_RMA_USECACHE == 2 &&
		       SCIF_RMA_SYNC == 4 && SCIF_RMA_ORDERED == 8);
HDR_CHECK(deprecated_block, ACCEPT_SYNC == SCIF_ACCEPT_SYNC &&
				    SEND_BLOCK == SCIF_SEND_BLOCK &&
				    RECV_BLOCK == SCIF_RECV_BLOCK);
HDR_CHECK(ports, SCIF_COI_PORT_0 == 40 && SCIF_OFED_PORT_9 == 69 &&
			 SCIF_NETDEV_PORT_0 == 80 && SCIF_RAS_PORT_0 == 100 &&
			 SCIF_PM_PORT_0 == 120 && SCIF_BT_PORT_9 == 139 &&
			 MPSSD_MONRECV == 160 && MIC_NOTIFY == 161 &&
			 MPSSD_CRED == 162 && MPSSD_MONSEND == 163 &&
			 MPSSD_MICCTRL == 164 && MPSSD_RESV9 == 169 &&
			 SCIF_COSM_LISTEN_PORT == 201 &&
			 SCIF_ADMIN_PORT_END == 1024 &&
			 SCIF_MYO_PORT_0 == 1025 && SCIF_ST_PORT_9 == 1053 &&
			 SCIF_PORT_RSVD == 1088);
HDR_CHECK(portid_t, sizeof(portID_t) == sizeof(struct scif_portID));
HDR_CHECK(off_t, sizeof(off_t) == 8);
HDR_CHECK(ssize_t, sizeof(ssize_t) == sizeof(size_t));
HDR_CHECK(u16, sizeof(uint16_t) == 2 && sizeof(uint64_t) == 8);

static int failures;

static void expect(int cond, const char *what)
{
	if (!cond) {
		/* write(2) and strlen-free: only what scif.h provides */
		const char *p = what;
		size_t n = 0;

		while (p[n])
			n++;
		if (write(2, "mpss_style: FAILED: ", 20) < 0 ||
		    write(2, what, n) < 0 || write(2, "\n", 1) < 0)
			failures++;
		failures++;
	}
}

int main(void)
{
	struct portID legacy;
	struct scif_portID dst;
	struct scif_pollepd pe;
	struct pollfd pfd;
	struct timeval tv;
	fd_set rfds;
	long pagesize;
	char buf[8];
	int rc;

	legacy.node = 0;
	legacy.port = SCIF_PORT_RSVD;
	dst = legacy;
	expect(dst.port == 1088, "struct portID is struct scif_portID");

	/* unistd.h */
	pagesize = sysconf(_SC_PAGESIZE);
	expect(pagesize > 0, "sysconf(_SC_PAGESIZE)");
	expect(sleep(0) == 0, "sleep(0)");
#if !defined(__STRICT_ANSI__) || defined(__cplusplus)
	/* usleep is not ISO C: strict C modes need a feature macro for it,
	 * with MPSS's header as with ours */
	expect(usleep(1) == 0, "usleep(1)");
#endif
	expect(getpid() > 0, "getpid()");

	/* poll.h: a negative fd is ignored, so this returns 0 at once */
	pfd.fd = -1;
	pfd.events = SCIF_POLLIN | SCIF_POLLOUT;
	pfd.revents = 0;
	expect(poll(&pfd, 1, 0) == 0, "poll() on an ignored fd");

	/* sys/select.h */
	FD_ZERO(&rfds);
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	expect(select(0, &rfds, NULL, NULL, &tv) == 0, "select() times out");

	/* errno.h: the library's errno is the program's */
	errno = 0;
	rc = scif_send(-1, buf, (int)sizeof(buf), SEND_BLOCK);
	expect(rc == -1 && (errno == EBADF || errno == ENOTTY),
	       "scif_send(-1) fails with EBADF");
	errno = 0;
	rc = scif_recv(-1, buf, (int)sizeof(buf), RECV_BLOCK);
	expect(rc == -1 && errno != 0, "scif_recv(-1) sets errno");

	/* scif_poll with the MPSS event names: a descriptor that is not an
	 * endpoint is reported, not waited for */
	pe.epd = -1;
	pe.events = SCIF_POLLIN;
	pe.revents = 0;
	rc = scif_poll(&pe, 1, 0);
	expect(rc >= 0 || errno == EINVAL || errno == ENODEV,
	       "scif_poll() returns or sets errno");
	if (rc > 0)
		expect((pe.revents & (SCIF_POLLNVAL | SCIF_POLLERR)) != 0,
		       "scif_poll() reports an invalid endpoint");
	expect(SCIF_OPEN_FAILED == (scif_epd_t)-1, "SCIF_OPEN_FAILED");
	expect(SCIF_REGISTER_FAILED == (off_t)-1, "SCIF_REGISTER_FAILED");

	return failures ? 1 : 0;
}
