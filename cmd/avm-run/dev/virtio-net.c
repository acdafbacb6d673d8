/*
 * virtio-net on a tap device; see virtio-net.h.
 *
 * One worker thread per card does all the moving, never the thread that
 * wrote QueueNotify (a vCPU's, or node 0's link thread for a notification
 * forwarded from another node, which must not wait on a tap).  It sleeps
 * in poll(2) on an eventfd that the notifications write and on the tap:
 * readable while the guest has receive buffers, writable while a frame
 * waits for room.
 *
 * Transmit: each chain is the 12-byte header and the frame, split any
 * way over device-readable descriptors; the header is skipped (no
 * offloads are offered, so it asks for nothing) and the frame written to
 * the tap in one writev.  A chain too short for a header and an Ethernet
 * header, or a frame longer than 65535 bytes, is dropped; so is a frame
 * the tap refuses (EIO: the tap is down).  Every chain is given back
 * with length 0.  EAGAIN leaves the chain on the ring until the tap is
 * writable again.
 *
 * Receive: a frame is read from the tap only when there is somewhere to
 * put it; then the next chain takes the header (num_buffers 1, the rest
 * 0) and the frame, over its device-writable descriptors.  A chain too
 * small for the frame stays on the ring (virtq_unpop) and the frame is
 * dropped, as a real card drops a frame longer than its buffers; so is
 * a frame longer than 65535 bytes, whatever the buffers.  While the
 * guest has buffers its notifications for that queue are off; when they
 * run out the worker turns them on and stops reading the tap, so frames
 * wait in the tap's own queue (and the kernel drops beyond it).
 *
 * Save: the VM is paused, so the transmit side is quiet once drained;
 * the receive side would go on writing guest memory that the snapshot
 * is taking, so save also pauses the worker until the resume op.
 *
 * State bytes (devstate.h), layout version 1:
 *
 *	0   4   header: version 1, length 8 + 36 + 2 * 36 = 116
 *	4   6   the MAC address the guest was given
 *	10  2   0
 *	12  36  the transport (as in virtio-blk.c)
 *	48  72  the receive and the transmit queue (36 each)
 *
 * Restore takes the MAC of the state: the guest has it already.  A frame
 * read from the tap but not yet delivered is not state: it is lost, as
 * on a wire.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../bus.h"
#include "../devstate.h"
#include "virtio-mmio.h"
#include "virtio-net.h"

#define NET_STATE_VERSION 1
#define NET_STATE_SIZE (DEVSTATE_HDR_SIZE + 8 + 36 + 2 * 36)
_Static_assert(NET_STATE_SIZE == 120, "virtio-net state layout");
_Static_assert(NET_STATE_SIZE <= DEVSTATE_MAX, "fits every save buffer");

/* The kinds of trouble each said once in the log. */
enum {
	SAID_TX_SHORT = 1,
	SAID_TX_LONG = 2,
	SAID_TX_TAP = 4,
	SAID_RX_SMALL = 8,
	SAID_RX_TAP = 16,
	SAID_RX_LONG = 32,
};

struct vnet {
	struct device dev;
	struct vmmio t;
	struct vmmio_backend be;
	uint8_t config[VIRTIO_NET_CONFIG_SIZE];
	int fd, efd;
	void (*log)(void *, const char *);
	void *log_opaque;
	unsigned said;

	pthread_t worker;
	pthread_mutex_t wl;
	pthread_cond_t idle, unpause;
	/* Under wl: asked of the worker, and what it does. */
	bool tx_kick, rx_kick, busy, stop, paused, started;
	/* The worker's own. */
	bool rx_ready;	      /* the guest may have receive buffers */
	bool tx_stall;	      /* a frame waits for the tap to take it */
	bool tap_gone;	      /* the tap failed (deleted): no more polling it */
	size_t rx_len;	      /* bytes of a frame read, not yet delivered */
	struct vnet_counts n; /* under wl for readers */
	struct virtq_chain chain;
	uint8_t frame[VIRTIO_NET_FRAME_MAX + 1];
};

static void __attribute__((format(printf, 3, 4)))
say_once(struct vnet *v, unsigned kind, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (!v->log || (v->said & kind))
		return;
	v->said |= kind;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v->log(v->log_opaque, msg);
}

static void
count(struct vnet *v, uint64_t *frames, uint64_t *bytes, uint64_t len)
{
	pthread_mutex_lock(&v->wl);
	(*frames)++;
	if (bytes)
		*bytes += len;
	pthread_mutex_unlock(&v->wl);
}

