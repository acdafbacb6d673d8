/*
 * virtio-blk (cmd/avm-run/dev/virtio-blk.c) on a real temporary image,
 * driven as a guest driver would: requests on the queue, QueueNotify,
 * completions by the device's worker thread seen on the used ring and
 * the interrupt line.  A pattern written across sectors, flushed and read
 * back is the image file's bytes; a read-only disk refuses writes; sectors
 * out of range, unknown types, a status byte the device cannot write, and
 * save/restore through the ops table.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../cmd/avm-run/dev/virtio-blk.h"
#include "devsave.h"
#include "tap.h"
#include "virtio-drv.h"

#define SECTORS 64
#define IMG_SIZE (SECTORS * 512 + 100) /* a partial sector at the end */

static char img[64];
static _Atomic int irq_level;

static void
set_irq(void *opaque, int level)
{
	(void)opaque;
	irq_level = level;
}

static struct vblk *
open_disk(int ro, const char *serial)
{
	struct vblk_cfg cfg = { 0 };

	cfg.fd = open(img, ro ? O_RDONLY : O_RDWR);
	cfg.readonly = ro;
	cfg.size = IMG_SIZE;
	cfg.serial = serial;
	cfg.mem = drv_mem;
	cfg.set_irq = set_irq;
	return vblk_new(&cfg);
}

#define HDR 0x10000ull	  /* request header */
#define DATA 0x20000ull	  /* data */
#define STATUS 0x90000ull /* status byte */
#define ACCEPT ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_FLUSH))

static struct drv d;

static void
hdr(uint32_t type, uint64_t sector)
{
	memset(drv_ram + HDR, 0, 16);
	memcpy(drv_ram + HDR, &type, 4);
	memcpy(drv_ram + HDR + 8, &sector, 8);
}

/*
 * One request: header, data of len bytes at DATA in descriptors of seg
 * bytes each (device-writable for IN and GET_ID), status.  Returns the
 * status byte (0xff: none written), *used the used length.
 */
static int
request(uint32_t type, uint64_t sector, uint32_t len, uint32_t seg,
	uint32_t *used)
{
	int wr = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
	uint16_t i = 0, want = (uint16_t)(drv_used_idx() + 1);
	uint32_t id;

	hdr(type, sector);
	drv_desc(DRV_DESC, i, HDR, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	i++;
	for (uint32_t off = 0; off < len; off += seg, i++) {
		uint32_t l = len - off < seg ? len - off : seg;

		drv_desc(DRV_DESC, i, DATA + off, l,
			 VIRTQ_DESC_F_NEXT | (wr ? VIRTQ_DESC_F_WRITE : 0),
			 (uint16_t)(i + 1));
	}
	drv_ram[STATUS] = 0xff;
	drv_desc(DRV_DESC, i, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	drv_submit(&d, 0, 1);
	if (!drv_wait_used(want)) {
		*used = ~0u;
		return -1;
	}
	drv_used_elem(&d, (uint16_t)(want - 1), &id, used);
	return drv_ram[STATUS];
}

static void
pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed + i / 512);
}

static void
test_config(void)
{
	struct vblk *b = open_disk(0, "serial-of-disk-0");
	uint64_t cap;
	uint32_t v;

	d.dev = vblk_device(b);
	is_int(drv_r32(&d, VMMIO_DEVICE_ID), VIRTIO_ID_BLOCK, "device id 2");
	d.dev->ops->mmio_read(d.dev, NULL, VMMIO_CONFIG, &cap, 8);
	is_int(cap, SECTORS, "capacity: whole sectors of the image");
	d.dev->ops->mmio_read(d.dev, NULL, VMMIO_CONFIG + 20, &v, 4);
	is_int(v, 512, "blk_size 512");
	d.dev->ops->mmio_read(d.dev, NULL, VMMIO_CONFIG + 12, &v, 4);
	is_int(v, VIRTIO_BLK_SEG_MAX, "seg_max");
	ok(drv_features(&d) >> VIRTIO_BLK_F_FLUSH & 1, "FLUSH offered");
	ok(!(drv_features(&d) >> VIRTIO_BLK_F_RO & 1), "RO not offered");
	ok(drv_features(&d) >> VIRTIO_BLK_F_DISCARD & 1, "DISCARD offered");
	d.dev->ops->free(d.dev);
}

