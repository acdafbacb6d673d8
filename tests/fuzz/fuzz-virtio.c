/*
 * libFuzzer target for virtio-blk and virtio-net over the virtio-mmio
 * transport (cmd/avm-run/dev/virtio-blk.c, virtio-net.c, virtio-mmio.c,
 * virtq.c): the input is a hostile guest driver.  One device, a disk on
 * a memfd image of a few sectors or a network card on one end of a
 * SOCK_SEQPACKET socket pair (a frame a message, as on a tap), over 64
 * KiB of fake guest RAM at GPA 0 with poisoned guard regions on both
 * sides (ASan reports any touch outside it; the device's ptr callback
 * never names anything else).
 *
 * Input: a flags byte (bit 0 read-only disk, bits 1-2 the image size,
 * bit 3 a network card instead of a disk),
 * then an offset and a length (LE16 each) and that many bytes copied into
 * the RAM at that offset, then operations, each an opcode byte and its
 * operands (missing bytes read 0): MMIO reads and writes anywhere in the
 * device's page, bytes into RAM, a whole driver start-up, descriptors,
 * available entries with QueueNotify, device reset, save and restore into
 * a fresh device, and arbitrary bytes to a fresh device's restore.
 *
 * The worker thread: every MMIO write is followed by vblk_drain(), so
 * the requests a notification started are done before the next step and
 * what a run does depends on its input alone.  (Which edges of the
 * worker's wait loop run still depends on timing, a little noise in the
 * coverage; and the race of a reset with a busy worker is t-vblk's to
 * test, not this target's.)  A device costs a thread, so a fresh device
 * that refused a restore is kept as the next fresh one.
 *
 * Seeds (tests/fuzz/seed/fuzz-virtio): a driver writing, reading,
 * flushing, GET_ID, DISCARD and WRITE_ZEROES with a save and restore
 * between (rw), the same with EVENT_IDX on an image with a partial last
 * sector (event-idx), a request through an indirect table (indirect), a
 * read-only disk refusing writes (readonly), a valid state restored from
 * raw bytes then used (raw-state), and every register read and poked
 * (regs).
 *
 * For a network card three operations mean more: a start-up also sets
 * up queue 1 (the transmit queue, its three areas from the input), an
 * available entry names its queue (a byte), and the drain first sends
 * the card a frame of input bytes from the host's end (a length byte,
 * 0: none) and reads back what the card sent, each frame 14 to 65535
 * bytes; vnet_drain waits until the card has taken every frame it has
 * buffers for.  Seed net-rw sends and receives.
 *
 * Checks (abort on failure): magic and version always read back; the
 * interrupt line is high exactly while InterruptStatus is not 0; a reset
 * reads as reset (status, interrupt status, every queue not ready, the
 * line low); save works and what it saved restores into a fresh device
 * and saves back to the same bytes; a restore of any bytes accepts them
 * (and saves them back, the layout being canonical) or refuses with
 * EINVAL/EPROTO, a reason, and the device unchanged; a read-only image is
 * never written and no image changes size.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../cmd/avm-run/bus.h"
#include "../../cmd/avm-run/dev/virtio-blk.h"
#include "../../cmd/avm-run/dev/virtio-mmio.h"
#include "../../cmd/avm-run/dev/virtio-net.h"
#include "../../cmd/avm-run/devstate.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) __asan_poison_memory_region((p), (n))
#endif
#endif
#ifndef POISON
#define POISON(p, n) ((void)(p), (void)(n))
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(cond)                                                           \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "fuzz-virtio: %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                             \
			abort();                                              \
		}                                                             \
	} while (0)

#define RAM_SIZE (64u << 10)
#define MAX_OPS 1024

/* --- guest RAM and image ------------------------------------------------ */

static uint8_t *ram; /* RAM_SIZE bytes between two poisoned guards */

