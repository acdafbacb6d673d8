/*
 * avm-run: the VMM of AVM.  One process runs the vCPUs of one VM on this
 * node, with the interrupt controllers and devices in user space.
 *
 *   avm-run [run] [options] --kernel FILE    start a VM, wait for its end
 *   avm-run status|pause|resume|stop [-n NAME]   talk to a running one
 */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avm/config.h"
#include "avm/log.h"
#include "avm/util.h"

#include "arch/x86/boot.h"
#include "cluster.h"
#include "ctl.h"
#include "vm.h"

#define DEFAULT_NAME "avm"
#define DEFAULT_MEMORY (256ull << 20)
#define MAX_MEMORY (1ull << 40)

static const char usage_text[] =
	"usage: avm-run [run] [-v] -k FILE [-i FILE] [-a CMDLINE] [-c N]\n"
	"               [-m SIZE] [-n NAME] [--boot FORMAT] [--console FILE]\n"
	"               [--nodes N]\n"
	"       avm-run [run] [-v] --cluster FILE [--node I] [-a CMDLINE]\n"
	"               [--console FILE]\n"
	"       avm-run status [-j] [-n NAME]\n"
	"       avm-run pause|resume|stop [-n NAME]\n"
	"       avm-run -h | -V\n";

static const char help_text[] =
	"\n"
	"Runs a virtual machine on KVM with user-space interrupt controllers,\n"
	"or controls a running one over its run.sock.\n"
	"\n"
	"verbs:\n"
	"  run            start a VM and wait for its end (the default)\n"
	"  status         print the state of a running VM (YAML, or -j JSON)\n"
	"  pause          stop every vCPU of a running VM\n"
	"  resume         let a paused VM go on\n"
	"  stop           end a running VM (avm-run then exits 0)\n"
	"\n"
	"options:\n"
	"  -k, --kernel FILE    bzImage, PVH ELF, multiboot or ELF64 image\n"
	"  -i, --initrd FILE    initial ramdisk\n"
	"  -a, --append TEXT    kernel command line\n"
	"  -c, --vcpus N        virtual CPUs (default 1)\n"
	"  -m, --memory SIZE    guest RAM, e.g. 256M, 4G (default 256M)\n"
	"  -n, --name NAME      VM name: run directory and run.sock\n"
	"                       (default avm)\n"
	"  -N, --nodes N        run the VM as N nodes on this host, each an\n"
	"                       avm-run and avm-pager pair linked over\n"
	"                       loopback TCP; vCPUs in blocks (default 1)\n"
	"      --cluster FILE   run node I (--node, default 0) of the VM in\n"
	"                       cluster FILE (avm.yaml(5)): on each host,\n"
	"                       with the VM's secret file in place\n"
	"      --node I         which node of --cluster this is\n"
	"      --boot FORMAT    auto, linux, pvh, multiboot or elf\n"
	"                       (default auto: from the image's contents)\n"
	"      --console FILE   guest console output to FILE, no input\n"
	"                       (default: this terminal, raw; Ctrl-A x quits)\n"
	"  -j, --json           status as JSON\n"
	"  -v, --verbose        say more on stderr\n"
	"  -h, --help           this help\n"
	"  -V, --version        print the version\n"
	"\n"
	"exit status: the guest's debug-exit value, 0 on power-off, reset\n"
	"or stop, 64 usage, 65 bad kernel image, 66 missing file, 69 no KVM\n"
	"or not enough of it or a node failed, 70 internal or vCPU failure,\n"
	"77 permission, 130/143 on SIGINT/SIGTERM.  See avm-run(1).\n";

enum verb {
	VERB_RUN,
	VERB_STATUS,
	VERB_PAUSE,
	VERB_RESUME,
	VERB_STOP,
};

static const struct {
	const char *name;
	enum verb verb;
} verbs[] = {
	{ "run", VERB_RUN },	 { "status", VERB_STATUS },
	{ "pause", VERB_PAUSE }, { "resume", VERB_RESUME },
	{ "stop", VERB_STOP },
};

enum {
	OPT_BOOT = 256,
	OPT_CONSOLE,
	OPT_CLUSTER,
	/* Internal: how the launcher starts the other nodes (avm-run(1)). */
	OPT_NODE,
	OPT_PEERS,
	OPT_PAGER_PEERS,
	OPT_SECRET,
	OPT_LISTEN_FD,
};

