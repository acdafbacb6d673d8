/*
 * ACPI tables for the guest: RSDP, RSDT, XSDT, FACS, FADT, DSDT, MADT,
 * SRAT and SLIT, built into guest memory below 1 MiB.
 *
 * The tables describe the machine avm-run emulates; the device models
 * must match the numbers below (the PM block, the IOAPIC, the SCI).
 *
 * Placement: the RSDP at ACPI_RSDP_ADDR (0xE0000, so that a guest that
 * scans 0xE0000-0xFFFFF for "RSD PTR " finds it), the other tables after
 * it up to ACPI_AREA_END.  The whole area lies inside the e820 reserved
 * range 0x9FC00-0xFFFFF (see boot.h).  About 3,000 vCPUs fit with an SRAT,
 * about 7,000 without.
 */
#ifndef AVM_X86_ACPI_H
#define AVM_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct guest_mem;
struct placement_node;

#define ACPI_RSDP_ADDR 0xE0000ULL
#define ACPI_AREA_END 0x100000ULL /* first byte after the area */

/*
 * The ACPI PM block (fixed hardware, I/O ports) that the FADT announces
 * and the PM device model on node 0 implements:
 *
 *   ACPI_PM1A_EVT  PM1a event block, 4 bytes: PM1_STS (16 bits) at +0,
 *                  PM1_EN (16 bits) at +2.  Status bits are write-1-to-clear.
 *   ACPI_PM1A_CNT  PM1a control block, 2 bytes: SCI_EN (bit 0), SLP_TYP
 *                  (bits 10-12), SLP_EN (bit 13, write-only).  The FADT has
 *                  no SMI command port, which tells the guest that the
 *                  machine is always in ACPI mode: reads of PM1_CNT must
 *                  return SCI_EN set.  Writing SLP_EN with SLP_TYP ==
 *                  ACPI_SLP_TYP_S5 powers the VM off.
 *   ACPI_PM_TMR    PM timer, 4 bytes read, 24-bit counter at 3.579545 MHz.
 *   ACPI_RESET_PORT / ACPI_RESET_VALUE  the FADT reset register: an 8-bit
 *                  write of ACPI_RESET_VALUE to this port resets the VM
 *                  (the PCI reset control register's "hard reset").
 *   ACPI_SCI_IRQ   the SCI: ISA IRQ 9, level-triggered, active high (MADT
 *                  interrupt source override IRQ 9 -> GSI 9).
 *
 * No GPE blocks, no sleep states other than S5 (\_S5 in the DSDT).
 */
#define ACPI_PM1A_EVT 0x600
#define ACPI_PM1A_EVT_LEN 4
#define ACPI_PM1A_CNT 0x604
#define ACPI_PM1A_CNT_LEN 2
#define ACPI_PM_TMR 0x608
#define ACPI_PM_TMR_LEN 4
#define ACPI_PM_TMR_HZ 3579545
#define ACPI_SLP_TYP_S5 5
#define ACPI_SLP_TYP_SHIFT 10
#define ACPI_SLP_TYP_MASK (7 << ACPI_SLP_TYP_SHIFT)
#define ACPI_SLP_EN (1 << 13)
#define ACPI_SCI_EN (1 << 0)
#define ACPI_RESET_PORT 0xCF9
#define ACPI_RESET_VALUE 0x06
#define ACPI_SCI_IRQ 9

/* Interrupt controllers as the MADT announces them. */
#define ACPI_LAPIC_ADDR 0xFEE00000ULL
#define ACPI_IOAPIC_ADDR 0xFEC00000ULL
#define ACPI_IOAPIC_PINS 24 /* GSIs 0-23, GSI base 0 */

/* The COM1 serial port the DSDT describes with ACPI_F_COM1. */
#define ACPI_COM1_PORT 0x3F8
#define ACPI_COM1_IRQ 4

/*
 * virtio-mmio devices in the DSDT: one Device (VR00, VR01, ...: the index
 * in hex) per device in \_SB, with _HID "LNRO0005" (what Linux's
 * virtio_mmio driver matches), _UID its index and a _CRS of its register
 * page (Memory32Fixed) and its interrupt (an Extended Interrupt
 * descriptor: consumer, level, active high, exclusive).  The _CRS is the
 * only place that says level and active high: GSIs 16-23 have no ISA IRQ,
 * so no MADT interrupt source override can describe them, and Linux takes
 * their trigger and polarity from the _CRS.  An ISA IRQ (GSI 0-15)
 * without an override is edge-triggered by the MADT's rules, which a
 * level _CRS would contradict: give these devices GSIs 16-23.
 */
