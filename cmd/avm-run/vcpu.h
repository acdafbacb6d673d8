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
#include "avm/runstats.h"
#include "kvmstats.h"

struct vm;
struct entry_state;

/* Where the vCPU is in its life; INIT/SIPI move APs along. */
enum vcpu_mp {
	VCPU_RUNNABLE,
	VCPU_HALTED,	/* HLT: waits for an interrupt */
	VCPU_WAIT_SIPI, /* after INIT, and APs from power-on */
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
	/* Its entry in the run stats file: the counters, bumped by this
	 * vCPU's thread alone (runstats.h), read by status. */
	struct run_vcpu_stats *st;
	int run_state;		/* enum run_vcpu_state last written there */
	struct kvmstats kstats; /* KVM's own, copied by vcpu_stats_sample */
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

/* The vCPU's state in the stats file, written when it changes.  Only
 * its own thread calls it. */
void vcpu_set_run_state(struct vcpu *, enum run_vcpu_state);

/* Copies KVM's statistics of the vCPU (its stats fd) into the stats
 * file, under seq.  Any one thread other than the vCPU's: vm_run's, about
 * once a second.  Nothing when KVM has no stats fd. */
void vcpu_stats_sample(struct vcpu *);

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
