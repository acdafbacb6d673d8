/*
 * Interrupt and exception entry, KIT_VEC_SLOT bytes per vector from
 * kit_vectors (the linker script aligns it; tables.S points the IDT
 * here).  They run at CPL0, emulated on avm-run's host, so the common
 * case is a dozen instructions: record the TSC, count, EOI, IRETQ.
 *
 *   0-31 but 2   exception: print, exit KIT_EXIT_EXCEPTION (C, at CPL0)
 *   13 from CPL3 in/out/cli/sti: emulated, where the host drops IOPL
 *   6 from CPL3  int $0x80 (kvm_pvm raises #UD for it): the syscall
 *   0x80         syscall (DPL 3): null, wrmsr, rdmsr, hlt, halt, iopl,
 *                CR8
 *   2            NMI: record and count, no EOI; spins while nmi_hold
 *   0xff         spurious: record and count, no EOI
 *   0x50-0x5f    record and count, no EOI: the vector stays in service
 *                until the program writes EOI (a test of ISR and PPR)
 *   0xf0         PING: record, count, send KIT_VEC_PONG to ping_icr_hi
 *   others       record and count in the CPU's struct kit_cpu, EOI
 *
 * %gs is the CPU's struct kit_cpu at CPL3 and CPL0 alike (no swapgs).
 */
#include "layout.h"

/* Record the TSC, then count: a reader that sees the count sees the TSC. */
.macro	RECORD v
	push	%rax
	push	%rdx
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, %gs:(KIT_CPU_IRQ_TSC + 8 * \v)
	incl	%gs:(KIT_CPU_IRQ_COUNT + 4 * \v)
.endm

.macro	EOI
	mov	$(KIT_LAPIC_BASE + KIT_LAPIC_EOI), %eax
	movl	$0, (%rax)
.endm

	.section .text.vectors, "ax"
	.globl kit_vectors
kit_vectors:
	.set	v, 0
	.rept	256
	.org	kit_vectors + KIT_VEC_SLOT * v
	.if	v == KIT_VEC_NMI
	jmp	kit_nmi_entry
	.elseif	v == KIT_VEC_SPURIOUS || (v >= KIT_VEC_NOEOI && \
		v < KIT_VEC_NOEOI + 16)
	RECORD	v
	pop	%rdx
	pop	%rax
	iretq
	.elseif	v == 13
	jmp	kit_gp_entry
	.elseif	v == 6
	jmp	kit_ud_entry
	.elseif	v == KIT_VEC_SYSCALL
	jmp	kit_syscall_entry
	.elseif	v < 32
	/* error code pushed by the CPU for 8, 10-14, 17, 21, 29, 30 */
	.if	v != 8 && (v < 10 || v > 14) && v != 17 && v != 21 && \
		v != 29 && v != 30
	pushq	$0
	.endif
	pushq	$v
	jmp	kit_exc_entry
	.elseif	v == KIT_VEC_PING
	jmp	kit_ping_entry
	.else
	RECORD	v
	EOI
	pop	%rdx
	pop	%rax
	iretq
	.endif
	.set	v, v + 1
	.endr
	.org	kit_vectors + KIT_VEC_SLOT * 256

	.section .text, "ax"

/* NMI: counted on entry, then held while the CPU's nmi_hold is set, so a
 * test can send a second NMI while this one is being handled. */
kit_nmi_entry:
	RECORD	KIT_VEC_NMI
1:	cmpl	$0, %gs:KIT_CPU_NMI_HOLD
	je	2f
	pause
	jmp	1b
2:	pop	%rdx
	pop	%rax
	iretq

kit_ping_entry:
	RECORD	KIT_VEC_PING
	mov	%gs:KIT_CPU_PING_ICR_HI, %edx
	mov	$(KIT_LAPIC_BASE + KIT_LAPIC_ICR_HI), %eax
	mov	%edx, (%rax)
	mov	$(KIT_LAPIC_BASE + KIT_LAPIC_ICR_LO), %eax
	movl	$(0x4000 | KIT_VEC_PONG), (%rax) /* fixed */
	EOI
	pop	%rdx
	pop	%rax
	iretq

