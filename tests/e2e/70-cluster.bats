#!/usr/bin/env bats
# avm-run --cluster FILE --node I: each node of one VM started on its own
# (host, or here network namespace) from the same cluster file.

load helpers

G="$AVM_TOP/build/guest"

setup() {
	D="$BATS_TEST_TMPDIR"
	head -c 32 /dev/urandom >"$D/secret"
	chmod 600 "$D/secret"
	NS=()
}

teardown() {
	local n
	for n in "${NS[@]}"; do
		ip netns del "$n" 2>/dev/null || true
	done
}

# cluster_nodes KERNEL VCPUS MEMORY NODE...: a VM of one node per NODE,
# each ADDRESS (the placement's equal block) or ADDRESS,VCPUS,MEMORY;
# $CMDLINE, when set, is vm.cmdline and $PORT the fabric port (7710)
cluster_nodes() {
	local kernel=$1 vcpus=$2 mem=$3 n=0 spec a v m
	shift 3
	{
		echo "vm:"
		echo "  name: cl"
		echo "  vcpus: $vcpus"
		echo "  memory: $mem"
		echo "  kernel: $kernel"
		[ -z "${CMDLINE:-}" ] || echo "  cmdline: \"$CMDLINE\""
		echo "nodes:"
		for spec in "$@"; do
			IFS=, read -r a v m <<<"$spec"
			echo "  - host: n$n"
			echo "    address: $a"
			[ -z "$v" ] || echo "    vcpus: $v"
			[ -z "$m" ] || echo "    memory: $m"
			n=$((n + 1))
		done
		echo "fabric:"
		echo "  port: ${PORT:-7710}"
		echo "  secret: $D/secret"
	} >"$D/c.yaml"
}

# cluster_file A0 A1 PROGRAM: a 2-node VM of 4 vCPUs and 512M
cluster_file() {
	cluster_nodes "$G/$3.elf" 4 512M "$1,2,256M" "$2,2,256M"
}

# start_node I [PREFIX...]: node I in the background, output in $D/nI.out
start_node() {
	local i=$1
	shift
	AVM_RUNDIR="$D/r$i" timeout 90 "$@" avm-run --cluster "$D/c.yaml" \
		--node "$i" </dev/null >"$D/n$i.out" 2>&1 &
}

# run_cluster N: nodes N-1 down to 0 from $D/c.yaml, each must exit 0;
# $output is then every node's output, node 0's first
run_cluster() {
	local n=$1 i s p=()
	for ((i = n - 1; i >= 0; i--)); do
		start_node "$i"
		p[$i]=$!
	done
	for ((i = 0; i < n; i++)); do
		s=0
		wait "${p[$i]}" || s=$?
		if [ "$s" != 0 ]; then
			cat "$D"/n*.out >&2
			fail "node $i exited $s"
		fi
	done
	run cat "$D"/n*.out
}

# kit_on_cluster N VCPUS MEMORY NODE...: hello, ipi, timer, atomic and
# memtouch on the cluster, each must pass; hello's SRAT puts vCPU k on
# node k (one vCPU a node)
kit_on_cluster() {
	local n=$1 vcpus=$2 mem=$3 p k
	shift 3
	PORT=7720
	for p in hello ipi timer atomic memtouch; do
		cluster_nodes "$G/$p.elf" "$vcpus" "$mem" "$@"
		run_cluster "$n"
		assert_output --partial "PASS"
		refute_output --partial "FAIL"
		if [ "$p" = hello ]; then
			assert_output --partial "$n numa nodes"
			for ((k = 0; k < n; k++)); do
				assert_output --partial "kit: cpu $k apic $k node $k"
				assert_output --partial "hello from cpu $k"
			done
		fi
		PORT=$((PORT + 10))
	done
}

@test "two nodes from one cluster file on two loopback addresses" {
	requires kvm
	cluster_file 127.0.0.1 127.0.0.2 hello
	start_node 1
	local p1=$!
	start_node 0
	local p0=$! s0=0 s1=0
	wait $p0 || s0=$?
	wait $p1 || s1=$?
	run cat "$D/n0.out"
	assert_equal "$s0" 0
	assert_equal "$s1" 0
	assert_output --partial "kit: cpu 2 apic 2 node 1"
	for k in 0 1 2 3; do
		assert_output --partial "hello from cpu $k"
	done
}

