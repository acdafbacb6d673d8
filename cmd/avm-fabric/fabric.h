/*
 * avm-fabric's insides: the options every verb sees, and what the verb
 * files (check.c, push.c) share with main.c, which parses the command
 * line and runs the verb from its table.
 */
#ifndef AVM_FABRIC_H
#define AVM_FABRIC_H

#include <limits.h>
#include <stddef.h>

#include "avm/config.h"
#include "avm/emit.h"

#define PROG "avm-fabric"

struct fabric {
	int json;
	int verbose;
	int accept_new;
	unsigned timeout_s;
	const char *remote_bin;
	const char *remote_rundir;
	char known_hosts[PATH_MAX];
	/* link measurement (up; link-serve and link-test on the hosts) */
	int node, peer;	       /* -1: not given */
	const char *secret;    /* NULL: where the cluster file says */
	size_t pings;	       /* round trips per link */
	uint64_t stream_bytes; /* bytes streamed per link */
	int no_measure;	       /* up: push only */
	int detach;	       /* launch: leave the VM running */
};

/* One host as check sees it: who to log in as, what to ask, the answer. */
enum host_state {
	HOST_OK,
	HOST_MISSING,	  /* avm-probe says a need is missing: 69 */
	HOST_FAILED,	  /* a remote command could not tell: 69 */
	HOST_UNREACHABLE, /* ssh could not get there: 69 */
	HOST_REFUSED,	  /* host key or authentication: 77 */
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

/*
 * The ssh user and key of the node of h (h->node, h->index set), and
 * what its avm-probe must check.  Returns AVM_EX_OK or an exit status
 * after a message.
 */
int host_prepare(struct host_check *h, const struct avm_config *cfg);

int verb_check(struct fabric *f, int argc, char **argv);
int verb_up(struct fabric *f, int argc, char **argv);
int verb_down(struct fabric *f, int argc, char **argv);
int verb_launch(struct fabric *f, int argc, char **argv);
int verb_status(struct fabric *f, int argc, char **argv);
int verb_stop(struct fabric *f, int argc, char **argv);
int verb_link_serve(struct fabric *f, int argc, char **argv);
int verb_link_test(struct fabric *f, int argc, char **argv);

/*
 * Where avm-run looks for the VM's secret on this host (avm.yaml(5)
 * fabric.secret, else <rundir>/<vm>/secret), into buf.  Returns 0, or an
 * exit status after a message.
 */
int fabric_secret_path(const struct avm_config *cfg, char *buf, size_t len);

/*
 * A command line for a host: --remote-bin's name quoted, or name for the
 * remote PATH, then args (already quoted).  Returns 0, or -1 when it does
 * not fit in len.
 */
int fabric_remote_cmd(const struct fabric *f, const char *name,
		      const char *args, char *buf, size_t len);

/* The usage line on stderr, exit 64. */
void usage_error(void) __attribute__((noreturn));
/*
 * argv: exactly one cluster file, loaded into cfg.  Returns AVM_EX_OK, or
 * 66 (missing, unreadable) or 78 (bad) after the parser's message; more
 * or fewer arguments: usage_error().
 */
int fabric_load(int argc, char **argv, const char *verb,
		struct avm_config *cfg);
/*
 * The host keys ssh checks, into f->known_hosts: --known-hosts, else the
 * cluster file's fabric.known_hosts, else ~/.ssh/known_hosts.  Returns
 * AVM_EX_OK, or 78 after a message.
 */
int fabric_known_hosts(struct fabric *f, const struct avm_config *cfg);
/* Ends a --json document; -1 after a message when it cannot be written. */
int fabric_emit_finish(struct emit *e);

#endif
