/*
 * Serial input by interrupt: the IOAPIC routes ISA IRQ 4 (COM1, through
 * the MADT overrides) to the BSP, the UART raises it on received data
 * (IER bit 0), and the BSP reads the bytes only after an interrupt came.
 * It echoes the line as "got: <text>" once a newline arrives, then
 * passes.  Waits at most timeout=SECONDS (default 10) from the prompt.
 */
#include "kit.h"

KIT_PROGRAM("uart-irq");

#define COM1 KIT_PORT_COM1
#define LSR_DR 0x01

void
prog_main(unsigned cpu)
{
	uint64_t secs = kit_arg_u64("timeout", 10), dl;
	uint32_t seen = kit_irq_count(0, KIT_VEC_UART), irqs = 0;
	char line[128];
	size_t n = 0, bytes = 0;
	int gsi;

	if (cpu != 0)
		return;
	gsi = kit_ioapic_route(4, KIT_VEC_UART, kit_cpus[0].apic_id);
	if (gsi < 0)
		kit_fail("no ioapic pin for irq 4");
	while (inb(COM1 + 5) & LSR_DR) /* stale input: no interrupt for it */
		(void)inb(COM1);
	outb(COM1 + 1, 0x01); /* IER: received data available */
	kit_printf("uart-irq: irq 4 -> gsi %d -> vector 0x%x on cpu 0; "
		   "waiting %lu s for a line\n",
		   gsi, KIT_VEC_UART, secs);
	dl = kit_rdtsc() + kit_us_to_tsc(secs * 1000000);
	for (;;) {
		while (kit_irq_count(0, KIT_VEC_UART) == seen) {
			if (kit_rdtsc() > dl)
				kit_fail_status(KIT_EXIT_TIMEOUT,
						"timeout: %lu s, %zu bytes by "
						"%u interrupts",
						secs, bytes, irqs);
			kit_pause();
		}
		irqs += kit_irq_count(0, KIT_VEC_UART) - seen;
		seen = kit_irq_count(0, KIT_VEC_UART);
		while (inb(COM1 + 5) & LSR_DR) {
			char ch = (char)inb(COM1);

			bytes++;
			if (ch == '\r' || ch == '\n') {
				if (n == 0)
					continue;
				outb(COM1 + 1, 0x00);
				line[n] = '\0';
				kit_printf("got: %s\n", line);
				kit_printf("uart-irq: %zu bytes by %u "
					   "interrupts\n",
					   bytes, irqs);
				return;
			}
			if (n < sizeof(line) - 1)
				line[n++] = ch;
		}
	}
}