static void *
ram_ptr(void *opaque, uint64_t gpa, uint64_t len)
{
	(void)opaque;
	if (gpa >= RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	return ram + gpa;
}

static const uint64_t img_sizes[4] = { 8 * 512, 8 * 512 + 100, 512, 100 };
static uint8_t img0[8 * 512 + 100]; /* the image's first contents */
static int img_fd = -1;

static void
setup(void)
{
	uint8_t *arena;

	if (ram)
		return;
	arena = aligned_alloc(4096, 3 * RAM_SIZE);
	check(arena);
	POISON(arena, RAM_SIZE);
	POISON(arena + 2 * RAM_SIZE, RAM_SIZE);
	ram = arena + RAM_SIZE;
	for (size_t i = 0; i < sizeof(img0); i++)
		img0[i] = (uint8_t)(i * 7 + i / 512);
	img_fd = memfd_create("fuzz-virtio", 0);
	check(img_fd >= 0);
	/* A worker thread a device: small stacks start and end faster. */
	{
		pthread_attr_t a;

		check(pthread_attr_init(&a) == 0 &&
		      pthread_attr_setstacksize(&a, 256 << 10) == 0 &&
		      pthread_setattr_default_np(&a) == 0);
		pthread_attr_destroy(&a);
	}
}

/* --- one device, and the line it drives --------------------------------- */

struct disk {
	struct vblk *b; /* a disk, or */
	struct vnet *n; /* a network card */
	struct device *dev;
	int line;
	int host; /* the card's: the host's end of its "tap" */
};

static void
set_irq(void *opaque, int level)
{
	struct disk *d = opaque;

	check(level == 0 || level == 1);
	d->line = level;
}

static void
log_msg(void *opaque, const char *msg)
{
	(void)opaque;
	check(msg[0] != '\0' && strlen(msg) < 512);
}

static int ro, net;
static uint64_t img_size;

static void
card_open(struct disk *d)
{
	struct vnet_cfg cfg = {
		.mac = { 2, 0x41, 0x56, 0, 0, 1 },
		.mem = { ram_ptr, NULL },
		.set_irq = set_irq,
		.irq_opaque = d,
		.log = log_msg,
	};
	int sv[2];

	check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
			 0, sv) == 0);
	cfg.fd = sv[0];
	d->host = sv[1];
	d->line = 0;
	d->n = vnet_new(&cfg);
	check(d->n);
	d->dev = vnet_device(d->n);
}

static void
disk_open(struct disk *d)
{
	if (net) {
		card_open(d);
		return;
	}
	struct vblk_cfg cfg = {
		.fd = dup(img_fd),
		.readonly = ro,
		.size = img_size,
		.serial = "fuzz-virtio-serial-longer-than-20",
		.mem = { ram_ptr, NULL },
		.set_irq = set_irq,
		.irq_opaque = d,
		.log = log_msg,
	};

	check(cfg.fd >= 0);
	d->line = 0;
	d->b = vblk_new(&cfg);
	check(d->b);
	d->dev = vblk_device(d->b);
}

static void
disk_close(struct disk *d)
{
	d->dev->ops->free(d->dev);
	if (d->n)
		close(d->host);
	d->b = NULL;
	d->n = NULL;
	d->dev = NULL;
}

static void
drain(struct disk *d)
{
	if (d->n)
		vnet_drain(d->n);
	else
		vblk_drain(d->b);
}

static uint32_t
r32(struct disk *d, uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	d->dev->ops->mmio_read(d->dev, NULL, off, &v, 4);
	return v;
}

static void
w32(struct disk *d, uint64_t off, uint32_t v)
{
	d->dev->ops->mmio_write(d->dev, NULL, off, &v, 4);
	drain(d);
}

/* What holds after every step. */
static void
invariants(struct disk *d)
{
	check(r32(d, VMMIO_MAGIC) == VMMIO_MAGIC_VALUE);
	check(r32(d, VMMIO_VERSION) == 2);
	check(r32(d, VMMIO_DEVICE_ID) ==
	      (net ? VIRTIO_ID_NET : VIRTIO_ID_BLOCK));
	check(d->line == (r32(d, VMMIO_INTERRUPT_STATUS) != 0));
}

