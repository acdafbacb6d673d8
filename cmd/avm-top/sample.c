/*
 * One VM's stats files, read: every node's pager file and run file, its
 * own when that node runs on this host, else the copy node 0's pager
 * gathered into <vm>/gathered/.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "avm/config.h"
#include "avm/stats.h"
#include "avm/util.h"
#include "top.h"

/* A gathered copy older than this is from a node that stopped answering. */
#define GATHERED_FRESH_S 5.0

static int
pid_alive(uint32_t pid)
{
	return pid && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/*
 * Seconds since process pid started (/proc/PID/stat's starttime against
 * /proc/uptime), or -1.
 */
static double
proc_age(uint32_t pid)
{
	char path[64], buf[1024];
	unsigned long long start = 0;
	double up = -1;
	const char *p;
	FILE *f;
	size_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* After the name in parentheses (which may hold anything): field 3
	 * on; starttime is field 22. */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	for (field = 2; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	if (sscanf(p, "%llu", &start) != 1)
		return -1;
	f = fopen("/proc/uptime", "re");
	if (!f)
		return -1;
	if (fscanf(f, "%lf", &up) != 1)
		up = -1;
	fclose(f);
	if (up < 0)
		return -1;
	up -= (double)start / (double)sysconf(_SC_CLK_TCK);
	return up < 0 ? 0 : up;
}

/* "pager-12.stats" -> kind 'p', node 12; 0 when name is one of ours. */
static int
parse_leaf(const char *name, char *kind, uint32_t *node)
{
	const char *p;
	char *end;
	unsigned long n;

	if (!strncmp(name, "pager-", 6)) {
		*kind = 'p';
		p = name + 6;
	} else if (!strncmp(name, "run-", 4)) {
		*kind = 'r';
		p = name + 4;
	} else {
		return -1;
	}
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	n = strtoul(p, &end, 10);
	if (errno || strcmp(end, ".stats") || n >= TOP_NODES_MAX)
		return -1;
	*node = (uint32_t)n;
	return 0;
}

/* The highest node number + 1 among dir's stats files (0: none). */
static uint32_t
scan_nodes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint32_t top = 0, node;
	char kind;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (!parse_leaf(de->d_name, &kind, &node) && node + 1 > top)
			top = node + 1;
	closedir(d);
	return top;
}

/*
 * Reads one file: 0 read, 1 absent or being created, -EPROTO bad (why
 * names the file).
 */
static int
read_one(const char *path, char kind, struct node_sample *n, char *why,
	 size_t whylen)
{
	char msg[200] = "";
	int rc;

	if (kind == 'p')
		rc = stats_read_pager(path, &n->ps, msg, sizeof(msg));
	else
		rc = stats_read_run(path, &n->rs, msg, sizeof(msg));
	if (rc == 0)
		return 0;
	if (rc == -ENOENT || rc == -EAGAIN)
		return 1;
	if (rc == -EPROTO)
		snprintf(why, whylen, "%s: %s", path, msg);
	else
		snprintf(why, whylen, "%s: %s", path, strerror(-rc));
	return -EPROTO;
}

/* Node i's file of kind: its own here, else the gathered copy. */
static int
read_node(const char *dir, uint32_t i, char kind, struct node_sample *n,
	  char *why, size_t whylen)
{
	char path[PATH_MAX + 200];
	enum src *src = kind == 'p' ? &n->pager_src : &n->run_src;
	int rc;

	snprintf(path, sizeof(path), "%s/%s-%u.stats", dir,
		 kind == 'p' ? "pager" : "run", i);
	rc = read_one(path, kind, n, why, whylen);
	if (rc <= 0) {
		*src = rc == 0 ? SRC_LOCAL : SRC_NONE;
		return rc;
	}
	snprintf(path, sizeof(path), "%s/gathered/%s-%u.stats", dir,
		 kind == 'p' ? "pager" : "run", i);
	rc = read_one(path, kind, n, why, whylen);
	*src = rc == 0 ? SRC_GATHERED : SRC_NONE;
	return rc < 0 ? rc : 0;
}

int
sample_read(const char *vm, struct sample *s, char *why, size_t whylen)
{
	char rundir[PATH_MAX], dir[PATH_MAX + 80], gdir[PATH_MAX + 96];
	uint32_t nodes, i, local_alive = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	if (!config_vm_name_ok(vm) || avm_rundir(rundir, sizeof(rundir)) < 0)
		return -ENOENT;
	snprintf(dir, sizeof(dir), "%s/%s", rundir, vm);
	snprintf(gdir, sizeof(gdir), "%s/gathered", dir);
	nodes = scan_nodes(dir);
	if (scan_nodes(gdir) > nodes)
		nodes = scan_nodes(gdir);
	s->wall_ns = wall_ns();
	s->proc_uptime = -1;
	for (i = 0; i < nodes; i++) {
		struct node_sample *n = &s->node[i];

		rc = read_node(dir, i, 'p', n, why, whylen);
		if (rc == 0)
			rc = read_node(dir, i, 'r', n, why, whylen);
		if (rc < 0) {
			sample_free(s);
			return rc;
		}
		/* The VM's size, from whichever file says it. */
		if (n->pager_src != SRC_NONE && n->ps.nodes > s->nodes)
			s->nodes = n->ps.nodes;
		if (n->rs && n->rs->nodes > s->nodes)
			s->nodes = n->rs->nodes;
		n->t_ns = s->wall_ns;
		if (n->pager_src == SRC_LOCAL || n->run_src == SRC_LOCAL) {
			n->alive = pid_alive(n->pager_src == SRC_LOCAL
						     ? n->ps.pid
						     : n->rs->pid);
			local_alive += n->alive;
			if (n->alive && s->proc_uptime < 0)
				s->proc_uptime = proc_age(
					n->pager_src == SRC_LOCAL ? n->ps.pid
								  : n->rs->pid);
		} else if (n->pager_src == SRC_GATHERED ||
			   n->run_src == SRC_GATHERED) {
			uint64_t g = n->pager_src == SRC_GATHERED
					     ? n->ps.gathered_ns
					     : n->rs->gathered_ns;

			n->age = s->wall_ns > g ? (double)(s->wall_ns - g) / 1e9
						: 0;
			n->t_ns = g;
			n->alive = n->age < GATHERED_FRESH_S;
		}
	}
	if (!local_alive) {
		sample_free(s);
		return -ENOENT;
	}
	if (s->nodes > TOP_NODES_MAX)
		s->nodes = TOP_NODES_MAX;
	if (s->nodes < nodes)
		s->nodes = nodes;
	return 0;
}

static int
take_base(struct node_sample *n, enum src src, uint64_t t,
	  const struct pager_stats *ps, const struct run_stats *rs)
{
	free(n->base_rs); /* a second carry replaces the first */
	n->has_base = 1;
	n->base_src = src;
	n->base_t_ns = t;
	n->base_ps = *ps;
	n->base_rs = NULL;
	if (rs) {
		n->base_rs = malloc(rs->size);
		if (!n->base_rs)
			return -ENOMEM;
		memcpy(n->base_rs, rs, rs->size);
	}
	return 0;
}

int
sample_carry(struct sample *cur, const struct sample *prev)
{
	for (uint32_t i = 0; i < TOP_NODES_MAX; i++) {
		struct node_sample *n = &cur->node[i];
		const struct node_sample *p = &prev->node[i];
		int rc = 0;

		if (n->pager_src == SRC_NONE && n->run_src == SRC_NONE)
			continue;
		if (p->pager_src == SRC_NONE && p->run_src == SRC_NONE)
			continue;
		/* A copy that has not changed: the same base as before. */
		if (n->pager_src == SRC_GATHERED && p->t_ns == n->t_ns) {
			if (p->has_base)
				rc = take_base(n, p->base_src, p->base_t_ns,
					       &p->base_ps, p->base_rs);
		} else if (p->t_ns < n->t_ns) {
			rc = take_base(n, p->pager_src, p->t_ns, &p->ps, p->rs);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

void
sample_free(struct sample *s)
{
	for (uint32_t i = 0; i < TOP_NODES_MAX; i++) {
		free(s->node[i].rs);
		free(s->node[i].base_rs);
		s->node[i].rs = NULL;
		s->node[i].base_rs = NULL;
		s->node[i].has_base = 0;
	}
}