@test "two nodes in two network namespaces over a veth link" {
	requires kvm netns
	local a="avm$$a" b="avm$$b"
	ip netns add "$a" && NS+=("$a")
	ip netns add "$b" && NS+=("$b")
	ip link add "v$$a" netns "$a" type veth peer name "v$$b" netns "$b"
	ip -n "$a" addr add 10.231.0.1/24 dev "v$$a"
	ip -n "$b" addr add 10.231.0.2/24 dev "v$$b"
	ip -n "$a" link set "v$$a" up
	ip -n "$b" link set "v$$b" up
	ip -n "$a" link set lo up
	ip -n "$b" link set lo up
	cluster_file 10.231.0.1 10.231.0.2 atomic
	start_node 1 ip netns exec "$b"
	local p1=$!
	start_node 0 ip netns exec "$a"
	local p0=$! s0=0 s1=0
	wait $p0 || s0=$?
	wait $p1 || s1=$?
	run cat "$D/n0.out" "$D/n1.out"
	assert_equal "$s0" 0
	assert_equal "$s1" 0
	assert_output --regexp "atomic: xadd total ([0-9]+), spinlock total \1, expected \1"
	assert_output --partial "PASS"
}

@test "3 nodes and 1G from a file that leaves vcpus and memory to the placement: the guest kit" {
	requires kvm
	kit_on_cluster 3 3 1G 127.0.0.1 127.0.0.2 127.0.0.3
}

@test "5 nodes and 1G (homes of 52428 and 52429 pages): the guest kit" {
	requires kvm
	kit_on_cluster 5 5 1G 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 \
		127.0.0.5
}

@test "an uneven file (1 vCPU and 256M, 3 vCPUs and 768M): the guest kit, vCPUs 1-3 on node 1 by the SRAT" {
	requires kvm
	local p k
	PORT=7720
	for p in ipi timer atomic; do
		cluster_nodes "$G/$p.elf" 4 1G 127.0.0.1,1,256M \
			127.0.0.2,3,768M
		run_cluster 2
		assert_output --partial "PASS"
		refute_output --partial "FAIL"
		PORT=$((PORT + 10))
	done
	cluster_nodes "$G/hello.elf" 4 1G 127.0.0.1,1,256M 127.0.0.2,3,768M
	run_cluster 2
	assert_output --partial "2 numa nodes"
	assert_output --partial "kit: cpu 0 apic 0 node 0"
	assert_output --partial "kit: cpu 1 apic 1 node 1"
	assert_output --partial "kit: cpu 2 apic 2 node 1"
	assert_output --partial "kit: cpu 3 apic 3 node 1"
	for k in 0 1 2 3; do
		assert_output --partial "hello from cpu $k"
	done
}

@test "an uneven file (1 vCPU and 32M, 3 vCPUs and 224M): memtouch's CPUs write their own node's memory" {
	requires kvm
	# memtouch splits [4M, 256M) in 63M a CPU: CPU 0's chunk starts in
	# node 0's 32M, CPUs 1-3 start in node 1's home (with equal homes of
	# 128M, CPU 1's would be node 0's)
	cluster_nodes "$G/memtouch.elf" 4 256M 127.0.0.1,1,32M \
		127.0.0.2,3,224M
	run_cluster 2
	assert_output --partial "PASS"
	assert_output --partial "memtouch cpu 0: mem node 0,"
	assert_output --partial "memtouch cpu 1: mem node 1,"
	assert_output --partial "memtouch cpu 2: mem node 1,"
	assert_output --partial "memtouch cpu 3: mem node 1,"
}

@test "Linux via PVH on an uneven file: the SRAT has node 0's 1 vCPU and 256M, node 1's 3 vCPUs and 768M" {
	requires kvm
	local L="$AVM_TOP/assets/linux"
	[ -f "$L/vmlinux" ] || skip_or_fail "no Debian kernel: run 'make guest-linux'"
	out="$D/console"
	CMDLINE="earlyprintk=serial,ttyS0 console=ttyS0 noxsave" \
		cluster_nodes "$L/vmlinux" 4 1G 127.0.0.1,1,256M 127.0.0.2,3,768M
	AVM_RUNDIR="$D/r1" timeout 300 avm-run --cluster "$D/c.yaml" --node 1 \
		</dev/null >"$D/n1.out" 2>&1 &
	local p1=$!
	AVM_RUNDIR="$D/r0" timeout 300 avm-run --cluster "$D/c.yaml" --node 0 \
		--console "$out" </dev/null 2>"$D/n0.out" &
	local pid=$! t
	for t in $(seq 480); do
		grep -q "Allowing 4 CPUs" "$out" 2>/dev/null && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.5
	done
	AVM_RUNDIR="$D/r0" avm-run stop --name cl >/dev/null 2>&1 ||
		kill $pid 2>/dev/null
	wait $pid || true
	wait $p1 || true
	run cat "$out"
	assert_output --partial "SRAT: PXM 0 -> APIC 0x00 -> Node 0"
	assert_output --partial "SRAT: PXM 1 -> APIC 0x01 -> Node 1"
	assert_output --partial "SRAT: PXM 1 -> APIC 0x03 -> Node 1"
	assert_output --partial "SRAT: Node 0 PXM 0 [mem 0x00000000-0x0fffffff]"
	assert_output --partial "SRAT: Node 1 PXM 1 [mem 0x10000000-0x3fffffff]"
	assert_output --partial "smpboot: Allowing 4 CPUs, 0 hotplug CPUs"
}

