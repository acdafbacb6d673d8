/*
 * The APIC bus: the one way an interrupt message travels between local
 * APICs and from the IOAPIC to them, whether the target vCPU runs on this
 * host or on another one.
 *
 * The bus knows every APIC of the VM by its global vCPU index (which is
 * its APIC id, DESIGN.md).  An APIC is local (a struct lapic here) or
 * remote (a message for the node that runs it, through ops->forward).
 * apicbus_send() resolves the destination set of a message exactly as
 * the hardware does (physical, logical flat and cluster, x2APIC logical
 * cluster, shorthands, lowest-priority arbitration) and then hands the
 * message to each target: lapic_accept() for local ones, forward() for
 * remote ones.  The receiving node calls apicbus_deliver() with what it
 * got.
 *
 * Matching needs each target's id, logical id and destination model.
 * They live in the bus (struct apic_addr, one atomic word per APIC), so
 * a sender never takes another vCPU's lock to match: a local APIC
 * publishes a change with apicbus_set_addr() (and ops->publish tells the
 * network layer), a remote node's changes arrive the same way.
 *
 * Thread safety: apicbus_send() and apicbus_deliver() may be called from
 * any thread at once.  apicbus_attach() and apicbus_init() happen before
 * any vCPU runs.  The bus holds no lock while it calls lapic_accept() or
 * forward(); forward() may be called with the IOAPIC's lock held, so it
 * must not call back into the IOAPIC.
 */
#ifndef AVM_RUN_X86_APICBUS_H
#define AVM_RUN_X86_APICBUS_H

#include <stdbool.h>
#include <stdint.h>

struct lapic;

/* Delivery modes, in their ICR / redirection-entry encoding (0..7). */
enum apic_delivery {
	APIC_DM_FIXED = 0,
	APIC_DM_LOWEST = 1,
	APIC_DM_SMI = 2,
	APIC_DM_NMI = 4,
	APIC_DM_INIT = 5,
	APIC_DM_SIPI = 6,
	APIC_DM_EXTINT = 7,
	/*
	 * Not an ICR encoding: an INIT with trigger level and level
	 * de-assert (the old arbitration-id sync).  Pentium 4 and later
	 * ignore it; the bus drops it.
	 */
	APIC_DM_INIT_DEASSERT = 8,
};

enum apic_shorthand {
	APIC_SH_NONE = 0,
	APIC_SH_SELF = 1,
	APIC_SH_ALL = 2,
	APIC_SH_ALL_BUT_SELF = 3,
};

/* Destination broadcast ids, physical and logical. */
#define APIC_BCAST_XAPIC 0xffu
#define APIC_BCAST_X2APIC 0xffffffffu

/* msg.src for messages that no local APIC sent (IOAPIC, devices). */
#define APIC_SRC_NONE 0xffffffffu

/*
 * One interrupt message as sent on the APIC bus.  Built by a lapic from
 * its ICR (or SELF IPI), by the IOAPIC from a redirection entry; a later
 * issue carries it over the fabric, hence the fixed-width fields.
 */
struct apic_msg {
	uint32_t dest;	      /* destination field: 8-bit xAPIC or 32-bit */
	uint32_t src;	      /* sender's APIC id, or APIC_SRC_NONE */
	uint8_t vector;	      /* fixed, lowest priority; SIPI page */
	uint8_t delivery;     /* enum apic_delivery */
	uint8_t dest_logical; /* 0 physical, 1 logical destination mode */
	uint8_t dest_x2apic;  /* 1: dest is the 32-bit x2APIC form */
	uint8_t shorthand;    /* enum apic_shorthand */
	uint8_t level_trig;   /* 0 edge, 1 level trigger mode */
	uint8_t assert;	      /* 1 assert, 0 de-assert (INIT only) */
	uint8_t pad;
};
_Static_assert(sizeof(struct apic_msg) == 16, "apic_msg layout");

/* DFR model, DFR[31:28] in xAPIC mode. */
#define APIC_DFR_FLAT 0xf
#define APIC_DFR_CLUSTER 0x0

