/*
 * up's link matrix: every ordered pair of nodes measured with the
 * project's own link layer, on the hosts themselves (linktest.c), one
 * link at a time so that no two measurements share the machines.  Every
 * node's host first starts link-serve where its run links will listen;
 * then, for each pair (i, j), node i's host runs link-test to node j;
 * then every link-serve is told to end (its stdin closes).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avm/emit.h"
#include "avm/exit.h"
#include "avm/log.h"
#include "avm/util.h"
#include "fabric.h"
#include "matrix.h"
#include "ssh.h"

/* Host clocks further apart than this get a warning. */
#define MATRIX_CLOCK_WARN_NS 50000000ll

static void
step_deadline(const struct fabric *f, struct ssh_conn *c)
{
	c->deadline = now_ns() + (uint64_t)f->timeout_s * 1000000000ull;
}

/* The first line of s into buf, "" when s is empty. */
static void
line_of(const char *s, char *buf, size_t len)
{
	snprintf(buf, len, "%.*s", (int)strcspn(s ? s : "", "\n"), s ? s : "");
}

/* Why a remote command failed, in one line. */
static void
cmd_failed(char *buf, size_t len, const char *what, const struct ssh_result *r)
{
	char first[400];

	line_of(r->err, first, sizeof(first));
	if (r->signal[0])
		snprintf(buf, len, "%s: killed by SIG%s%s%s", what, r->signal,
			 first[0] ? ": " : "", first);
	else
		snprintf(buf, len, "%s exited %d%s%s", what, r->exit_status,
			 first[0] ? ": " : "", first);
}

