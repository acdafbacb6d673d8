/*
 * Local APIC model, one per vCPU (Intel SDM vol. 3, "Advanced
 * Programmable Interrupt Controller"): xAPIC MMIO page, x2APIC MSRs,
 * IA32_APIC_BASE, IA32_TSC_DEADLINE, the timer, LINT0/LINT1, IPIs.
 *
 * A pure model: no KVM, no ioctl.  The VMM (vcpu.c) drives it:
 * - MMIO exits on the APIC page go to lapic_mmio_read/write, MSR exits
 *   (KVM_CAP_X86_USER_SPACE_MSR) to lapic_msr_read/write; -1 from the
 *   latter means "inject #GP".
 * - Before KVM_RUN it asks lapic_next_irq(); when it can inject (IF set,
 *   interrupt window) it calls lapic_ack_irq() and KVM_INTERRUPT with the
 *   vector (LAPIC_IRQ_EXTINT: the vector comes from pic_intack()).
 * - lapic_take_events() hands it SMI, INIT and SIPI; it runs the
 *   INIT / wait-for-SIPI state machine itself and calls lapic_reset() on
 *   INIT.  NMIs are counted, not flagged, and taken with
 *   lapic_take_nmis() as many as the vCPU can hold (see there).
 * - CR8 is TPR[7:4]: the VMM hands lapic_cr8() to KVM before KVM_RUN
 *   (kvm_run.cr8) and gives what the guest left there back with
 *   lapic_set_cr8() after it.
 * - It arms a timerfd at lapic_timer_deadline() (re-read when
 *   env.timer_changed is called) and calls lapic_timer_expire() when it
 *   fires.
 *
 * Threads: the owner is the vCPU's thread (MMIO, MSR, injection, reset).
 * lapic_accept(), lapic_set_lint(), lapic_timer_expire(), the query
 * functions and lapic_take_events() may be called from any thread; a
 * per-lapic mutex guards the state.  No env callback, bus send or
 * IOAPIC EOI is ever made with that mutex held, so callbacks may call
 * back into any lapic.
 *
 * Timer clock: the APIC timer counts at LAPIC_BUS_HZ before the divide
 * configuration.  The VMM reports it to the guest as the core crystal
 * clock, CPUID.15H:ECX (Linux takes the APIC timer rate from there and
 * skips calibration), with TSC/crystal as EBX/EAX, and as the bus
 * frequency in MHz in CPUID.16H:ECX.  TSC-deadline mode needs
 * env.guest_tsc and env.tsc_khz, and CPUID.1:ECX[24] from the VMM.
 *
 * Model choices (SDM leaves them open or they do not matter to Linux):
 * - The APIC id is fixed (global vCPU index); xAPIC ID writes are
 *   ignored, since the bus maps ids to vCPUs.
 * - Six LVT entries (no CMCI), no EOI-broadcast suppression, no focus
 *   processor (SVR bit 9 is stored only), no remote read.
 * - A fixed LINT0/LINT1 interrupt is taken on the rising edge even when
 *   the LVT says level: no LVT remote IRR.
 * - A software-disabled APIC drops fixed and lowest-priority messages
 *   but takes NMI, SMI, INIT, SIPI and ExtINT, and still delivers what
 *   was already in IRR.
 * - IA32_APIC_BASE bits at or above MAXPHYADDR (env.maxphyaddr) are
 *   reserved, as the SDM says; a write that sets one raises #GP.
 * - With the APIC globally disabled, or in x2APIC mode, the xAPIC page
 *   is not decoded: reads return all ones and writes are dropped, as
 *   with KVM's in-kernel APIC (its "LAPIC MMIO hole" quirk), rather
 *   than falling through to whatever else the address holds.
 * - NMIs: a CPU latches at most one NMI while another is being
 *   delivered or handled; so the model counts up to LAPIC_NMI_MAX and
 *   the VMM moves them to KVM only as far as KVM has room (see
 *   lapic_take_nmis), which keeps two NMIs sent at once from becoming
 *   one, and a third one sent during a handler from piling up.
 * - x2APIC writes with reserved bits set raise #GP (the SDM's rule); the
 *   read-only delivery-status and remote-IRR bits are not "reserved", so
 *   a read-modify-write never faults.  xAPIC writes drop such bits.
 */
#ifndef AVM_RUN_X86_LAPIC_H
#define AVM_RUN_X86_LAPIC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "apicbus.h"

