/* avm-fabric up and down: the VM's secret and cluster file on every
 * host over SFTP; see fabric.h. */
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
#include "avm/fabricmap.h"
#include "avm/log.h"
#include "avm/opt.h"
#include "avm/util.h"
#include "ssh.h"

#include "fabric.h"
#include "matrix.h"
#include "push.h"

/* ---- up and down ------------------------------------------------------ */

static const char *const push_names[] = {
	[PUSH_DONE] = "done",
	[PUSH_NOTHING] = "nothing",
	[PUSH_HELD] = "held",
	[PUSH_CANTWRITE] = "cantwrite",
	[PUSH_UNREACHABLE] = "unreachable",
	[PUSH_REFUSED] = "refused",
};

void
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
void *
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
	char node[PATH_MAX + 32];
	const char *ext[] = { "pid", "log" };
	int a, b, d, e = 0, g, m;
	size_t k;

	if (p->f->verbose)
		log_info("%s: removing '%s', '%s' and '%s'", h->node->host,
			 p->remote_secret, p->remote_cluster, p->remote_dir);
	snprintf(node, sizeof(node), "%s/" FABRIC_MAP_FILE, p->remote_dir);
	if (ssh_sftp_unlink(&h->c, p->remote_secret, &a) < 0 ||
	    ssh_sftp_unlink(&h->c, p->remote_cluster, &b) < 0 ||
	    ssh_sftp_unlink(&h->c, node, &m) < 0)
		goto fail;
	/* what launch --detach left */
	for (k = 0; k < AVM_ARRAY_SIZE(ext); k++) {
		snprintf(node, sizeof(node), "%s/node-%zu.%s", p->remote_dir,
			 h->index, ext[k]);
		if (ssh_sftp_unlink(&h->c, node, &g) < 0)
			goto fail;
		e |= g;
	}
	if (ssh_sftp_rmdir(&h->c, p->remote_dir, &d) < 0)
		goto fail;
	h->state = a || b || d || e || m ? PUSH_DONE : PUSH_NOTHING;
	return NULL;
fail:
	push_fail(h);
	return NULL;
}

/*
 * The fabric map from a complete measurement: written here beside the
 * local secret's folder as <rundir>/<vm>/fabric.map, and on every host
 * where its avm-run reads it, <remote rundir>/<vm>/fabric.map.  A host
 * that cannot take it is named; p->map_status says 73 then.
 */
static void
map_hand_out(const struct push_plan *p, struct push_host *hs, struct matrix *mx)
{
	struct fabric_map *m = &mx->own;
	char *buf = NULL, remote[PATH_MAX + 16], dir[PATH_MAX], why[512];
	struct push_plan *pp = (struct push_plan *)p;
	size_t len = 0, i;

	if (matrix_map(p->cfg, mx, m) < 0 ||
	    fabric_map_format(m, &buf, &len) < 0) {
		log_err("fabric map: %s", strerror(errno));
		pp->map_status = AVM_EX_SOFTWARE;
		return;
	}
	mx->map = m;
	avm_dirname(p->local_map, dir, sizeof(dir));
	if (avm_trusted_dir(dir, why, sizeof(why)) < 0) {
		log_err("%s", why);
		pp->map_status = AVM_EX_CANTCREAT;
	} else if (avm_write_file(p->local_map, buf, len, 0600, 1) < 0) {
		log_err("write '%s': %s", p->local_map, strerror(errno));
		pp->map_status = AVM_EX_CANTCREAT;
	}
	snprintf(remote, sizeof(remote), "%s/" FABRIC_MAP_FILE, p->remote_dir);
	for (i = 0; i < p->cfg->nnodes; i++) {
		if (ssh_sftp_put(&hs[i].c, remote, buf, len, 0600) == 0)
			continue;
		push_fail(&hs[i]);
		log_err("%s: fabric map: %s", hs[i].node->host, hs[i].error);
		pp->map_status = AVM_EX_CANTCREAT;
	}
	free(buf);
}

/*
 * up's link matrix, over the connections push_up used.  Returns 1 when
 * it was measured (mx filled, whatever came out).
 */
static int
links_measure(const struct fabric *f, const struct push_plan *p,
	      struct push_host *hs, struct matrix *mx)
{
	struct matrix_plan mp = { .cfg = p->cfg,
				  .remote_cluster = p->remote_cluster,
				  .remote_secret = p->remote_secret };
	size_t i, n = p->cfg->nnodes;

	mp.conns = calloc(n, sizeof(*mp.conns));
	if (!mp.conns)
		log_die(AVM_EX_SOFTWARE, "calloc: %s", strerror(errno));
	for (i = 0; i < n; i++)
		mp.conns[i] = &hs[i].c;
	if (matrix_measure(f, &mp, mx) == AVM_EX_OK)
		map_hand_out(p, hs, mx);
	free(mp.conns);
	return 1;
}

/* Runs fn on every host still good (or every host), one thread each. */
int
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

