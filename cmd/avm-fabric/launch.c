/*
 * launch, status and stop: avm-run --cluster on every host over ssh.
 *
 * launch starts node I's avm-run on its host (all at once: the run links
 * are dialed with retries, so no order is needed) as the shell that ssh
 * starts, after it printed its pid.  In the foreground, one loop reads
 * every host's channel: stderr lines go to ours as "host[node I]: ...",
 * node 0's stdout (the guest console) to ours as it comes.  The VM's end
 * is node 0's: its status is ours, the other nodes follow it.  A node
 * that ends first, or ends badly, is a failure: the others are stopped
 * and we exit 69 naming it.  SIGINT, SIGTERM, SIGHUP stop every node.
 * With --detach each avm-run goes to the background on its host, its
 * output to node-I.log and its pid to node-I.pid in the VM's folder
 * there, and launch returns once every node runs; status and stop find
 * them by those files.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "avm/emit.h"
#include "avm/exit.h"
#include "avm/link.h"
#include "avm/log.h"
#include "avm/util.h"
#include "fabric.h"
#include "push.h"
#include "ssh.h"

#define PID_TAG "avm-fabric-pid "
/* Once the VM ended on node 0, the others get this long to follow. */
#define FOLLOW_MS (LINK_DEAD_MS + 5000)
/* Ends this close together are judged together (launch_wait). */
#define GRACE_MS 1000

struct node_run {
	struct push_host *h;
	struct ssh_cmd x;
	int started, ended, failed;
	long pid;
	int got_pid;
	int order;  /* 1 for the first to end, 2 for the next... */
	int status; /* exit status; -1: by a signal (x.r.signal) */
	char error[640];
};

/* ---- remote command lines -------------------------------------------- */

static int
quote(const char *s, char *buf, size_t len)
{
	return ssh_quote(s, buf, len) < 0 ? -1 : 0;
}

/* A file of node i in the VM's folder on its host. */
static int
node_file(const struct push_plan *p, size_t i, const char *ext, char *buf,
	  size_t len)
{
	int n = snprintf(buf, len, "%s/node-%zu.%s", p->remote_dir, i, ext);

	return n > 0 && (size_t)n < len ? 0 : -1;
}

/*
 * The avm-run command line for node i, after "AVM_RUNDIR=... ": the run
 * directory is the remote one, where up put the secret.
 */
static int
run_cmd(const struct fabric *f, const struct push_plan *p, size_t i, int argc,
	char **argv, char *buf, size_t len)
{
	char args[4 * PATH_MAX], q[2 * PATH_MAX], *a = args;
	size_t left = sizeof(args);
	int k, n;

	if (quote(p->remote_cluster, q, sizeof(q)) < 0)
		return -1;
	n = snprintf(a, left, "--cluster %s --node %zu", q, i);
	for (k = 0; k < argc && n > 0 && (size_t)n < left; k++) {
		a += n;
		left -= (size_t)n;
		if (quote(argv[k], q, sizeof(q)) < 0)
			return -1;
		n = snprintf(a, left, " %s", q);
	}
	if (n < 0 || (size_t)n >= left)
		return -1;
	if (quote(f->remote_rundir, q, sizeof(q)) < 0)
		return -1;
	n = snprintf(buf, len, "env AVM_RUNDIR=%s ", q);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return fabric_remote_cmd(f, "avm-run", args, buf + n, len - (size_t)n);
}

static int ctl_cmd(const struct fabric *f, const struct push_plan *p,
		   const char *verb, const char *tail, char *buf, size_t len);

/* ---- the foreground loop --------------------------------------------- */

/* Lines of what came on stderr (and stdout of nodes other than 0), each
 * with the node's prefix; node 0's stdout as it comes. */
