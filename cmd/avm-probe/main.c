/*
 * avm-probe: says what this host offers to an aggregated VM, as a node
 * entry ready to paste under "nodes:" of a cluster file (YAML, or the
 * same tree in JSON), or checks prerequisites with --require.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "avm/emit.h"
#include "avm/log.h"
#include "avm/opt.h"
#include "avm/util.h"
#include "probe.h"

#define PROG "avm-probe"

/* The cluster file wants node memory in whole 2 MiB pages. */
#define NODE_MEM_ALIGN (2ull << 20)

int probe_verbose;

void
probe_debug(const char *fmt, ...)
{
	va_list ap;

	if (!probe_verbose)
		return;
	va_start(ap, fmt);
	log_vmsg(LOG_LVL_INFO, fmt, ap);
	va_end(ap);
}

static const char usage_line[] = "usage: " PROG " [-hjVv] [-r list]\n";

enum {
	OPT_HELP = 'h',
	OPT_VERSION = 'V',
	OPT_VERBOSE = 'v',
	OPT_JSON = 'j',
	OPT_REQUIRE = 'r'
};

static const struct opt opts[] = {
	{ "help", OPT_HELP, NULL, "print this help and exit" },
	{ "version", OPT_VERSION, NULL, "print the version and exit" },
	{ "verbose", OPT_VERBOSE, NULL, "say on stderr what each probe found" },
	{ "json", OPT_JSON, NULL, "print JSON instead of YAML" },
	{ "require", OPT_REQUIRE, "list",
	  "print nothing; exit 69 unless every item of\n"
	  "the comma list holds: kvm (everything\n"
	  "avm-run needs of it), uffd, uffd-wp, rdma,\n"
	  "memory=SIZE, cpus=N" },
};

static void
help(void)
{
	fputs(usage_line, stdout);
	opt_help(stdout, opts, AVM_ARRAY_SIZE(opts));
	exit_usage(stdout, PROG);
}

static void
usage_error(void)
{
	fputs(usage_line, stderr);
	exit(AVM_EX_USAGE);
}

enum need_kind {
	NEED_KVM,
	NEED_UFFD,
	NEED_UFFD_WP,
	NEED_RDMA,
	NEED_MEMORY,
	NEED_CPUS,
};

struct need {
	enum need_kind kind;
	uint64_t value;
	char text[64];
};

static const struct {
	const char *name;
	enum need_kind kind;
	int has_value;
} need_names[] = {
	{ "kvm", NEED_KVM, 0 },		{ "uffd", NEED_UFFD, 0 },
	{ "uffd-wp", NEED_UFFD_WP, 0 }, { "rdma", NEED_RDMA, 0 },
	{ "memory", NEED_MEMORY, 1 },	{ "cpus", NEED_CPUS, 1 },
};

/*
 * size_parse plus P and E (PiB, EiB), so that "memory=1P" is a size
 * nobody has rather than a usage error.
 */
static int
need_size_parse(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		unsigned shift;
	} big[] = {
		{ "p", 50 }, { "pib", 50 }, { "pb", 50 },
		{ "e", 60 }, { "eib", 60 }, { "eb", 60 },
	};
	char digits[32];
	uint64_t v;
	size_t n = strspn(s, "0123456789"), i;

	if (size_parse(s, out) == 0)
		return 0;
	if (n == 0 || n >= sizeof(digits))
		return -1;
	memcpy(digits, s, n);
	digits[n] = '\0';
	for (i = 0; i < AVM_ARRAY_SIZE(big); i++) {
		if (strcasecmp(s + n, big[i].unit) != 0)
			continue;
		if (uint_parse(digits, 0, UINT64_MAX >> big[i].shift, &v) < 0)
			return -1;
		*out = v << big[i].shift;
		return 0;
	}
	errno = EINVAL;
	return -1;
}

