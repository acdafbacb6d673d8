/*
 * The devices of node 0 as the VM holds them: the list it frees them
 * from (vm_add_device), the interrupt lines (vm_set_irq), the interrupt
 * controllers with the IOAPIC and the PIC as devices on the bus, and the
 * start-up steps that make them (vm_irqchips, vm_devices).  The device
 * models themselves are dev/ and arch/x86/.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avm/log.h"
#include "avm/util.h"

#include "arch/x86/acpi.h"
#include "arch/x86/apicbus.h"
#include "arch/x86/boot.h"
#include "arch/x86/ioapic.h"
#include "arch/x86/pic.h"
#include "dev/devices.h"
#include "route.h"
#include "vcpu.h"
#include "vm.h"

#define IOAPIC_MMIO_LEN 0x1000

int
vm_add_device(struct vm *vm, struct device *dev, enum bus_space space,
	      uint64_t base, uint64_t len)
{
	struct device **n;
	unsigned i;

	dev->vm = vm;
	for (i = 0; i < vm->ndevs && vm->devs[i] != dev; i++)
		;
	if (i == vm->ndevs) {
		n = realloc(vm->devs, (vm->ndevs + 1) * sizeof(*n));
		if (!n) {
			dev->ops->free(dev);
			return -1;
		}
		vm->devs = n;
		vm->devs[vm->ndevs++] = dev;
	}
	return bus_add(space == BUS_PIO ? &vm->pio : &vm->mmio, base, len, dev);
}

void
vm_set_irq(struct vm *vm, unsigned gsi, int level)
{
	if (vm->ioapic)
		ioapic_set_irq(vm->ioapic, gsi, level);
	if (vm->pic && gsi < 16)
		pic_set_irq(vm->pic, gsi, level);
}

static void
ioapic_dev_read(struct device *dev, struct vcpu *vcpu, uint64_t off, void *data,
		unsigned len)
{
	(void)vcpu;
	ioapic_mmio_read(dev->vm->ioapic, off, data, len);
}

static void
ioapic_dev_write(struct device *dev, struct vcpu *vcpu, uint64_t off,
		 const void *data, unsigned len)
{
	(void)vcpu;
	ioapic_mmio_write(dev->vm->ioapic, off, data, len);
}

static void
pic_dev_read(struct device *dev, struct vcpu *vcpu, uint64_t off, void *data,
	     unsigned len)
{
	(void)vcpu;
	(void)len;
	pic_pio(dev->vm->pic, (uint16_t)((uintptr_t)dev->priv + off), 0, data);
}

static void
pic_dev_write(struct device *dev, struct vcpu *vcpu, uint64_t off,
	      const void *data, unsigned len)
{
	uint8_t v = *(const uint8_t *)data;

	(void)vcpu;
	(void)len;
	pic_pio(dev->vm->pic, (uint16_t)((uintptr_t)dev->priv + off), 1, &v);
}

static void
plain_dev_free(struct device *dev)
{
	free(dev);
}

static ssize_t
ioapic_dev_save(struct device *dev, void *buf, size_t cap)
{
	return ioapic_save(dev->vm->ioapic, buf, cap);
}

static int
ioapic_dev_restore(struct device *dev, const void *buf, size_t len, char *why,
		   size_t whylen)
{
	return ioapic_restore(dev->vm->ioapic, buf, len, why, whylen);
}

/* The pair has three ranges; the first (0x20) carries the state. */
static ssize_t
pic_dev_save(struct device *dev, void *buf, size_t cap)
{
	return pic_save(dev->vm->pic, buf, cap);
}

static int
pic_dev_restore(struct device *dev, const void *buf, size_t len, char *why,
		size_t whylen)
{
	return pic_restore(dev->vm->pic, buf, len, why, whylen);
}

static const struct dev_ops ioapic_dev_ops = {
	.name = "ioapic",
	.mmio_read = ioapic_dev_read,
	.mmio_write = ioapic_dev_write,
	.save = ioapic_dev_save,
	.restore = ioapic_dev_restore,
	.free = plain_dev_free,
};

static const struct dev_ops pic_dev_ops = {
	.name = "pic",
	.pio_read = pic_dev_read,
	.pio_write = pic_dev_write,
	.save = pic_dev_save,
	.restore = pic_dev_restore,
	.free = plain_dev_free,
};

/* The slave and ELCR ranges: same device, no state of their own. */
static const struct dev_ops pic_more_ops = {
	.name = "pic",
	.pio_read = pic_dev_read,
	.pio_write = pic_dev_write,
	.free = plain_dev_free,
};

/* The ports of the PIC pair and ELCR; priv holds the range's base. */
static int
vm_add_pic(struct vm *vm)
{
	static const uint16_t base[] = { 0x20, 0xa0, 0x4d0 };
	size_t i;

	for (i = 0; i < AVM_ARRAY_SIZE(base); i++) {
		struct device *d = calloc(1, sizeof(*d));

		if (!d)
			return -1;
		d->ops = i ? &pic_more_ops : &pic_dev_ops;
		d->priv = (void *)(uintptr_t)base[i];
		if (vm_add_device(vm, d, BUS_PIO, base[i], 2) < 0)
			return -1;
	}
	return 0;
}

