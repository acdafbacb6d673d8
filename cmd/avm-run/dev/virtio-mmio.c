/*
 * The virtio-mmio transport, register layout version 2; see
 * virtio-mmio.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../devstate.h"
#include "virtio-mmio.h"

#define TRANSPORT_FEATURES                                                 \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_INDIRECT_DESC) | \
	 (1ull << VIRTIO_F_RING_EVENT_IDX))
#define STATUS_BITS                                                    \
	(VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_DRIVER_OK | \
	 VIRTIO_S_FEATURES_OK | VIRTIO_S_NEEDS_RESET | VIRTIO_S_FAILED)

static void *
no_mem(void *opaque, uint64_t gpa, uint64_t len)
{
	(void)opaque;
	(void)gpa;
	(void)len;
	return NULL;
}

int
vmmio_init(struct vmmio *t, const struct vmmio_backend *be,
	   const struct vq_mem *mem, void (*set_irq)(void *, int),
	   void *irq_opaque)
{
	if (!be || !be->nqueues || be->nqueues > VMMIO_QUEUES_MAX ||
	    !be->queue_max || be->queue_max > VIRTQ_NUM_MAX ||
	    (be->queue_max & (be->queue_max - 1)) ||
	    be->config_size > VMMIO_SIZE - VMMIO_CONFIG || !set_irq) {
		errno = EINVAL;
		return -1;
	}
	memset(t, 0, sizeof(*t));
	t->be = be;
	t->mem = mem ? *mem : (struct vq_mem){ no_mem, NULL };
	t->set_irq = set_irq;
	t->irq_opaque = irq_opaque;
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

void
vmmio_release(struct vmmio *t)
{
	pthread_mutex_destroy(&t->lock);
}

uint64_t
vmmio_offered(const struct vmmio *t)
{
	return t->be->features | TRANSPORT_FEATURES;
}

int
vmmio_has(const struct vmmio *t, unsigned bit)
{
	return (t->status & VIRTIO_S_FEATURES_OK) && bit < 64 &&
	       (t->drv_features >> bit & 1);
}

/* With the lock: the line follows InterruptStatus. */
static void
raise_locked(struct vmmio *t, uint32_t bits)
{
	uint32_t old = t->isr;

	t->isr |= bits;
	if (!old && t->isr)
		t->set_irq(t->irq_opaque, 1);
}

static void
needs_reset_locked(struct vmmio *t, const char *why)
{
	if (t->status & VIRTIO_S_NEEDS_RESET)
		return;
	snprintf(t->why, sizeof(t->why), "%s", why);
	if (t->log) {
		char msg[256];

		snprintf(msg, sizeof(msg),
			 "%s: driver error, device needs a reset: %s",
			 t->be->name, why);
		t->log(t->irq_opaque, msg);
	}
	t->status |= VIRTIO_S_NEEDS_RESET;
	if (t->status & VIRTIO_S_DRIVER_OK)
		raise_locked(t, VMMIO_INT_CONFIG);
}

void
vmmio_needs_reset(struct vmmio *t, const char *why)
{
	pthread_mutex_lock(&t->lock);
	needs_reset_locked(t, why);
	pthread_mutex_unlock(&t->lock);
}

static struct virtq *
cur_queue(struct vmmio *t)
{
	return t->queue_sel < t->be->nqueues ? &t->q[t->queue_sel] : NULL;
}

/*
 * Reset (status 0): the backend stops first, without the lock (it may
 * wait for a request in flight that pushes under it); then every
 * register goes back to its initial value and the line drops.
 */
static void
quiesce(struct vmmio *t)
{
	t->resetting = true;
	pthread_mutex_unlock(&t->lock);
	if (t->be->quiesce)
		t->be->quiesce(t->be->opaque);
	pthread_mutex_lock(&t->lock);
	t->resetting = false;
}

static void
reset(struct vmmio *t)
{
	quiesce(t);
	t->status = 0;
	t->dev_features_sel = t->drv_features_sel = 0;
	t->drv_features = 0;
	t->queue_sel = 0;
	memset(t->q, 0, sizeof(t->q));
	t->why[0] = '\0';
	if (t->isr) {
		t->isr = 0;
		t->set_irq(t->irq_opaque, 0);
	}
}

