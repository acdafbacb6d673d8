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
#include "avm/wire.h"
#include "fabric.h"
#include "ssh.h"

#define TIMEOUT_DEFAULT_S 30
#define REMOTE_RUNDIR_DEFAULT "/run/avm"
#define PINGS_DEFAULT 2000
#define PINGS_MAX 1000000
#define STREAM_DEFAULT (64ull << 20)
#define STREAM_MAX (64ull << 30)

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
	OPT_NODE,
	OPT_PEER,
	OPT_SECRET,
	OPT_PINGS,
	OPT_STREAM,
	OPT_NO_MEASURE,
	OPT_DETACH,
};

static const struct opt opts[] = {
	{ "help", OPT_HELP, NULL, "print this help and exit" },
	{ "version", OPT_VERSION, NULL, "print the version and exit" },
	{ "verbose", OPT_VERBOSE, NULL,
	  "say on stderr what runs on which host" },
	{ "json", OPT_JSON, NULL, "print one JSON document" },
	{ "known-hosts", OPT_KNOWN_HOSTS, "file",
	  "host keys to accept (default: the cluster\n"
	  "file's fabric.known_hosts, else\n"
	  "~/.ssh/known_hosts)" },
	{ "timeout", OPT_TIMEOUT, "secs",
	  "give each host this long, ssh and\n"
	  "commands together (default 30)" },
	{ "remote-bin", OPT_REMOTE_BIN, "dir",
	  "where avm-probe, avm-run and avm-fabric\n"
	  "are on the hosts (default: the remote\n"
	  "PATH)" },
	{ "remote-rundir", OPT_REMOTE_RUNDIR, "dir",
	  "the run directory on the hosts (default\n"
	  "/run/avm)" },
	{ "insecure-accept-new-host-keys", OPT_ACCEPT_NEW, NULL,
	  "take a host key that known_hosts does not\n"
	  "know (never a changed one), with a warning" },
	{ "pings", OPT_PINGS, "n",
	  "round trips up times on each link\n"
	  "(default 2000)" },
	{ "stream", OPT_STREAM, "size",
	  "bytes up streams over each link\n"
	  "(default 64M)" },
	{ "detach", OPT_DETACH, NULL,
	  "launch: return once every node runs,\n"
	  "leaving the VM running" },
	{ "no-measure", OPT_NO_MEASURE, NULL,
	  "up: push only; no link matrix and no\n"
	  "fabric map (the guest gets the fixed\n"
	  "distances)" },
	{ "node", OPT_NODE, "i", "link-serve, link-test: this host's node" },
	{ "peer", OPT_PEER, "j", "link-test: the node to measure the link to" },
	{ "secret", OPT_SECRET, "file",
	  "link-serve, link-test: the VM's secret\n"
	  "(default: where the cluster file says)" },
};

struct verb {
	struct opt_verb v;
	int (*run)(struct fabric *f, int argc, char **argv);
};

static const struct verb verbs[] = {
	{ { "check", "FILE",
	    "on every host of the cluster file, check over ssh\n"
	    "what its node needs (avm-probe --require) and that\n"
	    "avm-run is the same version everywhere" },
	  verb_check },
	{ { "up", "FILE",
	    "create the VM's secret and push it and the cluster\n"
	    "file to every host over SFTP (to none unless every\n"
	    "host is reached and authenticated), measure every\n"
	    "link and hand out the fabric map" },
	  verb_up },
	{ { "down", "FILE",
	    "stop what still runs, remove from every host what\n"
	    "up and launch put there, and the local secret and\n"
	    "map; nothing there is no error" },
	  verb_down },
	{ { "launch", "FILE [-- ARGS]",
	    "start avm-run --cluster on every host (ARGS\n"
	    "passed on), relay its output, wait for the VM's\n"
	    "end: its status; a node that fails stops them all" },
	  verb_launch },
	{ { "status", "FILE", "which nodes of a launch --detach still run" },
	  verb_status },
	{ { "stop", "FILE", "end a VM launched with --detach on every host" },
	  verb_stop },
	{ { "link-serve", "FILE",
	    "(run on a host by up) answer link measurements\n"
	    "where node --node's run links will listen, until\n"
	    "stdin ends or nobody measured for --timeout" },
	  verb_link_serve },
	{ { "link-test", "FILE",
	    "(run on a host by up) measure the link from node\n"
	    "--node to node --peer's link-serve: round trips\n"
	    "and a page stream" },
	  verb_link_test },
};

static void
help(void)
{
	fputs(usage_line, stdout);
	fputs("\nverbs:\n", stdout);
	opt_verb_help(stdout, verbs, AVM_ARRAY_SIZE(verbs), sizeof(verbs[0]));
	fputs("\noptions:\n", stdout);
	opt_help(stdout, opts, AVM_ARRAY_SIZE(opts));
	exit_usage(stdout, PROG);
}

/* The verbs' names, for messages. */
static const char *
verb_names(char *buf, size_t len)
{
	return opt_verb_names(verbs, AVM_ARRAY_SIZE(verbs), sizeof(verbs[0]),
			      buf, len);
}