static void
relay(struct node_run *r, int flush)
{
	struct ssh_result *o = &r->x.r;
	char *nl, *s;
	size_t n;

	/* The first stdout line is the pid the shell printed. */
	if (!r->got_pid && (nl = memchr(o->out, '\n', o->out_len))) {
		if (strncmp(o->out, PID_TAG, strlen(PID_TAG)) == 0)
			r->pid = strtol(o->out + strlen(PID_TAG), NULL, 10);
		r->got_pid = 1;
		n = (size_t)(nl + 1 - o->out);
		memmove(o->out, nl + 1, o->out_len - n);
		o->out_len -= n;
	}
	if (r->got_pid && o->out_len) {
		if (r->h->index == 0) {
			fwrite(o->out, 1, o->out_len, stdout);
			fflush(stdout);
			o->out_len = 0;
		} else {
			s = o->out;
			while ((nl = memchr(s, '\n',
					    o->out_len -
						    (size_t)(s - o->out)))) {
				fprintf(stderr, "%s[node %zu]: %.*s\n",
					r->h->node->host, r->h->index,
					(int)(nl - s), s);
				s = nl + 1;
			}
			n = (size_t)(s - o->out);
			memmove(o->out, s, o->out_len - n);
			o->out_len -= n;
		}
	}
	s = o->err;
	while ((nl = memchr(s, '\n', o->err_len - (size_t)(s - o->err))) ||
	       (flush && s < o->err + o->err_len)) {
		n = nl ? (size_t)(nl - s) : o->err_len - (size_t)(s - o->err);
		fprintf(stderr, "%s[node %zu]: %.*s\n", r->h->node->host,
			r->h->index, (int)n, s);
		s += n + (nl ? 1 : 0);
	}
	n = (size_t)(s - o->err);
	memmove(o->err, s, o->err_len - n);
	o->err_len -= n;
	if (o->out)
		o->out[o->out_len] = '\0';
	if (o->err)
		o->err[o->err_len] = '\0';
}

/* The end of node r's channel: its exit status. */
static void
reap(const struct fabric *f, struct node_run *r)
{
	struct ssh_conn *c = &r->h->c;

	c->deadline = now_ns() + (uint64_t)f->timeout_s * 1000000000ull;
	if (ssh_cmd_finish(&r->x) < 0) {
		r->status = -1;
		snprintf(r->error, sizeof(r->error), "%s", c->error);
	} else if (r->x.r.signal[0]) {
		r->status = -1;
		snprintf(r->error, sizeof(r->error), "avm-run killed by SIG%s",
			 r->x.r.signal);
	} else {
		r->status = r->x.r.exit_status;
		if (r->status != 0)
			snprintf(r->error, sizeof(r->error),
				 "avm-run exited %d", r->status);
	}
	relay(r, 1);
	r->ended = 1;
	ssh_result_release(&r->x.r);
}

/* Runs cmd on r's host to the end, within --timeout; 0 when it exited 0. */
static int
host_run(const struct fabric *f, struct push_host *h, const char *cmd)
{
	struct ssh_result res;
	int rc;

	if (f->verbose)
		log_info("%s: running %s", h->node->host, cmd);
	h->c.deadline = now_ns() + (uint64_t)f->timeout_s * 1000000000ull;
	rc = ssh_run(&h->c, cmd, &res);
	if (rc == 0 && res.exit_status != 0)
		rc = -1;
	ssh_result_release(&res);
	return rc;
}

/* Asks node 0 to end the VM, then signals whoever is still there. */
static void
stop_all(const struct fabric *f, const struct push_plan *p, struct node_run *rs,
	 size_t n, const char *sig)
{
	char cmd[4 * PATH_MAX];
	size_t i;

	if (!sig && !rs[0].ended) {
		if (ctl_cmd(f, p, "stop", "", cmd, sizeof(cmd)) == 0)
			host_run(f, rs[0].h, cmd);
		return;
	}
	/* Without node 0 nobody ends the VM in order: signal them. */
	for (i = 0; i < n; i++) {
		if (rs[i].ended || !rs[i].started || rs[i].pid <= 0)
			continue;
		snprintf(cmd, sizeof(cmd), "kill -%s %ld", sig ? sig : "TERM",
			 rs[i].pid);
		host_run(f, rs[i].h, cmd);
	}
}