static void
write_status(struct vmmio *t, uint32_t v)
{
	uint32_t add;

	if (v == 0) {
		reset(t);
		return;
	}
	add = v & ~t->status & STATUS_BITS;
	if (add & VIRTIO_S_FEATURES_OK) {
		/* Only features we offered, and never without VERSION_1:
		 * refused, the bit reads back 0. */
		if ((t->drv_features & ~vmmio_offered(t)) ||
		    !(t->drv_features >> VIRTIO_F_VERSION_1 & 1))
			add &= ~(uint32_t)VIRTIO_S_FEATURES_OK;
	}
	if ((add & VIRTIO_S_DRIVER_OK) &&
	    !((t->status | add) & VIRTIO_S_FEATURES_OK)) {
		add &= ~(uint32_t)VIRTIO_S_DRIVER_OK;
		needs_reset_locked(t, "DRIVER_OK without FEATURES_OK");
	}
	/* The driver only adds bits; NEEDS_RESET is the device's. */
	t->status |= add & ~(uint32_t)VIRTIO_S_NEEDS_RESET;
}

static void
queue_ready(struct vmmio *t, struct virtq *q, uint32_t v)
{
	char why[128];

	if (!v) {
		if (q->ready)
			quiesce(t);
		q->ready = false;
		virtq_reset(q);
		return;
	}
	if (q->ready || !(t->status & VIRTIO_S_FEATURES_OK))
		return;
	if (q->num > t->be->queue_max) {
		snprintf(why, sizeof(why),
			 "queue %u: size %u above the %u "
			 "offered",
			 t->queue_sel, q->num, t->be->queue_max);
		needs_reset_locked(t, why);
		return;
	}
	if (virtq_check(q, &t->mem, why, sizeof(why)) < 0) {
		char m[160];

		snprintf(m, sizeof(m), "queue %u: %s", t->queue_sel, why);
		needs_reset_locked(t, m);
		return;
	}
	virtq_reset(q);
	q->event_idx = vmmio_has(t, VIRTIO_F_RING_EVENT_IDX);
	q->indirect = vmmio_has(t, VIRTIO_F_INDIRECT_DESC);
	q->ready = true;
}

static void
set_half(uint64_t *x, int high, uint32_t v)
{
	if (high)
		*x = (*x & 0xffffffffull) | (uint64_t)v << 32;
	else
		*x = (*x & ~0xffffffffull) | v;
}

void
vmmio_read(struct vmmio *t, uint64_t off, void *data, unsigned len)
{
	struct virtq *q;
	uint32_t v = 0;

	memset(data, 0, len);
	pthread_mutex_lock(&t->lock);
	if (off >= VMMIO_CONFIG) {
		uint64_t o = off - VMMIO_CONFIG;

		/* Bytes past the end read 0. */
		if (o < t->be->config_size)
			memcpy(data, t->be->config + o,
			       len < t->be->config_size - o
				       ? len
				       : t->be->config_size - o);
		pthread_mutex_unlock(&t->lock);
		return;
	}
	q = cur_queue(t);
	switch (len == 4 ? off : ~0ull) {
	case VMMIO_MAGIC:
		v = VMMIO_MAGIC_VALUE;
		break;
	case VMMIO_VERSION:
		v = 2;
		break;
	case VMMIO_DEVICE_ID:
		v = t->be->device_id;
		break;
	case VMMIO_VENDOR_ID:
		v = VMMIO_VENDOR;
		break;
	case VMMIO_DEVICE_FEATURES:
		if (t->dev_features_sel < 2)
			v = (uint32_t)(vmmio_offered(t) >>
				       (32 * t->dev_features_sel));
		break;
	case VMMIO_QUEUE_NUM_MAX:
		v = q ? t->be->queue_max : 0;
		break;
	case VMMIO_QUEUE_READY:
		v = q && q->ready;
		break;
	case VMMIO_INTERRUPT_STATUS:
		v = t->isr;
		break;
	case VMMIO_STATUS:
		v = t->status;
		break;
	case VMMIO_CONFIG_GENERATION:
		v = t->config_gen;
		break;
	}
	pthread_mutex_unlock(&t->lock);
	memcpy(data, &v, len == 4 ? 4 : 0);
}

