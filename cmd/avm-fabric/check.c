/* avm-fabric check: what every host can give its node; see fabric.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avm/auth.h"
#include "avm/config.h"
#include "avm/emit.h"
#include "avm/log.h"
#include "avm/opt.h"
#include "avm/util.h"
#include "ssh.h"

#include "fabric.h"

/* ---- check ------------------------------------------------------------ */

/* What one host answered, from best to worst. */

static const char *const state_names[] = {
	[HOST_OK] = "ok",	    [HOST_MISSING] = "missing",
	[HOST_FAILED] = "failed",   [HOST_UNREACHABLE] = "unreachable",
	[HOST_REFUSED] = "refused",
};

/* The first line of s, up to len - 1 bytes, without its newline. */
static void
first_line(const char *s, char *buf, size_t len)
{
	size_t n = strcspn(s, "\n");

	snprintf(buf, len, "%.*s", (int)n, s);
}

int
fabric_remote_cmd(const struct fabric *f, const char *name, const char *args,
		  char *buf, size_t len)
{
	char path[PATH_MAX + 64], q[2 * PATH_MAX];

	if (!f->remote_bin) {
		snprintf(buf, len, "%s %s", name, args);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/%s", f->remote_bin, name);
	if (ssh_quote(path, q, sizeof(q)) < 0)
		return -1;
	return snprintf(buf, len, "%s %s", q, args) < (int)len ? 0 : -1;
}

/* A command that did not end with 0 (or 69 for avm-probe) as a failure. */
static void
command_failed(struct host_check *h, const char *what,
	       const struct ssh_result *r)
{
	char line[256];

	first_line(r->err_len ? r->err : r->out, line, sizeof(line));
	h->state = HOST_FAILED;
	if (r->exit_status < 0)
		snprintf(h->error, sizeof(h->error), "%s: killed by SIG%s",
			 what, r->signal[0] ? r->signal : "?");
	else if (r->exit_status == 127)
		snprintf(h->error, sizeof(h->error),
			 "%s: not found on the host (exit 127)%s%s", what,
			 line[0] ? ": " : "", line);
	else
		snprintf(h->error, sizeof(h->error), "%s: exit %d%s%s", what,
			 r->exit_status, line[0] ? ": " : "", line);
}

/*
 * avm-probe --require prints one "avm-probe: missing ITEM: reason" line
 * on stderr per item that does not hold (avm-probe(1)).
 */
static void
parse_missing(struct host_check *h, const char *err)
{
	static const char tag[] = "avm-probe: missing ";
	const char *p, *colon, *eol;
	struct missing *v, *m;

	for (p = err; *p; p = *eol ? eol + 1 : eol) {
		eol = p + strcspn(p, "\n");
		if (strncmp(p, tag, sizeof(tag) - 1) != 0)
			continue;
		p += sizeof(tag) - 1;
		colon = memchr(p, ':', (size_t)(eol - p));
		v = realloc(h->missing, (h->nmissing + 1) * sizeof(*v));
		if (!v)
			log_die(AVM_EX_SOFTWARE, "realloc: %s",
				strerror(errno));
		h->missing = v;
		m = &v[h->nmissing++];
		snprintf(m->item, sizeof(m->item), "%.*s",
			 (int)((colon ? colon : eol) - p), p);
		if (colon && colon + 2 <= eol)
			snprintf(m->reason, sizeof(m->reason), "%.*s",
				 (int)(eol - colon - 2), colon + 2);
		else
			m->reason[0] = '\0';
	}
}

static void *
host_check_run(void *arg)
{
	struct host_check *h = arg;
	const struct fabric *f = h->f;
	struct ssh_target t = {
		.host = h->node->host,
		.address = h->node->address,
		.port = h->node->ssh_port,
		.user = h->user,
		.key = h->key[0] ? h->key : NULL,
	};
	struct ssh_opts o = {
		.known_hosts = f->known_hosts,
		.accept_new = f->accept_new,
		.deadline = now_ns() + (uint64_t)f->timeout_s * 1000000000ull,
		.tag = h->node->host,
	};
	struct ssh_conn c;
	struct ssh_result r;
	char cmd[3 * PATH_MAX];

	if (ssh_open(&c, &t, &o) < 0)
		goto ssh_failed;

	if (fabric_remote_cmd(f, "avm-probe", h->require, cmd, sizeof(cmd)) <
	    0) {
		h->state = HOST_FAILED;
		snprintf(h->error, sizeof(h->error), "--remote-bin: too long");
		goto out;
	}
	if (f->verbose)
		log_info("%s: running %s", h->node->host, cmd);
	if (ssh_run(&c, cmd, &r) < 0) {
		ssh_result_release(&r);
		goto ssh_failed;
	}
	if (r.exit_status == AVM_EX_UNAVAILABLE) {
		parse_missing(h, r.err);
		if (h->nmissing > 0)
			h->state = HOST_MISSING;
		else
			command_failed(h, "avm-probe", &r);
	} else if (r.exit_status != 0) {
		command_failed(h, "avm-probe", &r);
	}
	ssh_result_release(&r);

	/* Asked even of a host that misses something: all differences
	 * come out in one run. */
	fabric_remote_cmd(f, "avm-run", "--version", cmd, sizeof(cmd));
	if (f->verbose)
		log_info("%s: running %s", h->node->host, cmd);
	if (ssh_run(&c, cmd, &r) < 0) {
		ssh_result_release(&r);
		goto ssh_failed;
	}
	if (r.exit_status != 0 && h->state == HOST_OK)
		command_failed(h, "avm-run --version", &r);
	else if (r.exit_status == 0)
		first_line(r.out, h->version, sizeof(h->version));
	ssh_result_release(&r);
	goto out;

ssh_failed:
	h->state = c.fail == SSH_REFUSED ? HOST_REFUSED : HOST_UNREACHABLE;
	snprintf(h->error, sizeof(h->error), "%s", c.error);
out:
	ssh_close(&c);
	return NULL;
}

int
host_prepare(struct host_check *h, const struct avm_config *cfg)
{
	const struct avm_node_cfg *n = h->node;
	struct passwd *pw;
	char mem[32];

	if (n->ssh_user) {
		snprintf(h->user, sizeof(h->user), "%s", n->ssh_user);
	} else {
		pw = getpwuid(geteuid());
		if (!pw) {
			log_err("no user name for uid %u: give 'ssh: user:' "
				"of node '%s'",
				(unsigned)geteuid(), n->host);
			return AVM_EX_CONFIG;
		}
		snprintf(h->user, sizeof(h->user), "%s", pw->pw_name);
	}
	if (n->ssh_key &&
	    config_path(cfg, n->ssh_key, h->key, sizeof(h->key)) < 0) {
		log_err("'%s': node '%s': key '%s': %s", cfg->file, n->host,
			n->ssh_key, strerror(errno));
		return AVM_EX_CONFIG;
	}
	snprintf(h->require, sizeof(h->require),
		 "--json --require kvm,uffd-wp,cpus=%u,memory=%s", n->vcpus,
		 size_format(n->memory_bytes, mem, sizeof(mem)));
	return 0;
}

/*
 * Marks every host whose avm-run is not the first one's (in node order),
 * and that first one when any differs.  Returns how many differ.
 */
static size_t
compare_versions(struct host_check *hs, size_t n)
{
	size_t i, ref = n, differ = 0;

	for (i = 0; i < n; i++) {
		hs[i].version_of = SIZE_MAX;
		if (!hs[i].version[0])
			continue;
		if (ref == n)
			ref = i;
		else if (strcmp(hs[i].version, hs[ref].version) != 0)
			hs[i].version_of = ref;
	}
	for (i = 0; ref < n && i < n; i++) {
		if (hs[i].version_of != SIZE_MAX) {
			if (hs[ref].version_of == SIZE_MAX)
				hs[ref].version_of = i;
			differ++;
		}
	}
	return differ;
}

static void
report_text(const struct host_check *hs, size_t n)
{
	const struct host_check *h;
	size_t i, k;

	for (i = 0; i < n; i++) {
		h = &hs[i];
		switch (h->state) {
		case HOST_OK:
			printf("%s: ok\n", h->node->host);
			break;
		case HOST_MISSING:
			for (k = 0; k < h->nmissing; k++)
				printf("%s: missing %s%s%s\n", h->node->host,
				       h->missing[k].item,
				       h->missing[k].reason[0] ? ": " : "",
				       h->missing[k].reason);
			break;
		default:
			printf("%s: %s\n", h->node->host, h->error);
			break;
		}
		if (h->version_of != SIZE_MAX)
			printf("%s: %s differs from %s on '%s'\n",
			       h->node->host, h->version,
			       hs[h->version_of].version,
			       hs[h->version_of].node->host);
	}
}

static int
report_json(const struct avm_config *cfg, const struct host_check *hs, size_t n,
	    int status)
{
	const struct host_check *h;
	struct emit e;
	size_t i, k;

	emit_init(&e, stdout, EMIT_JSON, EMIT_PRETTY);
	emit_map_begin(&e);
	emit_kv_str(&e, "cluster", cfg->file);
	emit_kv_str(&e, "vm", cfg->name);
	emit_kv_bool(&e, "ok", status == AVM_EX_OK);
	emit_kv_int(&e, "exit_status", status);
	emit_kv_list_begin(&e, "hosts");
	for (i = 0; i < n; i++) {
		h = &hs[i];
		emit_map_begin(&e);
		emit_kv_uint(&e, "node", h->index);
		emit_kv_str(&e, "host", h->node->host);
		emit_kv_str(&e, "address", h->node->address);
		emit_kv_uint(&e, "ssh_port", h->node->ssh_port);
		emit_kv_str(&e, "ssh_user", h->user);
		emit_kv_uint(&e, "vcpus", h->node->vcpus);
		emit_kv_uint(&e, "mem_bytes", h->node->memory_bytes);
		emit_kv_str(&e, "status", state_names[h->state]);
		if (h->state == HOST_OK || h->state == HOST_MISSING)
			emit_kv_null(&e, "error");
		else
			emit_kv_str(&e, "error", h->error);
		emit_kv_list_begin(&e, "missing");
		for (k = 0; k < h->nmissing; k++) {
			emit_map_begin(&e);
			emit_kv_str(&e, "item", h->missing[k].item);
			emit_kv_str(&e, "reason", h->missing[k].reason);
			emit_map_end(&e);
		}
		emit_list_end(&e);
		if (h->version[0])
			emit_kv_str(&e, "avm_run_version", h->version);
		else
			emit_kv_null(&e, "avm_run_version");
		emit_kv_bool(&e, "avm_run_differs", h->version_of != SIZE_MAX);
		emit_map_end(&e);
	}
	emit_list_end(&e);
	emit_map_end(&e);
	if (fabric_emit_finish(&e) < 0)
		return AVM_EX_FAIL;
	return status;
}

/*
 * The worst answer decides: a refused host (77) before an unavailable
 * one (69) before avm-run versions that differ (65).
 */
static int
check_status(const struct host_check *hs, size_t n, size_t differ)
{
	enum host_state worst = HOST_OK;
	size_t i;

	for (i = 0; i < n; i++)
		if (hs[i].state > worst)
			worst = hs[i].state;
	switch (worst) {
	case HOST_OK:
		return differ ? AVM_EX_DATAERR : AVM_EX_OK;
	case HOST_REFUSED:
		return AVM_EX_NOPERM;
	default:
		return AVM_EX_UNAVAILABLE;
	}
}

int
verb_check(struct fabric *f, int argc, char **argv)
{
	struct avm_config cfg;
	struct host_check *hs;
	pthread_t *tids;
	size_t i, started = 0;
	int status, r;

	r = fabric_load(argc, argv, "check", &cfg);
	if (r == AVM_EX_OK)
		r = fabric_known_hosts(f, &cfg);
	if (r != AVM_EX_OK) {
		config_release(&cfg);
		return r;
	}
	hs = calloc(cfg.nnodes, sizeof(*hs));
	tids = calloc(cfg.nnodes, sizeof(*tids));
	if (!hs || !tids)
		log_die(AVM_EX_SOFTWARE, "calloc: %s", strerror(errno));
	for (i = 0; i < cfg.nnodes; i++) {
		hs[i].f = f;
		hs[i].cfg = &cfg;
		hs[i].node = &cfg.nodes[i];
		hs[i].index = i;
		status = host_prepare(&hs[i], &cfg);
		if (status != 0)
			goto out;
	}
	if (ssh_global_init() < 0)
		log_die(AVM_EX_SOFTWARE, "libssh2_init failed");
	for (i = 0; i < cfg.nnodes; i++) {
		r = pthread_create(&tids[i], NULL, host_check_run, &hs[i]);
		if (r != 0) {
			log_err("pthread_create: %s", strerror(r));
			status = AVM_EX_SOFTWARE;
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	ssh_global_release();
	if (started != cfg.nnodes)
		goto out;

	status = check_status(hs, cfg.nnodes, compare_versions(hs, cfg.nnodes));
	if (f->json)
		status = report_json(&cfg, hs, cfg.nnodes, status);
	else
		report_text(hs, cfg.nnodes);
	if (fflush(stdout) != 0 && status == AVM_EX_OK) {
		log_err("write output: %s", strerror(errno));
		status = AVM_EX_FAIL;
	}
out:
	for (i = 0; i < cfg.nnodes; i++)
		free(hs[i].missing);
	free(hs);
	free(tids);
	config_release(&cfg);
	return status;
}
