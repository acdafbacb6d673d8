/*
 * A minimal virtio-net driver (virtio 1.x over virtio-mmio, polling, no
 * interrupts) for avm-run's card 0 at 0xd0008000: CPU 0 sets the card up
 * (VERSION_1 and MAC only) and prints its MAC; then the last CPU (on
 * the last node of an aggregated VM) posts receive buffers, sends one
 * broadcast frame of ethertype 0x88b5 with the payload "avm-kit ping cpu
 * K" and waits for a frame of that ethertype whose payload starts with
 * "avm-host pong" (tests/helpers/avm-tapecho answers so on the host's
 * side of the tap, tests/e2e/36-net.bats).  Other frames (the host's
 * IPv6 chatter) are given back to the card unread.
 *
 * timeout=SECONDS (default 20): how long the last CPU waits for the
 * answer.  mmio=ADDR: the card's register page, for another VMM (QEMU's
 * microvm puts its virtio-mmio transports at 0xfeb00000 + i * 0x200).
 * num_buffers=N: the value each received header must carry, 1 as the
 * spec says without VIRTIO_NET_F_MRG_RXBUF (QEMU before 2025 writes 0).
 */
#include "kit.h"
#include "virtio.h"

KIT_PROGRAM("virtio-net");

#define BASE_AVM 0xd0008000ull /* avm-run's card 0 */

#define F_MAC 5	      /* in the low word */
#define F_VERSION_1 0 /* bit 32: in the high word */

#define RXQ 0
#define TXQ 1
#define QNUM 8
#define RXBUF 2048 /* a 12-byte header and a 1514-byte frame fit */
#define HDR 12	   /* struct virtio_net_hdr, num_buffers included */
#define ETH_HLEN 14
#define ETHERTYPE 0x88b5 /* IEEE local experimental */

/* Split virtqueue rings (virtio 1.x 2.7): avail is flags, idx, ring[]
 * and used_event; used is flags, idx, {id, len}[] and avail_event. */
struct vq {
	struct desc desc[QNUM] __attribute__((aligned(4096)));
	volatile uint16_t avail[2 + QNUM + 1] __attribute__((aligned(64)));
	volatile uint32_t used[1 + 2 * QNUM + 1] __attribute__((aligned(64)));
	uint16_t avail_idx; /* the driver's next avail->idx */
	uint16_t used_seen; /* used entries taken so far */
};

static struct vq vq[2];
static uint8_t rxbuf[QNUM][RXBUF] __attribute__((aligned(4096)));
static uint8_t txhdr[HDR] __attribute__((aligned(64)));
static uint8_t txframe[128] __attribute__((aligned(64)));
static uint8_t mac[6];
static volatile uint32_t done;
static uint64_t base = BASE_AVM;
static uint64_t num_buffers = 1;

static inline uint32_t
rd(uint64_t off)
{
	return *(volatile uint32_t *)(uintptr_t)(base + off);
}

static inline uint8_t
rd8(uint64_t off)
{
	return *(volatile uint8_t *)(uintptr_t)(base + off);
}

static inline void
wr(uint64_t off, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(base + off) = v;
}

static void
wr64(uint64_t lo, uint64_t v)
{
	wr(lo, (uint32_t)v);
	wr(lo + 4, (uint32_t)(v >> 32));
}

static void
queue_setup(unsigned qi)
{
	struct vq *q = &vq[qi];

	wr(R_QUEUE_SEL, qi);
	if (rd(R_QUEUE_NUM_MAX) < QNUM)
		kit_fail("queue %u: max %u below %u", qi, rd(R_QUEUE_NUM_MAX),
			 QNUM);
	wr(R_QUEUE_NUM, QNUM);
	wr64(R_DESC_LO, (uintptr_t)q->desc);
	wr64(R_AVAIL_LO, (uintptr_t)q->avail);
	wr64(R_USED_LO, (uintptr_t)q->used);
	wr(R_QUEUE_READY, 1);
	if (rd(R_QUEUE_READY) != 1)
		kit_fail("queue %u: not ready after QueueReady 1", qi);
}

