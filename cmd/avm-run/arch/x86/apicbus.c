/*
 * The APIC bus; see apicbus.h.  Destination matching follows the SDM
 * ("Determining IPI Destination", "Logical Destination Mode", x2APIC
 * "Logical Destination Mode in x2APIC Mode").  Where sender and target
 * disagree on the mode (an 8-bit IOAPIC destination to an APIC in x2APIC
 * mode) the target's mode decides how the field is read, and 0xff stays
 * a broadcast, as KVM does.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "apicbus.h"
#include "lapic.h"

static uint64_t
addr_pack(const struct apic_addr *a)
{
	uint64_t v;

	memcpy(&v, a, sizeof(v));
	return v;
}

static void
addr_load(struct apicbus *bus, uint32_t i, struct apic_addr *a)
{
	uint64_t v =
		atomic_load_explicit(&bus->slot[i].addr, memory_order_acquire);

	memcpy(a, &v, sizeof(*a));
}

int
apicbus_init(struct apicbus *bus, uint32_t nr, const struct apicbus_ops *ops,
	     void *opaque)
{
	struct apic_addr a;

	memset(bus, 0, sizeof(*bus));
	if (nr == 0 || nr > (1u << 20)) {
		errno = EINVAL;
		return -1;
	}
	bus->slot = calloc(nr, sizeof(*bus->slot));
	if (!bus->slot)
		return -1;
	bus->nr = nr;
	if (ops)
		bus->ops = *ops;
	bus->opaque = opaque;
	for (uint32_t i = 0; i < nr; i++) {
		memset(&a, 0, sizeof(a));
		a.id = i;
		a.model = APIC_DFR_FLAT;
		a.flags = APIC_ADDR_ENABLED | APIC_ADDR_SW_ON;
		atomic_init(&bus->slot[i].addr, addr_pack(&a));
	}
	return 0;
}

void
apicbus_release(struct apicbus *bus)
{
	free(bus->slot);
	bus->slot = NULL;
	bus->nr = 0;
}

int
apicbus_attach(struct apicbus *bus, uint32_t id, struct lapic *l)
{
	struct apic_addr a;

	if (id >= bus->nr || !l) {
		errno = EINVAL;
		return -1;
	}
	bus->slot[id].local = l;
	lapic_get_addr(l, &a);
	a.id = id;
	atomic_store_explicit(&bus->slot[id].addr, addr_pack(&a),
			      memory_order_release);
	return 0;
}

void
apicbus_set_addr(struct apicbus *bus, const struct apic_addr *addr)
{
	if (addr->id >= bus->nr)
		return;
	atomic_store_explicit(&bus->slot[addr->id].addr, addr_pack(addr),
			      memory_order_release);
	if (bus->slot[addr->id].local && bus->ops.publish)
		bus->ops.publish(bus->opaque, addr);
}

void
apicbus_get_addr(struct apicbus *bus, uint32_t id, struct apic_addr *addr)
{
	if (id >= bus->nr) {
		memset(addr, 0, sizeof(*addr));
		return;
	}
	addr_load(bus, id, addr);
}

/*
 * The destination as the target reads it.  Returns false when it cannot
 * name the target at all (a 32-bit id beyond 8 bits to an xAPIC).
 */
static bool
dest_for(const struct apic_msg *m, bool target_x2, uint32_t *d)
{
	if (m->dest_x2apic) {
		if (target_x2)
			*d = m->dest;
		else if (m->dest == APIC_BCAST_X2APIC)
			*d = APIC_BCAST_XAPIC;
		else if (m->dest > 0xff)
			return false;
		else
			*d = m->dest;
		return true;
	}
	*d = m->dest & 0xff;
	if (target_x2 && *d == APIC_BCAST_XAPIC)
		*d = APIC_BCAST_X2APIC;
	return true;
}

bool
apic_addr_match(const struct apic_addr *a, const struct apic_msg *m)
{
	bool x2 = a->flags & APIC_ADDR_X2APIC;
	uint32_t d;

	if (!(a->flags & APIC_ADDR_ENABLED) || !dest_for(m, x2, &d))
		return false;
	if (!m->dest_logical) {
		if (x2)
			return d == APIC_BCAST_X2APIC || d == a->id;
		return d == APIC_BCAST_XAPIC || d == a->id;
	}
	if (x2) {
		/* Cluster in [31:16], one bit per member in [15:0]. */
		if (d == APIC_BCAST_X2APIC)
			return true;
		return (d >> 16) == (a->id >> 4) &&
		       (d & 0xffff & (1u << (a->id & 0xf)));
	}
	if (d == APIC_BCAST_XAPIC)
		return true;
	if (a->model == APIC_DFR_CLUSTER)
		return ((d >> 4) == (a->ldr >> 4) || (d >> 4) == 0xf) &&
		       (d & a->ldr & 0xf);
	return (d & a->ldr) != 0;
}

