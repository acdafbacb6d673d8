/*
 * Unit tests of lib/config.c: good files give the right values, and each
 * class of bad file gives the right line, column and message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avm/config.h"
#include "avm/util.h"
#include "tap.h"

#define HEAD "vm:\n  name: demo\n  vcpus: 4\n  memory: 2G\n"

static const char full[] = "# a cluster of two\n"
			   "vm:\n"
			   "  name: demo-1.x_y\n"
			   "  vcpus: 4\n"
			   "  memory: 2G\n"
			   "  kernel: /boot/bzImage\n"
			   "  initrd: initrd.img\n"
			   "  cmdline: \"console=ttyS0 quiet\"\n"
			   "  disks:\n"
			   "    - path: root.img\n"
			   "      readonly: no\n"
			   "    - { path: /data/b.img, readonly: true }\n"
			   "  nets:\n"
			   "    - tap: avm-tap0\n"
			   "      mac: \"02:41:56:00:00:07\"\n"
			   "    - { tap: tap1 }\n"
			   "nodes:\n"
			   "- host: hostA\n"
			   "  address: 10.0.0.1\n"
			   "  ssh:\n"
			   "    user: root\n"
			   "    port: 2222\n"
			   "    key: ~/.ssh/id_ed25519\n"
			   "  vcpus: 3\n"
			   "  memory: 1536M\n"
			   "  probe:\n"
			   "    cpus: 16\n"
			   "    numa: [ { node: 0, mem: 12G } ]\n"
			   "    kvm: { present: true, caps: [ a, b ] }\n"
			   "- host: hostB\n"
			   "  vcpus: 1\n"
			   "  memory: 512M\n"
			   "fabric:\n"
			   "  transport: rdma\n"
			   "  port: 7401\n"
			   "  listen: 0.0.0.0\n"
			   "  secret: /etc/avm/secret\n"
			   "  known_hosts: keys/known_hosts\n";

static void
test_full(void)
{
	struct avm_config c;
	struct avm_diag d;
	const struct avm_node_cfg *n;

	if (!ok(config_load_string("full", full, strlen(full), &c, &d) == 0,
		"full file parses")) {
		printf("#   %s:%d:%d: %s\n", d.file, d.line, d.col, d.msg);
		return;
	}
	is_str(c.file, "full", "file name kept");
	ok(c.dir == NULL, "no directory for a string");
	is_str(c.name, "demo-1.x_y", "vm.name");
	is_int(c.vcpus, 4, "vm.vcpus");
	is_int(c.memory_bytes, 2ull << 30, "vm.memory");
	is_str(c.kernel, "/boot/bzImage", "vm.kernel");
	is_str(c.initrd, "initrd.img", "vm.initrd");
	is_str(c.cmdline, "console=ttyS0 quiet", "vm.cmdline");
	is_int(c.vm_line, 2, "vm line");
	is_int(c.vm_col, 1, "vm column");
	is_int(c.ndisks, 2, "two disks");
	is_str(c.disks[0].path, "root.img", "disk 0 path");
	ok(!c.disks[0].readonly, "disk 0 read-write");
	is_int(c.disks[0].line, 10, "disk 0 line");
	is_int(c.disks[0].col, 7, "disk 0 column");
	is_str(c.disks[1].path, "/data/b.img", "disk 1 path");
	ok(c.disks[1].readonly, "disk 1 read-only");
	is_int(c.disks[1].line, 12, "disk 1 line");
	is_int(c.nnets, 2, "two nets");
	is_str(c.nets[0].tap, "avm-tap0", "net 0 tap");
	is_str(c.nets[0].mac, "02:41:56:00:00:07", "net 0 mac");
	is_int(c.nets[0].line, 14, "net 0 line");
	ok(c.nets[1].tap && !strcmp(c.nets[1].tap, "tap1") && !c.nets[1].mac,
	   "net 1: a tap, no mac");
	is_int(c.nnodes, 2, "two nodes");
	ok(!c.nodes_default, "nodes given");
	n = &c.nodes[0];
	is_str(n->host, "hostA", "node 0 host");
	is_str(n->address, "10.0.0.1", "node 0 address");
	is_str(n->ssh_user, "root", "node 0 ssh user");
	is_int(n->ssh_port, 2222, "node 0 ssh port");
	is_str(n->ssh_key, "~/.ssh/id_ed25519", "node 0 ssh key");
	is_int(n->vcpus, 3, "node 0 vcpus");
	is_int(n->memory_bytes, 1536ull << 20, "node 0 memory");
	is_int(n->line, 18, "node 0 line");
	is_int(n->col, 3, "node 0 column");
	n = &c.nodes[1];
	is_str(n->host, "hostB", "node 1 host");
	is_str(n->address, "hostB", "node 1 address defaults to host");
	ok(n->ssh_user == NULL && n->ssh_key == NULL, "node 1 no ssh");
	is_int(n->ssh_port, 22, "node 1 ssh port defaults to 22");
	is_int(n->line, 30, "node 1 line");
	is_int(c.fabric_transport, CONFIG_TRANSPORT_RDMA, "fabric transport");
	is_int(c.fabric_port, 7401, "fabric port");
	is_str(c.fabric_listen, "0.0.0.0", "fabric listen");
	is_str(c.fabric_secret, "/etc/avm/secret", "fabric secret");
	is_str(c.fabric_known_hosts, "keys/known_hosts", "fabric known_hosts");
	config_release(&c);
	ok(c.name == NULL && c.nodes == NULL && c.nnodes == 0,
	   "release zeroes the config");
	config_release(&c);
	ok(c.name == NULL && c.nodes == NULL && c.nnodes == 0,
	   "release twice is harmless (valgrind: no double free)");
}

static void
test_defaults(void)
{
	static const char min[] = HEAD;
	struct avm_config c;
	struct avm_diag d;

	if (!ok(config_load_string("min", min, strlen(min), &c, &d) == 0,
		"minimal file parses"))
		return;
	ok(c.kernel == NULL && c.initrd == NULL && c.cmdline == NULL,
	   "optional vm strings are NULL");
	is_int(c.ndisks, 0, "no disks");
	is_int(c.nnets, 0, "no nets");
	is_int(c.nnodes, 1, "one default node");
	ok(c.nodes_default, "nodes_default set");
	is_str(c.nodes[0].host, "localhost", "default node host");
	is_str(c.nodes[0].address, "localhost", "default node address");
	is_int(c.nodes[0].vcpus, 4, "default node has all vcpus");
	is_int(c.nodes[0].memory_bytes, 2ull << 30,
	       "default node has all memory");
	is_int(c.nodes[0].line, 0, "default node has no line");
	is_int(c.fabric_transport, CONFIG_TRANSPORT_TCP, "transport tcp");
	is_int(c.fabric_port, 7400, "fabric port 7400");
	ok(c.fabric_listen == NULL && c.fabric_secret == NULL &&
		   c.fabric_known_hosts == NULL,
	   "fabric listen, secret and known_hosts unset");
	is_str(config_transport_name(c.fabric_transport), "tcp",
	       "transport name");
	config_release(&c);
}

/* Files that must parse, with one value each that shows how. */
static void
test_good_forms(void)
{
	static const struct {
		const char *what, *yaml;
	} good[] = {
		{ "flow style", "{vm: {name: a, vcpus: 1, memory: 16777216}, "
				"fabric: {transport: tcp}}" },
		{ "explicit document markers",
		  "%YAML 1.1\n---\n" HEAD "...\n" },
		{ "quoted keys and values",
		  "\"vm\":\n  'name': 'demo'\n  vcpus: 4\n  memory: \"2G\"\n" },
		{ "sizes with units",
		  "vm:\n  name: a\n  vcpus: 1\n  memory: 2048MiB\n" },
		{ "yes and TRUE",
		  HEAD "  disks:\n  - path: a\n    readonly: TRUE\n"
		       "  - path: b\n    readonly: yes\n" },
		{ "empty disks", HEAD "  disks: []\n" },
		{ "empty probe",
		  HEAD "nodes:\n- host: a\n  vcpus: 4\n  memory: 2G\n"
		       "  probe: {}\n" },
		{ "probe with any keys",
		  HEAD "nodes:\n- host: a\n  vcpus: 4\n  memory: 2G\n"
		       "  probe:\n    anything: [1, {x: y}]\n    vcpus: "
		       "no\n    ? complex\n    : key\n" },
		{ "ipv6 address",
		  HEAD "nodes:\n- host: a\n  address: fe80::1%eth0\n"
		       "  vcpus: 4\n  memory: 2G\n" },
		{ "crlf line ends",
		  "vm:\r\n  name: a\r\n  vcpus: 1\r\n  memory: 16M\r\n" },
		{ "utf-8 in a path", HEAD "  kernel: /boot/k\xc3\xa9rnel\n" },
		{ "comments everywhere",
		  "# c\nvm: # c\n  # c\n  name: a # c\n  vcpus: 1\n"
		  "  memory: 16M\n# end\n" },
	};
	struct avm_config c;
	struct avm_diag d;
	size_t i;

	for (i = 0; i < AVM_ARRAY_SIZE(good); i++) {
		if (!ok(config_load_string("g", good[i].yaml,
					   strlen(good[i].yaml), &c, &d) == 0,
			"good: %s", good[i].what))
			printf("#   %d:%d: %s\n", d.line, d.col, d.msg);
		config_release(&c);
	}
}

