/*
 * LAPIC timer against the TSC: one-shot, periodic (count ticks) and
 * TSC-deadline (when CPUID.1:ECX[24] says so).  Each prints programmed
 * and measured time and fails when they differ by more than a factor of
 * 2 either way.  A busy host only ever makes a tick late, so one-shots
 * are judged on the best of RUNS and the periodic timer on the median
 * interval between ticks.
 */
#include "kit.h"

KIT_PROGRAM("timer");

#define ONESHOT_US 10000
#define PERIOD_US 5000
#define PERIODS 10
#define RUNS 5

static void
judge(const char *what, uint64_t programmed_us, uint64_t measured_us)
{
	if (measured_us * 2 < programmed_us || measured_us > programmed_us * 2)
		kit_fail("timer %s: measured %lu us for %lu us", what,
			 measured_us, programmed_us);
}

/* No tick may come while we wait this long. */
static void
expect_quiet(const char *what, uint32_t count, uint64_t us)
{
	kit_udelay(us);
	if (kit_irq_count(0, KIT_VEC_TIMER) != count)
		kit_fail("timer %s: %u extra ticks", what,
			 kit_irq_count(0, KIT_VEC_TIMER) - count);
}

/* Arms the timer with arm(), returns TSC from arming to the tick. */
static uint64_t
one_tick(void (*arm)(uint64_t now), const char *what)
{
	uint32_t c0 = kit_irq_count(0, KIT_VEC_TIMER);
	uint64_t t0 = kit_rdtsc();

	arm(t0);
	KIT_WAIT(kit_irq_count(0, KIT_VEC_TIMER) != c0, kit_wait_ms,
		 "%s timer interrupt", what);
	expect_quiet(what, c0 + 1, 2 * ONESHOT_US);
	return kit_irq_tsc(0, KIT_VEC_TIMER) - t0;
}

static uint32_t timer_khz;

static void
arm_oneshot(uint64_t now)
{
	lapic_write(LAPIC_TIMER_INIT,
		    (uint32_t)((uint64_t)timer_khz * ONESHOT_US / 1000));
}

static uint64_t deadline_tsc;

static void
arm_deadline(uint64_t now)
{
	deadline_tsc = now + kit_us_to_tsc(ONESHOT_US);
	kit_wrmsr(MSR_TSC_DEADLINE, deadline_tsc);
}

static void
runs(const char *what, void (*arm)(uint64_t now))
{
	uint64_t t[RUNS], min = ~0ull;

	for (int i = 0; i < RUNS; i++) {
		t[i] = one_tick(arm, what);
		if (arm == arm_deadline &&
		    kit_irq_tsc(0, KIT_VEC_TIMER) < deadline_tsc)
			kit_fail("timer %s: tick %lu us before the deadline",
				 what,
				 kit_tsc_to_us(deadline_tsc -
					       kit_irq_tsc(0, KIT_VEC_TIMER)));
		if (t[i] < min)
			min = t[i];
	}
	kit_printf("timer %s: programmed %u us, measured min %lu us, "
		   "median %lu us (%d runs)\n",
		   what, ONESHOT_US, kit_tsc_to_us(min),
		   kit_tsc_to_us(kit_median(t, RUNS)), RUNS);
	judge(what, ONESHOT_US, kit_tsc_to_us(min));
}

static void
periodic(void)
{
	uint64_t gap[PERIODS], prev = 0, tsc;
	uint32_t c0 = kit_irq_count(0, KIT_VEC_TIMER), last = c0, c;
	unsigned ngap = 0;

	lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | KIT_VEC_TIMER);
	lapic_write(LAPIC_TIMER_INIT,
		    (uint32_t)((uint64_t)timer_khz * PERIOD_US / 1000));
	while (last - c0 < PERIODS) {
		KIT_WAIT(kit_irq_count(0, KIT_VEC_TIMER) != last, kit_wait_ms,
			 "periodic timer: %u of %u ticks", last - c0, PERIODS);
		/* The handler runs on this CPU: count, TSC, count again
		 * tells whether the TSC belongs to that count. */
		do {
			c = kit_irq_count(0, KIT_VEC_TIMER);
			tsc = kit_irq_tsc(0, KIT_VEC_TIMER);
		} while (c != kit_irq_count(0, KIT_VEC_TIMER));
		if (c == last + 1 && last != c0)
			gap[ngap++] = tsc - prev;
		prev = tsc;
		last = c;
	}
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | KIT_VEC_TIMER);
	lapic_write(LAPIC_TIMER_INIT, 0);
	c = kit_irq_count(0, KIT_VEC_TIMER);
	expect_quiet("periodic stopped", c, 4 * PERIOD_US);
	if (ngap == 0)
		kit_fail("timer periodic: no two ticks in a row were seen");
	kit_printf("timer periodic: %u ticks, programmed %u us, measured "
		   "median %lu us\n",
		   c - c0, PERIOD_US, kit_tsc_to_us(kit_median(gap, ngap)));
	judge("periodic", PERIOD_US, kit_tsc_to_us(kit_median(gap, ngap)));
}

void
prog_main(unsigned cpu)
{
	if (cpu != 0)
		return;
	timer_khz = kit_lapic_timer_khz();
	kit_printf("timer: lapic timer %u kHz (%s)\n", timer_khz,
		   kit_bus_khz ? "cpuid-0x40000010" : "measured");
	if (timer_khz == 0)
		kit_fail("lapic timer does not count");
	lapic_write(LAPIC_TIMER_DIV, 0xb); /* divide by 1 */
	lapic_write(LAPIC_LVT_TIMER, KIT_VEC_TIMER);
	runs("one-shot", arm_oneshot);
	periodic();
	if (kit_has_tsc_deadline()) {
		lapic_write(LAPIC_LVT_TIMER, LVT_TSC_DEADLINE | KIT_VEC_TIMER);
		runs("tsc-deadline", arm_deadline);
		lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | KIT_VEC_TIMER);
	} else {
		kit_printf("timer tsc-deadline: not supported or "
			   "notscdeadline, skipped\n");
	}
}
