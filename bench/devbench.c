/*
 * bench/devbench.c: node 0's virtio devices without a guest, for
 * bench/devices.sh.  A driver in this process (tests/unit/virtio-drv.h:
 * the registers through the device's ops table, the rings in a fake
 * guest RAM, an interrupt that wakes the driver as a guest's handler
 * would) against the real device models and their worker threads, and
 * in the same run the host doing the same without them:
 *
 *   blk IMAGE   virtio-blk on IMAGE, one request at a time: sequential
 *               1 MiB writes (and the flush) and reads, random 4 KiB
 *               writes and reads; against the host's O_DIRECT
 *               pread/pwrite of the same sizes on the same file (what
 *               fio --direct=1 --iodepth=1 does).  The device reads and
 *               writes through the page cache (its reads start cold:
 *               POSIX_FADV_DONTNEED first); the flush makes its writes
 *               durable.
 *   net         in a network namespace of its own: a frame of 64 bytes
 *               from the driver through virtio-net to its tap, echoed
 *               by a packet socket on the host side, back into a
 *               receive buffer; against the same echo with this process
 *               writing and reading the tap itself.
 *
 * Prints "key value" lines; never judges.  Needs root for net.
 */
#define DRV_RAM (8u << 20)
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cmd/avm-run/dev/tapdev.h"
#include "../cmd/avm-run/dev/virtio-blk.h"
#include "../cmd/avm-run/dev/virtio-net.h"
#include "../tests/unit/virtio-drv.h"

static int irq_efd;

