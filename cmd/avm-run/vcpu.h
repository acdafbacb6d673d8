/*
 * One vCPU: its KVM fd and run area, its local APIC, its thread
 * (avm-vcpu-N) and the loop that runs KVM_RUN and handles each exit.
 */
#ifndef AVM_RUN_VCPU_H
#define AVM_RUN_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "arch/x86/lapic.h"

struct vm;
struct entry_state;

/* Where the vCPU is in its life; INIT/SIPI move APs along. */
enum vcpu_mp {
	VCPU_RUNNABLE,
	VCPU_HALTED,	/* HLT: waits for an interrupt */
	VCPU_WAIT_SIPI, /* after INIT, and APs from power-on */
};

/* Exit counters; written by the vCPU thread, read by status. */
struct vcpu_stats {
	_Atomic uint64_t exits;
	_Atomic uint64_t io;
	_Atomic uint64_t mmio;
	_Atomic uint64_t msr;
	_Atomic uint64_t hlt;
	_Atomic uint64_t irq_window;
	_Atomic uint64_t intr;
	_Atomic uint64_t irqs;
	_Atomic uint64_t nmis;
};

struct vcpu {
	struct vm *vm;
	unsigned id; /* global vCPU index = APIC id */
	int fd;
	struct kvm_run *run;
	struct lapic lapic;
	int lapic_ready;
	int timerfd; /* armed at the LAPIC timer deadline */
	int wake_fd; /* eventfd: kicks while halted or parked */
	pthread_t thread;
	int started;
	_Atomic int in_run; /* between the last checks and KVM_RUN's end */
	_Atomic int mp;	    /* enum vcpu_mp */
	struct kvm_sregs reset_sregs; /* the power-on state, for SIPI */
	struct vcpu_stats st;
};

/* Creates vCPU id of vm (KVM_CREATE_VCPU, run area, LAPIC, timerfd).
 * Returns it, or NULL with errno. */
struct vcpu *vcpu_create(struct vm *, unsigned id);

/* Sets CPUID (vm's table) for this vCPU.  Returns 0, or -1 with errno. */
int vcpu_setup_cpuid(struct vcpu *);

/* Loads the boot entry state into the BSP.  Returns 0, or -1 with
 * errno. */
int vcpu_set_entry(struct vcpu *, const struct entry_state *);

/* Starts the thread.  Returns 0, or -1 with errno. */
int vcpu_start(struct vcpu *);

/* Makes the vCPU look at its state soon: out of KVM_RUN or out of a wait.
 * Any thread. */
void vcpu_kick(struct vcpu *);

void vcpu_join(struct vcpu *);
void vcpu_free(struct vcpu *);

/* Installs the signal handler that kicks vCPUs out of KVM_RUN; once per
 * process, before any vCPU starts.  Returns 0, or -1 with errno. */
int vcpu_signals_init(void);

const char *vcpu_mp_name(int mp);

#endif