void
vmmio_write(struct vmmio *t, uint64_t off, const void *data, unsigned len)
{
	struct virtq *q;
	uint32_t v;
	int notify = -1;

	if (len != 4 || off >= VMMIO_CONFIG)
		return; /* config space: nothing writable is offered */
	memcpy(&v, data, 4);
	pthread_mutex_lock(&t->lock);
	q = cur_queue(t);
	switch (off) {
	case VMMIO_DEVICE_FEATURES_SEL:
		t->dev_features_sel = v;
		break;
	case VMMIO_DRIVER_FEATURES_SEL:
		t->drv_features_sel = v;
		break;
	case VMMIO_DRIVER_FEATURES:
		if ((t->status & VIRTIO_S_DRIVER) &&
		    !(t->status & VIRTIO_S_FEATURES_OK) &&
		    t->drv_features_sel < 2)
			set_half(&t->drv_features, t->drv_features_sel == 1, v);
		break;
	case VMMIO_QUEUE_SEL:
		t->queue_sel = v;
		break;
	case VMMIO_QUEUE_NUM:
		if (q && !q->ready)
			q->num = (uint16_t)(v > 0xffff ? 0xffff : v);
		break;
	case VMMIO_QUEUE_READY:
		if (q)
			queue_ready(t, q, v);
		break;
	case VMMIO_QUEUE_NOTIFY:
		if (v < t->be->nqueues && t->q[v].ready &&
		    (t->status & VIRTIO_S_DRIVER_OK) &&
		    !(t->status & VIRTIO_S_NEEDS_RESET))
			notify = (int)v;
		break;
	case VMMIO_INTERRUPT_ACK:
		if (t->isr && !(t->isr &= ~v))
			t->set_irq(t->irq_opaque, 0);
		break;
	case VMMIO_STATUS:
		write_status(t, v);
		break;
	case VMMIO_QUEUE_DESC_LOW:
	case VMMIO_QUEUE_DESC_HIGH:
		if (q && !q->ready)
			set_half(&q->desc, off == VMMIO_QUEUE_DESC_HIGH, v);
		break;
	case VMMIO_QUEUE_DRIVER_LOW:
	case VMMIO_QUEUE_DRIVER_HIGH:
		if (q && !q->ready)
			set_half(&q->avail, off == VMMIO_QUEUE_DRIVER_HIGH, v);
		break;
	case VMMIO_QUEUE_DEVICE_LOW:
	case VMMIO_QUEUE_DEVICE_HIGH:
		if (q && !q->ready)
			set_half(&q->used, off == VMMIO_QUEUE_DEVICE_HIGH, v);
		break;
	}
	pthread_mutex_unlock(&t->lock);
	if (notify >= 0 && t->be->notify)
		t->be->notify(t->be->opaque, (unsigned)notify);
}

/* With the lock: whether the backend may take entries from queue qi.
 * vmmio_pop and vmmio_notify_enable ask the same, or a backend that
 * drains until nothing is pending spins while a reset waits for it. */
static int
may_pop_locked(const struct vmmio *t, unsigned qi)
{
	return qi < t->be->nqueues && t->q[qi].ready && !t->resetting &&
	       (t->status & VIRTIO_S_DRIVER_OK) &&
	       !(t->status & VIRTIO_S_NEEDS_RESET);
}