static void
set_irq(void *opaque, int level)
{
	uint64_t one = 1;

	(void)opaque;
	if (level && write(irq_efd, &one, 8) < 0)
		abort();
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The driver's interrupt handler: wait for the line, acknowledge. */
static void
wait_irq(struct drv *d)
{
	uint64_t v;
	struct pollfd pf = { irq_efd, POLLIN, 0 };

	if (poll(&pf, 1, 10000) != 1 || read(irq_efd, &v, 8) != 8) {
		fprintf(stderr, "devbench: no interrupt in 10 s\n");
		exit(1);
	}
	drv_w32(d, VMMIO_INTERRUPT_ACK, drv_r32(d, VMMIO_INTERRUPT_STATUS));
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* --- blk ------------------------------------------------------------------*/

#define HDR 0x10000ull
#define STATUS 0x11000ull
#define DATA 0x100000ull /* up to 1 MiB */
#define SEG (64u << 10)	 /* data descriptors of 64 KiB, as a guest's */

static struct drv d;
static struct drv_q q0 = { 0, 64, 0, DRV_DESC, DRV_AVAIL, DRV_USED };

/* One request, waited for with the interrupt; exits on a bad status. */
static void
blk_req(uint32_t type, uint64_t sector, uint32_t len)
{
	int wr = type == VIRTIO_BLK_T_IN;
	uint16_t i = 0, want = (uint16_t)(q0.avail_idx + 1);

	memset(drv_ram + HDR, 0, 16);
	memcpy(drv_ram + HDR, &type, 4);
	memcpy(drv_ram + HDR + 8, &sector, 8);
	drv_desc(DRV_DESC, i, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	i++;
	for (uint32_t off = 0; off < len; off += SEG, i++)
		drv_desc(DRV_DESC, i, DATA + off,
			 len - off < SEG ? len - off : SEG,
			 VIRTQ_DESC_F_NEXT | (wr ? VIRTQ_DESC_F_WRITE : 0),
			 (uint16_t)(i + 1));
	drv_ram[STATUS] = 0xff;
	drv_desc(DRV_DESC, i, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	drvq_submit(&d, &q0, 0, 1);
	while (drvq_used_idx(&q0) != want)
		wait_irq(&d);
	if (drv_ram[STATUS] != VIRTIO_BLK_S_OK) {
		fprintf(stderr, "devbench: request type %u status %u\n", type,
			drv_ram[STATUS]);
		exit(1);
	}
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The four patterns through the device; MiB/s or IOPS. */
static void
blk_device(const char *img, uint64_t size, unsigned nrand)
{
	struct vblk_cfg cfg = { 0 };
	struct vblk *b;
	uint64_t s = 88172645463325252ull;
	double t;
	int fd;

	cfg.fd = open(img, O_RDWR);
	cfg.size = size;
	cfg.serial = "bench";
	cfg.mem = drv_mem;
	cfg.set_irq = set_irq;
	b = vblk_new(&cfg);
	if (!b) {
		perror("devbench: vblk_new");
		exit(1);
	}
	d.dev = vblk_device(b);
	drv_negotiate(&d, (1ull << VIRTIO_F_VERSION_1) |
				  (1ull << VIRTIO_BLK_F_FLUSH));
	drvq_setup(&d, &q0);
	drv_w32(&d, VMMIO_STATUS,
		drv_r32(&d, VMMIO_STATUS) | VIRTIO_S_DRIVER_OK);
	for (uint64_t i = 0; i < (1u << 20); i++)
		drv_ram[DATA + i] = (uint8_t)(i * 7);

	t = now_ns();
	for (uint64_t off = 0; off < size; off += 1u << 20)
		blk_req(VIRTIO_BLK_T_OUT, off / 512, 1u << 20);
	blk_req(VIRTIO_BLK_T_FLUSH, 0, 0);
	printf("dev_seq_write_mibs %.0f\n",
	       (double)size / 1048576 / ((now_ns() - t) / 1e9));

	fd = open(img, O_RDONLY);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	t = now_ns();
	for (uint64_t off = 0; off < size; off += 1u << 20)
		blk_req(VIRTIO_BLK_T_IN, off / 512, 1u << 20);
	printf("dev_seq_read_mibs %.0f\n",
	       (double)size / 1048576 / ((now_ns() - t) / 1e9));

	t = now_ns();
	for (unsigned i = 0; i < nrand; i++)
		blk_req(VIRTIO_BLK_T_OUT, rnd(&s) % (size / 4096) * 8, 4096);
	blk_req(VIRTIO_BLK_T_FLUSH, 0, 0);
	printf("dev_rand_write_iops %.0f\n", nrand / ((now_ns() - t) / 1e9));

	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	t = now_ns();
	for (unsigned i = 0; i < nrand; i++)
		blk_req(VIRTIO_BLK_T_IN, rnd(&s) % (size / 4096) * 8, 4096);
	printf("dev_rand_read_iops %.0f\n", nrand / ((now_ns() - t) / 1e9));
	d.dev->ops->free(d.dev);
}

/* The same patterns as O_DIRECT system calls of the host. */
static void
blk_host(const char *img, uint64_t size, unsigned nrand)
{
	uint64_t s = 88172645463325252ull;
	void *buf;
	double t;
	int fd = open(img, O_RDWR | O_DIRECT);

	if (fd < 0 || posix_memalign(&buf, 4096, 1u << 20)) {
		perror("devbench: O_DIRECT");
		exit(1);
	}
	memset(buf, 0x5a, 1u << 20);
	t = now_ns();
	for (uint64_t off = 0; off < size; off += 1u << 20)
		if (pwrite(fd, buf, 1u << 20, (off_t)off) != 1 << 20)
			abort();
	fdatasync(fd);
	printf("host_seq_write_mibs %.0f\n",
	       (double)size / 1048576 / ((now_ns() - t) / 1e9));
	t = now_ns();
	for (uint64_t off = 0; off < size; off += 1u << 20)
		if (pread(fd, buf, 1u << 20, (off_t)off) != 1 << 20)
			abort();
	printf("host_seq_read_mibs %.0f\n",
	       (double)size / 1048576 / ((now_ns() - t) / 1e9));
	t = now_ns();
	for (unsigned i = 0; i < nrand; i++)
		if (pwrite(fd, buf, 4096,
			   (off_t)(rnd(&s) % (size / 4096) * 4096)) != 4096)
			abort();
	fdatasync(fd);
	printf("host_rand_write_iops %.0f\n", nrand / ((now_ns() - t) / 1e9));
	t = now_ns();
	for (unsigned i = 0; i < nrand; i++)
		if (pread(fd, buf, 4096,
			  (off_t)(rnd(&s) % (size / 4096) * 4096)) != 4096)
			abort();
	printf("host_rand_read_iops %.0f\n", nrand / ((now_ns() - t) / 1e9));
	free(buf);
	close(fd);
}

/* --- net ------------------------------------------------------------------*/

#define ETYPE 0x88b5
#define FRAME 64
static _Atomic int echo_stop;

/* Echoes every ETYPE frame the host side of ifname receives. */
static void *
echo(void *arg)
{
	const char *ifname = arg;
	struct sockaddr_ll a = { 0 }, from;
	uint8_t f[2048], tmp[6];
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	struct pollfd pf;

	a.sll_family = AF_PACKET;
	a.sll_protocol = htons(ETH_P_ALL);
	a.sll_ifindex = (int)if_nametoindex(ifname);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("devbench: packet socket");
		exit(1);
	}
	pf = (struct pollfd){ s, POLLIN, 0 };
	while (!echo_stop) {
		socklen_t fl = sizeof(from);
		ssize_t n;

		if (poll(&pf, 1, 100) != 1)
			continue;
		n = recvfrom(s, f, sizeof(f), 0, (struct sockaddr *)&from, &fl);
		if (n < 14 || from.sll_pkttype == PACKET_OUTGOING ||
		    f[12] != ETYPE >> 8 || f[13] != (ETYPE & 0xff))
			continue;
		memcpy(tmp, f, 6);
		memcpy(f, f + 6, 6);
		memcpy(f + 6, tmp, 6);
		if (send(s, f, (size_t)n, 0) != n)
			perror("devbench: echo send");
	}
	close(s);
	return NULL;
}

static const uint8_t MAC[6] = { 0x02, 0x41, 0x56, 0, 0, 1 };

static void
make_frame(uint8_t *f, unsigned seq)
{
	memcpy(f, "\x02\x48\x4f\x53\x54\x00", 6);
	memcpy(f + 6, MAC, 6);
	f[12] = ETYPE >> 8;
	f[13] = ETYPE & 0xff;
	memset(f + 14, 0, FRAME - 14);
	memcpy(f + 14, &seq, 4);
}

static void
report(const char *what, double *ns, unsigned n)
{
	qsort(ns, n, sizeof(*ns), cmp_double);
	printf("%s_rtt_us %.1f\n%s_rtt_p99_us %.1f\n", what, ns[n / 2] / 1e3,
	       what, ns[n * 99 / 100] / 1e3);
}

static void
net_plain(unsigned n, double *ns)
{
	pthread_t th;
	uint8_t f[FRAME], g[2048];
	bool created;
	char why[200];
	int fd = tapdev_open("avmb0", &created, why, sizeof(why));

	if (fd < 0) {
		fprintf(stderr, "devbench: %s\n", why);
		exit(1);
	}
	echo_stop = 0;
	pthread_create(&th, NULL, echo, "avmb0");
	usleep(100000);
	for (unsigned i = 0; i < n + 100; i++) {
		struct pollfd pf = { fd, POLLIN, 0 };
		double t = now_ns();
		ssize_t r;

		make_frame(f, i);
		if (write(fd, f, FRAME) != FRAME)
			abort();
		do {
			if (poll(&pf, 1, 5000) != 1) {
				fprintf(stderr,
					"devbench: no echo on the tap\n");
				exit(1);
			}
			r = read(fd, g, sizeof(g));
		} while (r < 14 || g[12] != ETYPE >> 8 ||
			 memcmp(g + 14, &i, 4) != 0);
		if (i >= 100)
			ns[i - 100] = now_ns() - t;
	}
	echo_stop = 1;
	pthread_join(th, NULL);
	close(fd);
	report("tap", ns, n);
}

static struct drv_q rxq = { VIRTIO_NET_RXQ, 64, 0, 0x1000, 0x2000, 0x3000 };
static struct drv_q txq = { VIRTIO_NET_TXQ, 64, 0, 0x4000, 0x5000, 0x6000 };
#define RXBUF 0x10000ull
#define TXBUF 0x80000ull

static void
rx_give(uint16_t k)
{
	drv_desc(rxq.desc, k, RXBUF + 2048 * (uint64_t)k, 2048,
		 VIRTQ_DESC_F_WRITE, 0);
	drvq_submit(&d, &rxq, k, 1);
}

static void
net_device(unsigned n, double *ns)
{
	struct vnet_cfg cfg = { 0 };
	struct vnet *v;
	pthread_t th;
	bool created;
	char why[200];

	cfg.fd = tapdev_open("avmb1", &created, why, sizeof(why));
	if (cfg.fd < 0) {
		fprintf(stderr, "devbench: %s\n", why);
		exit(1);
	}
	memcpy(cfg.mac, MAC, 6);
	cfg.mem = drv_mem;
	cfg.set_irq = set_irq;
	v = vnet_new(&cfg);
	d.dev = vnet_device(v);
	memset(drv_ram, 0, 0x100000);
	drv_negotiate(&d, (1ull << VIRTIO_F_VERSION_1) |
				  (1ull << VIRTIO_NET_F_MAC));
	drvq_setup(&d, &rxq);
	drvq_setup(&d, &txq);
	drv_w32(&d, VMMIO_STATUS,
		drv_r32(&d, VMMIO_STATUS) | VIRTIO_S_DRIVER_OK);
	for (uint16_t k = 0; k < 32; k++)
		rx_give(k);
	echo_stop = 0;
	pthread_create(&th, NULL, echo, "avmb1");
	usleep(100000);
	for (unsigned i = 0; i < n + 100; i++) {
		uint16_t want = (uint16_t)(drvq_used_idx(&rxq) + 1);
		uint32_t id, len;
		double t = now_ns();

		make_frame(drv_ram + TXBUF + VIRTIO_NET_HDR_SIZE, i);
		memset(drv_ram + TXBUF, 0, VIRTIO_NET_HDR_SIZE);
		drv_desc(txq.desc, 0, TXBUF, VIRTIO_NET_HDR_SIZE + FRAME, 0, 0);
		drvq_submit(&d, &txq, 0, 1);
		while (drvq_used_idx(&rxq) != want)
			wait_irq(&d);
		drvq_used_elem(&rxq, (uint16_t)(want - 1), &id, &len);
		if (len != VIRTIO_NET_HDR_SIZE + FRAME ||
		    memcmp(drv_ram + RXBUF + 2048 * (uint64_t)id +
				   VIRTIO_NET_HDR_SIZE + 14,
			   &i, 4) != 0) {
			fprintf(stderr, "devbench: echo %u wrong\n", i);
			exit(1);
		}
		if (i >= 100)
			ns[i - 100] = now_ns() - t;
		rx_give((uint16_t)id);
	}
	echo_stop = 1;
	pthread_join(th, NULL);
	d.dev->ops->free(d.dev);
	report("dev", ns, n);
}

int
main(int argc, char **argv)
{
	irq_efd = eventfd(0, EFD_CLOEXEC);
	if (argc == 3 && !strcmp(argv[1], "blk")) {
		struct stat st;

		if (stat(argv[2], &st) < 0) {
			perror(argv[2]);
			return 1;
		}
		blk_host(argv[2], (uint64_t)st.st_size, 2000);
		blk_device(argv[2], (uint64_t)st.st_size, 2000);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "net")) {
		unsigned n = 2000;
		double *ns = calloc(n, sizeof(*ns));
		int fd;

		if (unshare(CLONE_NEWNET) < 0) {
			perror("devbench: a network namespace (root?)");
			return 1;
		}
		fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6",
			  O_WRONLY);
		if (fd >= 0) {
			if (write(fd, "1", 1) < 0) {
			}
			close(fd);
		}
		net_plain(n, ns);
		net_device(n, ns);
		free(ns);
		return 0;
	}
	fprintf(stderr, "usage: devbench blk IMAGE | devbench net\n");
	return 64;
}
