/*
 * avm-cfgdump FILE: loads a cluster file and prints what the parser made
 * of it as flat key=value lines, so tests can grep one value.  Optional
 * strings that were not given print as empty values.
 *
 * Exit: 0 parsed, 64 usage, 66 cannot read FILE, 70 out of memory,
 * 78 bad content (the diagnostic on stderr).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "avm/config.h"
#include "avm/log.h"

static const char *
opt(const char *s)
{
	return s ? s : "";
}

static void
dump(const struct avm_config *c)
{
	size_t i;

	printf("vm.name=%s\n", c->name);
	printf("vm.vcpus=%u\n", c->vcpus);
	printf("vm.memory_bytes=%" PRIu64 "\n", c->memory_bytes);
	printf("vm.kernel=%s\n", opt(c->kernel));
	printf("vm.initrd=%s\n", opt(c->initrd));
	printf("vm.cmdline=%s\n", opt(c->cmdline));
	printf("vm.line=%d\n", c->vm_line);
	printf("vm.disks.count=%zu\n", c->ndisks);
	for (i = 0; i < c->ndisks; i++) {
		printf("vm.disks.%zu.path=%s\n", i, c->disks[i].path);
		printf("vm.disks.%zu.readonly=%s\n", i,
		       c->disks[i].readonly ? "true" : "false");
		printf("vm.disks.%zu.line=%d\n", i, c->disks[i].line);
	}
	printf("nodes.count=%zu\n", c->nnodes);
	printf("nodes.default=%s\n", c->nodes_default ? "true" : "false");
	for (i = 0; i < c->nnodes; i++) {
		const struct avm_node_cfg *n = &c->nodes[i];

		printf("nodes.%zu.host=%s\n", i, n->host);
		printf("nodes.%zu.address=%s\n", i, n->address);
		printf("nodes.%zu.ssh.user=%s\n", i, opt(n->ssh_user));
		printf("nodes.%zu.ssh.port=%u\n", i, n->ssh_port);
		printf("nodes.%zu.ssh.key=%s\n", i, opt(n->ssh_key));
		printf("nodes.%zu.vcpus=%u\n", i, n->vcpus);
		printf("nodes.%zu.memory_bytes=%" PRIu64 "\n", i,
		       n->memory_bytes);
		printf("nodes.%zu.line=%d\n", i, n->line);
	}
	printf("fabric.transport=%s\n",
	       config_transport_name(c->fabric_transport));
	printf("fabric.port=%u\n", c->fabric_port);
	printf("fabric.listen=%s\n", opt(c->fabric_listen));
	printf("fabric.secret=%s\n", opt(c->fabric_secret));
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: avm-cfgdump FILE\n");
}

int
main(int argc, char **argv)
{
	struct avm_config cfg;
	struct avm_diag d;
	char line[1024];

	if (argc == 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return AVM_EX_OK;
	}
	if (argc != 2 || (argv[1][0] == '-' && argv[1][1] != '\0') ||
	    argv[1][0] == '\0') {
		usage(stderr);
		return AVM_EX_USAGE;
	}
	if (config_load_file(argv[1], &cfg, &d) < 0) {
		int e = errno;

		avm_diag_format(&d, line, sizeof(line));
		fprintf(stderr, "avm-cfgdump: %s\n", line);
		if (e == EINVAL)
			return AVM_EX_CONFIG;
		if (e == ENOMEM)
			return AVM_EX_SOFTWARE;
		return AVM_EX_NOINPUT;
	}
	dump(&cfg);
	config_release(&cfg);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("avm-cfgdump: stdout");
		return AVM_EX_FAIL;
	}
	return AVM_EX_OK;
}
