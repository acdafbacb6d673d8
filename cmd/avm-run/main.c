/*
 * avm-run: the VMM of AVM.  One process runs the vCPUs of one VM on this
 * node, with the interrupt controllers and devices in user space.
 *
 *   avm-run [run] [options] --kernel FILE    start a VM, wait for its end
 *   avm-run status|pause|resume|stop [-n NAME]   talk to a running one
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avm/auth.h"
#include "avm/config.h"
#include "avm/log.h"
#include "avm/opt.h"
#include "avm/util.h"

#include "arch/x86/boot.h"
#include "cluster.h"
#include "ctl.h"
#include "vm.h"

#define DEFAULT_NAME "avm"
#define DEFAULT_MEMORY (256ull << 20)
#define MAX_MEMORY (1ull << 40)

static const char synopsis[] =
	"usage: avm-run [run] [-v] -k FILE [-i FILE] [-a CMDLINE] [-c N]\n"
	"               [-m SIZE] [-n NAME] [--boot FORMAT] [--console FILE]\n"
	"               [--nodes N] [--disk PATH[,ro]]...\n"
	"               [--net tap=NAME[,mac=MAC]]...\n"
	"       avm-run [run] [-v] --cluster FILE [--node I] [-a CMDLINE]\n"
	"               [--console FILE]\n";

static const char run_help[] = "start a VM and wait for its end (the default)";

enum {
	OPT_BOOT = 256,
	OPT_CONSOLE,
	OPT_CLUSTER,
	OPT_DEAD_MS,
	OPT_DISK,
	OPT_NET,
	/* Internal: how the launcher starts the other nodes (avm-run(1)). */
	OPT_NODE,
	OPT_PEERS,
	OPT_PAGER_PEERS,
	OPT_SECRET,
	OPT_LISTEN_FD,
};

/* The options, in help order; no help: internal (avm-run(1) says). */
static const struct opt opts[] = {
	{ "kernel", 'k', "FILE", "bzImage, PVH ELF, multiboot or ELF64 image" },
	{ "initrd", 'i', "FILE", "initial ramdisk" },
	{ "append", 'a', "TEXT", "kernel command line" },
	{ "vcpus", 'c', "N", "virtual CPUs (default 1)" },
	{ "memory", 'm', "SIZE", "guest RAM, e.g. 256M, 4G (default 256M)" },
	{ "name", 'n', "NAME",
	  "VM name: run directory and run.sock\n"
	  "(default avm)" },
	{ "nodes", 'N', "N",
	  "run the VM as N nodes on this host, each an\n"
	  "avm-run and avm-pager pair linked over\n"
	  "loopback TCP; vCPUs in blocks (default 1)" },
	{ "cluster", OPT_CLUSTER, "FILE",
	  "run node I (--node, default 0) of the VM in\n"
	  "cluster FILE (avm.yaml(5)): on each host,\n"
	  "with the VM's secret file in place" },
	{ "node", OPT_NODE, "I", "which node of --cluster this is" },
	{ "boot", OPT_BOOT, "FORMAT",
	  "auto, linux, pvh, multiboot or elf\n"
	  "(default auto: from the image's contents)" },
	{ "console", OPT_CONSOLE, "FILE",
	  "guest console output to FILE, no input\n"
	  "(default: this terminal, raw; Ctrl-A x quits)" },
	{ "disk", OPT_DISK, "PATH[,ro]",
	  "a raw disk image, virtio-blk on node 0;\n"
	  ",ro: read-only; repeat for more (at most 8)" },
	{ "net", OPT_NET, "tap=NAME[,mac=MAC]",
	  "a network card, virtio-net on node 0, on\n"
	  "tap NAME (made if missing, removed at the\n"
	  "end); repeat for more (at most 8)" },
	{ "dead-ms", OPT_DEAD_MS, "MS",
	  "a node silent this long is dead (3000)" },
	{ "peers", OPT_PEERS, "LIST", NULL },
	{ "pager-peers", OPT_PAGER_PEERS, "LIST", NULL },
	{ "secret", OPT_SECRET, "FILE", NULL },
	{ "listen-fd", OPT_LISTEN_FD, "FD", NULL },
	{ "json", 'j', NULL, "status as JSON" },
	{ "verbose", 'v', NULL, "say more on stderr" },
	{ "help", 'h', NULL, "this help" },
	{ "version", 'V', NULL, "print the version" },
};

