/*
 * `avm-run --cluster FILE --node I`: one node of a VM described by a
 * cluster file (avm.yaml(5)), started on its own host (or network
 * namespace) by an operator, a script or avm-fabric.  The file says the
 * VM, every node's address and the fabric port; this turns it into the
 * options a node started by the launcher gets.
 *
 * Ports: node i's run links listen on its address at fabric.port, its
 * pager links at fabric.port + 1.  Placement is the file's: each node's
 * vcpus and memory as the parser filled them in (avm/placement.h: as
 * written, or equal blocks), handed to vm_placement() as they are.
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
#include "dev/tapdev.h"

/* What the options point into; lives until the process ends. */
static struct {
	struct avm_config cfg;
	char kernel[4096], initrd[4096], secret[4096];
	char *peers, *pager_peers;
	uint32_t *node_vcpus;
	uint64_t *node_mem_bytes;
	struct vm_disk disks[VM_DISKS_MAX];
	char disk_path[VM_DISKS_MAX][4096];
	struct vm_net nets[VM_NETS_MAX];
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
	if (cfg->ndisks > VM_DISKS_MAX) {
		log_err("%s:%d:%d: %zu disks: avm-run offers at most %d", file,
			cfg->disks[VM_DISKS_MAX].line,
			cfg->disks[VM_DISKS_MAX].col, cfg->ndisks,
			VM_DISKS_MAX);
		return AVM_EX_CONFIG;
	}
	for (i = 0; i < cfg->ndisks; i++) {
		if (config_path(cfg, cfg->disks[i].path, C.disk_path[i],
				sizeof(C.disk_path[i])) < 0) {
			log_err("%s:%d:%d: disk path: %s", file,
				cfg->disks[i].line, cfg->disks[i].col,
				strerror(errno));
			return AVM_EX_CONFIG;
		}
		C.disks[i].path = C.disk_path[i];
		C.disks[i].readonly = cfg->disks[i].readonly;
	}
	o->disks = C.disks;
	o->ndisks = (unsigned)cfg->ndisks;
	if (cfg->nnets > VM_NETS_MAX) {
		log_err("%s:%d:%d: %zu nets: avm-run offers at most %d", file,
			cfg->nets[VM_NETS_MAX].line, cfg->nets[VM_NETS_MAX].col,
			cfg->nnets, VM_NETS_MAX);
		return AVM_EX_CONFIG;
	}
	for (i = 0; i < cfg->nnets; i++) {
		const struct avm_net *n = &cfg->nets[i];
		char why[200];

		C.nets[i].tap = n->tap;
		if (tapdev_name_ok(n->tap, why, sizeof(why)) < 0) {
			log_err("%s:%d:%d: tap: %s", file, n->line, n->col,
				why);
			return AVM_EX_CONFIG;
		}
		if (n->mac && vm_net_mac_parse(n->mac, C.nets[i].mac) < 0) {
			log_err("%s:%d:%d: bad mac '%s': six hex bytes "
				"XX:XX:XX:XX:XX:XX, unicast, not all zero",
				file, n->line, n->col, n->mac);
			return AVM_EX_CONFIG;
		}
		C.nets[i].has_mac = n->mac != NULL;
	}
	o->nets = C.nets;
	o->nnets = (unsigned)cfg->nnets;
	C.peers = peer_list(cfg, 0);
	C.pager_peers = peer_list(cfg, 1);
	C.node_vcpus = calloc(cfg->nnodes, sizeof(*C.node_vcpus));
	C.node_mem_bytes = calloc(cfg->nnodes, sizeof(*C.node_mem_bytes));
	if (!C.peers || !C.pager_peers || !C.node_vcpus || !C.node_mem_bytes)
		return AVM_EX_OSERR;
	for (i = 0; i < cfg->nnodes; i++) {
		C.node_vcpus[i] = cfg->nodes[i].vcpus;
		C.node_mem_bytes[i] = cfg->nodes[i].memory_bytes;
	}
	if (!o->dead_ms) /* --dead-ms wins over the file */
		o->dead_ms = (int)cfg->fabric_dead_ms;
	o->name = cfg->name;
	o->vcpus = cfg->vcpus;
	o->mem_bytes = cfg->memory_bytes;
	o->kernel = C.kernel;
	o->initrd = cfg->initrd ? C.initrd : NULL;
	if (!o->cmdline)
		o->cmdline = cfg->cmdline;
	o->node = node;
	o->nodes = (unsigned)cfg->nnodes;
	o->node_vcpus = C.node_vcpus;
	o->node_mem_bytes = C.node_mem_bytes;
	o->peers = C.peers;
	o->pager_peers = C.pager_peers;
	o->secret = C.secret;
	return AVM_EX_OK;
}
