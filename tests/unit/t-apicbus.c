/*
 * APIC bus: a VM of 6 APICs, 0-3 local lapics, 4-5 "remote" ones whose
 * forward callback records what would go over the fabric.  IPIs are
 * sent the way a guest sends them, by ICR writes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "../../cmd/avm-run/arch/x86/lapic.h"
#include "tap.h"

#define NLOCAL 4
#define NALL 6

static struct apicbus bus;
static struct lapic L[NLOCAL];
static uint64_t now;

static struct {
	int n;
	uint32_t id[64];
	struct apic_msg msg[64];
} fwd;

static struct {
	int n;
	struct apic_addr last;
} pub;

static int
f_forward(void *opaque, uint32_t apic_id, const struct apic_msg *msg)
{
	if (fwd.n < 64) {
		fwd.id[fwd.n] = apic_id;
		fwd.msg[fwd.n] = *msg;
	}
	fwd.n++;
	return 0;
}

static void
f_publish(void *opaque, const struct apic_addr *a)
{
	pub.n++;
	pub.last = *a;
}

static uint64_t
f_now(void *o)
{
	return now;
}

static uint32_t
rd(struct lapic *l, uint32_t off)
{
	uint32_t v = 0;

	lapic_mmio_read(l, off, &v, 4);
	return v;
}

static void
wr(struct lapic *l, uint32_t off, uint32_t v)
{
	lapic_mmio_write(l, off, &v, 4);
}

static void
ipi(struct lapic *from, uint32_t dest8, uint32_t lo)
{
	wr(from, 0x310, dest8 << 24);
	wr(from, 0x300, lo);
}

static bool
has(struct lapic *l, unsigned v)
{
	return (l->s.irr[v / 32] >> (v % 32)) & 1;
}

/* Which local lapics have vector v pending, as a bit mask; clears it. */
static unsigned
got(unsigned v)
{
	unsigned m = 0;

	for (int i = 0; i < NLOCAL; i++) {
		if (has(&L[i], v))
			m |= 1u << i;
		L[i].s.irr[v / 32] &= ~(1u << (v % 32));
	}
	return m;
}

/* Which remote ids got forwards since the last call, as a bit mask. */
static unsigned
fwds(void)
{
	unsigned m = 0;

	for (int i = 0; i < fwd.n && i < 64; i++)
		m |= 1u << fwd.id[i];
	fwd.n = 0;
	return m;
}

static void
setup(void)
{
	static const struct apicbus_ops ops = { f_forward, f_publish };
	struct lapic_env env = { .now_ns = f_now, .bus = &bus };

	apicbus_init(&bus, NALL, &ops, NULL);
	for (uint32_t i = 0; i < NLOCAL; i++) {
		lapic_init(&L[i], i, i == 0, &env);
		apicbus_attach(&bus, i, &L[i]);
		wr(&L[i], 0xf0, 0x1ff);
	}
}

static void
test_physical(void)
{
	ipi(&L[0], 2, 0x4030);
	is_int(got(0x30), 1u << 2, "physical to 2");
	is_int(fwds(), 0, "nothing forwarded");
	is_int(rd(&L[0], 0x300), 0x4030, "ICR low reads back, idle");
	ipi(&L[1], 5, 0x4031);
	is_int(got(0x31), 0, "physical to remote 5: no local");
	is_int(fwds(), 1u << 5, "forwarded to 5");
	ok(fwd.msg[0].vector == 0x31 && fwd.msg[0].src == 1 &&
		   fwd.msg[0].delivery == APIC_DM_FIXED,
	   "forwarded message intact");
	ipi(&L[1], 0xff, 0x4032);
	is_int(got(0x32), 0xf, "physical broadcast: all local");
	is_int(fwds(), 0x30, "and both remote");
	ipi(&L[1], 9, 0x4033);
	is_int(got(0x33) | fwds(), 0, "no such APIC: dropped");
}

static void
test_shorthands(void)
{
	ipi(&L[1], 3, 0x44040); /* self */
	is_int(got(0x40), 1u << 1, "self (dest ignored)");
	is_int(fwds(), 0, "self: nothing forwarded");
	ipi(&L[1], 0, 0x84041); /* all including self */
	is_int(got(0x41), 0xf, "all including self");
	is_int(fwds(), 0x30, "all: remote too");
	ipi(&L[1], 0, 0xc4042); /* all excluding self */
	is_int(got(0x42), 0xd, "all but self");
	is_int(fwds(), 0x30, "all but self: remote too");
}