static void
setup(void)
{
	uint32_t f, st;

	if (rd(R_MAGIC) != 0x74726976 || rd(R_VERSION) != 2 ||
	    rd(R_DEVICE_ID) != 1)
		kit_fail("no virtio-net v2 at %#lx (magic %#x version %u id "
			 "%u)",
			 (unsigned long)base, rd(R_MAGIC), rd(R_VERSION),
			 rd(R_DEVICE_ID));
	wr(R_STATUS, 0);
	if (rd(R_STATUS) != 0)
		kit_fail("status %#x after reset", rd(R_STATUS));
	wr(R_STATUS, S_ACK);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DEV_FEAT_SEL, 1);
	if (!(rd(R_DEV_FEAT) & (1u << F_VERSION_1)))
		kit_fail("VIRTIO_F_VERSION_1 not offered");
	wr(R_DEV_FEAT_SEL, 0);
	f = rd(R_DEV_FEAT);
	if (!(f & (1u << F_MAC)))
		kit_fail("VIRTIO_NET_F_MAC not offered (features %#x)", f);
	wr(R_DRV_FEAT_SEL, 0);
	wr(R_DRV_FEAT, 1u << F_MAC);
	wr(R_DRV_FEAT_SEL, 1);
	wr(R_DRV_FEAT, 1u << F_VERSION_1);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(R_STATUS) & S_FEATURES_OK))
		kit_fail("FEATURES_OK refused");
	queue_setup(RXQ);
	queue_setup(TXQ);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	st = rd(R_STATUS);
	if (st != (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK))
		kit_fail("status %#x after DRIVER_OK", st);
	for (unsigned i = 0; i < 6; i++)
		mac[i] = rd8(R_CONFIG + i);
	kit_printf("virtio-net: mac %02x:%02x:%02x:%02x:%02x:%02x\n", mac[0],
		   mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* Puts chain head on queue qi's avail ring and tells the card. */
static void
post(unsigned qi, uint16_t head)
{
	struct vq *q = &vq[qi];

	q->avail[2 + (q->avail_idx % QNUM)] = head;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	q->avail[1] = ++q->avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr(R_QUEUE_NOTIFY, qi);
}

/* used->idx is the high half of the ring's first word. */
static uint16_t
used_idx(unsigned qi)
{
	return (uint16_t)(vq[qi].used[0] >> 16);
}

static void
check_alive(void)
{
	uint32_t st = rd(R_STATUS);

	if (st & S_NEEDS_RESET)
		kit_fail("the card set DEVICE_NEEDS_RESET (status %#x)", st);
}

static void
put16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static size_t
send_ping(unsigned cpu)
{
	struct vq *q = &vq[TXQ];
	int n;

	memset(txframe, 0xff, 6);
	memcpy(txframe + 6, mac, 6);
	put16be(txframe + 12, ETHERTYPE);
	n = kit_snprintf((char *)txframe + ETH_HLEN, sizeof(txframe) - ETH_HLEN,
			 "avm-kit ping cpu %u", cpu);
	memset(txhdr, 0, sizeof(txhdr));
	/* The header and the frame in two descriptors: any layout goes. */
	q->desc[0] = (struct desc){ (uintptr_t)txhdr, HDR, D_NEXT, 1 };
	q->desc[1] = (struct desc){ (uintptr_t)txframe,
				    (uint32_t)(ETH_HLEN + n), 0, 0 };
	post(TXQ, 0);
	KIT_WAIT(used_idx(TXQ) == q->avail_idx, 10000,
		 "cpu %u: the card did not take the frame", cpu);
	q->used_seen = q->avail_idx;
	return ETH_HLEN + (size_t)n;
}

/* Text of len bytes at p, non-printables as '.', into out (NUL-ended). */
static void
printable(char *out, size_t cap, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len && i + 1 < cap; i++)
		out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
	out[i] = 0;
}

/*
 * Takes received frames until one of ETHERTYPE comes, deadline dl;
 * gives every other buffer back.  Puts that frame's payload as text
 * into text and its source into src; returns the frame's length.
 */
