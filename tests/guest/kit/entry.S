/*
 * Entries and the way down to CPL3.  Everything here runs at CPL0, which
 * avm-run's host emulates at microseconds an instruction: keep it short
 * and straight.  The GDT, IDT, TSSes and page tables are static data
 * (tables.S), so no CPU fills a table here; it only loads them.
 *
 *   kit_mb_entry32  multiboot v1, 32-bit protected mode, paging off
 *   kit_entry64     ELF e_entry: long mode, low 4 GiB identity-mapped
 *   kit_ap_entry64  where the AP trampoline jumps once in long mode
 *
 * All of them end in kit_cpu_enter, which IRETQs to kit_user_entry at
 * CPL3 with IOPL 3 on the CPU's own stacks.
 */
#include "layout.h"

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00010002	/* memory info, address fields (bit 16) */
#define MSR_EFER 0xc0000080
#define MSR_GS_BASE 0xc0000101
#define EFER_LME 0x100
#define CR4_PAE 0x20
#define CR4_TSD 0x04

	.section .multiboot, "a"
	.balign 4
	.globl kit_mb_header
kit_mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	.long kit_mb_header	/* header_addr */
	.long kit_image_start	/* load_addr */
	.long _edata		/* load_end_addr */
	.long _end		/* bss_end_addr */
	.long kit_mb_entry32	/* entry_addr */

	.section .text.entry, "ax"

/* Multiboot: %eax magic, %ebx info, flat 32-bit segments, no stack. */
	.code32
	.globl kit_mb_entry32
kit_mb_entry32:
	cli
	mov	%eax, %edi
	mov	%ebx, %esi
	lgdt	kit_gdtr		/* the base is below 4 GiB */
	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	$kit_pml4, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	or	$0x80000001, %eax	/* PG, PE */
	mov	%eax, %cr0
	ljmp	$KIT_SEL_KCODE, $1f
	.code64
1:	mov	%edi, %edi		/* upper halves: undefined */
	mov	%esi, %esi

/*
 * ELF entry: %rdi 'AVM1' (or the multiboot magic, from above), %rsi the
 * multiboot info.  Take over GDT, page tables and stack, then become
 * CPU 0.
 */
	.globl kit_entry64
kit_entry64:
	cli
	lgdt	kit_gdtr
	mov	$kit_pml4, %eax
	mov	%rax, %cr3
	mov	%cr4, %rax
	and	$~CR4_TSD, %eax		/* rdtsc at CPL3 */
	mov	%rax, %cr4
	mov	$(kit_kstacks + KIT_KSTACK_SIZE), %esp
	pushq	$KIT_SEL_KCODE
	pushq	$1f
	lretq
1:	mov	%rdi, kit_boot_magic
	mov	%rsi, kit_boot_info
	xor	%edi, %edi
	jmp	kit_cpu_enter

/* An AP, in long mode on the kit's GDT and page tables (trampoline). */
	.globl kit_ap_entry64
kit_ap_entry64:
	mov	kit_ap_index, %edi

/*
 * CPU %edi: data segments, IDT, its TSS and %gs base (its struct
 * kit_cpu), its CPL0 stack, then IRETQ to kit_user_entry(%edi) at CPL3.
 */
kit_cpu_enter:
	mov	$KIT_SEL_KDATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	xor	%eax, %eax
	mov	%eax, %fs
	mov	%eax, %gs
	lidt	kit_idtr
	mov	%edi, %eax
	shl	$4, %eax
	add	$KIT_SEL_TSS0, %eax
	ltr	%ax
	mov	%edi, %eax
	shl	$12, %eax		/* KIT_CPU_SIZE */
	add	$kit_cpus, %eax
	xor	%edx, %edx
	mov	$MSR_GS_BASE, %ecx
	wrmsr
	lea	1(%rdi), %eax
	shl	$13, %eax		/* KIT_KSTACK_SIZE */
	add	$kit_kstacks, %eax
	mov	%eax, %esp
	lea	1(%rdi), %eax
	shl	$15, %eax		/* KIT_USTACK_SIZE */
	add	$(kit_ustacks - 8), %eax	/* as if called */
	pushq	$KIT_SEL_UDATA
	pushq	%rax
	pushq	kit_user_rflags
	pushq	$KIT_SEL_UCODE
	pushq	$kit_user_entry
	iretq

	.section .data
	.globl kit_user_rflags
	.balign 8
kit_user_rflags:
	.quad	KIT_USER_RFLAGS	/* iopl=0 (start.c) clears IOPL */

	.section .text.entry, "ax"
#if KIT_CPU_SIZE != 4096 || KIT_KSTACK_SIZE != 8192 || \
	KIT_USTACK_SIZE != 32768
#error "kit_cpu_enter shifts by these sizes"
#endif

/*
 * AP trampoline, copied to KIT_TRAMPOLINE by the BSP (at CPL3) before
 * it sends SIPI vector KIT_TRAMPOLINE >> 12.  Real mode, CS = 0x0800:
 * straight to long mode (PE and PG in one write), then a far jump into
 * the image.
 */
	.section .rodata.trampoline, "a"
	.code16
	.globl kit_tramp_start, kit_tramp_end
kit_tramp_start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	lgdtl	(tramp_gdtr - kit_tramp_start)
	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	$kit_pml4, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	and	$0x9fffffff, %eax	/* INIT left CD and NW set */
	or	$0x80000001, %eax
	mov	%eax, %cr0
	ljmpl	$KIT_SEL_KCODE, $kit_ap_entry64
	.balign 4
tramp_gdtr:
	.word	KIT_GDT_SIZE - 1
	.long	kit_gdt
kit_tramp_end:
	.code64

	.section .note.GNU-stack, "", @progbits
