/*
 * libFuzzer target for the device state bytes (cmd/avm-run/devstate.h):
 * the whole input goes to every model's restore, each into a freshly
 * initialised model, and the input past its first byte also to the one
 * that byte picks.  A restore must accept or refuse with EINVAL/EPROTO
 * and a reason; what it accepts must save back to the same bytes (the
 * layouts are canonical).  Any disagreement aborts.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cmd/avm-run/arch/x86/ioapic.h"
#include "../../cmd/avm-run/arch/x86/lapic.h"
#include "../../cmd/avm-run/arch/x86/pic.h"
#include "../../cmd/avm-run/bus.h"
#include "../../cmd/avm-run/dev/devices.h"
#include "../../cmd/avm-run/devstate.h"
#include "../../cmd/avm-run/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(cond)                                                   \
	do {                                                          \
		if (!(cond)) {                                        \
			fprintf(stderr, "fuzz-devstate: %s:%d: %s\n", \
				__FILE__, __LINE__, #cond);           \
			abort();                                      \
		}                                                     \
	} while (0)

/* --- the VM, stubbed: what the devices call ------------------------------ */

static struct device *first; /* the first range a create registers */

int
vm_add_device(struct vm *vm, struct device *dev, enum bus_space space,
	      uint64_t base, uint64_t len)
{
	(void)space;
	(void)base;
	(void)len;
	dev->vm = vm;
	if (!first)
		first = dev;
	return 0;
}

void
vm_set_irq(struct vm *vm, unsigned gsi, int level)
{
	(void)vm;
	(void)gsi;
	(void)level;
}

void
vm_end(struct vm *vm, enum vm_end end, int status, const char *fmt, ...)
{
	(void)vm;
	(void)end;
	(void)status;
	(void)fmt;
}

static uint64_t
fixed_now(void)
{
	return 1000000000000ull;
}

static uint64_t
lapic_now(void *o)
{
	(void)o;
	return fixed_now();
}

/* --- one restore, checked ------------------------------------------------ */

static uint8_t out[DEVSTATE_MAX];

static void
verdict(int rc, ssize_t n, const uint8_t *p, size_t len, const char *why)
{
	if (rc < 0) {
		check(errno == EINVAL || errno == EPROTO);
		check(why[0] != '\0');
		return;
	}
	check(n >= 0 && (size_t)n == len && memcmp(out, p, len) == 0);
}

static void
try_ioapic(const uint8_t *p, size_t len)
{
	struct ioapic io;
	char why[256] = "";
	int rc;

	check(ioapic_init(&io, NULL) == 0);
	rc = ioapic_restore(&io, p, len, why, sizeof(why));
	verdict(rc, rc ? -1 : ioapic_save(&io, out, sizeof(out)), p, len, why);
	ioapic_release(&io);
}

static void
try_pic(const uint8_t *p, size_t len)
{
	struct pic pic;
	char why[256] = "";
	int rc;

	check(pic_init(&pic, NULL, NULL) == 0);
	rc = pic_restore(&pic, p, len, why, sizeof(why));
	verdict(rc, rc ? -1 : pic_save(&pic, out, sizeof(out)), p, len, why);
	pic_release(&pic);
}

static void
try_lapic(const uint8_t *p, size_t len)
{
	struct lapic_env env = { .now_ns = lapic_now };
	struct lapic l;
	char why[256] = "";
	/* The id and BSP flag the bytes name, so that restore gets past
	 * its "is this the right vCPU" checks. */
	uint32_t id = len >= 16 ? (uint32_t)p[12] | (uint32_t)p[13] << 8 |
					  (uint32_t)p[14] << 16 |
					  (uint32_t)p[15] << 24
				: 0;
	bool bsp = len > 5 && (p[5] & 1);
	int rc;

	check(lapic_init(&l, id, bsp, &env) == 0);
	rc = lapic_restore(&l, p, len, why, sizeof(why));
	verdict(rc, rc ? -1 : lapic_save(&l, out, sizeof(out)), p, len, why);
	lapic_release(&l);
}

/* uart, rtc, pm, debugexit: the first range registered carries the
 * state (pm's reset range owns its struct and frees it). */
static void
try_dev(int (*create)(struct vm *), const uint8_t *p, size_t len)
{
	struct device *d;
	char why[256] = "";
	int rc;

	first = NULL;
	check(create((struct vm *)&first) == 0 && first);
	d = first;
	check(d->ops->save && d->ops->restore);
	rc = d->ops->restore(d, p, len, why, sizeof(why));
	verdict(rc, rc ? -1 : d->ops->save(d, out, sizeof(out)), p, len, why);
	d->ops->free(d);
}

static int
mk_uart(struct vm *vm)
{
	return uart_create(vm, -1, -1) ? 0 : -1;
}

static void
try_one(unsigned which, const uint8_t *p, size_t len)
{
	switch (which % 7) {
	case 0:
		try_ioapic(p, len);
		break;
	case 1:
		try_pic(p, len);
		break;
	case 2:
		try_lapic(p, len);
		break;
	case 3:
		try_dev(mk_uart, p, len);
		break;
	case 4:
		try_dev(rtc_create, p, len);
		break;
	case 5:
		try_dev(pm_create, p, len);
		break;
	default:
		try_dev(debugexit_create, p, len);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pm_set_clock(fixed_now);
	for (unsigned i = 0; i < 7; i++)
		try_one(i, data, size);
	if (size)
		try_one(data[0], data + 1, size - 1);
	return 0;
}
