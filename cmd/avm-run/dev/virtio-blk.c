/*
 * virtio-blk on a raw image file; see virtio-blk.h.
 *
 * Requests are done by one worker thread per disk, never by the thread
 * that wrote QueueNotify.  That thread is a vCPU's (its guest stops while
 * it waits) or, for a notification forwarded from another node, node 0's
 * link thread, which also carries the other nodes' I/O, interrupts and
 * EOIs: a disk read of some milliseconds there would stall every node.
 * The worker drains the queue with the driver's notifications off, so a
 * busy guest exits to us once per batch, and raises the interrupt when
 * the driver wants one.  One thread, not io_uring: plain pread/pwrite on
 * a file the page cache serves is fast enough for what this VM's guests
 * do, keeps completions in order and needs nothing of the host kernel;
 * a pool would only help a disk with several queues, which this is not.
 *
 * Requests (virtio 1.x 5.2.6): a 16-byte header (type, reserved, sector)
 * in the device-readable part, then data, then one status byte, the last
 * byte of the device-writable part.  Framing is free (the header may be
 * split over descriptors).  IN, OUT, FLUSH (fdatasync), GET_ID (the
 * serial, 20 bytes), DISCARD (a hole punched) and WRITE_ZEROES (a zeroed
 * range, unmapped when asked).  Statuses:
 *
 *   IOERR   a sector range beyond the capacity, a data length not in
 *           whole sectors, a header shorter than 16 bytes, a failed
 *           system call, and any write (OUT, DISCARD, WRITE_ZEROES) to a
 *           read-only disk (VIRTIO_BLK_F_RO offered: the spec says the
 *           device fails them; IOERR is what Linux reports as EIO)
 *   UNSUPP  an unknown type, or DISCARD/WRITE_ZEROES not negotiated or
 *           with flags this device does not know
 *
 * A request without a writable byte for its status cannot be answered:
 * it is given back with length 0 and nothing done (a driver that put
 * its status in a read-only descriptor).  A chain the ring rules break
 * (virtq.c) puts the device in DEVICE_NEEDS_RESET.
 *
 * State bytes (devstate.h), layout version 1, written by save with the
 * VM paused (the worker drained first, so nothing is in flight):
 *
 *	0   4   header: version 1, length 4 + 36 + 36 = 76
 *	4   8   capacity in sectors (restore: must be this disk's)
 *	12  36  the transport: status, device and driver feature
 *	        selectors, queue selector (4 each), driver features (8),
 *	        interrupt status, config generation, queues (1) (4 each)
 *	48  36  the queue: size (2), ready (1), 0 (1), descriptor table,
 *	        driver area, device area (8 each), next available, used
 *	        index, used index last signalled (2 each), 0 (2)
 *
 * The disk's contents are the image's, not the state's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../bus.h"
#include "../devstate.h"
#include "virtio-blk.h"
#include "virtio-mmio.h"

#define BLK_STATE_VERSION 1
#define BLK_STATE_SIZE (DEVSTATE_HDR_SIZE + 8 + 36 + 36)
_Static_assert(BLK_STATE_SIZE == 84, "virtio-blk state layout");
_Static_assert(BLK_STATE_SIZE <= DEVSTATE_MAX, "fits every save buffer");

#define HDR_SIZE 16

struct vblk {
	struct device dev;
	struct vmmio t;
	struct vmmio_backend be;
	uint8_t config[VIRTIO_BLK_CONFIG_SIZE];
	int fd;
	bool ro;
	uint64_t sectors;
	char serial[VIRTIO_BLK_ID_BYTES];
	void (*log)(void *, const char *);
	void *log_opaque;

	pthread_t worker;
	pthread_mutex_t wl;
	pthread_cond_t wake, idle;
	bool kick, busy, stop, started;
	struct virtq_chain chain; /* the worker's */
};

/* --- the bytes of a chain ------------------------------------------------*/