/* The synopsis, verbs, options and exit statuses, all from the tables. */
static void
usage(FILE *f, int full)
{
	const struct ctl_verb *v;
	size_t n, i;

	v = ctl_verbs(&n);
	fputs(synopsis, f);
	fputs("       avm-run ", f);
	for (i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "|" : "", v[i].name);
	fputs(" [-j] [-n NAME]\n       avm-run -h | -V\n", f);
	if (!full)
		return;
	fputs("\nRuns a virtual machine on KVM with user-space interrupt "
	      "controllers,\nor controls a running one over its run.sock.\n"
	      "\nverbs:\n",
	      f);
	fprintf(f, "  %-14s %s\n", "run", run_help);
	for (i = 0; i < n; i++)
		fprintf(f, "  %-14s %s\n", v[i].name, v[i].help);
	fputs("\noptions:\n", f);
	opt_help(f, opts, AVM_ARRAY_SIZE(opts));
	exit_usage(f, "avm-run");
	fputs("\nSee avm-run(1).\n", f);
}

static void __attribute__((noreturn))
usage_error(const char *fmt, const char *arg)
{
	if (fmt) {
		char msg[256];

		snprintf(msg, sizeof(msg), fmt, arg);
		log_err("%s", msg);
	}
	usage(stderr, 0);
	exit(AVM_EX_USAGE);
}

static int
parse_boot(const char *s)
{
	enum boot_format f;

	if (boot_format_parse(s, &f) < 0)
		usage_error("bad --boot '%s': use auto, linux, pvh, multiboot "
			    "or elf",
			    s);
	return (int)f;
}

/* --disk PATH[,ro]: a comma is the flag's only when ",ro" ends it. */
static void
parse_disk(struct vm_disk *d, unsigned *n, char *arg)
{
	char *comma = strrchr(arg, ',');

	if (*n == VM_DISKS_MAX)
		usage_error("--disk '%s': at most 8 disks", arg);
	if (comma && strcmp(comma, ",ro") != 0)
		usage_error("bad --disk '%s': PATH or PATH,ro", arg);
	if (comma)
		*comma = '\0';
	if (!*arg)
		usage_error("bad --disk: an empty path", NULL);
	d[*n].path = arg;
	d[*n].readonly = comma != NULL;
	(*n)++;
}

/* --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX] */
static void
parse_net(struct vm_net *n, unsigned *count, char *arg)
{
	char why[200], msg[256];

	snprintf(msg, sizeof(msg), "bad --net '%s': ", arg);
	if (*count == VM_NETS_MAX)
		usage_error("--net '%s': at most 8 network cards", arg);
	if (vm_net_parse(&n[*count], arg, why, sizeof(why)) < 0)
		usage_error("%s",
			    strncat(msg, why, sizeof(msg) - strlen(msg) - 1));
	(*count)++;
}

static int
control(const struct ctl_verb *verb, const char *name, int json)
{
	char dir[256], path[300], msg[512];
	int r;

	if (avm_rundir(dir, sizeof(dir)) < 0)
		log_die(AVM_EX_CONFIG, "no run directory: set AVM_RUNDIR");
	snprintf(path, sizeof(path), "%s/%s/run.sock", dir, name);
	r = ctl_call(path, name, verb, json, stdout, msg, sizeof(msg));
	if (r != AVM_EX_OK)
		log_err("%s: %s", verb->name, msg);
	return r;
}

/* A secret others may read is refused now, before KVM or any link. */
static int
secret_check(const char *path)
{
	uint8_t key[AUTH_KEY_LEN];
	int rc = auth_secret_load(path, key);

	explicit_bzero(key, sizeof(key));
	if (rc == 0)
		return AVM_EX_OK;
	log_err("secret '%s': %s", path, auth_secret_strerror(rc));
	return auth_secret_exit(rc);
}

