/*
 * A frame as lines of text: batch mode prints them, the screen draws
 * them (cut to its width).  Columns are fixed; a number too wide for its
 * column is scaled (k, M, G, T: powers of 1000).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "avm/stats.h"
#include "avm/util.h"
#include "top.h"

#define LINE_MAX_ 512

struct line {
	char buf[LINE_MAX_];
	size_t len;
};

static void __attribute__((format(printf, 2, 3)))
add(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len >= sizeof(l->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, sizeof(l->buf) - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n;
	if (l->len > sizeof(l->buf) - 1)
		l->len = sizeof(l->buf) - 1;
}

static void
emit_line(struct line *l, put_fn put, void *ctx)
{
	/* No trailing blanks: batch output diffs and greps cleanly. */
	while (l->len && l->buf[l->len - 1] == ' ')
		l->len--;
	l->buf[l->len] = 0;
	put(ctx, l->buf);
	l->len = 0;
	l->buf[0] = 0;
}

/* v in at most width characters: as is, or scaled. */
static void
num(char *buf, size_t len, double v, int width)
{
	static const char units[] = " kMGTP";
	int u = 0;

	if (v < 0)
		v = 0;
	snprintf(buf, len, "%.0f", v);
	while ((int)strlen(buf) > width && u < 5) {
		v /= 1000;
		u++;
		snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
	}
}

void
fmt_uptime(double s, char *buf, size_t len)
{
	unsigned long t = s < 0 ? 0 : (unsigned long)s;

	if (s < 0)
		snprintf(buf, len, "-");
	else if (t >= 86400)
		snprintf(buf, len, "%lud %02lu:%02lu", t / 86400,
			 t % 86400 / 3600, t % 3600 / 60);
	else
		snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t % 3600 / 60,
			 t % 60);
}

/* A column: right-aligned number of the column's width, one space. */
static void
cell(struct line *l, const struct col *c, double v)
{
	char b[32];

	num(b, sizeof(b), v, c->width);
	add(l, "%*s ", c->width, b);
}

static void
header_row(struct line *l, const struct col *cols, size_t n, int sorted,
	   int asc)
{
	for (size_t i = 0; i < n; i++) {
		char name[24];

		/* The sort column wears its direction. */
		snprintf(name, sizeof(name), "%s%s", cols[i].name,
			 (int)i == sorted ? (asc ? "^" : "v") : "");
		add(l, "%*s ", cols[i].width, name);
	}
}

static const char *
src_name(const struct node_row *r)
{
	if (!r->alive)
		return r->src == SRC_GATHERED ? "stale" : "gone";
	return r->src == SRC_GATHERED ? "gathered" : "local";
}

static void
nodes_list(uint64_t mask, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (int i = 0; i < 64 && o + 4 < len; i++)
		if (mask & (1ull << i))
			o += (size_t)snprintf(buf + o, len - o, "%s%d",
					      o ? "," : "", i);
	if (!o)
		snprintf(buf, len, "-");
}

static void
node_table(const struct frame *f, const struct view *v, struct line *l,
	   put_fn put, void *ctx)
{
	const struct col *c = node_cols;

	header_row(l, c, node_ncols, v->show_vcpus ? -1 : v->sort_col,
		   v->sort_asc);
	emit_line(l, put, ctx);
	for (size_t i = 0; i < f->nnode; i++) {
		const struct node_row *r = &f->node[i];

		if (v->node_filter >= 0 && r->node != (uint32_t)v->node_filter)
			continue;
		add(l, "%*u %*s %*u ", c[0].width, r->node, c[1].width,
		    src_name(r), c[2].width, r->pid);
		cell(l, &c[3], r->vcpus);
		cell(l, &c[4], r->exits_s);
		cell(l, &c[5], r->faults_s);
		cell(l, &c[6], r->lat_avg_ns / 1000);
		cell(l, &c[7], (double)r->home_pages);
		cell(l, &c[8], (double)r->pages_owned);
		cell(l, &c[9], (double)r->pages_shared);
		cell(l, &c[10], r->invals_s);
		cell(l, &c[11], r->tx_s);
		cell(l, &c[12], r->rx_s);
		emit_line(l, put, ctx);
	}
}

static void
vcpu_table(const struct frame *f, const struct view *v, struct line *l,
	   put_fn put, void *ctx)
{
	const struct col *c = vcpu_cols;

	header_row(l, c, vcpu_ncols, v->sort_col, v->sort_asc);
	emit_line(l, put, ctx);
	for (size_t i = 0; i < f->nvcpu; i++) {
		const struct vcpu_row *r = &f->vcpu[i];

		if (v->node_filter >= 0 && r->node != (uint32_t)v->node_filter)
			continue;
		add(l, "%*u %*u %*s ", c[0].width, r->index, c[1].width,
		    r->node, c[2].width, run_vcpu_state_name(r->state));
		cell(l, &c[3], r->exits_s);
		cell(l, &c[4], (double)r->exits);
		cell(l, &c[5], (double)r->exits_by[RUN_EXIT_IO]);
		cell(l, &c[6], (double)r->exits_by[RUN_EXIT_MMIO]);
		cell(l, &c[7], (double)r->exits_by[RUN_EXIT_HLT]);
		cell(l, &c[8], r->irqs_s);
		cell(l, &c[9], (double)r->ipis_local);
		cell(l, &c[10], (double)r->ipis_remote);
		add(l, "%*u", c[11].width, r->tid);
		emit_line(l, put, ctx);
	}
	if (!f->nvcpu) {
		add(l, "(no vCPU counters: no run stats file, avm-run does not "
		       "run these nodes)");
		emit_line(l, put, ctx);
	}
}

