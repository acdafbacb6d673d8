/*
 * TSC frequency, best source first: the hypervisor leaf 0x40000010 (TSC
 * and LAPIC bus kHz; avm-run gives it, QEMU/KVM with invtsc too), CPUID
 * 0x15 (crystal ratio), the ACPI PM timer, the PIT, CPUID 0x16 (base
 * MHz), and last a guess of 2 GHz.  kit_tsc_source says which one won.
 */
#include "kit.h"

/* A guess until kit_tsc_init(), so that early deadlines are finite. */
uint64_t kit_tsc_khz = 3000000;
const char *kit_tsc_source = "guess";
uint32_t kit_bus_khz;
uint64_t kit_wait_ms = 30000;

/* Give up on a clock that does not tick within this many TSC cycles. */
#define CALIBRATE_LIMIT 4000000000ull

static bool
plausible(uint64_t khz)
{
	return khz >= 100000 && khz <= 20000000; /* 100 MHz .. 20 GHz */
}

static uint64_t
from_hypervisor(void)
{
	uint32_t r[4];

	kit_cpuid(1, 0, r);
	if (!(r[2] & (1u << 31)))
		return 0;
	kit_cpuid(0x40000000, 0, r);
	if (r[0] < 0x40000010 || r[0] > 0x400000ff)
		return 0;
	kit_cpuid(0x40000010, 0, r);
	if (!plausible(r[0]))
		return 0;
	kit_bus_khz = r[1];
	return r[0];
}

static uint64_t
from_cpuid15(void)
{
	uint32_t r[4];

	kit_cpuid(0, 0, r);
	if (r[0] < 0x15)
		return 0;
	kit_cpuid(0x15, 0, r);
	if (r[0] == 0 || r[1] == 0 || r[2] == 0)
		return 0;
	return (uint64_t)r[2] * r[1] / r[0] / 1000;
}

static uint64_t
from_cpuid16(void)
{
	uint32_t r[4];

	kit_cpuid(0, 0, r);
	if (r[0] < 0x16)
		return 0;
	kit_cpuid(0x16, 0, r);
	return (uint64_t)(r[0] & 0xffff) * 1000;
}

/*
 * One PM timer read and the TSC at it: the middle of the narrowest of a
 * few rdtsc brackets, so that a vCPU preempted around the read does not
 * skew the calibration.
 */
static uint32_t
pm_read(uint64_t *tsc)
{
	uint32_t mask = kit_pm_timer_32 ? 0xffffffff : 0xffffff, v = 0;
	uint64_t best = ~0ull;

	for (int i = 0; i < 5; i++) {
		uint64_t a = kit_rdtsc();
		uint32_t x = inl(kit_pm_timer_port) & mask;
		uint64_t b = kit_rdtsc();

		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			v = x;
		}
	}
	return v;
}

/* 20 ms of the 3.579545 MHz ACPI PM timer. */
static uint64_t
from_pm_timer(void)
{
	uint32_t mask = kit_pm_timer_32 ? 0xffffffff : 0xffffff;
	uint32_t start, ticks;
	uint64_t t0, t1, limit;

	if (!kit_pm_timer_port)
		return 0;
	start = pm_read(&t0);
	limit = t0 + CALIBRATE_LIMIT;
	do {
		ticks = (inl(kit_pm_timer_port) - start) & mask;
		if (kit_rdtsc() > limit)
			return 0;
	} while (ticks < 3579545 / 50);
	ticks = (pm_read(&t1) - start) & mask;
	return (t1 - t0) * 3579545 / ((uint64_t)ticks * 1000);
}

/* 20 ms of PIT channel 2 in mode 0, gate on, speaker off. */
static uint64_t
from_pit(void)
{
	const uint32_t latch = 1193182 / 50;
	uint64_t t0, t1;

	outb(0x61, (inb(0x61) & ~0x02) | 0x01);
	outb(0x43, 0xb0);
	outb(0x42, latch & 0xff);
	outb(0x42, latch >> 8);
	if (inb(0x61) & 0x20)
		return 0; /* OUT2 already high: no PIT here */
	t0 = kit_rdtsc();
	do {
		t1 = kit_rdtsc();
		if (t1 - t0 > CALIBRATE_LIMIT)
			return 0;
	} while (!(inb(0x61) & 0x20));
	return (t1 - t0) * 1193182 / ((uint64_t)latch * 1000);
}

void
kit_tsc_init(void)
{
	static const struct {
		uint64_t (*fn)(void);
		const char *name;
	} src[] = {
		{ from_hypervisor, "cpuid-0x40000010" },
		{ from_cpuid15, "cpuid-0x15" },
		{ from_pm_timer, "acpi-pm-timer" },
		{ from_pit, "pit" },
		{ from_cpuid16, "cpuid-0x16" },
	};

	for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++) {
		uint64_t khz = src[i].fn();

		if (plausible(khz)) {
			kit_tsc_khz = khz;
			kit_tsc_source = src[i].name;
			return;
		}
	}
	kit_tsc_khz = 2000000;
	kit_tsc_source = "guess";
}

uint64_t
kit_us_to_tsc(uint64_t us)
{
	return us * kit_tsc_khz / 1000;
}

uint64_t
kit_tsc_to_us(uint64_t tsc)
{
	return tsc / kit_tsc_khz * 1000 +
	       tsc % kit_tsc_khz * 1000 / kit_tsc_khz;
}

void
kit_udelay(uint64_t us)
{
	uint64_t end = kit_rdtsc() + kit_us_to_tsc(us);

	while (kit_rdtsc() < end)
		kit_pause();
}