/* --- transmit -----------------------------------------------------------*/

/* One chain to the tap: 0 done (sent or dropped), -1 EAGAIN. */
static int
tx_one(struct vnet *v, const struct virtq_chain *c)
{
	struct iovec iov[VIRTQ_SEGS_MAX];
	uint64_t len = virtq_bytes(c->seg, c->nread);
	ssize_t r;
	int k;

	if (len < VIRTIO_NET_HDR_SIZE + VIRTIO_NET_FRAME_MIN) {
		say_once(v, SAID_TX_SHORT,
			 "virtio-net: a transmitted chain of %lu bytes, "
			 "shorter than a header and an Ethernet header; "
			 "dropped",
			 (unsigned long)len);
		count(v, &v->n.tx_dropped, NULL, 0);
		return 0;
	}
	len -= VIRTIO_NET_HDR_SIZE;
	if (len > VIRTIO_NET_FRAME_MAX) {
		say_once(v, SAID_TX_LONG,
			 "virtio-net: a transmitted frame of %lu bytes, "
			 "more than 65535; dropped",
			 (unsigned long)len);
		count(v, &v->n.tx_dropped, NULL, 0);
		return 0;
	}
	k = virtq_iov(c->seg, c->nread, VIRTIO_NET_HDR_SIZE, len, iov);
	do
		r = writev(v->fd, iov, k);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == ENOBUFS))
		return -1;
	if (r < 0) {
		if (errno == EIO)
			say_once(v, SAID_TX_TAP,
				 "virtio-net: the tap is down: transmitted "
				 "frames are dropped until it is up");
		else
			say_once(v, SAID_TX_TAP,
				 "virtio-net: tap write: %s; frames dropped",
				 strerror(errno));
		count(v, &v->n.tx_dropped, NULL, 0);
		return 0;
	}
	count(v, &v->n.tx_frames, &v->n.tx_bytes, len);
	return 0;
}

static void
tx_drain(struct vnet *v)
{
	enum virtq_pop_result r;

	v->tx_stall = false;
	do {
		vmmio_notify_enable(&v->t, VIRTIO_NET_TXQ, 0);
		while ((r = vmmio_pop(&v->t, VIRTIO_NET_TXQ, &v->chain)) !=
		       VQ_EMPTY) {
			if (r == VQ_BAD_RING)
				return; /* NEEDS_RESET: nothing more */
			if (r == VQ_CHAIN && tx_one(v, &v->chain) < 0) {
				vmmio_unpop(&v->t, VIRTIO_NET_TXQ);
				v->tx_stall = true;
				return;
			}
			vmmio_push(&v->t, VIRTIO_NET_TXQ, v->chain.head, 0);
			if (r == VQ_BAD_CHAIN)
				return;
		}
	} while (vmmio_notify_enable(&v->t, VIRTIO_NET_TXQ, 1));
}

/* --- receive ------------------------------------------------------------*/

/* Header and frame into the chain's writable part; the bytes written,
 * or 0 when it is too small. */
static uint32_t
rx_put(struct vnet *v, const struct virtq_chain *c)
{
	struct iovec iov[VIRTQ_SEGS_MAX];
	const struct virtq_seg *w = c->seg + c->nread;
	uint8_t hdr[VIRTIO_NET_HDR_SIZE] = { 0 };
	uint64_t want = VIRTIO_NET_HDR_SIZE + v->rx_len;
	size_t off = 0;
	int k;

	if (virtq_bytes(w, c->nwrite) < want)
		return 0;
	hdr[10] = 1; /* num_buffers */
	k = virtq_iov(w, c->nwrite, 0, want, iov);
	/* The header's bytes first, then the frame's. */
	for (int i = 0; i < k; i++) {
		uint8_t *dst = iov[i].iov_base;
		size_t l = iov[i].iov_len;

		while (l) {
			const uint8_t *src;
			size_t n;

			if (off < VIRTIO_NET_HDR_SIZE) {
				src = hdr + off;
				n = VIRTIO_NET_HDR_SIZE - off;
			} else {
				src = v->frame + (off - VIRTIO_NET_HDR_SIZE);
				n = (size_t)(want - off);
			}
			if (n > l)
				n = l;
			memcpy(dst, src, n);
			dst += n;
			l -= n;
			off += n;
		}
	}
	return (uint32_t)want;
}