/*
 * Where vCPUs and memory go (avm/placement.h): per node as written, or
 * equal blocks of 4 KiB pages where the nodes leave them out.
 */
static void
check_split(const char *what, const char *yaml, size_t n, const unsigned *vcpus,
	    const uint64_t *pages)
{
	struct avm_config c;
	struct avm_diag d;
	int all = 1;
	size_t i;

	if (!ok(config_load_string("p", yaml, strlen(yaml), &c, &d) == 0,
		"%s: accepted", what)) {
		printf("#   %d:%d: %s\n", d.line, d.col, d.msg);
		return;
	}
	is_int(c.nnodes, n, "%s: %zu nodes", what, n);
	for (i = 0; i < n && i < c.nnodes; i++) {
		if (c.nodes[i].vcpus != vcpus[i] ||
		    c.nodes[i].memory_bytes != pages[i] * 4096) {
			printf("#   node %zu: %u vCPUs, %llu bytes; want %u, "
			       "%llu\n",
			       i, c.nodes[i].vcpus,
			       (unsigned long long)c.nodes[i].memory_bytes,
			       vcpus[i], (unsigned long long)pages[i] * 4096);
			all = 0;
		}
	}
	ok(all, "%s: each node's vcpus and memory", what);
	config_release(&c);
}

