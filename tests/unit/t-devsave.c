/*
 * Save and restore of the devices in cmd/avm-run/dev/ (uart, rtc, pm,
 * debugexit) through their ops tables, with the VM's side stubbed: each
 * is driven into a state through its ports, saved, restored into a fresh
 * one, and must read and behave the same; bad state bytes are refused
 * with a reason and change nothing.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <unistd.h>

#include "../../cmd/avm-run/bus.h"
#include "../../cmd/avm-run/dev/devices.h"
#include "../../cmd/avm-run/vm.h"
#include "devsave.h"
#include "tap.h"

/* --- the VM, stubbed: what the devices call ------------------------------ */

static struct device *devs[32];
static int ndevs, irq_level[16], ends;

int
vm_add_device(struct vm *vm, struct device *dev, enum bus_space space,
	      uint64_t base, uint64_t len)
{
	(void)space;
	(void)base;
	(void)len;
	dev->vm = vm;
	if (ndevs == 32)
		return -1;
	devs[ndevs++] = dev;
	return 0;
}

void
vm_set_irq(struct vm *vm, unsigned gsi, int level)
{
	(void)vm;
	if (gsi < 16)
		irq_level[gsi] = level;
}

void
vm_end(struct vm *vm, enum vm_end end, int status, const char *fmt, ...)
{
	(void)vm;
	(void)end;
	(void)status;
	(void)fmt;
	ends++;
}

static struct vm *const VM = (struct vm *)&devs; /* never looked into */
static uint64_t clock_ns = 1000000000000ull;

static uint64_t
fake_now(void)
{
	return clock_ns;
}

/* --- helpers ------------------------------------------------------------- */

static void
out(struct device *d, uint64_t off, uint32_t v, unsigned len)
{
	d->ops->pio_write(d, NULL, off, &v, len);
}

static uint32_t
in(struct device *d, uint64_t off, unsigned len)
{
	uint32_t v = 0;

	d->ops->pio_read(d, NULL, off, &v, len);
	return v;
}

static void
bad(struct device *d, const char *what, const uint8_t *b, size_t len, int err,
    const char *want)
{
	uint8_t before[DEVSTATE_MAX], after[DEVSTATE_MAX];
	ssize_t n1 = d->ops->save(d, before, sizeof(before)), n2;
	char why[256] = "";
	int rc, e;

	rc = d->ops->restore(d, b, len, why, sizeof(why));
	e = errno;
	n2 = d->ops->save(d, after, sizeof(after));
	refused(what, rc, e, err, why, want, before, n1, after, n2);
}

/* Saves d into a, restores into d2, saves d2: the same bytes. */
static ssize_t
round_trip(const char *name, struct device *d, struct device *d2, uint8_t *a,
	   ssize_t size)
{
	uint8_t b[DEVSTATE_MAX];
	char why[256] = "";
	ssize_t n = d->ops->save(d, a, DEVSTATE_MAX), n2;

	is_int(n, size, "%s: save gives %zd bytes", name, size);
	is_int(d->ops->save(d, b, (size_t)n - 1), -1,
	       "%s: save into a short buffer refused", name);
	ok(d2->ops->restore(d2, a, (size_t)n, why, sizeof(why)) == 0,
	   "%s: restore into a fresh one (%s)", name, why);
	n2 = d2->ops->save(d2, b, sizeof(b));
	ok(n2 == n && memcmp(a, b, (size_t)n) == 0,
	   "%s: save, restore, save: same bytes", name);
	return n;
}

/* --- uart ---------------------------------------------------------------- */

