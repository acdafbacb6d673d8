/*
 * Constants the kit's assembly and C share: selectors, vectors, per-CPU
 * offsets, syscall numbers, ports and exit statuses.  Only #defines here,
 * so the .S files can include it; tests/guest/README.md documents them.
 */
#ifndef KIT_LAYOUT_H
#define KIT_LAYOUT_H

/* Per-CPU tables are static (built at assembly time), sized for this. */
#define KIT_MAX_CPUS 64
#define KIT_KSTACK_SIZE 8192  /* CPL0 stack: interrupts, syscalls */
#define KIT_USTACK_SIZE 32768 /* CPL3 stack: the program */
#define KIT_TSS_STRIDE 512    /* TSS, I/O bitmap of ports 0-0x7ff, pad */
#define KIT_VEC_SLOT 64	      /* bytes of handler code per vector */

/* GDT selectors; the TSS of CPU i is KIT_SEL_TSS0 + 16 * i. */
#define KIT_SEL_KCODE 0x08
#define KIT_SEL_KDATA 0x10
#define KIT_SEL_UCODE 0x1b
#define KIT_SEL_UDATA 0x23
#define KIT_SEL_TSS0 0x28
#define KIT_GDT_SIZE (KIT_SEL_TSS0 + 16 * KIT_MAX_CPUS)

/* RFLAGS of every CPU when it first reaches CPL3: IOPL 3, IF 0. */
#define KIT_USER_RFLAGS 0x3002

/* struct kit_cpu: one 4 KiB page per CPU, %gs points at it. */
#define KIT_CPU_SIZE 4096
#define KIT_CPU_SELF 0
#define KIT_CPU_INDEX 8
#define KIT_CPU_PING_ICR_HI 16
#define KIT_CPU_NMI_HOLD 28 /* the NMI handler spins while nonzero */
#define KIT_CPU_IRQ_COUNT 64
#define KIT_CPU_IRQ_TSC (64 + 4 * 256)

/* Where the AP start-up code is copied (SIPI vector 0x08). */
#define KIT_TRAMPOLINE 0x8000

/* xAPIC registers, at the architectural default address. */
#define KIT_LAPIC_BASE 0xfee00000
#define KIT_LAPIC_EOI 0xb0
#define KIT_LAPIC_ICR_LO 0x300
#define KIT_LAPIC_ICR_HI 0x310

/* Vectors.  0-31 are exceptions (a failure, except 2, NMI, counted). */
#define KIT_VEC_NMI 2
#define KIT_VEC_TIMER 0x30
#define KIT_VEC_UART 0x34
#define KIT_VEC_TEST 0x40  /* 0x40-0x4f: free for programs */
#define KIT_VEC_NOEOI 0x50 /* 0x50-0x5f: the same, but the program EOIs */
#define KIT_VEC_SYSCALL 0x80
#define KIT_VEC_PING 0xf0 /* answers with KIT_VEC_PONG to ping_icr_hi */
#define KIT_VEC_PONG 0xf1
#define KIT_VEC_SPURIOUS 0xff

/* int $0x80: number in %eax, arguments in %rdi, %rsi; result in %rax. */
#define KIT_SYS_NULL 0
#define KIT_SYS_WRMSR 1
#define KIT_SYS_RDMSR 2
#define KIT_SYS_HLT 3
#define KIT_SYS_HALT 4
#define KIT_SYS_IOPL 5
#define KIT_SYS_WRMSR_SAFE 6 /* wrmsr; 1 if it raised #GP, else 0 */
#define KIT_SYS_RDCR8 7
#define KIT_SYS_WRCR8 8

/* Ports. */
#define KIT_PORT_COM1 0x3f8
#define KIT_PORT_EXIT 0xf4 /* QEMU isa-debug-exit, avm-run debug-exit */
#define KIT_PORT_NOP 0x80  /* the bench's exit round trip */

/* Exit statuses (the byte written to KIT_PORT_EXIT). */
#define KIT_EXIT_PASS 0
#define KIT_EXIT_FAIL 1
#define KIT_EXIT_TIMEOUT 2
#define KIT_EXIT_EXCEPTION 3
#define KIT_EXIT_SETUP 4

/* Boot magics in %rdi at the 64-bit entry. */
#define KIT_MAGIC_AVM 0x41564d31
#define KIT_MAGIC_MULTIBOOT 0x2badb002

#endif