#define NODE3 "- host: a\n- host: b\n- host: c\n"

static void
test_placement(void)
{
	static const unsigned v111[] = { 1, 1, 1 }, v13[] = { 1, 3 };
	static const unsigned v5[] = { 1, 1, 1, 1, 1 };
	static const uint64_t g3[] = { 87381, 87381, 87382 };
	static const uint64_t g5[] = { 52428, 52429, 52429, 52429, 52429 };
	static const uint64_t u[] = { 65536, 196608 };

	check_split("3 nodes, 1G, equal",
		    "vm:\n  name: a\n  vcpus: 3\n  memory: 1G\nnodes:\n" NODE3,
		    3, v111, g3);
	check_split("3 nodes, 1G, the equal shares written out",
		    "vm:\n  name: a\n  vcpus: 3\n  memory: 1G\nnodes:\n"
		    "- {host: a, vcpus: 1, memory: 357912576}\n"
		    "- {host: b, vcpus: 1, memory: 357912576}\n"
		    "- {host: c, vcpus: 1, memory: 357916672}\n",
		    3, v111, g3);
	check_split("5 nodes, 1G, equal",
		    "vm:\n  name: a\n  vcpus: 5\n  memory: 1G\nnodes:\n" NODE3
		    "- host: d\n- host: e\n",
		    5, v5, g5);
	check_split("uneven: 1 vCPU and 256M, 3 vCPUs and 768M",
		    "vm:\n  name: a\n  vcpus: 4\n  memory: 1G\nnodes:\n"
		    "- {host: a, vcpus: 1, memory: 256M}\n"
		    "- {host: b, vcpus: 3, memory: 768M}\n",
		    2, v13, u);
}