#define ACPI_VMMIO_MAX 16
/* One virtio-mmio device the DSDT announces (LNRO0005): its register
 * page and the IOAPIC input (GSI) it drives, level-triggered, active high. */
struct acpi_vmmio {
	uint64_t base; /* below 4 GiB */
	uint32_t size;
	uint32_t gsi; /* < ACPI_IOAPIC_PINS */
};

/* The OEM id of every table. */
#define ACPI_OEM_ID "AVM   "
#define ACPI_OEM_TABLE_ID "AVMVIRT "

/* acpi_desc.flags */
#define ACPI_F_COM1 (1u << 0) /* describe COM1 (PNP0501) in the DSDT */

/* Limits acpi_build checks (the area below 1 MiB is what limits vCPUs). */
#define ACPI_MAX_DOMAINS 256

/*
 * One proximity domain's memory: a range of guest RAM given as offsets
 * into guest RAM (the memfd), not as guest physical addresses.  RAM
 * offset x is GPA x below 3 GiB and GPA x + 1 GiB above (see boot.h); a
 * range that crosses 3 GiB becomes two SRAT memory entries.
 */
struct acpi_mem_range {
	uint64_t start;
	uint64_t size;
};

/*
 * What the tables describe.  The APIC id (and the ACPI processor UID) of
 * vCPU k is k: the global vCPU index, as on every node.
 */
struct acpi_desc {
	uint32_t vcpus; /* >= 1 */
	/* the MADT's IOAPIC id, which the IOAPIC model's ID register must
	 * match; DESIGN says vcpus (with 255 vCPUs or more: caller's pick) */
	uint8_t ioapic_id;
	uint32_t flags;	   /* ACPI_F_* */
	uint32_t ndomains; /* 0: no SRAT and SLIT; else 1..ACPI_MAX_DOMAINS */
	/* [vcpus] domain of each vCPU; NULL puts every vCPU in domain 0 */
	const uint32_t *vcpu_domain;
	/* [ndomains] memory of each domain; a domain may have size 0 */
	const struct acpi_mem_range *mem;
	/* [ndomains * ndomains] row-major SLIT distances, 10 on the
	 * diagonal, 11..255 elsewhere; NULL means 10 local, 20 remote */
	const uint8_t *distance;
	const struct acpi_vmmio *vmmio; /* [nvmmio] */
	uint32_t nvmmio;		/* 0..ACPI_VMMIO_MAX */
};

/*
 * The NUMA part of *d from a placement (avm/placement.h): one proximity
 * domain per node, holding the node's vCPUs and its home pages, so that
 * the SRAT says what the pagers and vCPU threads do.  vcpu_domain has
 * room for d->vcpus entries and mem for nnodes; *d points at them after.
 * Returns 0, or -1 with errno EINVAL when nnodes is 0 or above
 * ACPI_MAX_DOMAINS or a node's vCPUs lie beyond d->vcpus.
 */
int acpi_numa_place(struct acpi_desc *d, const struct placement_node *p,
		    uint32_t nnodes, uint32_t *vcpu_domain,
		    struct acpi_mem_range *mem);

/*
 * Builds every table into guest memory and stores the RSDP's address in
 * *rsdp_gpa.  The tables are rebuilt from scratch each call; the area is
 * cleared first.  Returns 0, or -1 with errno EINVAL (a bad description:
 * the message in err says which field; for vmmio: more than
 * ACPI_VMMIO_MAX, a size of 0, a page that ends above 4 GiB, a GSI not
 * below ACPI_IOAPIC_PINS) or E2BIG (the tables do not fit below
 * ACPI_AREA_END), or ENOMEM (guest RAM smaller than 1 MiB).
 */
int acpi_build(struct guest_mem *gm, const struct acpi_desc *d,
	       uint64_t *rsdp_gpa, char *err, size_t errlen);

/*
 * The ACPI checksum rule: the bytes of a table sum to 0 mod 256.  Returns
 * the sum of len bytes (0 for a correct table).
 */
uint8_t acpi_sum(const void *p, size_t len);

/*
 * Scans 0xE0000-0xFFFFF on 16-byte boundaries for a valid RSDP as a
 * guest without a boot-protocol pointer would.  Returns its GPA, or 0.
 */
uint64_t acpi_find_rsdp(const struct guest_mem *gm);

#endif
