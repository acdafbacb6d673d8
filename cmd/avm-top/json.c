/*
 * A frame as one NDJSON document: snake_case keys with their unit, raw
 * counters and the rates between this frame and the one before both
 * present (a script can check one against the other: a rate is the
 * counter's change over interval_s).
 */
#include <errno.h>
#include <stdio.h>

#include "avm/emit.h"
#include "avm/stats.h"
#include "top.h"

static void
kv_u(struct emit *e, const char *k, uint64_t v)
{
	emit_key(e, k);
	emit_uint(e, v);
}

static void
kv_d(struct emit *e, const char *k, double v)
{
	emit_key(e, k);
	emit_double(e, v);
}

static void
kv_s(struct emit *e, const char *k, const char *v)
{
	emit_key(e, k);
	emit_str(e, v);
}

static void
node_json(struct emit *e, const struct node_row *r)
{
	emit_map_begin(e);
	kv_u(e, "node", r->node);
	kv_s(e, "source", r->src == SRC_GATHERED ? "gathered" : "local");
	emit_key(e, "alive");
	emit_bool(e, r->alive);
	kv_d(e, "age_s", r->age);
	/* This node's rates are over interval_s up to sampled_ns (a
	 * gathered node's: between the two copies node 0 got last). */
	kv_u(e, "sampled_ns", r->t_ns);
	kv_d(e, "interval_s", r->interval);
	kv_u(e, "pid", r->pid);
	kv_u(e, "vcpus", r->vcpus);
	kv_u(e, "exits", r->exits);
	kv_d(e, "exits_per_s", r->exits_s);
	emit_key(e, "faults");
	emit_map_begin(e);
	for (int k = 0; k < PAGER_F_KINDS; k++)
		kv_u(e, pager_fault_kind_name(k), r->faults[k]);
	emit_map_end(e);
	kv_u(e, "faults_total", r->faults_total);
	kv_d(e, "faults_per_s", r->faults_s);
	kv_u(e, "faults_in_flight", r->faults_in_flight);
	kv_u(e, "fault_latency_count", r->lat_count);
	kv_u(e, "fault_latency_sum_ns", r->lat_sum_ns);
	kv_d(e, "fault_latency_avg_ns", r->lat_avg_ns);
	/* Bucket i counts latencies in [2^i, 2^(i+1)) ns. */
	emit_key(e, "fault_latency_log2_ns");
	emit_list_begin(e);
	for (int k = 0; k < PAGER_STATS_HIST; k++)
		emit_uint(e, r->lat_hist[k]);
	emit_list_end(e);
	kv_u(e, "pages_homed", r->home_pages);
	kv_u(e, "pages_owned", r->pages_owned);
	kv_u(e, "pages_shared", r->pages_shared);
	kv_u(e, "requests_served", r->requests_served);
	kv_u(e, "invals_sent", r->invals_sent);
	kv_u(e, "invals_received", r->invals_received);
	kv_d(e, "invals_sent_per_s", r->invals_s);
	kv_u(e, "pages_sent", r->pages_sent);
	kv_u(e, "pages_received", r->pages_received);
	kv_u(e, "bytes_sent", r->bytes_sent);
	kv_u(e, "bytes_received", r->bytes_received);
	kv_d(e, "bytes_sent_per_s", r->tx_s);
	kv_d(e, "bytes_received_per_s", r->rx_s);
	/* A VM restored from a snapshot: its home pages that start from the
	 * snapshot, and those loaded so far on a fault and in the
	 * background. */
	kv_u(e, "restore_pages", r->restore_pages);
	kv_u(e, "restored_fault", r->restored_fault);
	kv_u(e, "restored_background", r->restored_background);
	/* Home pages a first touch mapped with its 2 MiB block; read-ahead
	 * copies sent as home, installed here, dropped here (held already);
	 * snapshot parts written, pages fetched back for them and requests
	 * held back meanwhile. */
	kv_u(e, "zero_block_pages", r->zero_block_pages);
	kv_u(e, "prefetch_sent", r->prefetch_sent);
	kv_u(e, "prefetch_installed", r->prefetch_installed);
	kv_u(e, "prefetch_dropped", r->prefetch_dropped);
	kv_u(e, "save_parts", r->save_parts);
	kv_u(e, "save_fetched", r->save_fetched);
	kv_u(e, "save_held", r->save_held);
	emit_map_end(e);
}