/* Adds the items of one --require list; a bad one is a usage error. */
static void
parse_needs(const char *list, struct need **needs, size_t *n)
{
	char *copy, *item, *save = NULL, *eq;
	struct need *v, *nd;
	size_t i;

	copy = strdup(list);
	if (!copy)
		log_die(AVM_EX_SOFTWARE, "strdup: %s", strerror(errno));
	if (*list == '\0' || list[strlen(list) - 1] == ',' ||
	    strstr(list, ",,") || *list == ',') {
		log_err("--require '%s': empty item", list);
		usage_error();
	}
	for (item = strtok_r(copy, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		eq = strchr(item, '=');
		if (eq)
			*eq = '\0';
		for (i = 0; i < AVM_ARRAY_SIZE(need_names); i++) {
			if (strcmp(item, need_names[i].name) == 0)
				break;
		}
		if (i == AVM_ARRAY_SIZE(need_names)) {
			log_err("--require: unknown item '%s' (kvm, uffd, "
				"uffd-wp, rdma, memory=SIZE, cpus=N)",
				item);
			usage_error();
		}
		if (!!eq != need_names[i].has_value) {
			log_err("--require: '%s' %s", item,
				eq ? "takes no value" : "needs a value");
			usage_error();
		}
		v = realloc(*needs, (*n + 1) * sizeof(*v));
		if (!v)
			log_die(AVM_EX_SOFTWARE, "realloc: %s",
				strerror(errno));
		*needs = v;
		nd = &v[(*n)++];
		memset(nd, 0, sizeof(*nd));
		nd->kind = need_names[i].kind;
		snprintf(nd->text, sizeof(nd->text), "%s%s%s", item,
			 eq ? "=" : "", eq ? eq + 1 : "");
		if (nd->kind == NEED_MEMORY &&
		    need_size_parse(eq + 1, &nd->value) < 0) {
			log_err("--require: memory '%s': not a size", eq + 1);
			usage_error();
		}
		if (nd->kind == NEED_CPUS &&
		    uint_parse(eq + 1, 1, INT_MAX, &nd->value) < 0) {
			log_err("--require: cpus '%s': not a number from 1 to "
				"%d",
				eq + 1, INT_MAX);
			usage_error();
		}
	}
	free(copy);
}

struct host {
	struct utsname uts;
	struct kvm_info kvm;
	struct cpu_info cpu;
	struct mem_info mem;
	struct uffd_info uffd;
	struct rdma_info rdma;
	struct net_info net;
	uint64_t node_memory; /* MemAvailable rounded down to 2 MiB */
};

static void
host_probe(struct host *h)
{
	if (uname(&h->uts) < 0) {
		probe_debug("uname: %s", strerror(errno));
		memset(&h->uts, 0, sizeof(h->uts));
		snprintf(h->uts.nodename, sizeof(h->uts.nodename), "localhost");
	}
	kvm_probe(&h->kvm);
	cpu_probe(&h->cpu, &h->kvm);
	mem_probe(&h->mem);
	uffd_probe(&h->uffd);
	rdma_probe(&h->rdma);
	net_probe(&h->net);
	h->node_memory = h->mem.have_meminfo ? h->mem.available_bytes &
						       ~(NODE_MEM_ALIGN - 1)
					     : 0;
}

static void
host_free(struct host *h)
{
	mem_free(&h->mem);
	rdma_free(&h->rdma);
	net_free(&h->net);
}

/* Returns 0 when need holds, else -1 after saying why on stderr. */
static int
check_need(const struct host *h, const struct need *nd)
{
	char a[32], b[32];

	switch (nd->kind) {
	case NEED_KVM:
		if (h->kvm.usable)
			return 0;
		log_err("missing %s: %s", nd->text, h->kvm.reason);
		return -1;
	case NEED_UFFD:
		if (h->uffd.available)
			return 0;
		log_err("missing %s: %s", nd->text, h->uffd.reason);
		return -1;
	case NEED_UFFD_WP:
		if (h->uffd.wp_shmem_register && h->uffd.wp_shmem_ops)
			return 0;
		log_err("missing %s: %s", nd->text,
			h->uffd.available ? h->uffd.wp_error : h->uffd.reason);
		return -1;
	case NEED_RDMA:
		if (h->rdma.active_ports > 0)
			return 0;
		if (h->rdma.ndevices == 0)
			log_err("missing %s: no RDMA device (libibverbs: %s)",
				nd->text,
				h->rdma.ibv_error[0] ? h->rdma.ibv_error
						     : "none listed");
		else
			log_err("missing %s: no active port on %zu RDMA "
				"device(s)",
				nd->text, h->rdma.ndevices);
		return -1;
	case NEED_MEMORY:
		if (h->node_memory >= nd->value)
			return 0;
		log_err("missing %s: %s available, %s asked (MemAvailable in "
			"whole 2M pages)",
			nd->text, size_format(h->node_memory, a, sizeof(a)),
			size_format(nd->value, b, sizeof(b)));
		return -1;
	case NEED_CPUS:
		if (h->cpu.online >= 0 && (uint64_t)h->cpu.online >= nd->value)
			return 0;
		log_err("missing %s: %ld online", nd->text, h->cpu.online);
		return -1;
	}
	return -1;
}

static void
emit_host(struct emit *e, const struct host *h)
{
	char size[32], head[160];

	snprintf(head, sizeof(head),
		 PROG " " AVM_VERSION " on '%s'; paste under 'nodes:' of a "
		      "cluster file",
		 h->uts.nodename);
	emit_comment(e, head);
	emit_list_begin(e);
	emit_map_begin(e);
	emit_kv_str(e, "host", h->uts.nodename);
	emit_kv_str(e, "address", h->net.address);
	emit_kv_int(e, "vcpus", h->cpu.online);
	emit_comment(e, "online CPUs");
	emit_kv_str(e, "memory",
		    size_format(h->node_memory, size, sizeof(size)));
	emit_comment(e, "MemAvailable, rounded down to 2M");
	emit_kv_map_begin(e, "probe");
	emit_kv_str(e, "avm_version", AVM_VERSION);
	emit_kv_map_begin(e, "kernel");
	emit_kv_str(e, "release", h->uts.release);
	emit_kv_str(e, "version", h->uts.version);
	emit_kv_str(e, "machine", h->uts.machine);
	emit_map_end(e);
	emit_key(e, "cpu");
	cpu_emit(e, &h->cpu);
	emit_key(e, "memory");
	mem_emit(e, &h->mem);
	emit_key(e, "kvm");
	kvm_emit(e, &h->kvm);
	emit_key(e, "userfaultfd");
	uffd_emit(e, &h->uffd);
	emit_key(e, "rdma");
	rdma_emit(e, &h->rdma);
	emit_key(e, "nics");
	net_emit(e, &h->net);
	if (h->net.reason[0])
		emit_kv_str(e, "nics_error", h->net.reason);
	emit_map_end(e);
	emit_map_end(e);
	emit_list_end(e);
}

int
main(int argc, char **argv)
{
	struct opt_parser p;
	struct need *needs = NULL;
	size_t nneeds = 0, i;
	int json = 0, require = 0, c, missing = 0;
	struct emit e;
	struct host h;

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
			probe_verbose = 1;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_REQUIRE:
			require = 1;
			parse_needs(optarg, &needs, &nneeds);
			break;
		default:
			log_err("%s", p.error);
			usage_error();
		}
	}
	if (optind != argc) {
		log_err("unexpected argument '%s'", argv[optind]);
		usage_error();
	}

	memset(&h, 0, sizeof(h));
	host_probe(&h);

	if (require) {
		for (i = 0; i < nneeds; i++) {
			if (check_need(&h, &needs[i]) < 0)
				missing++;
		}
		free(needs);
		host_free(&h);
		return missing ? AVM_EX_UNAVAILABLE : AVM_EX_OK;
	}

	emit_init(&e, stdout, json ? EMIT_JSON : EMIT_YAML,
		  json ? EMIT_PRETTY : 0);
	emit_host(&e, &h);
	host_free(&h);
	if (emit_finish(&e) < 0) {
		if (errno == EINVAL || errno == ERANGE)
			log_die(AVM_EX_SOFTWARE, "internal error: output tree "
						 "is malformed");
		log_die(AVM_EX_FAIL, "write output: %s", strerror(errno));
	}
	return AVM_EX_OK;
}