static void
test_uart(int devnull)
{
	uint8_t a[DEVSTATE_MAX], t[DEVSTATE_MAX];
	struct device *d, *d2;
	struct uart *u;
	uint64_t tx = 0;
	int same = 1;
	ssize_t n;

	u = uart_create(VM, devnull, -1);
	d = devs[ndevs - 1];
	uart_count_tx(u, &tx);
	out(d, 3, 0x80, 1); /* DLAB */
	out(d, 0, 0x01, 1); /* 115200 */
	out(d, 1, 0x00, 1);
	out(d, 3, 0x03, 1); /* 8n1 */
	out(d, 2, 0x01, 1); /* FIFO on */
	out(d, 4, 0x1b, 1); /* loopback, DTR, RTS, OUT2 */
	out(d, 1, 0x01, 1); /* receive interrupt */
	out(d, 7, 0x5a, 1);
	out(d, 0, 'h', 1);
	out(d, 0, 'i', 1);
	out(d, 0, '!', 1);
	is_int(tx, 3, "uart: 3 bytes written counted");
	is_int(in(d, 0, 1), 'h', "uart: first looped byte read");
	is_int(irq_level[4], 1, "uart: IRQ 4 up, 2 bytes pending");

	uart_create(VM, devnull, -1);
	d2 = devs[ndevs - 1];
	n = round_trip("uart", d, d2, a, 80);
	for (uint64_t off = 1; off < 8; off++)
		same &= in(d, off, 1) == in(d2, off, 1);
	ok(same, "uart: registers 1..7 read the same");
	out(d, 3, 0x83, 1);
	out(d2, 3, 0x83, 1);
	ok(in(d, 0, 1) == 1 && in(d2, 0, 1) == 1 && in(d2, 1, 1) == 0,
	   "uart: divisor latch restored");
	out(d, 3, 0x03, 1);
	out(d2, 3, 0x03, 1);
	is_int(in(d2, 2, 1), 0xc4, "uart: IIR says data, FIFO on");
	is_int(in(d2, 0, 1), 'i', "uart: restored FIFO gives 'i'");
	is_int(in(d2, 0, 1), '!', "uart: then '!'");
	is_int(in(d2, 5, 1) & 1, 0, "uart: then no data ready");
	is_int(irq_level[4], 0, "uart: and IRQ 4 goes down");
	out(d2, 0, 'x', 1);
	is_int(irq_level[4], 1, "uart: a new byte raises IRQ 4 again");
	is_int(in(d2, 0, 1), 'x', "uart: and reads back");

	memcpy(t, a, (size_t)n);
	bad(d2, "uart truncated", t, (size_t)n - 1, EINVAL, "bytes");
	t[1] = 1;
	bad(d2, "uart version 257", t, (size_t)n, EPROTO, "version 257");
	memcpy(t, a, (size_t)n);
	t[4] |= 0x10;
	bad(d2, "uart IER reserved bit", t, (size_t)n, EINVAL, "IER");
	memcpy(t, a, (size_t)n);
	t[15] = 65;
	bad(d2, "uart FIFO count 65", t, (size_t)n, EINVAL, "65 bytes");
	memcpy(t, a, (size_t)n);
	t[14] = 0;
	bad(d2, "uart line level", t, (size_t)n, EINVAL, "line level");
	memcpy(t, a, (size_t)n);
	t[7] &= (uint8_t)~1;
	bad(d2, "uart data ready", t, (size_t)n, EINVAL, "data ready");
	memcpy(t, a, (size_t)n);
	t[16 + 40] = 1;
	bad(d2, "uart FIFO past count", t, (size_t)n, EINVAL, "past the count");
	memcpy(t, a, (size_t)n);
	t[10] = 0x02;
	bad(d2, "uart FCR", t, (size_t)n, EINVAL, "FCR");
}

/* --- rtc ----------------------------------------------------------------- */

static void
test_rtc(void)
{
	uint8_t a[DEVSTATE_MAX], t[DEVSTATE_MAX];
	struct device *d, *d2;
	ssize_t n;

	rtc_create(VM);
	d = devs[ndevs - 1];
	out(d, 0, 0x20, 1);
	out(d, 1, 0x77, 1);
	out(d, 0, 0x0b, 1);
	out(d, 1, 0x06, 1);	   /* binary, 24-hour */
	out(d, 0, 0x40 | 0x80, 1); /* index 0x40, NMI masked */
	out(d, 1, 0x12, 1);
	rtc_create(VM);
	d2 = devs[ndevs - 1];
	n = round_trip("rtc", d, d2, a, 136);
	is_int(in(d2, 1, 1), 0x12, "rtc: index 0x40 restored, reads 0x12");
	out(d2, 0, 0x20, 1);
	is_int(in(d2, 1, 1), 0x77, "rtc: CMOS 0x20 restored");
	out(d2, 0, 0x0b, 1);
	is_int(in(d2, 1, 1), 0x06, "rtc: status B restored");
	out(d2, 0, 0x00, 1);
	ok(in(d2, 1, 1) < 60, "rtc: seconds in binary, as status B says");

	memcpy(t, a, (size_t)n);
	bad(d2, "rtc truncated", t, 3, EINVAL, "header");
	t[0] = 0;
	bad(d2, "rtc version 0", t, (size_t)n, EPROTO, "version 0");
	memcpy(t, a, (size_t)n);
	t[4] = 0x80;
	bad(d2, "rtc index 0x80", t, (size_t)n, EINVAL, "index 0x80");
	memcpy(t, a, (size_t)n);
	t[8 + 0x0b] |= 0x80;
	bad(d2, "rtc status B SET bit", t, (size_t)n, EINVAL, "status B");
	memcpy(t, a, (size_t)n);
	t[8 + 0x00] = 0x30;
	bad(d2, "rtc stored clock byte", t, (size_t)n, EINVAL,
	    "clock register 0x00");
	memcpy(t, a, (size_t)n);
	t[6] = 1;
	bad(d2, "rtc reserved byte", t, (size_t)n, EINVAL, "reserved");
}