static size_t
receive(unsigned cpu, uint64_t dl, uint64_t secs, char *text, size_t cap,
	uint8_t src[6])
{
	struct vq *q = &vq[RXQ];
	unsigned others = 0;

	for (;;) {
		uint32_t id, len, nb;
		const uint8_t *f;
		size_t flen;

		while (used_idx(RXQ) == q->used_seen) {
			if (kit_rdtsc() > dl) {
				check_alive();
				kit_fail_status(KIT_EXIT_TIMEOUT,
						"timeout: cpu %u: no frame of "
						"ethertype %#x in %lu s (%u "
						"others)",
						cpu, ETHERTYPE,
						(unsigned long)secs, others);
			}
			kit_pause();
		}
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		id = q->used[1 + 2 * (q->used_seen % QNUM)];
		len = q->used[2 + 2 * (q->used_seen % QNUM)];
		q->used_seen++;
		if (id >= QNUM)
			kit_fail("cpu %u: receive used id %u, posted 0..%u",
				 cpu, id, QNUM - 1);
		if (len < HDR + ETH_HLEN || len > RXBUF)
			kit_fail("cpu %u: receive used length %u", cpu, len);
		f = rxbuf[id] + HDR;
		flen = len - HDR;
		nb = rxbuf[id][10] | rxbuf[id][11] << 8;
		if (nb != num_buffers)
			kit_fail("cpu %u: num_buffers %u, not %lu", cpu, nb,
				 (unsigned long)num_buffers);
		if ((f[12] << 8 | f[13]) == ETHERTYPE) {
			memcpy(src, f + 6, 6);
			printable(text, cap, f + ETH_HLEN, flen - ETH_HLEN);
			if (memcmp(f, mac, 6) != 0)
				kit_fail("cpu %u: the answer is for "
					 "%02x:%02x:%02x:%02x:%02x:%02x, not "
					 "this card",
					 cpu, f[0], f[1], f[2], f[3], f[4],
					 f[5]);
			return flen;
		}
		others++;
		post(RXQ, (uint16_t)id);
	}
}

static void
ping(unsigned cpu)
{
	uint64_t secs = kit_arg_u64("timeout", 20), dl;
	char want[64], text[256];
	uint8_t src[6];
	size_t sent, got;

	kit_printf("virtio-net: cpu %u node %u\n", cpu, kit_cpus[cpu].node);
	for (unsigned i = 0; i < QNUM; i++) {
		vq[RXQ].desc[i] =
			(struct desc){ (uintptr_t)rxbuf[i], RXBUF, D_WRITE, 0 };
		post(RXQ, (uint16_t)i);
	}
	dl = kit_rdtsc() + kit_us_to_tsc(secs * 1000000);
	sent = send_ping(cpu);
	kit_printf("virtio-net: cpu %u sent %lu bytes: avm-kit ping cpu %u\n",
		   cpu, (unsigned long)sent, cpu);
	got = receive(cpu, dl, secs, text, sizeof(text), src);
	kit_printf("virtio-net: cpu %u got %lu bytes from "
		   "%02x:%02x:%02x:%02x:%02x:%02x: %s\n",
		   cpu, (unsigned long)got, src[0], src[1], src[2], src[3],
		   src[4], src[5], text);
	kit_snprintf(want, sizeof(want), "avm-host pong avm-kit ping cpu %u",
		     cpu);
	if (strncmp(text, "avm-host pong", 13) != 0)
		kit_fail("cpu %u: the answer does not start with 'avm-host "
			 "pong'",
			 cpu);
	if (strncmp(text, want, strlen(want)) != 0)
		kit_fail("cpu %u: the answer is not '%s'", cpu, want);
	check_alive();
	kit_printf("virtio-net: cpu %u: pong received\n", cpu);
}

void
prog_main(unsigned cpu)
{
	unsigned last = kit_ncpus - 1;

	if (cpu == 0) {
		base = kit_arg_u64("mmio", BASE_AVM);
		num_buffers = kit_arg_u64("num_buffers", 1);
		setup();
	}
	kit_barrier();
	if (cpu == last) {
		ping(cpu);
		__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	}
	if (cpu == 0) {
		/* The last CPU's own deadline comes first. */
		KIT_WAIT(__atomic_load_n(&done, __ATOMIC_ACQUIRE),
			 (kit_arg_u64("timeout", 20) + 30) * 1000,
			 "the last cpu did not finish");
		kit_pass();
	}
}
