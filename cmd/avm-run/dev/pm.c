/*
 * ACPI power management as the FADT of arch/x86/acpi.c describes it:
 * PM1a event block (status, enable), PM1a control (SLP_TYP/SLP_EN: S5
 * powers the VM off), the 24-bit PM timer at 3.579545 MHz, and the reset
 * register (also port 0xcf9, which Linux tries as well).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "avm/util.h"

#include "../arch/x86/acpi.h"
#include "../vm.h"
#include "devices.h"

#define PM_TIMER_HZ 3579545ull
#define PM1_SCI_EN 0x0001
#define PM1_SLP_EN 0x2000
#define PM1_SLP_TYP(v) (((v) >> 10) & 7)

struct pm {
	struct device evt;
	struct device cnt;
	struct device tmr;
	struct device reset;
	pthread_mutex_t lock;
	uint16_t sts, en, ctl;
	uint64_t t0;
};

static uint32_t
pm_timer(const struct pm *pm)
{
	uint64_t ns = now_ns() - pm->t0;

	/* Split to keep ns * HZ within 64 bits for years of uptime. */
	return (uint32_t)(((ns / 1000000000ull) * PM_TIMER_HZ +
			   (ns % 1000000000ull) * PM_TIMER_HZ / 1000000000ull) &
			  0xffffff);
}

static void
pm_read(struct device *dev, struct vcpu *vcpu, uint64_t off, void *data,
	unsigned len)
{
	struct pm *pm = dev->priv;
	uint32_t v = 0;

	(void)vcpu;
	pthread_mutex_lock(&pm->lock);
	if (dev == &pm->evt)
		v = (uint32_t)pm->sts | ((uint32_t)pm->en << 16);
	else if (dev == &pm->cnt)
		v = pm->ctl;
	else if (dev == &pm->tmr)
		v = pm_timer(pm);
	pthread_mutex_unlock(&pm->lock);
	v >>= 8 * (off & 3);
	memcpy(data, &v, len > 4 ? 4 : len);
}

static void
pm_write(struct device *dev, struct vcpu *vcpu, uint64_t off, const void *data,
	 unsigned len)
{
	struct pm *pm = dev->priv;
	uint32_t v = 0;

	(void)vcpu;
	memcpy(&v, data, len > 4 ? 4 : len);
	if (dev == &pm->reset) {
		if ((v & 0xff) == ACPI_RESET_VALUE || (v & 0x04))
			vm_end(dev->vm, VM_END_RESET, 0,
			       "guest reset the machine");
		return;
	}
	pthread_mutex_lock(&pm->lock);
	if (dev == &pm->evt) {
		/* Status bits are write-one-to-clear; enable is plain. */
		if (off == 0 && len >= 2) {
			pm->sts &= (uint16_t)~v;
			if (len == 4)
				pm->en = (uint16_t)(v >> 16);
		} else if (off == 2) {
			pm->en = (uint16_t)v;
		}
	} else if (dev == &pm->cnt) {
		pm->ctl = (uint16_t)(v & ~PM1_SLP_EN);
		if ((v & PM1_SLP_EN) && PM1_SLP_TYP(v) == ACPI_SLP_TYP_S5) {
			pthread_mutex_unlock(&pm->lock);
			vm_end(dev->vm, VM_END_POWEROFF, 0,
			       "guest powered off");
			return;
		}
	}
	pthread_mutex_unlock(&pm->lock);
}

static void
pm_free(struct device *dev)
{
	struct pm *pm = dev->priv;

	/* Four ranges share one struct: the reset device frees it. */
	if (dev == &pm->reset) {
		pthread_mutex_destroy(&pm->lock);
		free(pm);
	}
}

static const struct dev_ops pm_ops = {
	.name = "acpi-pm",
	.pio_read = pm_read,
	.pio_write = pm_write,
	.free = pm_free,
};

int
pm_create(struct vm *vm)
{
	struct pm *pm = calloc(1, sizeof(*pm));
	struct {
		struct device *dev;
		uint16_t port, len;
	} r[] = {
		/* The reset range comes first: it owns the struct (pm_free)
		 * and the VM frees devices last-registered first. */
		{ &pm->reset, ACPI_RESET_PORT, 1 },
		{ &pm->evt, ACPI_PM1A_EVT, 4 },
		{ &pm->cnt, ACPI_PM1A_CNT, 2 },
		{ &pm->tmr, ACPI_PM_TMR, 4 },
	};
	size_t i;

	if (!pm)
		return -1;
	pthread_mutex_init(&pm->lock, NULL);
	pm->t0 = now_ns();
	pm->ctl = PM1_SCI_EN;
	for (i = 0; i < AVM_ARRAY_SIZE(r); i++) {
		r[i].dev->ops = &pm_ops;
		r[i].dev->priv = pm;
	}
	for (i = 0; i < AVM_ARRAY_SIZE(r); i++)
		if (vm_add_device(vm, r[i].dev, BUS_PIO, r[i].port, r[i].len) <
		    0)
			return -1;
	return 0;
}
