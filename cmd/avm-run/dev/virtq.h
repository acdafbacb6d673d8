/*
 * Split virtqueues (virtio 1.x, "2.7 Split Virtqueues"), device side:
 * taking descriptor chains from the available ring, giving them back on
 * the used ring, and the two notification suppressions (the ring flags,
 * or VIRTIO_F_RING_EVENT_IDX's event indexes).
 *
 * Pure code over guest memory reached through struct vq_mem, so the unit
 * tests run it over a fake guest RAM and avm-run over its mapping of the
 * memfd (which the pager keeps coherent: a ring a vCPU on another node
 * wrote last is fetched on the first touch here).
 *
 * Everything the driver wrote is untrusted: indexes out of range, loops,
 * chains longer than the queue, nested or malformed indirect tables,
 * readable descriptors after writable ones and buffers outside guest RAM
 * are all refused without touching anything out of bounds.
 *
 * Callers serialise the calls on one queue (the transport's lock); the
 * driver runs concurrently on other CPUs, so the ring indexes are read
 * and written with the barriers the spec asks for.  x86 only: ring fields
 * are little-endian as the host.
 */
#ifndef AVM_RUN_VIRTQ_H
#define AVM_RUN_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest queue any device here offers (QueueNumMax), and the most
 * segments a chain may have, indirect tables included. */
#define VIRTQ_NUM_MAX 256
#define VIRTQ_SEGS_MAX 256

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

/*
 * Guest memory as the device sees it: the host address of [gpa, gpa +
 * len) when every byte of it is guest RAM, else NULL.
 */
struct vq_mem {
	void *(*ptr)(void *opaque, uint64_t gpa, uint64_t len);
	void *opaque;
};

/* One queue as the driver set it up, and the device's positions in it. */
struct virtq {
	uint16_t num;	     /* queue size, a power of 2 */
	bool ready;	     /* QueueReady */
	uint64_t desc;	     /* GPAs of the three areas */
	uint64_t avail;	     /* the driver area */
	uint64_t used;	     /* the device area */
	uint16_t last_avail; /* next available entry to take */
	uint16_t used_idx;   /* our copy of used->idx */
	uint16_t signalled;  /* used_idx when an interrupt was last judged */
	bool event_idx;	     /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect;	     /* VIRTIO_F_INDIRECT_DESC negotiated */
};

struct virtq_seg {
	uint8_t *p; /* host address of the buffer */
	uint32_t len;
};

/* A descriptor chain: the device-readable segments first, then the
 * device-writable ones. */
struct virtq_chain {
	uint16_t head;
	unsigned nread, nwrite;
	struct virtq_seg seg[VIRTQ_SEGS_MAX];
};

enum virtq_pop_result {
	VQ_BAD_RING = -2,  /* the available ring is broken: no head */
	VQ_BAD_CHAIN = -1, /* chain->head is valid, the chain is not */
	VQ_EMPTY = 0,
	VQ_CHAIN = 1,
};

/*
 * Checks that the three areas of a queue of vq->num entries lie in guest
 * RAM with the spec's alignments.  Returns 0, or -1 with a reason in why.
 */
int virtq_check(const struct virtq *, const struct vq_mem *, char *why,
		size_t whylen);

/*
 * Takes the next available chain into *c.  Returns VQ_CHAIN, VQ_EMPTY,
 * or VQ_BAD_CHAIN (the entry is consumed; give head back with length 0)
 * or VQ_BAD_RING (nothing can be given back), each with why filled.
 */
enum virtq_pop_result virtq_pop(struct virtq *, const struct vq_mem *,
				struct virtq_chain *c, char *why,
				size_t whylen);

/* 1 when the driver made entries available that were not taken yet. */
int virtq_pending(const struct virtq *, const struct vq_mem *);

/*
 * Puts head on the used ring with len bytes written, and publishes it.
 * Returns 0, or -1 when the used ring is not in guest RAM.
 */
int virtq_push(struct virtq *, const struct vq_mem *, uint16_t head,
	       uint32_t len);

/*
 * Whether the driver wants an interrupt for what was pushed since the
 * last call (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX).
 */
bool virtq_should_interrupt(struct virtq *, const struct vq_mem *);

/*
 * Asks the driver not to notify (on 0) while the device drains the
 * queue, or to notify again (on 1).  After enabling, the caller checks
 * virtq_pending() once more: an entry added before the driver saw the
 * change came without a notification.
 */
void virtq_set_notify(struct virtq *, const struct vq_mem *, int on);

/*
 * Segments [0, n) from byte skip on, at most len bytes, as an iovec list
 * (room for n entries).  Returns the entries.
 */
struct iovec;
int virtq_iov(const struct virtq_seg *seg, unsigned n, uint64_t skip,
	      uint64_t len, struct iovec *iov);
/* The bytes of segments [0, n). */
uint64_t virtq_bytes(const struct virtq_seg *seg, unsigned n);

/*
 * Gives back the chain the last virtq_pop took (VQ_CHAIN only): the next
 * pop takes it again.  For a device that found it cannot use it yet (a
 * received frame larger than the buffers).
 */
void virtq_unpop(struct virtq *);

/* The positions back to zero, the configuration kept (device reset
 * clears both; the transport clears the rest). */
void virtq_reset(struct virtq *);

#endif