/* Each class of error: the file, and the diagnostic it must give. */
static const struct {
	const char *yaml, *want;
} bad[] = {
	/* syntax, as libyaml reports it */
	{ "vm:\n  name: a\n\tvcpus: 1\n",
	  "3:1: syntax error: found a tab character that violates "
	  "indentation (while scanning a plain scalar at 2:9)" },
	{ "vm:\n  name: \"a\n", "3:1: syntax error: found unexpected end of "
				"stream (while scanning a quoted scalar at "
				"2:9)" },
	{ "vm: [1,\n", "2:1: syntax error: did not find expected node "
		       "content (while parsing a flow node at 2:1)" },
	{ "vm:\n  name: a\n vcpus: 1\n",
	  "3:2: syntax error: did not find expected key (while parsing a "
	  "block mapping at 1:1)" },
	{ "vm:\n  name: \"\xc3\"\n",
	  "2:11: syntax error: invalid trailing UTF-8 octet (#x22)" },
	/* form */
	{ "- vm\n", "1:1: expected a mapping at top level, found a sequence" },
	{ "just a line\n",
	  "1:1: expected a mapping at top level, found a scalar" },
	{ "---\n", "1:1: expected a mapping at top level, found an empty "
		   "value" },
	{ "vm: [1]\n", "1:5: expected a mapping for 'vm', found a sequence" },
	{ "vm:\nnodes: []\n",
	  "1:1: expected a mapping for 'vm', found an empty value" },
	{ HEAD "nodes: {host: a}\n",
	  "5:8: expected a sequence for 'nodes', found a mapping" },
	{ HEAD "nodes:\n- a\n",
	  "6:3: expected a mapping for 'nodes[0]', found a scalar" },
	{ HEAD "nodes: []\n", "5:1: no entries in 'nodes'" },
	{ "vm:\n  name: [a]\n",
	  "2:9: expected a scalar for 'vm.name', found a sequence" },
	{ "vm:\n  name: a\n  vcpus: {n: 4}\n",
	  "3:10: expected a scalar for 'vm.vcpus', found a mapping" },
	{ HEAD "nodes:\n- host: a\n  vcpus: 4\n  memory: 2G\n  probe: x\n",
	  "9:10: expected a mapping for 'nodes[0].probe', found a scalar" },
	{ HEAD "nodes:\n- host: a\n  vcpus: 4\n  memory: 2G\n  probe:\n",
	  "9:3: expected a mapping for 'nodes[0].probe', found an empty "
	  "value" },
	{ "? [a]\n: b\n",
	  "1:3: expected a scalar key at top level, found a sequence" },
	/* keys */
	{ "vm:\n  name: a\n  vcpu: 4\n", "3:3: unknown key 'vcpu' in 'vm'" },
	{ HEAD "vms: 1\n", "5:1: unknown key 'vms' at top level" },
	{ HEAD "nodes:\n- host: a\n  cpus: 4\n",
	  "7:3: unknown key 'cpus' in 'nodes[0]'" },
	{ HEAD "nodes:\n- host: a\n  ssh: {usr: x}\n",
	  "7:9: unknown key 'usr' in 'nodes[0].ssh'" },
	{ HEAD "  disks:\n  - path: a\n    ro: true\n",
	  "7:5: unknown key 'ro' in 'vm.disks[0]'" },
	{ HEAD "  nets:\n  - tap: a\n    bridge: br0\n",
	  "7:5: unknown key 'bridge' in 'vm.nets[0]'" },
	{ HEAD "fabric:\n  mode: tcp\n",
	  "6:3: unknown key 'mode' in 'fabric'" },
	{ "vm:\n  name: a\n  name: b\n",
	  "3:3: duplicate key 'name' in 'vm' (first at 2:3)" },
	{ HEAD "vm: {}\n",
	  "5:1: duplicate key 'vm' at top level (first at 1:1)" },
	/* values */
	{ "vm:\n  name: a\n  vcpus: four\n",
	  "3:10: bad integer 'four' for 'vm.vcpus'" },
	{ "vm:\n  name: a\n  vcpus: -1\n",
	  "3:10: bad integer '-1' for 'vm.vcpus'" },
	{ "vm:\n  name: a\n  vcpus: 04\n",
	  "3:10: bad integer '04' for 'vm.vcpus'" },
	{ "vm:\n  name: a\n  vcpus: \"4\"\n",
	  "3:10: expected an integer for 'vm.vcpus', found a quoted string" },
	{ "vm:\n  name: a\n  vcpus: 0\n",
	  "3:10: 'vm.vcpus' is 0, out of range 1..1024" },
	{ "vm:\n  name: a\n  vcpus: 1025\n",
	  "3:10: 'vm.vcpus' is 1025, out of range 1..1024" },
	{ "vm:\n  name: a\n  vcpus: 99999999999999999999999\n",
	  "3:10: 'vm.vcpus' is 99999999999999999999999, out of range "
	  "1..1024" },
	{ "vm:\n  name: a\n  vcpus: 1\n  memory: 2Q\n",
	  "4:11: bad size '2Q' for 'vm.memory' (digits and a unit K, M, G or "
	  "T)" },
	{ "vm:\n  name: a\n  vcpus: 1\n  memory: 1.5G\n",
	  "4:11: bad size '1.5G' for 'vm.memory' (digits and a unit K, M, G "
	  "or T)" },
	{ "vm:\n  name: a\n  vcpus: 1\n  memory: 17M\n",
	  "4:11: 'vm.memory' is 17M, not a multiple of 2M" },
	{ "vm:\n  name: a\n  vcpus: 1\n  memory: 8M\n",
	  "4:11: 'vm.memory' is 8M, less than 16M" },
	{ "vm:\n  name: a\n  vcpus: 1\n  memory: 128T\n",
	  "4:11: 'vm.memory' is 128T, more than 64T" },
	{ "vm:\n  name: a\n  vcpus: 1\n  memory: 99999999999T\n",
	  "4:11: 'vm.memory' is 99999999999T, more than 64T" },
	{ HEAD "nodes:\n- host: a\n  vcpus: 4\n  memory: 0\n",
	  "8:11: 'nodes[0].memory' is 0, less than 4K" },
	{ HEAD "nodes:\n- host: a\n  vcpus: 4\n  memory: 6K\n",
	  "8:11: 'nodes[0].memory' is 6K, not a multiple of 4K" },
	{ HEAD "  disks:\n  - path: a\n    readonly: maybe\n",
	  "7:15: bad boolean 'maybe' for 'vm.disks[0].readonly' (true, "
	  "false, yes or no)" },
	{ HEAD "fabric:\n  transport: udp\n",
	  "6:14: bad transport 'udp' for 'fabric.transport' (tcp or rdma)" },
	{ HEAD "fabric:\n  port: 65536\n",
	  "6:9: 'fabric.port' is 65536, out of range 1..65535" },
	{ HEAD "nodes:\n- host: a\n  ssh:\n    port: 0\n",
	  "8:11: 'nodes[0].ssh.port' is 0, out of range 1..65535" },
	{ "vm:\n  name: .hidden\n",
	  "2:9: bad name '.hidden' for 'vm.name' (1 to 31 of A-Z a-z 0-9 . "
	  "_ -, not starting with . or -)" },
	{ "vm:\n  name: a/b\n", "2:9: bad name 'a/b' for 'vm.name' (1 to 31 "
				"of A-Z a-z 0-9 . _ -, not starting with . "
				"or -)" },
	{ "vm:\n  name: abcdefghijklmnopqrstuvwxyz0123456\n",
	  "2:9: bad name 'abcdefghijklmnopqrstuvwxyz0123456' for 'vm.name' "
	  "(1 to 31 of A-Z a-z 0-9 . _ -, not starting with . or -)" },
	{ HEAD "nodes:\n- host: -oProxyCommand=x\n",
	  "6:9: bad host '-oProxyCommand=x' for 'nodes[0].host' (a name or "
	  "address, not starting with -)" },
	{ HEAD "nodes:\n- host: a\n  ssh: {user: \"r t\"}\n",
	  "7:15: bad user 'r t' for 'nodes[0].ssh.user' (1 to 32 of A-Z a-z "
	  "0-9 . _ -, not starting with -)" },
	{ HEAD "  cmdline: \"a\\nb\"\n",
	  "5:12: control character in 'vm.cmdline'" },
	{ HEAD "  cmdline: \"a\\0b\"\n", "5:12: NUL character in a string" },
	/* empty and missing */
	{ "vm:\n  name:\n  vcpus: 1\n", "2:3: empty value for 'vm.name'" },
	{ "vm:\n  name: \"\"\n", "2:3: empty value for 'vm.name'" },
	{ "vm:\n  name: ~\n", "2:3: empty value for 'vm.name'" },
	{ HEAD "  kernel: null\n", "5:3: empty value for 'vm.kernel'" },
	{ "vm:\n  name: a\n  vcpus: 1\n", "1:1: missing key 'memory' in 'vm'" },
	{ "fabric: {}\n", "1:1: missing key 'vm' at top level" },
	{ "# hi\n\nfabric: {}\n", "3:1: missing key 'vm' at top level" },
	{ HEAD "nodes:\n- host: a\n  vcpus: 2\n  memory: 1G\n- host: b\n"
	       "  vcpus: 2\n",
	  "9:3: node 'b' has no 'memory': give it on every node or on none" },
	{ HEAD "nodes:\n- host: a\n- host: b\n  vcpus: 4\n",
	  "6:3: node 'a' has no 'vcpus': give it on every node or on none" },
	{ "vm:\n  name: a\n  vcpus: 2\n  memory: 1G\nnodes:\n- host: a\n"
	  "- host: b\n- host: c\n",
	  "5:1: 2 vCPUs for 3 nodes: every node needs a vCPU" },
	{ HEAD "nodes:\n- vcpus: 4\n  memory: 2G\n",
	  "6:3: missing key 'host' in 'nodes[0]'" },
	{ HEAD "  disks:\n  - readonly: true\n",
	  "6:5: missing key 'path' in 'vm.disks[0]'" },
	{ HEAD "  nets:\n  - mac: \"02:00:00:00:00:01\"\n",
	  "6:5: missing key 'tap' in 'vm.nets[0]'" },
	/* across nodes */
	{ HEAD "nodes:\n- host: a\n  vcpus: 2\n  memory: 1G\n"
	       "- host: A\n  vcpus: 2\n  memory: 1G\n",
	  "9:9: duplicate host 'A' in 'nodes[1]' (also 'nodes[0]' at line "
	  "6)" },
	{ HEAD "nodes:\n- host: a\n  address: 10.0.0.1\n  vcpus: 2\n  "
	       "memory: 1G\n"
	       "- host: b\n  address: 10.0.0.1\n  vcpus: 2\n  memory: 1G\n",
	  "11:12: duplicate address '10.0.0.1' in 'nodes[1]' (also "
	  "'nodes[0]' at line 6)" },
	{ HEAD "nodes:\n- host: a\n  address: b\n  vcpus: 2\n  memory: 1G\n"
	       "- host: b\n  vcpus: 2\n  memory: 1G\n",
	  "10:9: duplicate address 'b' in 'nodes[1]' (also 'nodes[0]' at "
	  "line 6)" },
	{ HEAD "nodes:\n- host: a\n  vcpus: 3\n  memory: 2G\n",
	  "5:1: nodes' vcpus sum to 3, 'vm.vcpus' is 4" },
	{ HEAD "nodes:\n- host: a\n  vcpus: 2\n  memory: 1G\n"
	       "- host: b\n  vcpus: 2\n  memory: 512M\n",
	  "5:1: nodes' memory sums to 1536M (1610612736 bytes), 'vm.memory' "
	  "is 2G (2147483648 bytes)" },
	/* refused YAML features */
	{ "vm: &v\n  name: a\n", "1:5: anchors are not allowed ('&v')" },
	{ "vm:\n  name: &n a\n", "2:9: anchors are not allowed ('&n')" },
	{ "x: &a 1\nvm:\n  name: *a\n", "1:4: anchors are not allowed ('&a')" },
	{ "vm:\n  name: *n\n", "2:9: aliases are not allowed ('*n')" },
	{ "vm:\n  name: a\n  vcpus: !!int 4\n",
	  "3:10: tags are not allowed ('tag:yaml.org,2002:int')" },
	{ "vm: !local\n  name: a\n", "1:5: tags are not allowed ('!local')" },
	{ HEAD "---\n" HEAD, "5:1: multiple documents are not allowed" },
	{ HEAD "...\n---\n" HEAD, "6:1: multiple documents are not allowed" },
	{ "", "empty file: no YAML document" },
	{ "# nothing\n\n", "empty file: no YAML document" },
};

