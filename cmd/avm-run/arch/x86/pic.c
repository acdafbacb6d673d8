/* 8259A pair; see pic.h.  Behaviour from the Intel 8259A data sheet. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "../../devstate.h"
#include "pic.h"

_Static_assert(PIC_STATE_SIZE == 35, "pic state layout");

/* IRQ 0, 1, 2 (master) and 8, 13 (slave) are always edge (PIIX). */
static const uint8_t elcr_writable[2] = { 0xf8, 0xde };

static unsigned
prio(const struct pic_chip *c, unsigned irq)
{
	return (irq - c->prio_low - 1) & 7; /* 0 = highest */
}

/* The highest-priority IR set in bits, or -1. */
static int
highest(const struct pic_chip *c, uint8_t bits)
{
	for (unsigned k = 0; k < 8; k++) {
		unsigned irq = (c->prio_low + 1 + k) & 7;

		if (bits & (1u << irq))
			return (int)irq;
	}
	return -1;
}

static int pending(const struct pic_state *s, int which);

static uint8_t
requests(const struct pic_state *s, int which)
{
	const struct pic_chip *c = &s->chip[which];
	uint8_t r = c->irr;

	/* The cascade input follows the slave's INT output. */
	if (which == 0 && !c->single) {
		r &= ~(1u << PIC_CASCADE_IRQ);
		if (pending(s, 1) >= 0)
			r |= 1u << PIC_CASCADE_IRQ;
	}
	return r;
}

/* The IR this chip would raise INT for, or -1 (fully nested mode). */
static int
pending(const struct pic_state *s, int which)
{
	const struct pic_chip *c = &s->chip[which];
	int irq = highest(c, requests(s, which) & ~c->imr);
	int in = highest(c, c->isr);

	if (irq < 0 || c->icw_next)
		return -1;
	if (in >= 0 && prio(c, (unsigned)in) <= prio(c, (unsigned)irq))
		return -1;
	return irq;
}

static void
update(struct pic *pic)
{
	uint8_t out = pending(&pic->s, 0) >= 0;

	if (out == pic->s.out)
		return;
	pic->s.out = out;
	if (pic->intr)
		pic->intr(pic->opaque, out);
}

static bool
is_level(const struct pic_chip *c, unsigned irq)
{
	return c->ltim || (c->elcr & (1u << irq));
}

static void
chip_set(struct pic_chip *c, unsigned irq, int level)
{
	uint8_t bit = 1u << irq;

	if (is_level(c, irq)) {
		if (level)
			c->irr |= bit;
		else
			c->irr &= ~bit;
	} else if (level && !(c->lines & bit)) {
		c->irr |= bit;
	}
	if (level)
		c->lines |= bit;
	else
		c->lines &= ~bit;
}

/* INTA for irq on chip c. */
static void
chip_ack(struct pic_chip *c, unsigned irq)
{
	uint8_t bit = 1u << irq;

	c->irr &= ~bit;
	if (is_level(c, irq) && (c->lines & bit))
		c->irr |= bit; /* still asserted */
	if (c->auto_eoi) {
		if (c->rotate_aeoi)
			c->prio_low = (uint8_t)irq;
	} else {
		c->isr |= bit;
	}
}

static void
chip_icw1(struct pic_chip *c, uint8_t v)
{
	/* Data sheet: IMR cleared, IR7 lowest, edge sense reset (an edge
	 * input needs a new rising edge), status read selects IRR. */
	c->imr = 0;
	c->isr = 0;
	c->prio_low = 7;
	c->read_isr = 0;
	c->auto_eoi = 0;
	c->rotate_aeoi = 0;
	c->icw4 = v & 1;
	c->single = (v >> 1) & 1;
	c->ltim = (v >> 3) & 1;
	c->irr = c->lines & (c->ltim ? 0xff : c->elcr);
	c->icw_next = 2;
}

static void
chip_ocw2(struct pic_chip *c, uint8_t v)
{
	unsigned cmd = v >> 5, level = v & 7;
	int irq;

	switch (cmd) {
	case 0: /* clear rotate in AEOI */
	case 4: /* set rotate in AEOI */
		c->rotate_aeoi = cmd == 4;
		break;
	case 1: /* non-specific EOI */
	case 5: /* rotate on non-specific EOI */
		irq = highest(c, c->isr);
		if (irq < 0)
			break;
		c->isr &= ~(1u << irq);
		if (cmd == 5)
			c->prio_low = (uint8_t)irq;
		break;
	case 3: /* specific EOI */
	case 7: /* rotate on specific EOI */
		c->isr &= ~(1u << level);
		if (cmd == 7)
			c->prio_low = (uint8_t)level;
		break;
	case 6: /* set priority */
		c->prio_low = (uint8_t)level;
		break;
	default: /* 2: no operation */
		break;
	}
}

