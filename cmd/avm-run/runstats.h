/*
 * avm-run's side of <rundir>/<vm>/run-<node>.stats (the layout and the
 * reader's rules are include/avm/runstats.h): made and mapped at start,
 * ENDED and removed at the end.
 *
 * Counters are bumped in place by the code that sees the event, never
 * through a call: runstats_inc() where one thread writes the counter (a
 * vCPU's own, or one kept under a device's lock), runstats_add() where
 * several may at once (node 0's io_served, from every link's thread).
 * Neither makes a system call or takes a lock.
 *
 * A state word is one aligned u32 stored whole (runstats_vcpu_state,
 * runstats_vm_state): no seq, no lock, so a vCPU halting and waking
 * takes no lock shared with the others.  KVM's values of a vCPU, several
 * words that belong together, change between runstats_begin() and
 * runstats_end(), which any thread may call: a mutex orders the writers
 * of seq; that is the once-a-second KVM copy, never an exit.
 */
#ifndef AVM_RUN_RUNSTATS_H
#define AVM_RUN_RUNSTATS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "avm/exit.h"
#include "avm/runstats.h"

struct runstats {
	struct run_stats *rs; /* the shared mapping; NULL: not open */
	size_t size;
	char path[300];
	pthread_mutex_t lock; /* writers of seq */
};

/* What the header says of this node. */
struct runstats_id {
	uint32_t node, nodes;
	uint32_t vcpus;	      /* on this node */
	uint32_t vcpus_total; /* in the VM */
	uint32_t vcpu_first;  /* this node's first vCPU: entry 0's index */
	uint64_t mem_bytes;
};

/*
 * Creates path (never through a symbolic link, truncating a stale one),
 * allocates its blocks and maps it: the header filled in (pid, started_ns
 * from CLOCK_REALTIME, state STARTING), an entry per vCPU of this node
 * (index and APIC id vcpu_first + i, state STOPPED), the magic written
 * last.  Returns AVM_EX_OK, or after a message 73 (cannot create or size
 * the file: a full disk, a link in its place, a bad folder), 71 (cannot
 * map it) or 64 (more vCPUs than the format holds).
 */
int runstats_open(struct runstats *, const char *path,
		  const struct runstats_id *);
/* Writes state ENDED, unmaps and removes the file.  Nothing when it is
 * not open. */
void runstats_close(struct runstats *);

/* Entry i (0..vcpus-1) of this node, or NULL. */
struct run_vcpu_stats *runstats_vcpu(struct runstats *, unsigned i);

/* seq odd; the writes; seq even.  Nothing when the file is not open. */
void runstats_begin(struct runstats *);
void runstats_end(struct runstats *);

/* A state word: one atomic store. */
void runstats_vm_state(struct runstats *, enum run_vm_state);
void runstats_vcpu_state(struct runstats *, struct run_vcpu_stats *,
			 enum run_vcpu_state);
/* KVM's values of one vCPU: have (bit i: val[i] is the kernel's) and the
 * values, together under seq. */
void runstats_kvm(struct runstats *, struct run_vcpu_stats *, uint64_t have,
		  const uint64_t val[RUN_KVM_STATS]);

/* The counter of a KVM exit reason (KVM_EXIT_*). */
enum run_exit runstats_exit_of(uint32_t kvm_exit_reason);

/* One writer: a load and a store, no locked instruction; a reader never
 * sees a torn value. */
static inline void
runstats_inc(uint64_t *c)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
}

/* Several writers at once. */
static inline void
runstats_add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* A counter read by another thread of avm-run (status). */
static inline uint64_t
runstats_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#endif
