/* The payloads of stats gathering; see include/avm/statsmsg.h. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "avm/stats.h"
#include "avm/statsmsg.h"
#include "avm/util.h"
#include "avm/wire.h"

#define OFF(s, f) offsetof(struct s, f)

/* --- PG_STATS_REQ --------------------------------------------------------- */

int
statsmsg_req_encode(const struct statsmsg_req *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (m->flags & ~STATSMSG_WANT_RUN)
		return -EINVAL;
	if (cap < WIRE_PG_STATS_REQ_SIZE)
		return -ENOSPC;
	wire_put32(p + OFF(statsmsg_req_le, flags), m->flags);
	wire_put32(p + OFF(statsmsg_req_le, reserved), 0);
	return WIRE_PG_STATS_REQ_SIZE;
}

int
statsmsg_req_decode(const void *buf, size_t len, struct statsmsg_req *m)
{
	const uint8_t *p = buf;
	uint32_t flags;

	if (len != WIRE_PG_STATS_REQ_SIZE)
		return -EMSGSIZE;
	flags = wire_get32(p + OFF(statsmsg_req_le, flags));
	if (flags & ~STATSMSG_WANT_RUN ||
	    wire_get32(p + OFF(statsmsg_req_le, reserved)) != 0)
		return -EBADMSG;
	m->flags = flags;
	return 0;
}

/* --- the field walkers ----------------------------------------------------- */

/*
 * One pass over a struct's fields in order, either way: enc copies each
 * field to the bytes at p + off, else from them.  Encoding only reads
 * the struct.  A reserved field that is not zero sets nonzero.
 */
struct walk {
	uint8_t *p;
	size_t off;
	int enc;
	int nonzero;
};

static void
w32(struct walk *w, uint32_t *v)
{
	if (w->enc)
		wire_put32(w->p + w->off, *v);
	else
		*v = wire_get32(w->p + w->off);
	w->off += 4;
}

static void
w64(struct walk *w, uint64_t *v)
{
	if (w->enc)
		wire_put64(w->p + w->off, *v);
	else
		*v = wire_get64(w->p + w->off);
	w->off += 8;
}

static void
w64n(struct walk *w, uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		w64(w, &v[i]);
}

static void
wres(struct walk *w, uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		w64(w, &v[i]);
		if (v[i])
			w->nonzero = 1;
	}
}

/* struct pager_stats, field by field (include/avm/pager.h). */
static void
walk_pager(struct walk *w, struct pager_stats *s)
{
	w64(w, &s->magic);
	w32(w, &s->version);
	w32(w, &s->size);
	w32(w, &s->node);
	w32(w, &s->nodes);
	w32(w, &s->page_size);
	w32(w, &s->dir_entry_bytes);
	w32(w, &s->local_state_bytes);
	w32(w, &s->pid);
	w64(w, &s->mem_bytes);
	w64(w, &s->home_first);
	w64(w, &s->home_pages);
	w64(w, &s->seq);
	w64(w, &s->pages_owned);
	w64(w, &s->pages_shared);
	w64(w, &s->faults_in_flight);
	w64n(w, s->faults, PAGER_F_KINDS);
	w64(w, &s->events_remove);
	w64(w, &s->events_unmap);
	w64(w, &s->requests_served);
	w64(w, &s->invals_sent);
	w64(w, &s->invals_received);
	w64(w, &s->pages_sent);
	w64(w, &s->pages_received);
	w64(w, &s->bytes_sent);
	w64(w, &s->bytes_received);
	w64n(w, s->lat_hist, PAGER_STATS_HIST);
	w64(w, &s->lat_sum_ns);
	w64(w, &s->lat_count);
	for (int i = 0; i < PAGER_STATS_HOT; i++) {
		struct pager_hot *h = &s->hot[i];

		w64(w, &h->page);
		w64(w, &h->gpa);
		w64(w, &h->transfers);
		w64(w, &h->nodes);
		w32(w, &h->last_node);
		w32(w, &h->last_tid);
	}
	w64(w, &s->gathered_ns);
	w64(w, &s->restore_pages);
	w64(w, &s->restored_fault);
	w64(w, &s->restored_background);
	for (int i = 0; i < PAGER_MAX_NODES; i++) {
		struct pager_peer *pp = &s->peer[i];

		w64(w, &pp->bytes_sent);
		w64(w, &pp->bytes_received);
		w64(w, &pp->frames_sent);
		w64(w, &pp->frames_received);
		w64(w, &pp->rtt_ns);
		wres(w, &pp->reserved, 1);
	}
	w64(w, &s->zero_block_pages);
	w64(w, &s->prefetch_sent);
	w64(w, &s->prefetch_installed);
	w64(w, &s->prefetch_dropped);
	w64(w, &s->save_parts);
	w64(w, &s->save_fetched);
	w64(w, &s->save_held);
}