/* APIC timer input clock: 1 GHz, one count per ns at divide-by-1. */
#define LAPIC_BUS_HZ 1000000000ull
/* A periodic timer fires at most this often (a guest cannot storm). */
#define LAPIC_TIMER_MIN_PERIOD_NS 100000ull

#define LAPIC_DEFAULT_BASE 0xfee00000ull
/* Version register: version 0x14, 6 LVT entries (max LVT index 5: no
 * CMCI), no EOI-broadcast suppression. */
#define LAPIC_VERSION 0x00050014u

#define MSR_IA32_APIC_BASE 0x1b
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MSR_X2APIC_FIRST 0x800
#define MSR_X2APIC_LAST 0x8ff

/* IA32_APIC_BASE bits. */
#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_EXTD (1ull << 10) /* x2APIC mode */
#define APIC_BASE_EN (1ull << 11)   /* global enable */
#define APIC_BASE_ADDR_MASK 0x000ffffffffff000ull

/* lapic_next_irq() value for an ExtINT (8259) interrupt. */
#define LAPIC_IRQ_EXTINT 256

/* LVT indexes, in register order 0x320..0x370. */
enum lapic_lvt {
	LAPIC_LVT_TIMER,
	LAPIC_LVT_THERMAL,
	LAPIC_LVT_PERF,
	LAPIC_LVT_LINT0,
	LAPIC_LVT_LINT1,
	LAPIC_LVT_ERROR,
	LAPIC_LVT_NR,
};

/* ESR bits that the model sets. */
#define APIC_ESR_SEND_ILLEGAL_VECTOR 0x20
#define APIC_ESR_RECV_ILLEGAL_VECTOR 0x40
#define APIC_ESR_ILLEGAL_REGISTER 0x80

struct lapic_env {
	void *opaque; /* first argument of every callback */
	/* Host monotonic time in ns (the timerfd's clock). */
	uint64_t (*now_ns)(void *opaque);
	/* The guest's TSC now, and its rate, for TSC-deadline mode. */
	uint64_t (*guest_tsc)(void *opaque);
	uint32_t tsc_khz;
	/* Something became pending: wake the vCPU or force it out of
	 * KVM_RUN.  Any thread; may be NULL. */
	void (*kick)(void *opaque);
	/* lapic_timer_deadline() changed: re-arm the timerfd.  May be
	 * NULL. */
	void (*timer_changed)(void *opaque);
	/* EOI of a level-triggered vector (TMR set): for the IOAPIC.  May
	 * be NULL. */
	void (*eoi)(void *opaque, uint8_t vector);
	/* Where ICR and SELF IPI writes go; NULL drops them. */
	struct apicbus *bus;
	/* Where the IPIs this APIC sends are counted, by target: on this
	 * node, forwarded to another (apicbus_send_counted).  NULL: not
	 * counted. */
	uint64_t *ipis_local, *ipis_remote;
	/* The vCPU's MAXPHYADDR (CPUID.80000008H:EAX[7:0]): IA32_APIC_BASE
	 * bits from it up are reserved.  0: 36, the SDM's value when
	 * the leaf is absent. */
	uint8_t maxphyaddr;
};

/* Pending NMIs the model keeps: one being delivered and one latched. */
#define LAPIC_NMI_MAX 2

/* Non-maskable events for the vCPU's state machine (NMIs apart). */
struct lapic_events {
	bool smi;
	bool init;	     /* INIT: reset the vCPU, wait for SIPI */
	bool sipi;	     /* start-up IPI (after any INIT taken with it) */
	uint8_t sipi_vector; /* start at sipi_vector << 12 */
};

/*
 * All architectural state, one plain struct so save/restore can write it
 * out.  Registers hold their architectural values.
 */
struct lapic_state {
	uint64_t apic_base; /* IA32_APIC_BASE */
	uint32_t id;	    /* initial APIC id = global vCPU index */
	uint32_t tpr;
	uint32_t ldr; /* xAPIC LDR register (x2APIC: derived) */
	uint32_t dfr;
	uint32_t svr;
	uint32_t isr[8], tmr[8], irr[8];
	uint32_t esr;	      /* what reads return */
	uint32_t esr_pending; /* errors since the last ESR write */
	/* An error interrupt was raised since the last ESR write: the
	 * next one waits for that write (SDM 10.5.3, "rearms"). */
	bool esr_fired;
	uint32_t icr_lo, icr_hi;
	uint32_t lvt[LAPIC_LVT_NR];
	uint32_t timer_initial;
	uint32_t timer_dcr;
	uint64_t timer_start_ns;    /* count was timer_initial here */
	uint64_t timer_deadline_ns; /* next expiry, 0: not armed */
	uint64_t tsc_deadline;	    /* IA32_TSC_DEADLINE */
	uint8_t lint[2];	    /* LINT0/LINT1 input levels */
	uint8_t extint;		    /* ExtINT message latched */
	uint8_t nmi;		    /* NMIs pending, 0..LAPIC_NMI_MAX */
	uint8_t smi, init, sipi, sipi_vector;
};