/* The arguments every remote link command gets, quoted. */
static int
link_args(const struct fabric *f, const struct matrix_plan *p, size_t node,
	  long peer, const char *verb, char *buf, size_t len)
{
	char qs[2 * PATH_MAX + 8], qc[2 * PATH_MAX + 8];
	size_t nn = p->cfg->nnodes;
	unsigned long long serve_s =
		(unsigned long long)f->timeout_s * (nn * (nn - 1) + 2);
	int n;

	if (serve_s > 86400)
		serve_s = 86400;
	if (ssh_quote(p->remote_secret, qs, sizeof(qs)) < 0 ||
	    ssh_quote(p->remote_cluster, qc, sizeof(qc)) < 0)
		return -1;
	/* link-serve ends when up closes its stdin; its own deadline is
	 * for an up that vanished unseen, and must outlast every link. */
	if (peer < 0)
		n = snprintf(buf, len,
			     "--timeout %llu --secret %s --node %zu %s %s",
			     serve_s, qs, node, verb, qc);
	else
		n = snprintf(buf, len,
			     "--timeout %u --secret %s --node %zu --peer %ld "
			     "--pings %zu --stream %" PRIu64 " %s %s",
			     f->timeout_s, qs, node, peer, f->pings,
			     f->stream_bytes, verb, qc);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* The value of a "key: value" line of link-test's output, or NULL. */
static const char *
field(const char *out, const char *key)
{
	size_t kl = strlen(key);
	const char *s;

	for (s = out; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL)
		if (strncmp(s, key, kl) == 0 && s[kl] == ':')
			return s + kl + 1;
	return NULL;
}

/* Every number link-test prints, into m; 0 when all were there. */
static int
fields(const char *out, struct matrix_link *m)
{
	const struct {
		const char *key;
		uint64_t *v;
	} u[] = {
		{ "rtt_min_ns", &m->rtt_min_ns },
		{ "rtt_median_ns", &m->rtt_median_ns },
		{ "rtt_max_ns", &m->rtt_max_ns },
		{ "bandwidth_bytes_per_s", &m->bw },
		{ "clock_error_ns", &m->clock_error_ns },
		{ "path_mtu", &m->mtu },
	};
	const char *v;
	size_t i;

	for (i = 0; i < AVM_ARRAY_SIZE(u); i++)
		if (!(v = field(out, u[i].key)) ||
		    sscanf(v, " %" SCNu64, u[i].v) != 1)
			return -1;
	v = field(out, "clock_offset_ns");
	return v && sscanf(v, " %" SCNd64, &m->clock_offset_ns) == 1 ? 0 : -1;
}

static void
measure_one(const struct fabric *f, const struct matrix_plan *p, size_t i,
	    size_t j, struct matrix_link *m)
{
	char args[6 * PATH_MAX], cmd[8 * PATH_MAX];
	struct ssh_conn *c = p->conns[i];
	struct ssh_result r;

	if (link_args(f, p, i, (long)j, "link-test", args, sizeof(args)) < 0 ||
	    fabric_remote_cmd(f, "avm-fabric", args, cmd, sizeof(cmd)) < 0) {
		snprintf(m->error, sizeof(m->error), "command too long");
		return;
	}
	if (f->verbose)
		log_info("%s: running %s", p->cfg->nodes[i].host, cmd);
	/* link-test's own dial takes --timeout at most, its measuring
	 * a few seconds on any link that works: ssh waits longer. */
	c->deadline = now_ns() + (2ull * f->timeout_s + 60) * 1000000000ull;
	if (ssh_run(c, cmd, &r) < 0) {
		snprintf(m->error, sizeof(m->error), "%s", c->error);
		ssh_result_release(&r);
		return;
	}
	if (r.exit_status != 0) {
		cmd_failed(m->error, sizeof(m->error), "link-test", &r);
	} else if (fields(r.out, m) < 0) {
		snprintf(m->error, sizeof(m->error),
			 "link-test printed no measurement (another "
			 "avm-fabric version?)");
	} else {
		m->ok = 1;
	}
	ssh_result_release(&r);
}

int
matrix_measure(const struct fabric *f, const struct matrix_plan *p,
	       struct matrix *mx)
{
	size_t n = p->cfg->nnodes, i, j, k = 0;
	char args[6 * PATH_MAX], cmd[8 * PATH_MAX], line[512];
	struct ssh_cmd *serve;
	int *started, tty = isatty(STDERR_FILENO);

	mx->n = n;
	mx->links = calloc(n * n, sizeof(*mx->links));
	mx->errors = calloc(n, sizeof(*mx->errors));
	serve = calloc(n, sizeof(*serve));
	started = calloc(n, sizeof(*started));
	if (!mx->links || !mx->errors || !serve || !started)
		log_die(AVM_EX_SOFTWARE, "calloc: %s", strerror(errno));

	/* Every node's end first: a link to a node that cannot listen
	 * fails with the reason its host gave. */
	for (j = 0; j < n; j++) {
		struct ssh_conn *c = p->conns[j];

		if (link_args(f, p, j, -1, "link-serve", args, sizeof(args)) <
			    0 ||
		    fabric_remote_cmd(f, "avm-fabric", args, cmd, sizeof(cmd)) <
			    0) {
			snprintf(mx->errors[j], sizeof(mx->errors[j]),
				 "link-serve: command too long");
			continue;
		}
		if (f->verbose)
			log_info("%s: running %s", p->cfg->nodes[j].host, cmd);
		step_deadline(f, c);
		if (ssh_cmd_start(c, cmd, &serve[j]) < 0) {
			snprintf(mx->errors[j], sizeof(mx->errors[j]), "%s",
				 c->error);
			continue;
		}
		started[j] = 1;
		if (ssh_cmd_line(&serve[j], line, sizeof(line)) == 0 &&
		    strncmp(line, "listening ", 10) == 0)
			continue;
		if (serve[j].ended && ssh_cmd_finish(&serve[j]) == 0)
			cmd_failed(mx->errors[j], sizeof(mx->errors[j]),
				   "link-serve", &serve[j].r);
		else
			snprintf(mx->errors[j], sizeof(mx->errors[j]),
				 "link-serve: %.400s",
				 c->error[0] ? c->error
					     : "no 'listening' line");
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++) {
			struct matrix_link *m = &mx->links[i * n + j];

			if (i == j)
				continue;
			k++;
			if (mx->errors[j][0]) {
				snprintf(m->error, sizeof(m->error),
					 "node %zu does not listen", j);
				continue;
			}
			if (tty || f->verbose)
				fprintf(stderr,
					"%s: measuring link %s -> %s (%zu/%zu)"
					"\n",
					PROG, p->cfg->nodes[i].host,
					p->cfg->nodes[j].host, k, n * (n - 1));
			measure_one(f, p, i, j, m);
		}
	}
	for (j = 0; j < n; j++) {
		if (!started[j])
			continue;
		step_deadline(f, p->conns[j]);
		/* Every link to it is measured or not by now: how it ended
		 * is only worth a warning. */
		if (!serve[j].ended && ssh_cmd_finish(&serve[j]) == 0 &&
		    serve[j].r.exit_status != 0 && !mx->errors[j][0]) {
			cmd_failed(line, sizeof(line), "link-serve",
				   &serve[j].r);
			log_warn("%s: %s", p->cfg->nodes[j].host, line);
		}
		ssh_cmd_drop(&serve[j]);
		ssh_result_release(&serve[j].r);
	}
	free(serve);
	free(started);
	return matrix_status(mx);
}

