/*
 * ACPI power management as the FADT of arch/x86/acpi.c describes it:
 * PM1a event block (status, enable), PM1a control (SLP_TYP/SLP_EN: S5
 * powers the VM off), the 24-bit PM timer at 3.579545 MHz, and the reset
 * register (also port 0xcf9, which Linux tries as well).
 *
 * State bytes (devstate.h), layout version 1, written by the reset
 * range's save (the four ranges share one struct) with the VM paused:
 *
 *	0   4  header: version 1, length 16
 *	4   2  PM1a status (0: this model never sets a status bit)
 *	6   2  PM1a enable
 *	8   2  PM1a control (SLP_EN is write-only, always 0)
 *	10  2  zero
 *	12  8  ns the PM timer has counted (its value is that in ticks of
 *	       3.579545 MHz, modulo 2^24)
 *
 * Time: the PM timer goes on from the value it had at save, as the
 * lapic timer does (lapic.h): the guest's clocksource sees no jump for
 * the time the VM spent saved.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "avm/util.h"

#include "../arch/x86/acpi.h"
#include "../devstate.h"
#include "../vm.h"
#include "devices.h"

#define PM_TIMER_HZ 3579545ull
#define PM1_SCI_EN 0x0001
#define PM1_SLP_EN 0x2000
#define PM1_SLP_TYP(v) (((v) >> 10) & 7)

#define PM_STATE_VERSION 1
#define PM_STATE_SIZE (4 + 8 + 8)
_Static_assert(PM_STATE_SIZE == 20, "pm state layout");

/* The PM timer's clock: now_ns, or the tests' and fuzzer's own. */
static uint64_t (*pm_now)(void) = now_ns;

void
pm_set_clock(uint64_t (*now)(void))
{
	pm_now = now ? now : now_ns;
}

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
	uint64_t ns = pm_now() - pm->t0;

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

static ssize_t
pm_save(struct device *dev, void *buf, size_t cap)
{
	struct pm *pm = dev->priv;
	uint8_t *p = ds_begin(buf, cap, PM_STATE_VERSION,
			      PM_STATE_SIZE - DEVSTATE_HDR_SIZE);

	if (!p)
		return -1;
	pthread_mutex_lock(&pm->lock);
	ds_put16(&p, pm->sts);
	ds_put16(&p, pm->en);
	ds_put16(&p, pm->ctl);
	ds_put16(&p, 0);
	ds_put64(&p, pm_now() - pm->t0);
	pthread_mutex_unlock(&pm->lock);
	return PM_STATE_SIZE;
}

static int
pm_restore(struct device *dev, const void *buf, size_t len, char *why,
	   size_t whylen)
{
	struct pm *pm = dev->priv;
	const uint8_t *p =
		ds_open(buf, len, "pm", PM_STATE_VERSION,
			PM_STATE_SIZE - DEVSTATE_HDR_SIZE, why, whylen);
	uint16_t sts, en, ctl, zero;
	uint64_t ns;

	if (!p)
		return -1;
	sts = ds_get16(&p);
	en = ds_get16(&p);
	ctl = ds_get16(&p);
	zero = ds_get16(&p);
	ns = ds_get64(&p);
	if (sts)
		return ds_fail(why, whylen, EINVAL,
			       "pm state: PM1a status 0x%04x has bits this "
			       "model never sets",
			       sts);
	if (ctl & PM1_SLP_EN)
		return ds_fail(why, whylen, EINVAL,
			       "pm state: PM1a control 0x%04x has the "
			       "write-only SLP_EN set",
			       ctl);
	if (zero)
		return ds_fail(why, whylen, EINVAL,
			       "pm state: reserved bytes 10..11 not zero");
	pthread_mutex_lock(&pm->lock);
	pm->sts = sts;
	pm->en = en;
	pm->ctl = ctl;
	pm->t0 = pm_now() - ns;
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

static const struct dev_ops pm_ops = {
	.name = "pm", /* also its name in a snapshot (avm-snap(5)) */
	.pio_read = pm_read,
	.pio_write = pm_write,
	.free = pm_free,
};

/* The reset range owns the struct, so it carries the state. */
static const struct dev_ops pm_state_ops = {
	.name = "pm", /* also its name in a snapshot (avm-snap(5)) */
	.pio_read = pm_read,
	.pio_write = pm_write,
	.save = pm_save,
	.restore = pm_restore,
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
	pm->t0 = pm_now();
	pm->ctl = PM1_SCI_EN;
	for (i = 0; i < AVM_ARRAY_SIZE(r); i++) {
		r[i].dev->ops = i ? &pm_ops : &pm_state_ops;
		r[i].dev->priv = pm;
	}
	for (i = 0; i < AVM_ARRAY_SIZE(r); i++)
		if (vm_add_device(vm, r[i].dev, BUS_PIO, r[i].port, r[i].len) <
		    0)
			return -1;
	return 0;
}
