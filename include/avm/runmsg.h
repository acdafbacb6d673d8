/*
 * The payloads of the run-to-run messages (types 64..127 of
 * man/avm-wire.7) and of the control socket (128..255): one fixed-width
 * little-endian layout each, and an encode/decode pair.  avm-run's links
 * and run.sock, and any tool that talks to them, use only these.
 *
 * Encoders return the payload length, -EINVAL when m breaks a rule the
 * decoder checks, or -ENOSPC when cap is too small.  Decoders check the
 * whole payload (length, reserved bytes, ranges, text) before they fill
 * m, and return 0, -EMSGSIZE for a length outside the type's range, or
 * -EBADMSG for anything else.  Nothing here prints, allocates or exits.
 */
#ifndef AVM_RUNMSG_H
#define AVM_RUNMSG_H

#include <stddef.h>
#include <stdint.h>

#include "avm/wire.h"

/*
 * On the wire: RUN_IRQ, one-way, from any node to the node that runs the
 * target APIC: an interrupt message the sender already resolved to that
 * APIC (an IPI, INIT, SIPI or an IOAPIC interrupt).
 */
struct runmsg_irq_le {
	uint8_t apic_id[4];  /* the target */
	uint8_t reserved[4]; /* zero */
	uint8_t dest[4];     /* destination field as sent */
	uint8_t src[4];	     /* sender's APIC id, 0xffffffff for none */
	uint8_t vector;
	uint8_t delivery;     /* ICR delivery mode 0..7; 8 INIT de-assert */
	uint8_t dest_logical; /* 0 or 1 */
	uint8_t dest_x2apic;  /* 0 or 1 */
	uint8_t shorthand;    /* 0..3 */
	uint8_t level_trig;   /* 0 or 1 */
	uint8_t assert;	      /* 0 or 1 */
	uint8_t zero;
};
_Static_assert(sizeof(struct runmsg_irq_le) == WIRE_RUN_IRQ_SIZE, "RUN_IRQ");

struct runmsg_irq {
	uint32_t apic_id, dest, src;
	uint8_t vector, delivery, dest_logical, dest_x2apic, shorthand,
		level_trig, assert;
};

/*
 * On the wire: RUN_APIC_ADDR, one-way, from the node of an APIC to every
 * other node whenever that APIC's addressing changes.
 */
struct runmsg_apic_addr_le {
	uint8_t id[4];
	uint8_t ldr;   /* logical APIC id (xAPIC) */
	uint8_t model; /* DFR model: 0x0 cluster or 0xf flat */
	uint8_t flags; /* 0x01 enabled, 0x02 x2APIC, 0x04 software enabled */
	uint8_t zero;
};
_Static_assert(sizeof(struct runmsg_apic_addr_le) == WIRE_RUN_ADDR_SIZE,
	       "RUN_APIC_ADDR");

#define RUNMSG_ADDR_FLAGS 0x07u

struct runmsg_apic_addr {
	uint32_t id;
	uint8_t ldr, model, flags;
};

/* On the wire: RUN_EOI, one-way, to node 0: a level-triggered EOI. */
struct runmsg_eoi_le {
	uint8_t vector;
	uint8_t zero[7];
};
_Static_assert(sizeof(struct runmsg_eoi_le) == WIRE_RUN_EOI_SIZE, "RUN_EOI");

struct runmsg_eoi {
	uint8_t vector;
};

/*
 * On the wire: RUN_IO, a request from a node other than 0 to node 0: a
 * PIO or MMIO access of one of the sender's vCPUs.  A write carries
 * size * count bytes after the fixed part; a read none.  The request id
 * is sequence << 32 | vCPU.  RUN_IO_DONE answers with the bytes read
 * (nothing for a write).
 */
struct runmsg_io_le {
	uint8_t addr[8];  /* port or guest physical address */
	uint8_t vcpu[4];  /* the accessing vCPU */
	uint8_t size[2];  /* 1, 2, 4 or 8 */
	uint8_t count[2]; /* >= 1 (string I/O repeat); 1 for MMIO */
	uint8_t flags[4]; /* RUNMSG_IO_* */
	uint8_t reserved[4];
};
_Static_assert(sizeof(struct runmsg_io_le) == WIRE_RUN_IO_SIZE, "RUN_IO");

#define RUNMSG_IO_WRITE 0x1u
#define RUNMSG_IO_MMIO 0x2u

struct runmsg_io {
	uint64_t addr;
	uint32_t vcpu;
	uint16_t size, count;
	uint32_t flags;
	const uint8_t *data; /* write: size * count bytes; read: NULL */
};

/* size * count of an access, or 0 when size or count is not valid. */
uint32_t runmsg_io_bytes(uint16_t size, uint16_t count);

/*
 * RUN_IO_DONE and CTL_RESULT carry bytes only (no fixed part): the
 * bytes a forwarded read returned, the output text of a verb.  Their
 * codec checks the length against the type's range and, for text, that
 * it holds no control bytes but tab, CR and newline (UTF-8 may pass).
 */
struct runmsg_bytes {
	const uint8_t *data;
	uint32_t len;
};

