/*
 * The limits avm-pager's numbers are measured against (bench/pager.sh):
 *   uffd_fault_ns  a missing fault on a shared memfd mapping, resolved
 *                  by UFFDIO_COPY from a second thread of one process
 *   tcp_rtt_ns     a 4 KiB request and a 4 KiB answer over loopback TCP
 *                  (TCP_NODELAY), thread to thread
 * Prints key=value lines; never fails on time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "avm/pager.h"
#include "avm/util.h"

#define N 2000
#define PG 4096

static int uffd;
static uint8_t src[PG];

static void *
handler(void *arg)
{
	struct uffd_msg m;
	struct pollfd p = { .fd = uffd, .events = POLLIN };
	int i;

	(void)arg;
	for (i = 0; i < N;) {
		if (poll(&p, 1, 5000) <= 0)
			exit(1);
		if (read(uffd, &m, sizeof(m)) != sizeof(m))
			continue;
		struct uffdio_copy c = {
			.dst = m.arg.pagefault.address & ~(uint64_t)(PG - 1),
			.src = (uintptr_t)src,
			.len = PG,
		};
		if (ioctl(uffd, UFFDIO_COPY, &c) < 0)
			exit(1);
		i++;
	}
	return NULL;
}

static void *
echo(void *arg)
{
	int fd = *(int *)arg, i;
	uint8_t b[PG];

	for (i = 0; i < N; i++) {
		if (read_full(fd, b, PG) < 0 || write_full(fd, b, PG) < 0)
			exit(1);
	}
	return NULL;
}

int
main(void)
{
	size_t len = (size_t)N * PG;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	uint8_t *ram, b[PG];
	uint64_t t0, sum = 0;
	pthread_t t;
	int mfd, ls, cs, as, one = 1, i;

	mfd = memfd_create("bench", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, (off_t)len) < 0)
		return 1;
	ram = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	uffd = pager_uffd_open();
	if (ram == MAP_FAILED || uffd < 0 ||
	    pager_uffd_register(uffd, ram, len) < 0)
		return 1;
	pthread_create(&t, NULL, handler, NULL);
	for (i = 0; i < N; i++) {
		t0 = now_ns();
		ram[(size_t)i * PG] = 1;
		sum += now_ns() - t0;
	}
	pthread_join(t, NULL);
	printf("uffd_fault_ns=%" PRIu64 "\n", sum / N);

	ls = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(ls, 1) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) < 0)
		return 1;
	cs = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(cs, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 1;
	as = accept(ls, NULL, NULL);
	setsockopt(cs, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(as, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_create(&t, NULL, echo, &as);
	memset(b, 1, sizeof(b));
	t0 = now_ns();
	for (i = 0; i < N; i++)
		if (write_full(cs, b, PG) < 0 || read_full(cs, b, PG) < 0)
			return 1;
	printf("tcp_rtt_ns=%" PRIu64 "\n", (now_ns() - t0) / N);
	pthread_join(t, NULL);
	return 0;
}