/* Loads the cluster file and works out every path; 0 or an exit status. */
int
plan_init(struct push_plan *p, struct avm_config *cfg, const char *verb,
	  int argc, char **argv)
{
	char rundir[PATH_MAX];
	int rc;

	rc = fabric_load(argc, argv, verb, cfg);
	if (rc != AVM_EX_OK)
		return rc;
	p->cfg = cfg;
	rc = fabric_secret_path(cfg, p->local_secret, sizeof(p->local_secret));
	if (rc != 0)
		return rc;
	if (avm_rundir(rundir, sizeof(rundir)) < 0 ||
	    snprintf(p->local_map, sizeof(p->local_map),
		     "%s/%s/" FABRIC_MAP_FILE, rundir,
		     cfg->name) >= (int)sizeof(p->local_map)) {
		log_err("no run directory, or too long: set AVM_RUNDIR");
		return AVM_EX_CONFIG;
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
	avm_dirname(p->remote_secret, p->secret_dir, sizeof(p->secret_dir));
	return 0;
}

/* The hosts, each with its ssh user and key; 0 or an exit status. */
int
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

void
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
	    int local_removed, int status, const struct matrix *mx)
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
		if (mx)
			matrix_print(stdout, p->f, p->cfg, mx);
		if (mx && mx->map && !p->map_status)
			matrix_print_map(stdout, p->cfg, mx,
					 "fabric.map, here and on every host");
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
	if (mx)
		matrix_emit(&e, p->cfg, mx);
	if (mx && mx->map && !p->map_status)
		emit_kv_str(&e, "fabric_map", p->local_map);
	else if (up)
		emit_kv_null(&e, "fabric_map");
	emit_map_end(&e);
	if (fabric_emit_finish(&e) < 0)
		return AVM_EX_FAIL;
flush:
	if (fflush(stdout) != 0 && status == AVM_EX_OK) {
		log_err("write output: %s", strerror(errno));
		return AVM_EX_FAIL;
	}
	return status;
}

int
verb_up(struct fabric *f, int argc, char **argv)
{
	struct push_plan p = { .f = f };
	struct avm_config cfg = { 0 };
	struct push_host *hs = NULL;
	struct matrix mx = { 0 };
	char *secret = NULL, *cluster = NULL, dir[PATH_MAX], why[512];
	size_t i, n = 0, secret_len = 0, cluster_len = 0;
	int status, rc, created = 0, measured = 0;

	status = plan_init(&p, &cfg, "up", argc, argv);
	if (status == 0)
		status = fabric_known_hosts(f, &cfg);
	if (status != 0)
		goto out;
	n = cfg.nnodes;
	status = hosts_init(&p, &hs);
	if (status != 0)
		goto out;
	if (avm_read_file(argv[0], 16u << 20, 0, &cluster, &cluster_len) < 0) {
		log_err("read '%s': %s", argv[0], strerror(errno));
		status = AVM_EX_NOINPUT;
		goto out;
	}
	avm_dirname(p.local_secret, dir, sizeof(dir));
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
	if (rc < 0 || avm_read_file(p.local_secret, 4096, O_NOFOLLOW, &secret,
				    &secret_len) < 0) {
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
	if (status == 0 && push_status(hs, n) == AVM_EX_OK && !f->no_measure)
		measured = links_measure(f, &p, hs, &mx);
	hosts_close(hs, n);
	ssh_global_release();
	if (status > 0)
		goto out;
	status = push_status(hs, n);
	if (status == AVM_EX_OK && measured)
		status = matrix_status(&mx);
	if (status == AVM_EX_OK && p.map_status)
		status = p.map_status;
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
	status = push_report(&p, hs, 1, 0, status, measured ? &mx : NULL);
out:
	matrix_release(&mx);
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

int
verb_down(struct fabric *f, int argc, char **argv)
{
	struct push_plan p = { .f = f };
	struct avm_config cfg = { 0 };
	struct push_host *hs = NULL;
	size_t n = 0, i, stopped = 0;
	int status, removed = 0;

	status = plan_init(&p, &cfg, "down", argc, argv);
	if (status == 0)
		status = fabric_known_hosts(f, &cfg);
	if (status != 0)
		goto out;
	n = cfg.nnodes;
	status = hosts_init(&p, &hs);
	if (status != 0)
		goto out;
	if (ssh_global_init() < 0)
		log_die(AVM_EX_SOFTWARE, "libssh2_init failed");
	status = push_each(hs, n, push_open, 1);
	for (i = 0; i < n && status == 0; i++)
		if (hs[i].c.fail != SSH_OK)
			break;
	/* A VM still running there is stopped first (every host reached:
	 * otherwise its nodes are left, and the unreachable host named). */
	if (status == 0 && i == n &&
	    fabric_stop_nodes(f, &p, hs, n, &stopped) == 0 && stopped)
		log_info("stopped the VM's %zu running node(s)", stopped);
	if (status == 0)
		status = push_each(hs, n, push_down, 0);
	hosts_close(hs, n);
	ssh_global_release();
	if (status > 0)
		goto out;
	status = push_status(hs, n);
	if (unlink(p.local_map) < 0 && errno != ENOENT)
		log_warn("remove '%s': %s", p.local_map, strerror(errno));
	if (unlink(p.local_secret) == 0) {
		removed = 1;
	} else if (errno != ENOENT) {
		log_err("remove '%s': %s", p.local_secret, strerror(errno));
		if (status == AVM_EX_OK)
			status = AVM_EX_CANTCREAT;
	}
	status = push_report(&p, hs, 0, removed, status, NULL);
out:
	free(hs);
	config_release(&cfg);
	return status;
}
