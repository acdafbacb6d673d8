/*
 * A guest driver of virtio-mmio for the unit tests: it reaches a device
 * only through its ops table's MMIO accesses and a fake guest RAM, as a
 * guest would, one split queue (queue 0) at fixed addresses.
 *
 * Fake guest RAM: DRV_RAM bytes at GPA 0 (1 MiB unless the includer
 * defines it); everything above is not RAM.
 */
#ifndef AVM_T_VIRTIO_DRV_H
#define AVM_T_VIRTIO_DRV_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../../cmd/avm-run/bus.h"
#include "../../cmd/avm-run/dev/virtio-mmio.h"

#ifndef DRV_RAM
#define DRV_RAM (1u << 20)
#endif
#define DRV_DESC 0x1000ull
#define DRV_AVAIL 0x2000ull
#define DRV_USED 0x3000ull
#define DRV_BUF 0x10000ull /* buffers from here */

static uint8_t drv_ram[DRV_RAM] __attribute__((aligned(4096)));

static void *
drv_ptr(void *opaque, uint64_t gpa, uint64_t len)
{
	(void)opaque;
	if (gpa >= DRV_RAM || len > DRV_RAM - gpa)
		return NULL;
	return drv_ram + gpa;
}

static const struct vq_mem drv_mem = { drv_ptr, NULL };

struct drv {
	struct device *dev;
	uint16_t num;
	uint16_t avail_idx; /* the next index the driver publishes */
};

static inline void
drv_w32(struct drv *d, uint64_t off, uint32_t v)
{
	d->dev->ops->mmio_write(d->dev, NULL, off, &v, 4);
}

static inline uint32_t
drv_r32(struct drv *d, uint64_t off)
{
	uint32_t v = 0;

	d->dev->ops->mmio_read(d->dev, NULL, off, &v, 4);
	return v;
}

static inline uint64_t
drv_features(struct drv *d)
{
	drv_w32(d, VMMIO_DEVICE_FEATURES_SEL, 1);
	uint64_t hi = drv_r32(d, VMMIO_DEVICE_FEATURES);

	drv_w32(d, VMMIO_DEVICE_FEATURES_SEL, 0);
	return hi << 32 | drv_r32(d, VMMIO_DEVICE_FEATURES);
}

/* Reset, ACKNOWLEDGE, DRIVER, features; returns the status read back
 * after FEATURES_OK. */