/* Polls every host's socket and the signals; reads what came. */
static int
pump_all(struct node_run *rs, size_t n, int sfd, int ms, int *signo)
{
	struct pollfd *pf = calloc(n + 1, sizeof(*pf));
	struct signalfd_siginfo si;
	size_t i;
	int rc, any = 0;

	if (!pf)
		log_die(AVM_EX_SOFTWARE, "calloc: %s", strerror(errno));
	for (i = 0; i < n; i++)
		pf[i] = (struct pollfd){ .fd = rs[i].ended ? -1 : rs[i].h->c.fd,
					 .events = POLLIN };
	pf[n] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	rc = poll(pf, n + 1, ms);
	if (rc > 0 && (pf[n].revents & POLLIN) &&
	    read(sfd, &si, sizeof(si)) == sizeof(si))
		*signo = (int)si.ssi_signo;
	free(pf);
	for (i = 0; i < n; i++) {
		if (rs[i].ended)
			continue;
		while ((rc = ssh_cmd_pump(&rs[i].x)) == 1)
			any = 1;
		relay(&rs[i], 0);
		if (rc == 2 || rc < 0)
			rs[i].failed = rc < 0;
		if (rc == 2 || rc < 0)
			any = 2;
	}
	return any;
}

static int
all_ended(const struct node_run *rs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (rs[i].started && !rs[i].ended)
			return 0;
	return 1;
}

/* A node that ended: by a signal, or with one of avm-run's own
 * failures (64 to 78, avm-run(1)), rather than with the guest's status. */
static int
ended_badly(const struct node_run *r)
{
	return r->status < 0 ||
	       (r->status >= AVM_EX_USAGE && r->status <= AVM_EX_CONFIG);
}

/*
 * Which node failed, of those that ended: one killed by a signal, else
 * one with a failure of its own (not 69, which is what the nodes that
 * noticed another's failure say), else the first to end.
 */
static struct node_run *
culprit(struct node_run *rs, size_t n)
{
	struct node_run *best = NULL;
	int rank, best_rank = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!rs[i].ended)
			continue;
		rank = rs[i].status < 0 ? 4
		       : ended_badly(&rs[i]) &&
				       rs[i].status != AVM_EX_UNAVAILABLE
			       ? 3
		       : ended_badly(&rs[i]) ? 2
					     : 1;
		if (rank > best_rank ||
		    (rank == best_rank && rs[i].order < best->order)) {
			best = &rs[i];
			best_rank = rank;
		}
	}
	return best;
}

/*
 * Runs the VM in the foreground until it ends.  Returns node 0's status
 * when the VM ended there, 69 after a node failed, 128 + N after
 * signal N.
 *
 * When the VM ends, every node ends with the guest's status, node 0 not
 * necessarily first; when a node fails, the others end with 69 soon
 * after.  So the first end is judged only after a short grace: node 0
 * ended well, the VM is over; a node ended badly, the culprit is picked
 * from all that ended by then (culprit()); another node ended well but
 * node 0 does not follow, that node failed.
 */
static int
launch_wait(const struct fabric *f, const struct push_plan *p,
	    struct node_run *rs, size_t n, int sfd)
{
	uint64_t first_end = 0, follow_until = 0, kill_at = 0, now;
	struct node_run *bad = NULL;
	int signo = 0, stopping = 0, result = -1, killed = 0, order = 0;
	size_t i;

	while (!all_ended(rs, n)) {
		pump_all(rs, n, sfd, 200, &signo);
		for (i = 0; i < n; i++) {
			struct node_run *r = &rs[i];

			if (r->ended || !r->started)
				continue;
			if (!r->x.ended && !r->failed &&
			    !libssh2_channel_eof(r->x.ch))
				continue;
			reap(f, r);
			r->order = ++order;
			if (!first_end)
				first_end = now_ns();
		}
		now = now_ns();
		if (first_end && result < 0 && !bad && !signo) {
			int any_bad = 0;

			for (i = 0; i < n; i++)
				any_bad |= rs[i].ended && ended_badly(&rs[i]);
			if (rs[0].ended && !ended_badly(&rs[0])) {
				/* The VM's end: the others follow. */
				result = rs[0].status;
				follow_until = now + FOLLOW_MS * 1000000ull;
			} else if ((any_bad &&
				    now > first_end + GRACE_MS * 1000000ull) ||
				   now > first_end + FOLLOW_MS * 1000000ull) {
				bad = culprit(rs, n);
			}
		}
		if ((signo || bad) && !stopping) {
			if (signo)
				log_warn("stopping the VM on every node (%s)",
					 sigabbrev_np(signo));
			stopping = 1;
			stop_all(f, p, rs, n, NULL);
			follow_until = now_ns() + FOLLOW_MS * 1000000ull;
		}
		if (follow_until && now_ns() > follow_until && !killed) {
			stop_all(f, p, rs, n, "TERM");
			killed = 1;
			kill_at = now_ns() + 2000000000ull;
		}
		if (kill_at && now_ns() > kill_at) {
			stop_all(f, p, rs, n, "KILL");
			kill_at = 0;
			follow_until = 0;
			/* Whatever is left: its channel may never close. */
			for (i = 0; i < n; i++)
				if (rs[i].started && !rs[i].ended) {
					ssh_cmd_drop(&rs[i].x);
					ssh_result_release(&rs[i].x.r);
					rs[i].ended = 1;
					snprintf(rs[i].error,
						 sizeof(rs[i].error),
						 "did not end when killed");
				}
		}
	}
	if (signo)
		return AVM_EX_SIGNAL(signo);
	if (!bad && result < 0)
		bad = culprit(rs, n);
	if (bad) {
		log_err("node %zu on '%s' failed: %s; the VM was stopped on "
			"every node",
			bad->h->index, bad->h->node->host,
			bad->error[0] ? bad->error
				      : "avm-run ended before node 0");
		return AVM_EX_UNAVAILABLE;
	}
	return result;
}