static void
test_bad(void)
{
	struct avm_config c;
	struct avm_diag d;
	char got[1024], want[1024];
	size_t i;
	int rc;

	for (i = 0; i < AVM_ARRAY_SIZE(bad); i++) {
		errno = 0;
		rc = config_load_string("t.yaml", bad[i].yaml,
					strlen(bad[i].yaml), &c, &d);
		ok(rc == -1 && errno == EINVAL, "bad %zu refused with EINVAL",
		   i);
		avm_diag_format(&d, got, sizeof(got));
		snprintf(want, sizeof(want), "t.yaml%s%s",
			 bad[i].want[0] >= '0' && bad[i].want[0] <= '9' ? ":"
									: ": ",
			 bad[i].want);
		is_str(got, want, "bad %zu diagnostic", i);
		ok(c.name == NULL && c.nodes == NULL && c.file == NULL,
		   "bad %zu leaves the config empty", i);
	}
}

/* Builds HEAD-less files of n nodes or disks to test the limits. */
static char *
many(const char *head, const char *item, size_t n)
{
	size_t hl = strlen(head), il = strlen(item), i;
	char *s = malloc(hl + il * n + 1);

	if (!s)
		abort();
	memcpy(s, head, hl);
	for (i = 0; i < n; i++)
		memcpy(s + hl + i * il, item, il);
	s[hl + il * n] = '\0';
	return s;
}