static void
check_reset(struct disk *d)
{
	check(r32(d, VMMIO_STATUS) == 0);
	check(r32(d, VMMIO_INTERRUPT_STATUS) == 0);
	check(d->line == 0);
	for (uint32_t q = 0; q < VMMIO_QUEUES_MAX; q++) {
		w32(d, VMMIO_QUEUE_SEL, q);
		check(r32(d, VMMIO_QUEUE_READY) == 0);
		check(r32(d, VMMIO_QUEUE_NUM_MAX) ==
		      (net ? (q < 2 ? VIRTIO_NET_QUEUE_MAX : 0)
			   : (q == 0 ? VIRTIO_BLK_QUEUE_MAX : 0)));
	}
	w32(d, VMMIO_QUEUE_SEL, 0);
}

/* --- state --------------------------------------------------------------- */

static uint8_t s1[DEVSTATE_MAX], s2[DEVSTATE_MAX];

/* A save as avm-run makes it: the VM then runs on (resume). */
static ssize_t
save(struct disk *d, uint8_t *buf, size_t cap)
{
	ssize_t n = d->dev->ops->save(d->dev, buf, cap);

	if (d->dev->ops->resume)
		d->dev->ops->resume(d->dev);
	return n;
}

/* The other slot, a device as vblk_new made it: kept from a refused
 * restore (which changes nothing), else opened. */
static struct disk *
fresh_disk(struct disk *slots, struct disk *d)
{
	struct disk *f = d == &slots[0] ? &slots[1] : &slots[0];

	if (!f->b)
		disk_open(f);
	return f;
}

/* Saves d into fresh, which must take it and save the same bytes, and
 * returns fresh, d closed. */
static struct disk *
save_restore(struct disk *d, struct disk *fresh)
{
	char why[256] = "";
	ssize_t n, m;
	int rc;

	n = save(d, s1, sizeof(s1));
	check(n > 0 && (size_t)n <= sizeof(s1));
	rc = fresh->dev->ops->restore(fresh->dev, s1, (size_t)n, why,
				      sizeof(why));
	if (rc != 0) {
		fprintf(stderr, "fuzz-virtio: own state refused: %s\n", why);
		check(rc == 0);
	}
	m = save(fresh, s2, sizeof(s2));
	check(m == n && memcmp(s1, s2, (size_t)n) == 0);
	check(fresh->line == (r32(fresh, VMMIO_INTERRUPT_STATUS) != 0));
	disk_close(d);
	return fresh;
}

/* Arbitrary bytes to a fresh device's restore.  Accepted: they save
 * back the same and the fresh device is returned, d closed.  Refused: a
 * reason, the fresh device saves as before (it stays the spare), and d
 * goes on. */
static struct disk *
restore_raw(struct disk *d, struct disk *fresh, const uint8_t *p, size_t len)
{
	char why[256] = "";
	ssize_t n, m;
	int rc;

	n = save(fresh, s1, sizeof(s1));
	check(n > 0);
	why[0] = '\0';
	rc = fresh->dev->ops->restore(fresh->dev, p, len, why, sizeof(why));
	m = save(fresh, s2, sizeof(s2));
	if (rc < 0) {
		check(errno == EINVAL || errno == EPROTO);
		check(why[0] != '\0');
		check(m == n && memcmp(s1, s2, (size_t)n) == 0);
		check(fresh->line == 0);
		return d;
	}
	check(rc == 0);
	check(m >= 0 && (size_t)m == len && memcmp(s2, p, len) == 0);
	check(fresh->line == (r32(fresh, VMMIO_INTERRUPT_STATUS) != 0));
	disk_close(d);
	return fresh;
}

/* --- the input ------------------------------------------------------------ */

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t
get(struct in *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		if (in->n) {
			v |= (uint64_t)*in->p++ << (8 * i);
			in->n--;
		}
	return v;
}

/* Copies up to n input bytes to RAM at gpa (clipped to RAM). */
static void
to_ram(struct in *in, uint64_t gpa, size_t n)
{
	if (n > in->n)
		n = in->n;
	if (gpa < RAM_SIZE) {
		size_t k = n < RAM_SIZE - gpa ? n : RAM_SIZE - gpa;

		memcpy(ram + gpa, in->p, k);
	}
	in->p += n;
	in->n -= n;
}

