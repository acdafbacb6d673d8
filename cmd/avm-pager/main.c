/*
 * avm-pager: one per node per VM; keeps guest RAM coherent across the
 * nodes (distributed shared memory over userfaultfd).  man/avm-pager.8
 * says what it does from the outside; daemon.h how it is cut up.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <pthread.h>
#include <unistd.h>

#include "avm/config.h"
#include "avm/emit.h"
#include "avm/log.h"
#include "avm/opt.h"
#include "avm/placement.h"
#include "avm/util.h"
#include "daemon.h"

struct pager P;

static int sig_fd = -1;

void
stats_seq_begin(void)
{
	__atomic_store_n(&P.st->seq, P.st->seq + 1, __ATOMIC_RELEASE);
}

void
stats_seq_end(void)
{
	__atomic_store_n(&P.st->seq, P.st->seq + 1, __ATOMIC_RELEASE);
}

void
stats_lat(uint64_t ns)
{
	int b = ns ? 63 - __builtin_clzll(ns) : 0;

	if (b >= PAGER_STATS_HIST)
		b = PAGER_STATS_HIST - 1;
	P.st->lat_hist[b]++;
	P.st->lat_sum_ns += ns;
	P.st->lat_count++;
}

void
pager_fail(int status, const char *fmt, ...)
{
	char msg[WIRE_ERROR_MSG_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("%s", msg);
	if (P.epfd > 0)
		net_notify_all(msg);
	if (P.sock_path[0])
		unlink(P.sock_path);
	/*
	 * _exit, not exit: a set-up thread may be inside libcrypto, and
	 * exit's clean-up under it crashes.
	 */
	fflush(NULL);
	_exit(status);
}

/* Everyone's client detached: say BYE and go. */
void
check_all_done(void)
{
	uint32_t i;

	if (!P.detached)
		return;
	for (i = 0; i < P.nodes; i++)
		if (i != P.node && !P.peer[i].done)
			return;
	for (i = 0; i < P.nodes; i++) {
		struct conn *c[2] = { P.peer[i].fault, P.peer[i].bulk };

		for (int k = 0; k < 2; k++)
			if (c[k])
				c[k]->bye = 1;
	}
	/* BYE on every link (short deadline), then leave. */
	net_notify_all(NULL);
	log_info("every node is done");
	unlink(P.sock_path);
	fflush(NULL);
	_exit(AVM_EX_OK);
}

void
pager_print_ready(const struct pager_ready *r)
{
	struct emit e;

	if (!P.json) {
		printf("avm-pager: vm '%s' node %u of %u ready: home of "
		       "pages %llu..%llu, stats in %s\n",
		       P.vm, r->node, r->nodes,
		       (unsigned long long)r->home_first,
		       (unsigned long long)(r->home_first + r->home_pages),
		       P.stats_path);
		fflush(stdout);
		return;
	}
	emit_init(&e, stdout, EMIT_JSON, 0);
	emit_map_begin(&e);
	emit_kv_str(&e, "vm", P.vm);
	emit_kv_uint(&e, "node", r->node);
	emit_kv_uint(&e, "nodes", r->nodes);
	emit_kv_uint(&e, "home_first_page", r->home_first);
	emit_kv_uint(&e, "home_pages", r->home_pages);
	emit_kv_str(&e, "stats", P.stats_path);
	emit_map_end(&e);
	if (emit_finish(&e) < 0)
		log_warn("ready line: %s", strerror(errno));
}

enum {
	OPT_VM = 256,
	OPT_MEMORY,
	OPT_NODE,
	OPT_NODES,
	OPT_PEERS,
	OPT_LISTEN,
	OPT_SECRET,
	OPT_HOME_SIZES,
	OPT_HEARTBEAT_MS,
	OPT_DEAD_MS,
	OPT_CONNECT_MS,
	OPT_ATTACH_MS,
};

