/*
 * 8259 pair: the init sequence Linux uses, masks, priorities, cascade,
 * EOIs, level mode through ELCR, spurious IRQs, and the INT output
 * wired to a BSP lapic's LINT0 (ExtINT).
 */
#include <stdint.h>

#include "../../cmd/avm-run/arch/x86/lapic.h"
#include "../../cmd/avm-run/arch/x86/pic.h"
#include "tap.h"

static struct pic pic;
static struct lapic bsp;
static struct apicbus bus;
static int out, changes;

static void
f_intr(void *opaque, int level)
{
	out = level;
	changes++;
	lapic_set_lint(&bsp, 0, level);
}

static uint64_t
f_now(void *o)
{
	return 0;
}

static void
outb(uint16_t port, uint8_t v)
{
	pic_pio(&pic, port, 1, &v);
}

static uint8_t
inb(uint16_t port)
{
	uint8_t v = 0x5a;

	pic_pio(&pic, port, 0, &v);
	return v;
}

/* As Linux's init_8259A(): vectors 0x30 and 0x38, cascade on IRQ2. */
static void
linux_init(uint8_t icw4)
{
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	outb(0x20, 0x11);
	outb(0x21, 0x30);
	outb(0x21, 0x04);
	outb(0x21, icw4);
	outb(0xa0, 0x11);
	outb(0xa1, 0x38);
	outb(0xa1, 0x02);
	outb(0xa1, 0x01);
}

static void
test_init(void)
{
	uint8_t v = 0;

	is_int(inb(0x21), 0xff, "reset: master all masked");
	is_int(inb(0xa1), 0xff, "reset: slave all masked");
	pic_set_irq(&pic, 1, 1);
	is_int(pic_output(&pic), 0, "masked IRQ: no INT");
	pic_set_irq(&pic, 1, 0);
	linux_init(0x01);
	is_int(inb(0x21), 0, "ICW1 cleared the mask");
	outb(0x21, 0xff);
	is_int(inb(0x21), 0xff, "OCW1 mask reads back (probe)");
	outb(0x21, 0xfb);
	outb(0xa1, 0xff);
	is_int(inb(0x21), 0xfb, "cascade unmasked");
	ok(pic_pio(&pic, 0x22, 0, &v) == -1, "port 0x22 not ours");
	is_int(changes, 0, "no INT so far");
}

static void
test_master(void)
{
	outb(0x21, 0xf9); /* unmask IRQ1 and the cascade */
	pic_set_irq(&pic, 1, 1);
	is_int(out, 1, "IRQ1 raises INT");
	is_int(lapic_next_irq(&bsp), LAPIC_IRQ_EXTINT,
	       "BSP LINT0 ExtINT pending");
	lapic_ack_irq(&bsp, LAPIC_IRQ_EXTINT);
	is_int(pic_intack(&pic), 0x31, "INTA: vector 0x31");
	is_int(out, 0, "INT drops once in service");
	is_int(lapic_next_irq(&bsp), -1, "LINT0 low: nothing pending");
	outb(0x20, 0x0b);
	is_int(inb(0x20), 0x02, "OCW3: ISR has IRQ1");
	outb(0x20, 0x0a);
	is_int(inb(0x20), 0x00, "OCW3: IRR empty (edge consumed)");
	pic_set_irq(&pic, 1, 0);
	pic_set_irq(&pic, 1, 1);
	is_int(out, 0, "same IRQ in service: blocked");
	is_int(inb(0x20), 0x02, "but requested in IRR");
	outb(0x20, 0x61); /* specific EOI IRQ1 */
	is_int(out, 1, "specific EOI unblocks");
	is_int(pic_intack(&pic), 0x31, "second IRQ1");
	outb(0x20, 0x20); /* non-specific EOI */
	outb(0x20, 0x0b);
	is_int(inb(0x20), 0, "non-specific EOI cleared ISR");
	outb(0x20, 0x0a);
	pic_set_irq(&pic, 1, 0);

	/* Priorities: IRQ0 beats IRQ3; in-service IRQ1 blocks IRQ3 only. */
	outb(0x21, 0xf0);
	pic_set_irq(&pic, 3, 1);
	pic_set_irq(&pic, 1, 1);
	is_int(pic_intack(&pic), 0x31, "IRQ1 before IRQ3");
	is_int(out, 0, "IRQ3 blocked by IRQ1 in service");
	pic_set_irq(&pic, 0, 1);
	is_int(out, 1, "IRQ0 nests over IRQ1");
	is_int(pic_intack(&pic), 0x30, "IRQ0");
	outb(0x20, 0x20);
	outb(0x20, 0x20);
	is_int(pic_intack(&pic), 0x33, "then IRQ3");
	outb(0x20, 0x63);
	pic_set_irq(&pic, 0, 0);
	pic_set_irq(&pic, 1, 0);
	pic_set_irq(&pic, 3, 0);
	is_int(pic_intack(&pic), 0x37, "nothing pending: spurious IRQ7");
	outb(0x20, 0x0b);
	is_int(inb(0x20), 0, "spurious IRQ7 not in service");
	outb(0x20, 0x0a);

	/* Set priority: IRQ4 lowest, so IRQ5 beats IRQ0. */
	outb(0x20, 0xc4);
	pic_set_irq(&pic, 0, 1);
	outb(0x21, 0xd8);
	pic_set_irq(&pic, 5, 1);
	is_int(pic_intack(&pic), 0x35, "rotated priority: IRQ5 first");
	outb(0x20, 0x20);
	is_int(pic_intack(&pic), 0x30, "then IRQ0");
	outb(0x20, 0x20);
	outb(0x20, 0xc7); /* back to IRQ0 highest */
	pic_set_irq(&pic, 0, 0);
	pic_set_irq(&pic, 5, 0);
	outb(0x21, 0xfb);
}

