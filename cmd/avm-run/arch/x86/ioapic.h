/*
 * I/O APIC model (82093AA register set, version 0x20 with the EOI
 * register): 24 input pins, redirection table, delivery over the APIC
 * bus.  Lives on node 0 (DESIGN.md); a pure model, no KVM.
 *
 * The VMM maps the 4 KiB page at IOAPIC_DEFAULT_BASE to
 * ioapic_mmio_read/write, wires device interrupt lines to
 * ioapic_set_irq(), and routes each lapic's env.eoi (level-triggered
 * EOIs, from whichever node the vCPU runs on) to ioapic_eoi().
 *
 * Levels are logical: 1 means asserted whatever the pin's polarity
 * (devices say "asserted", not a voltage); the polarity bit is kept for
 * the guest to read back.  Edge pins deliver on the rising edge and lose
 * edges that arrive while masked; level pins deliver while asserted and
 * remote IRR is clear, and set remote IRR (fixed and lowest priority)
 * until the EOI.
 *
 * Thread safety: one mutex.  Messages are sent through the bus with it
 * held, so lapic and forward callbacks must not call back into the IOAPIC
 * synchronously (lapic env.eoi is never called under a lapic lock, see
 * lapic.h, so ioapic_eoi from there is fine).
 */
#ifndef AVM_RUN_X86_IOAPIC_H
#define AVM_RUN_X86_IOAPIC_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "apicbus.h"

#define IOAPIC_NR_PINS 24
#define IOAPIC_DEFAULT_BASE 0xfec00000ull
#define IOAPIC_MMIO_SIZE 0x1000
/* Version register: max redirection entry 23, version 0x20. */
#define IOAPIC_VERSION (((IOAPIC_NR_PINS - 1) << 16) | 0x20)

/* MMIO offsets. */
#define IOAPIC_IOREGSEL 0x00
#define IOAPIC_IOWIN 0x10
#define IOAPIC_EOI 0x40

/* Indirect register indexes. */
#define IOAPIC_REG_ID 0x00
#define IOAPIC_REG_VERSION 0x01
#define IOAPIC_REG_ARB 0x02
#define IOAPIC_REG_REDIR 0x10 /* pin n: 0x10 + 2n (low), + 1 (high) */

/* Redirection entry bits. */
#define IOAPIC_RTE_DEST_LOGICAL (1ull << 11)
#define IOAPIC_RTE_DELIV_STATUS (1ull << 12)
#define IOAPIC_RTE_POLARITY_LOW (1ull << 13)
#define IOAPIC_RTE_REMOTE_IRR (1ull << 14)
#define IOAPIC_RTE_LEVEL (1ull << 15)
#define IOAPIC_RTE_MASKED (1ull << 16)
#define IOAPIC_RTE_DEST_SHIFT 56

/* Architectural state, one plain struct for save/restore. */
struct ioapic_state {
	uint32_t id; /* ID register, id in bits 27:24 */
	uint32_t ioregsel;
	uint32_t level; /* input levels, bit n = pin n asserted */
	uint32_t pad;
	uint64_t redir[IOAPIC_NR_PINS];
};

struct ioapic {
	pthread_mutex_t lock;
	struct ioapic_state s;
	struct apicbus *bus;
	/* Where each message sent is counted (node 0's run stats file,
	 * ioapic_irqs), under the lock; NULL after ioapic_init: not
	 * counted. */
	uint64_t *delivered;
};

/*
 * Sets up io in the reset state (all pins masked, edge, vector 0) sending
 * through bus.  Returns 0, or -1 with errno from pthread_mutex_init.
 */
int ioapic_init(struct ioapic *io, struct apicbus *bus);
void ioapic_release(struct ioapic *io);
/* Reset: every entry masked, levels kept (they are the wires'). */
void ioapic_reset(struct ioapic *io);

/*
 * The register page, offset 0..0xfff.  IOREGSEL takes 1- or 4-byte
 * accesses, IOWIN and EOI aligned 4-byte ones; anything else reads 0 and
 * is ignored.  Return 0.
 */
int ioapic_mmio_read(struct ioapic *io, uint32_t offset, void *data,
		     unsigned len);
int ioapic_mmio_write(struct ioapic *io, uint32_t offset, const void *data,
		      unsigned len);

/* Input pin 0..23 asserted (level != 0) or not.  Others are ignored. */
void ioapic_set_irq(struct ioapic *io, unsigned pin, int level);

/*
 * EOI of vector from a local APIC (or the EOI register): clears remote
 * IRR of level pins with that vector and delivers again those still
 * asserted.
 */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

/* The redirection entry of pin (tests, avm-top, save). */
uint64_t ioapic_redir(struct ioapic *io, unsigned pin);

/*
 * State bytes (devstate.h), layout version 1, IOAPIC_STATE_SIZE bytes,
 * written by the "ioapic" device's save with the VM paused:
 *
 *	0   4        header: version 1, length 204
 *	4   4        ID register (only bits 27:24)
 *	8   4        IOREGSEL (0..0xff)
 *	12  4        input levels, bit n = pin n asserted (24 bits)
 *	16  24 x 8   redirection entries, pin 0 first: writable bits and
 *	             remote IRR (level pins only); delivery status 0
 *
 * Restore sends nothing: what was delivered already sits in the lapics'
 * IRR (their own state), and a pin whose remote IRR is set waits for
 * its EOI as before.  Return as dev_ops save/restore (bus.h).
 */
#define IOAPIC_STATE_VERSION 1
#define IOAPIC_STATE_SIZE (4 + 12 + 8 * IOAPIC_NR_PINS)
ssize_t ioapic_save(struct ioapic *io, void *buf, size_t cap);
int ioapic_restore(struct ioapic *io, const void *buf, size_t len, char *why,
		   size_t whylen);

#endif
