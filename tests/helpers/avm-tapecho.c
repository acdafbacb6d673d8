/*
 * avm-tapecho: the host's side of the guest kit's virtio-net program
 * (tests/guest/virtio-net.c): answers frames of ethertype 0x88b5 that
 * come in on an interface (a VM's tap), through a packet socket.
 *
 *   avm-tapecho [--count N | --bench N] [--timeout-ms MS] IFNAME
 *
 * Prints "ready" once its socket is bound, so that a test starts the VM
 * after.  For each frame of ethertype 0x88b5 that the interface receives
 * (its own answers, outgoing, are not), prints
 *
 *	got SRC-MAC LEN bytes: PAYLOAD
 *
 * (LEN the whole frame's; the payload as text, non-printables as '.'),
 * answers the sender, from 02:48:4f:53:54:00 with the same ethertype and
 * the payload "avm-host pong " followed by the one received (cut to the
 * interface's MTU), and prints "sent LEN bytes".  Other frames are
 * ignored.  It ends after --count frames (default 1).
 *
 * --bench N answers N frames without a line each, then prints one
 * "bench tapecho frames=N bytes=B ns=T ns_per_frame=P" line: T from the
 * first frame received to the last answer sent, P = T / N: about one
 * round trip as a guest that sends a frame once it has the last answer
 * sees it, its own turn included.
 *
 * --timeout-ms: the longest wait for each frame (default 30000).
 *
 * Exit: 0 all answered, 1 a wait ran past its timeout (said on stderr),
 * 64 usage, 66 no such interface, 71 a system call failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "avm/exit.h"
#include "avm/util.h"

#define ETHERTYPE_KIT 0x88b5 /* IEEE local experimental */
#define PONG "avm-host pong "

static const uint8_t host_mac[ETH_ALEN] = {
	0x02, 0x48, 0x4f, 0x53, 0x54, 0x00
}; /* "HOST" */

static uint8_t rxf[65536], txf[65536];

static void
usage(FILE *f)
{
	fprintf(f, "usage: avm-tapecho [--count N | --bench N] "
		   "[--timeout-ms MS] IFNAME\n");
}

static void
mac_text(const uint8_t *m, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
}

/* The socket, bound to ifname; exits on failure. */
static int
open_bound(const char *ifname, int *ifindex, unsigned *mtu)
{
	struct sockaddr_ll sll = { 0 };
	struct ifreq ifr = { 0 };
	int fd;

	*ifindex = (int)if_nametoindex(ifname);
	if (!*ifindex) {
		fprintf(stderr, "avm-tapecho: interface '%s': %s\n", ifname,
			strerror(errno));
		exit(errno == ENODEV ? AVM_EX_NOINPUT : AVM_EX_OSERR);
	}
	/* Protocol 0 until bound: an ETH_P_ALL socket would queue every
	 * interface's frames before the bind. */
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		fprintf(stderr, "avm-tapecho: packet socket: %s\n",
			strerror(errno));
		exit(AVM_EX_OSERR);
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = *ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "avm-tapecho: bind to '%s': %s\n", ifname,
			strerror(errno));
		exit(errno == ENODEV ? AVM_EX_NOINPUT : AVM_EX_OSERR);
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
		fprintf(stderr, "avm-tapecho: mtu of '%s': %s\n", ifname,
			strerror(errno));
		exit(AVM_EX_OSERR);
	}
	*mtu = (unsigned)ifr.ifr_mtu;
	return fd;
}

/*
 * The next frame of ETHERTYPE_KIT the interface received, into rxf;
 * returns its length, or 0 once the timeout has passed.
 */
static size_t
next_frame(int fd, int ifindex, uint64_t timeout_ms)
{
	uint64_t dl = now_ns() + timeout_ms * 1000000ull;

	for (;;) {
		struct pollfd pf = { fd, POLLIN, 0 };
		struct sockaddr_ll from = { 0 };
		socklen_t fl = sizeof(from);
		ssize_t n;
		int r;

		r = poll(&pf, 1, deadline_ms(dl));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "avm-tapecho: poll: %s\n",
				strerror(errno));
			exit(AVM_EX_OSERR);
		}
		if (r == 0)
			return 0;
		n = recvfrom(fd, rxf, sizeof(rxf), MSG_TRUNC,
			     (struct sockaddr *)&from, &fl);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			fprintf(stderr, "avm-tapecho: receive: %s\n",
				strerror(errno));
			exit(AVM_EX_OSERR);
		}
		if (from.sll_pkttype == PACKET_OUTGOING ||
		    from.sll_ifindex != ifindex || n < ETH_HLEN ||
		    (size_t)n > sizeof(rxf) ||
		    (rxf[12] << 8 | rxf[13]) != ETHERTYPE_KIT)
			continue;
		return (size_t)n;
	}
}

