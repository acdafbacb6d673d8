/*
 * virtio-blk (virtio 1.x "5.2 Block Device") on a raw image file, over
 * the virtio-mmio transport.  See virtio-blk.c for the requests and the
 * worker thread.
 */
#ifndef AVM_RUN_VIRTIO_BLK_H
#define AVM_RUN_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "virtq.h"

#define VIRTIO_ID_BLOCK 2

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_SECTOR 512
#define VIRTIO_BLK_CONFIG_SIZE 60
#define VIRTIO_BLK_QUEUE_MAX 256
/* Segments of data in one request (seg_max): the chain less its header
 * and status descriptors. */
#define VIRTIO_BLK_SEG_MAX (VIRTQ_SEGS_MAX - 2)
/* Discard and write-zeroes: ranges a request and sectors a range. */
#define VIRTIO_BLK_DISCARD_SEGS 16
#define VIRTIO_BLK_DISCARD_SECTORS (1u << 22)

struct vblk;
struct device;

/* What a disk is made of; the image is opened and locked by the caller
 * (avm-run's disks.c), and the device owns fd from vblk_new on. */
struct vblk_cfg {
	int fd;
	bool readonly;
	uint64_t size;	    /* bytes of the image; capacity is size / 512 */
	const char *serial; /* GET_ID: at most 20 bytes are used */
	struct vq_mem mem;
	void (*set_irq)(void *opaque, int level);
	void *irq_opaque;
	/* A driver error worth one line (NULL: silent). */
	void (*log)(void *opaque, const char *msg);
};

/*
 * Makes the device and starts its worker thread.  Returns it, or NULL
 * with errno (fd is closed then too).  The device's ops table (bus.h:
 * mmio_read/write at offsets of its VMMIO_SIZE page, save, restore, free)
 * is reached through vblk_device().
 */
struct vblk *vblk_new(const struct vblk_cfg *);
struct device *vblk_device(struct vblk *);

/*
 * A hook for tests and fuzzers, which run the guest's side on one thread
 * and need each QueueNotify done before their next step: returns once the
 * worker has finished every request notified so far and nothing more is
 * asked of it.  avm-run has no use for it (a guest waits on its used
 * ring), and it does not stop a vCPU from notifying again.
 */
void vblk_drain(struct vblk *);

#endif
