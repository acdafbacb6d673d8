/*
 * avm-fabric: brings the hosts of one aggregated VM together over ssh.
 * Verbs come from one table that is also the usage; today there is one,
 * check: every host of the cluster file is reached over ssh in parallel
 * and asked, with its own avm-probe, whether it can give what its node
 * contributes, and which avm-run it has.
 */
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

#define PROG "avm-fabric"

#define TIMEOUT_DEFAULT_S 30
#define REMOTE_RUNDIR_DEFAULT "/run/avm"

static const char usage_line[] =
	"usage: " PROG " [-hjVv] [-k file] [-t secs] [-R dir] [-D dir]\n"
	"                  [--insecure-accept-new-host-keys] verb FILE\n";

enum {
	OPT_HELP = 'h',
	OPT_VERSION = 'V',
	OPT_VERBOSE = 'v',
	OPT_JSON = 'j',
	OPT_KNOWN_HOSTS = 'k',
	OPT_TIMEOUT = 't',
	OPT_REMOTE_BIN = 'R',
	OPT_REMOTE_RUNDIR = 'D',
	OPT_ACCEPT_NEW = 256,
};

static const struct opt opts[] = {
	{ "help", OPT_HELP, NULL, "print this help and exit" },
	{ "version", OPT_VERSION, NULL, "print the version and exit" },
	{ "verbose", OPT_VERBOSE, NULL,
	  "say on stderr what runs on which host" },
	{ "json", OPT_JSON, NULL, "print one JSON document" },
	{ "known-hosts", OPT_KNOWN_HOSTS, "file",
	  "host keys to accept (default\n"
	  "~/.ssh/known_hosts)" },
	{ "timeout", OPT_TIMEOUT, "secs",
	  "give each host this long, ssh and\n"
	  "commands together (default 30)" },
	{ "remote-bin", OPT_REMOTE_BIN, "dir",
	  "where avm-probe and avm-run are on the\n"
	  "hosts (default: the remote PATH)" },
	{ "remote-rundir", OPT_REMOTE_RUNDIR, "dir",
	  "the run directory on the hosts, for up\n"
	  "and down (default /run/avm)" },
	{ "insecure-accept-new-host-keys", OPT_ACCEPT_NEW, NULL,
	  "take a host key that known_hosts does not\n"
	  "know (never a changed one), with a warning" },
};

struct fabric {
	int json;
	int verbose;
	int accept_new;
	unsigned timeout_s;
	const char *remote_bin;
	const char *remote_rundir;
	char known_hosts[PATH_MAX];
};

struct verb {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(struct fabric *f, int argc, char **argv);
};

static int verb_check(struct fabric *f, int argc, char **argv);
static int verb_up(struct fabric *f, int argc, char **argv);
static int verb_down(struct fabric *f, int argc, char **argv);

static const struct verb verbs[] = {
	{ "check", "FILE",
	  "on every host of the cluster file, check over ssh\n"
	  "what its node needs (avm-probe --require) and that\n"
	  "avm-run is the same version everywhere",
	  verb_check },
	{ "up", "FILE",
	  "create the VM's secret and push it and the cluster\n"
	  "file to every host over SFTP (to none unless every\n"
	  "host is reached and authenticated)",
	  verb_up },
	{ "down", "FILE",
	  "remove from every host what up put there, and the\n"
	  "local secret; nothing there is no error",
	  verb_down },
};

static void
help(void)
{
	const char *h, *nl;
	char word[64];
	size_t i;

	fputs(usage_line, stdout);
	fputs("\nverbs:\n", stdout);
	for (i = 0; i < AVM_ARRAY_SIZE(verbs); i++) {
		snprintf(word, sizeof(word), "%s %s", verbs[i].name,
			 verbs[i].args);
		for (h = verbs[i].help; h; h = nl ? nl + 1 : NULL) {
			nl = strchr(h, '\n');
			printf("  %-19s%.*s\n", h == verbs[i].help ? word : "",
			       nl ? (int)(nl - h) : (int)strlen(h), h);
		}
	}
	fputs("\noptions:\n", stdout);
	opt_help(stdout, opts, AVM_ARRAY_SIZE(opts));
	exit_usage(stdout, PROG);
}