/* Sent bytes per second and round trip of every link, as a matrix. */
static void
link_matrix(const struct frame *f, const struct view *v, struct line *l,
	    put_fn put, void *ctx)
{
	add(l, "LINKS: bytes/s sent, heartbeat round trip (us)");
	emit_line(l, put, ctx);
	add(l, "%9s", "FROM\\TO");
	for (uint32_t j = 0; j < f->nodes && j < 16; j++)
		add(l, " %13u", j);
	emit_line(l, put, ctx);
	for (uint32_t i = 0; i < f->nodes; i++) {
		if (v->node_filter >= 0 && i != (uint32_t)v->node_filter)
			continue;
		add(l, "%9u", i);
		for (uint32_t j = 0; j < f->nodes && j < 16; j++) {
			const struct link_row *r = NULL;
			char a[16], b[16], both[40];

			for (size_t k = 0; k < f->nlink; k++)
				if (f->link[k].from == i && f->link[k].to == j)
					r = &f->link[k];
			if (!r) {
				add(l, " %13s", "-");
				continue;
			}
			num(a, sizeof(a), r->tx_s, 6);
			if (r->rtt_ns)
				num(b, sizeof(b), (double)r->rtt_ns / 1000, 5);
			else
				snprintf(b, sizeof(b), "-");
			snprintf(both, sizeof(both), "%s %s", a, b);
			add(l, " %13s", both);
		}
		emit_line(l, put, ctx);
	}
}

static void
hot_table(const struct frame *f, const struct view *v, struct line *l,
	  put_fn put, void *ctx)
{
	int shown = 0;

	add(l, "HOT PAGES");
	emit_line(l, put, ctx);
	add(l, "%-18s %10s %11s %5s %-12s %s", "GPA", "TRANSF/S", "TRANSFERS",
	    "HOME", "NODES", "LAST");
	emit_line(l, put, ctx);
	for (size_t i = 0; i < f->nhot && shown < v->hot_max; i++) {
		const struct hot_row *r = &f->hot[i];
		char nodes[64], rt[16], tot[16], last[48];

		if (v->node_filter >= 0 &&
		    !(r->nodes & (1ull << (v->node_filter & 63))) &&
		    r->home != (uint32_t)v->node_filter)
			continue;
		nodes_list(r->nodes, nodes, sizeof(nodes));
		num(rt, sizeof(rt), r->transfers_s, 10);
		num(tot, sizeof(tot), (double)r->transfers, 11);
		if (r->last_vcpu >= 0)
			snprintf(last, sizeof(last), "node %u vcpu %d",
				 r->last_node, r->last_vcpu);
		else if (r->last_tid)
			snprintf(last, sizeof(last), "node %u tid %u",
				 r->last_node, r->last_tid);
		else
			snprintf(last, sizeof(last), "node %u", r->last_node);
		add(l, "0x%016llx %10s %11s %5u %-12s %s",
		    (unsigned long long)r->gpa, rt, tot, r->home, nodes, last);
		emit_line(l, put, ctx);
		shown++;
	}
	if (!shown) {
		add(l, "(no page has moved between nodes yet)");
		emit_line(l, put, ctx);
	}
}

void
text_frame(const struct frame *f, const struct view *v, int paused, put_fn put,
	   void *ctx)
{
	struct line l = { .len = 0 };
	char up[32], mem[32], ex[16], fa[16], fb[16], when[32];
	time_t t = (time_t)(f->wall_ns / 1000000000ull);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fmt_uptime(f->uptime, up, sizeof(up));
	size_format(f->mem_bytes, mem, sizeof(mem));
	num(ex, sizeof(ex), f->exits_s, 7);
	num(fa, sizeof(fa), f->faults_s, 7);
	num(fb, sizeof(fb), f->fabric_s, 7);
	add(&l,
	    "avm-top - %s  vm %s  %s%s  up %s  nodes %u/%u  vCPUs %u  "
	    "memory %s",
	    when, f->vm, f->state, paused ? " (screen paused)" : "", up,
	    f->nodes_seen, f->nodes, f->vcpus_total, mem);
	emit_line(&l, put, ctx);
	add(&l, "exits %s/s  faults %s/s  fabric %s B/s  interval %.2fs", ex,
	    fa, fb, f->interval);
	if (v->node_filter >= 0)
		add(&l, "  (node %d only)", v->node_filter);
	emit_line(&l, put, ctx);
	emit_line(&l, put, ctx);
	node_table(f, v, &l, put, ctx);
	if (v->show_vcpus) {
		emit_line(&l, put, ctx);
		vcpu_table(f, v, &l, put, ctx);
	}
	emit_line(&l, put, ctx);
	link_matrix(f, v, &l, put, ctx);
	emit_line(&l, put, ctx);
	hot_table(f, v, &l, put, ctx);
}
