/*
 * Every CPU adds 1 to one shared counter iters=N times (default 20000)
 * with lock xadd, and as often to a plain counter under a spinlock; both
 * totals must come out exactly N times the CPU count.
 */
#include "kit.h"

KIT_PROGRAM("atomic");

static volatile uint64_t xadd_total __attribute__((aligned(64)));
static struct kit_lock lock __attribute__((aligned(64)));
static uint64_t locked_total;

static inline uint64_t
xadd(volatile uint64_t *p, uint64_t v)
{
	__asm__ volatile("lock xaddq %0, %1" : "+r"(v), "+m"(*p)::"memory");
	return v;
}

void
prog_main(unsigned cpu)
{
	uint64_t iters = kit_arg_u64("iters", 20000), t0, t1, t2;
	uint64_t want = iters * kit_ncpus;

	kit_barrier();
	t0 = kit_rdtsc();
	for (uint64_t i = 0; i < iters; i++)
		xadd(&xadd_total, 1);
	t1 = kit_rdtsc();
	for (uint64_t i = 0; i < iters; i++) {
		kit_lock(&lock);
		locked_total++;
		kit_unlock(&lock);
	}
	t2 = kit_rdtsc();
	kit_printf("atomic cpu %u: %lu iters, xadd %lu cycles/op, spinlock "
		   "%lu cycles/op\n",
		   cpu, iters, (t1 - t0) / (iters ? iters : 1),
		   (t2 - t1) / (iters ? iters : 1));
	kit_barrier();
	if (cpu != 0)
		return;
	kit_printf("atomic: xadd total %lu, spinlock total %lu, expected "
		   "%lu\n",
		   xadd_total, locked_total, want);
	if (xadd_total != want)
		kit_fail("xadd total %lu, expected %lu", xadd_total, want);
	if (locked_total != want)
		kit_fail("spinlock total %lu, expected %lu", locked_total,
			 want);
}
