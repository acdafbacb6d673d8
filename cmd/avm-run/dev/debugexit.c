/*
 * Debug-exit port 0xf4 (the port QEMU's isa-debug-exit uses by default):
 * the low byte of the value a test guest writes becomes avm-run's exit
 * status.  QEMU reports (v << 1) | 1 instead; guests need not care.
 */
#include <stdlib.h>
#include <string.h>

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

static void
debugexit_free(struct device *dev)
{
	free(dev);
}

static const struct dev_ops debugexit_ops = {
	.name = "debug-exit",
	.pio_write = debugexit_pio_write,
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