static void
test_logical(void)
{
	struct apic_addr a;

	pub.n = 0;
	for (int i = 0; i < NLOCAL; i++)
		wr(&L[i], 0xd0, (1u << i) << 24);
	is_int(pub.n, NLOCAL, "LDR writes published");
	is_int(pub.last.ldr, 0x08, "with the new logical id");
	apicbus_get_addr(&bus, 2, &a);
	is_int(a.ldr, 0x04, "bus knows lapic 2's LDR");
	ipi(&L[0], 0x05, 0x4850);
	is_int(got(0x50), 0x5, "flat: mask 0x05 -> 0 and 2");
	is_int(fwds(), 0, "remote LDR 0: no match");
	ipi(&L[0], 0xff, 0x4851);
	is_int(got(0x51), 0xf, "flat broadcast");
	is_int(fwds(), 0x30, "logical broadcast reaches remote too");

	/* A remote node publishes its LDR. */
	a = (struct apic_addr){ .id = 4,
				.ldr = 0x10,
				.model = APIC_DFR_FLAT,
				.flags = APIC_ADDR_ENABLED | APIC_ADDR_SW_ON };
	apicbus_set_addr(&bus, &a);
	ipi(&L[0], 0x11, 0x4852);
	is_int(got(0x52), 0x1, "flat 0x11: local 0");
	is_int(fwds(), 1u << 4, "and remote 4 by its published LDR");

	/* Cluster model. */
	static const uint8_t ldr[NLOCAL] = { 0x11, 0x12, 0x21, 0x22 };
	for (int i = 0; i < NLOCAL; i++) {
		wr(&L[i], 0xe0, 0x0fffffff);
		wr(&L[i], 0xd0, (uint32_t)ldr[i] << 24);
	}
	ipi(&L[0], 0x13, 0x4853);
	is_int(got(0x53), 0x3, "cluster 1 members 1,2");
	ipi(&L[0], 0x22, 0x4854);
	is_int(got(0x54), 0x8, "cluster 2 member 2");
	ipi(&L[0], 0xf1, 0x4855);
	is_int(got(0x55), 0x5, "all clusters, member 1");
	ipi(&L[0], 0x31, 0x4856);
	is_int(got(0x56), 0, "empty cluster");
	fwds();
}

static void
test_lowest(void)
{
	static const uint32_t tpr[NLOCAL] = { 0x30, 0x10, 0x20, 0x40 };
	unsigned seen = 0;

	for (int i = 0; i < NLOCAL; i++) {
		wr(&L[i], 0xe0, 0xffffffff);
		wr(&L[i], 0xd0, (1u << i) << 24);
		wr(&L[i], 0x80, tpr[i]);
	}
	ipi(&L[0], 0x0f, 0x4960);
	is_int(got(0x60), 1u << 1, "lowest priority: lowest TPR wins");
	wr(&L[1], 0x80, 0x50);
	ipi(&L[0], 0x0f, 0x4961);
	is_int(got(0x61), 1u << 2, "then the next lowest");
	ipi(&L[0], 0x0b, 0x4962);
	is_int(got(0x62), 1u << 0, "only among the destination set");
	for (int i = 0; i < NLOCAL; i++)
		wr(&L[i], 0x80, 0);
	for (int k = 0; k < NLOCAL; k++) {
		ipi(&L[0], 0x0f, 0x4963);
		seen |= got(0x63);
	}
	is_int(seen, 0xf, "ties go round-robin");
	is_int(fwds(), 0, "local matches preferred to remote");
	ipi(&L[0], 0x10, 0x4964); /* only remote 4 has logical id 0x10 */
	is_int(got(0x64), 0, "no local match");
	is_int(fwds(), 1u << 4, "lowest priority forwarded to remote");
	wr(&L[3], 0xf0, 0xff);
	ipi(&L[0], 0x08, 0x4965);
	is_int(got(0x65), 0, "software-disabled APIC not chosen");
	wr(&L[3], 0xf0, 0x1ff);
}

