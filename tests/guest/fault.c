/*
 * Checks the kit's exception path: one CPU raises an exception at CPL3
 * and the kit must report it and exit with KIT_EXIT_EXCEPTION (3).
 * Command line: fault=14 (page fault, default), 6 (#UD) or 13 (#GP);
 * cpu=K picks the CPU (default 0).  fault=8 is a triple fault instead:
 * the CPU empties the IDT (all memory is user-writable) and raises #UD,
 * whose delivery then fails twice over (#NP, #DF): the machine shuts
 * down and the VMM sees it (avm-run exits 1).
 */
#include "kit.h"

KIT_PROGRAM("fault");

/* tables.S: the IDT's limit and base, as LIDT takes them. */
extern struct {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed)) kit_idtr;

void
prog_main(unsigned cpu)
{
	unsigned vec = (unsigned)kit_arg_u64("fault", 14);
	unsigned who = (unsigned)kit_arg_u64("cpu", 0);

	if (who >= kit_ncpus)
		kit_fail("cpu=%u, but there are %u cpus", who, kit_ncpus);
	if (cpu != who) {
		kit_barrier();
		for (;;)
			kit_idle();
	}
	kit_printf("fault: cpu %u raises exception %u at cpl3\n", cpu, vec);
	kit_barrier();
	switch (vec) {
	case 8:
		memset((void *)kit_idtr.base, 0, kit_idtr.limit + 1u);
		__asm__ volatile("ud2");
		break;
	case 6:
		__asm__ volatile("ud2");
		break;
	case 13:
		__asm__ volatile("hlt"); /* privileged even with IOPL 3 */
		break;
	case 14:
		(void)*(volatile uint64_t *)kit_phys(0x100000000ull);
		break;
	}
	kit_fail("no exception %u", vec);
}