@test "a node whose peer never comes gives up with 69 naming it" {
	requires kvm
	cluster_file 127.0.0.1 127.0.0.2 hello
	start_node 0
	local p0=$! s0=0
	wait $p0 || s0=$?
	run cat "$D/n0.out"
	assert_equal "$s0" 69
	assert_output --partial "node 1"
}

@test "cluster file errors: 66 without the secret, 64 for a node not in the file, 78 for a bad file" {
	cluster_file 127.0.0.1 127.0.0.2 hello
	rm "$D/secret"
	run avm-run --cluster "$D/c.yaml" --node 0
	assert_equal "$status" 66
	assert_output --partial "secret '$D/secret'"
	head -c 32 /dev/urandom >"$D/secret"
	chmod 600 "$D/secret"
	run avm-run --cluster "$D/c.yaml" --node 2
	assert_equal "$status" 64
	assert_output --partial "has nodes 0 to 1"
	sed -i 's/vcpus: 4/vcpus: 5/' "$D/c.yaml"
	run avm-run --cluster "$D/c.yaml"
	assert_equal "$status" 78
	assert_output --partial "c.yaml:"
	run avm-run --cluster "$D/c.yaml" --vcpus 2
	assert_equal "$status" 64
	run avm-run --cluster "$D/nonexistent.yaml"
	assert_equal "$status" 66
}

@test "a secret others may read: 77 at once, in the pager's words" {
	cluster_file 127.0.0.1 127.0.0.2 hello
	chmod 644 "$D/secret"
	# before issue 8 this waited for its links (30 s) and exited 69
	AVM_RUNDIR="$D/r1" run timeout 10 avm-run --cluster "$D/c.yaml" --node 1
	assert_equal "$status" 77
	assert_output "avm-run[node 1]: secret '$D/secret': group or others may read it (chmod 600)"
	local run_words=${output#avm-run\[node 1\]: }
	AVM_RUNDIR="$D/r1" run timeout 10 avm-pager --vm cl --memory 32M \
		--node 1 --nodes 2 --peers 127.0.0.1:1,127.0.0.2:1 \
		--secret "$D/secret"
	assert_equal "$status" 77
	assert_output "avm-pager[node 1]: $run_words"
	# the same through the launcher's options, without a cluster file
	AVM_RUNDIR="$D/r1" run timeout 10 avm-run --kernel "$G/hello.elf" \
		--vcpus 2 --nodes 2 --node 1 --peers 127.0.0.1:1,127.0.0.2:1 \
		--pager-peers 127.0.0.1:2,127.0.0.2:2 --secret "$D/secret"
	assert_equal "$status" 77
	assert_output "avm-run[node 1]: $run_words"
}

# node0_map ROWS NODES: node 0's fabric map of VM cl, distance: ROWS
node0_map() {
	mkdir -p -m 700 "$D/r0/cl"
	printf 'version: 1\nvm: cl\nnodes: %s\ndistance: %s\n' "$2" "$1" \
		>"$D/r0/cl/fabric.map"
	chmod 600 "$D/r0/cl/fabric.map"
}

@test "cluster: node 0 refuses a fabric map of another node count, or malformed, with 65 at once" {
	local f="$D/r0/cl/fabric.map"
	local fix="run 'avm-fabric up' again or remove it"
	cluster_file 127.0.0.1 127.0.0.2 hello
	node0_map "[[10, 20, 20], [20, 10, 20], [20, 20, 10]]" 3
	AVM_RUNDIR="$D/r0" run timeout 10 avm-run --cluster "$D/c.yaml" --node 0
	assert_equal "$status" 65
	assert_output "avm-run[node 0]: fabric map '$f' has 3 nodes, VM 'cl' has 2: $fix"
	node0_map "[[10, 20], [20, 10]" 2
	AVM_RUNDIR="$D/r0" run timeout 10 avm-run --cluster "$D/c.yaml" --node 0
	assert_equal "$status" 65
	assert_output "avm-run[node 0]: $f:5:1: syntax error: did not find expected ',' or ']' (while parsing a flow sequence at 4:11) ($fix)"
	run ls -A "$D/r0/cl"
	assert_output "fabric.map"
}

@test "cluster: the guest's SLIT is node 0's fabric map" {
	requires kvm
	PORT=7790
	cluster_file 127.0.0.1 127.0.0.2 hello
	node0_map "[[10, 25], [26, 10]]" 2
	run_cluster 2
	assert_output --partial "kit: slit node 0: 10 25"
	assert_output --partial "kit: slit node 1: 26 10"
	assert_output --partial "PASS"
}