void
usage_error(void)
{
	fputs(usage_line, stderr);
	exit(AVM_EX_USAGE);
}

/* ---- shared by the verbs ----------------------------------------------- */

int
fabric_load(int argc, char **argv, const char *verb, struct avm_config *cfg)
{
	struct avm_diag d;
	char line[1024];

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
	return AVM_EX_OK;
}

int
fabric_known_hosts(struct fabric *f, const struct avm_config *cfg)
{
	const char *home;

	/* --known-hosts, else the file's, else ~/.ssh's. */
	if (f->known_hosts[0])
		return AVM_EX_OK;
	if (cfg->fabric_known_hosts) {
		if (config_path(cfg, cfg->fabric_known_hosts, f->known_hosts,
				sizeof(f->known_hosts)) < 0) {
			log_err("'%s': fabric.known_hosts: %s", cfg->file,
				strerror(errno));
			return AVM_EX_CONFIG;
		}
	} else {
		home = getenv("HOME");
		if (!home || !*home) {
			log_err("no $HOME for ~/.ssh/known_hosts: give "
				"--known-hosts");
			return AVM_EX_CONFIG;
		}
		snprintf(f->known_hosts, sizeof(f->known_hosts),
			 "%s/.ssh/known_hosts", home);
	}
	if (f->accept_new)
		log_warn("--insecure-accept-new-host-keys: a host key that "
			 "'%s' does not know is taken without checking",
			 f->known_hosts);
	return AVM_EX_OK;
}

int
fabric_secret_path(const struct avm_config *cfg, char *buf, size_t len)
{
	char rundir[PATH_MAX];

	/* The same rule as avm-run's (cmd/avm-run/cluster.c). */
	if (cfg->fabric_secret) {
		if (config_path(cfg, cfg->fabric_secret, buf, len) < 0) {
			log_err("'%s': secret path: %s", cfg->file,
				strerror(errno));
			return AVM_EX_CONFIG;
		}
		return 0;
	}
	if (avm_rundir(rundir, sizeof(rundir)) < 0) {
		log_err("no run directory: set AVM_RUNDIR");
		return AVM_EX_CONFIG;
	}
	if (snprintf(buf, len, "%s/%s/secret", rundir, cfg->name) >= (int)len) {
		log_err("'%s': secret path too long", rundir);
		return AVM_EX_CONFIG;
	}
	return 0;
}

int
fabric_emit_finish(struct emit *e)
{
	if (emit_finish(e) == 0)
		return 0;
	if (errno == EINVAL || errno == ERANGE)
		log_die(AVM_EX_SOFTWARE, "internal error: output tree is "
					 "malformed");
	log_err("write output: %s", strerror(errno));
	return -1;
}

/* ---- main ------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	struct fabric f = { .timeout_s = TIMEOUT_DEFAULT_S,
			    .remote_rundir = REMOTE_RUNDIR_DEFAULT,
			    .node = -1,
			    .peer = -1,
			    .pings = PINGS_DEFAULT,
			    .stream_bytes = STREAM_DEFAULT };
	struct opt_parser p;
	char names[256];
	uint64_t v;
	long k;
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
		case OPT_NODE:
		case OPT_PEER:
			if (uint_parse(optarg, 0, WIRE_MAX_NODES - 1, &v) < 0) {
				log_err("--%s '%s': not a node number",
					c == OPT_NODE ? "node" : "peer",
					optarg);
				usage_error();
			}
			*(c == OPT_NODE ? &f.node : &f.peer) = (int)v;
			break;
		case OPT_DETACH:
			f.detach = 1;
			break;
		case OPT_NO_MEASURE:
			f.no_measure = 1;
			break;
		case OPT_SECRET:
			f.secret = optarg;
			break;
		case OPT_PINGS:
			if (uint_parse(optarg, 1, PINGS_MAX, &v) < 0) {
				log_err("--pings '%s': not a number from 1 to "
					"%d",
					optarg, PINGS_MAX);
				usage_error();
			}
			f.pings = (size_t)v;
			break;
		case OPT_STREAM:
			if (size_parse(optarg, &v) < 0 ||
			    v < WIRE_PG_PAGE_SIZE || v > STREAM_MAX) {
				log_err("--stream '%s': not a size from 4K to "
					"64G",
					optarg);
				usage_error();
			}
			f.stream_bytes = v;
			break;
		default:
			log_err("%s", p.error);
			usage_error();
		}
	}
	if (optind >= argc) {
		log_err("no verb (%s)", verb_names(names, sizeof(names)));
		usage_error();
	}
	k = opt_verb_find(verbs, AVM_ARRAY_SIZE(verbs), sizeof(verbs[0]),
			  argv[optind]);
	if (k < 0) {
		log_err("unknown verb '%s' (%s)", argv[optind],
			verb_names(names, sizeof(names)));
		usage_error();
	}
	if (f.accept_new && f.known_hosts[0])
		log_warn("--insecure-accept-new-host-keys: a host key that "
			 "'%s' does not know is taken without checking",
			 f.known_hosts);
	return verbs[k].run(&f, argc - optind - 1, argv + optind + 1);
}