static const struct option long_opts[] = {
	{ "kernel", required_argument, NULL, 'k' },
	{ "initrd", required_argument, NULL, 'i' },
	{ "append", required_argument, NULL, 'a' },
	{ "vcpus", required_argument, NULL, 'c' },
	{ "memory", required_argument, NULL, 'm' },
	{ "name", required_argument, NULL, 'n' },
	{ "boot", required_argument, NULL, OPT_BOOT },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "nodes", required_argument, NULL, 'N' },
	{ "node", required_argument, NULL, OPT_NODE },
	{ "cluster", required_argument, NULL, OPT_CLUSTER },
	{ "peers", required_argument, NULL, OPT_PEERS },
	{ "pager-peers", required_argument, NULL, OPT_PAGER_PEERS },
	{ "secret", required_argument, NULL, OPT_SECRET },
	{ "listen-fd", required_argument, NULL, OPT_LISTEN_FD },
	{ "json", no_argument, NULL, 'j' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void __attribute__((noreturn))
usage_error(const char *fmt, const char *arg)
{
	if (fmt) {
		fprintf(stderr, "avm-run: ");
		fprintf(stderr, fmt, arg);
		fputc('\n', stderr);
	}
	fputs(usage_text, stderr);
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

static int
control(enum verb verb, const char *name, int json)
{
	char dir[256], path[300], msg[512];
	const char *word;
	int r;

	if (avm_rundir(dir, sizeof(dir)) < 0)
		errx(AVM_EX_CONFIG, "no run directory: set AVM_RUNDIR");
	snprintf(path, sizeof(path), "%s/%s/run.sock", dir, name);
	switch (verb) {
	case VERB_STATUS:
		word = json ? "status-json" : "status";
		break;
	case VERB_PAUSE:
		word = "pause";
		break;
	case VERB_RESUME:
		word = "resume";
		break;
	default:
		word = "stop";
		break;
	}
	r = ctl_call(path, name, word, stdout, msg, sizeof(msg));
	if (r != AVM_EX_OK)
		fprintf(stderr, "avm-run: %s: %s\n", word, msg);
	return r;
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
	enum verb verb = VERB_RUN;
	const char *cluster = NULL;
	int json = 0, c, vm_opts_given = 0;
	uint64_t v;
	struct vm vm;
	size_t i;

	if (argc > 1 && argv[1][0] != '-') {
		for (i = 0; i < AVM_ARRAY_SIZE(verbs); i++)
			if (strcmp(argv[1], verbs[i].name) == 0)
				break;
		if (i == AVM_ARRAY_SIZE(verbs))
			usage_error("unknown verb '%s'", argv[1]);
		verb = verbs[i].verb;
		argv++;
		argc--;
	}
	while ((c = getopt_long(argc, argv, "k:i:a:c:m:n:N:jvhV", long_opts,
				NULL)) != -1) {
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
		case OPT_LISTEN_FD:
			if (uint_parse(optarg, 3, 1 << 20, &v) < 0)
				usage_error("bad --listen-fd '%s'", optarg);
			o.listen_fd = (int)v;
			break;
		case 'j':
			json = 1;
			break;
		case 'v':
			o.verbose++;
			break;
		case 'h':
			fputs(usage_text, stdout);
			fputs(help_text, stdout);
			return AVM_EX_OK;
		case 'V':
			printf("avm-run %s\n", AVM_VERSION);
			return AVM_EX_OK;
		default:
			usage_error(NULL, NULL);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!config_vm_name_ok(o.name))
		usage_error("bad --name '%s': 1 to 31 of A-Z a-z 0-9 . _ -, "
			    "not starting with . or -",
			    o.name);
	if (verb != VERB_RUN)
		return control(verb, o.name, json);
	if (cluster) {
		if (vm_opts_given)
			usage_error("--cluster: the VM, its size, kernel and "
				    "nodes come from the cluster file",
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
	log_init("avm-run", o.nodes > 1 ? (int)o.node : -1, 1);
	if (o.verbose)
		log_set_level(LOG_LVL_DEBUG);
	c = vm_create(&vm, &o);
	if (c != AVM_EX_OK)
		return c;
	c = vm_run(&vm);
	vm_release(&vm);
	return c;
}