/* ---- detached nodes ---------------------------------------------------- */

/* "AVM_RUNDIR=... avm-run VERB -n VM" for node 0's host. */
static int
ctl_cmd(const struct fabric *f, const struct push_plan *p, const char *verb,
	const char *tail, char *buf, size_t len)
{
	char q[2 * PATH_MAX], args[256];
	int n;

	if (quote(f->remote_rundir, q, sizeof(q)) < 0)
		return -1;
	snprintf(args, sizeof(args), "%s -n %s%s", verb, p->cfg->name, tail);
	n = snprintf(buf, len, "AVM_RUNDIR=%s ", q);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return fabric_remote_cmd(f, "avm-run", args, buf + n, len - (size_t)n);
}

/*
 * One line about node i's process on its host, from its pid file:
 * "running PID", or "stopped PID" / "none" and the last lines of its log.
 * Returns 1 running, 0 not, -1 when the host could not say (why in err).
 */
static int
node_probe(const struct fabric *f, const struct push_plan *p,
	   struct push_host *h, long *pid, char *tail, size_t len)
{
	char pidf[PATH_MAX], logf[PATH_MAX], qp[2 * PATH_MAX], ql[2 * PATH_MAX],
		cmd[6 * PATH_MAX];
	struct ssh_result r;
	int rc;

	if (node_file(p, h->index, "pid", pidf, sizeof(pidf)) < 0 ||
	    node_file(p, h->index, "log", logf, sizeof(logf)) < 0 ||
	    quote(pidf, qp, sizeof(qp)) < 0 ||
	    quote(logf, ql, sizeof(ql)) < 0) {
		snprintf(tail, len, "path too long");
		return -1;
	}
	snprintf(cmd, sizeof(cmd),
		 "p=$(cat %s 2>/dev/null) || { echo none; exit 0; }; "
		 "if kill -0 \"$p\" 2>/dev/null; then echo running $p; "
		 "else echo stopped $p; tail -n 3 %s 2>/dev/null; fi",
		 qp, ql);
	h->c.deadline = now_ns() + (uint64_t)f->timeout_s * 1000000000ull;
	*pid = 0;
	tail[0] = '\0';
	if (ssh_run(&h->c, cmd, &r) < 0 || r.exit_status != 0) {
		snprintf(tail, len, "%s",
			 h->c.error[0] ? h->c.error
				       : "cannot read its pid file");
		ssh_result_release(&r);
		return -1;
	}
	rc = strncmp(r.out, "running ", 8) == 0;
	if (strncmp(r.out, "running ", 8) == 0 ||
	    strncmp(r.out, "stopped ", 8) == 0)
		*pid = strtol(r.out + 8, NULL, 10);
	if (!rc) {
		const char *nl = strchr(r.out, '\n');

		snprintf(tail, len, "%s",
			 strncmp(r.out, "none", 4) == 0
				 ? "not launched"
				 : (nl && nl[1] ? nl + 1 : "ended"));
		/* one line: the log's last */
		while (strlen(tail) && tail[strlen(tail) - 1] == '\n')
			tail[strlen(tail) - 1] = '\0';
		if (strrchr(tail, '\n'))
			memmove(tail, strrchr(tail, '\n') + 1,
				strlen(strrchr(tail, '\n')));
	}
	ssh_result_release(&r);
	return rc;
}