static void
expect(const char *what, char *yaml, const char *want)
{
	struct avm_config c;
	struct avm_diag d;
	char got[1024];
	int rc;

	rc = config_load_string("t", yaml, strlen(yaml), &c, &d);
	if (want == NULL) {
		if (!ok(rc == 0, "%s: parses", what))
			printf("#   %d:%d: %s\n", d.line, d.col, d.msg);
	} else {
		ok(rc == -1, "%s: refused", what);
		avm_diag_format(&d, got, sizeof(got));
		is_str(got, want, "%s: diagnostic", what);
	}
	config_release(&c);
	free(yaml);
}

static void
test_limits(void)
{
	char *s, *big;
	size_t i;

	/* 1024 nodes of one vcpu and 2M make the largest VM there is. */
	s = malloc(64 + 1024 * 64);
	if (!s)
		abort();
	strcpy(s, "vm: {name: a, vcpus: 1024, memory: 2G}\nnodes:\n");
	for (i = 0; i < 1024; i++)
		sprintf(s + strlen(s), "- {host: h%zu, vcpus: 1, memory: 2M}\n",
			i);
	expect("1024 nodes", s, NULL);
	s = malloc(64 + 1025 * 64);
	if (!s)
		abort();
	strcpy(s, "vm: {name: a, vcpus: 1024, memory: 2G}\nnodes:\n");
	for (i = 0; i < 1025; i++)
		sprintf(s + strlen(s), "- {host: h%zu, vcpus: 1, memory: 2M}\n",
			i);
	expect("1025 nodes", s,
	       "t:1027:3: too many entries in 'nodes' (at most 1024)");

	s = many(HEAD "  disks:\n", "  - path: d\n", 64);
	expect("64 disks", s, NULL);
	s = many(HEAD "  nets:\n", "  - tap: t\n", 65);
	expect("65 nets", s,
	       "t:70:5: too many entries in 'vm.nets' (at most 64)");
	s = many(HEAD "  disks:\n", "  - path: d\n", 65);
	expect("65 disks", s,
	       "t:70:5: too many entries in 'vm.disks' (at most 64)");

	big = malloc(8192);
	if (!big)
		abort();
	memset(big, 'x', 4095);
	big[4095] = '\0';
	s = malloc(8300);
	snprintf(s, 8300, HEAD "  cmdline: %s\n", big);
	expect("4095-byte string", s, NULL);
	memset(big, 'x', 4096);
	big[4096] = '\0';
	s = malloc(8300);
	snprintf(s, 8300, HEAD "  cmdline: %s\n", big);
	expect("4096-byte string", s,
	       "t:5:12: string too long (4096 bytes, at most 4095)");
	s = malloc(8300);
	snprintf(s, 8300, HEAD "  ? %s\n  : 1\n", big);
	expect("4096-byte key", s,
	       "t:5:5: string too long (4096 bytes, at most 4095)");
	free(big);

	/*
	 * The probe is the only place that nests deep: the file's mapping,
	 * nodes, the node and the probe are 4 levels, and 32 is the limit.
	 */
	s = many(HEAD "nodes:\n- host: a\n  vcpus: 4\n  memory: 2G\n"
		      "  probe: {a: ",
		 "[", 27);
	s = realloc(s, strlen(s) + 64);
	strcat(s, "{}]]]]]]]]]]]]]]]]]]]]]]]]]]]}\n");
	expect("32 levels", s, NULL);
	s = many(HEAD "nodes:\n- host: a\n  vcpus: 4\n  memory: 2G\n"
		      "  probe: {a: ",
		 "[", 28);
	s = realloc(s, strlen(s) + 64);
	strcat(s, "{}]]]]]]]]]]]]]]]]]]]]]]]]]]]]}\n");
	expect("33 levels", s, "t:9:42: nesting deeper than 32 levels");
	s = many(HEAD "nodes:\n- host: a\n  vcpus: 4\n  memory: 2G\n  probe:\n",
		 "", 0);
	s = realloc(s, strlen(s) + 4096);
	for (i = 0; i < 40; i++)
		sprintf(s + strlen(s), "%*sk%zu:\n", (int)(4 + 2 * i), "", i);
	strcat(s, "    x: 1\n");
	expect("40 levels", s, "t:39:63: nesting deeper than 32 levels");
}