struct lapic {
	pthread_mutex_t lock;
	struct lapic_state s;
	struct lapic_env env;
	bool bsp;
};

/*
 * Sets up l in the power-on state: IA32_APIC_BASE 0xfee00000, enabled,
 * xAPIC, BSP flag from bsp; SVR software-disabled.  On the BSP LINT0 is
 * an unmasked ExtINT (virtual wire, as firmware leaves it), so the 8259
 * works before the guest touches the APIC.  env is copied.
 * Returns 0, or -1 with errno from pthread_mutex_init.
 */
int lapic_init(struct lapic *l, uint32_t id, bool bsp,
	       const struct lapic_env *env);
void lapic_release(struct lapic *l);

/*
 * INIT: resets everything but IA32_APIC_BASE and the id; keeps events not
 * yet taken.  Called by the VMM when it handles an INIT event.
 */
void lapic_reset(struct lapic *l);

/*
 * The xAPIC page, offset 0..0xfff from the base.  Only aligned 4-byte
 * accesses at 16-byte aligned registers do anything; others read 0 and
 * are ignored.  Return 0, or 1 when the APIC does not decode the page
 * (globally disabled or in x2APIC mode): then a read returns all ones
 * and a write is dropped.  Either way the access is done with: the
 * page is the APIC's, decoded or not.
 */
int lapic_mmio_read(struct lapic *l, uint32_t offset, void *data, unsigned len);
int lapic_mmio_write(struct lapic *l, uint32_t offset, const void *data,
		     unsigned len);
/* The page's guest-physical base (IA32_APIC_BASE). */
uint64_t lapic_mmio_base(struct lapic *l);

/*
 * MSRs: IA32_APIC_BASE, IA32_TSC_DEADLINE and the x2APIC range
 * 0x800-0x8ff.  Return 0, or -1: inject #GP (x2APIC range while not in
 * x2APIC mode, reserved or read-only register, write-only register read,
 * reserved bits set, illegal IA32_APIC_BASE transition).  lapic_msr_owns
 * says which MSRs the VMM should route here.
 */
int lapic_msr_read(struct lapic *l, uint32_t msr, uint64_t *val);
int lapic_msr_write(struct lapic *l, uint32_t msr, uint64_t val);
bool lapic_msr_owns(uint32_t msr);

/*
 * Accepts a message from the bus (any thread).  Calls env.kick when
 * something became pending.
 */
void lapic_accept(struct lapic *l, const struct apic_msg *msg);

/*
 * LINT0/LINT1 input level (pin 0 or 1), as the LVT entry says: ExtINT
 * (level: pending while high), NMI/SMI/INIT and fixed (on the rising
 * edge).  With the APIC globally disabled LINT0 is INTR and LINT1 NMI.
 */
void lapic_set_lint(struct lapic *l, int pin, int level);

/*
 * The interrupt to inject next: LAPIC_IRQ_EXTINT for the 8259, else the
 * highest vector in IRR whose priority class beats PPR, else -1.
 * RFLAGS.IF and interrupt shadows are the VMM's business.
 */
int lapic_next_irq(struct lapic *l);

/*
 * The VMM injected vector (a value lapic_next_irq returned): moves it
 * from IRR to ISR, or for LAPIC_IRQ_EXTINT clears the ExtINT latch.
 */
void lapic_ack_irq(struct lapic *l, int vector);

/* Takes (and clears) the pending events.  Returns true if any. */
bool lapic_take_events(struct lapic *l, struct lapic_events *ev);

/* NMIs pending (0..LAPIC_NMI_MAX). */
unsigned lapic_nmi_pending(struct lapic *l);

/*
 * The NMIs the VMM may inject now, as many as the vCPU has room for, and
 * clears the pending count: those beyond room merge into the NMIs the
 * vCPU already holds, as on hardware, where an NMI that arrives while
 * one is latched is lost.  Returns 0..room.
 */
