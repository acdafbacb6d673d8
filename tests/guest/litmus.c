/*
 * Memory-model litmus tests between CPU 0 and the last CPU (on another
 * node when the VM spans several, so every access may move a page
 * between hosts through avm-pager).  rounds=N (default 2000).
 *
 *   mp   message passing: CPU 0 writes data = r, then flag = r, and
 *        waits for the other to acknowledge round r; the other spins
 *        on flag, reading flag, then data, until it sees r.  Seeing a
 *        flag newer than the data is forbidden on x86 (TSO) and under
 *        the pager's sequential consistency.
 *   sb   store buffering: each CPU writes its own word = r, then reads
 *        the other's, and both wait for each other before the next
 *        round.  Both reading a value older than r in one round is
 *        allowed on x86 without a fence (the store buffer) and forbidden
 *        with mfence between the store and the load.
 *
 * Every word lives on its own page, so on several nodes each round
 * moves pages between the nodes' pagers.
 */
#include "kit.h"

KIT_PROGRAM("litmus");

#define MAX_ROUNDS 100000
#define PAGE __attribute__((aligned(4096)))

static volatile uint64_t mp_data PAGE, mp_flag PAGE;
static volatile uint64_t mp_ack PAGE;
static volatile uint64_t sb_x PAGE, sb_y PAGE;
static volatile uint64_t sb_done0 PAGE, sb_done1 PAGE;
static uint8_t sb_old0[MAX_ROUNDS], sb_old1[MAX_ROUNDS];
static volatile uint64_t mp_bad, mp_seen;

static void
mp(unsigned me, unsigned other_cpu, uint64_t rounds)
{
	if (me == 0) {
		for (uint64_t r = 1; r <= rounds; r++) {
			mp_data = r;
			kit_barrier_compiler();
			mp_flag = r;
			while (mp_ack != r)
				kit_pause();
		}
		return;
	}
	if (me != other_cpu)
		return;
	for (uint64_t r = 1; r <= rounds; r++) {
		uint64_t f, d;

		do {
			f = mp_flag;
			kit_barrier_compiler();
			d = mp_data;
			mp_seen++;
			if (d < f)
				mp_bad++;
		} while (f < r);
		mp_ack = r;
	}
}

static void
sb(unsigned me, unsigned other_cpu, uint64_t rounds, bool fence)
{
	volatile uint64_t *mine, *theirs, *my_done, *their_done;
	uint8_t *old;

	if (me == 0) {
		mine = &sb_x;
		theirs = &sb_y;
		my_done = &sb_done0;
		their_done = &sb_done1;
		old = sb_old0;
	} else if (me == other_cpu) {
		mine = &sb_y;
		theirs = &sb_x;
		my_done = &sb_done1;
		their_done = &sb_done0;
		old = sb_old1;
	} else {
		return;
	}
	for (uint64_t r = 1; r <= rounds; r++) {
		*mine = r;
		if (fence)
			__asm__ volatile("mfence" ::: "memory");
		else
			kit_barrier_compiler();
		old[r - 1] = *theirs < r;
		*my_done = r;
		while (*their_done < r)
			kit_pause();
	}
}

static uint64_t
sb_both_old(uint64_t rounds)
{
	uint64_t n = 0;

	for (uint64_t r = 0; r < rounds; r++)
		n += sb_old0[r] && sb_old1[r];
	return n;
}

void
prog_main(unsigned cpu)
{
	uint64_t rounds = kit_arg_u64("rounds", 2000);
	unsigned other = kit_ncpus - 1;
	uint64_t plain, fenced;

	if (kit_ncpus < 2)
		kit_fail("litmus needs 2 cpus");
	if (rounds == 0 || rounds > MAX_ROUNDS)
		kit_fail("rounds=%lu: must be 1 to %u", rounds, MAX_ROUNDS);
	kit_barrier();
	mp(cpu, other, rounds);
	kit_barrier();
	sb(cpu, other, rounds, false);
	kit_barrier();
	plain = sb_both_old(rounds);
	kit_barrier();
	if (cpu == 0)
		sb_x = sb_y = sb_done0 = sb_done1 = 0;
	kit_barrier();
	sb(cpu, other, rounds, true);
	kit_barrier();
	if (cpu != 0)
		return;
	fenced = sb_both_old(rounds);
	kit_printf("litmus mp: cpu 0 -> cpu %u, %lu rounds, %lu reads, "
		   "%lu forbidden\n",
		   other, rounds, mp_seen, mp_bad);
	kit_printf("litmus sb: %lu rounds; both old: %lu without a fence "
		   "(allowed), %lu with mfence (forbidden)\n",
		   rounds, plain, fenced);
	if (mp_bad)
		kit_fail("mp: %lu reads saw the flag before the data", mp_bad);
	if (fenced)
		kit_fail("sb: %lu fenced rounds saw both stores missing",
			 fenced);
}