int
main(int argc, char **argv)
{
	struct vm_opts o = { .name = DEFAULT_NAME,
			     .vcpus = 1,
			     .mem_bytes = DEFAULT_MEMORY,
			     .boot_format = BOOT_FMT_AUTO,
			     .nodes = 1,
			     .listen_fd = -1 };
	const struct ctl_verb *verb = NULL; /* NULL: run */
	const char *cluster = NULL;
	struct vm_disk disks[VM_DISKS_MAX];
	struct vm_net nets[VM_NETS_MAX];
	int json = 0, c, vm_opts_given = 0;
	struct opt_parser p;
	uint64_t v;
	struct vm vm;

	log_init("avm-run", -1, 1);
	if (argc > 1 && argv[1][0] != '-') {
		verb = ctl_verb_find(argv[1]);
		if (!verb && strcmp(argv[1], "run") != 0)
			usage_error("unknown verb '%s'", argv[1]);
		argv++;
		argc--;
	}
	if (opt_parser_init(&p, opts, AVM_ARRAY_SIZE(opts)) < 0)
		log_die(AVM_EX_SOFTWARE, "option table: %s", strerror(errno));
	while ((c = opt_parser_next(&p, argc, argv)) != -1) {
		switch (c) {
		case 'k':
			vm_opts_given = 1;
			o.kernel = optarg;
			break;
		case 'i':
			o.initrd = optarg;
			break;
		case 'a':
			o.cmdline = optarg;
			break;
		case 'c':
			vm_opts_given = 1;
			if (uint_parse(optarg, 1, 4096, &v) < 0)
				usage_error("bad --vcpus '%s': a number from "
					    "1 to 4096",
					    optarg);
			o.vcpus = (unsigned)v;
			break;
		case 'm':
			vm_opts_given = 1;
			if (size_parse(optarg, &v) < 0 || v < (16ull << 20) ||
			    v > MAX_MEMORY || (v & 0xfff))
				usage_error("bad --memory '%s': a size from "
					    "16M to 1T, in whole 4 KiB pages",
					    optarg);
			o.mem_bytes = v;
			break;
		case 'n':
			vm_opts_given = 1;
			o.name = optarg;
			break;
		case OPT_BOOT:
			o.boot_format = parse_boot(optarg);
			break;
		case OPT_CONSOLE:
			o.console = optarg;
			break;
		case OPT_DISK:
			vm_opts_given = 1;
			parse_disk(disks, &o.ndisks, optarg);
			o.disks = disks;
			break;
		case OPT_NET:
			vm_opts_given = 1;
			parse_net(nets, &o.nnets, optarg);
			o.nets = nets;
			break;
		case OPT_CLUSTER:
			cluster = optarg;
			break;
		case 'N':
			vm_opts_given = 1;
			if (uint_parse(optarg, 1, 64, &v) < 0)
				usage_error("bad --nodes '%s': a number from 1 "
					    "to 64",
					    optarg);
			o.nodes = (unsigned)v;
			break;
		case OPT_NODE:
			if (uint_parse(optarg, 0, 63, &v) < 0)
				usage_error("bad --node '%s': a number from 0 "
					    "to 63",
					    optarg);
			o.node = (unsigned)v;
			break;
		case OPT_PEERS:
			vm_opts_given = 1;
			o.peers = optarg;
			break;
		case OPT_PAGER_PEERS:
			o.pager_peers = optarg;
			break;
		case OPT_SECRET:
			o.secret = optarg;
			break;
		case OPT_DEAD_MS:
			if (uint_parse(optarg, 100, 3600000, &v) < 0)
				usage_error("bad --dead-ms '%s' (100 to "
					    "3600000)",
					    optarg);
			o.dead_ms = (int)v;
			break;
		case OPT_LISTEN_FD:
			if (uint_parse(optarg, 3, 1 << 20, &v) < 0)
				usage_error("bad --listen-fd '%s'", optarg);
			o.listen_fd = (int)v;
			/* Ours alone: not to leak into our avm-pager. */
			if (fcntl(o.listen_fd, F_SETFD, FD_CLOEXEC) < 0)
				usage_error("--listen-fd '%s': not an open fd",
					    optarg);
			break;
		case 'j':
			json = 1;
			break;
		case 'v':
			o.verbose++;
			break;
		case 'h':
			usage(stdout, 1);
			return AVM_EX_OK;
		case 'V':
			printf("avm-run %s\n", AVM_VERSION);
			return AVM_EX_OK;
		default:
			usage_error("%s", p.error);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!config_vm_name_ok(o.name))
		usage_error("bad --name '%s': 1 to 31 of A-Z a-z 0-9 . _ -, "
			    "not starting with . or -",
			    o.name);
	if (verb)
		return control(verb, o.name, json);
	/* A node of several says which in every line. */
	if (cluster || o.nodes > 1 || o.node > 0)
		log_init("avm-run", (int)o.node, 1);
	if (cluster) {
		if (vm_opts_given)
			usage_error(
				"--cluster: the VM, its size, kernel, "
				"disks, nets and nodes come from the cluster "
				"file",
				NULL);
		c = cluster_opts(cluster, o.node, &o);
		if (c != AVM_EX_OK)
			return c;
	}
	if (!o.kernel)
		usage_error("no kernel: give --kernel FILE", NULL);
	if (o.vcpus < o.nodes)
		usage_error("--vcpus is below --nodes: every node needs a vCPU",
			    NULL);
	if (o.node >= o.nodes)
		usage_error("--node is not below --nodes", NULL);
	if (o.node > 0 && !(o.peers && o.pager_peers && o.secret))
		usage_error("--node I > 0 needs --peers, --pager-peers and "
			    "--secret",
			    NULL);
	if (o.nodes > 1 && o.peers && !(o.pager_peers && o.secret))
		usage_error("--peers needs --pager-peers and --secret", NULL);
	if (o.secret) {
		c = secret_check(o.secret);
		if (c != AVM_EX_OK)
			return c;
	}
	if (o.verbose)
		log_set_level(LOG_LVL_DEBUG);
	c = vm_create(&vm, &o);
	if (c != AVM_EX_OK)
		return c;
	c = vm_run(&vm);
	vm_release(&vm);
	return c;
}