unsigned lapic_take_nmis(struct lapic *l, unsigned room);

/*
 * How many NMIs a vCPU can still hold, from its NMI state in
 * KVM_GET_VCPU_EVENTS: one being handled (masked until IRET) or being
 * injected leaves room for one latched; otherwise one can be delivered
 * and one latched.  kvm_pending of those are taken already.  The same
 * limit as KVM's own queue (process_nmi), so KVM drops none of ours.
 */
unsigned lapic_nmi_room(bool masked, bool injected, unsigned kvm_pending);

/* CR8 (TPR[7:4]) for the guest, and the guest's CR8 back into TPR:
 * TPR[7:4] = cr8[3:0], TPR[3:0] = 0, the SDM's "CR8 and TPR". */
unsigned lapic_cr8(struct lapic *l);
void lapic_set_cr8(struct lapic *l, uint64_t cr8);

/* IA32_APIC_BASE as the guest reads it. */
uint64_t lapic_apic_base(struct lapic *l);

/*
 * True when a halted vCPU has a reason to wake: an interrupt
 * lapic_next_irq would return, or an event pending.
 */
bool lapic_has_work(struct lapic *l);

/* Absolute expiry of the timer in env.now_ns time; 0: not armed. */
uint64_t lapic_timer_deadline(struct lapic *l);

/*
 * The timerfd fired at now_ns: if the timer is due, raise the LVT timer
 * interrupt (unless masked) and re-arm a periodic timer (skipping missed
 * periods).  Early or spurious calls do nothing.  Calls env.timer_changed
 * when the deadline moved.
 */
void lapic_timer_expire(struct lapic *l, uint64_t now_ns);

/*
 * Arbitration priority (SDM "Arbitration Priority Register") for lowest
 * priority delivery; 0x100 when the APIC is software-disabled.
 */
unsigned lapic_arb_priority(struct lapic *l);

/* The bus addressing of l right now. */
void lapic_get_addr(struct lapic *l, struct apic_addr *addr);

/*
 * State bytes (devstate.h), layout version 1, LAPIC_STATE_SIZE bytes,
 * for the vCPU's state in a snapshot (the vCPU side saves them with the
 * vCPU stopped and restores them before it runs):
 *
 *	0    4       header: version 1, length 200
 *	4    8       IA32_APIC_BASE (BSP bit as the lapic was created)
 *	12   4 x 5   APIC id (must be this lapic's), TPR, LDR, DFR, SVR
 *	32   4 x 24  ISR, TMR, IRR (8 words each, vector 0 first)
 *	128  4 x 4   ESR, ESR errors since the last write, ICR low, high
 *	144  4 x 6   LVT timer, thermal, perf, LINT0, LINT1, error
 *	168  4 x 2   timer initial count, divide configuration
 *	176  8       ns until the timer's next expiry (0 when not armed,
 *	             or already due)
 *	184  8       IA32_TSC_DEADLINE (guest TSC units)
 *	192  1 x 10  timer armed, LINT0, LINT1 levels, ExtINT latched,
 *	             NMIs pending (0..2), SMI, INIT, SIPI pending, SIPI
 *	             vector, an error interrupt raised since the last ESR
 *	             write (0 in states of builds before it: re-armed)
 *	202  2       zero
 *
 * Time: a running timer is saved as the time left to its next expiry
 * (env.now_ns on both sides), never as a host time, since the restoring
 * host's monotonic clock has nothing to do with the saving one's.  The
 * timer stands still while the VM is saved: after restore it expires
 * that much later by the new host's clock, the current count goes on
 * from where it was, and a periodic timer keeps its phase.  A due timer
 * (remaining 0) fires at once.  The TSC deadline is also kept as ns
 * left, so it holds whatever the guest TSC is set to after restore.
 *
 * Restore checks every register's reserved bits and the timer's
 * consistency, then calls env.timer_changed, publishes the bus address
 * and kicks.  Return as dev_ops save/restore (bus.h).
 */
#define LAPIC_STATE_VERSION 1
#define LAPIC_STATE_SIZE 204
ssize_t lapic_save(struct lapic *l, void *buf, size_t cap);
int lapic_restore(struct lapic *l, const void *buf, size_t len, char *why,
		  size_t whylen);

/* Convenience reads for the VMM and tests. */
bool lapic_is_x2apic(struct lapic *l);
uint32_t lapic_ppr(struct lapic *l);

#endif