/* The header of struct run_stats (include/avm/runstats.h). */
static void
walk_run_head(struct walk *w, struct run_stats *s)
{
	w64(w, &s->magic);
	w32(w, &s->version);
	w32(w, &s->size);
	w32(w, &s->node);
	w32(w, &s->nodes);
	w32(w, &s->vcpus);
	w32(w, &s->vcpus_total);
	w32(w, &s->pid);
	w32(w, &s->state);
	w64(w, &s->mem_bytes);
	w64(w, &s->started_ns);
	w64(w, &s->gathered_ns);
	w64(w, &s->seq);
	w64(w, &s->uart_tx_bytes);
	w64(w, &s->ioapic_irqs);
	w64(w, &s->io_served);
	wres(w, s->reserved, AVM_ARRAY_SIZE(s->reserved));
}

static void
walk_run_vcpu(struct walk *w, struct run_vcpu_stats *v)
{
	w32(w, &v->index);
	w32(w, &v->apic_id);
	w32(w, &v->tid);
	w32(w, &v->state);
	w64n(w, v->exits, RUN_EXITS);
	w64(w, &v->irqs_injected);
	w64(w, &v->ipis_local);
	w64(w, &v->ipis_remote);
	w64(w, &v->io_forwarded);
	w64(w, &v->kvm_have);
	w64n(w, v->kvm, RUN_KVM_STATS);
}

/* --- PG_STATS ------------------------------------------------------------ */

/* The rules beyond the file checks; 0 or -EBADMSG with why. */
static int
pager_ok(const struct pager_stats *ps, int nonzero, char *why, size_t whylen)
{
	if (stats_check_pager(ps, sizeof(*ps), why, whylen) < 0)
		return -EBADMSG;
	if (ps->seq & 1)
		return avm_why(why, whylen, -EBADMSG,
			       "pager stats: seq %llu is odd",
			       (unsigned long long)ps->seq);
	if (nonzero)
		return avm_why(why, whylen, -EBADMSG,
			       "pager stats: reserved field not 0");
	return 0;
}

static int
run_ok(const struct pager_stats *ps, const struct run_stats *rs, size_t len,
       int nonzero, char *why, size_t whylen)
{
	if (stats_check_run(rs, len, why, whylen) < 0)
		return -EBADMSG;
	if (rs->seq & 1)
		return avm_why(why, whylen, -EBADMSG,
			       "run stats: seq %llu is odd",
			       (unsigned long long)rs->seq);
	if (nonzero)
		return avm_why(why, whylen, -EBADMSG,
			       "run stats: reserved field not 0");
	if (rs->node != ps->node || rs->nodes != ps->nodes)
		return avm_why(why, whylen, -EBADMSG,
			       "run stats of node %u of %u with pager stats of "
			       "node %u of %u",
			       rs->node, rs->nodes, ps->node, ps->nodes);
	return 0;
}

static int
any_reserved(const uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i])
			return 1;
	return 0;
}

