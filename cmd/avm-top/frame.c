/*
 * Two samples make a frame: the counters of the newer one and the rates
 * between them.  A counter that went down (a node started over) has rate
 * 0 this once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "avm/stats.h"
#include "top.h"

const struct col vcpu_cols[] = {
	{ "VCPU", 5 },	 { "NODE", 5 },	 { "STATE", 8 }, { "EXITS/S", 9 },
	{ "EXITS", 11 }, { "IO", 9 },	 { "MMIO", 9 },	 { "HLT", 9 },
	{ "IRQ/S", 8 },	 { "IPI-L", 8 }, { "IPI-R", 8 }, { "TID", 8 },
};
const size_t vcpu_ncols = sizeof(vcpu_cols) / sizeof(vcpu_cols[0]);

const struct col node_cols[] = {
	{ "NODE", 5 },	  { "SRC", 9 },	     { "PID", 8 },     { "VCPUS", 6 },
	{ "EXITS/S", 9 }, { "FAULTS/S", 9 }, { "LAT-US", 7 },  { "HOMED", 8 },
	{ "OWNED", 8 },	  { "SHARED", 8 },   { "INVAL/S", 8 }, { "TX-B/S", 8 },
	{ "RX-B/S", 8 },
};
const size_t node_ncols = sizeof(node_cols) / sizeof(node_cols[0]);

static double
rate(uint64_t now, uint64_t then, double dt)
{
	return dt > 0 && now >= then ? (double)(now - then) / dt : 0;
}

static uint64_t
sum(const uint64_t *v, size_t n)
{
	uint64_t t = 0;

	for (size_t i = 0; i < n; i++)
		t += v[i];
	return t;
}

/* Faults that did something: every kind but the spurious wake. */
static uint64_t
faults_real(const struct pager_stats *ps)
{
	return sum(ps->faults, PAGER_F_KINDS) - ps->faults[PAGER_F_SPURIOUS];
}

static const struct run_vcpu_stats *
find_vcpu(const struct run_stats *rs, uint32_t index)
{
	if (!rs)
		return NULL;
	for (uint32_t i = 0; i < rs->vcpus; i++)
		if (rs->vcpu[i].index == index)
			return &rs->vcpu[i];
	return NULL;
}

static uint64_t
vcpu_exits(const struct run_vcpu_stats *v)
{
	return sum(v->exits, RUN_EXITS);
}

/* Seconds between n's numbers and its base; 0: no base. */
static double
node_dt(const struct node_sample *n)
{
	return n->has_base && n->t_ns > n->base_t_ns
		       ? (double)(n->t_ns - n->base_t_ns) / 1e9
		       : 0;
}

/* n's base pager numbers, when they are of the same pager process. */
static const struct pager_stats *
base_pager(const struct node_sample *n)
{
	return n->has_base && n->pager_src != SRC_NONE &&
			       n->base_src != SRC_NONE &&
			       n->base_ps.pid == n->ps.pid
		       ? &n->base_ps
		       : NULL;
}

