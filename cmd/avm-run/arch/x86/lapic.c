/*
 * Local APIC model; see lapic.h.  Semantics from the Intel SDM vol. 3,
 * chapter "Advanced Programmable Interrupt Controller (APIC)".
 *
 * Every entry point takes the lapic's mutex, works on l->s, and collects
 * what must happen outside the lock (bus send, EOI to the IOAPIC,
 * address publish, timer re-arm, kick) in a struct act that
 * unlock_act() carries out after unlocking.  That keeps the lock order
 * simple: nothing is called with a lapic lock held, so two vCPUs sending
 * each other IPIs cannot deadlock and an EOI may re-deliver into the
 * same lapic.
 */
#include <errno.h>
#include <string.h>

#include "../../devstate.h"
#include "lapic.h"

_Static_assert(1000000000ull % LAPIC_BUS_HZ == 0, "whole ns per bus tick");
#define NS_PER_TICK (1000000000ull / LAPIC_BUS_HZ)

/* Register offsets in the xAPIC page; the x2APIC MSR is 0x800 + off/16. */
enum {
	REG_ID = 0x020,
	REG_VERSION = 0x030,
	REG_TPR = 0x080,
	REG_APR = 0x090,
	REG_PPR = 0x0a0,
	REG_EOI = 0x0b0,
	REG_RRD = 0x0c0,
	REG_LDR = 0x0d0,
	REG_DFR = 0x0e0,
	REG_SVR = 0x0f0,
	REG_ISR = 0x100,
	REG_TMR = 0x180,
	REG_IRR = 0x200,
	REG_ESR = 0x280,
	REG_ICR_LO = 0x300,
	REG_ICR_HI = 0x310,
	REG_LVT = 0x320, /* timer; LINT0 0x350, error 0x370 */
	REG_TMICT = 0x380,
	REG_TMCCT = 0x390,
	REG_TDCR = 0x3e0,
	REG_SELF_IPI = 0x3f0, /* x2APIC only */
};

#define SVR_ENABLE 0x100u
#define SVR_WRITABLE 0x3ffu /* vector, enable, focus check; no EOI supp. */
#define LVT_MASKED (1u << 16)
#define LVT_TIMER_MODE_SHIFT 17
/* ICR low: vector, delivery and destination mode, level, trigger,
 * shorthand; delivery status (bit 12) always reads 0. */
#define ICR_WRITABLE 0x000ccfffu

enum { TIMER_ONESHOT, TIMER_PERIODIC, TIMER_TSC_DEADLINE };

/* Writable bits per LVT (RO delivery status and remote IRR included, so
 * a read-modify-write never faults). */
static const uint32_t lvt_writable[LAPIC_LVT_NR] = {
	[LAPIC_LVT_TIMER] = 0x000710ff,	  /* vector, status, mask, mode */
	[LAPIC_LVT_THERMAL] = 0x000117ff, /* vector, delivery, status, mask */
	[LAPIC_LVT_PERF] = 0x000117ff,
	[LAPIC_LVT_LINT0] = 0x0001f7ff, /* + polarity, remote IRR, trigger */
	[LAPIC_LVT_LINT1] = 0x0001f7ff,
	[LAPIC_LVT_ERROR] = 0x000110ff, /* vector, status, mask */
};

/* What to do once the lock is dropped. */
struct act {
	bool kick;
	bool timer_changed;
	bool publish;
	bool send;
	int eoi; /* vector, or -1 */
	struct apic_msg msg;
};

/* --- small helpers on the locked state -------------------------------- */

static bool
hw_enabled(const struct lapic_state *s)
{
	return (s->apic_base & APIC_BASE_EN) != 0;
}

static bool
x2apic_mode(const struct lapic_state *s)
{
	return hw_enabled(s) && (s->apic_base & APIC_BASE_EXTD);
}

static bool
sw_enabled(const struct lapic_state *s)
{
	return (s->svr & SVR_ENABLE) != 0;
}

/* One more NMI; beyond LAPIC_NMI_MAX it merges, as in a CPU's latch. */
static void
nmi_add(struct lapic_state *s)
{
	if (s->nmi < LAPIC_NMI_MAX)
		s->nmi++;
}

/* The IA32_APIC_BASE bits a write may set, for this MAXPHYADDR. */
static uint64_t
apic_base_ok(unsigned maxphyaddr)
{
	uint64_t addr;

	if (maxphyaddr == 0)
		maxphyaddr = 36;
	if (maxphyaddr > 52)
		maxphyaddr = 52;
	addr = ((1ull << maxphyaddr) - 1) & APIC_BASE_ADDR_MASK;
	return addr | APIC_BASE_BSP | APIC_BASE_EXTD | APIC_BASE_EN;
}

static void
vec_set(uint32_t *v, unsigned n)
{
	v[n >> 5] |= 1u << (n & 31);
}

static void
vec_clear(uint32_t *v, unsigned n)
{
	v[n >> 5] &= ~(1u << (n & 31));
}

static bool
vec_test(const uint32_t *v, unsigned n)
{
	return (v[n >> 5] >> (n & 31)) & 1;
}

/* Highest set vector, or -1. */
static int
vec_highest(const uint32_t *v)
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

