/*
 * The virtio-mmio transport (virtio 1.x "4.2 Virtio Over MMIO", register
 * layout version 2), shared by every virtio device of dev/: the register
 * file, feature negotiation, queue set-up, the device status with its
 * reset, the interrupt status and the configuration space at 0x100.
 *
 * A device (the backend: virtio-blk.c) fills struct vmmio_backend and
 * gets its queues back through vmmio_pop/vmmio_push from its own thread.
 * Pure code: guest memory through struct vq_mem, the interrupt line
 * through a callback (avm-run: vm_set_irq on the device's IOAPIC pin),
 * so the unit tests drive it as a guest driver would.
 *
 * The interrupt line is a level: high while InterruptStatus is not 0,
 * low once the driver acknowledged every bit (InterruptACK).
 *
 * Only virtio 1.x drivers: VIRTIO_F_VERSION_1 is offered and a driver
 * that does not accept it fails FEATURES_OK (it reads the bit back 0).
 * A driver that breaks the rules (bad queue size, rings outside RAM,
 * a broken available ring) puts the device in DEVICE_NEEDS_RESET with a
 * configuration-change interrupt, as the spec allows; nothing here ever
 * reads or writes outside guest RAM.
 *
 * Locking: one mutex per device, taken by the register accesses (any
 * vCPU thread, or node 0's link thread for a forwarded access) and by
 * the backend's thread around its queue calls.  The backend's
 * callbacks run without it.
 */
#ifndef AVM_RUN_VIRTIO_MMIO_H
#define AVM_RUN_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "virtq.h"

/* Registers (offsets in the device's page). */
#define VMMIO_MAGIC 0x000
#define VMMIO_VERSION 0x004
#define VMMIO_DEVICE_ID 0x008
#define VMMIO_VENDOR_ID 0x00c
#define VMMIO_DEVICE_FEATURES 0x010
#define VMMIO_DEVICE_FEATURES_SEL 0x014
#define VMMIO_DRIVER_FEATURES 0x020
#define VMMIO_DRIVER_FEATURES_SEL 0x024
#define VMMIO_QUEUE_SEL 0x030
#define VMMIO_QUEUE_NUM_MAX 0x034
#define VMMIO_QUEUE_NUM 0x038
#define VMMIO_QUEUE_READY 0x044
#define VMMIO_QUEUE_NOTIFY 0x050
#define VMMIO_INTERRUPT_STATUS 0x060
#define VMMIO_INTERRUPT_ACK 0x064
#define VMMIO_STATUS 0x070
#define VMMIO_QUEUE_DESC_LOW 0x080
#define VMMIO_QUEUE_DESC_HIGH 0x084
#define VMMIO_QUEUE_DRIVER_LOW 0x090
#define VMMIO_QUEUE_DRIVER_HIGH 0x094
#define VMMIO_QUEUE_DEVICE_LOW 0x0a0
#define VMMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VMMIO_CONFIG_GENERATION 0x0fc
#define VMMIO_CONFIG 0x100

#define VMMIO_MAGIC_VALUE 0x74726976 /* "virt" */
#define VMMIO_VENDOR 0x314d5641	     /* "AVM1" */
#define VMMIO_SIZE 0x200	     /* what a device decodes */

/* Device status bits. */
#define VIRTIO_S_ACKNOWLEDGE 1
#define VIRTIO_S_DRIVER 2
#define VIRTIO_S_DRIVER_OK 4
#define VIRTIO_S_FEATURES_OK 8
#define VIRTIO_S_NEEDS_RESET 64
#define VIRTIO_S_FAILED 128

/* Transport feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* InterruptStatus bits. */
#define VMMIO_INT_VRING 1
#define VMMIO_INT_CONFIG 2

#define VMMIO_QUEUES_MAX 8

struct vmmio;

/* What a device plugs into the transport. */
struct vmmio_backend {
	const char *name; /* in messages: "virtio-blk" */
	uint32_t device_id;
	uint64_t
		features; /* device-specific bits; the transport adds its own */
	unsigned nqueues; /* 1..VMMIO_QUEUES_MAX */
	uint16_t queue_max;
	const uint8_t *config; /* config space bytes, little-endian */
	uint32_t config_size;
	/* The driver notified queue q (DRIVER_OK set, queue ready). */
	void (*notify)(void *opaque, unsigned q);
	/* Reset: returns once the backend no longer uses any queue (waits
	 * for a request in flight). */
	void (*quiesce)(void *opaque);
	void *opaque;
};

struct vmmio {
	const struct vmmio_backend *be;
	struct vq_mem mem;
	void (*set_irq)(void *opaque, int level);
	void *irq_opaque;
	pthread_mutex_t lock;

	uint32_t status;
	uint32_t dev_features_sel, drv_features_sel;
	uint64_t drv_features;
	uint32_t queue_sel;
	uint32_t isr;
	uint32_t config_gen;
	bool resetting; /* the backend is being stopped: nothing to pop */
	struct virtq q[VMMIO_QUEUES_MAX];
	char why[160]; /* why the device needs a reset, for the log */
	void (*log)(void *opaque, const char *msg); /* NULL: silent */
};

/* Sets up *t for be (which must outlive it).  Returns 0, or -1 with
 * errno EINVAL (a backend outside the limits above). */
int vmmio_init(struct vmmio *t, const struct vmmio_backend *be,
	       const struct vq_mem *mem, void (*set_irq)(void *, int),
	       void *irq_opaque);
void vmmio_release(struct vmmio *t);

/* Register accesses at offset off of the device's page; len 1, 2, 4 (the
 * registers take 4 only; config space any). */
void vmmio_read(struct vmmio *t, uint64_t off, void *data, unsigned len);
void vmmio_write(struct vmmio *t, uint64_t off, const void *data, unsigned len);

/* The full feature set offered: the backend's and the transport's. */
uint64_t vmmio_offered(const struct vmmio *t);
/* 1 when the bit was negotiated (FEATURES_OK accepted). */
int vmmio_has(const struct vmmio *t, unsigned bit);

/*
 * For the backend's thread, each under the lock: the next chain of queue
 * q (virtq_pop's results; VQ_EMPTY while the driver is not DRIVER_OK or
 * the queue is not ready; a broken ring sets NEEDS_RESET), and giving one
 * back (raises the used-buffer interrupt when the driver wants one).
 */
enum virtq_pop_result vmmio_pop(struct vmmio *t, unsigned q,
				struct virtq_chain *c);
void vmmio_push(struct vmmio *t, unsigned q, uint16_t head, uint32_t len);
/* Gives back the chain vmmio_pop just gave (virtq_unpop), unless a
 * reset came meanwhile. */
void vmmio_unpop(struct vmmio *t, unsigned q);
/* Stops or restarts the driver's notifications of q; on restart returns
 * 1 when entries came meanwhile that vmmio_pop would give (none while a
 * reset is under way or the device needs one). */
int vmmio_notify_enable(struct vmmio *t, unsigned q, int on);
/* Marks the device DEVICE_NEEDS_RESET with the reason, config interrupt. */
void vmmio_needs_reset(struct vmmio *t, const char *why);

/*
 * Device state (devstate.h payload part) of the transport: status,
 * features, selectors, interrupt status and each queue's set-up and
 * positions.  vmmio_save_size() bytes; restore checks every field first
 * (0, or -1 with why filled and errno EINVAL, nothing changed).
 */
size_t vmmio_save_size(const struct vmmio *t);
void vmmio_save(struct vmmio *t, uint8_t *p);
int vmmio_restore(struct vmmio *t, const uint8_t *p, char *why, size_t whylen);

#endif