int
statsmsg_encode(const struct pager_stats *ps, const struct run_stats *rs,
		void *buf, size_t cap)
{
	size_t run_len = rs ? rs->size : 0, len;
	struct walk w = { .p = buf, .enc = 1 };
	int nz = 0;

	for (int i = 0; i < PAGER_MAX_NODES; i++)
		nz |= ps->peer[i].reserved != 0;
	if (pager_ok(ps, nz, NULL, 0) < 0)
		return -EINVAL;
	if (rs) {
		nz = any_reserved(rs->reserved, AVM_ARRAY_SIZE(rs->reserved));
		/* size must match vcpus: the walk reads that many entries */
		if (rs->vcpus > RUN_STATS_VCPUS_MAX ||
		    run_ok(ps, rs, run_stats_size(rs->vcpus), nz, NULL, 0) < 0)
			return -EINVAL;
	}
	len = WIRE_PG_STATS_MIN + run_len;
	if (cap < len)
		return -ENOSPC;
	wire_put32(w.p + OFF(statsmsg_le, pager_bytes), WIRE_PG_STATS_PAGER);
	wire_put32(w.p + OFF(statsmsg_le, run_bytes), (uint32_t)run_len);
	wire_put64(w.p + OFF(statsmsg_le, reserved), 0);
	w.off = WIRE_PG_STATS_HDR;
	/* Encoding only reads: the casts do not write through const. */
	walk_pager(&w, (struct pager_stats *)ps);
	if (rs) {
		struct run_stats *r = (struct run_stats *)rs;

		walk_run_head(&w, r);
		for (uint32_t i = 0; i < r->vcpus; i++)
			walk_run_vcpu(&w, &r->vcpu[i]);
	}
	return (int)len;
}

int
statsmsg_decode(const void *buf, size_t len, struct pager_stats *ps,
		struct run_stats *rs, size_t rs_cap, size_t *rs_len, char *why,
		size_t whylen)
{
	struct walk w = { .p = (uint8_t *)buf, .enc = 0 };
	struct pager_stats v;
	uint32_t pager_bytes, run_bytes;
	int rc;

	*rs_len = 0;
	if (len < WIRE_PG_STATS_MIN || len > WIRE_PG_STATS_MAX)
		return -EMSGSIZE;
	pager_bytes = wire_get32(w.p + OFF(statsmsg_le, pager_bytes));
	run_bytes = wire_get32(w.p + OFF(statsmsg_le, run_bytes));
	if (wire_get64(w.p + OFF(statsmsg_le, reserved)) != 0)
		return avm_why(why, whylen, -EBADMSG, "reserved bytes not 0");
	if (pager_bytes != WIRE_PG_STATS_PAGER)
		return avm_why(why, whylen, -EBADMSG,
			       "pager stats of %u bytes, not %u", pager_bytes,
			       WIRE_PG_STATS_PAGER);
	if (len != WIRE_PG_STATS_MIN + (size_t)run_bytes ||
	    (run_bytes && run_bytes < sizeof(struct run_stats)))
		return avm_why(why, whylen, -EBADMSG,
			       "%zu bytes with %u of run stats", len,
			       run_bytes);
	/* Decoding only reads the bytes: the cast above does not write
	 * through const. */
	w.off = WIRE_PG_STATS_HDR;
	walk_pager(&w, &v);
	rc = pager_ok(&v, w.nonzero, why, whylen);
	if (rc < 0)
		return rc;
	if (run_bytes) {
		if (rs_cap < run_bytes)
			return -ENOSPC;
		w.nonzero = 0;
		walk_run_head(&w, rs);
		/* What the header claims decides the rest: check it first. */
		if (rs->vcpus > RUN_STATS_VCPUS_MAX ||
		    run_stats_size(rs->vcpus) != run_bytes)
			return avm_why(why, whylen, -EBADMSG,
				       "run stats of %u bytes for %u vCPUs",
				       run_bytes, rs->vcpus);
		for (uint32_t i = 0; i < rs->vcpus; i++)
			walk_run_vcpu(&w, &rs->vcpu[i]);
		rc = run_ok(&v, rs, run_bytes, w.nonzero, why, whylen);
		if (rc < 0)
			return rc;
	}
	*ps = v;
	*rs_len = run_bytes;
	return 0;
}