/* The options, in help order. */
static const struct opt opts[] = {
	{ "vm", OPT_VM, "NAME", "the VM (names <rundir>/NAME/)" },
	{ "memory", OPT_MEMORY, "SIZE",
	  "guest RAM, the memfd's size (4K "
	  "multiple)" },
	{ "node", OPT_NODE, "I", "this node (0..N-1)" },
	{ "nodes", OPT_NODES, "N", "how many nodes (1..64)" },
	{ "peers", OPT_PEERS, "LIST",
	  "ADDR:PORT of every node, in node order" },
	{ "listen", OPT_LISTEN, "ADDR:PORT",
	  "where to listen\n(default: our entry in --peers)" },
	{ "secret", OPT_SECRET, "FILE",
	  "the VM's secret\n(default <rundir>/NAME/secret)" },
	{ "home-sizes", OPT_HOME_SIZES, "LIST",
	  "bytes each node is home of\n(default: equal)" },
	{ "heartbeat-ms", OPT_HEARTBEAT_MS, "MS",
	  "PING interval (500, or a third of --dead-ms)" },
	{ "dead-ms", OPT_DEAD_MS, "MS", "a silent peer is dead after (3000)" },
	{ "connect-timeout-ms", OPT_CONNECT_MS, "MS",
	  "links up within (30000)" },
	{ "attach-timeout-ms", OPT_ATTACH_MS, "MS",
	  "client attached within\n(60000; 0: none)" },
	{ "quiet", 'q', NULL, "log only warnings and errors" },
	{ "json", 'j', NULL, "the ready line as JSON" },
	{ "verbose", 'v', NULL, "log debug lines" },
	{ "help", 'h', NULL, "this help" },
	{ "version", 'V', NULL, "print the version" },
};

static void
usage(FILE *f, int full)
{
	fputs("usage: avm-pager --vm NAME --memory SIZE [--node I --nodes N\n"
	      "                 --peers ADDR:PORT,...] [options]\n",
	      f);
	if (!full)
		return;
	opt_help(f, opts, AVM_ARRAY_SIZE(opts));
	exit_usage(f, "avm-pager");
}

static void __attribute__((format(printf, 1, 2), noreturn))
usage_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	usage(stderr, 0);
	exit(AVM_EX_USAGE);
}

static int
parse_addr(const char *s, struct sockaddr_storage *sa, socklen_t *len)
{
	unsigned n;

	if (addr_parse(s, 0, sa, &n) < 0)
		return -1;
	*len = n;
	return 0;
}

static int
parse_ms(const char *opt, const char *s, int min)
{
	uint64_t v;

	if (uint_parse(s, (uint64_t)min, 3600000, &v) < 0)
		usage_fail("%s: '%s' is not a number of ms in %d..3600000", opt,
			   s, min);
	return (int)v;
}

/* Homes: the placement's (avm/placement.h), of --home-sizes or equal. */
static void
parse_homes(const char *list)
{
	char *dup = list ? strdup(list) : NULL, *tok, *save = NULL;
	uint64_t size[PAGER_MAX_NODES];
	struct placement_node pl[PAGER_MAX_NODES];
	struct placement_in in = { P.nodes, 0, P.mem_bytes, NULL, NULL };
	char why[256];
	uint32_t i = 0;

	if (list && !dup)
		pager_fail(AVM_EX_OSERR, "out of memory");
	for (tok = list ? strtok_r(dup, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save), i++) {
		if (i >= P.nodes)
			usage_fail("--home-sizes: more than %u sizes", P.nodes);
		if (size_parse(tok, &size[i]) < 0)
			usage_fail("--home-sizes: '%s' is not a size", tok);
	}
	free(dup);
	if (list && i != P.nodes)
		usage_fail("--home-sizes: %u sizes for %u nodes", i, P.nodes);
	in.node_mem_bytes = list ? size : NULL;
	if (placement_compute(&in, pl, why, sizeof(why)) < 0)
		usage_fail("%s: %s", list ? "--home-sizes" : "--memory", why);
	for (i = 0; i < P.nodes; i++) {
		P.home_first[i] = pl[i].page_first;
		P.home_pages[i] = pl[i].page_count;
	}
}