/* --- pm ------------------------------------------------------------------ */

static struct device *
pm_state_dev(int from)
{
	for (int i = from; i < ndevs; i++)
		if (devs[i]->ops->save)
			return devs[i];
	return NULL;
}

static struct device *
pm_port(int from, unsigned k)
{
	return devs[from + (int)k]; /* reset, event, control, timer */
}

static void
test_pm(void)
{
	uint8_t a[DEVSTATE_MAX], t[DEVSTATE_MAX];
	struct device *d, *d2;
	int p1 = ndevs, p2;
	uint32_t tmr;
	ssize_t n;

	pm_set_clock(fake_now);
	pm_create(VM);
	d = pm_state_dev(p1);
	ok(d != NULL, "pm: one range carries the state");
	out(pm_port(p1, 1), 2, 0x0120, 2); /* PM1a enable */
	out(pm_port(p1, 2), 0, 0x0401, 2); /* SCI_EN, SLP_TYP 1, no SLP_EN */
	clock_ns += 1000000000ull;
	tmr = in(pm_port(p1, 3), 0, 4);
	is_int(tmr, 3579545, "pm: timer counted one second");

	p2 = ndevs;
	pm_create(VM);
	d2 = pm_state_dev(p2);
	n = d->ops->save(d, a, sizeof(a));
	clock_ns += 10000000000ull; /* ten seconds saved */
	{
		char why[256] = "";
		uint8_t b[DEVSTATE_MAX];

		ok(d2->ops->restore(d2, a, (size_t)n, why, sizeof(why)) == 0,
		   "pm: restore ten seconds later (%s)", why);
		ok(d2->ops->save(d2, b, sizeof(b)) == n &&
			   memcmp(a, b, (size_t)n) == 0,
		   "pm: save, restore, save: same bytes");
	}
	is_int(n, 20, "pm: 20 bytes");
	is_int(in(pm_port(p2, 3), 0, 4), tmr,
	       "pm: timer goes on from its saved value");
	clock_ns += 1000000000ull;
	is_int(in(pm_port(p2, 3), 0, 4), (tmr + 3579545) & 0xffffff,
	       "pm: and counts on");
	is_int(in(pm_port(p2, 1), 0, 4), 0x01200000u, "pm: enable restored");
	is_int(in(pm_port(p2, 2), 0, 2), 0x0401, "pm: control restored");
	ends = 0;
	out(pm_port(p2, 2), 0, 0x2000 | 5 << 10, 2);
	is_int(ends, 1, "pm: S5 still powers off");

	memcpy(t, a, (size_t)n);
	bad(d2, "pm truncated", t, (size_t)n - 1, EINVAL, "bytes");
	t[0] = 9;
	bad(d2, "pm version 9", t, (size_t)n, EPROTO, "version 9");
	memcpy(t, a, (size_t)n);
	t[4] = 1;
	bad(d2, "pm status bit", t, (size_t)n, EINVAL, "status");
	memcpy(t, a, (size_t)n);
	t[9] |= 0x20;
	bad(d2, "pm SLP_EN", t, (size_t)n, EINVAL, "SLP_EN");
	memcpy(t, a, (size_t)n);
	t[10] = 1;
	bad(d2, "pm reserved", t, (size_t)n, EINVAL, "reserved");
	pm_set_clock(NULL);
}

/* --- debugexit ----------------------------------------------------------- */

static void
test_debugexit(void)
{
	uint8_t a[DEVSTATE_MAX], t[DEVSTATE_MAX];
	struct device *d, *d2;
	ssize_t n;

	debugexit_create(VM);
	d = devs[ndevs - 1];
	debugexit_create(VM);
	d2 = devs[ndevs - 1];
	n = round_trip("debugexit", d, d2, a, 4);
	memcpy(t, a, (size_t)n);
	bad(d2, "debugexit truncated", t, 3, EINVAL, "header");
	t[0] = 2;
	bad(d2, "debugexit version 2", t, (size_t)n, EPROTO, "version 2");
	memcpy(t, a, (size_t)n);
	t[2] = 1;
	t[4] = 0;
	bad(d2, "debugexit payload", t, (size_t)n + 1, EINVAL, "length");
}

int
main(void)
{
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

	test_uart(devnull);
	test_rtc();
	test_pm();
	test_debugexit();
	for (int i = ndevs - 1; i >= 0; i--)
		devs[i]->ops->free(devs[i]);
	close(devnull);
	return done_testing();
}