static void
fill_node(struct node_row *r, uint32_t i, const struct node_sample *n)
{
	const struct pager_stats *ps = &n->ps, *bp = base_pager(n);
	int hp = n->pager_src != SRC_NONE;
	double dt = node_dt(n);

	r->node = i;
	r->src = hp ? n->pager_src : n->run_src;
	r->alive = n->alive;
	r->age = n->age;
	r->t_ns = n->t_ns;
	r->interval = dt;
	r->pid = hp ? ps->pid : n->rs ? n->rs->pid : 0;
	if (n->rs) {
		r->vcpus = n->rs->vcpus;
		for (uint32_t k = 0; k < n->rs->vcpus; k++) {
			const struct run_vcpu_stats *o =
				dt > 0 ? find_vcpu(n->base_rs,
						   n->rs->vcpu[k].index)
				       : NULL;
			uint64_t e = vcpu_exits(&n->rs->vcpu[k]);

			r->exits += e;
			r->exits_s += o ? rate(e, vcpu_exits(o), dt) : 0;
		}
	}
	if (!hp)
		return;
	memcpy(r->faults, ps->faults, sizeof(r->faults));
	memcpy(r->lat_hist, ps->lat_hist, sizeof(r->lat_hist));
	r->faults_total = faults_real(ps);
	r->lat_count = ps->lat_count;
	r->lat_sum_ns = ps->lat_sum_ns;
	r->home_pages = ps->home_pages;
	r->pages_owned = ps->pages_owned;
	r->pages_shared = ps->pages_shared;
	r->faults_in_flight = ps->faults_in_flight;
	r->invals_sent = ps->invals_sent;
	r->invals_received = ps->invals_received;
	r->requests_served = ps->requests_served;
	r->bytes_sent = ps->bytes_sent;
	r->bytes_received = ps->bytes_received;
	r->pages_sent = ps->pages_sent;
	r->pages_received = ps->pages_received;
	r->restore_pages = ps->restore_pages;
	r->restored_fault = ps->restored_fault;
	r->restored_background = ps->restored_background;
	r->zero_block_pages = ps->zero_block_pages;
	r->prefetch_sent = ps->prefetch_sent;
	r->prefetch_installed = ps->prefetch_installed;
	r->prefetch_dropped = ps->prefetch_dropped;
	r->save_parts = ps->save_parts;
	r->save_fetched = ps->save_fetched;
	r->save_held = ps->save_held;
	if (!bp || dt <= 0)
		return;
	r->faults_s = rate(r->faults_total, faults_real(bp), dt);
	r->invals_s = rate(ps->invals_sent, bp->invals_sent, dt);
	r->tx_s = rate(ps->bytes_sent, bp->bytes_sent, dt);
	r->rx_s = rate(ps->bytes_received, bp->bytes_received, dt);
	if (ps->lat_count > bp->lat_count)
		r->lat_avg_ns = (double)(ps->lat_sum_ns - bp->lat_sum_ns) /
				(double)(ps->lat_count - bp->lat_count);
}

static void
fill_vcpu(struct vcpu_row *r, uint32_t node, const struct run_vcpu_stats *v,
	  const struct run_vcpu_stats *o, double dt)
{
	r->index = v->index;
	r->node = node;
	r->tid = v->tid;
	r->apic_id = v->apic_id;
	r->state = v->state;
	memcpy(r->exits_by, v->exits, sizeof(r->exits_by));
	r->exits = vcpu_exits(v);
	r->irqs = v->irqs_injected;
	r->ipis_local = v->ipis_local;
	r->ipis_remote = v->ipis_remote;
	r->io_forwarded = v->io_forwarded;
	r->kvm_have = v->kvm_have;
	memcpy(r->kvm, v->kvm, sizeof(r->kvm));
	if (o) {
		r->exits_s = rate(r->exits, vcpu_exits(o), dt);
		r->irqs_s = rate(r->irqs, o->irqs_injected, dt);
	}
}

/* The vCPU of node that runs on thread tid, or -1. */
static int
vcpu_of_tid(const struct sample *s, uint32_t node, uint32_t tid)
{
	const struct run_stats *rs;

	if (!tid || node >= TOP_NODES_MAX || !(rs = s->node[node].rs))
		return -1;
	for (uint32_t i = 0; i < rs->vcpus; i++)
		if (rs->vcpu[i].tid == tid)
			return (int)rs->vcpu[i].index;
	return -1;
}

static double
vcpu_key(const struct vcpu_row *r, int col)
{
	switch (col) {
	case 0:
		return r->index;
	case 1:
		return r->node;
	case 2:
		return r->state;
	case 3:
		return r->exits_s;
	case 4:
		return (double)r->exits;
	case 5:
		return (double)r->exits_by[RUN_EXIT_IO];
	case 6:
		return (double)r->exits_by[RUN_EXIT_MMIO];
	case 7:
		return (double)r->exits_by[RUN_EXIT_HLT];
	case 8:
		return r->irqs_s;
	case 9:
		return (double)r->ipis_local;
	case 10:
		return (double)r->ipis_remote;
	default:
		return r->tid;
	}
}