static int
vm_add_ioapic(struct vm *vm)
{
	struct device *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	d->ops = &ioapic_dev_ops;
	return vm_add_device(vm, d, BUS_MMIO, ACPI_IOAPIC_ADDR,
			     IOAPIC_MMIO_LEN);
}

int
vm_devices(struct vm *vm)
{
	int out = STDOUT_FILENO, in = STDIN_FILENO;

	if (!vm->route->devices_here)
		return AVM_EX_OK; /* devices live on node 0 */
	if (vm->opts.console) {
		out = vm->console_fd; /* opened with the inputs (vm.c) */
		in = -1;
	}
	vm->uart = uart_create(vm, out, in);
	if (!vm->uart || rtc_create(vm) < 0 || pm_create(vm) < 0 ||
	    debugexit_create(vm) < 0 || vm_add_ioapic(vm) < 0 ||
	    vm_add_pic(vm) < 0) {
		log_err("devices: %s", strerror(errno));
		return AVM_EX_SOFTWARE;
	}
	if (vm_disks_attach(vm) < 0 || vm_nets_attach(vm) < 0)
		return AVM_EX_SOFTWARE;
	if (vm->stats.rs)
		uart_count_tx(vm->uart, &vm->stats.rs->uart_tx_bytes);
	return AVM_EX_OK;
}

void
vm_devices_release(struct vm *vm)
{
	unsigned i;

	vm->uart = NULL; /* freed with the devices */
	/* Last registered, first freed: a device that shares its state
	 * over several ranges frees it with the range it registered first. */
	for (i = vm->ndevs; i-- > 0;)
		vm->devs[i]->ops->free(vm->devs[i]);
	free(vm->devs);
	vm->devs = NULL;
	vm->ndevs = 0;
	bus_release(&vm->pio);
	bus_release(&vm->mmio);
	if (vm->console_fd >= 0)
		close(vm->console_fd);
	vm->console_fd = -1;
}

/* The 8259's INT output is wired to LINT0 of the boot vCPU. */
static void
vm_pic_output(void *opaque, int level)
{
	struct vm *vm = opaque;

	if (vm->vcpus && vm->vcpus[0])
		lapic_set_lint(&vm->vcpus[0]->lapic, 0, level);
}

/* Every node has the APIC bus, whose remote APICs are reached the way
 * route_init() chose; the IOAPIC and the PIC are devices of node 0. */
int
vm_irqchips(struct vm *vm)
{
	vm->apicbus = calloc(1, sizeof(*vm->apicbus));
	if (!vm->apicbus ||
	    apicbus_init(vm->apicbus, vm->nvcpus, vm->route->apic, vm) < 0) {
		log_err("interrupt controllers: %s", strerror(errno));
		return AVM_EX_SOFTWARE;
	}
	vm->irqchips_ready = 1;
	if (!vm->route->devices_here)
		return AVM_EX_OK; /* the IOAPIC and the PIC: node 0 */
	vm->ioapic = calloc(1, sizeof(*vm->ioapic));
	vm->pic = calloc(1, sizeof(*vm->pic));
	if (!vm->ioapic || !vm->pic ||
	    ioapic_init(vm->ioapic, vm->apicbus) < 0) {
		log_err("interrupt controllers: %s", strerror(errno));
		return AVM_EX_SOFTWARE;
	}
	vm->irqchips_ready = 2;
	if (vm->stats.rs)
		vm->ioapic->delivered = &vm->stats.rs->ioapic_irqs;
	if (pic_init(vm->pic, vm_pic_output, vm) < 0) {
		log_err("interrupt controllers: %s", strerror(errno));
		return AVM_EX_SOFTWARE;
	}
	vm->irqchips_ready = 3;
	return AVM_EX_OK;
}

void
vm_irqchips_release(struct vm *vm)
{
	if (vm->irqchips_ready >= 3)
		pic_release(vm->pic);
	if (vm->irqchips_ready >= 2)
		ioapic_release(vm->ioapic);
	if (vm->irqchips_ready >= 1)
		apicbus_release(vm->apicbus);
	vm->irqchips_ready = 0;
	free(vm->pic);
	free(vm->ioapic);
	free(vm->apicbus);
	vm->pic = NULL;
	vm->ioapic = NULL;
	vm->apicbus = NULL;
}

/* --- what node 0's virtio devices reach (disks.c, nets.c) -------------- */

void *
vm_virtio_ram(void *opaque, uint64_t gpa, uint64_t len)
{
	struct vm *vm = opaque;
	struct guest_mem gm = { vm->ram, vm->ram_size };

	return gpa_ptr(&gm, gpa, len);
}

void
vm_virtio_irq(void *opaque, int level)
{
	struct vm_irq_line *l = opaque;

	vm_set_irq(l->vm, l->gsi, level);
}

void
vm_virtio_log(void *opaque, const char *msg)
{
	(void)opaque;
	log_warn("%s", msg);
}