/* Waits for every node to run: its process there and node 0's VM
 * running.  Returns 0, or 69 after naming the node that ended. */
static int
launch_detached(const struct fabric *f, const struct push_plan *p,
		struct node_run *rs, size_t n)
{
	uint64_t until = now_ns() + (uint64_t)f->timeout_s * 1000000000ull;
	char cmd[4 * PATH_MAX], tail[512];
	size_t i;
	long pid;
	int up;

	for (i = 0; i < n; i++) {
		if (!rs[i].started)
			continue;
		reap(f, &rs[i]);
	}
	for (;;) {
		up = 1;
		for (i = 0; i < n; i++) {
			int rc = node_probe(f, p, rs[i].h, &pid, tail,
					    sizeof(tail));

			rs[i].pid = pid;
			if (rc == 1)
				continue;
			log_err("node %zu on '%s' is not running: %s", i,
				rs[i].h->node->host, tail);
			for (i = 0; i < n; i++)
				rs[i].ended = 0;
			stop_all(f, p, rs, n, "TERM");
			return AVM_EX_UNAVAILABLE;
		}
		if (ctl_cmd(f, p, "status",
			    " | grep -Eqx 'state: (running|paused)'", cmd,
			    sizeof(cmd)) == 0 &&
		    host_run(f, rs[0].h, cmd) == 0)
			break;
		up = 0;
		if (now_ns() > until) {
			log_err("the VM is not running on node 0 after %u s",
				f->timeout_s);
			return AVM_EX_UNAVAILABLE;
		}
		usleep(200000);
	}
	for (i = 0; i < n && up; i++)
		printf("%s: node %zu running (pid %ld)\n", rs[i].h->node->host,
		       i, rs[i].pid);
	fflush(stdout);
	return AVM_EX_OK;
}

/* ---- verbs ------------------------------------------------------------- */

/* Reaches every host; 0, or an exit status after a line per host. */
static int
reach_all(const struct fabric *f, struct push_plan *p, struct avm_config *cfg,
	  struct push_host **hs, const char *verb, int argc, char **argv)
{
	size_t i;
	int status;

	status = plan_init(p, cfg, verb, argc, argv);
	if (status == 0)
		status = fabric_known_hosts((struct fabric *)f, cfg);
	if (status == 0)
		status = hosts_init(p, hs);
	if (status != 0)
		return status;
	if (ssh_global_init() < 0)
		log_die(AVM_EX_SOFTWARE, "libssh2_init failed");
	status = push_each(*hs, cfg->nnodes, push_open, 1);
	if (status != 0)
		return status;
	for (i = 0; i < cfg->nnodes; i++) {
		if ((*hs)[i].c.fail == SSH_OK)
			continue;
		printf("%s: %s\n", (*hs)[i].node->host, (*hs)[i].c.error);
		status = (*hs)[i].c.fail == SSH_REFUSED ? AVM_EX_NOPERM
			 : status == AVM_EX_NOPERM	? status
							: AVM_EX_UNAVAILABLE;
	}
	fflush(stdout);
	return status;
}