/* Copies len bytes from byte off of the readable part; 0 or -1 short. */
static int
copy_out(const struct virtq_chain *c, uint64_t off, void *buf, size_t len)
{
	struct iovec iov[VIRTQ_SEGS_MAX];
	int n = virtq_iov(c->seg, c->nread, off, len, iov);
	uint8_t *p = buf;

	for (int i = 0; i < n; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	return (size_t)(p - (uint8_t *)buf) == len ? 0 : -1;
}

/* Whole transfers: preadv/pwritev until done (a short count is an
 * image that shrank under us: EIO). */
static int
rw_all(int fd, struct iovec *iov, int n, uint64_t off, int write)
{
	while (n > 0) {
		ssize_t r = write ? pwritev(fd, iov, n, (off_t)off)
				  : preadv(fd, iov, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		off += (uint64_t)r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static int
in_range(const struct vblk *b, uint64_t sector, uint64_t nsec)
{
	return sector <= b->sectors && nsec <= b->sectors - sector;
}

static void
blk_log(struct vblk *b, const char *fmt, unsigned a)
{
	char msg[200];

	if (!b->log)
		return;
	snprintf(msg, sizeof(msg), fmt, a);
	b->log(b->log_opaque, msg);
}

/* DISCARD and WRITE_ZEROES: ranges of 16 bytes (sector, sectors, flags). */
static uint8_t
do_ranges(struct vblk *b, const struct virtq_chain *c, uint32_t type,
	  uint64_t len)
{
	unsigned feature = type == VIRTIO_BLK_T_DISCARD
				   ? VIRTIO_BLK_F_DISCARD
				   : VIRTIO_BLK_F_WRITE_ZEROES;
	uint8_t r[16];

	if (!vmmio_has(&b->t, feature))
		return VIRTIO_BLK_S_UNSUPP;
	if (b->ro)
		return VIRTIO_BLK_S_IOERR;
	if (!len || len % 16 || len / 16 > VIRTIO_BLK_DISCARD_SEGS)
		return VIRTIO_BLK_S_IOERR;
	for (uint64_t off = 0; off < len; off += 16) {
		uint64_t sector;
		uint32_t n, flags;
		int mode;

		if (copy_out(c, HDR_SIZE + off, r, sizeof(r)) < 0)
			return VIRTIO_BLK_S_IOERR;
		memcpy(&sector, r, 8);
		memcpy(&n, r + 8, 4);
		memcpy(&flags, r + 12, 4);
		/* Bit 0 is unmap, for WRITE_ZEROES only. */
		if (flags & ~(type == VIRTIO_BLK_T_WRITE_ZEROES ? 1u : 0u))
			return VIRTIO_BLK_S_UNSUPP;
		if (n > VIRTIO_BLK_DISCARD_SECTORS || !in_range(b, sector, n))
			return VIRTIO_BLK_S_IOERR;
		mode = FALLOC_FL_KEEP_SIZE |
		       (type == VIRTIO_BLK_T_WRITE_ZEROES && !(flags & 1)
				? FALLOC_FL_ZERO_RANGE
				: FALLOC_FL_PUNCH_HOLE);
		if (!n ||
		    fallocate(b->fd, mode, (off_t)(sector * VIRTIO_BLK_SECTOR),
			      (off_t)n * VIRTIO_BLK_SECTOR) == 0)
			continue;
		if (errno != EOPNOTSUPP)
			return VIRTIO_BLK_S_IOERR;
		/* A discard is a hint; zeroes must be written. */
		if (type == VIRTIO_BLK_T_DISCARD)
			continue;
		{
			static const uint8_t zero[4096];
			uint64_t at = sector * VIRTIO_BLK_SECTOR,
				 end = at + (uint64_t)n * VIRTIO_BLK_SECTOR;

			while (at < end) {
				size_t k = end - at < sizeof(zero)
						   ? (size_t)(end - at)
						   : sizeof(zero);
				struct iovec v = { (void *)zero, k };

				if (rw_all(b->fd, &v, 1, at, 1) < 0)
					return VIRTIO_BLK_S_IOERR;
				at += k;
			}
		}
	}
	return VIRTIO_BLK_S_OK;
}

/*
 * One request: returns the bytes written into the chain (status byte
 * included), or 0 for a chain that has no place for its status.
 */
static uint32_t
handle(struct vblk *b, const struct virtq_chain *c)
{
	struct iovec iov[VIRTQ_SEGS_MAX];
	uint64_t rbytes = virtq_bytes(c->seg, c->nread);
	uint64_t wbytes = virtq_bytes(c->seg + c->nread, c->nwrite);
	const struct virtq_seg *last;
	uint8_t hdr[HDR_SIZE], st = VIRTIO_BLK_S_OK;
	uint32_t type, used = 1;
	uint64_t sector, len;
	int n;

	last = c->nwrite ? &c->seg[c->nread + c->nwrite - 1] : NULL;
	if (!last || !last->len) {
		blk_log(b,
			"request at descriptor %u: no writable status byte; "
			"dropped",
			c->head);
		return 0;
	}
	if (copy_out(c, 0, hdr, sizeof(hdr)) < 0) {
		st = VIRTIO_BLK_S_IOERR;
		goto out;
	}
	memcpy(&type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	switch (type) {
	case VIRTIO_BLK_T_IN:
		len = wbytes - 1;
		if (len % VIRTIO_BLK_SECTOR ||
		    !in_range(b, sector, len / VIRTIO_BLK_SECTOR)) {
			st = VIRTIO_BLK_S_IOERR;
			break;
		}
		n = virtq_iov(c->seg + c->nread, c->nwrite, 0, len, iov);
		if (rw_all(b->fd, iov, n, sector * VIRTIO_BLK_SECTOR, 0) < 0)
			st = VIRTIO_BLK_S_IOERR;
		else
			used += (uint32_t)len;
		break;
	case VIRTIO_BLK_T_OUT:
		len = rbytes - HDR_SIZE;
		if (b->ro || len % VIRTIO_BLK_SECTOR ||
		    !in_range(b, sector, len / VIRTIO_BLK_SECTOR)) {
			st = VIRTIO_BLK_S_IOERR;
			break;
		}
		n = virtq_iov(c->seg, c->nread, HDR_SIZE, len, iov);
		if (rw_all(b->fd, iov, n, sector * VIRTIO_BLK_SECTOR, 1) < 0)
			st = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (!b->ro && fdatasync(b->fd) < 0)
			st = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID:
		len = wbytes - 1;
		if (len > VIRTIO_BLK_ID_BYTES)
			len = VIRTIO_BLK_ID_BYTES;
		n = virtq_iov(c->seg + c->nread, c->nwrite, 0, len, iov);
		{
			const char *s = b->serial;

			for (int i = 0; i < n; i++) {
				memcpy(iov[i].iov_base, s, iov[i].iov_len);
				s += iov[i].iov_len;
			}
		}
		used += (uint32_t)len;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		st = do_ranges(b, c, type, rbytes - HDR_SIZE);
		break;
	default:
		st = VIRTIO_BLK_S_UNSUPP;
		break;
	}
out:
	last->p[last->len - 1] = st;
	return used;
}

/* --- the worker ---------------------------------------------------------*/

static void
drain(struct vblk *b)
{
	enum virtq_pop_result r;

	do {
		vmmio_notify_enable(&b->t, 0, 0);
		while ((r = vmmio_pop(&b->t, 0, &b->chain)) != VQ_EMPTY) {
			if (r == VQ_BAD_RING)
				return; /* NEEDS_RESET: nothing more */
			vmmio_push(&b->t, 0, b->chain.head,
				   r == VQ_CHAIN ? handle(b, &b->chain) : 0);
			if (r == VQ_BAD_CHAIN)
				return;
		}
	} while (vmmio_notify_enable(&b->t, 0, 1));
}

static void *
worker(void *arg)
{
	struct vblk *b = arg;

	pthread_mutex_lock(&b->wl);
	for (;;) {
		while (!b->kick && !b->stop) {
			b->busy = false;
			pthread_cond_broadcast(&b->idle);
			pthread_cond_wait(&b->wake, &b->wl);
		}
		if (b->stop)
			break;
		b->kick = false;
		b->busy = true;
		pthread_mutex_unlock(&b->wl);
		drain(b);
		pthread_mutex_lock(&b->wl);
	}
	b->busy = false;
	pthread_cond_broadcast(&b->idle);
	pthread_mutex_unlock(&b->wl);
	return NULL;
}

static void
blk_notify(void *opaque, unsigned q)
{
	struct vblk *b = opaque;

	(void)q;
	pthread_mutex_lock(&b->wl);
	b->kick = true;
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->wl);
}

/* Until the worker has nothing in hand and nothing asked of it. */
static void
blk_quiesce(void *opaque)
{
	struct vblk *b = opaque;

	pthread_mutex_lock(&b->wl);
	while (b->started && (b->busy || b->kick))
		pthread_cond_wait(&b->idle, &b->wl);
	pthread_mutex_unlock(&b->wl);
}

/* --- ops ----------------------------------------------------------------*/

static void
blk_mmio_read(struct device *dev, struct vcpu *vcpu, uint64_t off, void *data,
	      unsigned len)
{
	struct vblk *b = dev->priv;

	(void)vcpu;
	vmmio_read(&b->t, off, data, len);
}

static void
blk_mmio_write(struct device *dev, struct vcpu *vcpu, uint64_t off,
	       const void *data, unsigned len)
{
	struct vblk *b = dev->priv;

	(void)vcpu;
	vmmio_write(&b->t, off, data, len);
}

static ssize_t
blk_save(struct device *dev, void *buf, size_t cap)
{
	struct vblk *b = dev->priv;
	uint8_t *p = ds_begin(buf, cap, BLK_STATE_VERSION,
			      BLK_STATE_SIZE - DEVSTATE_HDR_SIZE);

	if (!p)
		return -1;
	/* The vCPUs are parked: once drained, nothing moves. */
	blk_quiesce(b);
	ds_put64(&p, b->sectors);
	vmmio_save(&b->t, p);
	return BLK_STATE_SIZE;
}

static int
blk_restore(struct device *dev, const void *buf, size_t len, char *why,
	    size_t whylen)
{
	struct vblk *b = dev->priv;
	const uint8_t *p =
		ds_open(buf, len, "virtio-blk", BLK_STATE_VERSION,
			BLK_STATE_SIZE - DEVSTATE_HDR_SIZE, why, whylen);
	uint64_t sectors;

	if (!p)
		return -1;
	sectors = ds_get64(&p);
	if (sectors != b->sectors)
		return ds_fail(why, whylen, EINVAL,
			       "virtio-blk state: a disk of %llu sectors, "
			       "this image has %llu",
			       (unsigned long long)sectors,
			       (unsigned long long)b->sectors);
	blk_quiesce(b);
	return vmmio_restore(&b->t, p, why, whylen);
}

/* The worker ends after the request in hand: no more I/O, no more
 * interrupts; a notification after it stays unanswered. */
static void
blk_stop(struct device *dev)
{
	struct vblk *b = dev->priv;

	if (!b->started)
		return;
	pthread_mutex_lock(&b->wl);
	b->stop = true;
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->wl);
	pthread_join(b->worker, NULL);
	pthread_mutex_lock(&b->wl);
	b->started = false;
	pthread_cond_broadcast(&b->idle);
	pthread_mutex_unlock(&b->wl);
}

static void
blk_free(struct device *dev)
{
	struct vblk *b = dev->priv;

	blk_stop(dev);
	vmmio_release(&b->t);
	pthread_cond_destroy(&b->wake);
	pthread_cond_destroy(&b->idle);
	pthread_mutex_destroy(&b->wl);
	if (b->fd >= 0)
		close(b->fd);
	free(b);
}

static const struct dev_ops blk_ops = {
	.name = "virtio-blk",
	.mmio_read = blk_mmio_read,
	.mmio_write = blk_mmio_write,
	.save = blk_save,
	.restore = blk_restore,
	.stop = blk_stop,
	.free = blk_free,
};

static void
put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The configuration space (5.2.4), offsets as the spec's struct. */
static void
blk_config(struct vblk *b)
{
	put_le(b->config + 0, b->sectors, 8);		       /* capacity */
	put_le(b->config + 12, VIRTIO_BLK_SEG_MAX, 4);	       /* seg_max */
	put_le(b->config + 20, VIRTIO_BLK_SECTOR, 4);	       /* blk_size */
	put_le(b->config + 34, 1, 2);			       /* num_queues */
	put_le(b->config + 36, VIRTIO_BLK_DISCARD_SECTORS, 4); /* discard */
	put_le(b->config + 40, VIRTIO_BLK_DISCARD_SEGS, 4);
	put_le(b->config + 44, 1, 4); /* discard_sector_alignment */
	put_le(b->config + 48, VIRTIO_BLK_DISCARD_SECTORS, 4); /* zeroes */
	put_le(b->config + 52, VIRTIO_BLK_DISCARD_SEGS, 4);
	b->config[56] = 1; /* write_zeroes_may_unmap */
}

struct vblk *
vblk_new(const struct vblk_cfg *cfg)
{
	struct vblk *b = calloc(1, sizeof(*b));
	int e;

	if (!b) {
		e = errno;
		close(cfg->fd);
		errno = e;
		return NULL;
	}
	b->fd = cfg->fd;
	b->ro = cfg->readonly;
	b->sectors = cfg->size / VIRTIO_BLK_SECTOR;
	b->log = cfg->log;
	b->log_opaque = cfg->irq_opaque;
	/* Not a C string: 20 bytes, zero-padded, no NUL when full. */
	if (cfg->serial)
		memcpy(b->serial, cfg->serial,
		       strnlen(cfg->serial, sizeof(b->serial)));
	pthread_mutex_init(&b->wl, NULL);
	pthread_cond_init(&b->wake, NULL);
	pthread_cond_init(&b->idle, NULL);
	blk_config(b);
	b->be = (struct vmmio_backend){
		.name = "virtio-blk",
		.device_id = VIRTIO_ID_BLOCK,
		.features = 1ull << VIRTIO_BLK_F_SEG_MAX |
			    1ull << VIRTIO_BLK_F_BLK_SIZE |
			    1ull << VIRTIO_BLK_F_FLUSH,
		.nqueues = 1,
		.queue_max = VIRTIO_BLK_QUEUE_MAX,
		.config = b->config,
		.config_size = sizeof(b->config),
		.notify = blk_notify,
		.quiesce = blk_quiesce,
		.opaque = b,
	};
	if (b->ro)
		b->be.features |= 1ull << VIRTIO_BLK_F_RO;
	else
		b->be.features |= 1ull << VIRTIO_BLK_F_DISCARD |
				  1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	b->dev.ops = &blk_ops;
	b->dev.priv = b;
	if (vmmio_init(&b->t, &b->be, &cfg->mem, cfg->set_irq,
		       cfg->irq_opaque) < 0) {
		e = errno;
		blk_free(&b->dev);
		errno = e;
		return NULL;
	}
	b->t.log = cfg->log;
	e = pthread_create(&b->worker, NULL, worker, b);
	if (e) {
		blk_free(&b->dev);
		errno = e;
		return NULL;
	}
	pthread_setname_np(b->worker, "avm-blk");
	b->started = true;
	return b;
}

struct device *
vblk_device(struct vblk *b)
{
	return &b->dev;
}

void
vblk_drain(struct vblk *b)
{
	blk_quiesce(b);
}