static void
test_modes(void)
{
	struct lapic_events ev;

	ipi(&L[0], 2, 0x4500); /* INIT assert */
	ok(lapic_take_events(&L[2], &ev) && ev.init, "INIT delivered");
	ipi(&L[0], 2, 0x8500); /* INIT de-assert */
	ok(!lapic_take_events(&L[2], &ev), "INIT de-assert ignored");
	ipi(&L[0], 2, 0x469a);
	ok(lapic_take_events(&L[2], &ev) && ev.sipi && ev.sipi_vector == 0x9a,
	   "SIPI with vector");
	ipi(&L[0], 0, 0xc4400); /* NMI to all but self */
	is_int(lapic_take_nmis(&L[1], 2), 1, "NMI to 1");
	is_int(lapic_take_nmis(&L[3], 2), 1, "NMI to 3");
	is_int(lapic_nmi_pending(&L[0]), 0, "not to self");
	is_int(fwds(), 0x30, "NMI forwarded to remote");
	ok(fwd.msg[0].delivery == APIC_DM_NMI, "as NMI");
	ipi(&L[0], 1, 0x4200);
	ok(lapic_take_events(&L[1], &ev) && ev.smi, "SMI");
	ipi(&L[0], 1, 0x4700);
	is_int(lapic_next_irq(&L[1]), LAPIC_IRQ_EXTINT, "ExtINT");
	lapic_ack_irq(&L[1], LAPIC_IRQ_EXTINT);
	ipi(&L[0], 5, 0x4500);
	is_int(fwds(), 1u << 5, "INIT to a remote APIC is forwarded");
	ok(fwd.msg[0].delivery == APIC_DM_INIT, "as INIT");
	fwds();
}

static void
test_x2apic(void)
{
	struct apic_addr a;

	for (int i = 0; i < NLOCAL; i++)
		lapic_msr_write(&L[i], MSR_IA32_APIC_BASE, 0xfee00c00);
	apicbus_get_addr(&bus, 3, &a);
	ok(a.flags & APIC_ADDR_X2APIC, "x2APIC mode published");
	lapic_msr_write(&L[0], 0x830, (3ull << 32) | 0x70);
	is_int(got(0x70), 1u << 3, "x2APIC physical");
	lapic_msr_write(&L[0], 0x830, (0xffffffffull << 32) | 0x71);
	is_int(got(0x71), 0xf, "x2APIC physical broadcast");
	is_int(fwds(), 0x30, "to remote too");
	lapic_msr_write(&L[0], 0x830, (0x5ull << 32) | 0x872);
	is_int(got(0x72), 0x5, "x2APIC logical cluster 0, bits 0 and 2");
	lapic_msr_write(&L[0], 0x830, (0x10005ull << 32) | 0x873);
	is_int(got(0x73), 0, "cluster 1 has nobody here");
	for (uint32_t id = 4; id < NALL; id++) {
		a = (struct apic_addr){ .id = id,
					.flags = APIC_ADDR_ENABLED |
						 APIC_ADDR_X2APIC |
						 APIC_ADDR_SW_ON };
		apicbus_set_addr(&bus, &a);
	}
	fwds();
	lapic_msr_write(&L[0], 0x830, (0x31ull << 32) | 0x874);
	is_int(got(0x74), 0x1, "logical 0x31: local 0");
	is_int(fwds(), 0x30, "and remote 4, 5 (x2APIC, derived LDR)");
	lapic_msr_write(&L[0], 0x830, (0x2ull << 32) | 0x875);
	is_int(got(0x75), 0x2, "x2APIC logical cluster 0 bit 1: id 1");
	/* An 8-bit IOAPIC-style message still reaches x2APIC targets. */
	struct apic_msg m = {
		.vector = 0x76, .dest = 0xff, .assert = 1, .src = APIC_SRC_NONE
	};
	apicbus_send(&bus, &m);
	is_int(got(0x76), 0xf, "8-bit 0xff is a broadcast in x2APIC mode");
	m.dest = 1;
	m.vector = 0x77;
	apicbus_send(&bus, &m);
	is_int(got(0x77), 0x2, "8-bit physical id 1");
	fwds();
}

static void
test_deliver(void)
{
	struct apic_msg m = { .vector = 0x80, .assert = 1 };

	ok(apicbus_deliver(&bus, 2, &m) == 0, "deliver to local 2");
	is_int(got(0x80), 1u << 2, "landed");
	ok(apicbus_deliver(&bus, 4, &m) == -1 && errno == ENXIO,
	   "remote: ENXIO");
	ok(apicbus_deliver(&bus, 40, &m) == -1 && errno == EINVAL,
	   "out of range: EINVAL");
}

/* Two vCPU threads firing IPIs at each other must not deadlock. */
static void *
pinger(void *arg)
{
	struct lapic *me = arg;
	uint64_t dest = me == &L[0] ? 1 : 0;

	for (int i = 0; i < 2000; i++) {
		lapic_msr_write(me, 0x830, (dest << 32) | 0x90);
		if (lapic_next_irq(me) == 0x90) {
			lapic_ack_irq(me, 0x90);
			lapic_msr_write(me, 0x80b, 0);
		}
	}
	return NULL;
}

static void
test_threads(void)
{
	pthread_t t[2];

	pthread_create(&t[0], NULL, pinger, &L[0]);
	pthread_create(&t[1], NULL, pinger, &L[1]);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	ok(atomic_load(&bus.nr_local) > 4000, "concurrent IPIs delivered");
}