int
matrix_status(const struct matrix *mx)
{
	size_t i;

	for (i = 0; i < mx->n; i++)
		if (mx->errors[i][0])
			return AVM_EX_UNAVAILABLE;
	for (i = 0; i < mx->n * mx->n; i++)
		if (i / mx->n != i % mx->n && !mx->links[i].ok)
			return AVM_EX_UNAVAILABLE;
	return AVM_EX_OK;
}

int
matrix_map(const struct avm_config *cfg, const struct matrix *mx,
	   struct fabric_map *m)
{
	size_t n = mx->n, i;

	if (fabric_map_init(m, cfg->name, (uint32_t)n) < 0)
		return -1;
	for (i = 0; i < n * n; i++) {
		if (i / n == i % n || !mx->links[i].ok)
			continue;
		m->rtt_ns[i] = mx->links[i].rtt_median_ns;
		m->bw[i] = mx->links[i].bw;
	}
	return fabric_map_distances(m);
}

void
matrix_release(struct matrix *mx)
{
	free(mx->links);
	free(mx->errors);
	mx->links = NULL;
	mx->errors = NULL;
	mx->map = NULL;
	fabric_map_release(&mx->own);
}

/* ---- output ----------------------------------------------------------- */

/* "host [i]" of node i into buf. */
static void
label(const struct avm_config *cfg, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s [%zu]", cfg->nodes[i].host, i);
}

/*
 * One table, perftest-like: a header row of the nodes, then a row per
 * node, each cell what val makes of that link.
 */
typedef void val_fn(const struct matrix_link *m, char *b, size_t len);

/* Row i, column j of a table of val (NULL: the map's distances). */
static void
cell(const struct matrix *mx, size_t i, size_t j, val_fn *val, char *b,
     size_t len)
{
	const struct matrix_link *m = &mx->links[i * mx->n + j];

	if (!val)
		snprintf(b, len, "%u", mx->map->distance[i * mx->n + j]);
	else if (i == j)
		snprintf(b, len, "-");
	else if (!m->ok)
		snprintf(b, len, "failed");
	else
		val(m, b, len);
}

static void
table(FILE *out, const struct avm_config *cfg, const struct matrix *mx,
      val_fn *val)
{
	size_t n = mx->n, i, j, w = 0, lw = strlen("from \\ to"), l;
	char b[64];

	for (i = 0; i < n; i++) {
		label(cfg, i, b, sizeof(b));
		l = strlen(b);
		lw = l > lw ? l : lw;
		w = l > w ? l : w;
		for (j = 0; j < n; j++) {
			cell(mx, i, j, val, b, sizeof(b));
			l = strlen(b);
			w = l > w ? l : w;
		}
	}
	fprintf(out, "  %-*s", (int)lw, "from \\ to");
	for (j = 0; j < n; j++) {
		label(cfg, j, b, sizeof(b));
		fprintf(out, "  %*s", (int)w, b);
	}
	fputc('\n', out);
	for (i = 0; i < n; i++) {
		label(cfg, i, b, sizeof(b));
		fprintf(out, "  %-*s", (int)lw, b);
		for (j = 0; j < n; j++) {
			cell(mx, i, j, val, b, sizeof(b));
			fprintf(out, "  %*s", (int)w, b);
		}
		fputc('\n', out);
	}
}

/* What a table shows of one measured link. */
static void
val_rtt(const struct matrix_link *m, char *b, size_t len)
{
	snprintf(b, len, "%.1f/%.1f/%.1f", m->rtt_min_ns / 1e3,
		 m->rtt_median_ns / 1e3, m->rtt_max_ns / 1e3);
}

static void
val_bw(const struct matrix_link *m, char *b, size_t len)
{
	snprintf(b, len, "%.0f", m->bw / 1e6);
}

static void
val_clock(const struct matrix_link *m, char *b, size_t len)
{
	snprintf(b, len, "%+.3f", (double)m->clock_offset_ns / 1e6);
}

static void
val_mtu(const struct matrix_link *m, char *b, size_t len)
{
	snprintf(b, len, "%" PRIu64, m->mtu);
}

/*
 * Warnings about what a VM over these hosts would suffer from: clocks
 * so far apart that guest time would jump between nodes, and paths of
 * different MTUs.
 */
