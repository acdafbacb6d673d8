/*
 * The launcher of an N-node VM on this host (`avm-run --nodes N`,
 * DESIGN.md "One-host default"): it becomes node 0 and starts the avm-run
 * of nodes 1..N-1 as its children, each with its own avm-pager, linked
 * over loopback TCP.
 *
 * What the launcher makes, in <rundir>/<vm>/:
 *   secret      the VM's random 32-byte secret (0600), for every link
 *   node-I/     node I's run directory (AVM_RUNDIR of its avm-run and
 *               avm-pager, so that their sockets do not meet ours)
 * The run-link listeners are bound here, on 127.0.0.1 with ports the
 * kernel picks, and each child inherits its own as fd 3, so no port is
 * ever raced for; the pagers' ports are picked the same way but the
 * pagers bind them themselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "avm/auth.h"
#include "avm/log.h"
#include "avm/util.h"

#include "vm.h"

#define NODE_FD 3 /* the run-link listener in a child */
#define NODES_EXIT_TIMEOUT_MS 5000

extern char **environ;

/* A socket on 127.0.0.1 with a port the kernel picked (listening when
 * asked).  Returns the fd, or -1 with errno. */
static int
loopback_socket(int do_listen, unsigned *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (do_listen && listen(fd, 64) < 0) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static char *
list_add(char *list, unsigned port)
{
	size_t n = list ? strlen(list) : 0;
	char *s = realloc(list, n + 32);

	if (!s) {
		free(list);
		return NULL;
	}
	snprintf(s + n, 32, "%s127.0.0.1:%u", n ? "," : "", port);
	return s;
}

/* environ with AVM_RUNDIR replaced; the strings are environ's but one. */
static char **
node_env(const char *rundir, char *slot, size_t slotlen)
{
	size_t n = 0, i, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "AVM_RUNDIR=", 11) != 0)
			env[k++] = environ[i];
	snprintf(slot, slotlen, "AVM_RUNDIR=%s", rundir);
	env[k++] = slot;
	env[k] = NULL;
	return env;
}

static int
spawn_node(struct vm *vm, unsigned i, int lfd)
{
	char self[PATH_MAX], node[16], nodes[16], vcpus[16], mem[32];
	char rundir[400], slot[420];
	char dead[16];
	char *argv[32];
	char **env;
	posix_spawn_file_actions_t fa;
	ssize_t n;
	int k = 0, r;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		log_err("readlink '/proc/self/exe': %s", strerror(errno));
		return AVM_EX_OSERR;
	}
	self[n] = '\0';
	snprintf(rundir, sizeof(rundir), "%s/node-%u", vm->dir, i);
	if (mkdir(rundir, 0700) < 0 && errno != EEXIST) {
		log_err("mkdir '%s': %s", rundir, strerror(errno));
		return AVM_EX_CANTCREAT;
	}
	snprintf(node, sizeof(node), "%u", i);
	snprintf(nodes, sizeof(nodes), "%u", vm->nnodes);
	snprintf(vcpus, sizeof(vcpus), "%u", vm->nvcpus);
	snprintf(mem, sizeof(mem), "%" PRIu64, vm->opts.mem_bytes);
	argv[k++] = self;
	argv[k++] = "run";
	argv[k++] = "--node";
	argv[k++] = node;
	argv[k++] = "--nodes";
	argv[k++] = nodes;
	argv[k++] = "--vcpus";
	argv[k++] = vcpus;
	argv[k++] = "--memory";
	argv[k++] = mem;
	argv[k++] = "--name";
	argv[k++] = (char *)vm->opts.name;
	argv[k++] = "--kernel";
	argv[k++] = (char *)vm->opts.kernel;
	argv[k++] = "--peers";
	argv[k++] = vm->peers_buf;
	argv[k++] = "--pager-peers";
	argv[k++] = vm->pager_peers_buf;
	argv[k++] = "--secret";
	argv[k++] = vm->secret_path;
	argv[k++] = "--listen-fd";
	argv[k++] = "3";
	if (vm->opts.dead_ms > 0) {
		snprintf(dead, sizeof(dead), "%d", vm->opts.dead_ms);
		argv[k++] = "--dead-ms";
		argv[k++] = dead;
	}
	if (vm->opts.verbose)
		argv[k++] = "-v";
	argv[k] = NULL;
	env = node_env(rundir, slot, sizeof(slot));
	if (!env)
		return AVM_EX_OSERR;
	/* No console on other nodes: stdin from /dev/null, stdout (nothing
	 * is meant to go there) joins stderr with the logs. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
					 O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, lfd, NODE_FD);
	r = posix_spawn(&vm->node_pids[i], self, &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	if (r != 0) {
		vm->node_pids[i] = 0;
		log_err("start node %u: '%s': %s", i, self, strerror(r));
		return AVM_EX_OSERR;
	}
	log_debug("started node %u, pid %d", i, (int)vm->node_pids[i]);
	return AVM_EX_OK;
}

int
vm_launch(struct vm *vm)
{
	int *lfd = NULL, *probe = NULL;
	unsigned i, port;
	int r = AVM_EX_OSERR;

	if (vm->nnodes < 2 || vm->opts.peers)
		return AVM_EX_OK; /* one node, or a node someone started */
	vm->node_pids = calloc(vm->nnodes, sizeof(*vm->node_pids));
	lfd = calloc(vm->nnodes, sizeof(*lfd));
	probe = calloc(vm->nnodes, sizeof(*probe));
	if (!vm->node_pids || !lfd || !probe)
		goto out;
	for (i = 0; i < vm->nnodes; i++)
		lfd[i] = probe[i] = -1;
	snprintf(vm->secret_path, sizeof(vm->secret_path), "%s/secret",
		 vm->dir);
	unlink(vm->secret_path); /* a stale one of a crashed run */
	r = auth_secret_create(vm->secret_path);
	if (r < 0) {
		log_err("create secret '%s': %s", vm->secret_path,
			strerror(-r));
		vm->secret_path[0] = '\0';
		r = AVM_EX_CANTCREAT;
		goto out;
	}
	vm->opts.secret = vm->secret_path;
	r = AVM_EX_OSERR;
	for (i = 0; i < vm->nnodes; i++) {
		lfd[i] = loopback_socket(1, &port);
		/* Children get theirs as fd 3; ours must not be 3 there. */
		if (lfd[i] >= 0 && lfd[i] <= NODE_FD) {
			int fd = fcntl(lfd[i], F_DUPFD_CLOEXEC, 10);

			close(lfd[i]);
			lfd[i] = fd;
		}
		if (lfd[i] < 0 ||
		    !(vm->peers_buf = list_add(vm->peers_buf, port))) {
			log_err("run links: listen on 127.0.0.1: %s",
				strerror(errno));
			goto out;
		}
		probe[i] = loopback_socket(0, &port);
		if (probe[i] < 0 || !(vm->pager_peers_buf = list_add(
					      vm->pager_peers_buf, port))) {
			log_err("pager links: a port on 127.0.0.1: %s",
				strerror(errno));
			goto out;
		}
	}
	/* The pagers bind these ports themselves: free them now. */
	for (i = 0; i < vm->nnodes; i++) {
		close(probe[i]);
		probe[i] = -1;
	}
	vm->opts.peers = vm->peers_buf;
	vm->opts.pager_peers = vm->pager_peers_buf;
	for (i = 1; i < vm->nnodes; i++) {
		r = spawn_node(vm, i, lfd[i]);
		if (r != AVM_EX_OK)
			goto out;
	}
	vm->opts.listen_fd = lfd[0];
	lfd[0] = -1;
	r = AVM_EX_OK;
