/*
 * The cluster file, avm.yaml(5): one VM, the nodes that make it, the
 * fabric between them.
 *
 * The parser is strict.  Unknown keys, duplicate keys, wrong types, values
 * out of range, anchors, aliases, tags and extra documents are errors, and
 * every error names the file, line and column it is about, so a tool can
 * print one line the user's editor can jump to.
 */
#ifndef AVM_CONFIG_H
#define AVM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits that keep hostile input small; avm.yaml(5) lists them too. */
#define AVM_VM_NAME_MAX 31	  /* bytes in vm.name: what the wire carries */
#define AVM_CONFIG_VCPUS_MAX 1024 /* vm.vcpus */
#define AVM_CONFIG_NODES_MAX 1024 /* entries in nodes */
#define AVM_CONFIG_DISKS_MAX 64	  /* entries in vm.disks */
#define AVM_CONFIG_NETS_MAX 64	  /* entries in vm.nets */
#define AVM_CONFIG_STR_MAX 4095	  /* bytes in any key or value */
#define AVM_CONFIG_DEPTH_MAX 32	  /* nested mappings and sequences */
#define AVM_CONFIG_FILE_MAX (16u << 20) /* bytes in a cluster file */

#define AVM_FABRIC_PORT_DEFAULT 7400
#define AVM_SSH_PORT_DEFAULT 22

/*
 * One diagnostic: what went wrong and where.  line and col are 1-based
 * (col counts characters, a tab is one); both are 0 when the problem has
 * no place in the file (it cannot be read, it is empty).
 */
struct avm_diag {
	char file[256];
	int line, col;
	char msg[512];
};

/*
 * Writes "file:line:col: msg", or "file: msg" when line is 0, into buf
 * (always NUL-terminated when len > 0).  Returns what snprintf(3) returns:
 * the length of the whole line, which is >= len when it was cut short.
 */
int avm_diag_format(const struct avm_diag *d, char *buf, size_t len);

enum config_transport {
	CONFIG_TRANSPORT_TCP,
	CONFIG_TRANSPORT_RDMA,
};

/* "tcp", "rdma"; "unknown" for anything else. */
const char *config_transport_name(enum config_transport t);

/*
 * 1 when name is a VM name, the one rule of every tool: 1 to
 * AVM_VM_NAME_MAX of A-Z a-z 0-9 . _ -, not starting with '.' or '-'
 * (it names a folder of the run directory and travels in HELLO).
 */
int config_vm_name_ok(const char *name);

/* One entry of vm.disks. */
struct avm_disk {
	char *path;
	bool readonly;
	int line, col; /* where the entry starts */
};

/* One entry of vm.nets: a virtio-net card on a tap of node 0's host. */
struct avm_net {
	char *tap;
	char *mac; /* NULL: avm-run picks one from the VM's name */
	int line, col;
};

/* One entry of nodes: a host and what it contributes to the VM. */
struct avm_node_cfg {
	char *host;
	char *address;	   /* never NULL: the host when not given */
	char *ssh_user;	   /* NULL: the user running the tool */
	char *ssh_key;	   /* NULL: the ssh agent and default keys */
	unsigned ssh_port; /* AVM_SSH_PORT_DEFAULT when not given */
	unsigned vcpus;
	uint64_t memory_bytes;
	int line, col; /* where the entry starts; 0 for the default node */
};

/*
 * A parsed cluster file.  Optional strings are NULL when not given.
 * Paths are kept as written; config_path() resolves them.
 */
struct avm_config {
	char *file; /* the name diagnostics use */
	char *dir;  /* where relative paths start; NULL: the working dir */

	/* vm */
	char *name;
	unsigned vcpus;
	uint64_t memory_bytes;
	char *kernel;
	char *initrd;
	char *cmdline;
	struct avm_disk *disks;
	size_t ndisks;
	struct avm_net *nets;
	size_t nnets;
	int vm_line, vm_col; /* of the 'vm' key */

	/*
	 * nodes: with no 'nodes' in the file, one node "localhost" that
	 * contributes all vcpus and memory, and nodes_default is set.
	 */
	struct avm_node_cfg *nodes;
	size_t nnodes;
	bool nodes_default;

	/* fabric */
	enum config_transport fabric_transport; /* default tcp */
	unsigned fabric_port;			/* default 7400 */
	char *fabric_listen;			/* NULL: each node's address */
	char *fabric_secret;			/* NULL: <rundir>/<vm>/secret */
	char *fabric_known_hosts; /* avm-fabric's ssh host keys; NULL:
				   * ~/.ssh/known_hosts */
	unsigned fabric_dead_ms;  /* a silent node is dead; 0: the default */
};

/*
 * Reads and parses the cluster file at path into *cfg.  Returns 0, or -1
 * with errno and *d filled (d may be NULL): ENOENT, EACCES, EISDIR or
 * another read error when the file cannot be read (d->msg says which,
 * line 0), EINVAL for bad content, ENOMEM.  On failure *cfg is left empty
 * and config_release() on it is harmless.
 */
int config_load_file(const char *path, struct avm_config *cfg,
		     struct avm_diag *d);

/*
 * Parses len bytes at buf (no NUL needed); name stands for the file in
 * diagnostics, relative paths start in the working directory.  Returns 0,
 * or -1 with errno EINVAL (bad content) or ENOMEM and *d filled.
 */
int config_load_string(const char *name, const char *buf, size_t len,
		       struct avm_config *cfg, struct avm_diag *d);

/* Frees what a load allocated and zeroes *cfg.  Safe to call twice. */
void config_release(struct avm_config *cfg);

/*
 * Resolves a path from the file (kernel, initrd, disk, key, secret): a
 * leading "~/" is $HOME, a relative path starts in the directory of the
 * cluster file.  Returns 0, or -1 with errno EINVAL (empty path), ENOENT
 * ("~/" with no $HOME) or ENAMETOOLONG (does not fit in len).
 */
int config_path(const struct avm_config *cfg, const char *path, char *buf,
		size_t len);

#endif