static void
parse_peers(const char *list)
{
	char *dup = strdup(list), *tok, *save = NULL;
	uint32_t i = 0;

	for (tok = strtok_r(dup, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save), i++) {
		if (i >= P.nodes)
			usage_fail("--peers: more than --nodes (%u) entries",
				   P.nodes);
		snprintf(P.peer[i].addr, sizeof(P.peer[i].addr), "%s", tok);
		if (parse_addr(tok, &P.peer[i].sa, &P.peer[i].salen) < 0)
			usage_fail("--peers: '%s' is not ADDR:PORT", tok);
	}
	free(dup);
	if (i != P.nodes)
		usage_fail("--peers: %u entries for %u nodes", i, P.nodes);
}

static void
stats_open(void)
{
	int fd;

	fd = open(P.stats_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		pager_fail(AVM_EX_CANTCREAT, "create '%s': %s", P.stats_path,
			   strerror(errno));
	if (ftruncate(fd, sizeof(struct pager_stats)) < 0)
		pager_fail(AVM_EX_CANTCREAT, "size '%s': %s", P.stats_path,
			   strerror(errno));
	P.st = mmap(NULL, sizeof(struct pager_stats), PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
	close(fd);
	if (P.st == MAP_FAILED)
		pager_fail(AVM_EX_OSERR, "map '%s': %s", P.stats_path,
			   strerror(errno));
	P.st->version = PAGER_STATS_VERSION;
	P.st->size = sizeof(struct pager_stats);
	P.st->node = P.node;
	P.st->nodes = P.nodes;
	P.st->page_size = PAGER_PAGE_SIZE;
	P.st->dir_entry_bytes = sizeof(struct dir_entry);
	P.st->local_state_bytes = 1;
	P.st->pid = (uint32_t)getpid();
	P.st->mem_bytes = P.mem_bytes;
	P.st->home_first = P.home_first[P.node];
	P.st->home_pages = P.home_pages[P.node];
	/* The magic last: a reader that sees it sees the rest. */
	__atomic_store_n(&P.st->magic, PAGER_STATS_MAGIC, __ATOMIC_RELEASE);
}

static void
mkdir_p(const char *path)
{
	char buf[4200], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0700);
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		pager_fail(AVM_EX_CANTCREAT, "create '%s': %s", buf,
			   strerror(errno));
}

static void
epoll_add(int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	if (epoll_ctl(P.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		pager_fail(AVM_EX_OSERR, "epoll_ctl: %s", strerror(errno));
}

/* Tags for the loop's own fds (conns carry their struct conn *). */
static char tag_listen, tag_ctl, tag_timer, tag_setup, tag_sig;

static void
loop(void)
{
	struct epoll_event ev[64];
	int n, i;

	for (;;) {
		n = epoll_wait(P.epfd, ev, 64, 1000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			pager_fail(AVM_EX_OSERR, "epoll_wait: %s",
				   strerror(errno));
		for (i = 0; i < n; i++) {
			void *t = ev[i].data.ptr;

			if (t == NULL) {
				fault_uffd_ready();
			} else if (t == &tag_listen) {
				net_accept();
			} else if (t == &tag_ctl) {
				net_ctl_accept();
			} else if (t == &tag_setup) {
				net_setup_ready();
			} else if (t == &tag_timer) {
				uint64_t x;

				if (read(P.timer_fd, &x, sizeof(x)) < 0 &&
				    errno != EAGAIN)
					pager_fail(AVM_EX_OSERR, "timerfd: %s",
						   strerror(errno));
				net_tick(now_ns());
			} else if (t == &tag_sig) {
				struct signalfd_siginfo si;

				if (read(sig_fd, &si, sizeof(si)) > 0)
					pager_fail(AVM_EX_UNAVAILABLE,
						   "node %u failed: its pager "
						   "got signal %u",
						   P.node, si.ssi_signo);
			} else {
				conn_io(t, ev[i].events);
			}
		}
	}
}

int
main(int argc, char **argv)
{
	const char *vm = NULL, *mem = NULL, *peers = NULL, *listen_at = NULL;
	const char *secret = NULL, *homes = NULL;
	struct itimerspec its = { { 0, 100000000 }, { 0, 100000000 } };
	char dir[4000];
	uint64_t v;
	sigset_t ss;
	int c, rc, verbose = 0, quiet = 0;
	struct opt_parser op;

	memset(&P, 0, sizeof(P));
	P.node = 0;
	P.nodes = 1;
	P.memfd = P.uffd = -1;
	P.heartbeat_ms = 0; /* the link layer's, from the deadline */
	P.dead_ms = LINK_DEAD_MS;
	P.connect_ms = 30000;
	P.attach_ms = 60000;
	P.sync_page = UINT64_MAX;
	log_init("avm-pager", -1, 1);
	if (opt_parser_init(&op, opts, AVM_ARRAY_SIZE(opts)) < 0)
		pager_fail(AVM_EX_SOFTWARE, "option table: %s",
			   strerror(errno));
	while ((c = opt_parser_next(&op, argc, argv)) != -1) {
		switch (c) {
		case OPT_VM:
			vm = optarg;
			break;
		case OPT_MEMORY:
			mem = optarg;
			break;
		case OPT_NODE:
			if (uint_parse(optarg, 0, PAGER_MAX_NODES - 1, &v) < 0)
				usage_fail("--node: '%s' is not 0..%d", optarg,
					   PAGER_MAX_NODES - 1);
			P.node = (uint32_t)v;
			break;
		case OPT_NODES:
			if (uint_parse(optarg, 1, PAGER_MAX_NODES, &v) < 0)
				usage_fail("--nodes: '%s' is not 1..%d", optarg,
					   PAGER_MAX_NODES);
			P.nodes = (uint32_t)v;
			break;
		case OPT_PEERS:
			peers = optarg;
			break;
		case OPT_LISTEN:
			listen_at = optarg;
			break;
		case OPT_SECRET:
			secret = optarg;
			break;
		case OPT_HOME_SIZES:
			homes = optarg;
			break;
		case OPT_HEARTBEAT_MS:
			P.heartbeat_ms = parse_ms("--heartbeat-ms", optarg, 10);
			break;
		case OPT_DEAD_MS:
			P.dead_ms = parse_ms("--dead-ms", optarg, 100);
			break;
		case OPT_CONNECT_MS:
			P.connect_ms =
				parse_ms("--connect-timeout-ms", optarg, 100);
			break;
		case OPT_ATTACH_MS:
			P.attach_ms =
				parse_ms("--attach-timeout-ms", optarg, 0);
			break;
		case 'j':
			P.json = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout, 1);
			return AVM_EX_OK;
		case 'V':
			printf("avm-pager %s\n", AVM_VERSION);
			return AVM_EX_OK;
		default:
			usage_fail("%s", op.error);
		}
	}
	if (optind < argc)
		usage_fail("unexpected argument '%s'", argv[optind]);
	if (!vm || !config_vm_name_ok(vm))
		usage_fail("--vm: a name of 1..31 printable characters, no "
			   "'/', is required");
	if (!mem)
		usage_fail("--memory is required");
	if (size_parse(mem, &P.mem_bytes) < 0 || P.mem_bytes == 0 ||
	    P.mem_bytes % PAGER_PAGE_SIZE)
		usage_fail("--memory: '%s' is not a size in 4K multiples", mem);
	if (P.node >= P.nodes)
		usage_fail("--node %u is not below --nodes %u", P.node,
			   P.nodes);
	if (P.heartbeat_ms && P.dead_ms <= P.heartbeat_ms)
		usage_fail("--dead-ms must be longer than --heartbeat-ms");
	snprintf(P.vm, sizeof(P.vm), "%s", vm);
	P.npages = P.mem_bytes / PAGER_PAGE_SIZE;
	if (P.nodes > 1 && !peers)
		usage_fail("--peers is required with more than one node");
	if (peers)
		parse_peers(peers);
	if (listen_at && parse_addr(listen_at, &P.peer[P.node].sa,
				    &P.peer[P.node].salen) < 0)
		usage_fail("--listen: '%s' is not ADDR:PORT", listen_at);
	parse_homes(homes);
	snprintf(P.listen_addr, sizeof(P.listen_addr), "%s",
		 listen_at ? listen_at : P.peer[P.node].addr);

	log_init("avm-pager", (int)P.node, 1);
	log_set_level(verbose ? LOG_LVL_DEBUG
		      : quiet ? LOG_LVL_WARN
			      : LOG_LVL_INFO);
	if (avm_rundir(dir, sizeof(dir)) < 0)
		pager_fail(AVM_EX_CONFIG, "no run directory: set AVM_RUNDIR or "
					  "XDG_RUNTIME_DIR");
	snprintf(P.rundir, sizeof(P.rundir), "%s/%s", dir, P.vm);
	mkdir_p(P.rundir);
	snprintf(P.sock_path, sizeof(P.sock_path), "%s/pager.sock", P.rundir);
	snprintf(P.stats_path, sizeof(P.stats_path), "%s/pager-%u.stats",
		 P.rundir, P.node);
	if (P.nodes > 1) {
		char def[4300];

		if (!secret) {
			snprintf(def, sizeof(def), "%s/secret", P.rundir);
			secret = def;
		}
		rc = auth_secret_load(secret, P.key);
		if (rc < 0)
			pager_fail(auth_secret_exit(rc), "secret '%s': %s",
				   secret, auth_secret_strerror(rc));
		P.have_key = 1;
	}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	sig_fd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);

	stats_open();
	rc = fault_dir_init();
	if (rc < 0)
		pager_fail(AVM_EX_OSERR, "directory: %s", strerror(-rc));
	P.t_start = now_ns();
	P.epfd = epoll_create1(EPOLL_CLOEXEC);
	P.timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	P.setup_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (P.epfd < 0 || P.timer_fd < 0 || P.setup_fd < 0 || sig_fd < 0)
		pager_fail(AVM_EX_OSERR, "event loop: %s", strerror(errno));
	timerfd_settime(P.timer_fd, 0, &its, NULL);
	P.ctl_fd = net_ctl_listen();
	if (P.ctl_fd < 0)
		pager_fail(P.ctl_fd == -EADDRINUSE ? AVM_EX_TEMPFAIL
						   : AVM_EX_CANTCREAT,
			   "listen on '%s': %s", P.sock_path,
			   P.ctl_fd == -EADDRINUSE ? "a pager answers there "
						     "already"
						   : strerror(-P.ctl_fd));
	epoll_add(P.ctl_fd, &tag_ctl);
	epoll_add(P.timer_fd, &tag_timer);
	epoll_add(P.setup_fd, &tag_setup);
	epoll_add(sig_fd, &tag_sig);
	if (P.nodes > 1) {
		P.listen_fd = net_listen();
		if (P.listen_fd < 0)
			pager_fail(AVM_EX_CANTCREAT, "listen on %s: %s",
				   listen_at ? listen_at : P.peer[P.node].addr,
				   strerror(-P.listen_fd));
		epoll_add(P.listen_fd, &tag_listen);
		net_start_dials();
	} else {
		P.fabric_up = 1;
	}
	log_info("vm '%s', %llu bytes, home of pages %llu..%llu, "
		 "directory %zu bytes a page",
		 P.vm, (unsigned long long)P.mem_bytes,
		 (unsigned long long)P.home_first[P.node],
		 (unsigned long long)(P.home_first[P.node] +
				      P.home_pages[P.node]),
		 sizeof(struct dir_entry));
	loop();
	return AVM_EX_SOFTWARE;
}