static void
chip_write(struct pic_chip *c, int data, uint8_t v)
{
	if (!data) {
		if (v & 0x10)
			chip_icw1(c, v);
		else if (v & 0x08) {
			if (v & 0x02) /* OCW3 RR: select the read */
				c->read_isr = v & 1;
		} else {
			chip_ocw2(c, v);
		}
		return;
	}
	switch (c->icw_next) {
	case 2:
		c->base = v & 0xf8;
		c->icw_next = c->single ? (c->icw4 ? 4 : 0) : 3;
		break;
	case 3:
		c->icw3 = v;
		c->icw_next = c->icw4 ? 4 : 0;
		break;
	case 4:
		c->auto_eoi = (v >> 1) & 1;
		c->icw_next = 0;
		break;
	default:
		c->imr = v; /* OCW1 */
		break;
	}
}

static void
reset_locked(struct pic *pic)
{
	static const uint8_t base[2] = { 0x08, 0x70 };

	for (int i = 0; i < 2; i++) {
		struct pic_chip *c = &pic->s.chip[i];
		uint8_t lines = c->lines;

		memset(c, 0, sizeof(*c));
		c->lines = lines;
		c->base = base[i];
		c->imr = 0xff;
		c->prio_low = 7;
		c->icw3 = i ? PIC_CASCADE_IRQ : 1u << PIC_CASCADE_IRQ;
	}
	update(pic);
}

int
pic_init(struct pic *pic, void (*intr)(void *opaque, int level), void *opaque)
{
	int r;

	memset(pic, 0, sizeof(*pic));
	r = pthread_mutex_init(&pic->lock, NULL);
	if (r) {
		errno = r;
		return -1;
	}
	pic->intr = intr;
	pic->opaque = opaque;
	reset_locked(pic);
	return 0;
}

void
pic_release(struct pic *pic)
{
	pthread_mutex_destroy(&pic->lock);
}

void
pic_reset(struct pic *pic)
{
	pthread_mutex_lock(&pic->lock);
	reset_locked(pic);
	pthread_mutex_unlock(&pic->lock);
}

int
pic_pio(struct pic *pic, uint16_t port, int is_write, uint8_t *val)
{
	struct pic_state *s = &pic->s;
	int which, data;
	struct pic_chip *c;

	switch (port) {
	case PIC_MASTER_CMD:
	case PIC_MASTER_DATA:
	case PIC_SLAVE_CMD:
	case PIC_SLAVE_DATA:
		which = port >= PIC_SLAVE_CMD;
		data = port & 1;
		break;
	case PIC_ELCR_MASTER:
	case PIC_ELCR_SLAVE:
		which = port - PIC_ELCR_MASTER;
		pthread_mutex_lock(&pic->lock);
		c = &s->chip[which];
		if (is_write) {
			c->elcr = *val & elcr_writable[which];
			update(pic);
		} else {
			*val = c->elcr;
		}
		pthread_mutex_unlock(&pic->lock);
		return 0;
	default:
		return -1;
	}
	pthread_mutex_lock(&pic->lock);
	c = &s->chip[which];
	if (is_write) {
		chip_write(c, data, *val);
		update(pic);
	} else if (data) {
		*val = c->imr;
	} else {
		*val = c->read_isr ? c->isr : requests(s, which);
	}
	pthread_mutex_unlock(&pic->lock);
	return 0;
}

void
pic_set_irq(struct pic *pic, unsigned irq, int level)
{
	if (irq > 15)
		return;
	pthread_mutex_lock(&pic->lock);
	chip_set(&pic->s.chip[irq >> 3], irq & 7, level);
	update(pic);
	pthread_mutex_unlock(&pic->lock);
}

int
pic_intack(struct pic *pic)
{
	struct pic_state *s = &pic->s;
	struct pic_chip *m = &s->chip[0], *sl = &s->chip[1];
	int irq, sirq, vector;

	pthread_mutex_lock(&pic->lock);
	irq = pending(s, 0);
	if (irq < 0) {
		vector = m->base + 7; /* spurious IRQ7 */
	} else if (irq == PIC_CASCADE_IRQ && !m->single) {
		sirq = pending(s, 1);
		if (sirq < 0) {
			vector = sl->base + 7; /* spurious IRQ15 */
		} else {
			chip_ack(sl, (unsigned)sirq);
			vector = sl->base + sirq;
		}
		chip_ack(m, PIC_CASCADE_IRQ);
	} else {
		chip_ack(m, (unsigned)irq);
		vector = m->base + irq;
	}
	update(pic);
	pthread_mutex_unlock(&pic->lock);
	return vector;
}

