/*
 * Debug-exit port 0xf4 (the port QEMU's isa-debug-exit uses by default):
 * the low byte of the value a test guest writes becomes avm-run's exit
 * status.  QEMU reports (v << 1) | 1 instead; guests need not care.
 *
 * It has no state, but its state bytes still carry the header
 * (devstate.h): version 1, length 0, 4 bytes in all, so a later version
 * with state can tell the old ones apart.
 */
#include <stdlib.h>
#include <string.h>

#include "../devstate.h"
#include "../vm.h"
#include "devices.h"

#define DEBUGEXIT_PORT 0xf4

static void
debugexit_pio_write(struct device *dev, struct vcpu *vcpu, uint64_t off,
		    const void *data, unsigned len)
{
	uint32_t v = 0;

	(void)vcpu;
	(void)off;
	memcpy(&v, data, len > 4 ? 4 : len);
	vm_end(dev->vm, VM_END_DEBUG_EXIT, (int)(v & 0xff),
	       "guest wrote %u to the debug-exit port", v & 0xff);
}

#define DEBUGEXIT_STATE_VERSION 1

static ssize_t
debugexit_save(struct device *dev, void *buf, size_t cap)
{
	(void)dev;
	if (!ds_begin(buf, cap, DEBUGEXIT_STATE_VERSION, 0))
		return -1;
	return DEVSTATE_HDR_SIZE;
}

static int
debugexit_restore(struct device *dev, const void *buf, size_t len, char *why,
		  size_t whylen)
{
	(void)dev;
	return ds_open(buf, len, "debugexit", DEBUGEXIT_STATE_VERSION, 0, why,
		       whylen)
		       ? 0
		       : -1;
}

static void
debugexit_free(struct device *dev)
{
	free(dev);
}

static const struct dev_ops debugexit_ops = {
	.name = "debugexit", /* also its name in a snapshot */
	.pio_write = debugexit_pio_write,
	.save = debugexit_save,
	.restore = debugexit_restore,
	.free = debugexit_free,
};

int
debugexit_create(struct vm *vm)
{
	struct device *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	d->ops = &debugexit_ops;
	return vm_add_device(vm, d, BUS_PIO, DEBUGEXIT_PORT, 4);
}