static double
node_key(const struct node_row *r, int col)
{
	switch (col) {
	case 0:
		return r->node;
	case 1:
		return r->src;
	case 2:
		return r->pid;
	case 3:
		return r->vcpus;
	case 4:
		return r->exits_s;
	case 5:
		return r->faults_s;
	case 6:
		return r->lat_avg_ns;
	case 7:
		return (double)r->home_pages;
	case 8:
		return (double)r->pages_owned;
	case 9:
		return (double)r->pages_shared;
	case 10:
		return r->invals_s;
	case 11:
		return r->tx_s;
	default:
		return r->rx_s;
	}
}

static int g_col, g_asc;

static int
cmp_vcpu(const void *a, const void *b)
{
	const struct vcpu_row *x = a, *y = b;
	double kx = vcpu_key(x, g_col), ky = vcpu_key(y, g_col);
	int c = kx < ky ? -1 : kx > ky;

	if (!c)
		c = x->index < y->index ? -1 : x->index > y->index;
	else if (!g_asc)
		c = -c;
	return c;
}

static int
cmp_node(const void *a, const void *b)
{
	const struct node_row *x = a, *y = b;
	double kx = node_key(x, g_col), ky = node_key(y, g_col);
	int c = kx < ky ? -1 : kx > ky;

	if (!c)
		c = x->node < y->node ? -1 : x->node > y->node;
	else if (!g_asc)
		c = -c;
	return c;
}