static void
test_slave(void)
{
	outb(0xa1, 0xef); /* unmask IRQ12 */
	pic_set_irq(&pic, 12, 1);
	is_int(out, 1, "IRQ12 through the cascade");
	outb(0x20, 0x0a);
	is_int(inb(0x20) & 0x04, 0x04, "master IRR shows IRQ2");
	is_int(pic_intack(&pic), 0x3c, "vector 0x38 + 4");
	outb(0xa0, 0x0b);
	is_int(inb(0xa0), 0x10, "slave ISR IRQ4");
	outb(0x20, 0x0b);
	is_int(inb(0x20), 0x04, "master ISR IRQ2");
	outb(0xa0, 0x64);
	outb(0x20, 0x62);
	is_int(inb(0xa0), 0, "slave EOI");
	is_int(inb(0x20), 0, "master EOI");
	outb(0xa0, 0x0a);
	outb(0x20, 0x0a);
	pic_set_irq(&pic, 12, 0);
	outb(0xa1, 0xff);
}

static void
test_level_elcr(void)
{
	outb(0x21, 0xdb); /* unmask IRQ5 */
	outb(0x4d0, 0xff);
	is_int(inb(0x4d0), 0xf8, "ELCR: IRQ0-2 stay edge");
	outb(0x4d1, 0xff);
	is_int(inb(0x4d1), 0xde, "ELCR: IRQ8, 13 stay edge");
	outb(0x4d1, 0);
	outb(0x4d0, 0x20);
	pic_set_irq(&pic, 5, 1);
	is_int(pic_intack(&pic), 0x35, "level IRQ5");
	outb(0x20, 0x65);
	is_int(out, 1, "still asserted after EOI: INT again");
	is_int(pic_intack(&pic), 0x35, "level IRQ5 again");
	pic_set_irq(&pic, 5, 0);
	outb(0x20, 0x65);
	is_int(out, 0, "de-asserted: quiet");
	pic_set_irq(&pic, 5, 1);
	pic_set_irq(&pic, 5, 0);
	is_int(out, 0, "level request withdrawn");
	outb(0x4d0, 0);
	outb(0x21, 0xfb);
}

static void
test_aeoi(void)
{
	linux_init(0x03); /* auto-EOI */
	outb(0x21, 0xfe);
	outb(0xa1, 0xff);
	pic_set_irq(&pic, 0, 1);
	is_int(pic_intack(&pic), 0x30, "AEOI: IRQ0");
	outb(0x20, 0x0b);
	is_int(inb(0x20), 0, "AEOI: nothing in service");
	pic_set_irq(&pic, 0, 0);
	pic_set_irq(&pic, 0, 1);
	is_int(out, 1, "next IRQ0 not blocked");
	is_int(pic_intack(&pic), 0x30, "IRQ0 again");
	pic_set_irq(&pic, 0, 0);
	pic_reset(&pic);
	is_int(inb(0x21), 0xff, "reset masks everything");
}

int
main(void)
{
	struct lapic_env env = { .now_ns = f_now, .bus = &bus };

	apicbus_init(&bus, 1, NULL, NULL);
	lapic_init(&bsp, 0, true, &env);
	apicbus_attach(&bus, 0, &bsp);
	pic_init(&pic, f_intr, NULL);
	test_init();
	test_master();
	test_slave();
	test_level_elcr();
	test_aeoi();
	pic_release(&pic);
	lapic_release(&bsp);
	apicbus_release(&bus);
	return done_testing();
}