/* RUN_END reasons; the values of avm-run's enum vm_end. */
enum runmsg_end_reason {
	RUNMSG_END_POWEROFF = 1,
	RUNMSG_END_RESET = 2,
	RUNMSG_END_DEBUG_EXIT = 3,
	RUNMSG_END_STOP = 4,
	RUNMSG_END_ERROR = 5,
};

/*
 * On the wire: RUN_END, one-way, from a node where the VM ended for a
 * reason of its own to every other node; 0..200 bytes of printable ASCII
 * saying why follow the fixed part.
 */
struct runmsg_end_le {
	uint8_t status[4]; /* exit status, signed */
	uint8_t reason[4]; /* enum runmsg_end_reason */
};
_Static_assert(sizeof(struct runmsg_end_le) == WIRE_RUN_END_MIN, "RUN_END");

#define RUNMSG_WHY_MAX (WIRE_RUN_END_MAX - WIRE_RUN_END_MIN)

struct runmsg_end {
	int32_t status;
	uint32_t reason;
	char why[RUNMSG_WHY_MAX + 1]; /* NUL-terminated */
};

/*
 * Fills m; why is printf-formatted, cut at RUNMSG_WHY_MAX bytes, bytes
 * that are not printable ASCII replaced by '?', so that m encodes.
 */
void runmsg_end_set(struct runmsg_end *m, int32_t status, uint32_t reason,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* RUN_CONTROL operations. */
enum runmsg_control_op {
	RUNMSG_CONTROL_PAUSE = 1,
	RUNMSG_CONTROL_RESUME = 2,
};

/*
 * On the wire: RUN_CONTROL, a request from node 0 to every other node;
 * answered by an empty RUN_CONTROL_DONE once the node's vCPUs were told.
 */
struct runmsg_control_le {
	uint8_t op[4]; /* enum runmsg_control_op */
	uint8_t reserved[4];
};
_Static_assert(sizeof(struct runmsg_control_le) == WIRE_RUN_CONTROL_SIZE,
	       "RUN_CONTROL");

struct runmsg_control {
	uint32_t op;
};

/*
 * On the wire: RUN_CLOCK, one-way, from node 0 to each other node, the
 * first frame after the link's proof: node 0's kvmclock.
 */
struct runmsg_clock_le {
	uint8_t clock[8];    /* ns, as KVM_GET_CLOCK gave it */
	uint8_t flags[4];    /* KVM's flags */
	uint8_t reserved[4]; /* zero */
	uint8_t realtime[8]; /* host CLOCK_REALTIME in ns when read */
	uint8_t host_tsc[8]; /* host TSC then */
};
_Static_assert(sizeof(struct runmsg_clock_le) == WIRE_RUN_CLOCK_SIZE,
	       "RUN_CLOCK");

struct runmsg_clock {
	uint64_t clock;
	uint32_t flags;
	uint64_t realtime, host_tsc;
};

/*
 * CTL_COMMAND, from a tool to run.sock: a verb of 1..WIRE_CTL_VERB_MAX
 * printable ASCII bytes, no NUL, no fixed part.
 */
struct runmsg_command {
	char verb[WIRE_CTL_VERB_MAX + 1]; /* NUL-terminated */
};

int runmsg_irq_encode(const struct runmsg_irq *m, void *buf, size_t cap);
int runmsg_irq_decode(const void *buf, size_t len, struct runmsg_irq *m);
int runmsg_apic_addr_encode(const struct runmsg_apic_addr *m, void *buf,
			    size_t cap);
int runmsg_apic_addr_decode(const void *buf, size_t len,
			    struct runmsg_apic_addr *m);
int runmsg_eoi_encode(const struct runmsg_eoi *m, void *buf, size_t cap);
int runmsg_eoi_decode(const void *buf, size_t len, struct runmsg_eoi *m);
/* m->data points into buf after a decode. */
int runmsg_io_encode(const struct runmsg_io *m, void *buf, size_t cap);
int runmsg_io_decode(const void *buf, size_t len, struct runmsg_io *m);
int runmsg_end_encode(const struct runmsg_end *m, void *buf, size_t cap);
int runmsg_end_decode(const void *buf, size_t len, struct runmsg_end *m);
int runmsg_control_encode(const struct runmsg_control *m, void *buf,
			  size_t cap);
int runmsg_control_decode(const void *buf, size_t len,
			  struct runmsg_control *m);
int runmsg_clock_encode(const struct runmsg_clock *m, void *buf, size_t cap);
int runmsg_clock_decode(const void *buf, size_t len, struct runmsg_clock *m);
int runmsg_command_encode(const struct runmsg_command *m, void *buf,
			  size_t cap);
int runmsg_command_decode(const void *buf, size_t len,
			  struct runmsg_command *m);
/* type: WIRE_T_RUN_IO_DONE (any bytes) or WIRE_T_CTL_RESULT (text). */
int runmsg_bytes_encode(uint16_t type, const struct runmsg_bytes *m, void *buf,
			size_t cap);
int runmsg_bytes_decode(uint16_t type, const void *buf, size_t len,
			struct runmsg_bytes *m);

#endif
