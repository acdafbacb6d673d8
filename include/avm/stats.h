/*
 * Reading the stats files (include/avm/pager.h, include/avm/runstats.h)
 * the way every reader must: no mapping (a truncated file is an error,
 * never SIGBUS), magic, version and size checked, and a copy consistent
 * under the writer's seq.  avm-top reads them; node 0's pager ships them.
 */
#ifndef AVM_STATS_H
#define AVM_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "avm/pager.h"
#include "avm/runstats.h"

/*
 * A consistent copy of the pager stats file at path into *out.  Returns
 * 0; -ENOENT and the other errnos of open and read; -EPROTO when the file
 * is not a pager stats file of this version (short, bad magic, other
 * version or size: why says which); -EAGAIN when the file is being
 * created (its magic, written last, is not there yet: empty or zero) or
 * the writer kept it busy through every retry.
 */
int stats_read_pager(const char *path, struct pager_stats *out, char *why,
		     size_t whylen);

/*
 * The same for a run stats file; *out is malloc'ed (the vCPU entries
 * follow the header), the caller frees it.
 */
int stats_read_run(const char *path, struct run_stats **out, char *why,
		   size_t whylen);

/*
 * Checks a run stats image already in memory (len bytes): magic, version,
 * size == len, vcpus within RUN_STATS_VCPUS_MAX and matching size.
 * Returns 0 or -EPROTO with why.
 */
int stats_check_run(const struct run_stats *rs, size_t len, char *why,
		    size_t whylen);
/* The same for a pager stats image of len bytes. */
int stats_check_pager(const struct pager_stats *ps, size_t len, char *why,
		      size_t whylen);

/*
 * The names of the states, exit reasons, KVM statistics and fault kinds,
 * as every tool prints them ("?" for a value out of range).
 */
const char *run_vm_state_name(uint32_t s);
const char *run_vcpu_state_name(uint32_t s);
const char *run_exit_name(uint32_t k);
/* KVM's own name of the statistic ("halt_wait_ns"). */
const char *run_kvm_stat_name(uint32_t k);
const char *pager_fault_kind_name(uint32_t k);

/* <rundir>/<vm>/gathered/<leaf> into buf (0, -ENOENT, -ENAMETOOLONG,
 * -EINVAL as pager_stats_path). */
int stats_gathered_path(const char *vm, const char *leaf, char *buf,
			size_t len);

#endif
