/* Stats gathering; see gather.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "avm/log.h"
#include "avm/stats.h"
#include "avm/statsmsg.h"
#include "avm/util.h"
#include "fail.h"
#include "gather.h"

/* Both ends' buffers: one message at a time, in the loop. */
static uint8_t msg[WIRE_PG_STATS_MAX];
static uint8_t run_buf[WIRE_PG_STATS_RUN_MAX] __attribute__((aligned(8)));
static struct pager_stats copy;

/* <rundir>/<vm>/gathered/<kind>-<node>.stats into buf; 0 or -errno. */
static int
copy_path(const struct gather *g, const char *kind, uint32_t node, char *buf,
	  size_t len)
{
	char leaf[32];

	snprintf(leaf, sizeof(leaf), "%s-%u.stats", kind, node);
	return stats_gathered_path(g->cfg->vm, leaf, buf, len);
}

/* A copy's temporary name (avm_write_file: "<copy>.tmp.<pid>"). */
static int
copy_tmp_name(const char *name, void *arg)
{
	const char *t = strstr(name, ".stats.tmp.");

	(void)arg;
	return t &&
	       (!strncmp(name, "pager-", 6) || !strncmp(name, "run-", 4)) &&
	       t[11] >= '0' && t[11] <= '9';
}

/*
 * Every node's copies, whatever nodes answered, and the temporary files
 * of copies a killed pager left (any pid: the folder is ours alone).
 */
static void
remove_copies(const struct gather *g)
{
	char path[PATH_MAX], dir[sizeof(g->dir)];

	for (uint32_t i = 0; i < PAGER_MAX_NODES; i++) {
		if (copy_path(g, "pager", i, path, sizeof(path)) == 0)
			(void)unlink(path);
		if (copy_path(g, "run", i, path, sizeof(path)) == 0)
			(void)unlink(path);
	}
	if (copy_path(g, "pager", 0, path, sizeof(path)) < 0)
		return;
	avm_dirname(path, dir, sizeof(dir));
	avm_remove_if(dir, copy_tmp_name, NULL);
}

void
gather_init(struct gather *g, const struct pager_cfg *cfg,
	    struct pager_stats *st, struct net *net)
{
	char path[PATH_MAX], dir[sizeof(g->dir)], why[600];
	int rc;

	memset(g, 0, sizeof(*g));
	g->cfg = cfg;
	g->st = st;
	g->net = net;
	if (cfg->node != 0 || cfg->nodes < 2 || cfg->stats_ms == 0)
		return;
	rc = copy_path(g, "pager", 0, path, sizeof(path));
	if (rc < 0)
		pager_fail(AVM_EX_CANTCREAT, "gathered stats folder: %s",
			   strerror(-rc));
	avm_dirname(path, dir, sizeof(dir));
	/* 0755 for readers of the copies; then the rules of the VM's own
	 * folder: ours, a folder, nobody else may write.  Until it passes,
	 * g->dir stays empty: the way out touches nothing in a folder
	 * (or through a link) that is not ours. */
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		pager_fail(AVM_EX_CANTCREAT, "create '%s': %s", dir,
			   strerror(errno));
	if (avm_trusted_dir(dir, why, sizeof(why)) < 0)
		pager_fail(errno == EPERM || errno == ENOTDIR
				   ? AVM_EX_NOPERM
				   : AVM_EX_CANTCREAT,
			   "%s", why);
	snprintf(g->dir, sizeof(g->dir), "%s", dir);
	/* A former pager's copies would look like this VM's. */
	remove_copies(g);
}

void
gather_remove(struct gather *g)
{
	if (!g->dir[0])
		return;
	remove_copies(g);
	/* Left when someone else put a file there. */
	if (rmdir(g->dir) < 0 && errno != ENOENT)
		log_debug("remove '%s': %s", g->dir, strerror(errno));
}

/* --- node 0: asking, and keeping the answers ------------------------------ */

void
gather_tick(struct gather *g, uint64_t now)
{
	struct statsmsg_req q = { STATSMSG_WANT_RUN };
	uint8_t buf[WIRE_PG_STATS_REQ_SIZE];
	uint32_t i;

	if (!g->dir[0] || !g->net->fabric_up || now < g->next)
		return;
	g->next = now + (uint64_t)g->cfg->stats_ms * 1000000u;
	statsmsg_req_encode(&q, buf, sizeof(buf));
	for (i = 1; i < g->cfg->nodes; i++) {
		struct conn *c = net_bulk_link(g->net, i);

		/* One in flight; and a link with a queue (pages of a
		 * stream) gets no more until it drained: skip a round. */
		if (!c || c->bye || g->peer[i].busy || link_backlog(c->l))
			continue;
		/* Ids unique on the link: streams' PG_BULK_REQs use page
		 * numbers, which never have the top bit. */
		g->peer[i].id = 1ull << 63 | ++g->ids;
		g->peer[i].busy = 1;
		conn_send(c, WIRE_T_PG_STATS_REQ, 0, g->peer[i].id, buf,
			  sizeof(buf), NULL, 0);
	}
}