static void __attribute__((noreturn)) usage_error(void)
{
	fputs(usage_line, stderr);
	exit(AVM_EX_USAGE);
}

/* ---- check ------------------------------------------------------------ */

/* What one host answered, from best to worst. */
enum host_state {
	HOST_OK,
	HOST_MISSING,	  /* avm-probe says a need is missing: 69 */
	HOST_FAILED,	  /* a remote command could not tell: 69 */
	HOST_UNREACHABLE, /* ssh could not get there: 69 */
	HOST_REFUSED,	  /* host key or authentication: 77 */
};

static const char *const state_names[] = {
	[HOST_OK] = "ok",	    [HOST_MISSING] = "missing",
	[HOST_FAILED] = "failed",   [HOST_UNREACHABLE] = "unreachable",
	[HOST_REFUSED] = "refused",
};

struct missing {
	char item[64];
	char reason[256];
};

struct host_check {
	const struct fabric *f;
	const struct avm_config *cfg;
	const struct avm_node_cfg *node;
	size_t index;
	char user[256];
	char key[PATH_MAX];
	char require[256];

	enum host_state state;
	char error[640];
	struct missing *missing;
	size_t nmissing;
	char version[128]; /* avm-run --version, "" when not known */
	size_t version_of; /* the node whose avm-run differs; SIZE_MAX */
};

/* The first line of s, up to len - 1 bytes, without its newline. */
static void
first_line(const char *s, char *buf, size_t len)
{
	size_t n = strcspn(s, "\n");

	snprintf(buf, len, "%.*s", (int)n, s);
}

