/*
 * The run stats file <rundir>/<vm>/run-<node>.stats: avm-run's counters
 * of one node, mapped read-only by avm-top and by the node's pager (which
 * ships it to node 0).  Little-endian host layout; avm-run is the only
 * writer.  Counters are plain u64, ever increasing, never reset (several
 * readers may watch at once); a state word is stored whole; the KVM
 * statistics of a vCPU, which belong together, are written under seq (odd
 * while writing), and a reader copies the file and retries when seq
 * changed or was odd.  A reader checks magic, version
 * and size first; size is the whole file: the header, then vcpus entries
 * of struct run_vcpu_stats.
 *
 * Copies gathered from other nodes (see avm-pager(8)) have the same
 * layout with gathered_ns set: the wall clock when node 0 received them.
 */
#ifndef AVM_RUNSTATS_H
#define AVM_RUNSTATS_H

#include <stddef.h>
#include <stdint.h>

#define RUN_STATS_MAGIC 0x5453524d56415f41ull /* "A_AVMRST" */
#define RUN_STATS_VERSION 1
#define RUN_STATS_VCPUS_MAX 1024

/* The VM, as node 0 sees it (vm_state in avm-run, plus ENDED). */
enum run_vm_state {
	RUN_VM_STARTING,
	RUN_VM_RUNNING,
	RUN_VM_PAUSED,
	RUN_VM_STOPPING,
	RUN_VM_ENDED, /* written last, before the file is removed */
	RUN_VM_STATES,
};

/* What a vCPU thread is doing. */
enum run_vcpu_state {
	RUN_VCPU_RUNNING, /* in KVM_RUN, or handling an exit here */
	RUN_VCPU_HALTED,  /* HLT, waiting for an interrupt */
	RUN_VCPU_PAUSED,  /* parked by pause or a snapshot */
	RUN_VCPU_FAULT,	  /* waiting on a page fault (the pager) */
	RUN_VCPU_IO,	  /* waiting on an I/O forwarded to node 0 */
	RUN_VCPU_STOPPED, /* not started yet, or ended */
	RUN_VCPU_STATES,
};

/* Exits counted by avm-run, by reason. */
enum run_exit {
	RUN_EXIT_IO,
	RUN_EXIT_MMIO,
	RUN_EXIT_MSR, /* RDMSR and WRMSR */
	RUN_EXIT_HLT,
	RUN_EXIT_IRQ_WINDOW,
	RUN_EXIT_INTR, /* KVM_RUN ended by a signal (a kick) */
	RUN_EXIT_SHUTDOWN,
	RUN_EXIT_OTHER,
	RUN_EXITS,
};

/*
 * What KVM counts itself, read from each vCPU's KVM_GET_STATS_FD about
 * once a second.  kvm_have has bit i set when the kernel offers the i-th
 * (by this enum); the others stay 0.
 */
enum run_kvm_stat {
	RUN_KVM_EXITS,		/* "exits" */
	RUN_KVM_IO_EXITS,	/* "io_exits" */
	RUN_KVM_MMIO_EXITS,	/* "mmio_exits" */
	RUN_KVM_HALT_EXITS,	/* "halt_exits" */
	RUN_KVM_HALT_WAIT_NS,	/* "halt_wait_ns" */
	RUN_KVM_IRQ_INJECTIONS, /* "irq_injections" */
	RUN_KVM_NMI_INJECTIONS, /* "nmi_injections" */
	RUN_KVM_SIGNAL_EXITS,	/* "signal_exits" */
	RUN_KVM_IRQ_EXITS,	/* "irq_exits" */
	RUN_KVM_PF_TAKEN,	/* "pf_taken" */
	RUN_KVM_STATS,
};

struct run_vcpu_stats {
	uint32_t index; /* the vCPU's number in the VM */
	uint32_t apic_id;
	uint32_t tid;	/* its thread (as the pager's fault messages name it) */
	uint32_t state; /* enum run_vcpu_state, stored whole */
	uint64_t exits[RUN_EXITS];
	uint64_t irqs_injected;	     /* interrupts delivered into this vCPU */
	uint64_t ipis_local;	     /* IPIs it sent to vCPUs on this node */
	uint64_t ipis_remote;	     /* ... and to vCPUs on other nodes */
	uint64_t io_forwarded;	     /* accesses sent to node 0's devices */
	uint64_t kvm_have;	     /* bit i: kvm[i] is the kernel's */
	uint64_t kvm[RUN_KVM_STATS]; /* under seq */
};

struct run_stats {
	uint64_t magic;
	uint32_t version;
	uint32_t size; /* whole file: sizeof(struct run_stats) + vcpus * ... */
	uint32_t node, nodes;
	uint32_t vcpus;	      /* entries that follow: this node's vCPUs */
	uint32_t vcpus_total; /* in the whole VM */
	uint32_t pid;
	uint32_t state;	      /* enum run_vm_state, stored whole */
	uint64_t mem_bytes;   /* the whole VM's RAM */
	uint64_t started_ns;  /* CLOCK_REALTIME when avm-run started */
	uint64_t gathered_ns; /* 0 here; a gathered copy: when it came */
	uint64_t seq;
	/* devices (node 0; zero elsewhere) */
	uint64_t uart_tx_bytes; /* bytes the guest wrote to the UART */
	uint64_t ioapic_irqs;	/* IOAPIC deliveries */
	uint64_t io_served;	/* forwarded accesses served for others */
	uint64_t reserved[5];
	struct run_vcpu_stats vcpu[];
};
_Static_assert(sizeof(struct run_stats) % 8 == 0, "run stats header");

static inline size_t
run_stats_size(uint32_t vcpus)
{
	return sizeof(struct run_stats) +
	       (size_t)vcpus * sizeof(struct run_vcpu_stats);
}

/*
 * <rundir>/<vm>/run-<node>.stats into buf.  Returns 0, -ENOENT (no run
 * directory), -ENAMETOOLONG, -EINVAL (bad VM name).
 */
int run_stats_path(const char *vm, uint32_t node, char *buf, size_t len);

#endif