/* Stack: vector, error code, then the CPU's frame (RIP CS RFLAGS RSP SS). */
kit_exc_entry:
	push	%rax
	push	%rbx
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%rbp
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, %rdi
	and	$-16, %rsp
	call	kit_exception		/* does not return */
	ud2

/*
 * #GP.  A host that runs guest CPL3 in hardware ring 3 (kvm_pvm) does not
 * keep IOPL 3, so in/out/cli/sti at CPL3 fault: do them here and step
 * over them.  Decoded: an optional 0x66 prefix, then in/out with imm8 or
 * DX (0xe4-0xe7, 0xec-0xef), cli (0xfa), sti (0xfb).  irq_count[13]
 * counts them.  Anything else is a real #GP.
 */
kit_gp_entry:
	/* The WRMSR of KIT_SYS_WRMSR_SAFE: resume at its fault exit. */
	cmpq	$kit_wrmsr_safe_insn, 8(%rsp)
	jne	1f
	movq	$kit_wrmsr_safe_fault, 8(%rsp)
	add	$8, %rsp		/* error code */
	iretq
1:	cmpq	$kit_cr8_cpl3_insn, 8(%rsp)	/* kit_wrcr8_cpl3() */
	jne	1f
	movq	$kit_cr8_cpl3_fault, 8(%rsp)
	add	$8, %rsp
	iretq
1:	testb	$3, 16(%rsp)		/* CS: from CPL3? */
	jz	.Lgp_fault
	push	%rax
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	/* 0 rdi, 8 rsi, 16 rdx, 24 rcx, 32 rax, 40 err, 48 rip, 64 rflags */
	mov	48(%rsp), %rsi
	xor	%edi, %edi		/* 1: operand-size prefix */
	movzbl	(%rsi), %ecx
	cmp	$0x66, %cl
	jne	1f
	inc	%edi
	inc	%rsi
	movzbl	(%rsi), %ecx
1:	inc	%rsi			/* past the opcode */
	cmp	$0xfa, %cl
	je	.Lgp_cli
	cmp	$0xfb, %cl
	je	.Lgp_sti
	mov	%ecx, %eax
	and	$0xf4, %eax
	cmp	$0xe4, %eax
	jne	.Lgp_real
	movzwl	16(%rsp), %edx		/* port in DX ... */
	test	$0x08, %cl
	jnz	2f
	movzbl	(%rsi), %edx		/* ... or imm8 */
	inc	%rsi
2:	mov	32(%rsp), %rax		/* the value an out writes */
	test	$0x02, %cl
	jnz	.Lgp_out
	test	$0x01, %cl
	jz	3f
	test	%edi, %edi
	jnz	4f
	in	%dx, %eax
	mov	%rax, 32(%rsp)		/* zero-extended, as in does */
	jmp	.Lgp_done
4:	in	%dx, %ax
	mov	%ax, 32(%rsp)
	jmp	.Lgp_done
3:	in	%dx, %al
	mov	%al, 32(%rsp)
	jmp	.Lgp_done
.Lgp_out:
	test	$0x01, %cl
	jz	5f
	test	%edi, %edi
	jnz	6f
	out	%eax, %dx
	jmp	.Lgp_done
6:	out	%ax, %dx
	jmp	.Lgp_done
5:	out	%al, %dx
	jmp	.Lgp_done
.Lgp_cli:
	andl	$~0x200, 64(%rsp)
	jmp	.Lgp_done
.Lgp_sti:
	orl	$0x200, 64(%rsp)
.Lgp_done:
	mov	%rsi, 48(%rsp)		/* RIP past the instruction */
	incl	%gs:(KIT_CPU_IRQ_COUNT + 4 * 13)
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rax
	add	$8, %rsp		/* error code */
	iretq
.Lgp_real:
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rax
.Lgp_fault:
	pushq	$13
	jmp	kit_exc_entry

/*
 * #UD.  kvm_pvm answers int $0x80 at CPL3 with #UD instead of taking the
 * DPL 3 gate; RIP is then at the int: step over it and make the call.
 */
