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

# cluster_file A0 A1 PROGRAM: a 2-node VM of 4 vCPUs and 512M
cluster_file() {
	cat >"$D/c.yaml" <<EOT
vm:
  name: cl
  vcpus: 4
  memory: 512M
  kernel: $G/$3.elf
nodes:
  - host: n0
    address: $1
    vcpus: 2
    memory: 256M
  - host: n1
    address: $2
    vcpus: 2
    memory: 256M
fabric:
  port: 7710
  secret: $D/secret
EOT
}

# start_node I [PREFIX...]: node I in the background, output in $D/nI.out
start_node() {
	local i=$1
	shift
	AVM_RUNDIR="$D/r$i" timeout 90 "$@" avm-run --cluster "$D/c.yaml" \
		--node "$i" </dev/null >"$D/n$i.out" 2>&1 &
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
