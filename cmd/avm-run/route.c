/*
 * The routes of a vCPU's I/O, EOIs and interrupts; see route.h.  Node 0
 * (and a one-node VM) holds the devices and the IOAPIC: its accesses are
 * local calls.  Every other node forwards them to node 0 over the run
 * link (links.h) and, for an I/O, waits for the answer there.
 */
#include "arch/x86/apicbus.h"
#include "arch/x86/ioapic.h"
#include "links.h"
#include "route.h"

static int
local_io(struct vcpu *v, enum bus_space space, uint64_t addr, void *data,
	 unsigned size, unsigned count, int is_write)
{
	const struct bus *bus = space == BUS_PIO ? &v->vm->pio : &v->vm->mmio;
	uint8_t *p = data;
	unsigned i;

	for (i = 0; i < count; i++, p += size)
		bus_access(bus, space, v, addr, p, size, is_write);
	return 0;
}

static void
local_eoi(struct vm *vm, uint8_t vector)
{
	if (vm->ioapic)
		ioapic_eoi(vm->ioapic, vector);
}

/* Devices live on node 0: the whole access goes there. */
static int
links_route_io(struct vcpu *v, enum bus_space space, uint64_t addr, void *data,
	       unsigned size, unsigned count, int is_write)
{
	return links_io(v, space == BUS_MMIO, addr, data, size, count,
			is_write);
}

static const struct apicbus_ops apic_links = {
	.forward = links_forward_irq,
	.publish = links_publish,
};

/* One node: everything is here. */
static const struct route route_one = {
	.name = "local",
	.devices_here = 1,
	.io = local_io,
	.eoi = local_eoi,
	.apic = NULL,
};

/* Node 0 of several: devices and IOAPIC here, some APICs elsewhere. */
static const struct route route_head = {
	.name = "node 0",
	.devices_here = 1,
	.io = local_io,
	.eoi = local_eoi,
	.apic = &apic_links,
};

/* Any other node: devices and IOAPIC on node 0. */
static const struct route route_node = {
	.name = "to node 0",
	.devices_here = 0,
	.io = links_route_io,
	.eoi = links_eoi,
	.apic = &apic_links,
};

void
route_init(struct vm *vm)
{
	if (vm->nnodes < 2)
		vm->route = &route_one;
	else if (vm->node == 0)
		vm->route = &route_head;
	else
		vm->route = &route_node;
}
