/*
 * What up, down, launch, status and stop share (push.c): the paths of
 * the VM's files on the hosts, and the hosts reached over ssh, all at
 * once, one thread each.
 */
#ifndef AVM_FABRIC_PUSH_H
#define AVM_FABRIC_PUSH_H

#include <limits.h>
#include <stddef.h>

#include "avm/config.h"
#include "fabric.h"
#include "ssh.h"

/* What up or down did on one host, from best to worst. */
enum push_state {
	PUSH_DONE,	  /* up: pushed; down: removed */
	PUSH_NOTHING,	  /* down: nothing was there */
	PUSH_HELD,	  /* up: not pushed, another host failed */
	PUSH_CANTWRITE,	  /* the host refused a write or removal: 73 */
	PUSH_UNREACHABLE, /* 69 */
	PUSH_REFUSED,	  /* host key or authentication: 77 */
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
	char local_map[PATH_MAX];  /* <rundir>/<vm>/fabric.map */
	const void *secret, *cluster;
	size_t secret_len, cluster_len;
	int map_status; /* up: 0, or why the map was not handed out */
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

/* Loads the cluster file and works out every path; 0 or an exit status
 * after a message. */
int plan_init(struct push_plan *p, struct avm_config *cfg, const char *verb,
	      int argc, char **argv);
/* The hosts, each with its ssh user and key, state PUSH_HELD; 0 or an
 * exit status. */
int hosts_init(struct push_plan *p, struct push_host **out);
/* Runs fn on every host still PUSH_HELD (all: on every host), one thread
 * each, and waits for them.  Returns 0 or 70. */
int push_each(struct push_host *hs, size_t n, void *(*fn)(void *), int all);
/* push_each's step that connects and authenticates (h->c). */
void *push_open(void *arg);
/* h's state and error from its connection's failure. */
void push_fail(struct push_host *h);
void hosts_close(struct push_host *hs, size_t n);

/*
 * (launch.c) Stops what launch --detach left running on the hosts hs
 * (reached): node 0 is asked to end the VM, every node's avm-run gets a
 * few seconds, then SIGTERM, then SIGKILL.  *stopped: the nodes that were
 * running.  Returns 0 when none runs any more, else 69 after a message.
 */
int fabric_stop_nodes(const struct fabric *f, struct push_plan *p,
		      struct push_host *hs, size_t n, size_t *stopped);

#endif