/* struct apic_addr flags. */
#define APIC_ADDR_ENABLED 0x01 /* IA32_APIC_BASE global enable */
#define APIC_ADDR_X2APIC 0x02  /* x2APIC mode */
#define APIC_ADDR_SW_ON 0x04   /* SVR software enable */

/*
 * What matching needs of one APIC.  In x2APIC mode the logical id is
 * derived from the id and ldr/model are unused.
 */
struct apic_addr {
	uint32_t id;
	uint8_t ldr;   /* logical APIC id, LDR[31:24] (xAPIC) */
	uint8_t model; /* APIC_DFR_FLAT or APIC_DFR_CLUSTER (xAPIC) */
	uint8_t flags; /* APIC_ADDR_* */
	uint8_t pad;
};
_Static_assert(sizeof(struct apic_addr) == 8, "apic_addr layout");

/* Set up by the VMM; both may be NULL (a one-node VM). */
struct apicbus_ops {
	/*
	 * Sends msg, already resolved, to remote APIC apic_id.  Returns 0,
	 * or -1 with errno; the bus counts the failure and goes on.
	 */
	int (*forward)(void *opaque, uint32_t apic_id,
		       const struct apic_msg *msg);
	/* A local APIC's addressing changed: tell the other nodes. */
	void (*publish)(void *opaque, const struct apic_addr *addr);
};

struct apicbus_slot {
	struct lapic *local;   /* NULL: remote */
	_Atomic uint64_t addr; /* struct apic_addr, packed */
};

struct apicbus {
	uint32_t nr; /* APICs in the VM: ids 0..nr-1 */
	struct apicbus_slot *slot;
	struct apicbus_ops ops;
	void *opaque;
	_Atomic uint32_t rr; /* lowest-priority round-robin start */
	/* Counters for avm-top. */
	_Atomic uint64_t nr_sent, nr_local, nr_forwarded, nr_dropped;
};

/*
 * Sets up a bus for nr APICs (ids 0..nr-1), all remote until attached;
 * ops may be NULL.  A remote APIC starts as enabled xAPIC with id = index
 * and logical id 0 until apicbus_set_addr() says otherwise.
 * Returns 0, or -1 with errno (EINVAL, ENOMEM).
 */
int apicbus_init(struct apicbus *bus, uint32_t nr,
		 const struct apicbus_ops *ops, void *opaque);
void apicbus_release(struct apicbus *bus);

/*
 * Makes APIC id local: messages for it go to l.  Takes l's current
 * addressing.  Returns 0, or -1 with errno EINVAL (id out of range).
 */
int apicbus_attach(struct apicbus *bus, uint32_t id, struct lapic *l);

/*
 * Records the addressing of APIC addr->id (local or remote).  For a
 * local APIC it also calls ops->publish.  Ids out of range are ignored.
 */
void apicbus_set_addr(struct apicbus *bus, const struct apic_addr *addr);
void apicbus_get_addr(struct apicbus *bus, uint32_t id, struct apic_addr *addr);

/*
 * Sends msg.  Resolves the destination set; with lowest priority picks
 * one target: the local match with the lowest arbitration priority
 * (ties round-robin), else a remote match, round-robin.
 * Returns the number of APICs it went to (local deliveries plus forwards
 * that succeeded), or -1 with errno when a forward failed (the other
 * targets still got it).
 */
int apicbus_send(struct apicbus *bus, const struct apic_msg *msg);

/*
 * apicbus_send, counting where the message went: *local once for each
 * APIC of this node it was handed to, *remote once for each forward that
 * succeeded (relaxed atomic adds; either pointer may be NULL).  A local
 * APIC's IPIs are counted so, into its vCPU's stats.
 */
int apicbus_send_counted(struct apicbus *bus, const struct apic_msg *msg,
			 uint64_t *local, uint64_t *remote);

/*
 * Delivers msg, already resolved by the sender, to local APIC apic_id
 * (the receiving end of forward()).  Returns 0, or -1 with errno EINVAL
 * (no such APIC) or ENXIO (not local).
 */
int apicbus_deliver(struct apicbus *bus, uint32_t apic_id,
		    const struct apic_msg *msg);

/* True when APIC a matches msg's destination (shorthand aside). */
bool apic_addr_match(const struct apic_addr *a, const struct apic_msg *msg);

#endif
