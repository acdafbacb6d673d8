/* I/O APIC model; see ioapic.h. */
#include <errno.h>
#include <string.h>

#include "../../devstate.h"
#include "ioapic.h"

_Static_assert(IOAPIC_STATE_SIZE == 208, "ioapic state layout");

/* Bits the guest may write: vector, delivery mode, destination mode,
 * polarity, trigger, mask; destination.  Delivery status and remote IRR
 * are read-only. */
#define RTE_WRITABLE_LO 0x0001afffull
#define RTE_WRITABLE_HI 0xff000000ull

static void
service(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->s.redir[pin];
	unsigned dm = (e >> 8) & 7;
	bool level = e & IOAPIC_RTE_LEVEL;
	struct apic_msg m;
	int n;

	if (e & IOAPIC_RTE_MASKED)
		return;
	if (level &&
	    ((e & IOAPIC_RTE_REMOTE_IRR) || !(io->s.level & (1u << pin))))
		return;
	if (dm == 3 || dm == APIC_DM_SIPI)
		return; /* reserved */
	memset(&m, 0, sizeof(m));
	m.vector = e & 0xff;
	m.delivery = (uint8_t)dm;
	m.dest_logical = (e & IOAPIC_RTE_DEST_LOGICAL) != 0;
	m.dest = (uint32_t)(e >> IOAPIC_RTE_DEST_SHIFT);
	m.src = APIC_SRC_NONE;
	m.level_trig = level;
	m.assert = 1;
	n = apicbus_send(io->bus, &m);
	if (io->delivered) /* one writer: the lock is held */
		__atomic_store_n(
			io->delivered,
			__atomic_load_n(io->delivered, __ATOMIC_RELAXED) + 1,
			__ATOMIC_RELAXED);
	/* Remote IRR waits for an EOI, so set it only when some APIC
	 * got the message; otherwise the pin would stay stuck. */
	if (level && n > 0 && (dm == APIC_DM_FIXED || dm == APIC_DM_LOWEST))
		io->s.redir[pin] |= IOAPIC_RTE_REMOTE_IRR;
}

static void
reset_locked(struct ioapic *io)
{
	io->s.id = 0;
	io->s.ioregsel = 0;
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
		io->s.redir[i] = IOAPIC_RTE_MASKED;
}

int
ioapic_init(struct ioapic *io, struct apicbus *bus)
{
	int r;

	memset(io, 0, sizeof(*io));
	r = pthread_mutex_init(&io->lock, NULL);
	if (r) {
		errno = r;
		return -1;
	}
	io->bus = bus;
	reset_locked(io);
	return 0;
}

void
ioapic_release(struct ioapic *io)
{
	pthread_mutex_destroy(&io->lock);
}

void
ioapic_reset(struct ioapic *io)
{
	pthread_mutex_lock(&io->lock);
	reset_locked(io);
	pthread_mutex_unlock(&io->lock);
}

static uint32_t
window_read(struct ioapic *io)
{
	uint32_t idx = io->s.ioregsel & 0xff;
	unsigned pin;

	switch (idx) {
	case IOAPIC_REG_ID:
		return io->s.id;
	case IOAPIC_REG_VERSION:
		return IOAPIC_VERSION;
	case IOAPIC_REG_ARB:
		return io->s.id; /* arbitration id follows the id */
	}
	if (idx < IOAPIC_REG_REDIR ||
	    idx >= IOAPIC_REG_REDIR + 2 * IOAPIC_NR_PINS)
		return 0;
	pin = (idx - IOAPIC_REG_REDIR) / 2;
	if (idx & 1)
		return (uint32_t)(io->s.redir[pin] >> 32);
	return (uint32_t)io->s.redir[pin];
}

static void
window_write(struct ioapic *io, uint32_t val)
{
	uint32_t idx = io->s.ioregsel & 0xff;
	uint64_t e;
	unsigned pin;

	if (idx == IOAPIC_REG_ID) {
		io->s.id = val & 0x0f000000;
		return;
	}
	if (idx < IOAPIC_REG_REDIR ||
	    idx >= IOAPIC_REG_REDIR + 2 * IOAPIC_NR_PINS)
		return; /* version, arbitration: read-only */
	pin = (idx - IOAPIC_REG_REDIR) / 2;
	e = io->s.redir[pin];
	if (idx & 1) {
		e = (e & ~(RTE_WRITABLE_HI << 32)) |
		    (((uint64_t)val & RTE_WRITABLE_HI) << 32);
	} else {
		e = (e & ~RTE_WRITABLE_LO) | (val & RTE_WRITABLE_LO);
		/* Remote IRR means nothing for an edge pin. */
		if (!(e & IOAPIC_RTE_LEVEL))
			e &= ~IOAPIC_RTE_REMOTE_IRR;
	}
	io->s.redir[pin] = e;
	/* Unmasking a level pin that is still asserted delivers it. */
	if ((e & IOAPIC_RTE_LEVEL) && !(e & IOAPIC_RTE_MASKED))
		service(io, pin);
}

static void
eoi_locked(struct ioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < IOAPIC_NR_PINS; pin++) {
		uint64_t *e = &io->s.redir[pin];

		if ((*e & 0xff) != vector || !(*e & IOAPIC_RTE_LEVEL) ||
		    !(*e & IOAPIC_RTE_REMOTE_IRR))
			continue;
		*e &= ~IOAPIC_RTE_REMOTE_IRR;
		service(io, pin);
	}
}

