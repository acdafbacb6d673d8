/*
 * virtio-net (virtio 1.x "5.1 Network Device") on a Linux tap device,
 * over the virtio-mmio transport: one receive and one transmit queue,
 * the MAC address and link status in the configuration space, no
 * offloads.  See virtio-net.c for the worker thread and the state bytes;
 * tapdev.h opens the tap.
 */
#ifndef AVM_RUN_VIRTIO_NET_H
#define AVM_RUN_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "virtq.h"

#define VIRTIO_ID_NET 1

#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
/* The header in front of every frame on both queues (virtio 1.x: the
 * 12-byte struct virtio_net_hdr, num_buffers included). */
#define VIRTIO_NET_HDR_SIZE 12
#define VIRTIO_NET_CONFIG_SIZE 10 /* mac, status, max_virtqueue_pairs */
#define VIRTIO_NET_QUEUE_MAX 256
/* The largest frame either way: a tap frame, without its FCS. */
#define VIRTIO_NET_FRAME_MAX 65535
#define VIRTIO_NET_FRAME_MIN 14 /* an Ethernet header */

struct vnet;
struct device;

struct vnet_cfg {
	int fd; /* the tap, IFF_TAP | IFF_NO_PI; the device owns it */
	uint8_t mac[6];
	struct vq_mem mem;
	void (*set_irq)(void *opaque, int level);
	void *irq_opaque;
	/* A driver or tap error worth one line (NULL: silent); each kind
	 * is said once. */
	void (*log)(void *opaque, const char *msg);
};

/* What went through (for the tests; nothing in avm-run reads it yet). */
struct vnet_counts {
	uint64_t tx_frames, tx_bytes, tx_dropped;
	uint64_t rx_frames, rx_bytes, rx_dropped;
};

/*
 * Makes the device and starts its worker.  Returns it, or NULL with
 * errno (fd closed then too).  Its ops table (bus.h) through
 * vnet_device(); save stops the receiving side until resume.
 */
struct vnet *vnet_new(const struct vnet_cfg *);
struct device *vnet_device(struct vnet *);
void vnet_counts(struct vnet *, struct vnet_counts *);

/*
 * For tests and fuzzers: returns once the worker has done every
 * notification so far and is waiting, and has taken every frame the tap
 * holds that the guest has buffers for.
 */
void vnet_drain(struct vnet *);

#endif