enum virtq_pop_result
vmmio_pop(struct vmmio *t, unsigned qi, struct virtq_chain *c)
{
	enum virtq_pop_result r = VQ_EMPTY;
	char why[128], m[160];

	pthread_mutex_lock(&t->lock);
	if (may_pop_locked(t, qi)) {
		r = virtq_pop(&t->q[qi], &t->mem, c, why, sizeof(why));
		if (r < 0) {
			snprintf(m, sizeof(m), "queue %u: %s", qi, why);
			needs_reset_locked(t, m);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

void
vmmio_push(struct vmmio *t, unsigned qi, uint16_t head, uint32_t len)
{
	struct virtq *q;

	pthread_mutex_lock(&t->lock);
	q = qi < t->be->nqueues ? &t->q[qi] : NULL;
	if (q && q->ready && virtq_push(q, &t->mem, head, len) == 0 &&
	    virtq_should_interrupt(q, &t->mem))
		raise_locked(t, VMMIO_INT_VRING);
	pthread_mutex_unlock(&t->lock);
}

void
vmmio_unpop(struct vmmio *t, unsigned qi)
{
	pthread_mutex_lock(&t->lock);
	if (may_pop_locked(t, qi))
		virtq_unpop(&t->q[qi]);
	pthread_mutex_unlock(&t->lock);
}

int
vmmio_notify_enable(struct vmmio *t, unsigned qi, int on)
{
	int r = 0;

	pthread_mutex_lock(&t->lock);
	if (qi < t->be->nqueues && t->q[qi].ready) {
		virtq_set_notify(&t->q[qi], &t->mem, on);
		r = on && may_pop_locked(t, qi) &&
		    virtq_pending(&t->q[qi], &t->mem);
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* --- state --------------------------------------------------------------*/

#define VMMIO_STATE_HEAD 36
#define VMMIO_STATE_QUEUE 36

size_t
vmmio_save_size(const struct vmmio *t)
{
	return VMMIO_STATE_HEAD + VMMIO_STATE_QUEUE * (size_t)t->be->nqueues;
}

void
vmmio_save(struct vmmio *t, uint8_t *p)
{
	unsigned i;

	pthread_mutex_lock(&t->lock);
	ds_put32(&p, t->status);
	ds_put32(&p, t->dev_features_sel);
	ds_put32(&p, t->drv_features_sel);
	ds_put32(&p, t->queue_sel);
	ds_put64(&p, t->drv_features);
	ds_put32(&p, t->isr);
	ds_put32(&p, t->config_gen);
	ds_put32(&p, t->be->nqueues);
	for (i = 0; i < t->be->nqueues; i++) {
		const struct virtq *q = &t->q[i];

		ds_put16(&p, q->num);
		ds_put8(&p, q->ready);
		ds_put8(&p, 0);
		ds_put64(&p, q->desc);
		ds_put64(&p, q->avail);
		ds_put64(&p, q->used);
		ds_put16(&p, q->last_avail);
		ds_put16(&p, q->used_idx);
		ds_put16(&p, q->signalled);
		ds_put16(&p, 0);
	}
	pthread_mutex_unlock(&t->lock);
}

int
vmmio_restore(struct vmmio *t, const uint8_t *p, char *why, size_t whylen)
{
	struct virtq q[VMMIO_QUEUES_MAX];
	uint32_t status, dsel, fsel, qsel, isr, gen, n;
	uint64_t feat;
	char qwhy[128];
	unsigned i;

	status = ds_get32(&p);
	dsel = ds_get32(&p);
	fsel = ds_get32(&p);
	qsel = ds_get32(&p);
	feat = ds_get64(&p);
	isr = ds_get32(&p);
	gen = ds_get32(&p);
	n = ds_get32(&p);
	if (status & ~(uint32_t)STATUS_BITS)
		return ds_fail(why, whylen, EINVAL,
			       "%s state: status %#x has unknown bits",
			       t->be->name, status);
	/* Before FEATURES_OK a driver may write any bits (the device
	 * refuses them then); after, only offered ones were accepted. */
	if ((status & VIRTIO_S_FEATURES_OK) && (feat & ~vmmio_offered(t)))
		return ds_fail(why, whylen, EINVAL,
			       "%s state: driver features %#llx beyond the "
			       "offered %#llx",
			       t->be->name, (unsigned long long)feat,
			       (unsigned long long)vmmio_offered(t));
	if (isr & ~(uint32_t)(VMMIO_INT_VRING | VMMIO_INT_CONFIG))
		return ds_fail(why, whylen, EINVAL,
			       "%s state: interrupt status %#x has unknown "
			       "bits",
			       t->be->name, isr);
	if (n != t->be->nqueues)
		return ds_fail(why, whylen, EINVAL,
			       "%s state: %u queues, the device has %u",
			       t->be->name, n, t->be->nqueues);
	memset(q, 0, sizeof(q));
	for (i = 0; i < n; i++) {
		uint8_t ready, pad8;
		uint16_t pad16;

		q[i].num = ds_get16(&p);
		ready = ds_get8(&p);
		pad8 = ds_get8(&p);
		q[i].desc = ds_get64(&p);
		q[i].avail = ds_get64(&p);
		q[i].used = ds_get64(&p);
		q[i].last_avail = ds_get16(&p);
		q[i].used_idx = ds_get16(&p);
		q[i].signalled = ds_get16(&p);
		pad16 = ds_get16(&p);
		if (ready > 1 || pad8 || pad16)
			return ds_fail(why, whylen, EINVAL,
				       "%s state: queue %u: bad ready flag or "
				       "reserved bytes",
				       t->be->name, i);
		/* Any size until QueueReady, which checks it. */
		if (ready && q[i].num > t->be->queue_max)
			return ds_fail(why, whylen, EINVAL,
				       "%s state: queue %u: size %u above %u",
				       t->be->name, i, q[i].num,
				       t->be->queue_max);
		if (ready && virtq_check(&q[i], &t->mem, qwhy, sizeof(qwhy)))
			return ds_fail(why, whylen, EINVAL,
				       "%s state: queue %u: %s", t->be->name, i,
				       qwhy);
		q[i].ready = ready;
		q[i].event_idx = (status & VIRTIO_S_FEATURES_OK) &&
				 (feat >> VIRTIO_F_RING_EVENT_IDX & 1);
		q[i].indirect = (status & VIRTIO_S_FEATURES_OK) &&
				(feat >> VIRTIO_F_INDIRECT_DESC & 1);
	}
	pthread_mutex_lock(&t->lock);
	t->status = status;
	t->dev_features_sel = dsel;
	t->drv_features_sel = fsel;
	t->queue_sel = qsel;
	t->drv_features = feat;
	t->config_gen = gen;
	memcpy(t->q, q, sizeof(q));
	if (!t->isr != !isr)
		t->set_irq(t->irq_opaque, isr != 0);
	t->isr = isr;
	pthread_mutex_unlock(&t->lock);
	return 0;
}