/*
 * The IPIs a lapic sends are counted into its env's ipis_local and
 * ipis_remote (its vCPU's stats): once per target, local or forwarded.
 */
static void
test_tally(void)
{
	uint64_t loc = 0, rem = 0;

	L[1].env.ipis_local = &loc;
	L[1].env.ipis_remote = &rem;
	/* The lapics are in x2APIC mode since test_x2apic: ICR by MSR. */
	lapic_msr_write(&L[1], 0x830, (2ull << 32) | 0x4060);
	ok(loc == 1 && rem == 0, "physical to local 2: one local");
	lapic_msr_write(&L[1], 0x830, (5ull << 32) | 0x4061);
	ok(loc == 1 && rem == 1, "physical to remote 5: one remote");
	lapic_msr_write(&L[1], 0x83f, 0x62); /* SELF IPI */
	ok(loc == 2 && rem == 1, "self: local");
	lapic_msr_write(&L[1], 0x830, 0x84063); /* all including self */
	ok(loc == 6 && rem == 3, "all: 4 local, 2 remote");
	lapic_msr_write(&L[1], 0x830, (9ull << 32) | 0x4064);
	ok(loc == 6 && rem == 3, "no such APIC: nothing counted");
	lapic_msr_write(&L[0], 0x830, (2ull << 32) | 0x4065);
	ok(loc == 6 && rem == 3, "another lapic's IPI: not ours");
	fwd.n = 0;
	for (unsigned v = 0x60; v <= 0x65; v++)
		got(v);
	L[1].env.ipis_local = L[1].env.ipis_remote = NULL;

	/* The bus call itself, for a sender that is no lapic. */
	{
		struct apic_msg m = { .dest = 3, .vector = 0x66 };

		loc = rem = 0;
		is_int(apicbus_send_counted(&bus, &m, &loc, NULL), 1,
		       "apicbus_send_counted: delivered");
		ok(loc == 1 && got(0x66) == 1u << 3, "counted, to 3");
		m.dest = 4;
		apicbus_send_counted(&bus, &m, NULL, &rem);
		ok(rem == 1 && fwds() == 1u << 4, "forward counted");
	}
}

/*
 * Two nodes, each with its own bus and 3 lapics (A: the first three of
 * ids[], B: the others), linked as avm-run links them: forward() is the
 * other node's apicbus_deliver(), publish() its apicbus_set_addr().
 * Logical IPIs are sent from a lapic of each node for every destination
 * value and must land on exactly the set the SDM's rule addresses
 * (computed here from the LDRs), ids no CPU holds included: with
 * one-bit, several-bit and zero logical ids, flat and cluster, and in
 * x2APIC mode for 4 clusters of 16 ids.
 */
#define N2 6
static const uint32_t ids[N2] = { 0, 1, 17, 18, 33, 47 };
static struct apicbus nb[2];
static struct lapic NL[N2];

static int
n2_forward(void *opaque, uint32_t id, const struct apic_msg *m)
{
	return apicbus_deliver(&nb[!(uintptr_t)opaque], id, m);
}

static void
n2_publish(void *opaque, const struct apic_addr *a)
{
	apicbus_set_addr(&nb[!(uintptr_t)opaque], a);
}

/* Which of the 6 lapics got vector v (and clears it). */
static unsigned
n2_got(unsigned v)
{
	unsigned m = 0;

	for (int i = 0; i < N2; i++) {
		if (has(&NL[i], v))
			m |= 1u << i;
		NL[i].s.irr[v / 32] &= ~(1u << (v % 32));
	}
	return m;
}

/* The addressed set for 8-bit logical dest d and these LDRs. */
static unsigned
want8(unsigned d, const uint8_t *ldr, bool cluster)
{
	unsigned m = 0;

	for (unsigned i = 0; i < N2; i++) {
		bool hit;

		if (d == 0xff)
			hit = true;
		else if (!cluster)
			hit = d & ldr[i];
		else /* cluster 15 addresses all clusters (SDM) */
			hit = ((d >> 4) == (ldr[i] >> 4u) || (d >> 4) == 0xf) &&
			      (d & ldr[i] & 0xf);
		m |= (unsigned)hit << i;
	}
	return m;
}

static unsigned
want_x2(uint32_t d)
{
	unsigned m = 0;

	for (unsigned i = 0; i < N2; i++)
		if (d == 0xffffffff ||
		    ((d >> 16) == ids[i] >> 4 && (d & 1u << (ids[i] & 0xf))))
			m |= 1u << i;
	return m;
}