int
verb_launch(struct fabric *f, int argc, char **argv)
{
	struct push_plan p = { .f = f };
	struct avm_config cfg = { 0 };
	struct push_host *hs = NULL;
	struct node_run *rs = NULL;
	char cmd[8 * PATH_MAX], line[256], q[2 * PATH_MAX], pidf[PATH_MAX],
		logf[PATH_MAX], qp[2 * PATH_MAX], ql[2 * PATH_MAX];
	int status, sfd = -1, extra = argc > 1 ? argc - 1 : 0;
	char **extra_argv = argv + 1;
	sigset_t set;
	size_t i, n = 0;

	if (argc < 1) {
		log_err("launch: no cluster file");
		usage_error();
	}
	if (extra && strcmp(extra_argv[0], "--") == 0) {
		extra--;
		extra_argv++;
	}
	/* Signals are read in the loop, never taken by a thread. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		log_die(AVM_EX_SOFTWARE, "signalfd: %s", strerror(errno));

	status = reach_all(f, &p, &cfg, &hs, "launch", 1, argv);
	if (status != 0)
		goto out;
	n = cfg.nnodes;
	rs = calloc(n, sizeof(*rs));
	if (!rs)
		log_die(AVM_EX_SOFTWARE, "calloc: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		rs[i].h = &hs[i];
		if (run_cmd(f, &p, i, extra, extra_argv, q, sizeof(q)) < 0) {
			log_err("launch: command line too long");
			status = AVM_EX_USAGE;
			goto out;
		}
		if (f->detach) {
			if (node_file(&p, i, "pid", pidf, sizeof(pidf)) < 0 ||
			    node_file(&p, i, "log", logf, sizeof(logf)) < 0 ||
			    quote(pidf, qp, sizeof(qp)) < 0 ||
			    quote(logf, ql, sizeof(ql)) < 0 ||
			    snprintf(cmd, sizeof(cmd),
				     "cd / && { setsid %s </dev/null >%s 2>&1 "
				     "& } && "
				     "echo $! >%s && echo " PID_TAG "$!",
				     q, ql, qp) >= (int)sizeof(cmd)) {
				log_err("launch: path too long");
				status = AVM_EX_USAGE;
				goto out;
			}
		} else if (snprintf(cmd, sizeof(cmd),
				    "echo " PID_TAG "$$ && cd / && exec %s",
				    q) >= (int)sizeof(cmd)) {
			log_err("launch: command line too long");
			status = AVM_EX_USAGE;
			goto out;
		}
		if (f->verbose)
			log_info("%s: running %s", hs[i].node->host, cmd);
		hs[i].c.deadline =
			now_ns() + (uint64_t)f->timeout_s * 1000000000ull;
		if (ssh_cmd_start(&hs[i].c, cmd, &rs[i].x) < 0) {
			log_err("%s[node %zu]: %s", hs[i].node->host, i,
				hs[i].c.error);
			ssh_cmd_drop(&rs[i].x);
			ssh_result_release(&rs[i].x.r);
			status = AVM_EX_UNAVAILABLE;
			break;
		}
		rs[i].started = 1;
	}
	if (f->detach) {
		status = status ? status : launch_detached(f, &p, rs, n);
	} else if (status == 0) {
		status = launch_wait(f, &p, rs, n, sfd);
	} else {
		stop_all(f, &p, rs, n, "TERM");
	}
	(void)line;
out:
	if (hs)
		hosts_close(hs, n);
	if (hs)
		ssh_global_release();
	free(rs);
	free(hs);
	config_release(&cfg);
	if (sfd >= 0)
		close(sfd);
	return status;
}

int
verb_status(struct fabric *f, int argc, char **argv)
{
	struct push_plan p = { .f = f };
	struct avm_config cfg = { 0 };
	struct push_host *hs = NULL;
	char tail[512];
	struct emit e;
	size_t i, n = 0;
	int status, rc, *run = NULL;
	long *pid = NULL;
	char(*why)[512] = NULL;

	status = reach_all(f, &p, &cfg, &hs, "status", argc, argv);
	if (status != 0)
		goto out;
	n = cfg.nnodes;
	run = calloc(n, sizeof(*run));
	pid = calloc(n, sizeof(*pid));
	why = calloc(n, sizeof(*why));
	if (!run || !pid || !why)
		log_die(AVM_EX_SOFTWARE, "calloc: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		rc = node_probe(f, &p, &hs[i], &pid[i], tail, sizeof(tail));
		run[i] = rc == 1;
		snprintf(why[i], sizeof(why[i]), "%s", tail);
		if (rc != 1)
			status = AVM_EX_UNAVAILABLE;
	}
	if (f->json) {
		emit_init(&e, stdout, EMIT_JSON, EMIT_PRETTY);
		emit_map_begin(&e);
		emit_kv_str(&e, "vm", cfg.name);
		emit_kv_bool(&e, "running", status == 0);
		emit_kv_list_begin(&e, "nodes");
		for (i = 0; i < n; i++) {
			emit_map_begin(&e);
			emit_kv_uint(&e, "node", i);
			emit_kv_str(&e, "host", hs[i].node->host);
			emit_kv_bool(&e, "running", run[i]);
			if (pid[i] > 0)
				emit_kv_int(&e, "pid", pid[i]);
			else
				emit_kv_null(&e, "pid");
			if (run[i])
				emit_kv_null(&e, "why");
			else
				emit_kv_str(&e, "why", why[i]);
			emit_map_end(&e);
		}
		emit_list_end(&e);
		emit_map_end(&e);
		if (fabric_emit_finish(&e) < 0)
			status = AVM_EX_FAIL;
	} else {
		for (i = 0; i < n; i++) {
			if (run[i])
				printf("%s: node %zu running (pid %ld)\n",
				       hs[i].node->host, i, pid[i]);
			else
				printf("%s: node %zu not running: %s\n",
				       hs[i].node->host, i, why[i]);
		}
	}
	if (fflush(stdout) != 0 && status == 0)
		status = AVM_EX_FAIL;
out:
	if (hs) {
		hosts_close(hs, n ? n : cfg.nnodes);
		ssh_global_release();
	}
	free(run);
	free(pid);
	free(why);
	free(hs);
	config_release(&cfg);
	return status;
}

/*
 * Stops what launch --detach left running: node 0 is asked to end the
 * VM, every node's process gets FOLLOW_MS to go, then SIGTERM, then
 * SIGKILL.  *stopped counts the nodes that were running.  Returns 0 when
 * none runs any more, else 69 after a message per node.
 */
int
fabric_stop_nodes(const struct fabric *f, struct push_plan *p,
		  struct push_host *hs, size_t n, size_t *stopped)
{
	struct node_run *rs = calloc(n, sizeof(*rs));
	char tail[512], cmd[4 * PATH_MAX];
	uint64_t until;
	size_t i;
	int status = 0, left;

	if (!rs)
		log_die(AVM_EX_SOFTWARE, "calloc: %s", strerror(errno));
	*stopped = 0;
	for (i = 0; i < n; i++) {
		rs[i].h = &hs[i];
		rs[i].started = 1;
		rs[i].ended = node_probe(f, p, &hs[i], &rs[i].pid, tail,
					 sizeof(tail)) != 1;
		*stopped += !rs[i].ended;
	}
	if (*stopped && !rs[0].ended &&
	    ctl_cmd(f, p, "stop", "", cmd, sizeof(cmd)) == 0)
		host_run(f, &hs[0], cmd);
	until = now_ns() + FOLLOW_MS * 1000000ull;
	for (const char *sig = NULL;; usleep(200000)) {
		left = 0;
		for (i = 0; i < n; i++) {
			long pid;

			if (rs[i].ended)
				continue;
			if (node_probe(f, p, &hs[i], &pid, tail,
				       sizeof(tail)) != 1)
				rs[i].ended = 1;
			else
				left++;
		}
		if (!left)
			break;
		if (now_ns() < until)
			continue;
		if (sig && strcmp(sig, "KILL") == 0) {
			for (i = 0; i < n; i++)
				if (!rs[i].ended)
					log_err("%s: node %zu (pid %ld) did "
						"not end",
						hs[i].node->host, i, rs[i].pid);
			status = AVM_EX_UNAVAILABLE;
			break;
		}
		sig = sig ? "KILL" : "TERM";
		stop_all(f, p, rs, n, sig);
		until = now_ns() + 2000000000ull;
	}
	free(rs);
	return status;
}

int
verb_stop(struct fabric *f, int argc, char **argv)
{
	struct push_plan p = { .f = f };
	struct avm_config cfg = { 0 };
	struct push_host *hs = NULL;
	size_t stopped = 0;
	int status;

	status = reach_all(f, &p, &cfg, &hs, "stop", argc, argv);
	if (status == 0)
		status = fabric_stop_nodes(f, &p, hs, cfg.nnodes, &stopped);
	if (status == 0)
		printf(stopped ? "%s: stopped on %zu node(s)\n"
			       : "%s: nothing was running\n",
		       cfg.name, stopped);
	if (hs) {
		hosts_close(hs, cfg.nnodes);
		ssh_global_release();
	}
	free(hs);
	config_release(&cfg);
	return status;
}