/* Where apicbus_send_counted counts; either may be NULL. */
struct tally {
	uint64_t *local, *remote;
};

static void
tally_add(uint64_t *c)
{
	if (c)
		__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* Hands msg to APIC i.  Returns 1 delivered, 0 dropped, -1 forward
 * failed (errno). */
static int
deliver_one(struct apicbus *bus, uint32_t i, const struct apic_msg *m,
	    const struct tally *t)
{
	struct lapic *l = bus->slot[i].local;

	if (l) {
		lapic_accept(l, m);
		atomic_fetch_add(&bus->nr_local, 1);
		tally_add(t->local);
		return 1;
	}
	if (!bus->ops.forward) {
		atomic_fetch_add(&bus->nr_dropped, 1);
		return 0;
	}
	if (bus->ops.forward(bus->opaque, i, m) < 0) {
		atomic_fetch_add(&bus->nr_dropped, 1);
		return -1;
	}
	atomic_fetch_add(&bus->nr_forwarded, 1);
	tally_add(t->remote);
	return 1;
}

static bool
targets(struct apicbus *bus, uint32_t i, const struct apic_msg *m,
	struct apic_addr *a)
{
	addr_load(bus, i, a);
	switch (m->shorthand) {
	case APIC_SH_SELF:
		return i == m->src;
	case APIC_SH_ALL:
		return a->flags & APIC_ADDR_ENABLED;
	case APIC_SH_ALL_BUT_SELF:
		return i != m->src && (a->flags & APIC_ADDR_ENABLED);
	default:
		return apic_addr_match(a, m);
	}
}

/*
 * Lowest priority: the local match with the lowest arbitration priority,
 * scanning from the round-robin point so ties rotate; remote APICs only
 * when no local one can take it (their priority is not known here, and
 * a local delivery costs no network trip).
 */
static int
send_lowest(struct apicbus *bus, const struct apic_msg *m,
	    const struct tally *t)
{
	uint32_t start = atomic_load(&bus->rr) % bus->nr;
	int64_t best = -1, remote = -1;
	unsigned best_apr = 0x100, apr;
	struct apic_addr a;
	int r;

	for (uint32_t k = 0; k < bus->nr; k++) {
		uint32_t i = (start + k) % bus->nr;

		if (!targets(bus, i, m, &a))
			continue;
		if (bus->slot[i].local) {
			apr = lapic_arb_priority(bus->slot[i].local);
			if (apr < best_apr) {
				best_apr = apr;
				best = i;
			}
		} else if (remote < 0 && (a.flags & APIC_ADDR_SW_ON)) {
			remote = i;
		}
	}
	if (best < 0)
		best = remote;
	if (best < 0) {
		atomic_fetch_add(&bus->nr_dropped, 1);
		return 0;
	}
	atomic_store(&bus->rr, (uint32_t)best + 1);
	r = deliver_one(bus, (uint32_t)best, m, t);
	return r;
}

int
apicbus_send(struct apicbus *bus, const struct apic_msg *m)
{
	return apicbus_send_counted(bus, m, NULL, NULL);
}

int
apicbus_send_counted(struct apicbus *bus, const struct apic_msg *m,
		     uint64_t *local, uint64_t *remote)
{
	const struct tally t = { local, remote };
	struct apic_addr a;
	int n = 0, r, err = 0;

	atomic_fetch_add(&bus->nr_sent, 1);
	if (m->delivery == APIC_DM_INIT_DEASSERT) {
		atomic_fetch_add(&bus->nr_dropped, 1);
		return 0;
	}
	if (m->delivery == APIC_DM_LOWEST)
		return send_lowest(bus, m, &t);

	/* Physical unicast: the id is the index, check that one first
	 * (not for 0xff, which some target may read as a broadcast). */
	if (m->shorthand == APIC_SH_NONE && !m->dest_logical &&
	    m->dest < bus->nr && (m->dest & 0xff) != APIC_BCAST_XAPIC) {
		addr_load(bus, m->dest, &a);
		if (a.id == m->dest && apic_addr_match(&a, m))
			return deliver_one(bus, m->dest, m, &t);
	}
	for (uint32_t i = 0; i < bus->nr; i++) {
		if (!targets(bus, i, m, &a))
			continue;
		r = deliver_one(bus, i, m, &t);
		if (r < 0)
			err = errno;
		else
			n += r;
	}
	if (n == 0 && !err)
		atomic_fetch_add(&bus->nr_dropped, 1);
	if (err) {
		errno = err;
		return -1;
	}
	return n;
}

int
apicbus_deliver(struct apicbus *bus, uint32_t apic_id,
		const struct apic_msg *msg)
{
	if (apic_id >= bus->nr) {
		errno = EINVAL;
		return -1;
	}
	if (!bus->slot[apic_id].local) {
		errno = ENXIO;
		return -1;
	}
	lapic_accept(bus->slot[apic_id].local, msg);
	atomic_fetch_add(&bus->nr_local, 1);
	return 0;
}