/* The driver's view of queue 0, from its last start-up (before one: what
 * the seeds' restored states use). */
struct drv {
	uint64_t desc, avail;
	uint16_t num;
};

/* Queue q's registers from the input (the areas below 4 GiB). */
static void
queue_setup(struct disk *d, struct drv *v, uint32_t q, struct in *in)
{
	uint32_t num = (uint32_t)get(in, 2);
	uint64_t desc = get(in, 4), avail = get(in, 4), used = get(in, 4);

	w32(d, VMMIO_QUEUE_SEL, q);
	w32(d, VMMIO_QUEUE_NUM, num);
	w32(d, VMMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	w32(d, VMMIO_QUEUE_DESC_HIGH, 0);
	w32(d, VMMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	w32(d, VMMIO_QUEUE_DRIVER_HIGH, 0);
	w32(d, VMMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	w32(d, VMMIO_QUEUE_DEVICE_HIGH, 0);
	w32(d, VMMIO_QUEUE_READY, 1);
	v->desc = desc;
	v->avail = avail;
	v->num = (uint16_t)num;
}

static void
start(struct disk *d, struct drv *v, struct in *in)
{
	uint64_t accept = get(in, 8);

	w32(d, VMMIO_STATUS, 0);
	w32(d, VMMIO_STATUS, VIRTIO_S_ACKNOWLEDGE);
	w32(d, VMMIO_STATUS, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
	w32(d, VMMIO_DRIVER_FEATURES_SEL, 0);
	w32(d, VMMIO_DRIVER_FEATURES, (uint32_t)accept);
	w32(d, VMMIO_DRIVER_FEATURES_SEL, 1);
	w32(d, VMMIO_DRIVER_FEATURES, (uint32_t)(accept >> 32));
	w32(d, VMMIO_STATUS,
	    VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
	queue_setup(d, &v[0], 0, in);
	if (net)
		queue_setup(d, &v[1], 1, in);
	w32(d, VMMIO_STATUS, r32(d, VMMIO_STATUS) | VIRTIO_S_DRIVER_OK);
}

/* One descriptor of the table at v->desc, where it lies in RAM. */
static void
put_desc(const struct drv *v, struct in *in)
{
	uint64_t i = get(in, 1), addr = get(in, 4);
	uint32_t len = (uint32_t)get(in, 4);
	uint16_t flags = (uint16_t)get(in, 1), next = (uint16_t)get(in, 1);
	uint8_t *p = ram_ptr(NULL, v->desc + 16 * i, 16);

	if (!p)
		return;
	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

/* head into the available ring, idx moved on, QueueNotify (a card's:
 * of the queue a byte names). */
static void
submit(struct disk *d, const struct drv *vq, struct in *in)
{
	uint16_t head = (uint16_t)get(in, 1), idx;
	uint32_t q = net ? (uint32_t)get(in, 1) & 1 : 0;
	const struct drv *v = &vq[q];
	uint8_t *av = v->num ? ram_ptr(NULL, v->avail, 4 + 2 * (uint64_t)v->num)
			     : NULL;

	if (av) {
		memcpy(&idx, av + 2, 2);
		memcpy(av + 4 + 2 * (idx & (v->num - 1)), &head, 2);
		idx++;
		memcpy(av + 2, &idx, 2);
	}
	w32(d, VMMIO_QUEUE_NOTIFY, q);
}

/* The card's host side: a frame of input bytes to the card, and what
 * the card sent read back (each a whole frame). */
static void
host(struct disk *d, struct in *in)
{
	static uint8_t f[VIRTIO_NET_FRAME_MAX + 2];
	size_t len = (size_t)get(in, 1) * 8;
	ssize_t r;

	if (len) {
		if (len > in->n)
			len = in->n;
		if (len && send(d->host, in->p, len, MSG_DONTWAIT) < 0)
			check(errno == EAGAIN || errno == ENOBUFS);
		in->p += len;
		in->n -= len;
	}
	vnet_drain(d->n);
	while ((r = recv(d->host, f, sizeof(f), MSG_DONTWAIT)) >= 0)
		check(r >= VIRTIO_NET_FRAME_MIN && r <= VIRTIO_NET_FRAME_MAX);
}

static void
run(struct in *in)
{
	static const unsigned lens[4] = { 1, 2, 4, 8 };
	struct disk slots[2] = { 0 }, *d = &slots[0];
	struct drv v[2] = { { .desc = 0x1000, .avail = 0x2000, .num = 16 },
			    { .desc = 0x4000, .avail = 0x5000, .num = 16 } };
	uint8_t buf[8];
	unsigned flags = (unsigned)get(in, 1);
	uint64_t off, len;
	struct stat st;

	ro = flags & 1;
	net = flags >> 3 & 1;
	img_size = img_sizes[flags >> 1 & 3];
	check(ftruncate(img_fd, 0) == 0 &&
	      ftruncate(img_fd, (off_t)img_size) == 0);
	check(pwrite(img_fd, img0, img_size, 0) == (ssize_t)img_size);
	memset(ram, 0, RAM_SIZE);
	off = get(in, 2);
	len = get(in, 2);
	to_ram(in, off, len);

	disk_open(d);
	invariants(d);
	for (unsigned ops = 0; in->n && ops < MAX_OPS; ops++) {
		switch (get(in, 1) % 12) {
		case 0: /* a read anywhere in the page */
			off = get(in, 2) % VMMIO_SIZE;
			len = lens[get(in, 1) & 3];
			memset(buf, 0xa5, sizeof(buf));
			d->dev->ops->mmio_read(d->dev, NULL, off, buf, len);
			if (off == VMMIO_MAGIC && len == 4)
				check(memcmp(buf, "virt", 4) == 0);
			for (size_t i = len; i < sizeof(buf); i++)
				check(buf[i] == 0xa5);
			break;
		case 1: /* a write anywhere in the page */
			off = get(in, 2) % VMMIO_SIZE;
			len = lens[get(in, 1) & 3];
			{
				uint64_t x = get(in, len);

				memcpy(buf, &x, 8);
			}
			d->dev->ops->mmio_write(d->dev, NULL, off, buf, len);
			drain(d);
			break;
		case 2: /* a register write */
			off = 4 * (get(in, 1) % (VMMIO_CONFIG / 4));
			w32(d, off, (uint32_t)get(in, 4));
			break;
		case 3: /* bytes into RAM */
			off = get(in, 2);
			len = get(in, 1);
			to_ram(in, off, len);
			break;
		case 4:
			start(d, v, in);
			break;
		case 5:
			put_desc(&v[net ? get(in, 1) & 1 : 0], in);
			break;
		case 6:
			submit(d, v, in);
			break;
		case 7:
			if (net)
				host(d, in);
			else
				drain(d);
			break;
		case 8:
			w32(d, VMMIO_STATUS, 0);
			check_reset(d);
			break;
		case 9:
			d = save_restore(d, fresh_disk(slots, d));
			break;
		case 10: /* up to 255 bytes to a fresh device's restore */
			len = get(in, 1);
			if (len > in->n)
				len = in->n;
			d = restore_raw(d, fresh_disk(slots, d), in->p, len);
			in->p += len;
			in->n -= len;
			break;
		default: /* acknowledge what is pending, or some bits */
			off = get(in, 1);
			w32(d, VMMIO_INTERRUPT_ACK,
			    off & 0x80 ? (uint32_t)off
				       : r32(d, VMMIO_INTERRUPT_STATUS));
			break;
		}
		invariants(d);
	}
	for (int i = 0; i < 2; i++)
		if (slots[i].b)
			disk_close(&slots[i]);

	check(fstat(img_fd, &st) == 0 && (uint64_t)st.st_size == img_size);
	if (ro) {
		static uint8_t now[sizeof(img0)];

		check(pread(img_fd, now, img_size, 0) == (ssize_t)img_size &&
		      memcmp(now, img0, img_size) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };

	setup();
	run(&in);
	return 0;
}
