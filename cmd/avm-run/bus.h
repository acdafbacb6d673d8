/*
 * The device bus of avm-run: port I/O and MMIO ranges mapped to devices.
 *
 * Every device is one file under dev/ with one ops table.  Lookups happen
 * on every PIO/MMIO exit of every vCPU, so the ranges are kept sorted and
 * searched without a lock: the bus is filled during start-up, before any
 * vCPU runs, and is read-only afterwards.
 */
#ifndef AVM_RUN_BUS_H
#define AVM_RUN_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vm;
struct vcpu;
struct device;

struct dev_ops {
	const char *name;
	/* Accesses: len is 1, 2, 4 or 8; addr is the offset in the range.
	 * Unclaimed read bytes are preset to 0xff (PIO) or 0 (MMIO). */
	void (*pio_read)(struct device *, struct vcpu *, uint64_t addr,
			 void *data, unsigned len);
	void (*pio_write)(struct device *, struct vcpu *, uint64_t addr,
			  const void *data, unsigned len);
	void (*mmio_read)(struct device *, struct vcpu *, uint64_t addr,
			  void *data, unsigned len);
	void (*mmio_write)(struct device *, struct vcpu *, uint64_t addr,
			   const void *data, unsigned len);
	/* The device's state as bytes (devstate.h: a versioned header,
	 * then the device's own little-endian layout, avm-snap(5)) into
	 * buf, with the VM paused.  Returns the length, or -1 with errno
	 * (ENOSPC: cap too small; DEVSTATE_MAX always fits).  NULL: the
	 * device keeps no state of its own (a range sharing another's). */
	ssize_t (*save)(struct device *, void *buf, size_t cap);
	/* After save, when the VM runs on (or its save failed): a device
	 * that writes guest memory on its own (virtio-net's receive) stops
	 * doing so in save, until this.  NULL: nothing to do. */
	void (*resume)(struct device *);
	/* Reads save's bytes into a device created as usual, before any
	 * vCPU runs.  Checks everything first: returns 0, or -1 with errno
	 * EINVAL or EPROTO and why filled, the device unchanged. */
	int (*restore)(struct device *, const void *buf, size_t len, char *why,
		       size_t whylen);
	/* Stops the device's own threads (a disk's worker, a card's, the
	 * UART's reader): once it returns the device raises no interrupt
	 * and moves no guest memory by itself; register accesses still
	 * work.  vm_release calls it on every device first, before the
	 * vCPUs and links that an interrupt reaches are freed; free calls
	 * it too.  NULL: the device has no thread. */
	void (*stop)(struct device *);
	/* Releases what init acquired; the device struct itself too. */
	void (*free)(struct device *);
};

struct device {
	const struct dev_ops *ops;
	struct vm *vm;
	void *priv;
};

enum bus_space {
	BUS_PIO,
	BUS_MMIO,
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	struct device *dev;
};

struct bus {
	struct bus_range *ranges;
	size_t n;
	size_t cap;
};

/* Adds [base, base+len) for dev.  Returns 0, or -1 with errno EEXIST when
 * it overlaps a range already there, ENOMEM. */
int bus_add(struct bus *, uint64_t base, uint64_t len, struct device *);

/* The range holding addr, or NULL. */
const struct bus_range *bus_find(const struct bus *, uint64_t addr);

/* Dispatches one access.  Returns 1 when a device took it, 0 when no
 * device is there (reads then return all ones for PIO, zeros for MMIO). */
int bus_access(const struct bus *, enum bus_space, struct vcpu *, uint64_t addr,
	       void *data, unsigned len, int is_write);

void bus_release(struct bus *);

#endif
