/*
 * 8259 pair: the init sequence Linux uses, masks, priorities, cascade,
 * EOIs, level mode through ELCR, spurious IRQs, and the INT output
 * wired to a BSP lapic's LINT0 (ExtINT).
 */
#include <stdint.h>

#include "../../cmd/avm-run/arch/x86/lapic.h"
#include "../../cmd/avm-run/arch/x86/pic.h"
#include "devsave.h"
#include "tap.h"

static struct pic pic;
static struct pic *P = &pic; /* what outb/inb talk to */
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
	pic_pio(P, port, 1, &v);
}

static uint8_t
inb(uint16_t port)
{
	uint8_t v = 0x5a;

	pic_pio(P, port, 0, &v);
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

static int intr2;

static void
f_intr2(void *opaque, int level)
{
	(void)opaque;
	(void)level;
	intr2++;
}

static void
bad(struct pic *x, const char *what, const uint8_t *b, size_t len, int err,
    const char *want)
{
	uint8_t before[DEVSTATE_MAX], after[DEVSTATE_MAX];
	ssize_t n1 = pic_save(x, before, sizeof(before)), n2;
	char why[256] = "";
	int rc, e;

	rc = pic_restore(x, b, len, why, sizeof(why));
	e = errno;
	n2 = pic_save(x, after, sizeof(after));
	refused(what, rc, e, err, why, want, before, n1, after, n2);
}

static void
test_save(void)
{
	static const uint16_t ports[] = {
		0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1
	};
	uint8_t a[DEVSTATE_MAX], b[DEVSTATE_MAX], t[DEVSTATE_MAX];
	uint8_t ra[6], rb[6];
	struct pic pic2;
	char why[256] = "";
	ssize_t n, n2;

	linux_init(0x01);
	outb(0x21, 0xf8);  /* IRQ 0, 1, 2 */
	outb(0xa1, 0xf7);  /* IRQ 11 */
	outb(0x4d1, 0x08); /* IRQ 11 level */
	pic_set_irq(&pic, 1, 1);
	is_int(pic_intack(&pic), 0x31, "save: IRQ1 taken, in service");
	pic_set_irq(&pic, 11, 1);
	pic_set_irq(&pic, 0, 1);
	is_int(pic_output(&pic), 1, "save: IRQ0 beats IRQ1 in service");
	outb(0x20, 0x0b); /* OCW3: read ISR */

	n = pic_save(&pic, a, sizeof(a));
	is_int(n, PIC_STATE_SIZE, "save: %d bytes", PIC_STATE_SIZE);
	pic_init(&pic2, f_intr2, NULL);
	intr2 = 0;
	ok(pic_restore(&pic2, a, (size_t)n, why, sizeof(why)) == 0,
	   "restore into a fresh pic (%s)", why);
	is_int(intr2, 0, "restore does not call intr");
	n2 = pic_save(&pic2, b, sizeof(b));
	ok(n2 == n && memcmp(a, b, (size_t)n) == 0,
	   "save, restore, save: same bytes");
	for (int i = 0; i < 6; i++) {
		P = &pic;
		ra[i] = inb(ports[i]);
		P = &pic2;
		rb[i] = inb(ports[i]);
	}
	ok(memcmp(ra, rb, sizeof(ra)) == 0,
	   "ports 0x20/0x21/0xa0/0xa1/0x4d0/0x4d1 read the same");
	is_int(rb[0], 0x02, "restored OCW3: 0x20 reads ISR (IRQ1)");
	is_int(pic_output(&pic2), 1, "restored INT output");

	/* Behaviour goes on on the restored pair. */
	is_int(pic_intack(&pic2), 0x30, "restored: IRQ0 delivered");
	outb(0x20, 0x20);
	is_int(inb(0x20), 0x02, "EOI: IRQ0 done, IRQ1 still in service");
	is_int(pic_output(&pic2), 0, "IRQ11 waits for IRQ1's EOI");
	outb(0x20, 0x20);
	is_int(pic_output(&pic2), 1, "EOI of IRQ1: cascade raises INT");
	is_int(pic_intack(&pic2), 0x3b, "IRQ11 through the slave");
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
	pic_set_irq(&pic2, 11, 0);
	is_int(pic_output(&pic2), 0, "all EOIs done: INT low");

	P = &pic2;
	memcpy(t, a, (size_t)n);
	bad(&pic2, "truncated", t, (size_t)n - 1, EINVAL, "bytes");
	t[0] = 7;
	bad(&pic2, "version 7", t, (size_t)n, EPROTO, "version 7");
	memcpy(t, a, (size_t)n);
	t[9] = 0x31;
	bad(&pic2, "ICW2 base", t, (size_t)n, EINVAL, "base 0x31");
	memcpy(t, a, (size_t)n);
	t[8] = 0x01;
	bad(&pic2, "ELCR reserved bit", t, (size_t)n, EINVAL, "ELCR");
	memcpy(t, a, (size_t)n);
	t[4 + 15 + 7] = 5;
	bad(&pic2, "ICW state 5", t, (size_t)n, EINVAL, "ICW5");
	memcpy(t, a, (size_t)n);
	t[4 + 7] = 4; /* ICW4 expected, but ICW1 announced it: ok... */
	t[4 + 8] = 0; /* ...not now */
	bad(&pic2, "ICW4 not announced", t, (size_t)n, EINVAL, "announce");
	memcpy(t, a, (size_t)n);
	t[10] = 8;
	bad(&pic2, "priority 8", t, (size_t)n, EINVAL, "priority");
	memcpy(t, a, (size_t)n);
	t[4 + 15 + 11] = 2;
	bad(&pic2, "flag 2", t, (size_t)n, EINVAL, "slave flag");
	memcpy(t, a, (size_t)n);
	t[34] = 0;
	bad(&pic2, "INT output", t, (size_t)n, EINVAL, "INT output 0");
	P = &pic;
	pic_release(&pic2);
	pic_set_irq(&pic, 0, 0);
	pic_set_irq(&pic, 1, 0);
	pic_set_irq(&pic, 11, 0);
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
	test_save();
	pic_release(&pic);
	lapic_release(&bsp);
	apicbus_release(&bus);
	return done_testing();
}
