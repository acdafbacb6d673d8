/*
 * The legacy 8259A pair (master at 0x20/0x21, slave at 0xa0/0xa1,
 * cascaded on IRQ2) with the PIIX edge/level control registers at
 * 0x4d0/0x4d1.  Only what a Linux guest uses: the ICW1-ICW4 init
 * sequence, OCW1 masks, OCW2 EOIs (non-specific, specific, rotations,
 * set priority), OCW3 IRR/ISR reads, auto-EOI, spurious IRQ7/IRQ15.
 * Not modelled: poll mode, special mask mode, special fully nested mode,
 * buffered mode, 8080 mode.
 *
 * The master's INT output drives the BSP's LINT0: the VMM passes an
 * intr callback that calls lapic_set_lint(bsp, 0, level) (locally or on
 * node 0's BSP); when the lapic says LAPIC_IRQ_EXTINT the VMM injects
 * pic_intack()'s vector.  Linux masks the 8259 once it uses the IOAPIC.
 *
 * Thread safety: one mutex; intr is called with it held (so output
 * changes arrive in order) and must not call back into the pic.
 */
#ifndef AVM_RUN_X86_PIC_H
#define AVM_RUN_X86_PIC_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#define PIC_MASTER_CMD 0x20
#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_CMD 0xa0
#define PIC_SLAVE_DATA 0xa1
#define PIC_ELCR_MASTER 0x4d0
#define PIC_ELCR_SLAVE 0x4d1
#define PIC_CASCADE_IRQ 2

/* One 8259A. */
struct pic_chip {
	uint8_t irr;	  /* requests (edge latched, level followed) */
	uint8_t isr;	  /* in service */
	uint8_t imr;	  /* masked */
	uint8_t lines;	  /* input levels */
	uint8_t elcr;	  /* level-triggered inputs (PIIX ELCR) */
	uint8_t base;	  /* ICW2: vector of IR0 */
	uint8_t prio_low; /* lowest-priority IR (rotation), 7 by default */
	uint8_t icw_next; /* 0: initialized; 2, 3, 4: ICW expected next */
	uint8_t icw4;	  /* ICW1 said an ICW4 follows */
	uint8_t single;	  /* ICW1 SNGL: no cascade */
	uint8_t ltim;	  /* ICW1 LTIM: all inputs level-triggered */
	uint8_t auto_eoi; /* ICW4 AEOI */
	uint8_t rotate_aeoi;
	uint8_t read_isr; /* OCW3: command port reads ISR, else IRR */
	uint8_t icw3;
	uint8_t pad;
};

/* Architectural state, plain for save/restore. */
struct pic_state {
	struct pic_chip chip[2]; /* 0 master, 1 slave */
	uint8_t out;		 /* master INT output as last reported */
};

struct pic {
	pthread_mutex_t lock;
	struct pic_state s;
	void (*intr)(void *opaque, int level);
	void *opaque;
};

/*
 * Sets up pic as firmware leaves it: initialized, vectors 0x08 (master)
 * and 0x70 (slave), every IRQ masked, all edge-triggered.  intr (may be
 * NULL) gets the master's INT output whenever it changes.
 * Returns 0, or -1 with errno from pthread_mutex_init.
 */
int pic_init(struct pic *pic, void (*intr)(void *opaque, int level),
	     void *opaque);
void pic_release(struct pic *pic);
void pic_reset(struct pic *pic);

/*
 * Port I/O of one byte at 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1.  Returns
 * 0, or -1 when port is not the pic's (val untouched).
 */
int pic_pio(struct pic *pic, uint16_t port, int is_write, uint8_t *val);

/* Input IRQ 0..15 level (edge inputs latch on the rising edge). */
void pic_set_irq(struct pic *pic, unsigned irq, int level);

/*
 * Interrupt acknowledge: the vector the CPU takes now, with the IRQ moved
 * to in-service (unless auto-EOI).  With nothing pending the spurious
 * IRQ7 (or IRQ15) vector, as the hardware gives.
 */
int pic_intack(struct pic *pic);

/* The master's INT output now (1: an unmasked IRQ beats in-service). */
int pic_output(struct pic *pic);

/*
 * State bytes (devstate.h), layout version 1, PIC_STATE_SIZE bytes,
 * written by the "pic" device's save with the VM paused: the master's
 * 15 bytes, the slave's 15, then the INT output, one byte each field in
 * struct pic_chip order (irr, isr, imr, lines, elcr, base, prio_low,
 * icw_next, icw4, single, ltim, auto_eoi, rotate_aeoi, read_isr, icw3).
 * Restore checks each against what the chip can reach (ICW2 base a
 * multiple of 8, icw_next 0/2/3/4 as ICW1 allows, flags 0/1, ELCR's
 * fixed-edge IRQs clear, the output the registers give) and does not
 * call intr: the lapic's LINT0 level is part of the lapic's state.
 * Return as dev_ops save/restore (bus.h).
 */
#define PIC_STATE_VERSION 1
#define PIC_STATE_SIZE (4 + 2 * 15 + 1)
ssize_t pic_save(struct pic *pic, void *buf, size_t cap);
int pic_restore(struct pic *pic, const void *buf, size_t len, char *why,
		size_t whylen);

#endif
