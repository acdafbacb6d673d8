/*
 * vm_status (vm.h): what run.sock's "status" answers, as one mapping for
 * the emitter (text or JSON from the same code).  The vCPUs' counters are
 * those of the run stats file (runstats.h), read in place.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "avm/emit.h"
#include "avm/placement.h"
#include "avm/util.h"

#include "runstats.h"
#include "vcpu.h"
#include "vm.h"

void
vm_status(struct vm *vm, struct emit *e)
{
	uint64_t tot[5] = { 0 }, clock_ns, realtime_ns;
	unsigned i, parked;

	pthread_mutex_lock(&vm->lock);
	parked = vm->nparked;
	pthread_mutex_unlock(&vm->lock);
	emit_map_begin(e);
	emit_kv_str(e, "name", vm->opts.name);
	emit_kv_str(e, "state", vm_state_name(vm_state(vm)));
	emit_kv_int(e, "pid", getpid());
	emit_kv_uint(e, "uptime_ns", now_ns() - vm->start_ns);
	emit_kv_uint(e, "node", vm->node);
	emit_kv_uint(e, "nodes", vm->nnodes);
	emit_kv_uint(e, "vcpus", vm->nvcpus);
	emit_kv_uint(e, "vcpus_parked", parked);
	emit_kv_uint(e, "memory_bytes", vm->ram_size);
	emit_kv_str(e, "kernel", vm->opts.kernel);
	emit_kv_uint(e, "tsc_khz", vm->tsc_khz);
	if (vm_clock_read(vm, &clock_ns, &realtime_ns) == 0) {
		emit_kv_uint(e, "kvmclock_ns", clock_ns);
		emit_kv_uint(e, "kvmclock_realtime_ns", realtime_ns);
	}
	emit_kv_int(e, "pager_pid", vm->pager_pid);
	if (vm->nnodes > 1) {
		/* Where each vCPU runs: the placement of the whole VM. */
		emit_kv_list_begin(e, "node_list");
		for (i = 0; i < vm->nnodes; i++) {
			unsigned first = vm->place[i].vcpu_first;
			unsigned last = first + vm->place[i].vcpu_count - 1;

			emit_map_begin(e);
			emit_kv_uint(e, "node", i);
			emit_kv_int(e, "pid",
				    i == vm->node   ? getpid()
				    : vm->node_pids ? vm->node_pids[i]
						    : 0);
			emit_kv_uint(e, "vcpu_first", first);
			emit_kv_uint(e, "vcpu_last", last);
			emit_map_end(e);
		}
		emit_list_end(e);
	}
	emit_kv_list_begin(e, "vcpu");
	for (i = 0; vm->vcpus && i < vm->nvcpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		uint64_t x[5] = { 0 };
		int k;

		if (!v)
			continue; /* still being created */
		/* Every exit by its reason: the sum is all of them. */
		for (k = 0; k < RUN_EXITS; k++)
			x[0] += runstats_get(&v->st->exits[k]);
		x[1] = runstats_get(&v->st->exits[RUN_EXIT_IO]);
		x[2] = runstats_get(&v->st->exits[RUN_EXIT_MMIO]);
		x[3] = runstats_get(&v->st->exits[RUN_EXIT_MSR]);
		x[4] = runstats_get(&v->st->irqs_injected);
		for (k = 0; k < 5; k++)
			tot[k] += x[k];
		emit_map_begin(e);
		emit_kv_uint(e, "id", v->id);
		emit_kv_uint(e, "node", vm->node);
		emit_kv_str(e, "state", vcpu_mp_name(atomic_load(&v->mp)));
		emit_kv_uint(e, "exits", x[0]);
		emit_kv_uint(e, "io_exits", x[1]);
		emit_kv_uint(e, "mmio_exits", x[2]);
		emit_kv_uint(e, "msr_exits", x[3]);
		emit_kv_uint(e, "hlt_exits",
			     runstats_get(&v->st->exits[RUN_EXIT_HLT]));
		emit_kv_uint(e, "irqs_injected", x[4]);
		emit_map_end(e);
	}
	emit_list_end(e);
	emit_kv_map_begin(e, "totals");
	emit_kv_uint(e, "exits", tot[0]);
	emit_kv_uint(e, "io_exits", tot[1]);
	emit_kv_uint(e, "mmio_exits", tot[2]);
	emit_kv_uint(e, "msr_exits", tot[3]);
	emit_kv_uint(e, "irqs_injected", tot[4]);
	emit_map_end(e);
	emit_map_end(e);
}