/* A remote command's path: dir/name quoted, or name for the PATH. */
static int
remote_cmd(const struct fabric *f, const char *name, const char *args,
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

	if (remote_cmd(f, "avm-probe", h->require, cmd, sizeof(cmd)) < 0) {
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
	remote_cmd(f, "avm-run", "--version", cmd, sizeof(cmd));
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

/* The ssh user and key of a node, and what its avm-probe must check. */
static int
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
	if (emit_finish(&e) < 0) {
		if (errno == EINVAL || errno == ERANGE)
			log_die(AVM_EX_SOFTWARE, "internal error: output tree "
						 "is malformed");
		log_err("write output: %s", strerror(errno));
		return AVM_EX_FAIL;
	}
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

static int
verb_check(struct fabric *f, int argc, char **argv)
{
	struct avm_config cfg;
	struct avm_diag d;
	struct host_check *hs;
	pthread_t *tids;
	char line[1024];
	size_t i, started = 0;
	int status, r;

	if (argc != 1) {
		if (argc)
			log_err("check: unexpected argument '%s'", argv[1]);
		else
			log_err("check: no cluster file");
		usage_error();
	}
	if (config_load_file(argv[0], &cfg, &d) < 0) {
		avm_diag_format(&d, line, sizeof(line));
		log_err("%s", line);
		return errno == ENOENT || errno == EACCES || errno == EISDIR
			       ? AVM_EX_NOINPUT
			       : AVM_EX_CONFIG;
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

/* ---- up and down ------------------------------------------------------ */

/* What up or down did on one host, from best to worst. */
enum push_state {
	PUSH_DONE,	  /* up: pushed; down: removed */
	PUSH_NOTHING,	  /* down: nothing was there */
	PUSH_HELD,	  /* up: not pushed, another host failed */
	PUSH_CANTWRITE,	  /* the host refused a write or removal: 73 */
	PUSH_UNREACHABLE, /* 69 */
	PUSH_REFUSED,	  /* host key or authentication: 77 */
};

static const char *const push_names[] = {
	[PUSH_DONE] = "done",
	[PUSH_NOTHING] = "nothing",
	[PUSH_HELD] = "held",
	[PUSH_CANTWRITE] = "cantwrite",
	[PUSH_UNREACHABLE] = "unreachable",
	[PUSH_REFUSED] = "refused",
};

/* What every host gets and where: the same paths on every host. */
struct push_plan {
	const struct fabric *f;
	const struct avm_config *cfg;
	char local_secret[PATH_MAX];
	char remote_dir[PATH_MAX];     /* <remote rundir>/<vm> */
	char remote_cluster[PATH_MAX]; /* <remote_dir>/cluster.yaml */
	char remote_secret[PATH_MAX];
	char secret_dir[PATH_MAX]; /* the remote secret's folder */
	const void *secret, *cluster;
	size_t secret_len, cluster_len;
};

struct push_host {
	const struct push_plan *plan;
	const struct avm_node_cfg *node;
	size_t index;
	struct host_check hc; /* user and key, as check takes them */
	struct ssh_conn c;
	int opened;
	enum push_state state;
	char error[640];
};

static void
push_fail(struct push_host *h)
{
	switch (h->c.fail) {
	case SSH_REFUSED:
		h->state = PUSH_REFUSED;
		break;
	case SSH_CANTWRITE:
		h->state = PUSH_CANTWRITE;
		break;
	default:
		h->state = PUSH_UNREACHABLE;
		break;
	}
	snprintf(h->error, sizeof(h->error), "%s", h->c.error);
}

/* First step on every host: connect and authenticate, nothing more. */
static void *
push_open(void *arg)
{
	struct push_host *h = arg;
	const struct fabric *f = h->plan->f;
	struct ssh_target t = {
		.host = h->node->host,
		.address = h->node->address,
		.port = h->node->ssh_port,
		.user = h->hc.user,
		.key = h->hc.key[0] ? h->hc.key : NULL,
	};
	struct ssh_opts o = {
		.known_hosts = f->known_hosts,
		.accept_new = f->accept_new,
		.deadline = now_ns() + (uint64_t)f->timeout_s * 1000000000ull,
		.tag = h->node->host,
	};

	h->opened = 1;
	if (ssh_open(&h->c, &t, &o) < 0)
		push_fail(h);
	return NULL;
}

static void *
push_up(void *arg)
{
	struct push_host *h = arg;
	const struct push_plan *p = h->plan;

	if (p->f->verbose)
		log_info("%s: writing '%s' and '%s'", h->node->host,
			 p->remote_secret, p->remote_cluster);
	if (ssh_sftp_mkdirs(&h->c, p->remote_dir, 0700) < 0 ||
	    (strcmp(p->secret_dir, p->remote_dir) != 0 &&
	     ssh_sftp_mkdirs(&h->c, p->secret_dir, 0700) < 0) ||
	    ssh_sftp_put(&h->c, p->remote_secret, p->secret, p->secret_len,
			 0600) < 0 ||
	    ssh_sftp_put(&h->c, p->remote_cluster, p->cluster, p->cluster_len,
			 0600) < 0) {
		push_fail(h);
		return NULL;
	}
	h->state = PUSH_DONE;
	return NULL;
}

static void *
push_down(void *arg)
{
	struct push_host *h = arg;
	const struct push_plan *p = h->plan;
	int a, b, d;

	if (p->f->verbose)
		log_info("%s: removing '%s', '%s' and '%s'", h->node->host,
			 p->remote_secret, p->remote_cluster, p->remote_dir);
	if (ssh_sftp_unlink(&h->c, p->remote_secret, &a) < 0 ||
	    ssh_sftp_unlink(&h->c, p->remote_cluster, &b) < 0 ||
	    ssh_sftp_rmdir(&h->c, p->remote_dir, &d) < 0) {
		push_fail(h);
		return NULL;
	}
	h->state = a || b || d ? PUSH_DONE : PUSH_NOTHING;
	return NULL;
}

/* Runs fn on every host still good (or every host), one thread each. */
static int
push_each(struct push_host *hs, size_t n, void *(*fn)(void *), int all)
{
	pthread_t *tids = calloc(n, sizeof(*tids));
	char *ran = calloc(n, 1);
	size_t i;
	int r, status = 0;

	if (!tids || !ran)
		log_die(AVM_EX_SOFTWARE, "calloc: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		if (!all && hs[i].state != PUSH_HELD)
			continue;
		r = pthread_create(&tids[i], NULL, fn, &hs[i]);
		if (r != 0) {
			log_err("pthread_create: %s", strerror(r));
			status = AVM_EX_SOFTWARE;
			break;
		}
		ran[i] = 1;
	}
	for (i = 0; i < n; i++)
		if (ran[i])
			pthread_join(tids[i], NULL);
	free(tids);
	free(ran);
	return status;
}

/*
 * A path of the cluster file as the hosts see it: "~/x" is x in the
 * remote user's home (where SFTP starts), a relative path starts in the
 * folder the cluster file is pushed to.
 */
static int
remote_path(const struct push_plan *p, const char *path, char *buf, size_t len)
{
	int n;

	if (path[0] == '/')
		n = snprintf(buf, len, "%s", path);
	else if (strncmp(path, "~/", 2) == 0)
		n = snprintf(buf, len, "%s", path + 2);
	else
		n = snprintf(buf, len, "%s/%s", p->remote_dir, path);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* The folder of path ("." for a bare name). */
static void
dir_of(const char *path, char *buf, size_t len)
{
	const char *sl = strrchr(path, '/');

	if (!sl)
		snprintf(buf, len, ".");
	else if (sl == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(sl - path), path);
}

/* Loads the cluster file and works out every path; 0 or an exit status. */
static int
plan_init(struct push_plan *p, struct avm_config *cfg, const char *verb,
	  int argc, char **argv)
{
	struct avm_diag d;
	char line[1024], rundir[PATH_MAX];

	if (argc != 1) {
		if (argc)
			log_err("%s: unexpected argument '%s'", verb, argv[1]);
		else
			log_err("%s: no cluster file", verb);
		usage_error();
	}
	if (config_load_file(argv[0], cfg, &d) < 0) {
		avm_diag_format(&d, line, sizeof(line));
		log_err("%s", line);
		return errno == ENOENT || errno == EACCES || errno == EISDIR
			       ? AVM_EX_NOINPUT
			       : AVM_EX_CONFIG;
	}
	p->cfg = cfg;
	/* The local secret where avm-run looks for it (cluster.c). */
	if (cfg->fabric_secret) {
		if (config_path(cfg, cfg->fabric_secret, p->local_secret,
				sizeof(p->local_secret)) < 0) {
			log_err("'%s': secret path: %s", cfg->file,
				strerror(errno));
			return AVM_EX_CONFIG;
		}
	} else {
		if (avm_rundir(rundir, sizeof(rundir)) < 0) {
			log_err("no run directory: set AVM_RUNDIR");
			return AVM_EX_CONFIG;
		}
		if (snprintf(p->local_secret, sizeof(p->local_secret),
			     "%s/%s/secret", rundir,
			     cfg->name) >= (int)sizeof(p->local_secret)) {
			log_err("'%s': secret path too long", rundir);
			return AVM_EX_CONFIG;
		}
	}
	if (snprintf(p->remote_dir, sizeof(p->remote_dir), "%s/%s",
		     p->f->remote_rundir, cfg->name) >= PATH_MAX - 16) {
		log_err("--remote-rundir: path too long");
		return AVM_EX_USAGE;
	}
	memcpy(p->remote_cluster, p->remote_dir, sizeof(p->remote_dir));
	strcat(p->remote_cluster, "/cluster.yaml");
	if (remote_path(p, cfg->fabric_secret ? cfg->fabric_secret : "secret",
			p->remote_secret, sizeof(p->remote_secret)) < 0) {
		log_err("'%s': remote secret path too long", cfg->file);
		return AVM_EX_CONFIG;
	}
	dir_of(p->remote_secret, p->secret_dir, sizeof(p->secret_dir));
	return 0;
}

/* The hosts, each with its ssh user and key; 0 or an exit status. */
static int
hosts_init(struct push_plan *p, struct push_host **out)
{
	struct push_host *hs = calloc(p->cfg->nnodes, sizeof(*hs));
	size_t i;
	int status;

	if (!hs)
		log_die(AVM_EX_SOFTWARE, "calloc: %s", strerror(errno));
	*out = hs;
	for (i = 0; i < p->cfg->nnodes; i++) {
		hs[i].plan = p;
		hs[i].node = &p->cfg->nodes[i];
		hs[i].index = i;
		hs[i].state = PUSH_HELD;
		hs[i].hc.node = hs[i].node;
		status = host_prepare(&hs[i].hc, p->cfg);
		if (status != 0)
			return status;
	}
	return 0;
}

static void
hosts_close(struct push_host *hs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (hs[i].opened)
			ssh_close(&hs[i].c);
}

/* A refused host (77) before an unreachable one (69) before a host that
 * could not be written (73). */
static int
push_status(const struct push_host *hs, size_t n)
{
	enum push_state worst = PUSH_DONE;
	size_t i;

	for (i = 0; i < n; i++)
		if (hs[i].state > worst)
			worst = hs[i].state;
	switch (worst) {
	case PUSH_REFUSED:
		return AVM_EX_NOPERM;
	case PUSH_UNREACHABLE:
		return AVM_EX_UNAVAILABLE;
	case PUSH_CANTWRITE:
		return AVM_EX_CANTCREAT;
	case PUSH_HELD:
		return AVM_EX_SOFTWARE;
	default:
		return AVM_EX_OK;
	}
}

/* One line per host, or one JSON document; returns the exit status. */
static int
push_report(const struct push_plan *p, const struct push_host *hs, int up,
	    int local_removed, int status)
{
	const struct push_host *h;
	struct emit e;
	size_t i;

	if (!p->f->json) {
		for (i = 0; i < p->cfg->nnodes; i++) {
			h = &hs[i];
			switch (h->state) {
			case PUSH_DONE:
				printf("%s: %s\n", h->node->host,
				       up ? "secret and cluster file pushed"
					  : "secret and cluster file removed");
				break;
			case PUSH_NOTHING:
				printf("%s: nothing was there\n",
				       h->node->host);
				break;
			case PUSH_HELD:
				printf("%s: nothing pushed: not every host "
				       "was reached\n",
				       h->node->host);
				break;
			default:
				printf("%s: %s\n", h->node->host, h->error);
				break;
			}
		}
		goto flush;
	}
	emit_init(&e, stdout, EMIT_JSON, EMIT_PRETTY);
	emit_map_begin(&e);
	emit_kv_str(&e, "cluster", p->cfg->file);
	emit_kv_str(&e, "vm", p->cfg->name);
	emit_kv_bool(&e, "ok", status == AVM_EX_OK);
	emit_kv_int(&e, "exit_status", status);
	emit_kv_str(&e, "secret", p->local_secret);
	if (!up)
		emit_kv_bool(&e, "secret_removed", local_removed);
	emit_kv_str(&e, "remote_secret", p->remote_secret);
	emit_kv_str(&e, "remote_cluster", p->remote_cluster);
	emit_kv_list_begin(&e, "hosts");
	for (i = 0; i < p->cfg->nnodes; i++) {
		h = &hs[i];
		emit_map_begin(&e);
		emit_kv_uint(&e, "node", h->index);
		emit_kv_str(&e, "host", h->node->host);
		emit_kv_str(&e, "address", h->node->address);
		emit_kv_str(&e, "status", push_names[h->state]);
		if (h->state >= PUSH_CANTWRITE)
			emit_kv_str(&e, "error", h->error);
		else
			emit_kv_null(&e, "error");
		emit_map_end(&e);
	}
	emit_list_end(&e);
	emit_map_end(&e);
	if (emit_finish(&e) < 0) {
		if (errno == EINVAL || errno == ERANGE)
			log_die(AVM_EX_SOFTWARE, "internal error: output tree "
						 "is malformed");
		log_err("write output: %s", strerror(errno));
		return AVM_EX_FAIL;
	}
flush:
	if (fflush(stdout) != 0 && status == AVM_EX_OK) {
		log_err("write output: %s", strerror(errno));
		return AVM_EX_FAIL;
	}
	return status;
}

/* Reads a whole local file of at most max bytes into *buf (malloc'd). */
static int
slurp(const char *path, size_t max, char **buf, size_t *len)
{
	char *b = malloc(max + 1);
	ssize_t n;
	size_t got = 0;
	int fd;

	if (!b)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		free(b);
		return -1;
	}
	for (;;) {
		n = read(fd, b + got, max + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got > max) {
			n = -1;
			errno = EFBIG;
			break;
		}
	}
	close(fd);
	if (n < 0) {
		explicit_bzero(b, max + 1);
		free(b);
		return -1;
	}
	*buf = b;
	*len = got;
	return 0;
}

static int
verb_up(struct fabric *f, int argc, char **argv)
{
	struct push_plan p = { .f = f };
	struct avm_config cfg = { 0 };
	struct push_host *hs = NULL;
	char *secret = NULL, *cluster = NULL, dir[PATH_MAX], why[512];
	size_t i, n = 0, secret_len = 0, cluster_len = 0;
	int status, rc, created = 0;

	status = plan_init(&p, &cfg, "up", argc, argv);
	if (status != 0)
		goto out;
	n = cfg.nnodes;
	status = hosts_init(&p, &hs);
	if (status != 0)
		goto out;
	if (slurp(argv[0], 16u << 20, &cluster, &cluster_len) < 0) {
		log_err("read '%s': %s", argv[0], strerror(errno));
		status = AVM_EX_NOINPUT;
		goto out;
	}
	dir_of(p.local_secret, dir, sizeof(dir));
	if (avm_trusted_dir(dir, why, sizeof(why)) < 0) {
		log_err("%s", why);
		status = errno == EPERM || errno == ENOTDIR ? AVM_EX_NOPERM
							    : AVM_EX_CANTCREAT;
		goto out;
	}
	/* A new secret each time: an old one may still be in use. */
	rc = auth_secret_create(p.local_secret);
	if (rc == -EEXIST) {
		log_err("secret '%s': exists: the VM is up already (%s down "
			"first)",
			p.local_secret, PROG);
		status = AVM_EX_CANTCREAT;
		goto out;
	}
	if (rc < 0 || slurp(p.local_secret, 4096, &secret, &secret_len) < 0) {
		log_err("create secret '%s': %s", p.local_secret,
			strerror(rc < 0 ? -rc : errno));
		status = AVM_EX_CANTCREAT;
		goto out;
	}
	created = 1;
	p.secret = secret;
	p.secret_len = secret_len;
	p.cluster = cluster;
	p.cluster_len = cluster_len;

	if (ssh_global_init() < 0)
		log_die(AVM_EX_SOFTWARE, "libssh2_init failed");
	/* Every host reached and authenticated before any gets a byte: a
	 * host we may not trust must not make the others hold a secret. */
	status = push_each(hs, n, push_open, 1);
	for (i = 0; i < n && status == 0; i++)
		if (hs[i].c.fail != SSH_OK)
			status = -1;
	if (status == 0)
		status = push_each(hs, n, push_up, 0);
	hosts_close(hs, n);
	ssh_global_release();
	if (status > 0)
		goto out;
	status = push_status(hs, n);
	for (i = 0; i < n; i++) {
		if (hs[i].state == PUSH_DONE && status != AVM_EX_OK) {
			/* Kept to match what hosts already hold. */
			created = 0;
			log_err("some hosts hold the new secret: '%s down' "
				"removes it",
				PROG);
			break;
		}
	}
	status = push_report(&p, hs, 1, 0, status);
out:
	if (created && status != AVM_EX_OK && status != AVM_EX_FAIL &&
	    unlink(p.local_secret) < 0)
		log_warn("remove '%s': %s", p.local_secret, strerror(errno));
	if (secret)
		explicit_bzero(secret, secret_len);
	free(secret);
	free(cluster);
	free(hs);
	config_release(&cfg);
	return status;
}

static int
verb_down(struct fabric *f, int argc, char **argv)
{
	struct push_plan p = { .f = f };
	struct avm_config cfg = { 0 };
	struct push_host *hs = NULL;
	size_t n = 0;
	int status, removed = 0;

	status = plan_init(&p, &cfg, "down", argc, argv);
	if (status != 0)
		goto out;
	n = cfg.nnodes;
	status = hosts_init(&p, &hs);
	if (status != 0)
		goto out;
	if (ssh_global_init() < 0)
		log_die(AVM_EX_SOFTWARE, "libssh2_init failed");
	status = push_each(hs, n, push_open, 1);
	if (status == 0)
		status = push_each(hs, n, push_down, 0);
	hosts_close(hs, n);
	ssh_global_release();
	if (status > 0)
		goto out;
	status = push_status(hs, n);
	if (unlink(p.local_secret) == 0) {
		removed = 1;
	} else if (errno != ENOENT) {
		log_err("remove '%s': %s", p.local_secret, strerror(errno));
		if (status == AVM_EX_OK)
			status = AVM_EX_CANTCREAT;
	}
	status = push_report(&p, hs, 0, removed, status);
out:
	free(hs);
	config_release(&cfg);
	return status;
}

/* ---- main ------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	struct fabric f = { .timeout_s = TIMEOUT_DEFAULT_S,
			    .remote_rundir = REMOTE_RUNDIR_DEFAULT };
	struct opt_parser p;
	const char *home;
	uint64_t v;
	size_t i;
	int c;

	log_init(PROG, -1, 1);
	if (opt_parser_init(&p, opts, AVM_ARRAY_SIZE(opts)) < 0)
		log_die(AVM_EX_SOFTWARE, "option table: %s", strerror(errno));
	while ((c = opt_parser_next(&p, argc, argv)) != -1) {
		switch (c) {
		case OPT_HELP:
			help();
			return AVM_EX_OK;
		case OPT_VERSION:
			printf("%s %s\n", PROG, AVM_VERSION);
			return AVM_EX_OK;
		case OPT_VERBOSE:
			f.verbose = 1;
			break;
		case OPT_JSON:
			f.json = 1;
			break;
		case OPT_KNOWN_HOSTS:
			if (snprintf(f.known_hosts, sizeof(f.known_hosts), "%s",
				     optarg) >= (int)sizeof(f.known_hosts)) {
				log_err("--known-hosts: path too long");
				usage_error();
			}
			break;
		case OPT_TIMEOUT:
			if (uint_parse(optarg, 1, 86400, &v) < 0) {
				log_err("--timeout '%s': not a number of "
					"seconds from 1 to 86400",
					optarg);
				usage_error();
			}
			f.timeout_s = (unsigned)v;
			break;
		case OPT_REMOTE_BIN:
			if (!*optarg) {
				log_err("--remote-bin: empty directory");
				usage_error();
			}
			f.remote_bin = optarg;
			break;
		case OPT_REMOTE_RUNDIR:
			if (!*optarg || strlen(optarg) >= PATH_MAX / 2) {
				log_err("--remote-rundir: empty or too long");
				usage_error();
			}
			f.remote_rundir = optarg;
			break;
		case OPT_ACCEPT_NEW:
			f.accept_new = 1;
			break;
		default:
			log_err("%s", p.error);
			usage_error();
		}
	}
	if (optind >= argc) {
		log_err("no verb (check, up, down)");
		usage_error();
	}
	for (i = 0; i < AVM_ARRAY_SIZE(verbs); i++)
		if (strcmp(argv[optind], verbs[i].name) == 0)
			break;
	if (i == AVM_ARRAY_SIZE(verbs)) {
		log_err("unknown verb '%s' (check, up, down)", argv[optind]);
		usage_error();
	}
	if (!f.known_hosts[0]) {
		home = getenv("HOME");
		if (!home || !*home) {
			log_err("no $HOME for ~/.ssh/known_hosts: give "
				"--known-hosts");
			return AVM_EX_CONFIG;
		}
		snprintf(f.known_hosts, sizeof(f.known_hosts),
			 "%s/.ssh/known_hosts", home);
	}
	if (f.accept_new)
		log_warn("--insecure-accept-new-host-keys: a host key that "
			 "'%s' does not know is taken without checking",
			 f.known_hosts);
	return verbs[i].run(&f, argc - optind - 1, argv + optind + 1);
}
