/*
 * Touches, writes and verifies guest RAM from all CPUs: the largest
 * free range above the image and below 4 GiB (the kit maps no more),
 * cut to mem=SIZE (default 256M), split in one chunk per CPU.  Each CPU
 * touches its chunk (one write per 4 KiB page: first-touch faults),
 * fills it with a pattern of its own, then verifies its neighbour's
 * chunk (a page written on one CPU, read on another).  Prints, per CPU
 * and measured with the TSC, ns per touched page and MiB/s of the two
 * passes; mem node is the chunk's SRAT node (-1: no SRAT).
 */
#include "kit.h"

KIT_PROGRAM("memtouch");

#define PAGE 4096

static uint64_t mem_base, chunk;
static volatile uint64_t errors, first_bad;

static uint64_t
seed(unsigned cpu)
{
	return 0x9e3779b97f4a7c15ull * (cpu + 1);
}

static uint64_t
mib_s(uint64_t bytes, uint64_t cycles)
{
	/* KiB per ms is bytes/1024 per (cycles / tsc_khz). */
	return cycles ? (bytes >> 10) * kit_tsc_khz / cycles * 1000 / 1024 : 0;
}

static void
pick_range(void)
{
	uint64_t lo = ((uint64_t)(uintptr_t)_end + 0x1fffff) & ~0x1fffffull;
	uint64_t want = kit_arg_u64("mem", 256ull << 20), best = 0;

	for (unsigned i = 0; i < kit_nram; i++) {
		uint64_t b = kit_ram[i].base, e = b + kit_ram[i].len;

		if (b < lo)
			b = lo;
		if (e > 0x100000000ull)
			e = 0x100000000ull;
		if (e > b && e - b > best) {
			best = e - b;
			mem_base = b;
		}
	}
	if (want > best)
		want = best;
	chunk = want / kit_ncpus & ~(uint64_t)(PAGE - 1);
	if (chunk == 0)
		kit_fail("no free memory above the image (%lu bytes)", best);
}

void
prog_main(unsigned cpu)
{
	unsigned peer = (cpu + 1) % kit_ncpus;
	volatile uint64_t *p, *q;
	uint64_t t0, t1, t2, t3, s, bad = 0, n = chunk / 8;

	if (cpu == 0) {
		pick_range();
		kit_printf("memtouch: 0x%lx-0x%lx, %lu MiB, %lu KiB per cpu\n",
			   mem_base, mem_base + chunk * kit_ncpus,
			   chunk * kit_ncpus >> 20, chunk >> 10);
	}
	kit_barrier();
	n = chunk / 8;
	p = kit_phys(mem_base + chunk * cpu);
	q = kit_phys(mem_base + chunk * peer);

	t0 = kit_rdtsc();
	for (uint64_t i = 0; i < n; i += PAGE / 8)
		p[i] = 0;
	t1 = kit_rdtsc();
	s = seed(cpu);
	for (uint64_t i = 0; i < n; i++)
		p[i] = (uint64_t)(uintptr_t)&p[i] ^ s;
	t2 = kit_rdtsc();
	kit_barrier();
	t3 = kit_rdtsc();
	s = seed(peer);
	for (uint64_t i = 0; i < n; i++) {
		if (q[i] != ((uint64_t)(uintptr_t)&q[i] ^ s)) {
			if (bad++ == 0)
				first_bad = (uint64_t)(uintptr_t)&q[i];
		}
	}
	t2 -= t1;
	t1 -= t0;
	t3 = kit_rdtsc() - t3;
	__atomic_add_fetch(&errors, bad, __ATOMIC_RELAXED);
	kit_printf("memtouch cpu %u: mem node %d, touch %lu ns/page, write "
		   "%lu MiB/s, verify cpu %u's %lu MiB/s\n",
		   cpu, kit_mem_node((uint64_t)(uintptr_t)p),
		   kit_tsc_to_us(t1 * 1000) / (chunk / PAGE), mib_s(chunk, t2),
		   peer, mib_s(chunk, t3));
	kit_barrier();
	if (cpu == 0 && errors)
		kit_fail("%lu bad words, first at 0x%lx", errors, first_bad);
}
