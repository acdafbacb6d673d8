/*
 * Where a vCPU's device accesses and EOIs go (DESIGN.md, "vCPUs,
 * interrupts, devices"): the devices and the IOAPIC live on node 0, so
 * node 0 calls its own bus and IOAPIC and every other node sends the
 * access or the EOI to node 0 over the run link.  Interrupts between
 * APICs go the same way through apicbus_ops.forward.  route_init()
 * decides all three once, before any vCPU runs; the exit handlers call
 * route_io() and route_eoi() and never ask which node they run on.
 */
#ifndef AVM_RUN_ROUTE_H
#define AVM_RUN_ROUTE_H

#include <stdint.h>

#include "bus.h"
#include "vcpu.h"
#include "vm.h"

struct apicbus_ops;

struct route {
	const char *name;
	/* 1: the devices and the IOAPIC are on this node (node 0). */
	int devices_here;
	/* count accesses of size bytes each at addr in space by vCPU v,
	 * data in and out (count * size bytes).  Returns 0, or -1 when
	 * the access could not be done (the VM is ending). */
	int (*io)(struct vcpu *v, enum bus_space space, uint64_t addr,
		  void *data, unsigned size, unsigned count, int is_write);
	/* A level-triggered EOI of a local APIC for the IOAPIC. */
	void (*eoi)(struct vm *, uint8_t vector);
	/* The APIC bus's way to remote APICs; NULL: every APIC is here. */
	const struct apicbus_ops *apic;
};

/* Chooses vm's route from its node and node count (vm->node, nnodes). */
void route_init(struct vm *);

static inline int
route_io(struct vcpu *v, enum bus_space space, uint64_t addr, void *data,
	 unsigned size, unsigned count, int is_write)
{
	return v->vm->route->io(v, space, addr, data, size, count, is_write);
}

static inline void
route_eoi(struct vm *vm, uint8_t vector)
{
	vm->route->eoi(vm, vector);
}

#endif