int
pic_output(struct pic *pic)
{
	int out;

	pthread_mutex_lock(&pic->lock);
	out = pending(&pic->s, 0) >= 0;
	pthread_mutex_unlock(&pic->lock);
	return out;
}

ssize_t
pic_save(struct pic *pic, void *buf, size_t cap)
{
	uint8_t *p = ds_begin(buf, cap, PIC_STATE_VERSION,
			      PIC_STATE_SIZE - DEVSTATE_HDR_SIZE);

	if (!p)
		return -1;
	pthread_mutex_lock(&pic->lock);
	for (int i = 0; i < 2; i++) {
		const struct pic_chip *c = &pic->s.chip[i];
		const uint8_t f[15] = {
			c->irr,		c->isr,	     c->imr,	  c->lines,
			c->elcr,	c->base,     c->prio_low, c->icw_next,
			c->icw4,	c->single,   c->ltim,	  c->auto_eoi,
			c->rotate_aeoi, c->read_isr, c->icw3
		};

		for (unsigned k = 0; k < sizeof(f); k++)
			ds_put8(&p, f[k]);
	}
	ds_put8(&p, pic->s.out);
	pthread_mutex_unlock(&pic->lock);
	return PIC_STATE_SIZE;
}

static int
chip_check(const struct pic_chip *c, int i, char *why, size_t whylen)
{
	static const char *const nm[2] = { "master", "slave" };
	const uint8_t flags[] = { c->icw4,     c->single,      c->ltim,
				  c->auto_eoi, c->rotate_aeoi, c->read_isr };

	if (c->base & 7)
		return ds_fail(why, whylen, EINVAL,
			       "pic state: %s ICW2 base 0x%02x is not a "
			       "multiple of 8",
			       nm[i], c->base);
	if (c->prio_low > 7)
		return ds_fail(why, whylen, EINVAL,
			       "pic state: %s lowest priority IR %u out of "
			       "range 0..7",
			       nm[i], c->prio_low);
	if (c->icw_next != 0 && c->icw_next != 2 && c->icw_next != 3 &&
	    c->icw_next != 4)
		return ds_fail(why, whylen, EINVAL,
			       "pic state: %s expects ICW%u next, not an ICW",
			       nm[i], c->icw_next);
	for (unsigned k = 0; k < sizeof(flags); k++)
		if (flags[k] > 1)
			return ds_fail(why, whylen, EINVAL,
				       "pic state: %s flag byte %u is %u, not "
				       "0 or 1",
				       nm[i], 8 + k, flags[k]);
	if ((c->icw_next == 3 && c->single) || (c->icw_next == 4 && !c->icw4))
		return ds_fail(why, whylen, EINVAL,
			       "pic state: %s expects ICW%u, which its ICW1 "
			       "did not announce",
			       nm[i], c->icw_next);
	if (c->elcr & ~elcr_writable[i])
		return ds_fail(why, whylen, EINVAL,
			       "pic state: %s ELCR 0x%02x sets always-edge "
			       "IRQs",
			       nm[i], c->elcr);
	return 0;
}

int
pic_restore(struct pic *pic, const void *buf, size_t len, char *why,
	    size_t whylen)
{
	const uint8_t *p =
		ds_open(buf, len, "pic", PIC_STATE_VERSION,
			PIC_STATE_SIZE - DEVSTATE_HDR_SIZE, why, whylen);
	struct pic_state s;

	if (!p)
		return -1;
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 2; i++) {
		struct pic_chip *c = &s.chip[i];

		c->irr = ds_get8(&p);
		c->isr = ds_get8(&p);
		c->imr = ds_get8(&p);
		c->lines = ds_get8(&p);
		c->elcr = ds_get8(&p);
		c->base = ds_get8(&p);
		c->prio_low = ds_get8(&p);
		c->icw_next = ds_get8(&p);
		c->icw4 = ds_get8(&p);
		c->single = ds_get8(&p);
		c->ltim = ds_get8(&p);
		c->auto_eoi = ds_get8(&p);
		c->rotate_aeoi = ds_get8(&p);
		c->read_isr = ds_get8(&p);
		c->icw3 = ds_get8(&p);
		if (chip_check(c, i, why, whylen) < 0)
			return -1;
	}
	s.out = ds_get8(&p);
	if (s.out != (pending(&s, 0) >= 0))
		return ds_fail(why, whylen, EINVAL,
			       "pic state: INT output %u, the registers give "
			       "%d",
			       s.out, pending(&s, 0) >= 0);
	pthread_mutex_lock(&pic->lock);
	pic->s = s;
	pthread_mutex_unlock(&pic->lock);
	return 0;
}
