#!/usr/bin/env bats
# avm-probe: what it reports is checked against /proc and sysfs of this
# host, not against constants; --require exits as documented; the YAML
# is the JSON, and pastes as a node of a cluster file.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	[ -x "$AVM_TOP/bin/avm-probe" ] || skip_or_fail "bin/avm-probe is not built"
	ONLINE=$(getconf _NPROCESSORS_ONLN)
}

# jq over one fresh --json run.
pj() {
	avm-probe --json | jq -r "$@"
}

@test "avm-probe: the document is one node entry" {
	run -0 avm-probe --json
	jq -e 'type == "array" and length == 1' <<<"$output"
	jq -e '.[0] | (.host | type) == "string" and
	    (.address | type) == "string" and (.vcpus | type) == "number" and
	    (.memory | type) == "string" and (.probe | type) == "object"' \
		<<<"$output"
	assert_equal "$(jq -r '.[0].host' <<<"$output")" "$(uname -n)"
	assert_equal "$(jq -r '.[0].probe.kernel.release' <<<"$output")" \
		"$(uname -r)"
	run -0 avm-probe
	assert_line --index 0 --regexp "^# avm-probe [0-9.]+ on '$(uname -n)'"
	assert_line --index 1 "- host: $(uname -n)"
}

@test "avm-probe: CPU counts match sysconf, nproc and sysfs" {
	local threads
	assert_equal "$(pj '.[0].vcpus')" "$ONLINE"
	assert_equal "$(pj '.[0].probe.cpu.online')" "$ONLINE"
	assert_equal "$(pj '.[0].probe.cpu.usable')" "$(nproc)"
	assert_equal "$(pj '.[0].probe.cpu.online_list')" \
		"$(cat /sys/devices/system/cpu/online)"
	threads=$(pj '.[0].probe.cpu.threads')
	if [ -r /sys/devices/system/cpu/cpu0/topology/core_id ]; then
		assert_equal "$threads" "$ONLINE"
	fi
}

@test "avm-probe: the CPU flags are those of /proc/cpuinfo" {
	local flags f
	flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
	[ -n "$flags" ] || skip_or_fail "no flags line in /proc/cpuinfo"
	run -0 avm-probe --json
	for f in vmx svm hypervisor x2apic constant_tsc cx16; do
		if grep -qw "$f" <<<"$flags"; then
			want=true
		else
			want=false
		fi
		assert_equal "$f=$(jq ".[0].probe.cpu.flags.$f" <<<"$output")" \
			"$f=$want"
	done
}

@test "avm-probe: memory matches /proc/meminfo, node memory in 2 MiB pages" {
	local total mem
	total=$(($(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo) * 1024))
	run -0 avm-probe --json
	assert_equal "$(jq '.[0].probe.memory.total_bytes' <<<"$output")" \
		"$total"
	mem=$(jq -r '.[0].memory' <<<"$output")
	python3 - "$mem" "$total" <<-'EOF'
		import sys
		s, total = sys.argv[1], int(sys.argv[2])
		units = {"K": 10, "M": 20, "G": 30, "T": 40}
		n = int(s[:-1]) << units[s[-1]] if s[-1] in units else int(s)
		assert n % (2 << 20) == 0, f"{s} is not a multiple of 2 MiB"
		assert 0 < n <= total, f"{s} is not within MemTotal {total}"
	EOF
}

@test "avm-probe: one NUMA node entry per /sys/devices/system/node/node*" {
	local want=0 d
	for d in /sys/devices/system/node/node[0-9]*; do
		[ -d "$d" ] && want=$((want + 1))
	done
	run -0 avm-probe --json
	assert_equal "$(jq '.[0].probe.memory.numa_nodes | length' \
		<<<"$output")" "$want"
	[ "$want" -gt 0 ] || return 0
	# Each node's distance row has one entry per node, 10 to itself.
	jq -e --argjson n "$want" '.[0].probe.memory.numa_nodes |
	    all(.[]; (.distance | length) == $n)' <<<"$output"
	assert_equal "$(jq -r '.[0].probe.memory.numa_nodes[0].cpulist' \
		<<<"$output")" "$(cat /sys/devices/system/node/node0/cpulist)"
}

@test "avm-probe: kvm speaks API version 12" {
	requires kvm
	run -0 avm-probe --json
	assert_equal "$(jq '.[0].probe.kvm.present' <<<"$output")" true
	assert_equal "$(jq '.[0].probe.kvm.api_version' <<<"$output")" 12
	jq -e '.[0].probe.kvm.vcpus_max >= .[0].probe.kvm.vcpus_recommended
	    and .[0].probe.kvm.memslots > 0' <<<"$output"
}

@test "avm-probe: userfaultfd registers shared memory in WP mode" {
	requires root
	run -0 avm-probe --json
	assert_equal "$(jq '.[0].probe.userfaultfd.available' <<<"$output")" \
		true
	assert_equal "$(jq '.[0].probe.userfaultfd.wp_shmem_register' \
		<<<"$output")" true
	assert_equal "$(jq '.[0].probe.userfaultfd.wp_shmem_ops' \
		<<<"$output")" true
}