static void
matrix_warn(const struct avm_config *cfg, const struct matrix *mx)
{
	uint64_t mtu = 0;
	size_t i, j;
	int differ = 0;

	for (i = 0; i < mx->n; i++) {
		for (j = 0; j < mx->n; j++) {
			const struct matrix_link *m = &mx->links[i * mx->n + j];
			int64_t a = m->clock_offset_ns < 0 ? -m->clock_offset_ns
							   : m->clock_offset_ns;

			if (i == j || !m->ok)
				continue;
			if (mtu && m->mtu && m->mtu != mtu)
				differ = 1;
			if (m->mtu && !mtu)
				mtu = m->mtu;
			if (i < j && a > MATRIX_CLOCK_WARN_NS &&
			    (uint64_t)a > m->clock_error_ns)
				log_warn("the clocks of '%s' and '%s' are %.3f "
					 "s apart: the guest's time would jump "
					 "between their nodes; synchronize the "
					 "hosts (NTP, PTP)",
					 cfg->nodes[i].host, cfg->nodes[j].host,
					 (double)a / 1e9);
		}
	}
	if (differ)
		log_warn("the links' path MTUs differ (see --json "
			 "path_mtu): a network of mixed MTUs fragments or "
			 "drops large frames");
}

void
matrix_print(FILE *out, const struct fabric *f, const struct avm_config *cfg,
	     const struct matrix *mx)
{
	size_t i, j;

	for (i = 0; i < mx->n; i++)
		if (mx->errors[i][0])
			fprintf(out, "%s: %s\n", cfg->nodes[i].host,
				mx->errors[i]);
	for (i = 0; i < mx->n; i++)
		for (j = 0; j < mx->n; j++)
			if (i != j && !mx->links[i * mx->n + j].ok &&
			    !mx->errors[j][0])
				fprintf(out, "%s: link to %s: %s\n",
					cfg->nodes[i].host, cfg->nodes[j].host,
					mx->links[i * mx->n + j].error);
	fprintf(out,
		"\nlink round trip, us (min/median/max of %zu pings of 64 "
		"bytes):\n",
		f->pings);
	table(out, cfg, mx, val_rtt);
	fprintf(out,
		"\nlink bandwidth, MB/s (%" PRIu64 " bytes in frames of up to "
		"256 pages of 4 KiB):\n",
		f->stream_bytes);
	table(out, cfg, mx, val_bw);
	fprintf(out, "\nclock of the column's host against the row's, ms:\n");
	table(out, cfg, mx, val_clock);
	fprintf(out, "\npath MTU, bytes:\n");
	table(out, cfg, mx, val_mtu);
	matrix_warn(cfg, mx);
}

void
matrix_print_map(FILE *out, const struct avm_config *cfg,
		 const struct matrix *mx, const char *path)
{
	fprintf(out, "\nSLIT distances the guest will see (%s):\n", path);
	table(out, cfg, mx, NULL);
}

void
matrix_emit(struct emit *e, const struct avm_config *cfg,
	    const struct matrix *mx)
{
	const struct matrix_link *m;
	size_t i, j;

	emit_kv_list_begin(e, "links");
	for (i = 0; i < mx->n; i++) {
		for (j = 0; j < mx->n; j++) {
			if (i == j)
				continue;
			m = &mx->links[i * mx->n + j];
			emit_map_begin(e);
			emit_kv_uint(e, "from", i);
			emit_kv_uint(e, "to", j);
			emit_kv_str(e, "from_host", cfg->nodes[i].host);
			emit_kv_str(e, "to_host", cfg->nodes[j].host);
			emit_kv_bool(e, "ok", m->ok);
			if (m->ok) {
				emit_kv_uint(e, "rtt_min_ns", m->rtt_min_ns);
				emit_kv_uint(e, "rtt_median_ns",
					     m->rtt_median_ns);
				emit_kv_uint(e, "rtt_max_ns", m->rtt_max_ns);
				emit_kv_uint(e, "bandwidth_bytes_per_s", m->bw);
				emit_kv_int(e, "clock_offset_ns",
					    m->clock_offset_ns);
				emit_kv_uint(e, "clock_error_ns",
					     m->clock_error_ns);
				emit_kv_uint(e, "path_mtu", m->mtu);
				emit_kv_null(e, "error");
			} else {
				emit_kv_str(e, "error",
					    mx->errors[j][0] ? mx->errors[j]
							     : m->error);
			}
			emit_map_end(e);
		}
	}
	emit_list_end(e);
	if (!mx->map)
		return;
	emit_kv_list_begin(e, "distance");
	for (i = 0; i < mx->n; i++) {
		emit_list_begin(e);
		for (j = 0; j < mx->n; j++)
			emit_uint(e, mx->map->distance[i * mx->n + j]);
		emit_list_end(e);
	}
	emit_list_end(e);
}