/* Hottest first: by transfers over the interval, then ever. */
static int
cmp_hot(const void *a, const void *b)
{
	const struct hot_row *x = a, *y = b;

	if (x->transfers_s != y->transfers_s)
		return x->transfers_s > y->transfers_s ? -1 : 1;
	if (x->transfers != y->transfers)
		return x->transfers > y->transfers ? -1 : 1;
	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

static void
build_hot(struct frame *f, const struct sample *cur)
{
	for (uint32_t i = 0; i < cur->nodes; i++) {
		const struct node_sample *n = &cur->node[i];
		const struct pager_stats *bp = base_pager(n);
		double dt = node_dt(n);

		if (n->pager_src == SRC_NONE)
			continue;
		for (int k = 0; k < PAGER_STATS_HOT; k++) {
			const struct pager_hot *h = &n->ps.hot[k];
			struct hot_row *r;

			if (!h->transfers)
				continue;
			r = &f->hot[f->nhot++];
			r->gpa = h->gpa & ~(uint64_t)(PAGER_PAGE_SIZE - 1);
			r->page = h->page;
			r->transfers = h->transfers;
			r->nodes = h->nodes;
			r->home = i;
			r->last_node = h->last_node;
			r->last_tid = h->last_tid;
			r->last_vcpu =
				vcpu_of_tid(cur, h->last_node, h->last_tid);
			/* The same page in the base's table. */
			for (int q = 0; bp && dt > 0 && q < PAGER_STATS_HOT;
			     q++)
				if (bp->hot[q].page == h->page &&
				    bp->hot[q].transfers) {
					r->transfers_s =
						rate(h->transfers,
						     bp->hot[q].transfers, dt);
					break;
				}
		}
	}
	qsort(f->hot, f->nhot, sizeof(f->hot[0]), cmp_hot);
}

int
frame_build(struct frame *f, const char *vm, const struct sample *cur,
	    const struct view *v)
{
	const struct run_stats *head = cur->node[0].rs;
	size_t nv = 0;

	memset(f, 0, sizeof(*f));
	f->vm = vm;
	f->wall_ns = cur->wall_ns;
	f->nodes = cur->nodes;
	f->uptime = -1;
	f->state = "running";
	if (head) {
		f->state = run_vm_state_name(head->state);
		f->vcpus_total = head->vcpus_total;
		f->mem_bytes = head->mem_bytes;
		if (head->started_ns && cur->wall_ns > head->started_ns)
			f->uptime =
				(double)(cur->wall_ns - head->started_ns) / 1e9;
	}
	for (uint32_t i = 0; i < cur->nodes; i++) {
		if (cur->node[i].rs)
			nv += cur->node[i].rs->vcpus;
		if (!f->mem_bytes && cur->node[i].pager_src != SRC_NONE)
			f->mem_bytes = cur->node[i].ps.mem_bytes;
	}
	f->node = calloc(cur->nodes ? cur->nodes : 1, sizeof(*f->node));
	f->vcpu = calloc(nv ? nv : 1, sizeof(*f->vcpu));
	f->link = calloc((size_t)cur->nodes * cur->nodes + 1, sizeof(*f->link));
	f->hot = calloc((size_t)cur->nodes * PAGER_STATS_HOT + 1,
			sizeof(*f->hot));
	if (!f->node || !f->vcpu || !f->link || !f->hot) {
		frame_free(f);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < cur->nodes; i++) {
		const struct node_sample *n = &cur->node[i];
		const struct pager_stats *bp = base_pager(n);
		double dt = node_dt(n);
		struct node_row *r;

		if (n->pager_src == SRC_NONE && n->run_src == SRC_NONE)
			continue;
		f->nodes_seen++;
		r = &f->node[f->nnode++];
		fill_node(r, i, n);
		/* The header's interval: the first local node's. */
		if (!f->interval && r->src == SRC_LOCAL)
			f->interval = dt;
		f->exits += r->exits;
		f->exits_s += r->exits_s;
		f->faults += r->faults_total;
		f->faults_s += r->faults_s;
		f->fabric_s += r->tx_s;
		for (uint32_t k = 0; n->rs && k < n->rs->vcpus; k++)
			fill_vcpu(&f->vcpu[f->nvcpu++], i, &n->rs->vcpu[k],
				  dt > 0 ? find_vcpu(n->base_rs,
						     n->rs->vcpu[k].index)
					 : NULL,
				  dt);
		for (uint32_t j = 0; n->pager_src != SRC_NONE &&
				     j < cur->nodes && j < PAGER_MAX_NODES;
		     j++) {
			const struct pager_peer *pe = &n->ps.peer[j];
			struct link_row *l;

			if (j == i)
				continue;
			l = &f->link[f->nlink++];
			l->from = i;
			l->to = j;
			l->bytes_sent = pe->bytes_sent;
			l->bytes_received = pe->bytes_received;
			l->frames_sent = pe->frames_sent;
			l->frames_received = pe->frames_received;
			l->rtt_ns = pe->rtt_ns;
			if (bp && dt > 0) {
				l->tx_s = rate(pe->bytes_sent,
					       bp->peer[j].bytes_sent, dt);
				l->rx_s = rate(pe->bytes_received,
					       bp->peer[j].bytes_received, dt);
			}
		}
	}
	if (!f->vcpus_total)
		f->vcpus_total = (uint32_t)nv;
	/* No avm-run: how long the VM's processes here have run. */
	if (f->uptime < 0)
		f->uptime = cur->proc_uptime;
	build_hot(f, cur);
	g_asc = v->sort_asc;
	if (v->show_vcpus) {
		g_col = v->sort_col < (int)vcpu_ncols ? v->sort_col : 0;
		qsort(f->vcpu, f->nvcpu, sizeof(f->vcpu[0]), cmp_vcpu);
	} else {
		g_col = v->sort_col < (int)node_ncols ? v->sort_col : 0;
		qsort(f->node, f->nnode, sizeof(f->node[0]), cmp_node);
	}
	return 0;
}

void
frame_free(struct frame *f)
{
	free(f->node);
	free(f->vcpu);
	free(f->link);
	free(f->hot);
	memset(f, 0, sizeof(*f));
}