int
ioapic_mmio_read(struct ioapic *io, uint32_t offset, void *data, unsigned len)
{
	uint32_t v = 0;

	memset(data, 0, len);
	pthread_mutex_lock(&io->lock);
	if (offset == IOAPIC_IOREGSEL && (len == 1 || len == 4))
		v = io->s.ioregsel;
	else if (offset == IOAPIC_IOWIN && len == 4)
		v = window_read(io);
	pthread_mutex_unlock(&io->lock);
	if (len == 1 || len == 4)
		memcpy(data, &v, len);
	return 0;
}

int
ioapic_mmio_write(struct ioapic *io, uint32_t offset, const void *data,
		  unsigned len)
{
	uint32_t v = 0;

	if (len != 1 && len != 4)
		return 0;
	memcpy(&v, data, len);
	pthread_mutex_lock(&io->lock);
	if (offset == IOAPIC_IOREGSEL)
		io->s.ioregsel = v & 0xff;
	else if (offset == IOAPIC_IOWIN && len == 4)
		window_write(io, v);
	else if (offset == IOAPIC_EOI && len == 4)
		eoi_locked(io, (uint8_t)v);
	pthread_mutex_unlock(&io->lock);
	return 0;
}

void
ioapic_set_irq(struct ioapic *io, unsigned pin, int level)
{
	uint32_t bit;
	bool was;

	if (pin >= IOAPIC_NR_PINS)
		return;
	bit = 1u << pin;
	pthread_mutex_lock(&io->lock);
	was = io->s.level & bit;
	if (level)
		io->s.level |= bit;
	else
		io->s.level &= ~bit;
	if (io->s.redir[pin] & IOAPIC_RTE_LEVEL) {
		if (level)
			service(io, pin);
	} else if (level && !was) {
		service(io, pin);
	}
	pthread_mutex_unlock(&io->lock);
}

void
ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	pthread_mutex_lock(&io->lock);
	eoi_locked(io, vector);
	pthread_mutex_unlock(&io->lock);
}

uint64_t
ioapic_redir(struct ioapic *io, unsigned pin)
{
	uint64_t e = 0;

	if (pin >= IOAPIC_NR_PINS)
		return 0;
	pthread_mutex_lock(&io->lock);
	e = io->s.redir[pin];
	pthread_mutex_unlock(&io->lock);
	return e;
}

ssize_t
ioapic_save(struct ioapic *io, void *buf, size_t cap)
{
	uint8_t *p = ds_begin(buf, cap, IOAPIC_STATE_VERSION,
			      IOAPIC_STATE_SIZE - DEVSTATE_HDR_SIZE);

	if (!p)
		return -1;
	pthread_mutex_lock(&io->lock);
	ds_put32(&p, io->s.id);
	ds_put32(&p, io->s.ioregsel);
	ds_put32(&p, io->s.level);
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
		ds_put64(&p, io->s.redir[i]);
	pthread_mutex_unlock(&io->lock);
	return IOAPIC_STATE_SIZE;
}

int
ioapic_restore(struct ioapic *io, const void *buf, size_t len, char *why,
	       size_t whylen)
{
	const uint64_t ok_bits =
		RTE_WRITABLE_LO | IOAPIC_RTE_REMOTE_IRR | RTE_WRITABLE_HI << 32;
	const uint8_t *p =
		ds_open(buf, len, "ioapic", IOAPIC_STATE_VERSION,
			IOAPIC_STATE_SIZE - DEVSTATE_HDR_SIZE, why, whylen);
	struct ioapic_state s;

	if (!p)
		return -1;
	memset(&s, 0, sizeof(s));
	s.id = ds_get32(&p);
	s.ioregsel = ds_get32(&p);
	s.level = ds_get32(&p);
	if (s.id & ~0x0f000000u)
		return ds_fail(why, whylen, EINVAL,
			       "ioapic state: id register 0x%08x has reserved "
			       "bits set",
			       s.id);
	if (s.ioregsel > 0xff)
		return ds_fail(
			why, whylen, EINVAL,
			"ioapic state: ioregsel 0x%x out of range 0..0xff",
			s.ioregsel);
	if (s.level >> IOAPIC_NR_PINS)
		return ds_fail(why, whylen, EINVAL,
			       "ioapic state: input levels 0x%x name pins "
			       "beyond %u",
			       s.level, IOAPIC_NR_PINS - 1);
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++) {
		uint64_t e = ds_get64(&p);

		if (e & ~ok_bits)
			return ds_fail(why, whylen, EINVAL,
				       "ioapic state: pin %u entry 0x%016llx "
				       "has reserved bits set",
				       i, (unsigned long long)e);
		if ((e & IOAPIC_RTE_REMOTE_IRR) && !(e & IOAPIC_RTE_LEVEL))
			return ds_fail(why, whylen, EINVAL,
				       "ioapic state: pin %u has remote IRR "
				       "set but is edge-triggered",
				       i);
		s.redir[i] = e;
	}
	pthread_mutex_lock(&io->lock);
	io->s = s;
	pthread_mutex_unlock(&io->lock);
	return 0;
}