static void
test_rw(void)
{
	static uint8_t want[SECTORS * 512], got[SECTORS * 512];
	struct vblk *b = open_disk(0, "serial-of-disk-0");
	uint32_t used;
	int fd, st;

	d.dev = vblk_device(b);
	is_int(drv_start(&d, ACCEPT, 128), 15, "driver started");
	/* Sectors 0..63 in four requests of 16 sectors, 3 KiB segments
	 * (segments straddle sectors). */
	pattern(want, sizeof(want), 3);
	for (int r = 0; r < 4; r++) {
		memcpy(drv_ram + DATA, want + r * 8192, 8192);
		st = request(VIRTIO_BLK_T_OUT, (uint64_t)r * 16, 8192, 3072,
			     &used);
		ok(st == VIRTIO_BLK_S_OK && used == 1,
		   "write of sectors %d..%d: OK, used length 1", r * 16,
		   r * 16 + 15);
	}
	ok(irq_level == 1, "interrupt line high after completions");
	drv_w32(&d, VMMIO_INTERRUPT_ACK, drv_r32(&d, VMMIO_INTERRUPT_STATUS));
	ok(irq_level == 0, "low after ACK");
	st = request(VIRTIO_BLK_T_FLUSH, 0, 0, 512, &used);
	is_int(st, VIRTIO_BLK_S_OK, "flush OK");
	memset(drv_ram + DATA, 0, sizeof(got));
	st = request(VIRTIO_BLK_T_IN, 0, SECTORS * 512, 4096, &used);
	ok(st == VIRTIO_BLK_S_OK && used == SECTORS * 512 + 1,
	   "read of all 64 sectors: OK, used length data + 1");
	ok(memcmp(drv_ram + DATA, want, sizeof(want)) == 0,
	   "read back what was written");
	fd = open(img, O_RDONLY);
	ok(pread(fd, got, sizeof(got), 0) == (ssize_t)sizeof(got) &&
		   memcmp(got, want, sizeof(want)) == 0,
	   "the image file holds the pattern");
	close(fd);

	/* The header split over two descriptors, data odd sizes. */
	{
		uint16_t w = (uint16_t)(drv_used_idx() + 1);

		hdr(VIRTIO_BLK_T_IN, 5);
		drv_desc(DRV_DESC, 0, HDR, 5, VIRTQ_DESC_F_NEXT, 1);
		drv_desc(DRV_DESC, 1, HDR + 5, 11, VIRTQ_DESC_F_NEXT, 2);
		drv_desc(DRV_DESC, 2, DATA, 100,
			 VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
		drv_desc(DRV_DESC, 3, DATA + 100, 413, VIRTQ_DESC_F_WRITE, 0);
		memset(drv_ram + DATA, 0, 1024);
		drv_submit(&d, 0, 1);
		ok(drv_wait_used(w) && drv_ram[DATA + 512] == VIRTIO_BLK_S_OK &&
			   memcmp(drv_ram + DATA, want + 5 * 512, 512) == 0,
		   "a header in two pieces, the status in the data's last "
		   "descriptor: sector 5 read");
	}

	st = request(VIRTIO_BLK_T_IN, SECTORS, 512, 512, &used);
	is_int(st, VIRTIO_BLK_S_IOERR,
	       "read of sector 64 (past the end): "
	       "IOERR");
	st = request(VIRTIO_BLK_T_OUT, SECTORS - 1, 1024, 512, &used);
	is_int(st, VIRTIO_BLK_S_IOERR,
	       "write of sectors 63..64 (one past the end): IOERR");
	st = request(VIRTIO_BLK_T_OUT, ~0ull, 512, 512, &used);
	is_int(st, VIRTIO_BLK_S_IOERR, "write at sector 2^64-1: IOERR");
	st = request(VIRTIO_BLK_T_OUT, 0, 100, 100, &used);
	is_int(st, VIRTIO_BLK_S_IOERR, "write of 100 bytes: IOERR");
	st = request(99, 0, 0, 512, &used);
	is_int(st, VIRTIO_BLK_S_UNSUPP, "unknown type 99: UNSUPP");
	st = request(VIRTIO_BLK_T_DISCARD, 0, 0, 512, &used);
	is_int(st, VIRTIO_BLK_S_UNSUPP, "discard not negotiated: UNSUPP");

	memset(drv_ram + DATA, 0xee, 64);
	st = request(VIRTIO_BLK_T_GET_ID, 0, 20, 20, &used);
	ok(st == VIRTIO_BLK_S_OK && used == 21 &&
		   memcmp(drv_ram + DATA, "serial-of-disk-0\0\0\0\0", 20) == 0,
	   "GET_ID: the serial, zero-padded to 20 bytes");

	/* The status byte in a device-readable descriptor: nothing done. */
	{
		uint16_t w = (uint16_t)(drv_used_idx() + 1);
		uint32_t id, len;

		hdr(VIRTIO_BLK_T_OUT, 0);
		memset(drv_ram + DATA, 0x55, 512);
		drv_desc(DRV_DESC, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
		drv_desc(DRV_DESC, 1, DATA, 512, VIRTQ_DESC_F_NEXT, 2);
		drv_desc(DRV_DESC, 2, STATUS, 1, 0, 0);
		drv_ram[STATUS] = 0xff;
		drv_submit(&d, 0, 1);
		ok(drv_wait_used(w), "a request with a read-only status byte "
				     "is given back");
		drv_used_elem(&d, (uint16_t)(w - 1), &id, &len);
		ok(len == 0 && drv_ram[STATUS] == 0xff,
		   "... with length 0, its status untouched");
		fd = open(img, O_RDONLY);
		ok(pread(fd, got, 512, 0) == 512 && memcmp(got, want, 512) == 0,
		   "... and sector 0 not written");
		close(fd);
		ok(!(drv_r32(&d, VMMIO_STATUS) & VIRTIO_S_NEEDS_RESET),
		   "the device goes on (no NEEDS_RESET)");
		st = request(VIRTIO_BLK_T_FLUSH, 0, 0, 512, &used);
		is_int(st, VIRTIO_BLK_S_OK, "the next request works");
	}

	/* A loop in the chain: NEEDS_RESET, the head given back. */
	{
		uint16_t w = (uint16_t)(drv_used_idx() + 1);

		drv_desc(DRV_DESC, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
		drv_desc(DRV_DESC, 1, DATA, 512, VIRTQ_DESC_F_NEXT, 0);
		drv_submit(&d, 0, 1);
		ok(drv_wait_used(w) &&
			   (drv_r32(&d, VMMIO_STATUS) & VIRTIO_S_NEEDS_RESET),
		   "a descriptor loop: given back, device needs a reset");
	}
	is_int(drv_start(&d, ACCEPT, 128), 15, "a reset and a new start");
	st = request(VIRTIO_BLK_T_IN, 1, 512, 512, &used);
	ok(st == VIRTIO_BLK_S_OK &&
		   memcmp(drv_ram + DATA, want + 512, 512) == 0,
	   "reads again after the reset");
	d.dev->ops->free(d.dev);
}

static void
test_discard(void)
{
	struct vblk *b = open_disk(0, NULL);
	uint8_t zero[1024] = { 0 }, got[1024];
	uint64_t r[2];
	uint32_t used;
	int fd, st;

	d.dev = vblk_device(b);
	drv_start(&d,
		  ACCEPT | 1ull << VIRTIO_BLK_F_DISCARD |
			  1ull << VIRTIO_BLK_F_WRITE_ZEROES,
		  128);
	/* One range: sector 8, 2 sectors, flags 0. */
	r[0] = 8;
	r[1] = 2;
	memcpy(drv_ram + DATA, r, 16);
	st = request(VIRTIO_BLK_T_DISCARD, 0, 16, 16, &used);
	is_int(st, VIRTIO_BLK_S_OK, "discard of sectors 8..9 OK");
	fd = open(img, O_RDONLY);
	ok(pread(fd, got, 1024, 8 * 512) == 1024 &&
		   memcmp(got, zero, 1024) == 0,
	   "sectors 8..9 read zeros in the image");
	r[0] = 20;
	r[1] = 2 | 1ull << 32; /* unmap */
	memcpy(drv_ram + DATA, r, 16);
	st = request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, 16, &used);
	ok(st == VIRTIO_BLK_S_OK && pread(fd, got, 1024, 20 * 512) == 1024 &&
		   memcmp(got, zero, 1024) == 0,
	   "write-zeroes with unmap of sectors 20..21");
	r[1] = 2 | 1ull << 32;
	r[0] = 22;
	memcpy(drv_ram + DATA, r, 16);
	st = request(VIRTIO_BLK_T_DISCARD, 0, 16, 16, &used);
	is_int(st, VIRTIO_BLK_S_UNSUPP, "discard with the unmap flag: UNSUPP");
	r[0] = SECTORS - 1;
	r[1] = 2;
	memcpy(drv_ram + DATA, r, 16);
	st = request(VIRTIO_BLK_T_DISCARD, 0, 16, 16, &used);
	is_int(st, VIRTIO_BLK_S_IOERR, "discard past the end: IOERR");
	close(fd);
	d.dev->ops->free(d.dev);
}

static void
test_readonly(void)
{
	struct vblk *b = open_disk(1, NULL);
	uint8_t before[2048], after[2048];
	uint32_t used;
	int fd = open(img, O_RDONLY), st;

	d.dev = vblk_device(b);
	ok(drv_features(&d) >> VIRTIO_BLK_F_RO & 1, "RO offered");
	ok(!(drv_features(&d) >> VIRTIO_BLK_F_DISCARD & 1),
	   "DISCARD not offered on a read-only disk");
	drv_start(&d, ACCEPT | 1ull << VIRTIO_BLK_F_RO, 128);
	pread(fd, before, sizeof(before), 0);
	memset(drv_ram + DATA, 0x77, 2048);
	st = request(VIRTIO_BLK_T_OUT, 0, 2048, 2048, &used);
	is_int(st, VIRTIO_BLK_S_IOERR, "write to a read-only disk: IOERR");
	pread(fd, after, sizeof(after), 0);
	ok(memcmp(before, after, sizeof(after)) == 0, "the image unchanged");
	st = request(VIRTIO_BLK_T_IN, 0, 2048, 2048, &used);
	ok(st == VIRTIO_BLK_S_OK && memcmp(drv_ram + DATA, before, 2048) == 0,
	   "reads work");
	st = request(VIRTIO_BLK_T_FLUSH, 0, 0, 512, &used);
	is_int(st, VIRTIO_BLK_S_OK, "flush OK");
	close(fd);
	d.dev->ops->free(d.dev);
}

static void
test_state(void)
{
	struct vblk *b = open_disk(0, NULL), *c;
	uint8_t s1[DEVSTATE_MAX], s2[DEVSTATE_MAX], bad[DEVSTATE_MAX];
	char why[200] = "";
	uint32_t used;
	ssize_t n, m;
	int st;

	d.dev = vblk_device(b);
	drv_start(&d, ACCEPT | 1ull << VIRTIO_F_RING_EVENT_IDX, 64);
	request(VIRTIO_BLK_T_IN, 0, 512, 512, &used);
	request(VIRTIO_BLK_T_IN, 1, 512, 512, &used);
	n = d.dev->ops->save(d.dev, s1, sizeof(s1));
	is_int(n, 84, "state: 84 bytes");
	is_int(d.dev->ops->save(d.dev, s1, 10), -1, "a small buffer: -1");
	is_int(errno, ENOSPC, "... ENOSPC");
	n = d.dev->ops->save(d.dev, s1, sizeof(s1));
	d.dev->ops->free(d.dev);

	c = open_disk(0, NULL);
	d.dev = vblk_device(c);
	is_int(d.dev->ops->restore(d.dev, s1, (size_t)n, why, sizeof(why)), 0,
	       "restored into a new device (%s)", why);
	m = d.dev->ops->save(d.dev, s2, sizeof(s2));
	ok(m == n && memcmp(s1, s2, (size_t)n) == 0, "same bytes saved");
	st = request(VIRTIO_BLK_T_IN, 2, 512, 512, &used);
	ok(st == VIRTIO_BLK_S_OK && drv_used_idx() == 3,
	   "the restored queue goes on: a third request, used->idx 3");
	n = d.dev->ops->save(d.dev, s2, sizeof(s2));

	memcpy(bad, s2, (size_t)n);
	bad[4] = SECTORS + 1;
	st = d.dev->ops->restore(d.dev, bad, (size_t)n, why, sizeof(why));
	m = d.dev->ops->save(d.dev, s1, sizeof(s1));
	refused("another disk's size", st, errno, EINVAL, why, "sectors", s2, n,
		s1, m);
	memcpy(bad, s2, (size_t)n);
	bad[0] = 9;
	st = d.dev->ops->restore(d.dev, bad, (size_t)n, why, sizeof(why));
	refused("layout version 9", st, errno, EPROTO, why, "version 9", s2, n,
		s1, m);
	st = d.dev->ops->restore(d.dev, s2, (size_t)n - 1, why, sizeof(why));
	refused("a byte short", st, errno, EINVAL, why, "bytes", s2, n, s1, m);
	d.dev->ops->free(d.dev);
}

static void *
reset_thread(void *arg)
{
	(void)arg;
	drv_w32(&d, VMMIO_STATUS, 0);
	return NULL;
}

/*
 * A reset while the worker drains a full queue: the reset waits for the
 * worker, which must stop taking entries and return.  It did not: with
 * the transport resetting, vmmio_pop gave nothing while
 * vmmio_notify_enable still saw entries pending, so the worker looped
 * for ever and the vCPU that wrote the reset waited on it for ever
 * (found reading the code while writing fuzz-virtio, which drains after
 * every notification and so never races the two).
 */
static void
test_reset_busy(void)
{
	struct vblk *b = open_disk(0, NULL);
	struct timespec ts;
	pthread_t t;
	int round, done = 1;

	d.dev = vblk_device(b);
	for (round = 0; round < 5 && done; round++) {
		drv_start(&d, ACCEPT, 256);
		hdr(VIRTIO_BLK_T_IN, 0);
		drv_desc(DRV_DESC, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
		drv_desc(DRV_DESC, 1, DATA, SECTORS * 512,
			 VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
		drv_desc(DRV_DESC, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
		/* The same chain 256 times: 8 MiB to read. */
		for (int i = 0; i < 256; i++)
			drv_submit(&d, 0, 0);
		drv_w32(&d, VMMIO_QUEUE_NOTIFY, 0);
		pthread_create(&t, NULL, reset_thread, NULL);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		done = pthread_timedjoin_np(t, NULL, &ts) == 0;
	}
	ok(done,
	   "a reset while the worker drains 256 requests returns "
	   "(%d rounds)",
	   round);
	if (!done) {
		/* The worker spins and the reset waits: nothing to free. */
		printf("Bail out! a reset with a busy worker hangs\n");
		unlink(img);
		exit(1);
	}
	is_int(drv_r32(&d, VMMIO_STATUS), 0, "status 0 after it");
	is_int(drv_start(&d, ACCEPT, 128), 15, "the driver starts again");
	{
		uint32_t used;
		int st = request(VIRTIO_BLK_T_IN, 1, 512, 512, &used);

		is_int(st, VIRTIO_BLK_S_OK, "and reads");
	}
	/* Stop (avm-run's end, before the vCPUs go): nothing more runs. */
	d.dev->ops->stop(d.dev);
	d.dev->ops->stop(d.dev);
	irq_level = 0;
	{
		uint32_t used;

		ok(request(VIRTIO_BLK_T_IN, 1, 512, 512, &used) == -1 &&
			   irq_level == 0,
		   "stopped (twice): a request stays unanswered, no "
		   "interrupt");
	}
	drv_w32(&d, VMMIO_STATUS, 0);
	is_int(drv_r32(&d, VMMIO_STATUS), 0, "a reset after the stop returns");
	d.dev->ops->free(d.dev);
}

int
main(void)
{
	int fd;

	snprintf(img, sizeof(img), "/tmp/t-vblk-XXXXXX");
	fd = mkstemp(img);
	if (fd < 0 || ftruncate(fd, IMG_SIZE) < 0) {
		printf("Bail out! temporary image: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	test_config();
	test_rw();
	test_discard();
	test_readonly();
	test_state();
	test_reset_busy();
	unlink(img);
	return done_testing();
}
