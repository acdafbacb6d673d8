/*
 * avm-runstats FILE: reads a run stats file (<rundir>/<vm>/run-<node>.stats)
 * the way every reader must (lib/stats.c: checked, consistent under seq)
 * and prints it as flat key=value lines, so tests can grep one value.
 * States print by name; a vCPU's exits by reason and their sum; KVM's
 * values only where kvm_have says the kernel gave them.
 *
 * Exit: 0 read, 64 usage, 66 no such file, 65 not a run stats file of
 * this version (the reason on stderr), 75 the file is being made (no
 * magic yet) or the writer kept it busy, 1 other errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avm/exit.h"
#include "avm/stats.h"

static void
dump(const struct run_stats *rs)
{
	printf("version=%u\n", rs->version);
	printf("size=%u\n", rs->size);
	printf("node=%u\n", rs->node);
	printf("nodes=%u\n", rs->nodes);
	printf("vcpus=%u\n", rs->vcpus);
	printf("vcpus_total=%u\n", rs->vcpus_total);
	printf("pid=%u\n", rs->pid);
	printf("state=%s\n",
	       run_vm_state_name(rs->state)); /* checked by the reader */
	printf("mem_bytes=%" PRIu64 "\n", rs->mem_bytes);
	printf("started_ns=%" PRIu64 "\n", rs->started_ns);
	printf("gathered_ns=%" PRIu64 "\n", rs->gathered_ns);
	printf("seq=%" PRIu64 "\n", rs->seq);
	printf("uart_tx_bytes=%" PRIu64 "\n", rs->uart_tx_bytes);
	printf("ioapic_irqs=%" PRIu64 "\n", rs->ioapic_irqs);
	printf("io_served=%" PRIu64 "\n", rs->io_served);
	for (uint32_t i = 0; i < rs->vcpus; i++) {
		const struct run_vcpu_stats *v = &rs->vcpu[i];
		uint64_t sum = 0;

		printf("vcpu.%u.index=%u\n", i, v->index);
		printf("vcpu.%u.apic_id=%u\n", i, v->apic_id);
		printf("vcpu.%u.tid=%u\n", i, v->tid);
		printf("vcpu.%u.state=%s\n", i, run_vcpu_state_name(v->state));
		for (int k = 0; k < RUN_EXITS; k++) {
			printf("vcpu.%u.exits.%s=%" PRIu64 "\n", i,
			       run_exit_name(k), v->exits[k]);
			sum += v->exits[k];
		}
		printf("vcpu.%u.exits=%" PRIu64 "\n", i, sum);
		printf("vcpu.%u.irqs_injected=%" PRIu64 "\n", i,
		       v->irqs_injected);
		printf("vcpu.%u.ipis_local=%" PRIu64 "\n", i, v->ipis_local);
		printf("vcpu.%u.ipis_remote=%" PRIu64 "\n", i, v->ipis_remote);
		printf("vcpu.%u.io_forwarded=%" PRIu64 "\n", i,
		       v->io_forwarded);
		printf("vcpu.%u.kvm_have=%#" PRIx64 "\n", i, v->kvm_have);
		for (int k = 0; k < RUN_KVM_STATS; k++)
			if (v->kvm_have & (1ull << k))
				printf("vcpu.%u.kvm.%s=%" PRIu64 "\n", i,
				       run_kvm_stat_name(k), v->kvm[k]);
	}
}

int
main(int argc, char **argv)
{
	struct run_stats *rs;
	char why[256] = "";
	int r;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: avm-runstats FILE\n");
		return AVM_EX_USAGE;
	}
	r = stats_read_run(argv[1], &rs, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "avm-runstats: '%s': %s\n", argv[1],
			r == -EPROTO ? why : strerror(-r));
		return r == -ENOENT   ? AVM_EX_NOINPUT
		       : r == -EPROTO ? AVM_EX_DATAERR
		       : r == -EAGAIN ? AVM_EX_TEMPFAIL
				      : AVM_EX_FAIL;
	}
	dump(rs);
	free(rs);
	return 0;
}