/* Frames read from the tap in one turn of the worker, at most: a host
 * that sends faster than the card takes (dropping them all, say, for a
 * buffer too small) must not keep the worker from its loop, where a
 * pause, a reset or the card's end waits. */
#define RX_BATCH VIRTIO_NET_QUEUE_MAX

static void
rx_drain(struct vnet *v)
{
	enum virtq_pop_result r;
	unsigned reads = 0;
	uint32_t put;
	ssize_t got;

	vmmio_notify_enable(&v->t, VIRTIO_NET_RXQ, 0);
	for (;;) {
		if (!v->rx_len) {
			if (reads++ == RX_BATCH)
				return; /* the tap is still readable */
			do
				got = read(v->fd, v->frame, sizeof(v->frame));
			while (got < 0 && errno == EINTR);
			if (got < 0) {
				if (errno == EAGAIN)
					return; /* poll says when */
				say_once(v, SAID_RX_TAP,
					 "virtio-net: tap read: %s; the card "
					 "receives nothing more",
					 strerror(errno));
				v->tap_gone = true;
				return;
			}
			if (got == 0)
				return;
			/* frame[] full: the frame was longer and is cut
			 * (a VLAN-tagged one on a tap of MTU 65521; some
			 * kernels' taps even say its whole length). */
			if (got > VIRTIO_NET_FRAME_MAX) {
				say_once(v, SAID_RX_LONG,
					 "virtio-net: a received frame of more "
					 "than 65535 bytes; dropped");
				count(v, &v->n.rx_dropped, NULL, 0);
				continue;
			}
			v->rx_len = (size_t)got;
		}
		r = vmmio_pop(&v->t, VIRTIO_NET_RXQ, &v->chain);
		if (r == VQ_EMPTY) {
			/* Out of buffers: the driver's next kick says
			 * when it gave more. */
			if (vmmio_notify_enable(&v->t, VIRTIO_NET_RXQ, 1))
				continue;
			v->rx_ready = false;
			return;
		}
		if (r == VQ_BAD_RING) {
			v->rx_ready = false;
			return;
		}
		if (r == VQ_BAD_CHAIN) {
			vmmio_push(&v->t, VIRTIO_NET_RXQ, v->chain.head, 0);
			v->rx_ready = false;
			return;
		}
		put = rx_put(v, &v->chain);
		if (!put) {
			vmmio_unpop(&v->t, VIRTIO_NET_RXQ);
			say_once(v, SAID_RX_SMALL,
				 "virtio-net: a received frame of %lu bytes "
				 "does not fit the guest's buffer; dropped",
				 (unsigned long)v->rx_len);
			count(v, &v->n.rx_dropped, NULL, 0);
		} else {
			vmmio_push(&v->t, VIRTIO_NET_RXQ, v->chain.head, put);
			count(v, &v->n.rx_frames, &v->n.rx_bytes, v->rx_len);
		}
		v->rx_len = 0;
	}
}

/* --- the worker ---------------------------------------------------------*/

static void
wake(struct vnet *v)
{
	uint64_t one = 1;

	/* Only EAGAIN (the counter at its limit) can fail: awake anyway. */
	if (write(v->efd, &one, sizeof(one)) < 0) {
	}
}

