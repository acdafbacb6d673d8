/*
 * Tiny boot-protocol guests for avm-run's loaders, one source for four
 * images (mkimages.sh builds them; nothing binary is kept in git):
 *
 *   FMT_MB_AOUT  multiboot v1 flat binary, placed by the header's address
 *                fields (the "a.out kludge")
 *   FMT_MB_ELF   ELF32 with a multiboot v1 header, placed by its PT_LOADs
 *   FMT_PVH      ELF64 with the Xen PVH entry note, 32-bit entry
 *   FMT_ELF64    plain ELF64 entered in long mode (RDI 'AVM1', RSI the
 *                multiboot info)
 *
 * Each checks the magic of its protocol, prints
 *   AVM-BOOT-OK <format> cmdline=[<the command line>]
 * (or AVM-BOOT-BAD-MAGIC <format>) on COM1, and powers off through the
 * ACPI PM1a control port with SLP_TYP 5 and SLP_EN, as acpi.h defines.
 * Everything runs at CPL0, which this platform's KVM emulates slowly:
 * a few hundred instructions, no loops other than the output.
 */
#define COM1 0x3F8
#define COM1_LSR (COM1 + 5)
#define PM1A_CNT 0x604
#define S5_SLEEP ((5 << 10) | (1 << 13))

#define MB_MAGIC 0x1BADB002
#define MB_LOADER_MAGIC 0x2BADB002
#define PVH_MAGIC 0x336EC578
#define AVM_ELF_MAGIC 0x41564D31

#if defined(FMT_MB_AOUT)
#define MB_FLAGS 0x00010002
#define NAME "multiboot-aout"
#elif defined(FMT_MB_ELF)
#define MB_FLAGS 0x00000002
#define NAME "multiboot-elf"
#elif defined(FMT_PVH)
#define NAME "pvh"
#elif defined(FMT_ELF64)
#define NAME "elf64"
#else
#error "define one of FMT_MB_AOUT, FMT_MB_ELF, FMT_PVH, FMT_ELF64"
#endif

	.text
	.globl _start
_start:
#ifdef MB_FLAGS
	jmp	entry
	.balign 4
mb_header:
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)
#ifdef FMT_MB_AOUT
	.long	mb_header	/* header_addr */
	.long	_start		/* load_addr */
	.long	_edata		/* load_end_addr */
	.long	_end		/* bss_end_addr */
	.long	entry		/* entry_addr */
#endif
#endif

#ifndef FMT_ELF64
/* 32-bit protected mode, paging off; %eax/%ebx as the protocol says. */
	.code32
	.globl entry
entry:
	cli
	mov	$stack_top, %esp
#ifdef FMT_PVH
	cmpl	$PVH_MAGIC, (%ebx)
	jne	bad
	mov	24(%ebx), %ebp		/* start_info.cmdline_paddr */
#else
	cmp	$MB_LOADER_MAGIC, %eax
	jne	bad
	mov	16(%ebx), %ebp		/* multiboot info.cmdline */
#endif
	mov	$msg_ok, %esi
	call	puts
	mov	%ebp, %esi
	call	puts
	mov	$msg_end, %esi
	call	puts
	jmp	off
bad:
	mov	$msg_bad, %esi
	call	puts
off:
	mov	$PM1A_CNT, %dx
	mov	$S5_SLEEP, %ax
	out	%ax, %dx
1:	hlt
	jmp	1b

/* Prints the NUL-terminated string at %esi on COM1. */
puts:
	movzbl	(%esi), %ecx
	test	%ecx, %ecx
	jz	2f
	mov	$COM1_LSR, %dx
	mov	$1000, %edi
1:	in	%dx, %al		/* wait (boundedly) for THR empty */
	test	$0x20, %al
	jnz	3f
	dec	%edi
	jnz	1b
3:	mov	$COM1, %dx
	mov	%cl, %al
	out	%al, %dx
	inc	%esi
	jmp	puts
2:	ret

#else
/* 64-bit long mode, the low 4 GiB identity-mapped. */
	.code64
	.globl entry
entry:
	cli
	lea	stack_top(%rip), %rsp
	cmp	$AVM_ELF_MAGIC, %rdi
	jne	bad
	mov	16(%rsi), %ebp		/* multiboot info.cmdline */
	lea	msg_ok(%rip), %rsi
	call	puts
	mov	%rbp, %rsi
	call	puts
	lea	msg_end(%rip), %rsi
	call	puts
	jmp	off
bad:
	lea	msg_bad(%rip), %rsi
	call	puts
off:
	mov	$PM1A_CNT, %dx
	mov	$S5_SLEEP, %ax
	out	%ax, %dx
1:	hlt
	jmp	1b

puts:
	movzbl	(%rsi), %ecx
	test	%ecx, %ecx
	jz	2f
	mov	$COM1_LSR, %dx
	mov	$1000, %edi
1:	in	%dx, %al
	test	$0x20, %al
	jnz	3f
	dec	%edi
	jnz	1b
3:	mov	$COM1, %dx
	mov	%cl, %al
	out	%al, %dx
	inc	%rsi
	jmp	puts
2:	ret
#endif

	.section .rodata
msg_ok:
	.asciz	"AVM-BOOT-OK " NAME " cmdline=["
msg_end:
	.asciz	"]\n"
msg_bad:
	.asciz	"AVM-BOOT-BAD-MAGIC " NAME "\n"

#ifdef FMT_PVH
/* XEN_ELFNOTE_PHYS32_ENTRY: name "Xen", type 18, the 32-bit entry. */
	.section .note.Xen, "a", @note
	.balign 4
	.long	4
	.long	4
	.long	18
	.asciz	"Xen"
	.balign 4
	.long	entry
	.balign 4
#endif

	.bss
	.balign 16
	.skip	4096
stack_top:

	.section .note.GNU-stack, "", @progbits