kit_ud_entry:
	testb	$3, 8(%rsp)		/* CS: from CPL3? */
	jz	1f
	push	%rsi
	mov	8(%rsp), %rsi
	cmpw	$(0xcd | KIT_VEC_SYSCALL << 8), (%rsi)
	pop	%rsi
	jne	1f
	addq	$2, (%rsp)
	jmp	kit_syscall_entry
1:	pushq	$0
	pushq	$6
	jmp	kit_exc_entry

/* Syscall: %eax number, %rdi %rsi arguments, result in %rax. */
kit_syscall_entry:
	test	%eax, %eax		/* KIT_SYS_NULL */
	jz	1f
	cmp	$KIT_SYS_WRMSR, %eax
	je	2f
	cmp	$KIT_SYS_RDMSR, %eax
	je	3f
	cmp	$KIT_SYS_HLT, %eax
	je	4f
	cmp	$KIT_SYS_HALT, %eax
	je	5f
	cmp	$KIT_SYS_IOPL, %eax
	je	7f
	cmp	$KIT_SYS_WRMSR_SAFE, %eax
	je	8f
	cmp	$KIT_SYS_RDCR8, %eax
	je	9f
	cmp	$KIT_SYS_WRCR8, %eax
	je	10f
	mov	$-1, %rax
1:	iretq
2:	push	%rcx
	push	%rdx
	mov	%edi, %ecx
	mov	%esi, %eax
	mov	%rsi, %rdx
	shr	$32, %rdx
	wrmsr
	pop	%rdx
	pop	%rcx
	xor	%eax, %eax
	iretq
3:	push	%rcx
	push	%rdx
	mov	%edi, %ecx
	rdmsr
	shl	$32, %rdx
	or	%rdx, %rax
	pop	%rdx
	pop	%rcx
	iretq
/*
 * Wait for one interrupt.  The caller at CPL3 may clear IF, check its
 * condition, then call this: STI's shadow covers the HLT, so no wake-up
 * is lost; IRETQ gives the caller its own IF back.
 */
4:	sti
	hlt
	xor	%eax, %eax
	iretq
5:	cli
6:	hlt
	jmp	6b
/* wrmsr that may raise #GP: kit_gp_entry resumes a fault at
 * kit_wrmsr_safe_fault, which returns 1. */
8:	push	%rcx
	push	%rdx
	mov	%edi, %ecx
	mov	%esi, %eax
	mov	%rsi, %rdx
	shr	$32, %rdx
	.globl	kit_wrmsr_safe_insn
kit_wrmsr_safe_insn:
	wrmsr
	pop	%rdx
	pop	%rcx
	xor	%eax, %eax
	iretq
kit_wrmsr_safe_fault:
	pop	%rdx
	pop	%rcx
	mov	$1, %eax
	iretq
/* CR8, the TPR's priority class (only CPL0 may move to or from it). */
9:	mov	%cr8, %rax
	iretq
10:	mov	%rdi, %cr8
	xor	%eax, %eax
	iretq
/* The caller's IOPL becomes %edi (0-3): a test aid, see start.c. */
7:	andl	$~0x3000, 16(%rsp)
	mov	%edi, %eax
	and	$3, %eax
	shl	$12, %eax
	or	%eax, 16(%rsp)
	xor	%eax, %eax
	iretq

/*
 * int kit_wrcr8_cpl3(uint64_t v): MOV to CR8 at CPL3, which must raise
 * #GP(0); kit_gp_entry resumes it at kit_cr8_cpl3_fault.  Returns 1 when
 * it faulted, 0 when the write went through.
 */
	.globl	kit_wrcr8_cpl3
	.type	kit_wrcr8_cpl3, @function
kit_wrcr8_cpl3:
	.globl	kit_cr8_cpl3_insn
kit_cr8_cpl3_insn:
	mov	%rdi, %cr8
	xor	%eax, %eax
	ret
kit_cr8_cpl3_fault:
	mov	$1, %eax
	ret
	.size	kit_wrcr8_cpl3, . - kit_wrcr8_cpl3

	.section .note.GNU-stack, "", @progbits