static void __attribute__((format(printf, 3, 4)))
peer_warn(struct gather *g, uint32_t node, const char *fmt, ...)
{
	char text[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (g->peer[node].warned) {
		log_debug("node %u's stats: %s", node, text);
		return;
	}
	g->peer[node].warned = 1;
	log_warn("node %u's stats: %s (said once)", node, text);
}

static void
keep(struct gather *g, uint32_t node, const struct wire_hdr *h,
     const uint8_t *p)
{
	struct run_stats *rs = (struct run_stats *)run_buf;
	char path[PATH_MAX], why[300];
	struct wire_error e;
	size_t rs_len;
	uint64_t now = wall_ns();
	int rc;

	if (h->flags & WIRE_F_ERROR) {
		if (wire_error_decode(p, h->len, &e) < 0)
			snprintf(e.msg, sizeof(e.msg), "(a malformed error)");
		peer_warn(g, node, "refused: %s", e.msg);
		return;
	}
	rc = statsmsg_decode(p, h->len, &copy, rs, sizeof(run_buf), &rs_len,
			     why, sizeof(why));
	if (rc < 0) {
		peer_warn(g, node, "malformed PG_STATS: %s",
			  rc == -EBADMSG ? why : strerror(-rc));
		return;
	}
	if (copy.node != node) {
		peer_warn(g, node, "they name node %u", copy.node);
		return;
	}
	copy.gathered_ns = now;
	if (copy_path(g, "pager", node, path, sizeof(path)) < 0 ||
	    avm_write_file(path, &copy, sizeof(copy), 0644, 0) < 0) {
		peer_warn(g, node, "write '%s': %s", path, strerror(errno));
		return;
	}
	rc = copy_path(g, "run", node, path, sizeof(path));
	if (rc == 0 && rs_len) {
		rs->gathered_ns = now;
		if (avm_write_file(path, rs, rs_len, 0644, 0) < 0)
			peer_warn(g, node, "write '%s': %s", path,
				  strerror(errno));
	} else if (rc == 0 && unlink(path) < 0 && errno != ENOENT) {
		/* Its avm-run is gone: so goes the copy. */
		peer_warn(g, node, "remove '%s': %s", path, strerror(errno));
	}
}

/* --- every node: answering ------------------------------------------------ */

/*
 * Our stats as PG_STATS into msg: the pager's from the mapping (the
 * loop is its only writer, so a copy made here is consistent) and the
 * run stats when asked and readable.  Returns the length, or -1 with e.
 */
static int
answer(struct gather *g, const struct statsmsg_req *q, struct wire_error *e)
{
	struct run_stats *rs = NULL;
	char path[PATH_MAX], why[300];
	int n, rc;

	memcpy(&copy, g->st, sizeof(copy));
	if (q->flags & STATSMSG_WANT_RUN) {
		rc = run_stats_path(g->cfg->vm, g->cfg->node, path,
				    sizeof(path));
		if (rc == 0)
			rc = stats_read_run(path, &rs, why, sizeof(why));
		/* None yet, or one being made: the pager stats alone. */
		if (rc < 0 && rc != -ENOENT)
			log_debug("run stats not sent: '%s': %s", path,
				  rc == -EPROTO ? why : strerror(-rc));
	}
	n = statsmsg_encode(&copy, rs, msg, sizeof(msg));
	if (n == -EINVAL && rs) {
		log_debug("run stats not sent: '%s' does not go with ours "
			  "(node %u of %u)",
			  path, rs->node, rs->nodes);
		n = statsmsg_encode(&copy, NULL, msg, sizeof(msg));
	}
	free(rs);
	if (n < 0) {
		wire_error_set(e, WIRE_E_IO, "stats: %s", strerror(-n));
		log_warn("our stats do not encode: %s", strerror(-n));
		return -1;
	}
	return n;
}

void
gather_on_frame(struct gather *g, struct conn *c, const struct wire_hdr *h,
		const uint8_t *p)
{
	struct statsmsg_req q;
	struct wire_error e;
	int n;

	if (h->type == WIRE_T_PG_STATS) {
		struct gather_peer *gp = &g->peer[c->node];

		if (!gp->busy || h->id != gp->id) {
			log_debug("node %u: PG_STATS %llu we did not ask for",
				  c->node, (unsigned long long)h->id);
			return;
		}
		gp->busy = 0;
		keep(g, c->node, h, p);
		return;
	}
	/* PG_STATS_REQ: every request gets its one reply. */
	if (statsmsg_req_decode(p, h->len, &q) < 0) {
		wire_error_set(&e, WIRE_E_INVAL, "malformed PG_STATS_REQ");
		conn_send_error(c, WIRE_T_PG_STATS, h->id, &e);
		return;
	}
	n = answer(g, &q, &e);
	if (n < 0) {
		conn_send_error(c, WIRE_T_PG_STATS, h->id, &e);
		return;
	}
	conn_send(c, WIRE_T_PG_STATS, WIRE_F_REPLY, h->id, msg, (size_t)n, NULL,
		  0);
}
