/*
 * Split virtqueues, device side; see virtq.h.
 *
 * Ring layout (virtio 1.x 2.7): the descriptor table is num entries of
 * 16 bytes (addr 8, len 4, flags 2, next 2), 16-aligned; the available
 * ring is flags 2, idx 2, ring[num] 2 each, used_event 2, 2-aligned; the
 * used ring is flags 2, idx 2, ring[num] of (id 4, len 4), avail_event 2,
 * 4-aligned.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sys/uio.h>

#include "virtq.h"

#define DESC_SIZE 16

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static uint64_t
avail_size(uint16_t num)
{
	return 6 + 2 * (uint64_t)num;
}

static uint64_t
used_size(uint16_t num)
{
	return 6 + 8 * (uint64_t)num;
}

static void __attribute__((format(printf, 3, 4)))
fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
}

int
virtq_check(const struct virtq *q, const struct vq_mem *m, char *why,
	    size_t whylen)
{
	if (!q->num || (q->num & (q->num - 1)) || q->num > VIRTQ_NUM_MAX) {
		fail(why, whylen, "queue size %u: not a power of 2 up to %u",
		     q->num, VIRTQ_NUM_MAX);
		return -1;
	}
	if ((q->desc & 15) || (q->avail & 1) || (q->used & 3)) {
		fail(why, whylen, "ring areas misaligned");
		return -1;
	}
	if (!m->ptr(m->opaque, q->desc, DESC_SIZE * (uint64_t)q->num) ||
	    !m->ptr(m->opaque, q->avail, avail_size(q->num)) ||
	    !m->ptr(m->opaque, q->used, used_size(q->num))) {
		fail(why, whylen, "ring areas outside guest RAM");
		return -1;
	}
	return 0;
}

/* The ring fields the driver writes while we read: one load each. */
static uint16_t
load16(const void *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static void
store16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

static uint8_t *
avail_ring(const struct virtq *q, const struct vq_mem *m)
{
	return m->ptr(m->opaque, q->avail, avail_size(q->num));
}

static uint8_t *
used_ring(const struct virtq *q, const struct vq_mem *m)
{
	return m->ptr(m->opaque, q->used, used_size(q->num));
}

static void
read_desc(const uint8_t *t, unsigned i, struct desc *d)
{
	const uint8_t *p = t + (size_t)i * DESC_SIZE;

	memcpy(&d->addr, p, 8);
	memcpy(&d->len, p + 8, 4);
	memcpy(&d->flags, p + 12, 2);
	memcpy(&d->next, p + 14, 2);
}

/* Walks the chain at c->head: the main table, or the one indirect table
 * its only descriptor names. */
static int
walk(const struct virtq *q, const struct vq_mem *m, struct virtq_chain *c,
     char *why, size_t whylen)
{
	const uint8_t *table =
		m->ptr(m->opaque, q->desc, DESC_SIZE * (uint64_t)q->num);
	unsigned n = q->num, i = c->head, count = 0, limit = q->num;
	int in_indirect = 0;
	struct desc d;

	if (!table) {
		fail(why, whylen, "descriptor table outside guest RAM");
		return -1;
	}
	for (;;) {
		if (i >= n) {
			fail(why, whylen,
			     "descriptor index %u beyond the table's %u", i, n);
			return -1;
		}
		read_desc(table, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!q->indirect || in_indirect || count ||
			    (d.flags & VIRTQ_DESC_F_NEXT)) {
				fail(why, whylen,
				     "indirect descriptor %u not allowed "
				     "here (flags %#x)",
				     i, d.flags);
				return -1;
			}
			if (!d.len || d.len % DESC_SIZE ||
			    d.len / DESC_SIZE > VIRTQ_SEGS_MAX) {
				fail(why, whylen,
				     "indirect table of %u bytes (16 to %u, "
				     "in 16s)",
				     d.len, VIRTQ_SEGS_MAX * DESC_SIZE);
				return -1;
			}
			table = m->ptr(m->opaque, d.addr, d.len);
			if (!table) {
				fail(why, whylen,
				     "indirect table of descriptor %u outside "
				     "guest RAM",
				     i);
				return -1;
			}
			n = limit = d.len / DESC_SIZE;
			in_indirect = 1;
			i = 0;
			continue;
		}
		/* More links than entries: the chain loops. */
		if (++count > limit || c->nread + c->nwrite >= VIRTQ_SEGS_MAX) {
			fail(why, whylen,
			     "chain at head %u longer than its table (%u): "
			     "a loop",
			     c->head, limit);
			return -1;
		}
		c->seg[c->nread + c->nwrite].p =
			m->ptr(m->opaque, d.addr, d.len);
		c->seg[c->nread + c->nwrite].len = d.len;
		if (!c->seg[c->nread + c->nwrite].p) {
			fail(why, whylen,
			     "buffer of descriptor %u (%u bytes) outside "
			     "guest RAM",
			     i, d.len);
			return -1;
		}
		if (d.flags & VIRTQ_DESC_F_WRITE) {
			c->nwrite++;
		} else if (c->nwrite) {
			fail(why, whylen,
			     "descriptor %u is device-readable after a "
			     "writable one",
			     i);
			return -1;
		} else {
			c->nread++;
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

enum virtq_pop_result
virtq_pop(struct virtq *q, const struct vq_mem *m, struct virtq_chain *c,
	  char *why, size_t whylen)
{
	uint8_t *av = avail_ring(q, m);
	uint16_t idx;

	c->nread = c->nwrite = 0;
	if (!q->ready || !av) {
		fail(why, whylen, "queue not ready or its ring not in RAM");
		return VQ_BAD_RING;
	}
	idx = load16(av + 2);
	if (idx == q->last_avail)
		return VQ_EMPTY;
	if ((uint16_t)(idx - q->last_avail) > q->num) {
		fail(why, whylen,
		     "available index %u is more than the queue size ahead "
		     "of %u",
		     idx, q->last_avail);
		return VQ_BAD_RING;
	}
	/* The entry and what it points at were written before idx. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	c->head = load16(av + 4 + 2 * (q->last_avail & (q->num - 1)));
	if (c->head >= q->num) {
		fail(why, whylen, "available entry names descriptor %u of %u",
		     c->head, q->num);
		return VQ_BAD_RING;
	}
	q->last_avail++;
	return walk(q, m, c, why, whylen) < 0 ? VQ_BAD_CHAIN : VQ_CHAIN;
}

int
virtq_pending(const struct virtq *q, const struct vq_mem *m)
{
	uint8_t *av = avail_ring(q, m);

	if (!q->ready || !av)
		return 0;
	return load16(av + 2) != q->last_avail;
}

int
virtq_push(struct virtq *q, const struct vq_mem *m, uint16_t head, uint32_t len)
{
	uint8_t *u = used_ring(q, m);
	uint8_t *e;
	uint32_t id = head;

	if (!q->ready || !u)
		return -1;
	e = u + 4 + 8 * (size_t)(q->used_idx & (q->num - 1));
	memcpy(e, &id, 4);
	memcpy(e + 4, &len, 4);
	q->used_idx++;
	/* The element (and the buffer's bytes) before the index. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	store16(u + 2, q->used_idx);
	return 0;
}

bool
virtq_should_interrupt(struct virtq *q, const struct vq_mem *m)
{
	uint8_t *av = avail_ring(q, m);
	uint16_t old = q->signalled, now = q->used_idx, ev;

	q->signalled = now;
	if (!av || old == now)
		return false;
	/* The used index is out before we read what the driver asked. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(load16(av) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	ev = load16(av + 4 + 2 * (size_t)q->num);
	/* Crossed used_event on the way from old to now. */
	return (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
}

void
virtq_set_notify(struct virtq *q, const struct vq_mem *m, int on)
{
	uint8_t *u = used_ring(q, m);

	if (!q->ready || !u)
		return;
	if (q->event_idx) {
		/* Notify when the entry after the last we took comes. */
		if (on)
			store16(u + 4 + 8 * (size_t)q->num, q->last_avail);
	} else {
		store16(u, on ? 0 : VIRTQ_USED_F_NO_NOTIFY);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void
virtq_reset(struct virtq *q)
{
	q->last_avail = q->used_idx = q->signalled = 0;
}

int
virtq_iov(const struct virtq_seg *seg, unsigned n, uint64_t skip, uint64_t len,
	  struct iovec *iov)
{
	int k = 0;

	for (unsigned i = 0; i < n && len; i++) {
		uint64_t l = seg[i].len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len)
			l = len;
		iov[k].iov_base = seg[i].p + skip;
		iov[k].iov_len = (size_t)l;
		k++;
		len -= l;
		skip = 0;
	}
	return k;
}

uint64_t
virtq_bytes(const struct virtq_seg *seg, unsigned n)
{
	uint64_t b = 0;

	for (unsigned i = 0; i < n; i++)
		b += seg[i].len;
	return b;
}

void
virtq_unpop(struct virtq *q)
{
	q->last_avail--;
}
