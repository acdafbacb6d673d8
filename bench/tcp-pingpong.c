/*
 * The limit avm-fabric's link round trips are measured against
 * (bench/fabric.sh): a plain TCP ping-pong of 64-byte messages
 * (TCP_NODELAY), no framing, no link layer.
 *   tcp-pingpong serve ADDR PORT    answers one connection, then exits
 *   tcp-pingpong ping ADDR PORT N   prints rtt_min_ns, rtt_median_ns,
 *                                   rtt_max_ns as key=value lines
 * Never fails on time; exits 1 with a message when it cannot connect.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64

static uint64_t
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int
full(int fd, char *b, int rd)
{
	size_t done = 0;
	ssize_t n;

	while (done < MSG) {
		n = rd ? read(fd, b + done, MSG - done)
		       : write(fd, b + done, MSG - done);
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static int
cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd, c, one = 1, i, n;
	char b[MSG] = { 0 };
	uint64_t *rtt, t0;

	if (argc < 4 || inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1) {
		fprintf(stderr,
			"usage: tcp-pingpong serve|ping ADDR PORT [N]\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[3]));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (strcmp(argv[1], "serve") == 0) {
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(fd, 1) < 0) {
			perror("tcp-pingpong: bind");
			return 1;
		}
		printf("listening\n");
		fflush(stdout);
		c = accept(fd, NULL, NULL);
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while (full(c, b, 1) == 0 && full(c, b, 0) == 0)
			;
		return 0;
	}
	n = argc > 4 ? atoi(argv[4]) : 2000;
	if (n < 1 || !(rtt = calloc((size_t)n, sizeof(*rtt))))
		return 2;
	for (i = 0; connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0; i++) {
		if (i == 50) {
			perror("tcp-pingpong: connect");
			return 1;
		}
		close(fd);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		usleep(100000);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (i = 0; i < n; i++) {
		t0 = now();
		if (full(fd, b, 0) < 0 || full(fd, b, 1) < 0) {
			fprintf(stderr, "tcp-pingpong: the peer went away\n");
			return 1;
		}
		rtt[i] = now() - t0;
	}
	qsort(rtt, (size_t)n, sizeof(*rtt), cmp);
	printf("rtt_min_ns=%" PRIu64 "\nrtt_median_ns=%" PRIu64
	       "\nrtt_max_ns=%" PRIu64 "\n",
	       rtt[0], rtt[n / 2], rtt[n - 1]);
	return 0;
}
