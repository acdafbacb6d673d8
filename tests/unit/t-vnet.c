/*
 * virtio-net (cmd/avm-run/dev/virtio-net.c) on a real tap device, driven
 * as a guest driver would over a fake guest RAM, with the host's side of
 * the tap read and written through a packet socket, as a bridge or a
 * program on the host would.  Runs in a network namespace of its own
 * (root: CI is), so nothing it sends leaves this process's namespace.
 *
 * Transmit: frames in one or several descriptors reach the tap whole;
 * chains too short are dropped and the card goes on.  Receive: frames
 * from the host land in the guest's buffers with the header; frames wait
 * in the tap while the guest has no buffers; one too large for the
 * buffer at the head is dropped, the buffer kept.  Save holds receive
 * until resume; restore takes the saved MAC.  Reset.  The tap: names,
 * created and removed, one already there left as it was, in use, not a
 * tap, down.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../cmd/avm-run/dev/tapdev.h"
#include "../../cmd/avm-run/dev/virtio-net.h"
#include "devsave.h"
#include "tap.h"
#include "virtio-drv.h"

#define TAPNAME "avmt0"
#define ETYPE 0x88b5 /* IEEE local experimental: nothing else sends it */
#define ACCEPT                                                       \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC) | \
	 (1ull << VIRTIO_NET_F_STATUS))

static const uint8_t MAC[6] = { 0x02, 0x41, 0x56, 0x00, 0x00, 0x01 };

static _Atomic int irq_level;
static char logged[4][200];
static _Atomic int nlogged;

static void
set_irq(void *opaque, int level)
{
	(void)opaque;
	irq_level = level;
}

static void
logf_(void *opaque, const char *msg)
{
	int i = nlogged;

	(void)opaque;
	if (i < 4) {
		snprintf(logged[i], sizeof(logged[i]), "%s", msg);
		nlogged = i + 1;
	}
}

static struct drv d;
static struct drv_q rxq = { VIRTIO_NET_RXQ, 32, 0, 0x1000, 0x2000, 0x3000 };
static struct drv_q txq = { VIRTIO_NET_TXQ, 16, 0, 0x4000, 0x5000, 0x6000 };
static int pkt = -1; /* the host's packet socket on the tap */

#define RXBUF 0x10000ull /* receive buffers: 2 KiB apart */
#define TXBUF 0x40000ull /* frames to send */

static struct vnet *
open_card(const char *name, bool *created)
{
	struct vnet_cfg cfg = { 0 };
	char why[200];

	cfg.fd = tapdev_open(name, created, why, sizeof(why));
	if (cfg.fd < 0) {
		printf("# %s\n", why);
		return NULL;
	}
	memcpy(cfg.mac, MAC, 6);
	cfg.mem = drv_mem;
	cfg.set_irq = set_irq;
	cfg.log = logf_;
	return vnet_new(&cfg);
}

/* Negotiation, both queues, DRIVER_OK; returns the status. */
static uint32_t
start(struct vnet *v)
{
	uint32_t s;

	d.dev = vnet_device(v);
	memset(drv_ram, 0, sizeof(drv_ram));
	s = drv_negotiate(&d, ACCEPT);
	drvq_setup(&d, &rxq);
	drvq_setup(&d, &txq);
	drv_w32(&d, VMMIO_STATUS, s | VIRTIO_S_DRIVER_OK);
	return drv_r32(&d, VMMIO_STATUS);
}