@test "avm-probe: RDMA devices are those of /sys/class/infiniband" {
	local want
	want=$(ls /sys/class/infiniband 2>/dev/null | wc -l)
	run -0 avm-probe --json
	assert_equal "$(jq '.[0].probe.rdma.devices | length' <<<"$output")" \
		"$want"
	if [ "$want" -eq 0 ]; then
		jq -e '.[0].probe.rdma.reason | type == "string" and
		    length > 0' <<<"$output"
	fi
}

@test "avm-probe: every /sys/class/net interface is listed" {
	local nic names
	run -0 avm-probe --json
	names=$(jq -r '.[0].probe.nics[].name' <<<"$output")
	for nic in /sys/class/net/*; do
		nic=$(basename "$nic")
		grep -qxF "$nic" <<<"$names" || fail "'$nic' is not listed"
	done
	assert_equal "$(jq -r '.[0].probe.nics[] | select(.name == "lo") |
	    .mtu' <<<"$output")" "$(cat /sys/class/net/lo/mtu)"
}

@test "avm-probe: the YAML loads to the same tree as the JSON" {
	requires python-yaml
	avm-probe >"$BATS_TEST_TMPDIR/probe.yaml"
	avm-probe --json >"$BATS_TEST_TMPDIR/probe.json"
	# Free memory changes between the two runs; everything else may not.
	run python3 - "$BATS_TEST_TMPDIR/probe.yaml" \
		"$BATS_TEST_TMPDIR/probe.json" <<-'EOF'
		import json, sys, yaml
		y = yaml.safe_load(open(sys.argv[1]))
		j = json.load(open(sys.argv[2]))
		def scrub(doc):
		    assert isinstance(doc, list) and len(doc) == 1, doc
		    node = doc[0]
		    node["memory"] = None
		    m = node["probe"]["memory"]
		    m["free_bytes"] = m["available_bytes"] = None
		    for n in m["numa_nodes"]:
		        n["free_bytes"] = None
		    for h in m["hugepages"]:
		        h["free"] = None
		scrub(y)
		scrub(j)
		def diff(a, b, path=""):
		    if type(a) != type(b):
		        print(f"{path}: {a!r} != {b!r}")
		    elif isinstance(a, dict):
		        for k in sorted(set(a) | set(b), key=str):
		            diff(a.get(k), b.get(k), f"{path}.{k}")
		    elif isinstance(a, list) and len(a) == len(b):
		        for i, (p, q) in enumerate(zip(a, b)):
		            diff(p, q, f"{path}[{i}]")
		    elif a != b:
		        print(f"{path}: {a!r} != {b!r}")
		diff(y, j)
		sys.exit(0 if y == j else 1)
	EOF
	assert_success
	assert_output ""
}

@test "avm-probe: --require kvm,uffd-wp holds here and prints nothing" {
	requires kvm root
	run -0 --separate-stderr avm-probe --require kvm,uffd-wp
	assert_output ""
	[ -z "$stderr" ] || fail "stderr: $stderr"
}

@test "avm-probe: --require rdma without an RDMA device exits 69" {
	[ -z "$(ls /sys/class/infiniband 2>/dev/null)" ] ||
		skip_or_fail "this host has RDMA devices"
	run -69 --separate-stderr avm-probe --require rdma
	assert_output ""
	[[ $stderr == *"avm-probe: missing rdma: "* ]] ||
		fail "stderr does not name rdma: $stderr"
}

@test "avm-probe: --require memory=1P exits 69" {
	run -69 --separate-stderr avm-probe --require memory=1P
	[[ $stderr == *"missing memory=1P"* ]] || fail "stderr: $stderr"
}

@test "avm-probe: --require cpus=N holds for the online CPUs, not one more" {
	run -0 avm-probe --require "cpus=$ONLINE"
	run -69 --separate-stderr avm-probe --require "cpus=$((ONLINE + 1))"
	[[ $stderr == *"missing cpus=$((ONLINE + 1))"* ]] ||
		fail "stderr: $stderr"
	# One line per missing item, all of them.
	run -69 --separate-stderr avm-probe \
		--require "memory=1P,cpus=$((ONLINE + 1))"
	assert_equal "$(grep -c '^avm-probe: missing ' <<<"$stderr")" 2
}

@test "avm-probe: a bad --require item is a usage error" {
	local bad
	for bad in bogus kvm=1 memory memory=lots cpus=0 cpus=x "kvm,," ""; do
		run -64 --separate-stderr avm-probe --require "$bad"
		assert_output ""
		[[ $stderr == *"usage: avm-probe"* ]] ||
			fail "--require '$bad': no usage line: $stderr"
	done
}

@test "avm-probe: the YAML pastes as a node of a cluster file" {
	local dump=$AVM_TOP/build/tests/helpers/avm-cfgdump cfg yaml vcpus mem
	[ -x "$dump" ] ||
		skip_or_fail "build/tests/helpers/avm-cfgdump is not built yet"
	requires python-yaml
	yaml=$(avm-probe)
	read -r vcpus mem < <(python3 -c '
import sys, yaml
n = yaml.safe_load(sys.stdin)[0]
print(n["vcpus"], n["memory"])' <<<"$yaml")
	cfg=$BATS_TEST_TMPDIR/cluster.yaml
	{
		printf 'vm:\n  name: probe-test\n  vcpus: %s\n  memory: %s\n' \
			"$vcpus" "$mem"
		echo 'nodes:'
		printf '%s\n' "$yaml"
	} >"$cfg"
	run -0 "$dump" "$cfg"
	assert_line "nodes.0.host=$(uname -n)"
}