static void
vcpu_json(struct emit *e, const struct vcpu_row *r)
{
	emit_map_begin(e);
	kv_u(e, "vcpu", r->index);
	kv_u(e, "node", r->node);
	kv_s(e, "state", run_vcpu_state_name(r->state));
	kv_u(e, "tid", r->tid);
	kv_u(e, "apic_id", r->apic_id);
	kv_u(e, "exits", r->exits);
	kv_d(e, "exits_per_s", r->exits_s);
	emit_key(e, "exits_by_reason");
	emit_map_begin(e);
	for (int k = 0; k < RUN_EXITS; k++)
		kv_u(e, run_exit_name(k), r->exits_by[k]);
	emit_map_end(e);
	kv_u(e, "irqs_injected", r->irqs);
	kv_d(e, "irqs_injected_per_s", r->irqs_s);
	kv_u(e, "ipis_local", r->ipis_local);
	kv_u(e, "ipis_remote", r->ipis_remote);
	kv_u(e, "io_forwarded", r->io_forwarded);
	/* What KVM counts itself, as far as this kernel offers it. */
	emit_key(e, "kvm");
	emit_map_begin(e);
	for (int k = 0; k < RUN_KVM_STATS; k++)
		if (r->kvm_have & (1ull << k))
			kv_u(e, run_kvm_stat_name(k), r->kvm[k]);
	emit_map_end(e);
	emit_map_end(e);
}

static void
hot_json(struct emit *e, const struct hot_row *r)
{
	emit_map_begin(e);
	emit_key(e, "gpa");
	emit_strf(e, "0x%llx", (unsigned long long)r->gpa);
	kv_u(e, "page", r->page);
	kv_u(e, "home", r->home);
	kv_u(e, "transfers", r->transfers);
	kv_d(e, "transfers_per_s", r->transfers_s);
	emit_key(e, "nodes");
	emit_list_begin(e);
	for (int i = 0; i < 64; i++)
		if (r->nodes & (1ull << i))
			emit_uint(e, (uint64_t)i);
	emit_list_end(e);
	kv_u(e, "last_node", r->last_node);
	emit_key(e, "last_vcpu");
	if (r->last_vcpu >= 0)
		emit_uint(e, (uint64_t)r->last_vcpu);
	else
		emit_str(e, NULL);
	kv_u(e, "last_tid", r->last_tid);
	emit_map_end(e);
}

int
json_frame(FILE *out, const struct frame *f)
{
	struct emit e;

	emit_init(&e, out, EMIT_JSON, 0);
	emit_map_begin(&e);
	kv_s(&e, "vm", f->vm);
	kv_s(&e, "state", f->state);
	kv_u(&e, "time_ns", f->wall_ns);
	kv_d(&e, "interval_s", f->interval);
	emit_key(&e, "uptime_s");
	if (f->uptime >= 0)
		emit_double(&e, f->uptime);
	else
		emit_str(&e, NULL);
	kv_u(&e, "nodes_total", f->nodes);
	kv_u(&e, "nodes_seen", f->nodes_seen);
	kv_u(&e, "vcpus_total", f->vcpus_total);
	kv_u(&e, "memory_bytes", f->mem_bytes);
	kv_u(&e, "exits", f->exits);
	kv_d(&e, "exits_per_s", f->exits_s);
	kv_u(&e, "faults", f->faults);
	kv_d(&e, "faults_per_s", f->faults_s);
	kv_d(&e, "fabric_bytes_per_s", f->fabric_s);
	emit_key(&e, "nodes");
	emit_list_begin(&e);
	for (size_t i = 0; i < f->nnode; i++)
		node_json(&e, &f->node[i]);
	emit_list_end(&e);
	emit_key(&e, "vcpus");
	emit_list_begin(&e);
	for (size_t i = 0; i < f->nvcpu; i++)
		vcpu_json(&e, &f->vcpu[i]);
	emit_list_end(&e);
	emit_key(&e, "links");
	emit_list_begin(&e);
	for (size_t i = 0; i < f->nlink; i++) {
		const struct link_row *l = &f->link[i];

		emit_map_begin(&e);
		kv_u(&e, "from", l->from);
		kv_u(&e, "to", l->to);
		kv_u(&e, "bytes_sent", l->bytes_sent);
		kv_u(&e, "bytes_received", l->bytes_received);
		kv_u(&e, "frames_sent", l->frames_sent);
		kv_u(&e, "frames_received", l->frames_received);
		kv_d(&e, "bytes_sent_per_s", l->tx_s);
		kv_d(&e, "bytes_received_per_s", l->rx_s);
		kv_u(&e, "rtt_ns", l->rtt_ns);
		emit_map_end(&e);
	}
	emit_list_end(&e);
	emit_key(&e, "hot_pages");
	emit_list_begin(&e);
	for (size_t i = 0; i < f->nhot; i++)
		hot_json(&e, &f->hot[i]);
	emit_list_end(&e);
	emit_map_end(&e);
	return emit_finish(&e); /* the newline and the flush too */
}