/* The answer to the frame of len bytes in rxf; returns its length. */
static size_t
answer(int fd, int ifindex, unsigned mtu, size_t len)
{
	size_t plen = strlen(PONG) + (len - ETH_HLEN);
	struct sockaddr_ll to = { 0 };
	ssize_t n;

	if (plen > mtu)
		plen = mtu;
	memcpy(txf, rxf + ETH_ALEN, ETH_ALEN);
	memcpy(txf + ETH_ALEN, host_mac, ETH_ALEN);
	txf[12] = ETHERTYPE_KIT >> 8;
	txf[13] = ETHERTYPE_KIT & 0xff;
	memcpy(txf + ETH_HLEN, PONG, strlen(PONG));
	memcpy(txf + ETH_HLEN + strlen(PONG), rxf + ETH_HLEN,
	       plen - strlen(PONG));
	to.sll_family = AF_PACKET;
	to.sll_ifindex = ifindex;
	to.sll_halen = ETH_ALEN;
	memcpy(to.sll_addr, txf, ETH_ALEN);
	do
		n = sendto(fd, txf, ETH_HLEN + plen, 0, (struct sockaddr *)&to,
			   sizeof(to));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		fprintf(stderr, "avm-tapecho: send: %s\n", strerror(errno));
		exit(AVM_EX_OSERR);
	}
	return (size_t)n;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "bench", required_argument, NULL, 'b' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t count = 1, timeout_ms = 30000, bytes = 0, t0 = 0;
	int c, fd, ifindex, bench = 0, counted = 0;
	unsigned mtu;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
		case 'b':
			if (counted++) {
				fprintf(stderr, "avm-tapecho: one of --count "
						"and --bench, once\n");
				return AVM_EX_USAGE;
			}
			if (uint_parse(optarg, 1, UINT32_MAX, &count) < 0) {
				fprintf(stderr,
					"avm-tapecho: bad --%s '%s': 1 to "
					"%" PRIu32 "\n",
					c == 'c' ? "count" : "bench", optarg,
					UINT32_MAX);
				return AVM_EX_USAGE;
			}
			bench = c == 'b';
			break;
		case 't':
			if (uint_parse(optarg, 1, 86400000, &timeout_ms) < 0) {
				fprintf(stderr,
					"avm-tapecho: bad --timeout-ms '%s': "
					"1 to 86400000\n",
					optarg);
				return AVM_EX_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return AVM_EX_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return AVM_EX_USAGE;
	}
	fd = open_bound(argv[optind], &ifindex, &mtu);
	printf("ready\n");
	fflush(stdout);
	for (uint64_t i = 0; i < count; i++) {
		size_t len = next_frame(fd, ifindex, timeout_ms);
		char src[18];
		size_t sent;

		if (!len) {
			fprintf(stderr,
				"avm-tapecho: timeout: no frame of ethertype "
				"%#x on '%s' in %" PRIu64 " ms (%" PRIu64
				" of %" PRIu64 " answered)\n",
				ETHERTYPE_KIT, argv[optind], timeout_ms, i,
				count);
			return AVM_EX_FAIL;
		}
		if (i == 0)
			t0 = now_ns();
		sent = answer(fd, ifindex, mtu, len);
		bytes += len;
		if (bench)
			continue;
		mac_text(rxf + ETH_ALEN, src, sizeof(src));
		printf("got %s %zu bytes: ", src, len);
		for (size_t k = ETH_HLEN; k < len; k++)
			putchar(rxf[k] >= 0x20 && rxf[k] < 0x7f ? rxf[k] : '.');
		printf("\nsent %zu bytes\n", sent);
		fflush(stdout);
	}
	if (bench) {
		uint64_t t = now_ns() - t0;

		printf("bench tapecho frames=%" PRIu64 " bytes=%" PRIu64
		       " ns=%" PRIu64 " ns_per_frame=%" PRIu64 "\n",
		       count, bytes, t, t / count);
	}
	close(fd);
	return 0;
}