static int
packet_socket(const char *name)
{
	struct sockaddr_ll a = { 0 };
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

	if (s < 0)
		return -1;
	a.sll_family = AF_PACKET;
	a.sll_protocol = htons(ETH_P_ALL);
	a.sll_ifindex = (int)if_nametoindex(name);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

/* A frame of len bytes (>= 20): to us, from the host, ETYPE, a pattern
 * of seed. */
static void
frame(uint8_t *p, size_t len, unsigned seed)
{
	memcpy(p, MAC, 6);
	memcpy(p + 6, "\x02\x48\x4f\x53\x54\x00", 6);
	p[12] = ETYPE >> 8;
	p[13] = ETYPE & 0xff;
	for (size_t i = 14; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i);
}

/* The next ETYPE frame the tap's host side received (not one it sent),
 * within ms; its length, or -1. */
static ssize_t
host_recv(uint8_t *buf, size_t cap, int ms)
{
	struct sockaddr_ll from;
	socklen_t fl;
	struct pollfd pf = { pkt, POLLIN, 0 };
	ssize_t n;

	while (poll(&pf, 1, ms) == 1) {
		fl = sizeof(from);
		n = recvfrom(pkt, buf, cap, 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return -1;
		if (from.sll_pkttype == PACKET_OUTGOING || n < 14 ||
		    buf[12] != ETYPE >> 8 || buf[13] != (ETYPE & 0xff))
			continue;
		return n;
	}
	return -1;
}

static int
host_send(const uint8_t *f, size_t len)
{
	return send(pkt, f, len, 0) == (ssize_t)len ? 0 : -1;
}

/* TX chain at TXBUF: the header and frame f over descriptors of seg
 * bytes each (the header counts as bytes of the chain). */
static uint16_t
tx_chain(const uint8_t *f, size_t len, size_t seg)
{
	size_t total = VIRTIO_NET_HDR_SIZE + len;
	uint16_t i = 0;

	memset(drv_ram + TXBUF, 0, VIRTIO_NET_HDR_SIZE);
	memcpy(drv_ram + TXBUF + VIRTIO_NET_HDR_SIZE, f, len);
	for (size_t off = 0; off < total; off += seg, i++) {
		size_t l = total - off < seg ? total - off : seg;

		drv_desc(txq.desc, i, TXBUF + off, (uint32_t)l,
			 off + l < total ? VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	}
	return 0;
}

/* Receive buffer k (descriptors 2k, 2k+1): a 12-byte header descriptor
 * then size bytes, as Linux's older drivers lay them out; or one of
 * 12 + size when split is 0. */
static void
rx_post(uint16_t k, uint32_t size, int split, int notify)
{
	uint64_t at = RXBUF + 0x800 * (uint64_t)k;
	uint16_t h = (uint16_t)(2 * k);

	memset(drv_ram + at, 0xee, 0x800);
	if (split) {
		drv_desc(rxq.desc, h, at, VIRTIO_NET_HDR_SIZE,
			 VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
			 (uint16_t)(h + 1));
		drv_desc(rxq.desc, (uint16_t)(h + 1), at + VIRTIO_NET_HDR_SIZE,
			 size, VIRTQ_DESC_F_WRITE, 0);
	} else {
		drv_desc(rxq.desc, h, at, VIRTIO_NET_HDR_SIZE + size,
			 VIRTQ_DESC_F_WRITE, 0);
	}
	drvq_submit(&d, &rxq, h, notify);
}

/* used entry i of rx: the buffer it names holds header + f? */
static int
rx_check(uint16_t i, const uint8_t *f, size_t len)
{
	uint32_t id, used;
	uint8_t *b;
	static const uint8_t hdr[VIRTIO_NET_HDR_SIZE] = { [10] = 1 };

	drvq_used_elem(&rxq, i, &id, &used);
	if (used != VIRTIO_NET_HDR_SIZE + len || id % 2 || id >= rxq.num) {
		printf("#   used entry %u: id %u len %u\n", i, id, used);
		return 0;
	}
	b = drv_ram + RXBUF + 0x800 * (uint64_t)(id / 2);
	return !memcmp(b, hdr, sizeof(hdr)) &&
	       !memcmp(b + VIRTIO_NET_HDR_SIZE, f, len) &&
	       b[VIRTIO_NET_HDR_SIZE + len] == 0xee;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* --- tests ---------------------------------------------------------------*/

static void
test_config(struct vnet *v)
{
	uint8_t cfg[VIRTIO_NET_CONFIG_SIZE];
	uint64_t f;

	d.dev = vnet_device(v);
	is_int(drv_r32(&d, VMMIO_DEVICE_ID), VIRTIO_ID_NET, "device id 1");
	f = drv_features(&d);
	ok(f >> VIRTIO_NET_F_MAC & 1 && f >> VIRTIO_NET_F_STATUS & 1 &&
		   f >> VIRTIO_F_VERSION_1 & 1,
	   "MAC, STATUS and VERSION_1 offered");
	ok(!(f & 0xffffull & ~(1ull << VIRTIO_NET_F_MAC)) && !(f >> 17 & 0x7ff),
	   "no offload, no MRG_RXBUF, no control queue offered");
	for (unsigned i = 0; i < sizeof(cfg); i++)
		d.dev->ops->mmio_read(d.dev, NULL, VMMIO_CONFIG + i, &cfg[i],
				      1);
	ok(!memcmp(cfg, MAC, 6), "config: the MAC, byte by byte");
	is_int(cfg[6] | cfg[7] << 8, VIRTIO_NET_S_LINK_UP, "config: link up");
	drv_w32(&d, VMMIO_QUEUE_SEL, 1);
	is_int(drv_r32(&d, VMMIO_QUEUE_NUM_MAX), VIRTIO_NET_QUEUE_MAX,
	       "transmit queue offered");
	drv_w32(&d, VMMIO_QUEUE_SEL, 2);
	is_int(drv_r32(&d, VMMIO_QUEUE_NUM_MAX), 0, "no third queue");
}

static void
test_tx(struct vnet *v)
{
	uint8_t f[1514], got[2048];
	struct vnet_counts c;
	uint32_t id, len;
	ssize_t n;
	size_t sizes[] = { 60, 1514, 200 };
	size_t segs[] = { 2048, 100, 20 }; /* 20: 11 of the 16 */

	is_int(start(v) & VIRTIO_S_DRIVER_OK, VIRTIO_S_DRIVER_OK,
	       "driver OK with both queues");
	for (unsigned k = 0; k < 3; k++) {
		frame(f, sizes[k], k);
		tx_chain(f, sizes[k], segs[k]);
		irq_level = 0;
		drvq_submit(&d, &txq, 0, 1);
		ok(drvq_wait_used(&txq, (uint16_t)(k + 1)),
		   "frame %u (%zu bytes in descriptors of %zu) given back", k,
		   sizes[k], segs[k]);
		drvq_used_elem(&txq, (uint16_t)k, &id, &len);
		ok(id == 0 && len == 0, "used: head 0, length 0");
		ok(irq_level == 1 && drv_r32(&d, VMMIO_INTERRUPT_STATUS) &
					     VMMIO_INT_VRING,
		   "used-buffer interrupt");
		drv_w32(&d, VMMIO_INTERRUPT_ACK, VMMIO_INT_VRING);
		n = host_recv(got, sizeof(got), 2000);
		ok(n == (ssize_t)sizes[k] && !memcmp(got, f, sizes[k]),
		   "the host reads the frame whole, without the header (%zd "
		   "bytes)",
		   n);
	}
	vnet_counts(v, &c);
	ok(c.tx_frames == 3 && c.tx_bytes == 60 + 1514 + 200 && !c.tx_dropped,
	   "counted: 3 frames sent, their bytes");
}

static void
test_tx_bad(struct vnet *v)
{
	uint8_t f[100], got[2048];
	struct vnet_counts c;
	uint32_t id, len;
	uint16_t u = drvq_used_idx(&txq);

	nlogged = 0;
	/* 12 + 13 bytes: less than an Ethernet header. */
	frame(f, sizeof(f), 9);
	tx_chain(f, 13, 4096);
	drvq_submit(&d, &txq, 0, 1);
	ok(drvq_wait_used(&txq, (uint16_t)(u + 1)),
	   "a chain shorter than two headers is given back");
	drvq_used_elem(&txq, u, &id, &len);
	is_int(len, 0, "with length 0");
	ok(host_recv(f, sizeof(f), 200) < 0, "and nothing reaches the host");
	ok(nlogged == 1 && strstr(logged[0], "shorter than a header"),
	   "said once: %s", logged[0]);
	vnet_counts(v, &c);
	is_int(c.tx_dropped, 1, "counted as dropped");
	frame(f, sizeof(f), 10);
	tx_chain(f, sizeof(f), 4096);
	drvq_submit(&d, &txq, 0, 1);
	drvq_wait_used(&txq, (uint16_t)(u + 2));
	ok(host_recv(got, sizeof(got), 2000) == sizeof(f) &&
		   !memcmp(got, f, sizeof(f)),
	   "the next frame goes out");
	ok(!(drv_r32(&d, VMMIO_STATUS) & VIRTIO_S_NEEDS_RESET),
	   "the card never needed a reset");
}

static void
test_rx(struct vnet *v)
{
	uint8_t f[3][1514];
	size_t sizes[] = { 60, 1514, 333 };
	struct vnet_counts c0, c;
	uint16_t u = drvq_used_idx(&rxq);

	vnet_counts(v, &c0);
	for (uint16_t k = 0; k < 4; k++)
		rx_post(k, 1518, k % 2, k == 3);
	for (unsigned k = 0; k < 3; k++) {
		frame(f[k], sizes[k], 20 + k);
		ok(host_send(f[k], sizes[k]) == 0, "host sends %zu bytes",
		   sizes[k]);
	}
	ok(drvq_wait_used(&rxq, (uint16_t)(u + 3)), "three frames received");
	for (unsigned k = 0; k < 3; k++)
		ok(rx_check((uint16_t)(u + k), f[k], sizes[k]),
		   "frame %u in order: header (num_buffers 1) and bytes, "
		   "nothing past them",
		   k);
	vnet_counts(v, &c);
	ok(c.rx_frames - c0.rx_frames == 3 &&
		   c.rx_bytes - c0.rx_bytes == 60 + 1514 + 333,
	   "counted: 3 frames received");
	/* One buffer is left (k = 3): fill it, then two more must wait. */
	frame(f[0], 100, 30);
	host_send(f[0], 100);
	ok(drvq_wait_used(&rxq, (uint16_t)(u + 4)), "the fourth buffer");
	frame(f[1], 101, 31);
	frame(f[2], 102, 32);
	host_send(f[1], 101);
	host_send(f[2], 102);
	sleep_ms(200);
	is_int(drvq_used_idx(&rxq), (uint16_t)(u + 4),
	       "no buffer: frames wait, nothing is written");
	rx_post(4, 1518, 0, 0);
	rx_post(5, 1518, 1, 1);
	ok(drvq_wait_used(&rxq, (uint16_t)(u + 6)),
	   "new buffers and a notification: both waiting frames come");
	ok(rx_check((uint16_t)(u + 4), f[1], 101) &&
		   rx_check((uint16_t)(u + 5), f[2], 102),
	   "whole and in order");
}

static void
test_rx_small(struct vnet *v)
{
	uint8_t f[300], g[50];
	struct vnet_counts c0, c;
	uint16_t u = drvq_used_idx(&rxq);

	vnet_counts(v, &c0);
	nlogged = 0;
	rx_post(6, 60, 0, 0);	/* 12 + 60 bytes */
	rx_post(7, 1518, 0, 1); /* then a large one */
	frame(f, sizeof(f), 40);
	host_send(f, sizeof(f));
	sleep_ms(200);
	is_int(drvq_used_idx(&rxq), u,
	       "a frame larger than the buffer at the head: not delivered");
	vnet_counts(v, &c);
	is_int(c.rx_dropped - c0.rx_dropped, 1, "it is dropped and counted");
	ok(nlogged == 1 && strstr(logged[0], "does not fit"), "said: %s",
	   logged[0]);
	frame(g, sizeof(g), 41);
	host_send(g, sizeof(g));
	ok(drvq_wait_used(&rxq, (uint16_t)(u + 1)) && rx_check(u, g, sizeof(g)),
	   "the small buffer was kept: the next frame that fits is in it");
	host_send(f, sizeof(f));
	ok(drvq_wait_used(&rxq, (uint16_t)(u + 2)) &&
		   rx_check((uint16_t)(u + 1), f, sizeof(f)),
	   "then the large buffer takes a large frame");
}

/*
 * A frame longer than 65535 bytes from the tap: a tap's MTU goes up to
 * 65521, and a packet socket may send 4 bytes more for a VLAN tag; the
 * tap's read then says the frame's whole length though it filled only
 * the buffer.  The card drops it, whatever the guest's buffer.
 */
static void
test_rx_long(struct vnet *v)
{
	static uint8_t f[65539];
	struct ifreq ifr = { 0 };
	struct vnet_counts c0, c;
	uint16_t u = drvq_used_idx(&rxq);
	uint32_t id, len;
	uint8_t g[100];
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), TAPNAME);
	ifr.ifr_mtu = 65521;
	ok(s >= 0 && ioctl(s, SIOCSIFMTU, &ifr) == 0, "the tap's MTU 65521");
	if (s >= 0)
		close(s);
	vnet_counts(v, &c0);
	/* One buffer for 12 + 65600 bytes, past the 2 KiB ones. */
	drv_desc(rxq.desc, 20, 0x80000, VIRTIO_NET_HDR_SIZE + 65600,
		 VIRTQ_DESC_F_WRITE, 0);
	drvq_submit(&d, &rxq, 20, 1);
	frame(f, sizeof(f), 45);
	f[12] = 0x81; /* 802.1Q: the 4 bytes beyond MTU + 14 allowed */
	f[13] = 0x00;
	ok(host_send(f, sizeof(f)) == 0, "the host sends 65539 bytes");
	sleep_ms(200);
	vnet_counts(v, &c);
	is_int(drvq_used_idx(&rxq), u, "a frame over 65535 bytes: not given");
	is_int(c.rx_dropped - c0.rx_dropped, 1, "it is dropped and counted");
	frame(g, sizeof(g), 46);
	host_send(g, sizeof(g));
	ok(drvq_wait_used(&rxq, (uint16_t)(u + 1)), "the next frame comes");
	drvq_used_elem(&rxq, u, &id, &len);
	if (!ok(id == 20 && len == VIRTIO_NET_HDR_SIZE + sizeof(g) &&
			!memcmp(drv_ram + 0x80000 + VIRTIO_NET_HDR_SIZE, g,
				sizeof(g)),
		"into the large buffer, whole"))
		printf("#   used: id %u len %u\n", id, len);
}

static void
test_save_restore(struct vnet *v)
{
	uint8_t st[DEVSTATE_MAX], f[64], got[128];
	struct device *dev = vnet_device(v), *d2;
	struct vnet *w;
	uint16_t u = drvq_used_idx(&rxq), t = drvq_used_idx(&txq);
	char why[200];
	ssize_t n;
	bool created;

	rx_post(8, 1518, 0, 1);
	n = dev->ops->save(dev, st, sizeof(st));
	is_int(n, 120, "state: 120 bytes");
	is_int(st[0] | st[1] << 8, 1, "layout version 1");
	ok(!memcmp(st + 4, MAC, 6), "the MAC in the state");
	frame(f, sizeof(f), 50);
	host_send(f, sizeof(f));
	sleep_ms(200);
	is_int(drvq_used_idx(&rxq), u,
	       "after save, receive holds (guest memory does not move)");
	dev->ops->resume(dev);
	ok(drvq_wait_used(&rxq, (uint16_t)(u + 1)) && rx_check(u, f, sizeof(f)),
	   "resume: the held frame comes");

	/* A second card restored from the state: the same rings. */
	n = dev->ops->save(dev, st, sizeof(st));
	dev->ops->resume(dev);
	w = open_card("avmt1", &created);
	d2 = vnet_device(w);
	{
		uint8_t bad[DEVSTATE_MAX];

		memcpy(bad, st, (size_t)n);
		bad[10] = 1;
		ok(d2->ops->restore(d2, bad, (size_t)n, why, sizeof(why)) < 0 &&
			   strstr(why, "reserved"),
		   "restore refuses reserved bytes: %s", why);
		ok(d2->ops->restore(d2, st, (size_t)n - 1, why, sizeof(why)) <
			   0,
		   "and a short state: %s", why);
	}
	ok(d2->ops->restore(d2, st, (size_t)n, why, sizeof(why)) == 0,
	   "restore on a new card");
	{
		uint8_t m[6];
		struct drv e = { d2, 0, 0 };

		for (unsigned i = 0; i < 6; i++)
			d2->ops->mmio_read(d2, NULL, VMMIO_CONFIG + i, &m[i],
					   1);
		ok(!memcmp(m, MAC, 6), "the restored card has the saved MAC");
		is_int(drv_r32(&e, VMMIO_STATUS) & 0xf, 0xf,
		       "and the driver's status");
	}
	/* The old card leaves; the new one sends on the same ring. */
	dev->ops->free(dev);
	close(pkt);
	pkt = packet_socket("avmt1");
	d.dev = d2;
	frame(f, sizeof(f), 51);
	tx_chain(f, sizeof(f), 4096);
	drvq_submit(&d, &txq, 0, 1);
	ok(drvq_wait_used(&txq, (uint16_t)(t + 1)) &&
		   host_recv(got, sizeof(got), 2000) == sizeof(f) &&
		   !memcmp(got, f, sizeof(f)),
	   "the restored card transmits from where the state left off");
	d2->ops->free(d2);
	ok(if_nametoindex("avmt1") == 0 && if_nametoindex(TAPNAME) == 0,
	   "the taps the cards made are gone with them");
}

static void
test_reset(void)
{
	bool created;
	struct vnet *v = open_card(TAPNAME, &created);
	uint8_t f[80];

	close(pkt);
	pkt = packet_socket(TAPNAME);
	start(v);
	rx_post(0, 1518, 0, 1);
	drv_w32(&d, VMMIO_STATUS, 0);
	is_int(drv_r32(&d, VMMIO_STATUS), 0, "reset");
	frame(f, sizeof(f), 60);
	host_send(f, sizeof(f));
	sleep_ms(200);
	is_int(drvq_used_idx(&rxq), 0,
	       "after a reset the card writes nothing into the old rings");
	start(v);
	rx_post(0, 1518, 0, 1);
	ok(drvq_wait_used(&rxq, 1) && rx_check(0, f, sizeof(f)),
	   "set up again: the frame that waited in the tap comes");

	/* Stop (avm-run's end, before the vCPUs go): nothing more moves. */
	rx_post(1, 1518, 0, 1);
	vnet_drain(v);
	drv_w32(&d, VMMIO_INTERRUPT_ACK, drv_r32(&d, VMMIO_INTERRUPT_STATUS));
	irq_level = 0;
	vnet_device(v)->ops->stop(vnet_device(v));
	vnet_device(v)->ops->stop(vnet_device(v));
	frame(f, sizeof(f), 61);
	host_send(f, sizeof(f));
	tx_chain(f, sizeof(f), 4096);
	drvq_submit(&d, &txq, 0, 1);
	sleep_ms(200);
	ok(drvq_used_idx(&rxq) == 1 && drvq_used_idx(&txq) == 0 &&
		   irq_level == 0,
	   "stopped (twice): a frame from the host and one to send stay, "
	   "no interrupt");
	ok(host_recv(f, sizeof(f), 100) < 0, "nothing reaches the host");
	drv_w32(&d, VMMIO_STATUS, 0);
	is_int(drv_r32(&d, VMMIO_STATUS), 0, "a reset after the stop returns");
	vnet_device(v)->ops->free(vnet_device(v));
}

/*
 * The host floods the card while the guest's only buffer is too small,
 * so that every frame is dropped and the tap never runs dry: save, and
 * then the card's end, still come at once (a card that read until the
 * tap was empty held both until the flood stopped; at the VM's end,
 * avm-run could not exit).  The card's fd is one end of a SOCK_SEQPACKET
 * pair here, a frame a message as on a tap, so the flood is ours alone;
 * its guest RAM is slow to reach while the flood lasts (as a page the
 * pager must fetch first), so that the flood outruns the card.
 */
static _Atomic int flooding;

static void *
slow_ptr(void *opaque, uint64_t gpa, uint64_t len)
{
	struct timespec us20 = { 0, 20000 };

	if (flooding)
		nanosleep(&us20, NULL);
	return drv_ptr(opaque, gpa, len);
}

static void *
flood(void *arg)
{
	int fd = *(int *)arg;
	uint8_t f[60];

	frame(f, sizeof(f), 80);
	while (flooding)
		if (send(fd, f, sizeof(f), MSG_DONTWAIT) < 0 && errno != EAGAIN)
			break;
	return NULL;
}

struct op_call {
	struct device *dev;
	int free;
	_Atomic int done;
};

static void *
op_thread(void *arg)
{
	static uint8_t st[DEVSTATE_MAX];
	struct op_call *c = arg;

	if (c->free)
		c->dev->ops->free(c->dev);
	else
		c->dev->ops->save(c->dev, st, sizeof(st));
	c->done = 1;
	return NULL;
}

/* Runs save or free on a thread of its own; 1 when it returned in 2 s
 * (the thread is joined in any case, once the flood is stopped). */
static int
op_returns(struct op_call *c, pthread_t *t)
{
	c->done = 0;
	if (pthread_create(t, NULL, op_thread, c) != 0)
		return 0;
	for (int i = 0; i < 2000 && !c->done; i++)
		sleep_ms(1);
	return c->done;
}

static void
test_rx_flood(void)
{
	struct vnet_cfg cfg = { .mem = { slow_ptr, NULL }, .set_irq = set_irq };
	struct vnet_counts c;
	struct op_call call;
	pthread_t ft, ot;
	struct vnet *v;
	int sv[2], r;

	if (!ok(socketpair(AF_UNIX,
			   SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
			   sv) == 0,
		"a frame pipe for the card"))
		return;
	memcpy(cfg.mac, MAC, 6);
	cfg.fd = sv[0];
	v = vnet_new(&cfg);
	start(v);
	rx_post(0, 10, 0, 1); /* 12 + 10 bytes: no frame fits */
	flooding = 1;
	pthread_create(&ft, NULL, flood, &sv[1]);
	for (int i = 0; i < 5000; i++) {
		vnet_counts(v, &c);
		if (c.rx_dropped >= 1000)
			break;
		sleep_ms(1);
	}
	ok(c.rx_dropped >= 1000, "flooded: %llu frames dropped",
	   (unsigned long long)c.rx_dropped);
	call = (struct op_call){ vnet_device(v), 0, 0 };
	r = op_returns(&call, &ot);
	ok(r, "save returns while the flood goes on");
	if (r) {
		pthread_join(ot, NULL);
		vnet_device(v)->ops->resume(vnet_device(v));
		call = (struct op_call){ vnet_device(v), 1, 0 };
		ok(op_returns(&call, &ot), "and so does the card's end");
	}
	flooding = 0;
	pthread_join(ft, NULL);
	pthread_join(ot, NULL);
	if (!r)
		vnet_device(v)->ops->free(vnet_device(v));
	close(sv[1]);
}

static void
test_tapdev(void)
{
	char why[200], name[40];
	bool created;
	int fd, fd2, p;
	short flags;

	ok(tapdev_name_ok("tap-avm.0_1", why, sizeof(why)) == 0,
	   "a name of letters, digits, '-', '.', '_'");
	memset(name, 'a', 16);
	name[16] = 0;
	ok(tapdev_name_ok(name, why, sizeof(why)) < 0 && strstr(why, "16"),
	   "16 bytes refused: %s", why);
	name[15] = 0;
	ok(tapdev_name_ok(name, why, sizeof(why)) == 0, "15 bytes taken");
	ok(tapdev_name_ok("", why, sizeof(why)) < 0, "empty refused");
	ok(tapdev_name_ok("a/b", why, sizeof(why)) < 0 &&
		   tapdev_name_ok("a:b", why, sizeof(why)) < 0 &&
		   tapdev_name_ok("a b", why, sizeof(why)) < 0 &&
		   tapdev_name_ok("..", why, sizeof(why)) < 0,
	   "'/', ':', a space, '..' refused");
	/* The kernel takes a name with '%' as a pattern: "t%d" makes t0. */
	ok(tapdev_name_ok("t%d", why, sizeof(why)) < 0 && strstr(why, "%"),
	   "'%%' refused: %s", why);

	fd = tapdev_open(TAPNAME, &created, why, sizeof(why));
	ok(fd >= 0 && created, "a missing tap is created");
	is_int(tapdev_is_up(TAPNAME), 1, "and brought up");
	is_int(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC, "close-on-exec");
	ok(fcntl(fd, F_GETFL) & O_NONBLOCK, "non-blocking");
	fd2 = tapdev_open(TAPNAME, &created, why, sizeof(why));
	ok(fd2 < 0 && errno == EBUSY && strstr(why, "in use"),
	   "a second open: EBUSY, %s", why);
	close(fd);
	ok(if_nametoindex(TAPNAME) == 0, "closed: the tap is gone");

	fd2 = tapdev_open("lo", &created, why, sizeof(why));
	ok(fd2 < 0 && errno == EINVAL && strstr(why, "not a tap"), "lo: %s",
	   why);

	/* One made by the operator (persistent, down): used as it is. */
	p = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	{
		struct ifreq ifr = { 0 };

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "avmp0");
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
		ok(p >= 0 && ioctl(p, TUNSETIFF, &ifr) == 0 &&
			   ioctl(p, TUNSETPERSIST, 1) == 0,
		   "an operator's persistent tap");
		close(p);
	}
	fd = tapdev_open("avmp0", &created, why, sizeof(why));
	ok(fd >= 0 && !created, "opened, not created");
	is_int(tapdev_is_up("avmp0"), 0, "left down as it was");
	{
		struct vnet_cfg cfg = { .fd = fd, .mem = drv_mem };
		struct vnet *v;
		uint8_t f[60];

		cfg.set_irq = set_irq;
		cfg.log = logf_;
		nlogged = 0;
		v = vnet_new(&cfg);
		start(v);
		frame(f, sizeof(f), 70);
		tx_chain(f, sizeof(f), 4096);
		drvq_submit(&d, &txq, 0, 1);
		ok(drvq_wait_used(&txq, 1) && nlogged == 1 &&
			   strstr(logged[0], "down"),
		   "a frame sent to a down tap is given back: %s", logged[0]);
		{
			struct vnet_counts c;

			vnet_counts(v, &c);
			is_int(c.tx_dropped, 1, "and counted dropped");
		}
		vnet_device(v)->ops->free(vnet_device(v));
	}
	ok(if_nametoindex("avmp0") != 0, "the operator's tap stays");
	(void)flags;
}

int
main(void)
{
	struct vnet *v;
	bool created;
	int fd;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		ok(0, "# SKIP a network namespace of our own needs root");
		return done_testing();
	}
	/* No IPv6 chatter (router solicitations, DAD) on new interfaces. */
	fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0) {
		}
		close(fd);
	}
	test_tapdev();
	v = open_card(TAPNAME, &created);
	if (!ok(v != NULL, "a card on a new tap"))
		return done_testing();
	pkt = packet_socket(TAPNAME);
	ok(pkt >= 0, "the host's packet socket on the tap");
	test_config(v);
	test_tx(v);
	test_tx_bad(v);
	test_rx(v);
	test_rx_small(v);
	test_rx_long(v);
	test_save_restore(v);
	test_reset();
	test_rx_flood();
	return done_testing();
}