static uint32_t
ppr_of(const struct lapic_state *s)
{
	int isrv = vec_highest(s->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;

	if ((s->tpr & 0xf0) >= isr_class)
		return s->tpr & 0xff;
	return isr_class;
}

static uint32_t
apr_of(const struct lapic_state *s)
{
	int isrv = vec_highest(s->isr), irrv = vec_highest(s->irr);
	uint32_t tc = s->tpr & 0xf0;
	uint32_t isc = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
	uint32_t irc = irrv < 0 ? 0 : (uint32_t)irrv & 0xf0;
	uint32_t m = tc;

	if (tc >= irc && tc > isc)
		return s->tpr & 0xff;
	if (isc > m)
		m = isc;
	if (irc > m)
		m = irc;
	return m;
}

static uint32_t
x2apic_ldr(uint32_t id)
{
	return ((id >> 4) << 16) | (1u << (id & 0xf));
}

static void
addr_of(const struct lapic_state *s, struct apic_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->id = s->id;
	a->ldr = (uint8_t)(s->ldr >> 24);
	a->model = (uint8_t)(s->dfr >> 28);
	if (hw_enabled(s))
		a->flags |= APIC_ADDR_ENABLED;
	if (x2apic_mode(s))
		a->flags |= APIC_ADDR_X2APIC;
	if (sw_enabled(s))
		a->flags |= APIC_ADDR_SW_ON;
}

static void
unlock_act(struct lapic *l, struct act *a)
{
	struct apic_addr addr;
	struct lapic_env *e = &l->env;

	if (a->publish)
		addr_of(&l->s, &addr);
	pthread_mutex_unlock(&l->lock);

	if (a->publish && e->bus)
		apicbus_set_addr(e->bus, &addr);
	if (a->eoi >= 0 && e->eoi)
		e->eoi(e->opaque, (uint8_t)a->eoi);
	if (a->send && e->bus)
		apicbus_send_counted(e->bus, &a->msg, e->ipis_local,
				     e->ipis_remote);
	if (a->timer_changed && e->timer_changed)
		e->timer_changed(e->opaque);
	if (a->kick && e->kick)
		e->kick(e->opaque);
}

static uint64_t
env_now(struct lapic *l)
{
	return l->env.now_ns ? l->env.now_ns(l->env.opaque) : 0;
}

/* --- accepting interrupts --------------------------------------------- */

static void local_deliver(struct lapic *l, enum lapic_lvt which, struct act *a);

/*
 * Logs errors.  The first error after an ESR write raises the LVT error
 * interrupt; later ones wait for the next ESR write, which re-arms it
 * (SDM 10.5.3).  A masked LVT delivers nothing and arms nothing.
 */
static void
raise_error(struct lapic *l, uint32_t bits, struct act *a)
{
	struct lapic_state *s = &l->s;

	s->esr_pending |= bits;
	if (s->esr_fired || (s->lvt[LAPIC_LVT_ERROR] & LVT_MASKED))
		return;
	s->esr_fired = true;
	local_deliver(l, LAPIC_LVT_ERROR, a);
}

static void
accept_fixed(struct lapic *l, unsigned vector, bool level, struct act *a)
{
	struct lapic_state *s = &l->s;

	if (vector < 16) {
		raise_error(l, APIC_ESR_RECV_ILLEGAL_VECTOR, a);
		return;
	}
	/* A software-disabled APIC drops fixed interrupts (SDM: only
	 * NMI, SMI, INIT and start-up are honoured). */
	if (!hw_enabled(s) || !sw_enabled(s))
		return;
	vec_set(s->irr, vector);
	if (level)
		vec_set(s->tmr, vector);
	else
		vec_clear(s->tmr, vector);
	a->kick = true;
}

static void
accept_locked(struct lapic *l, const struct apic_msg *m, struct act *a)
{
	struct lapic_state *s = &l->s;

	if (!hw_enabled(s))
		return;
	switch (m->delivery) {
	case APIC_DM_FIXED:
	case APIC_DM_LOWEST:
		accept_fixed(l, m->vector, m->level_trig, a);
		return;
	case APIC_DM_SMI:
		s->smi = 1;
		break;
	case APIC_DM_NMI:
		nmi_add(s);
		break;
	case APIC_DM_INIT:
		/* A start-up that came before this INIT is moot. */
		s->init = 1;
		s->sipi = 0;
		break;
	case APIC_DM_SIPI:
		s->sipi = 1;
		s->sipi_vector = m->vector;
		break;
	case APIC_DM_EXTINT:
		s->extint = 1;
		break;
	default:
		return;
	}
	a->kick = true;
}

/* Raises a local interrupt source through its LVT entry (edge). */
static void
local_deliver(struct lapic *l, enum lapic_lvt which, struct act *a)
{
	struct lapic_state *s = &l->s;
	uint32_t lvt = s->lvt[which];
	unsigned dm = (lvt >> 8) & 7;

	if (lvt & LVT_MASKED)
		return;
	if (which == LAPIC_LVT_TIMER || which == LAPIC_LVT_ERROR)
		dm = APIC_DM_FIXED;
	switch (dm) {
	case APIC_DM_FIXED:
		accept_fixed(l, lvt & 0xff, false, a);
		break;
	case APIC_DM_NMI:
		nmi_add(s);
		a->kick = true;
		break;
	case APIC_DM_SMI:
		s->smi = 1;
		a->kick = true;
		break;
	case APIC_DM_INIT:
		s->init = 1;
		s->sipi = 0;
		a->kick = true;
		break;
	default: /* ExtINT is a level, see extint_pending() */
		break;
	}
}

static bool
extint_pending(const struct lapic_state *s)
{
	uint32_t lvt = s->lvt[LAPIC_LVT_LINT0];

	if (s->extint)
		return true;
	if (!s->lint[0])
		return false;
	if (!hw_enabled(s))
		return true; /* LINT0 is the plain INTR pin */
	return !(lvt & LVT_MASKED) && ((lvt >> 8) & 7) == APIC_DM_EXTINT;
}

static int
next_irq_locked(const struct lapic_state *s)
{
	int v;

	if (extint_pending(s))
		return LAPIC_IRQ_EXTINT;
	if (!hw_enabled(s))
		return -1;
	v = vec_highest(s->irr);
	if (v < 0 || ((uint32_t)v & 0xf0) <= (ppr_of(s) & 0xf0))
		return -1;
	return v;
}

/* --- timer --------------------------------------------------------------- */

static unsigned
timer_mode(const struct lapic_state *s)
{
	unsigned m = (s->lvt[LAPIC_LVT_TIMER] >> LVT_TIMER_MODE_SHIFT) & 3;

	return m == 3 ? TIMER_ONESHOT : m; /* 3 is reserved */
}

/* ns per count after the divide configuration. */
static uint64_t
timer_tick_ns(const struct lapic_state *s)
{
	unsigned v = (s->timer_dcr & 3) | ((s->timer_dcr >> 1) & 4);

	return (v == 7 ? 1 : 2u << v) * NS_PER_TICK;
}

/* Time between periodic interrupts (floored) or to a one-shot expiry. */
static uint64_t
timer_period_ns(const struct lapic_state *s)
{
	uint64_t p = (uint64_t)s->timer_initial * timer_tick_ns(s);

	if (timer_mode(s) == TIMER_PERIODIC && p < LAPIC_TIMER_MIN_PERIOD_NS)
		p = LAPIC_TIMER_MIN_PERIOD_NS;
	return p;
}

static uint32_t
timer_current(const struct lapic_state *s, uint64_t now)
{
	uint64_t ticks;

	if (timer_mode(s) == TIMER_TSC_DEADLINE || s->timer_initial == 0 ||
	    s->timer_deadline_ns == 0)
		return 0;
	ticks = (now - s->timer_start_ns) / timer_tick_ns(s);
	if (timer_mode(s) == TIMER_PERIODIC)
		return s->timer_initial - (uint32_t)(ticks % s->timer_initial);
	if (ticks >= s->timer_initial)
		return 0;
	return s->timer_initial - (uint32_t)ticks;
}

static void
timer_set_deadline(struct lapic_state *s, uint64_t d, struct act *a)
{
	if (s->timer_deadline_ns != d)
		a->timer_changed = true;
	s->timer_deadline_ns = d;
}

/* Starts counting down from timer_initial at now (count modes). */
static void
timer_start(struct lapic_state *s, uint64_t now, struct act *a)
{
	s->timer_start_ns = now;
	a->timer_changed = true;
	if (s->timer_initial == 0)
		s->timer_deadline_ns = 0; /* writing 0 stops the timer */
	else
		s->timer_deadline_ns = now + timer_period_ns(s);
}

static void
timer_disarm(struct lapic_state *s, struct act *a)
{
	timer_set_deadline(s, 0, a);
	s->timer_initial = 0;
	s->tsc_deadline = 0;
}

static void
tsc_deadline_write(struct lapic *l, uint64_t val, struct act *a)
{
	struct lapic_state *s = &l->s;
	uint64_t tsc, now;
	unsigned __int128 ns;

	if (timer_mode(s) != TIMER_TSC_DEADLINE)
		return; /* SDM: ignored in the other modes */
	s->tsc_deadline = val;
	if (val == 0) {
		timer_set_deadline(s, 0, a);
		return;
	}
	now = env_now(l);
	tsc = l->env.guest_tsc ? l->env.guest_tsc(l->env.opaque) : val;
	if (val <= tsc || l->env.tsc_khz == 0) {
		s->tsc_deadline = 0;
		timer_set_deadline(s, 0, a);
		local_deliver(l, LAPIC_LVT_TIMER, a);
		return;
	}
	/* Round up: firing late by < 1 ns is fine, early is not. */
	ns = ((unsigned __int128)(val - tsc) * 1000000 + l->env.tsc_khz - 1) /
	     l->env.tsc_khz;
	if (ns > UINT64_MAX - now - 1)
		ns = UINT64_MAX - now - 1;
	timer_set_deadline(s, now + (uint64_t)ns, a);
}

static void
lvt_timer_write(struct lapic *l, uint32_t val, struct act *a)
{
	struct lapic_state *s = &l->s;
	unsigned old = timer_mode(s);

	s->lvt[LAPIC_LVT_TIMER] = val;
	if ((old == TIMER_TSC_DEADLINE) !=
	    (timer_mode(s) == TIMER_TSC_DEADLINE))
		timer_disarm(s, a);
	else if (old != timer_mode(s) && s->timer_deadline_ns)
		timer_set_deadline(s, s->timer_start_ns + timer_period_ns(s),
				   a);
}

static void
tdcr_write(struct lapic *l, uint32_t val, struct act *a)
{
	struct lapic_state *s = &l->s;
	uint64_t now;
	uint32_t cur;

	if (timer_mode(s) == TIMER_TSC_DEADLINE || !s->timer_deadline_ns) {
		s->timer_dcr = val;
		return;
	}
	/* Keep the count where it is and go on at the new rate. */
	now = env_now(l);
	cur = timer_current(s, now);
	s->timer_dcr = val;
	s->timer_start_ns =
		now - (uint64_t)(s->timer_initial - cur) * timer_tick_ns(s);
	timer_set_deadline(s, s->timer_start_ns + timer_period_ns(s), a);
}

/* --- registers ----------------------------------------------------------- */

static void
reset_locked(struct lapic *l, struct act *a)
{
	struct lapic_state *s = &l->s;

	s->tpr = 0;
	s->ldr = 0;
	s->dfr = 0xffffffff;
	s->svr = 0xff;
	memset(s->isr, 0, sizeof(s->isr));
	memset(s->tmr, 0, sizeof(s->tmr));
	memset(s->irr, 0, sizeof(s->irr));
	s->esr = s->esr_pending = 0;
	s->esr_fired = false;
	s->icr_lo = s->icr_hi = 0;
	for (int i = 0; i < LAPIC_LVT_NR; i++)
		s->lvt[i] = LVT_MASKED;
	if (l->bsp)
		s->lvt[LAPIC_LVT_LINT0] = APIC_DM_EXTINT << 8;
	s->timer_dcr = 0;
	timer_disarm(s, a);
	s->timer_start_ns = 0;
	s->extint = 0;
	a->publish = true;
}

static void
send_icr(struct lapic *l, uint32_t lo, uint32_t dest, struct act *a)
{
	struct lapic_state *s = &l->s;
	struct apic_msg *m = &a->msg;
	unsigned dm = (lo >> 8) & 7;

	memset(m, 0, sizeof(*m));
	m->vector = lo & 0xff;
	m->dest_logical = (lo >> 11) & 1;
	m->assert = (lo >> 14) & 1;
	m->level_trig = (lo >> 15) & 1;
	m->shorthand = (lo >> 18) & 3;
	m->dest_x2apic = x2apic_mode(s);
	m->dest = dest;
	m->src = s->id;
	if (dm == APIC_DM_INIT && m->level_trig && !m->assert)
		dm = APIC_DM_INIT_DEASSERT;
	m->delivery = (uint8_t)dm;
	if ((dm == APIC_DM_FIXED || dm == APIC_DM_LOWEST) && m->vector < 16) {
		/* SDM 10.5.3: a self IPI is also one received ("an
		 * interrupt generated ... via a self IPI"). */
		raise_error(l,
			    APIC_ESR_SEND_ILLEGAL_VECTOR |
				    (m->shorthand == APIC_SH_SELF
					     ? APIC_ESR_RECV_ILLEGAL_VECTOR
					     : 0),
			    a);
		return;
	}
	a->send = true;
}

enum { REG_OK = 0, REG_NONE = -1, REG_GP = -2 };

/* Reads register off (16-byte aligned).  REG_NONE: not there. */
static int
reg_read(struct lapic *l, uint32_t off, bool x2, uint64_t *val)
{
	struct lapic_state *s = &l->s;
	unsigned n = (off >> 4) & 7;

	switch (off) {
	case REG_ID:
		*val = x2 ? s->id : (s->id & 0xff) << 24;
		return REG_OK;
	case REG_VERSION:
		*val = LAPIC_VERSION;
		return REG_OK;
	case REG_TPR:
		*val = s->tpr;
		return REG_OK;
	case REG_APR:
		if (x2)
			return REG_NONE;
		*val = apr_of(s);
		return REG_OK;
	case REG_PPR:
		*val = ppr_of(s);
		return REG_OK;
	case REG_EOI:
	case REG_RRD:
		if (x2)
			return REG_NONE; /* write-only / absent: #GP */
		*val = 0;
		return REG_OK;
	case REG_LDR:
		*val = x2 ? x2apic_ldr(s->id) : s->ldr;
		return REG_OK;
	case REG_DFR:
		if (x2)
			return REG_NONE;
		*val = s->dfr;
		return REG_OK;
	case REG_SVR:
		*val = s->svr;
		return REG_OK;
	case REG_ESR:
		*val = s->esr;
		return REG_OK;
	case REG_ICR_LO:
		*val = s->icr_lo;
		if (x2)
			*val |= (uint64_t)s->icr_hi << 32;
		return REG_OK;
	case REG_ICR_HI:
		if (x2)
			return REG_NONE;
		*val = s->icr_hi;
		return REG_OK;
	case REG_TMICT:
		*val = s->timer_initial;
		return REG_OK;
	case REG_TMCCT:
		*val = timer_current(s, env_now(l));
		return REG_OK;
	case REG_TDCR:
		*val = s->timer_dcr;
		return REG_OK;
	}
	if (off >= REG_ISR && off < REG_ISR + 0x80) {
		*val = s->isr[n];
		return REG_OK;
	}
	if (off >= REG_TMR && off < REG_TMR + 0x80) {
		*val = s->tmr[n];
		return REG_OK;
	}
	if (off >= REG_IRR && off < REG_IRR + 0x80) {
		*val = s->irr[n];
		return REG_OK;
	}
	if (off >= REG_LVT && off < REG_LVT + 0x10 * LAPIC_LVT_NR) {
		*val = s->lvt[(off - REG_LVT) >> 4];
		return REG_OK;
	}
	return REG_NONE;
}

/*
 * Writes register off.  REG_NONE: not there (xAPIC: illegal register
 * address; x2APIC: #GP).  REG_GP: read-only or reserved bits set (x2APIC
 * #GP; the xAPIC page ignores the write).  In xAPIC mode reserved bits
 * are dropped silently.
 */
static int
reg_write(struct lapic *l, uint32_t off, bool x2, uint64_t val64, struct act *a)
{
	struct lapic_state *s = &l->s;
	uint32_t val = (uint32_t)val64;
	int v;

	if (x2 && off != REG_ICR_LO && (val64 >> 32))
		return REG_GP;
	switch (off) {
	case REG_ID:
	case REG_VERSION:
	case REG_PPR:
	case REG_TMCCT:
		return REG_GP; /* read-only; xAPIC ID writes are ignored */
	case REG_APR:
	case REG_RRD:
	case REG_DFR:
	case REG_ICR_HI:
		if (x2)
			return REG_NONE;
		if (off == REG_DFR) {
			s->dfr = val | 0x0fffffff;
			a->publish = true;
		} else if (off == REG_ICR_HI) {
			s->icr_hi = val & 0xff000000;
		} else {
			return REG_GP;
		}
		return REG_OK;
	case REG_TPR:
		if (x2 && (val & ~0xffu))
			return REG_GP;
		s->tpr = val & 0xff;
		return REG_OK;
	case REG_EOI:
		if (x2 && val)
			return REG_GP;
		v = vec_highest(s->isr);
		if (v >= 0) {
			vec_clear(s->isr, (unsigned)v);
			if (vec_test(s->tmr, (unsigned)v))
				a->eoi = v;
		}
		return REG_OK;
	case REG_LDR:
		if (x2)
			return REG_GP;
		s->ldr = val & 0xff000000;
		a->publish = true;
		return REG_OK;
	case REG_SVR:
		if (x2 && (val & ~SVR_WRITABLE))
			return REG_GP;
		s->svr = val & SVR_WRITABLE;
		if (!sw_enabled(s))
			for (int i = 0; i < LAPIC_LVT_NR; i++)
				s->lvt[i] |= LVT_MASKED;
		a->publish = true;
		return REG_OK;
	case REG_ESR:
		if (x2 && val)
			return REG_GP;
		s->esr = s->esr_pending;
		s->esr_pending = 0;
		s->esr_fired = false;
		return REG_OK;
	case REG_ICR_LO:
		if (x2 && (val & ~ICR_WRITABLE))
			return REG_GP;
		s->icr_lo = val & ICR_WRITABLE;
		if (x2)
			s->icr_hi = (uint32_t)(val64 >> 32);
		send_icr(l, s->icr_lo, x2 ? s->icr_hi : s->icr_hi >> 24, a);
		return REG_OK;
	case REG_TMICT:
		if (timer_mode(s) == TIMER_TSC_DEADLINE)
			return REG_OK; /* SDM: ignored */
		s->timer_initial = val;
		timer_start(s, env_now(l), a);
		return REG_OK;
	case REG_TDCR:
		if (x2 && (val & ~0xbu))
			return REG_GP;
		tdcr_write(l, val & 0xb, a);
		return REG_OK;
	case REG_SELF_IPI:
		if (!x2)
			return REG_NONE;
		if (val & ~0xffu)
			return REG_GP;
		send_icr(l, val | APIC_SH_SELF << 18 | 1u << 14, 0, a);
		return REG_OK;
	}
	if (off >= REG_LVT && off < REG_LVT + 0x10 * LAPIC_LVT_NR) {
		unsigned i = (off - REG_LVT) >> 4;

		if (x2 && (val & ~lvt_writable[i]))
			return REG_GP;
		/* Delivery status and remote IRR are read-only, always 0. */
		val &= lvt_writable[i] & ~(1u << 12 | 1u << 14);
		if (!sw_enabled(s))
			val |= LVT_MASKED;
		if (i == LAPIC_LVT_TIMER)
			lvt_timer_write(l, val, a);
		else
			s->lvt[i] = val;
		return REG_OK;
	}
	if (off >= REG_ISR && off < REG_IRR + 0x80)
		return REG_GP; /* ISR, TMR, IRR: read-only */
	return REG_NONE;
}

/* --- entry points -------------------------------------------------------- */

int
lapic_init(struct lapic *l, uint32_t id, bool bsp, const struct lapic_env *env)
{
	struct act a = { .eoi = -1 };
	int r;

	memset(l, 0, sizeof(*l));
	r = pthread_mutex_init(&l->lock, NULL);
	if (r) {
		errno = r;
		return -1;
	}
	l->env = *env;
	l->bsp = bsp;
	l->s.id = id;
	l->s.apic_base = LAPIC_DEFAULT_BASE | APIC_BASE_EN;
	if (bsp)
		l->s.apic_base |= APIC_BASE_BSP;
	reset_locked(l, &a);
	/* Nothing to tell anyone yet: apicbus_attach() reads the state. */
	return 0;
}

void
lapic_release(struct lapic *l)
{
	pthread_mutex_destroy(&l->lock);
}

void
lapic_reset(struct lapic *l)
{
	struct act a = { .eoi = -1 };

	pthread_mutex_lock(&l->lock);
	reset_locked(l, &a);
	unlock_act(l, &a);
}

int
lapic_mmio_read(struct lapic *l, uint32_t offset, void *data, unsigned len)
{
	struct act a = { .eoi = -1 };
	uint64_t val = 0;
	uint32_t v32;

	pthread_mutex_lock(&l->lock);
	if (!hw_enabled(&l->s) || x2apic_mode(&l->s)) {
		pthread_mutex_unlock(&l->lock);
		memset(data, 0xff, len);
		return 1;
	}
	memset(data, 0, len);
	if (len == 4 && !(offset & 0xf) && offset < 0x1000) {
		if (reg_read(l, offset, false, &val) == REG_NONE) {
			raise_error(l, APIC_ESR_ILLEGAL_REGISTER, &a);
			val = 0;
		}
		v32 = (uint32_t)val;
		memcpy(data, &v32, 4);
	}
	unlock_act(l, &a);
	return 0;
}

int
lapic_mmio_write(struct lapic *l, uint32_t offset, const void *data,
		 unsigned len)
{
	struct act a = { .eoi = -1 };
	uint32_t v32;

	pthread_mutex_lock(&l->lock);
	if (!hw_enabled(&l->s) || x2apic_mode(&l->s)) {
		pthread_mutex_unlock(&l->lock);
		return 1; /* dropped */
	}
	if (len == 4 && !(offset & 0xf) && offset < 0x1000) {
		memcpy(&v32, data, 4);
		if (reg_write(l, offset, false, v32, &a) == REG_NONE)
			raise_error(l, APIC_ESR_ILLEGAL_REGISTER, &a);
	}
	unlock_act(l, &a);
	return 0;
}

uint64_t
lapic_mmio_base(struct lapic *l)
{
	uint64_t b;

	pthread_mutex_lock(&l->lock);
	b = l->s.apic_base & APIC_BASE_ADDR_MASK;
	pthread_mutex_unlock(&l->lock);
	return b;
}

bool
lapic_msr_owns(uint32_t msr)
{
	return msr == MSR_IA32_APIC_BASE || msr == MSR_IA32_TSC_DEADLINE ||
	       (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST);
}

/* IA32_APIC_BASE write: SDM "x2APIC State Transitions". */
static int
apic_base_write(struct lapic *l, uint64_t val, struct act *a)
{
	struct lapic_state *s = &l->s;
	const uint64_t ok = apic_base_ok(l->env.maxphyaddr);
	bool was_en = hw_enabled(s), was_x2 = x2apic_mode(s);
	bool en = val & APIC_BASE_EN, x2 = val & APIC_BASE_EXTD;

	if (val & ~ok)
		return -1;
	if (x2 && !en)
		return -1; /* invalid state */
	if (was_x2 && en && !x2)
		return -1; /* x2APIC -> xAPIC only through disabled */
	if (!was_en && x2)
		return -1; /* disabled -> x2APIC only through xAPIC */
	s->apic_base = (val & ~APIC_BASE_BSP) | (l->bsp ? APIC_BASE_BSP : 0);
	if (was_en && !en) {
		/* Disabling loses the state (SDM: as after power-up). */
		reset_locked(l, a);
		for (int i = 0; i < LAPIC_LVT_NR; i++)
			s->lvt[i] = LVT_MASKED;
	}
	if (was_en != en || was_x2 != x2)
		a->publish = true;
	return 0;
}

int
lapic_msr_read(struct lapic *l, uint32_t msr, uint64_t *val)
{
	struct lapic_state *s = &l->s;
	int r = 0;

	*val = 0;
	pthread_mutex_lock(&l->lock);
	if (msr == MSR_IA32_APIC_BASE) {
		*val = s->apic_base;
	} else if (msr == MSR_IA32_TSC_DEADLINE) {
		*val = timer_mode(s) == TIMER_TSC_DEADLINE ? s->tsc_deadline
							   : 0;
	} else if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST ||
		   !x2apic_mode(s) || msr == MSR_X2APIC_FIRST + 0x3f) {
		r = -1; /* not ours, not in x2APIC mode, SELF IPI is WO */
	} else if (reg_read(l, (msr - MSR_X2APIC_FIRST) << 4, true, val) !=
		   REG_OK) {
		*val = 0;
		r = -1;
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

int
lapic_msr_write(struct lapic *l, uint32_t msr, uint64_t val)
{
	struct act a = { .eoi = -1 };
	int r = 0;

	pthread_mutex_lock(&l->lock);
	if (msr == MSR_IA32_APIC_BASE)
		r = apic_base_write(l, val, &a);
	else if (msr == MSR_IA32_TSC_DEADLINE)
		tsc_deadline_write(l, val, &a);
	else if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST ||
		 !x2apic_mode(&l->s))
		r = -1;
	else if (reg_write(l, (msr - MSR_X2APIC_FIRST) << 4, true, val, &a) !=
		 REG_OK)
		r = -1;
	unlock_act(l, &a);
	return r;
}

void
lapic_accept(struct lapic *l, const struct apic_msg *msg)
{
	struct act a = { .eoi = -1 };

	pthread_mutex_lock(&l->lock);
	accept_locked(l, msg, &a);
	unlock_act(l, &a);
}

void
lapic_set_lint(struct lapic *l, int pin, int level)
{
	struct lapic_state *s = &l->s;
	struct act a = { .eoi = -1 };
	bool rising;
	unsigned dm;
	uint32_t lvt;

	if (pin < 0 || pin > 1)
		return;
	pthread_mutex_lock(&l->lock);
	rising = level && !s->lint[pin];
	s->lint[pin] = level != 0;
	if (!hw_enabled(s)) {
		/* No APIC: LINT0 is INTR, LINT1 is NMI. */
		if (pin == 0 && level)
			a.kick = true;
		else if (pin == 1 && rising) {
			nmi_add(s);
			a.kick = true;
		}
		unlock_act(l, &a);
		return;
	}
	lvt = s->lvt[LAPIC_LVT_LINT0 + pin];
	dm = (lvt >> 8) & 7;
	if (!(lvt & LVT_MASKED)) {
		if (dm == APIC_DM_EXTINT) {
			if (level)
				a.kick = true;
		} else if (rising) {
			local_deliver(l, LAPIC_LVT_LINT0 + pin, &a);
		}
	}
	unlock_act(l, &a);
}

int
lapic_next_irq(struct lapic *l)
{
	int v;

	pthread_mutex_lock(&l->lock);
	v = next_irq_locked(&l->s);
	pthread_mutex_unlock(&l->lock);
	return v;
}

void
lapic_ack_irq(struct lapic *l, int vector)
{
	struct lapic_state *s = &l->s;

	pthread_mutex_lock(&l->lock);
	if (vector == LAPIC_IRQ_EXTINT) {
		s->extint = 0;
	} else if (vector >= 0 && vector < 256 &&
		   vec_test(s->irr, (unsigned)vector)) {
		vec_clear(s->irr, (unsigned)vector);
		vec_set(s->isr, (unsigned)vector);
	}
	pthread_mutex_unlock(&l->lock);
}

bool
lapic_take_events(struct lapic *l, struct lapic_events *ev)
{
	struct lapic_state *s = &l->s;
	bool any;

	pthread_mutex_lock(&l->lock);
	ev->smi = s->smi;
	ev->init = s->init;
	ev->sipi = s->sipi;
	ev->sipi_vector = s->sipi_vector;
	s->smi = s->init = s->sipi = 0;
	pthread_mutex_unlock(&l->lock);
	any = ev->smi || ev->init || ev->sipi;
	return any;
}

unsigned
lapic_nmi_pending(struct lapic *l)
{
	unsigned n;

	pthread_mutex_lock(&l->lock);
	n = l->s.nmi;
	pthread_mutex_unlock(&l->lock);
	return n;
}

unsigned
lapic_take_nmis(struct lapic *l, unsigned room)
{
	unsigned n;

	pthread_mutex_lock(&l->lock);
	n = l->s.nmi < room ? l->s.nmi : room;
	l->s.nmi = 0;
	pthread_mutex_unlock(&l->lock);
	return n;
}

unsigned
lapic_nmi_room(bool masked, bool injected, unsigned kvm_pending)
{
	unsigned limit = masked || injected ? 1 : LAPIC_NMI_MAX;

	return kvm_pending >= limit ? 0 : limit - kvm_pending;
}

unsigned
lapic_cr8(struct lapic *l)
{
	unsigned c;

	pthread_mutex_lock(&l->lock);
	c = (l->s.tpr >> 4) & 0xf;
	pthread_mutex_unlock(&l->lock);
	return c;
}

void
lapic_set_cr8(struct lapic *l, uint64_t cr8)
{
	pthread_mutex_lock(&l->lock);
	l->s.tpr = (uint32_t)(cr8 & 0xf) << 4;
	pthread_mutex_unlock(&l->lock);
}

uint64_t
lapic_apic_base(struct lapic *l)
{
	uint64_t b;

	pthread_mutex_lock(&l->lock);
	b = l->s.apic_base;
	pthread_mutex_unlock(&l->lock);
	return b;
}

bool
lapic_has_work(struct lapic *l)
{
	struct lapic_state *s = &l->s;
	bool w;

	pthread_mutex_lock(&l->lock);
	w = s->nmi || s->smi || s->init || s->sipi || next_irq_locked(s) >= 0;
	pthread_mutex_unlock(&l->lock);
	return w;
}

uint64_t
lapic_timer_deadline(struct lapic *l)
{
	uint64_t d;

	pthread_mutex_lock(&l->lock);
	d = l->s.timer_deadline_ns;
	pthread_mutex_unlock(&l->lock);
	return d;
}

void
lapic_timer_expire(struct lapic *l, uint64_t now_ns)
{
	struct lapic_state *s = &l->s;
	struct act a = { .eoi = -1 };
	uint64_t p, n;

	pthread_mutex_lock(&l->lock);
	if (s->timer_deadline_ns == 0 || now_ns < s->timer_deadline_ns) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	switch (timer_mode(s)) {
	case TIMER_PERIODIC:
		p = timer_period_ns(s);
		n = (now_ns - s->timer_start_ns) / p;
		s->timer_start_ns += n * p;
		timer_set_deadline(s, s->timer_start_ns + p, &a);
		break;
	case TIMER_TSC_DEADLINE:
		s->tsc_deadline = 0;
		timer_set_deadline(s, 0, &a);
		break;
	default:
		timer_set_deadline(s, 0, &a);
		break;
	}
	local_deliver(l, LAPIC_LVT_TIMER, &a);
	unlock_act(l, &a);
}

unsigned
lapic_arb_priority(struct lapic *l)
{
	unsigned p;

	pthread_mutex_lock(&l->lock);
	if (!hw_enabled(&l->s) || !sw_enabled(&l->s))
		p = 0x100;
	else
		p = apr_of(&l->s);
	pthread_mutex_unlock(&l->lock);
	return p;
}

void
lapic_get_addr(struct lapic *l, struct apic_addr *addr)
{
	pthread_mutex_lock(&l->lock);
	addr_of(&l->s, addr);
	pthread_mutex_unlock(&l->lock);
}

bool
lapic_is_x2apic(struct lapic *l)
{
	bool x2;

	pthread_mutex_lock(&l->lock);
	x2 = x2apic_mode(&l->s);
	pthread_mutex_unlock(&l->lock);
	return x2;
}

uint32_t
lapic_ppr(struct lapic *l)
{
	uint32_t p;

	pthread_mutex_lock(&l->lock);
	p = ppr_of(&l->s);
	pthread_mutex_unlock(&l->lock);
	return p;
}

/* --- save / restore ------------------------------------------------------ */

ssize_t
lapic_save(struct lapic *l, void *buf, size_t cap)
{
	const struct lapic_state *s = &l->s;
	uint8_t *p = ds_begin(buf, cap, LAPIC_STATE_VERSION,
			      LAPIC_STATE_SIZE - DEVSTATE_HDR_SIZE);
	uint64_t now, left = 0;
	int i;

	if (!p)
		return -1;
	pthread_mutex_lock(&l->lock);
	now = env_now(l);
	if (s->timer_deadline_ns > now)
		left = s->timer_deadline_ns - now;
	ds_put64(&p, s->apic_base);
	ds_put32(&p, s->id);
	ds_put32(&p, s->tpr);
	ds_put32(&p, s->ldr);
	ds_put32(&p, s->dfr);
	ds_put32(&p, s->svr);
	for (i = 0; i < 8; i++)
		ds_put32(&p, s->isr[i]);
	for (i = 0; i < 8; i++)
		ds_put32(&p, s->tmr[i]);
	for (i = 0; i < 8; i++)
		ds_put32(&p, s->irr[i]);
	ds_put32(&p, s->esr);
	ds_put32(&p, s->esr_pending);
	ds_put32(&p, s->icr_lo);
	ds_put32(&p, s->icr_hi);
	for (i = 0; i < LAPIC_LVT_NR; i++)
		ds_put32(&p, s->lvt[i]);
	ds_put32(&p, s->timer_initial);
	ds_put32(&p, s->timer_dcr);
	ds_put64(&p, left);
	ds_put64(&p, s->tsc_deadline);
	ds_put8(&p, s->timer_deadline_ns != 0);
	ds_put8(&p, s->lint[0]);
	ds_put8(&p, s->lint[1]);
	ds_put8(&p, s->extint);
	ds_put8(&p, s->nmi);
	ds_put8(&p, s->smi);
	ds_put8(&p, s->init);
	ds_put8(&p, s->sipi);
	ds_put8(&p, s->sipi_vector);
	ds_put8(&p, s->esr_fired);
	for (i = 0; i < 2; i++)
		ds_put8(&p, 0);
	pthread_mutex_unlock(&l->lock);
	_Static_assert(LAPIC_STATE_SIZE - DEVSTATE_HDR_SIZE ==
			       8 + 4 * 5 + 4 * 24 + 4 * 4 + 4 * LAPIC_LVT_NR +
				       4 * 2 + 8 + 8 + 12,
		       "lapic state layout");
	return LAPIC_STATE_SIZE;
}

#define BAD(...) ds_fail(why, whylen, EINVAL, "lapic state: " __VA_ARGS__)

/* Checks s (read from bytes, the timer as armed/left) for lapic l. */
static int
state_check(const struct lapic *l, const struct lapic_state *s, bool armed,
	    uint64_t left, const uint8_t *flags, char *why, size_t whylen)
{
	const uint64_t base_ok = apic_base_ok(l->env.maxphyaddr);
	const uint32_t esr_ok = APIC_ESR_SEND_ILLEGAL_VECTOR |
				APIC_ESR_RECV_ILLEGAL_VECTOR |
				APIC_ESR_ILLEGAL_REGISTER;
	int i;

	if (s->apic_base & ~base_ok)
		return BAD("IA32_APIC_BASE 0x%llx has reserved bits set",
			   (unsigned long long)s->apic_base);
	if ((s->apic_base & APIC_BASE_EXTD) && !(s->apic_base & APIC_BASE_EN))
		return BAD("IA32_APIC_BASE 0x%llx: x2APIC mode while disabled",
			   (unsigned long long)s->apic_base);
	if (!(s->apic_base & APIC_BASE_BSP) != !l->bsp)
		return BAD("BSP flag %d, this lapic's is %d",
			   !!(s->apic_base & APIC_BASE_BSP), l->bsp);
	if (s->id != l->s.id)
		return BAD("APIC id %u, this lapic's is %u", s->id, l->s.id);
	if (s->tpr > 0xff)
		return BAD("TPR 0x%x out of range 0..0xff", s->tpr);
	if (s->ldr & 0x00ffffff)
		return BAD("LDR 0x%08x has reserved bits set", s->ldr);
	if ((s->dfr & 0x0fffffff) != 0x0fffffff)
		return BAD("DFR 0x%08x: bits 27:0 must be ones", s->dfr);
	if (s->svr & ~SVR_WRITABLE)
		return BAD("SVR 0x%x has reserved bits set", s->svr);
	if ((s->isr[0] | s->tmr[0] | s->irr[0]) & 0xffff)
		return BAD("ISR, TMR or IRR holds an illegal vector 0..15");
	if ((s->esr | s->esr_pending) & ~esr_ok)
		return BAD("ESR 0x%x or 0x%x has reserved bits set", s->esr,
			   s->esr_pending);
	if (s->icr_lo & ~ICR_WRITABLE)
		return BAD("ICR low 0x%08x has reserved bits set", s->icr_lo);
	for (i = 0; i < LAPIC_LVT_NR; i++)
		if (s->lvt[i] & ~(lvt_writable[i] & ~(1u << 12 | 1u << 14)))
			return BAD("LVT %d entry 0x%08x has reserved or "
				   "read-only bits set",
				   i, s->lvt[i]);
	if (s->timer_dcr & ~0xbu)
		return BAD("timer divide configuration 0x%x has reserved bits "
			   "set",
			   s->timer_dcr);
	for (i = 0; i < 8; i++)
		if (flags[i] > 1 && i != 4)
			return BAD("flag byte %d is %u, not 0 or 1", i,
				   flags[i]);
	if (flags[4] > LAPIC_NMI_MAX)
		return BAD("%u NMIs pending, at most %u", flags[4],
			   LAPIC_NMI_MAX);
	if (!armed && left)
		return BAD("timer not armed but %llu ns left",
			   (unsigned long long)left);
	if (timer_mode(s) == TIMER_TSC_DEADLINE) {
		if (armed != (s->tsc_deadline != 0))
			return BAD("TSC deadline 0x%llx but timer %sarmed",
				   (unsigned long long)s->tsc_deadline,
				   armed ? "" : "not ");
	} else {
		if (s->tsc_deadline)
			return BAD("TSC deadline 0x%llx outside TSC-deadline "
				   "mode",
				   (unsigned long long)s->tsc_deadline);
		if (armed && !s->timer_initial)
			return BAD("timer armed with initial count 0");
		if (armed && left > timer_period_ns(s))
			return BAD("timer %llu ns left of a %llu ns period",
				   (unsigned long long)left,
				   (unsigned long long)timer_period_ns(s));
	}
	return 0;
}

#undef BAD

int
lapic_restore(struct lapic *l, const void *buf, size_t len, char *why,
	      size_t whylen)
{
	const uint8_t *p =
		ds_open(buf, len, "lapic", LAPIC_STATE_VERSION,
			LAPIC_STATE_SIZE - DEVSTATE_HDR_SIZE, why, whylen);
	struct act a = { .eoi = -1 };
	struct lapic_state s;
	uint8_t flags[12];
	uint64_t left, now;
	bool armed;
	int i;

	if (!p)
		return -1;
	memset(&s, 0, sizeof(s));
	s.apic_base = ds_get64(&p);
	s.id = ds_get32(&p);
	s.tpr = ds_get32(&p);
	s.ldr = ds_get32(&p);
	s.dfr = ds_get32(&p);
	s.svr = ds_get32(&p);
	for (i = 0; i < 8; i++)
		s.isr[i] = ds_get32(&p);
	for (i = 0; i < 8; i++)
		s.tmr[i] = ds_get32(&p);
	for (i = 0; i < 8; i++)
		s.irr[i] = ds_get32(&p);
	s.esr = ds_get32(&p);
	s.esr_pending = ds_get32(&p);
	s.icr_lo = ds_get32(&p);
	s.icr_hi = ds_get32(&p);
	for (i = 0; i < LAPIC_LVT_NR; i++)
		s.lvt[i] = ds_get32(&p);
	s.timer_initial = ds_get32(&p);
	s.timer_dcr = ds_get32(&p);
	left = ds_get64(&p);
	s.tsc_deadline = ds_get64(&p);
	for (i = 0; i < 12; i++)
		flags[i] = ds_get8(&p);
	armed = flags[0];
	s.lint[0] = flags[1];
	s.lint[1] = flags[2];
	s.extint = flags[3];
	s.nmi = flags[4];
	s.smi = flags[5];
	s.init = flags[6];
	s.sipi = flags[7];
	s.sipi_vector = flags[8];
	s.esr_fired = flags[9] == 1;
	if (flags[9] > 1)
		return ds_fail(why, whylen, EINVAL,
			       "lapic state: error interrupt flag %u, not 0 "
			       "or 1",
			       flags[9]);
	if (flags[10] | flags[11])
		return ds_fail(why, whylen, EINVAL,
			       "lapic state: reserved bytes 202..203 not zero");

	pthread_mutex_lock(&l->lock);
	if (state_check(l, &s, armed, left, flags, why, whylen) < 0) {
		pthread_mutex_unlock(&l->lock);
		return -1;
	}
	now = env_now(l);
	if (left > UINT64_MAX - now - 1) {
		pthread_mutex_unlock(&l->lock);
		return ds_fail(why, whylen, EINVAL,
			       "lapic state: timer %llu ns left runs past "
			       "this host's clock",
			       (unsigned long long)left);
	}
	if (armed) {
		/* Deadline 0 means "not armed": a due timer at time 0
		 * fires at 1 ns instead. */
		s.timer_deadline_ns = now + left ? now + left : 1;
		if (timer_mode(&s) != TIMER_TSC_DEADLINE)
			s.timer_start_ns =
				s.timer_deadline_ns - timer_period_ns(&s);
	}
	l->s = s;
	a.publish = a.timer_changed = a.kick = true;
	unlock_act(l, &a);
	return 0;
}