static void *
worker(void *arg)
{
	struct vnet *v = arg;
	struct pollfd pf[2];
	bool tx, rx;
	uint64_t x;

	for (;;) {
		pthread_mutex_lock(&v->wl);
		while (v->paused && !v->stop)
			pthread_cond_wait(&v->unpause, &v->wl);
		if (v->stop) {
			pthread_mutex_unlock(&v->wl);
			break;
		}
		pthread_mutex_unlock(&v->wl);

		pf[0] = (struct pollfd){ .fd = v->efd, .events = POLLIN };
		pf[1] = (struct pollfd){
			.fd = v->tap_gone ? -1 : v->fd,
			.events = (short)((v->rx_ready ? POLLIN : 0) |
					  (v->tx_stall ? POLLOUT : 0)),
		};
		if (poll(pf, 2, -1) < 0)
			continue; /* EINTR */
		if (pf[0].revents & POLLIN) {
			if (read(v->efd, &x, sizeof(x)) < 0) {
			}
		}
		/* A tap deleted under us: poll would return at once for
		 * ever.  Reading says why, and stops the polling. */
		if (pf[1].revents & (POLLERR | POLLHUP | POLLNVAL))
			pf[1].revents |= POLLIN;

		pthread_mutex_lock(&v->wl);
		if (v->stop || v->paused) {
			pthread_mutex_unlock(&v->wl);
			continue;
		}
		tx = v->tx_kick || (v->tx_stall && pf[1].revents & POLLOUT);
		rx = v->rx_kick;
		v->tx_kick = v->rx_kick = false;
		v->busy = true;
		pthread_mutex_unlock(&v->wl);

		if (tx)
			tx_drain(v);
		if (rx)
			v->rx_ready = true;
		if (v->rx_ready && !v->tap_gone &&
		    (rx || v->rx_len || pf[1].revents & POLLIN))
			rx_drain(v);
		else if (pf[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			say_once(v, SAID_RX_TAP,
				 "virtio-net: the tap failed; the card "
				 "receives nothing more");
			v->tap_gone = true;
		}

		pthread_mutex_lock(&v->wl);
		v->busy = false;
		pthread_cond_broadcast(&v->idle);
		pthread_mutex_unlock(&v->wl);
	}
	return NULL;
}

static void
net_notify(void *opaque, unsigned q)
{
	struct vnet *v = opaque;

	pthread_mutex_lock(&v->wl);
	if (q == VIRTIO_NET_TXQ)
		v->tx_kick = true;
	else
		v->rx_kick = true;
	pthread_mutex_unlock(&v->wl);
	wake(v);
}

/* Until the worker has nothing in hand and no notification waits for it
 * (a paused worker holds its notifications). */
static void
net_quiesce(void *opaque)
{
	struct vnet *v = opaque;

	pthread_mutex_lock(&v->wl);
	while (v->started &&
	       (v->busy || (!v->paused && (v->tx_kick || v->rx_kick))))
		pthread_cond_wait(&v->idle, &v->wl);
	pthread_mutex_unlock(&v->wl);
}

/* --- ops ----------------------------------------------------------------*/

static void
net_mmio_read(struct device *dev, struct vcpu *vcpu, uint64_t off, void *data,
	      unsigned len)
{
	struct vnet *v = dev->priv;

	(void)vcpu;
	vmmio_read(&v->t, off, data, len);
}

static void
net_mmio_write(struct device *dev, struct vcpu *vcpu, uint64_t off,
	       const void *data, unsigned len)
{
	struct vnet *v = dev->priv;

	(void)vcpu;
	vmmio_write(&v->t, off, data, len);
}

static ssize_t
net_save(struct device *dev, void *buf, size_t cap)
{
	struct vnet *v = dev->priv;
	uint8_t *p = ds_begin(buf, cap, NET_STATE_VERSION,
			      NET_STATE_SIZE - DEVSTATE_HDR_SIZE);

	if (!p)
		return -1;
	/* Transmit drained, receive held until resume. */
	net_quiesce(v);
	pthread_mutex_lock(&v->wl);
	v->paused = true;
	pthread_mutex_unlock(&v->wl);
	wake(v);
	net_quiesce(v);
	memcpy(p, v->config, 6);
	p += 6;
	ds_put16(&p, 0);
	vmmio_save(&v->t, p);
	return NET_STATE_SIZE;
}

static void
net_resume(struct device *dev)
{
	struct vnet *v = dev->priv;

	pthread_mutex_lock(&v->wl);
	v->paused = false;
	/* Look at both queues again: the guest may have moved meanwhile. */
	v->tx_kick = v->rx_kick = true;
	pthread_cond_signal(&v->unpause);
	pthread_mutex_unlock(&v->wl);
	wake(v);
}

static int
net_restore(struct device *dev, const void *buf, size_t len, char *why,
	    size_t whylen)
{
	struct vnet *v = dev->priv;
	const uint8_t *p =
		ds_open(buf, len, "virtio-net", NET_STATE_VERSION,
			NET_STATE_SIZE - DEVSTATE_HDR_SIZE, why, whylen);
	uint8_t mac[6];
	int r;

	if (!p)
		return -1;
	memcpy(mac, p, 6);
	p += 6;
	if (ds_get16(&p) != 0)
		return ds_fail(why, whylen, EINVAL,
			       "virtio-net state: reserved bytes not 0");
	net_quiesce(v);
	r = vmmio_restore(&v->t, p, why, whylen);
	if (r == 0) {
		memcpy(v->config, mac, 6);
		/* Frames may be waiting in the tap: look. */
		pthread_mutex_lock(&v->wl);
		v->rx_kick = v->tx_kick = true;
		pthread_mutex_unlock(&v->wl);
		wake(v);
	}
	return r;
}

/* The worker ends: no more frames either way, no more interrupts. */
static void
net_stop(struct device *dev)
{
	struct vnet *v = dev->priv;

	if (!v->started)
		return;
	pthread_mutex_lock(&v->wl);
	v->stop = true;
	pthread_cond_signal(&v->unpause);
	pthread_mutex_unlock(&v->wl);
	wake(v);
	pthread_join(v->worker, NULL);
	pthread_mutex_lock(&v->wl);
	v->started = false;
	v->busy = false;
	pthread_cond_broadcast(&v->idle);
	pthread_mutex_unlock(&v->wl);
}

static void
net_free(struct device *dev)
{
	struct vnet *v = dev->priv;

	net_stop(dev);
	vmmio_release(&v->t);
	pthread_cond_destroy(&v->idle);
	pthread_cond_destroy(&v->unpause);
	pthread_mutex_destroy(&v->wl);
	if (v->fd >= 0)
		close(v->fd);
	if (v->efd >= 0)
		close(v->efd);
	free(v);
}

static const struct dev_ops net_ops = {
	.name = "virtio-net",
	.mmio_read = net_mmio_read,
	.mmio_write = net_mmio_write,
	.save = net_save,
	.resume = net_resume,
	.restore = net_restore,
	.stop = net_stop,
	.free = net_free,
};

struct vnet *
vnet_new(const struct vnet_cfg *cfg)
{
	struct vnet *v = calloc(1, sizeof(*v));
	int e;

	if (!v) {
		e = errno;
		close(cfg->fd);
		errno = e;
		return NULL;
	}
	v->fd = cfg->fd;
	v->log = cfg->log;
	v->log_opaque = cfg->irq_opaque;
	pthread_mutex_init(&v->wl, NULL);
	pthread_cond_init(&v->idle, NULL);
	pthread_cond_init(&v->unpause, NULL);
	v->dev.ops = &net_ops;
	v->dev.priv = v;
	v->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->efd < 0) {
		e = errno;
		net_free(&v->dev);
		errno = e;
		return NULL;
	}
	/* The configuration space (5.1.4): mac, status, one queue pair. */
	memcpy(v->config, cfg->mac, 6);
	v->config[6] = VIRTIO_NET_S_LINK_UP;
	v->config[8] = 1;
	v->be = (struct vmmio_backend){
		.name = "virtio-net",
		.device_id = VIRTIO_ID_NET,
		.features =
			1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS,
		.nqueues = 2,
		.queue_max = VIRTIO_NET_QUEUE_MAX,
		.config = v->config,
		.config_size = sizeof(v->config),
		.notify = net_notify,
		.quiesce = net_quiesce,
		.opaque = v,
	};
	if (vmmio_init(&v->t, &v->be, &cfg->mem, cfg->set_irq,
		       cfg->irq_opaque) < 0) {
		e = errno;
		net_free(&v->dev);
		errno = e;
		return NULL;
	}
	v->t.log = cfg->log;
	e = pthread_create(&v->worker, NULL, worker, v);
	if (e) {
		net_free(&v->dev);
		errno = e;
		return NULL;
	}
	pthread_setname_np(v->worker, "avm-net");
	v->started = true;
	return v;
}

struct device *
vnet_device(struct vnet *v)
{
	return &v->dev;
}

void
vnet_counts(struct vnet *v, struct vnet_counts *c)
{
	pthread_mutex_lock(&v->wl);
	*c = v->n;
	pthread_mutex_unlock(&v->wl);
}

void
vnet_drain(struct vnet *v)
{
	struct timespec us100 = { 0, 100000 };

	for (;;) {
		struct pollfd pf = { v->fd, POLLIN, 0 };
		bool more;

		net_quiesce(v);
		/* Idle: what the worker wrote before it said so is settled.
		 * While it has buffers and the tap has a frame, it wakes
		 * for the frame: wait for that too. */
		pthread_mutex_lock(&v->wl);
		more = !v->paused && v->rx_ready && !v->tap_gone &&
		       (v->rx_len || poll(&pf, 1, 0) == 1);
		pthread_mutex_unlock(&v->wl);
		if (!more)
			return;
		nanosleep(&us100, NULL);
	}
}