static inline uint32_t
drv_negotiate(struct drv *d, uint64_t accept)
{
	drv_w32(d, VMMIO_STATUS, 0);
	drv_w32(d, VMMIO_STATUS, VIRTIO_S_ACKNOWLEDGE);
	drv_w32(d, VMMIO_STATUS, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
	drv_w32(d, VMMIO_DRIVER_FEATURES_SEL, 0);
	drv_w32(d, VMMIO_DRIVER_FEATURES, (uint32_t)accept);
	drv_w32(d, VMMIO_DRIVER_FEATURES_SEL, 1);
	drv_w32(d, VMMIO_DRIVER_FEATURES, (uint32_t)(accept >> 32));
	drv_w32(d, VMMIO_STATUS,
		VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
	return drv_r32(d, VMMIO_STATUS);
}

/*
 * A queue of any index at areas of the caller's choosing: the geometry,
 * and the next available index the driver publishes.
 */
struct drv_q {
	unsigned qi;
	uint16_t num, avail_idx;
	uint64_t desc, avail, used;
};

/* Sets up q on the device; returns QueueReady read back. */
static inline uint32_t
drvq_setup(struct drv *d, struct drv_q *q)
{
	q->avail_idx = 0;
	drv_w32(d, VMMIO_QUEUE_SEL, q->qi);
	drv_w32(d, VMMIO_QUEUE_NUM, q->num);
	drv_w32(d, VMMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
	drv_w32(d, VMMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
	drv_w32(d, VMMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
	drv_w32(d, VMMIO_QUEUE_DRIVER_HIGH, (uint32_t)(q->avail >> 32));
	drv_w32(d, VMMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used);
	drv_w32(d, VMMIO_QUEUE_DEVICE_HIGH, (uint32_t)(q->used >> 32));
	drv_w32(d, VMMIO_QUEUE_READY, 1);
	return drv_r32(d, VMMIO_QUEUE_READY);
}

/* Queue 0 of num entries at the fixed areas; returns QueueReady after. */
static inline uint32_t
drv_queue(struct drv *d, uint16_t num, uint64_t desc, uint64_t avail,
	  uint64_t used)
{
	struct drv_q q = { 0, num, 0, desc, avail, used };

	memset(drv_ram, 0, DRV_BUF);
	d->num = num;
	d->avail_idx = 0;
	return drvq_setup(d, &q);
}

/* The whole start: features, queue 0 of num, DRIVER_OK.  Returns the
 * status. */
static inline uint32_t
drv_start(struct drv *d, uint64_t accept, uint16_t num)
{
	uint32_t s = drv_negotiate(d, accept);

	drv_queue(d, num, DRV_DESC, DRV_AVAIL, DRV_USED);
	drv_w32(d, VMMIO_STATUS, s | VIRTIO_S_DRIVER_OK);
	return drv_r32(d, VMMIO_STATUS);
}

static inline void
drv_desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
	 uint16_t flags, uint16_t next)
{
	uint8_t *p = drv_ram + table + 16 * (uint64_t)i;

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

/* avail->ring[] gets head, avail->idx moves on, and the device is told. */
static inline void
drvq_submit(struct drv *d, struct drv_q *q, uint16_t head, int notify)
{
	uint16_t *ring = (uint16_t *)(drv_ram + q->avail);

	ring[2 + (q->avail_idx & (q->num - 1))] = head;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&ring[1], ++q->avail_idx, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (notify)
		drv_w32(d, VMMIO_QUEUE_NOTIFY, q->qi);
}

static inline uint16_t
drvq_used_idx(const struct drv_q *q)
{
	return __atomic_load_n((uint16_t *)(drv_ram + q->used + 2),
			       __ATOMIC_ACQUIRE);
}

/* used->ring[i]: id and len. */
static inline void
drvq_used_elem(const struct drv_q *q, uint16_t i, uint32_t *id, uint32_t *len)
{
	uint8_t *e = drv_ram + q->used + 4 + 8 * (uint64_t)(i & (q->num - 1));

	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
}

/* Waits up to 5 s for used->idx to reach want; returns 1 when it did. */
static inline int
drvq_wait_used(const struct drv_q *q, uint16_t want)
{
	struct timespec ts = { 0, 1000000 };

	for (int i = 0; i < 5000; i++) {
		if (drvq_used_idx(q) == want)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* The same on queue 0 at the fixed areas of drv_start. */
static inline struct drv_q
drv_q0(const struct drv *d)
{
	return (struct drv_q){ 0,	 d->num,    d->avail_idx,
			       DRV_DESC, DRV_AVAIL, DRV_USED };
}

static inline uint16_t *
drv_avail16(unsigned i)
{
	return (uint16_t *)(drv_ram + DRV_AVAIL + 2 * i);
}

static inline uint16_t *
drv_used16(unsigned i)
{
	return (uint16_t *)(drv_ram + DRV_USED + 2 * i);
}

static inline void
drv_submit(struct drv *d, uint16_t head, int notify)
{
	struct drv_q q = drv_q0(d);

	drvq_submit(d, &q, head, notify);
	d->avail_idx = q.avail_idx;
}

static inline uint16_t
drv_used_idx(void)
{
	return __atomic_load_n(drv_used16(1), __ATOMIC_ACQUIRE);
}

static inline void
drv_used_elem(const struct drv *d, uint16_t i, uint32_t *id, uint32_t *len)
{
	struct drv_q q = drv_q0(d);

	drvq_used_elem(&q, i, id, len);
}

static inline int
drv_wait_used(uint16_t want)
{
	struct drv_q q = { .used = DRV_USED };

	return drvq_wait_used(&q, want);
}

#endif