out:
	for (i = 0; lfd && probe && i < vm->nnodes; i++) {
		if (lfd[i] >= 0)
			close(lfd[i]);
		if (probe[i] >= 0)
			close(probe[i]);
	}
	free(lfd);
	free(probe);
	return r;
}

void
vm_reap_nodes(struct vm *vm)
{
	uint64_t t0 = now_ns();
	char path[400];
	unsigned i, left;
	uint64_t ms;
	int st, signo, termed = 0, killed = 0;

	if (!vm->node_pids)
		return;
	/* They end with the VM (RUN_END, or their links closing); a child
	 * stuck in set-up is told to go, then made to. */
	for (;;) {
		left = 0;
		for (i = 1; i < vm->nnodes; i++) {
			pid_t r;

			if (vm->node_pids[i] <= 0)
				continue;
			r = waitpid(vm->node_pids[i], &st, WNOHANG);
			if (r == vm->node_pids[i] ||
			    (r < 0 && errno == ECHILD)) {
				if (r > 0 && WIFEXITED(st) && WEXITSTATUS(st))
					log_debug("node %u exited with %d", i,
						  WEXITSTATUS(st));
				vm->node_pids[i] = 0;
				continue;
			}
			left++;
		}
		if (!left)
			break;
		ms = (now_ns() - t0) / 1000000;
		signo = 0;
		if (ms > NODES_EXIT_TIMEOUT_MS + 1000 && !killed)
			signo = SIGKILL, killed = 1;
		else if (ms > NODES_EXIT_TIMEOUT_MS && !termed)
			signo = SIGTERM, termed = 1;
		for (i = 1; signo && i < vm->nnodes; i++)
			if (vm->node_pids[i] > 0) {
				log_warn("node %u did not exit: %s", i,
					 sigabbrev_np(signo));
				kill(vm->node_pids[i], signo);
			}
		usleep(10000);
	}
	for (i = 1; i < vm->nnodes; i++) {
		snprintf(path, sizeof(path), "%s/node-%u/%s", vm->dir, i,
			 vm->opts.name);
		rmdir(path);
		snprintf(path, sizeof(path), "%s/node-%u", vm->dir, i);
		rmdir(path);
	}
	if (vm->secret_path[0])
		unlink(vm->secret_path);
	free(vm->node_pids);
	vm->node_pids = NULL;
	free(vm->peers_buf);
	free(vm->pager_peers_buf);
	vm->peers_buf = vm->pager_peers_buf = NULL;
}
