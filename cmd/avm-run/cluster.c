/*
 * `avm-run --cluster FILE --node I`: one node of a VM described by a
 * cluster file (avm.yaml(5)), started on its own host (or network
 * namespace) by an operator, a script or avm-fabric.  The file says the
 * VM, every node's address and the fabric port; this turns it into the
 * options a node started by the launcher gets.
 *
 * Ports: node i's run links listen on its address at fabric.port, its
 * pager links at fabric.port + 1.  Placement is the launcher's: vCPUs in
 * equal contiguous blocks, homes in equal ranges, so the file's
 * per-node vcpus and memory must be that split (checked here).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avm/config.h"
#include "avm/log.h"
#include "avm/util.h"

#include "cluster.h"

/* What the options point into; lives until the process ends. */
static struct {
	struct avm_config cfg;
	char kernel[4096], initrd[4096], secret[4096];
	char *peers, *pager_peers;
} C;

static char *
peer_list(const struct avm_config *cfg, unsigned port_add)
{
	size_t len = 1, i;
	char *s, *p;

	for (i = 0; i < cfg->nnodes; i++)
		len += strlen(cfg->nodes[i].address) + 16;
	s = p = calloc(1, len);
	if (!s)
		return NULL;
	for (i = 0; i < cfg->nnodes; i++)
		p += sprintf(p, "%s%s:%u", i ? "," : "", cfg->nodes[i].address,
			     cfg->fabric_port + port_add);
	return s;
}

int
cluster_opts(const char *file, unsigned node, struct vm_opts *o)
{
	struct avm_config *cfg = &C.cfg;
	struct avm_diag d;
	char line[1024], dir[256];
	size_t i;

	if (config_load_file(file, cfg, &d) < 0) {
		avm_diag_format(&d, line, sizeof(line));
		log_err("%s", line);
		return errno == ENOENT || errno == EACCES || errno == EISDIR
			       ? AVM_EX_NOINPUT
			       : AVM_EX_CONFIG;
	}
	if (cfg->nnodes < 2 || cfg->nnodes > 64) {
		log_err("'%s': a cluster of %zu node(s): --cluster needs 2 to "
			"64 "
			"(one node: avm-run without --cluster)",
			file, cfg->nnodes);
		return AVM_EX_CONFIG;
	}
	if (node >= cfg->nnodes) {
		log_err("--node %u: '%s' has nodes 0 to %zu", node, file,
			cfg->nnodes - 1);
		return AVM_EX_USAGE;
	}
	if (cfg->fabric_transport != CONFIG_TRANSPORT_TCP) {
		log_err("'%s': fabric transport %s: this avm-run speaks tcp "
			"only",
			file, config_transport_name(cfg->fabric_transport));
		return AVM_EX_UNAVAILABLE;
	}
	if (cfg->fabric_port >= 65535) {
		log_err("'%s': fabric port %u: the pager links need port + 1",
			file, cfg->fabric_port);
		return AVM_EX_CONFIG;
	}
	for (i = 0; i < cfg->nnodes; i++) {
		if (strchr(cfg->nodes[i].address, ':')) {
			log_err("%s:%d:%d: node '%s': address '%s': the links "
				"take IPv4 addresses or host names",
				file, cfg->nodes[i].line, cfg->nodes[i].col,
				cfg->nodes[i].host, cfg->nodes[i].address);
			return AVM_EX_CONFIG;
		}
	}
	for (i = 0; i < cfg->nnodes; i++) {
		uint64_t v0 = (uint64_t)cfg->vcpus * i / cfg->nnodes;
		uint64_t v1 = (uint64_t)cfg->vcpus * (i + 1) / cfg->nnodes;
		uint64_t m = cfg->memory_bytes / cfg->nnodes / 4096 * 4096;

		if (cfg->nodes[i].vcpus != v1 - v0 ||
		    (i + 1 < cfg->nnodes && cfg->nodes[i].memory_bytes != m)) {
			log_err("%s:%d:%d: node '%s': avm-run places vCPUs and "
				"memory in equal blocks: this node needs vcpus "
				"%" PRIu64 " and memory %" PRIu64 " bytes",
				file, cfg->nodes[i].line, cfg->nodes[i].col,
				cfg->nodes[i].host, v1 - v0, m);
			return AVM_EX_CONFIG;
		}
	}
	if (!cfg->kernel) {
		log_err("'%s': no vm.kernel", file);
		return AVM_EX_CONFIG;
	}
	if (config_path(cfg, cfg->kernel, C.kernel, sizeof(C.kernel)) < 0 ||
	    (cfg->initrd &&
	     config_path(cfg, cfg->initrd, C.initrd, sizeof(C.initrd)) < 0)) {
		log_err("'%s': kernel or initrd path: %s", file,
			strerror(errno));
		return AVM_EX_CONFIG;
	}
	if (cfg->fabric_secret) {
		if (config_path(cfg, cfg->fabric_secret, C.secret,
				sizeof(C.secret)) < 0) {
			log_err("'%s': secret path: %s", file, strerror(errno));
			return AVM_EX_CONFIG;
		}
	} else {
		if (avm_rundir(dir, sizeof(dir)) < 0) {
			log_err("no run directory: set AVM_RUNDIR");
			return AVM_EX_CONFIG;
		}
		snprintf(C.secret, sizeof(C.secret), "%s/%s/secret", dir,
			 cfg->name);
	}
	C.peers = peer_list(cfg, 0);
	C.pager_peers = peer_list(cfg, 1);
	if (!C.peers || !C.pager_peers)
		return AVM_EX_OSERR;
	o->name = cfg->name;
	o->vcpus = cfg->vcpus;
	o->mem_bytes = cfg->memory_bytes;
	o->kernel = C.kernel;
	o->initrd = cfg->initrd ? C.initrd : NULL;
	if (!o->cmdline)
		o->cmdline = cfg->cmdline;
	o->node = node;
	o->nodes = (unsigned)cfg->nnodes;
	o->peers = C.peers;
	o->pager_peers = C.pager_peers;
	o->secret = C.secret;
	return AVM_EX_OK;
}