static void
n2_setup(void)
{
	for (uintptr_t n = 0; n < 2; n++) {
		const struct apicbus_ops ops = { n2_forward, n2_publish };

		apicbus_init(&nb[n], 48, &ops, (void *)n);
	}
	for (uint32_t i = 0; i < N2; i++) {
		struct lapic_env env = { .now_ns = f_now, .bus = &nb[i / 3] };

		lapic_init(&NL[i], ids[i], i == 0, &env);
		apicbus_attach(&nb[i / 3], ids[i], &NL[i]);
		wr(&NL[i], 0xf0, 0x1ff); /* publishes */
	}
}

/* All 256 destinations from each node; returns how many were wrong. */
static void
n2_sweep(const char *what, const uint8_t *ldr, bool cluster)
{
	static const unsigned senders[] = { 1, 4 }; /* node A, node B */

	for (int i = 0; i < N2; i++) {
		wr(&NL[i], 0xe0, cluster ? 0x0fffffff : 0xffffffff);
		wr(&NL[i], 0xd0, (uint32_t)ldr[i] << 24);
	}
	for (int k = 0; k < 2; k++) {
		unsigned bad = 0, g;

		for (unsigned d = 0; d < 256; d++) {
			ipi(&NL[senders[k]], d, 0x4800 | 0x40);
			g = n2_got(0x40);
			if (g != want8(d, ldr, cluster) && !bad++)
				printf("#   dest 0x%02x: got 0x%x, want 0x%x\n",
				       d, g, want8(d, ldr, cluster));
		}
		ok(!bad,
		   "%s, from node %c: all 256 destinations exact (%u "
		   "wrong)",
		   what, "AB"[k], bad);
	}
}

static void
test_logical_nodes(void)
{
	static const uint8_t flat1[N2] = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20 };
	static const uint8_t flat2[N2] = { 0x81, 0x06, 0x00, 0x18, 0x60, 0x21 };
	static const uint8_t clu1[N2] = { 0x01, 0x02, 0x04, 0x08, 0x11, 0x12 };
	static const uint8_t clu2[N2] = { 0x13, 0x1c, 0x21, 0x00, 0x2f, 0xe1 };
	unsigned bad = 0;

	n2_setup();
	n2_sweep("flat, one bit each", flat1, false);
	n2_sweep("flat, several bits and 0", flat2, false);
	n2_sweep("cluster, one member each", clu1, true);
	n2_sweep("cluster, several members and 0", clu2, true);

	/* Lowest priority in logical mode: exactly one of the set. */
	for (int i = 0; i < N2; i++) {
		wr(&NL[i], 0xe0, 0xffffffff);
		wr(&NL[i], 0xd0, (uint32_t)flat1[i] << 24);
	}
	for (unsigned d = 1; d < 0x40; d++) {
		unsigned g;

		ipi(&NL[0], d, 0x4900 | 0x42);
		g = n2_got(0x42);
		if (__builtin_popcount(g) != 1 || !(g & d))
			bad++;
	}
	ok(!bad, "lowest priority: one target, in the set, every mask");

	/* x2APIC logical: cluster in [31:16], 16 member bits. */
	for (int i = 0; i < N2; i++)
		lapic_msr_write(&NL[i], MSR_IA32_APIC_BASE, 0xfee00c00);
	for (int k = 0; k < 2; k++) {
		struct lapic *from = &NL[k ? 4 : 1];

		bad = 0;
		for (uint32_t c = 0; c < 4; c++)
			for (uint32_t m = 0; m < 0x10000; m++) {
				uint32_t d = c << 16 | m;

				lapic_msr_write(from, 0x830,
						(uint64_t)d << 32 | 0x843);
				if (n2_got(0x43) != want_x2(d))
					bad++;
			}
		lapic_msr_write(from, 0x830, 0xffffffffull << 32 | 0x843);
		if (n2_got(0x43) != 0x3f)
			bad++;
		ok(!bad,
		   "x2APIC cluster, from node %c: clusters 0-3, all 65536 "
		   "masks, and broadcast exact (%u wrong)",
		   "AB"[k], bad);
	}
	for (int i = 0; i < N2; i++)
		lapic_release(&NL[i]);
	apicbus_release(&nb[0]);
	apicbus_release(&nb[1]);
}

int
main(void)
{
	setup();
	test_physical();
	test_shorthands();
	test_logical();
	test_lowest();
	test_modes();
	test_x2apic();
	test_deliver();
	test_tally();
	test_threads();
	test_logical_nodes();
	for (int i = 0; i < NLOCAL; i++)
		lapic_release(&L[i]);
	apicbus_release(&bus);
	return done_testing();
}