static void
test_string_not_terminated(void)
{
	static const char two[] = HEAD "vms: 1\n";
	struct avm_config c;
	struct avm_diag d;

	/* Only len bytes count: the unknown key past them is not read. */
	ok(config_load_string("t", two, strlen(HEAD), &c, &d) == 0,
	   "only len bytes are parsed");
	config_release(&c);
	ok(config_load_string(NULL, "", 0, &c, NULL) == -1 && errno == EINVAL,
	   "no name and no diagnostic are allowed");
}

static void
test_files(void)
{
	char dir[] = "/tmp/t-config.XXXXXX", path[256], buf[512];
	struct avm_config c;
	struct avm_diag d;
	FILE *f;
	int rc;

	if (!ok(mkdtemp(dir) != NULL, "temporary directory"))
		return;
	snprintf(path, sizeof(path), "%s/nope.yaml", dir);
	errno = 0;
	rc = config_load_file(path, &c, &d);
	ok(rc == -1 && errno == ENOENT, "missing file: ENOENT");
	avm_diag_format(&d, buf, sizeof(buf));
	is_str(buf + strlen(dir), "/nope.yaml: No such file or directory",
	       "missing file: diagnostic");
	is_int(d.line, 0, "missing file: no line");

	errno = 0;
	ok(config_load_file(dir, &c, &d) == -1 && errno == EISDIR,
	   "directory: EISDIR");

	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(HEAD "  kernel: k/bzImage\n  initrd: ~/i.img\n"
		   "  disks: [ { path: /abs.img } ]\n",
	      f);
	fclose(f);
	if (ok(config_load_file(path, &c, &d) == 0, "file parses")) {
		is_str(c.file, path, "file name kept");
		is_str(c.dir, dir, "directory of the file");
		config_path(&c, c.kernel, buf, sizeof(buf));
		ok(strncmp(buf, dir, strlen(dir)) == 0 &&
			   strcmp(buf + strlen(dir), "/k/bzImage") == 0,
		   "relative path starts at the file's directory");
		setenv("HOME", "/home/u", 1);
		config_path(&c, c.initrd, buf, sizeof(buf));
		is_str(buf, "/home/u/i.img", "~/ is $HOME");
		config_path(&c, c.disks[0].path, buf, sizeof(buf));
		is_str(buf, "/abs.img", "absolute path kept");
		errno = 0;
		ok(config_path(&c, c.kernel, buf, 8) == -1 &&
			   errno == ENAMETOOLONG,
		   "config_path: ENAMETOOLONG");
		unsetenv("HOME");
		errno = 0;
		ok(config_path(&c, c.initrd, buf, sizeof(buf)) == -1 &&
			   errno == ENOENT,
		   "config_path: ~/ without HOME is ENOENT");
	}
	config_release(&c);

	if (geteuid() != 0) {
		chmod(path, 0);
		errno = 0;
		ok(config_load_file(path, &c, &d) == -1 && errno == EACCES,
		   "unreadable file: EACCES");
		is_str(d.msg, "Permission denied", "unreadable: diagnostic");
	}
	unlink(path);

	snprintf(path, sizeof(path), "%s/b.yaml", dir);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs("vm:\n  name: a\n  vcpu: 4\n", f);
	fclose(f);
	errno = 0;
	ok(config_load_file(path, &c, &d) == -1 && errno == EINVAL,
	   "bad file: EINVAL");
	is_str(d.file, path, "bad file: diagnostic names the file");
	ok(d.line == 3 && d.col == 3, "bad file: line and column");
	unlink(path);
	rmdir(dir);
}

static void
test_diag_format(void)
{
	struct avm_diag d = { "f.yaml", 3, 7, "boom" };
	char buf[64];

	is_int(avm_diag_format(&d, buf, sizeof(buf)), 16, "format length");
	is_str(buf, "f.yaml:3:7: boom", "format with a place");
	d.line = d.col = 0;
	avm_diag_format(&d, buf, sizeof(buf));
	is_str(buf, "f.yaml: boom", "format without a place");
	is_int(avm_diag_format(&d, buf, 5), 12, "format cut short: length");
	is_str(buf, "f.ya", "format cut short: NUL-terminated");
	is_str(config_transport_name(CONFIG_TRANSPORT_RDMA), "rdma",
	       "transport name rdma");
	is_str(config_transport_name((enum config_transport)9), "unknown",
	       "transport name unknown");
}

int
main(void)
{
	test_full();
	test_defaults();
	test_placement();
	test_good_forms();
	test_bad();
	test_limits();
	test_string_not_terminated();
	test_files();
	test_diag_format();
	return done_testing();
}
