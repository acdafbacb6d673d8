/*
 * The CPU tables, built whole at assembly and link time so that no CPU
 * spends emulated CPL0 instructions filling them: page tables, GDT with
 * one TSS descriptor per CPU, the TSSes (RSP0 = that CPU's CPL0 stack),
 * and the IDT.  Descriptor fields that split an address come from
 * symbols the linker script computes (kit.ld: kit_tss_b15 and friends).
 */
#include "layout.h"

/*
 * Identity map of the low 4 GiB in 2 MiB pages, all of it user
 * accessible (P RW US PS); 0xfe000000 and up, where the IOAPIC and the
 * local APIC live, uncached (PWT PCD).
 */
	.section .data.pagetables, "aw"
	.balign 4096
	.globl kit_pml4
kit_pml4:
	.quad	kit_pdpt + 7
	.fill	511, 8, 0
kit_pdpt:
	.quad	kit_pd + 0x0000 + 7
	.quad	kit_pd + 0x1000 + 7
	.quad	kit_pd + 0x2000 + 7
	.quad	kit_pd + 0x3000 + 7
	.fill	508, 8, 0
kit_pd:
	.set	addr, 0
	.rept	2048
	.if	addr >= 0xfe000000
	.quad	addr + 0x9f
	.else
	.quad	addr + 0x87
	.endif
	.set	addr, addr + 0x200000
	.endr

/*
 * TSSes, KIT_TSS_STRIDE apart: 104 bytes, then an I/O permission bitmap
 * that allows ports 0-0x7ff (and its 0xff terminator).  IOPL 3 would be
 * enough on hardware, but kvm_pvm runs CPL3 with IOPL 0 and emulates a
 * faulting in/out: with the bitmap its emulator lets the access through
 * to the VMM instead of reflecting #GP to our (emulated, slow) CPL0.
 */
	.section .data.tss, "aw"
	.globl kit_tss, kit_tss_end
kit_tss:
	.set	i, 0
	.rept	KIT_MAX_CPUS
	.long	0
	.quad	kit_kstacks + KIT_KSTACK_SIZE * (i + 1)	/* RSP0 */
	.fill	90, 1, 0
	.word	104		/* I/O map base */
	.fill	256, 1, 0	/* ports 0-0x7ff allowed */
	.byte	0xff
	.fill	KIT_TSS_STRIDE - 104 - 257, 1, 0
	.set	i, i + 1
	.endr
kit_tss_end:

	.section .data.gdt, "aw"
	.balign 16
	.globl kit_gdt, kit_gdt_end, kit_gdtr, kit_idtr
kit_gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x08 kernel code, 64-bit */
	.quad	0x00cf92000000ffff	/* 0x10 kernel data */
	.quad	0x00affa000000ffff	/* 0x18 user code, 64-bit */
	.quad	0x00cff2000000ffff	/* 0x20 user data */
	.set	i, 0
	.rept	KIT_MAX_CPUS		/* 0x28 + 16 i: TSS of CPU i */
	.word	104 + 256	/* limit: the bitmap's terminator */
	.word	kit_tss_b15 + KIT_TSS_STRIDE * i
	.byte	kit_tss_b23
	.byte	0x89			/* present, 64-bit TSS */
	.byte	0
	.byte	kit_tss_b31
	.long	0
	.long	0
	.set	i, i + 1
	.endr
kit_gdt_end:
	.if	kit_gdt_end - kit_gdt != KIT_GDT_SIZE
	.error	"KIT_GDT_SIZE is wrong"
	.endif

	.balign 16
kit_gdtr:
	.word	KIT_GDT_SIZE - 1
	.quad	kit_gdt

/*
 * IDT: vector v goes to kit_vectors + KIT_VEC_SLOT * v (vectors.S).
 * Interrupt gates, DPL 0, except the syscall vector (DPL 3).
 */
	.balign 16
kit_idt:
	.set	v, 0
	.rept	256
	.word	kit_vec_b15 + KIT_VEC_SLOT * v
	.word	KIT_SEL_KCODE
	.byte	0
	.if	v == KIT_VEC_SYSCALL
	.byte	0xee
	.else
	.byte	0x8e
	.endif
	.word	kit_vec_b31
	.long	0
	.long	0
	.set	v, v + 1
	.endr

	.balign 16
kit_idtr:
	.word	256 * 16 - 1
	.quad	kit_idt

	.section .note.GNU-stack, "", @progbits
