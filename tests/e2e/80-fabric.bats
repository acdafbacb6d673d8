#!/usr/bin/env bats
# avm-fabric: three "hosts", network namespaces on one bridge, each with
# a real OpenSSH sshd on its own address (10.89.<i>.2), a host key and a
# user key made for the test (fabric-hosts.bash).  avm-fabric runs in the
# root namespace and reaches them over ssh; the remote avm-probe, avm-run
# and avm-fabric are this tree's (namespaces share the files).

load helpers
load fabric-hosts

setup() {
	requires root netns /usr/sbin/sshd ssh-keygen jq
	D="$BATS_TEST_TMPDIR"
	NS=()
	SSHD=()
	PORT=()
	TAG="f$$"
	hosts_keys
}

teardown() {
	hosts_teardown
}

# fabric ARGS...: avm-fabric check with the test's known_hosts and tools,
# no agent and no home keys of whoever runs the tests.
fabric() {
	run env -u SSH_AUTH_SOCK HOME="$D" timeout 60 avm-fabric check \
		--known-hosts "$D/known_hosts" --remote-bin "$AVM_TOP/bin" \
		--timeout 20 "$@"
}

# fab VERB ARGS...: avm-fabric VERB like fabric, the local run directory
# $D/local.
fab() {
	local verb=$1
	shift
	run env -u SSH_AUTH_SOCK HOME="$D" AVM_RUNDIR="$D/local" timeout 60 \
		avm-fabric "$verb" --known-hosts "$D/known_hosts" --timeout 20 \
		--remote-bin "$AVM_TOP/bin" "$@"
}

# What this machine's avm-probe says of every host (they are all it):
# without /dev/kvm each misses kvm, with it each holds.
assert_all_hosts() {
	local i
	if [ -e /dev/kvm ]; then
		assert_equal "$status" 0
		for i in "$@"; do
			assert_line "h$i: ok"
		done
	else
		assert_equal "$status" 69
		for i in "$@"; do
			assert_line --regexp "^h$i: missing kvm: "
		done
	fi
}

@test "check: three hosts over ssh, one line each in node order" {
	hosts 3
	cluster 3
	fabric "$D/c.yaml"
	echo "$output"
	assert_all_hosts 1 2 3
	[ "$(grep -c '^h[123]: ' <<<"$output")" -ge 3 ]
	# node order: h1's lines come before h2's, h2's before h3's
	run sh -c "grep -o '^h[123]' <<'EOF' | uniq | tr -d '\n'
$output
EOF"
	assert_output h1h2h3
}

@test "check --json: one document, one entry per host" {
	hosts 3
	cluster 3
	fabric --json "$D/c.yaml"
	echo "$output"
	jq -e '.hosts | length == 3' <<<"$output"
	jq -e '[.hosts[].host] == ["h1", "h2", "h3"]' <<<"$output"
	jq -e '[.hosts[].address] == ["10.89.1.2", "10.89.2.2", "10.89.3.2"]' \
		<<<"$output"
	jq -e '.hosts | all(.avm_run_version == "avm-run '"$(avm-run --version | cut -d' ' -f2)"'")' \
		<<<"$output"
	jq -e '.hosts | all(.mem_bytes == 268435456 and .vcpus == 1)' \
		<<<"$output"
	jq -e ".exit_status == $status" <<<"$output"
	if [ -e /dev/kvm ]; then
		assert_equal "$status" 0
		jq -e '.ok and (.hosts | all(.status == "ok"))' <<<"$output"
	else
		assert_equal "$status" 69
		jq -e '(.ok | not) and (.hosts | all(.status == "missing" and
			any(.missing[]; .item == "kvm")))' <<<"$output"
	fi
}

@test "check: a host whose sshd is not running is unreachable (69), the others are reported" {
	hosts 3
	cluster 3
	kill "${SSHD[2]}"
	wait "${SSHD[2]}" || true
	fabric "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 69
	assert_line "h2: ssh: connect '10.89.2.2' port 22: Connection refused"
	if [ -e /dev/kvm ]; then
		assert_line "h1: ok"
		assert_line "h3: ok"
	else
		assert_line --regexp "^h1: missing kvm: "
		assert_line --regexp "^h3: missing kvm: "
	fi
}

@test "check: a host that takes the connection but never speaks ssh is unreachable once --timeout passes (69)" {
	requires python3
	hosts 3
	cluster 3
	kill "${SSHD[2]}"
	wait "${SSHD[2]}" || true
	# a listener on h2's ssh port that accepts and stays silent
	ip netns exec "${TAG}h2" python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.89.2.2", 22))
s.listen(8)
print("listening", flush=True)
held = []
while True:
    held.append(s.accept()[0])
' >"$D/silent.log" 2>&1 3>&- &
	SSHD[2]=$!
	wait_for_line "$D/silent.log" listening
	SECONDS=0
	fabric --timeout 2 "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 69
	assert_line "h2: ssh: timed out during handshake"
	[ "$SECONDS" -lt 15 ]
}

@test "check: a host name the resolver never answers is unreachable (69) once --timeout passes" {
	requires root unshare
	# a name server on a loopback address that reads and never answers,
	# made the resolver's in a mount namespace of avm-fabric's own
	python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.2", 53))
print("ready", flush=True)
while True: s.recvfrom(512)' >"$D/dns.out" &
	local dns=$! t st=0
	for t in $(seq 50); do grep -q ready "$D/dns.out" && break; sleep 0.1; done
	printf 'nameserver 127.0.0.2\noptions timeout:5 attempts:3\n' >"$D/resolv.conf"
	printf 'vm: {name: fab, vcpus: 1, memory: 256M, kernel: %s}\nnodes:\n  - {host: h1, address: silent-host.example, vcpus: 1, memory: 256M}\n' \
		"$D/none" >"$D/c.yaml"
	t=$(date +%s%N)
	run env -u SSH_AUTH_SOCK HOME="$D" timeout 60 unshare -m sh -c \
		'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$D/resolv.conf" \
		avm-fabric check --known-hosts "$D/known_hosts" --timeout 2 "$D/c.yaml"
	t=$((($(date +%s%N) - t) / 1000000))
	kill "$dns"
	wait "$dns" || true
	echo "$output ($t ms)"
	assert_equal "$status" 69
	assert_output "h1: ssh: resolve 'silent-host.example': no answer in time"
	# the deadline, not the resolver's 15 s
	[ "$t" -lt 6000 ]
}

@test "check: a node on another ssh port, its key known as [address]:port" {
	PORT[2]=2222
	hosts 3
	cluster 3
	grep -q '^\[10.89.2.2\]:2222 ssh-ed25519 ' "$D/known_hosts"
	fabric "$D/c.yaml"
	echo "$output"
	assert_all_hosts 1 2 3
	# the same key under the bare address is not the one for port 2222
	sed -i 's/^\[10.89.2.2\]:2222 /10.89.2.2 /' "$D/known_hosts"
	fabric "$D/c.yaml"
	assert_equal "$status" 77
	assert_line --regexp "^h2: ssh: host key not in known_hosts: no ssh-ed25519 key for '\\[10.89.2.2\\]:2222' in "
}

@test "check: a host key that differs from known_hosts refuses the host (77)" {
	hosts 3
	cluster 3
	ssh-keygen -q -t ed25519 -N '' -f "$D/otherhost"
	sed -i "s|^10.89.2.2 .*|10.89.2.2 $(cut -d' ' -f1,2 "$D/otherhost.pub")|" \
		"$D/known_hosts"
	fabric "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 77
	assert_line --regexp "^h2: ssh: host key changed: the ssh-ed25519 key SHA256:[^ ]+ of '10.89.2.2' is not the one in '$D/known_hosts'$"
	refute_line --regexp '^h[13]: ssh:'
	# --insecure-accept-new-host-keys takes new keys, never changed ones
	fabric --insecure-accept-new-host-keys "$D/c.yaml"
	assert_equal "$status" 77
	assert_line --regexp "^h2: ssh: host key changed: "
}

@test "check: host keys from the cluster file's fabric.known_hosts (relative to it), else ~/.ssh/known_hosts; --known-hosts wins" {
	hosts 2
	cluster 2
	mkdir "$D/keys" "$D/.ssh"
	mv "$D/known_hosts" "$D/keys/kh"
	printf 'fabric:\n  known_hosts: keys/kh\n' >>"$D/c.yaml"
	# no ~/.ssh/known_hosts at all: the file's own list is what counts
	run env -u SSH_AUTH_SOCK HOME="$D" timeout 60 avm-fabric check \
		--remote-bin "$AVM_TOP/bin" --timeout 20 "$D/c.yaml"
	echo "$output"
	refute_line --partial "host key"
	assert_line --regexp '^h1: (ok|missing kvm)'
	assert_line --regexp '^h2: (ok|missing kvm)'
	# a changed key in that list refuses the host
	ssh-keygen -q -t ed25519 -N '' -f "$D/otherhost"
	sed "s|^10.89.2.2 .*|10.89.2.2 $(cut -d' ' -f1,2 "$D/otherhost.pub")|" \
		"$D/keys/kh" >"$D/keys/kh2"
	sed -i 's|known_hosts: keys/kh$|known_hosts: keys/kh2|' "$D/c.yaml"
	run env -u SSH_AUTH_SOCK HOME="$D" timeout 60 avm-fabric check \
		--remote-bin "$AVM_TOP/bin" --timeout 20 "$D/c.yaml"
	assert_equal "$status" 77
	assert_line --regexp "^h2: ssh: host key changed: .* is not the one in '$D/keys/kh2'$"
	# --known-hosts wins over the file
	fabric --known-hosts "$D/keys/kh" "$D/c.yaml"
	refute_line --partial "host key"
	# without the key, ~/.ssh/known_hosts is used: empty, so unknown
	sed -i 's|  known_hosts: keys/kh2|  dead_ms: 3000|' "$D/c.yaml"
	: >"$D/.ssh/known_hosts"
	run env -u SSH_AUTH_SOCK HOME="$D" timeout 60 avm-fabric check \
		--remote-bin "$AVM_TOP/bin" --timeout 20 "$D/c.yaml"
	assert_equal "$status" 77
	assert_line --regexp "^h1: ssh: host key not in known_hosts: .* in '$D/.ssh/known_hosts' "
}

@test "check: a host key not in known_hosts refuses the host (77), unless accepted with a warning" {
	hosts 3
	cluster 3
	sed -i '/^10.89.3.2 /d' "$D/known_hosts"
	fabric "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 77
	assert_line --regexp "^h3: ssh: host key not in known_hosts: no ssh-ed25519 key for '10.89.3.2' in '$D/known_hosts'"
	fabric --insecure-accept-new-host-keys "$D/c.yaml"
	echo "$output"
	assert_line --regexp "^avm-fabric: warning: h3: accepting the unknown ssh-ed25519 host key SHA256:[^ ]+ of '10.89.3.2'"
	refute_line --regexp '^h3: ssh:'
	assert_all_hosts 1 2 3
}

@test "check: a user key the host refuses (77)" {
	hosts 3
	cluster 3
	ssh-keygen -q -t ed25519 -N '' -f "$D/otheruser"
	# only h3 gets the other key
	awk -v k="$D/otheruser" '/host: h3/ { h3 = 1 }
		h3 && /key:/ { sub(/key: .*/, "key: " k) } { print }' \
		"$D/c.yaml" >"$D/c2.yaml"
	fabric "$D/c2.yaml"
	echo "$output"
	assert_equal "$status" 77
	assert_line --regexp "^h3: ssh: key '$D/otheruser' refused for user 'root'"
	refute_line --regexp '^h[12]: ssh:'
}

@test "check: more memory than any host has is missing everywhere (69)" {
	hosts 3
	cluster 3 16T
	fabric "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 69
	assert_line --regexp "^h1: missing memory=16T: .* available, 16T asked"
	assert_line --regexp "^h2: missing memory=16T: "
	assert_line --regexp "^h3: missing memory=16T: "
}

@test "check: one host with another avm-run version is named (65 when all else holds)" {
	hosts 3
	cluster 3
	local v
	v=$(avm-run --version | cut -d' ' -f2)
	for i in 1 2 3; do
		cp "$AVM_TOP/bin/avm-probe" "$AVM_TOP/bin/avm-run" "$D/h$i/bin/"
	done
	# the same avm-run but for the version it says: another build's
	perl -pi -e 's/\x00\Q'"$v"'\E\x00/\x00'"${v%.*}.9"'\x00/g' "$D/h2/bin/avm-run"
	[ "$("$D/h2/bin/avm-run" --version)" = "avm-run ${v%.*}.9" ]
	fabric --remote-bin /run/avm-bin "$D/c.yaml"
	echo "$output"
	# both sides of the difference are named, the host that agrees not
	assert_line "h2: avm-run ${v%.*}.9 differs from avm-run $v on 'h1'"
	assert_line "h1: avm-run $v differs from avm-run ${v%.*}.9 on 'h2'"
	refute_line --regexp "^h3: avm-run .* differs"
	if [ -e /dev/kvm ]; then
		assert_equal "$status" 65
	else
		# a missing prerequisite is worse than a version
		assert_equal "$status" 69
	fi
}

@test "check: a bad cluster file (78) and a missing one (66), before any ssh" {
	printf 'vm:\n  name: fab\n  vcpu: 2\n' >"$D/bad.yaml"
	fabric "$D/bad.yaml"
	assert_equal "$status" 78
	assert_output "avm-fabric: $D/bad.yaml:3:3: unknown key 'vcpu' in 'vm'"
	fabric "$D/none.yaml"
	assert_equal "$status" 66
	assert_output "avm-fabric: $D/none.yaml: No such file or directory"
}

@test "avm-fabric: usage errors (64)" {
	run avm-fabric
	assert_equal "$status" 64
	assert_line "avm-fabric: no verb (check, up, down, launch, status, stop, link-serve, link-test)"
	run avm-fabric frob x.yaml
	assert_equal "$status" 64
	assert_line "avm-fabric: unknown verb 'frob' (check, up, down, launch, status, stop, link-serve, link-test)"
	run avm-fabric check --timeout 0 x.yaml
	assert_equal "$status" 64
	run avm-fabric check
	assert_equal "$status" 64
	assert_line "avm-fabric: check: no cluster file"
}

# The files up leaves on host I (its /run/avm is $D/hI/run-avm).
remote_dir() {
	echo "$D/h$1/run-avm/fab"
}

@test "up: the secret and the cluster file on every host, 0600, no temp file; down removes them, twice is fine" {
	hosts 3
	cluster 3
	fab up --no-measure "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 0
	assert_output "h1: secret and cluster file pushed
h2: secret and cluster file pushed
h3: secret and cluster file pushed"
	[ "$(stat -c %s "$D/local/fab/secret")" = 32 ]
	[ "$(stat -c %a "$D/local/fab/secret")" = 600 ]
	for i in 1 2 3; do
		r=$(remote_dir $i)
		cmp "$D/local/fab/secret" "$r/secret"
		cmp "$D/c.yaml" "$r/cluster.yaml"
		[ "$(stat -c %a "$r/secret")" = 600 ]
		[ "$(stat -c %a "$r/cluster.yaml")" = 600 ]
		[ "$(stat -c %a "$r")" = 700 ]
		# nothing else: no temporary file left
		[ "$(ls -A "$r" | tr '\n' ' ')" = "cluster.yaml secret " ]
	done
	# a second up would hand out a new secret under a running VM
	fab up "$D/c.yaml"
	assert_equal "$status" 73
	assert_line --regexp "^avm-fabric: secret '$D/local/fab/secret': exists"
	cmp "$D/local/fab/secret" "$(remote_dir 2)/secret"

	fab down "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 0
	assert_output "h1: secret and cluster file removed
h2: secret and cluster file removed
h3: secret and cluster file removed"
	for i in 1 2 3; do
		[ ! -e "$(remote_dir $i)" ]
		[ -d "$D/h$i/run-avm" ]
	done
	[ ! -e "$D/local/fab/secret" ]
	fab down --json "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 0
	jq -e '.ok and (.secret_removed | not) and
		([.hosts[].status] == ["nothing", "nothing", "nothing"])' <<<"$output"
	fab down "$D/c.yaml"
	assert_equal "$status" 0
	assert_line "h2: nothing was there"
}

@test "up: every link between every pair measured with the link layer, as N x N tables, and the fabric map from them" {
	hosts 3
	cluster 3
	fab up --pings 500 --stream 8M "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 0
	assert_line "h2: secret and cluster file pushed"
	assert_line "link round trip, us (min/median/max of 500 pings of 64 bytes):"
	assert_line "link bandwidth, MB/s (8388608 bytes in frames of up to 256 pages of 4 KiB):"
	# a header and a row per node in each table, '-' on the diagonal
	assert_line --regexp '^  from \\ to +h1 \[0\] +h2 \[1\] +h3 \[2\]$'
	assert_line --regexp '^  h1 \[0\] +- +[0-9.]+/[0-9.]+/[0-9.]+ +[0-9.]+/[0-9.]+/[0-9.]+$'
	assert_line --regexp '^  h2 \[1\] +[0-9.]+/[0-9.]+/[0-9.]+ +- +[0-9.]+/[0-9.]+/[0-9.]+$'
	assert_line --regexp '^  h3 \[2\] +[0-9.]+/[0-9.]+/[0-9.]+ +[0-9.]+/[0-9.]+/[0-9.]+ +-$'
	assert_line --regexp '^  h3 \[2\] +[0-9]+ +[0-9]+ +-$'
	assert_line "clock of the column's host against the row's, ms:"
	assert_line "path MTU, bytes:"
	assert_line --regexp '^  h2 \[1\] +1500 +- +1500$'
	# round trips, bandwidth, clocks, MTUs, distances
	[ "$(grep -c '^  from' <<<"$output")" = 5 ]
	# every link-serve ended when up was done: nothing listens
	for i in 1 2 3; do
		[ -z "$(ip netns exec "${TAG}h$i" ss -Hltn 'sport = :7400')" ]
	done
	# the distances the guest will see, in the same map here and on
	# every host, where avm-run reads it
	assert_line "SLIT distances the guest will see (fabric.map, here and on every host):"
	assert_line --regexp '^  h1 \[0\] +10 +[0-9]+ +[0-9]+$'
	for i in 1 2 3; do
		cmp "$D/local/fab/fabric.map" "$(remote_dir $i)/fabric.map"
		[ "$(stat -c %a "$(remote_dir $i)/fabric.map")" = 600 ]
	done
	grep -qx 'vm: fab' "$D/local/fab/fabric.map"
	grep -qx 'nodes: 3' "$D/local/fab/fabric.map"

	fab down "$D/c.yaml"
	assert_equal "$status" 0
	fab up --json --pings 200 --stream 4M "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 0
	# six ordered pairs, each measured: min <= median <= max, bytes moved
	jq -e '.ok and (.links | length) == 6 and
		([.links[] | [.from, .to]] | sort) ==
		    [[0,1],[0,2],[1,0],[1,2],[2,0],[2,1]] and
		all(.links[]; .ok and .error == null and
		    .rtt_min_ns > 0 and .rtt_min_ns <= .rtt_median_ns and
		    .rtt_median_ns <= .rtt_max_ns and
		    .bandwidth_bytes_per_s > 0 and .from_host == "h\(.from + 1)" and
		    .path_mtu == 1500 and
		    # one machine, one clock: within the error of the measure
		    (if .clock_offset_ns < 0 then -.clock_offset_ns else .clock_offset_ns end) <=
		        .clock_error_ns + 1000000)' <<<"$output"
	# the SLIT follows the measured order: a pair with the smaller mean
	# round trip never gets the larger distance; 10 on the diagonal,
	# the same both ways
	jq -e '.distance as $d |
		.fabric_map == "'"$D/local/fab/fabric.map"'" and
		($d | length) == 3 and
		all(range(3); $d[.][.] == 10) and
		all(range(3) as $i | range(3) as $j | [$i, $j];
		    $d[.[0]][.[1]] == $d[.[1]][.[0]]) and
		([.links[] | {k: ([.from, .to] | sort), r: .rtt_median_ns}] |
		 group_by(.k) | map({k: .[0].k, r: (map(.r) | add / length)})) as $p |
		all($p[] as $a | $p[] as $b | [$a, $b];
		    (.[0].r < .[1].r | not) or
		    ($d[.[0].k[0]][.[0].k[1]] <= $d[.[1].k[0]][.[1].k[1]]))' <<<"$output"
	# down takes the map too
	fab down "$D/c.yaml"
	assert_equal "$status" 0
	[ ! -e "$D/local/fab/fabric.map" ]
	for i in 1 2 3; do
		[ ! -e "$(remote_dir $i)" ]
	done
}

@test "up: a host on a smaller MTU shows in the path MTU table, with a warning" {
	hosts 3
	cluster 3
	ip -n "${TAG}h3" link set "${TAG}n3" mtu 1280
	fab up --pings 100 --stream 1M "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 0
	assert_line --regexp '^  h3 \[2\] +1280 +1280 +-$'
	assert_line --regexp '^  h1 \[0\] +- +1500 +1500$'
	assert_line --regexp "^avm-fabric: warning: the links' path MTUs differ"
	refute_line --partial "clocks of"
}

@test "up: a node whose fabric port is taken (69, naming the host and why), links to it not measured" {
	hosts 3
	cluster 3
	ip netns exec "${TAG}h2" python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("10.89.2.2", 7400)); s.listen()
print("ready", flush=True); time.sleep(60)' >"$D/taken" &
	taker=$!
	for t in $(seq 50); do grep -q ready "$D/taken" && break; sleep 0.1; done
	fab up "$D/c.yaml"
	kill "$taker"
	echo "$output"
	assert_equal "$status" 69
	assert_line --regexp "^h2: link-serve exited 75: avm-fabric: listen on '10.89.2.2:7400': Address already in use"
	assert_line --regexp "^avm-fabric: some hosts hold the new secret"
	# the links to node 1 failed for that reason, the others were measured
	fab down "$D/c.yaml"
	fab up --json "$D/c.yaml"
	assert_equal "$status" 0
}

@test "up: a link the network drops between two hosts (69, naming both), as a firewall would" {
	hosts 3
	cluster 3
	# h1 and h3 cannot reach each other (h1's route to h3 prohibits,
	# like a firewall's reject, and h3's packets get no answer, like a
	# drop); ssh from here still reaches both
	ip -n "${TAG}h1" route add prohibit 10.89.3.2/32
	fab up --json --timeout 3 "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 69
	jq -e '(.ok | not) and .exit_status == 69 and
		([.links[] | select(.ok | not) | [.from, .to]] == [[0, 2], [2, 0]]) and
		(.links[] | select(.from == 0 and .to == 2) | .error ==
		    "link-test exited 69: avm-fabric: link to node 2: cannot reach 10.89.3.2:7400: Permission denied") and
		(.links[] | select(.from == 2 and .to == 0) | .error ==
		    "link-test exited 69: avm-fabric: link to node 0: cannot reach 10.89.1.2:7400 within 3000 ms: Connection timed out")' \
		<<<"$(grep -v '^avm-fabric: ' <<<"$output")"
	assert_line "avm-fabric: some hosts hold the new secret: 'avm-fabric down' removes it"
}

@test "link-serve ends when its stdin does (0) or when nobody measured in time (75); link-test with another secret is refused (77)" {
	# two nodes on two loopback addresses, no ssh: the verbs themselves
	{
		echo "vm: {name: lt, vcpus: 2, memory: 512M, kernel: $D/none}"
		echo "nodes:"
		echo "  - {host: a, address: 127.0.0.1, vcpus: 1, memory: 256M}"
		echo "  - {host: b, address: 127.0.0.2, vcpus: 1, memory: 256M}"
		echo "fabric: {port: 17461, secret: s}"
	} >"$D/l.yaml"
	head -c 32 /dev/urandom >"$D/s"
	head -c 32 /dev/urandom >"$D/other"
	chmod 600 "$D/s" "$D/other"
	mkfifo "$D/in"
	timeout 30 avm-fabric --node 1 --timeout 20 link-serve "$D/l.yaml" <"$D/in" \
		>"$D/serve.out" 2>"$D/serve.err" &
	local sp=$! st=0
	exec 7>"$D/in"
	for t in $(seq 50); do grep -q listening "$D/serve.out" && break; sleep 0.1; done
	assert_equal "$(cat "$D/serve.out")" "listening 127.0.0.2:17461"
	run avm-fabric --node 0 --peer 1 --pings 50 --stream 1M --json \
		link-test "$D/l.yaml"
	assert_equal "$status" 0
	jq -e '.node == 0 and .peer == 1 and .pings == 50 and
		.rtt_min_ns > 0 and .stream_bytes == 1048592 and
		.path_mtu > 0' <<<"$output"
	run avm-fabric --node 0 --peer 1 --secret "$D/other" link-test "$D/l.yaml"
	assert_equal "$status" 77
	assert_output --partial "avm-fabric: link to node 1: "
	# up is done: its end of the pipe closes
	exec 7>&-
	wait "$sp" || st=$?
	assert_equal "$st" 0
	run timeout 20 avm-fabric --node 1 --timeout 1 link-serve "$D/l.yaml" \
		< <(sleep 10)
	assert_equal "$status" 75
	assert_line "avm-fabric: nobody measured for 1 s: giving up"
}

@test "link-serve, link-test: usage and a missing secret, before any network" {
	cluster 2
	run avm-fabric link-test "$D/c.yaml"
	assert_equal "$status" 64
	assert_line "avm-fabric: link-test: needs --node and --peer"
	run avm-fabric --node 1 --peer 1 link-test "$D/c.yaml"
	assert_equal "$status" 64
	assert_line "avm-fabric: link-test: --peer is --node: a link joins two nodes"
	run avm-fabric --node 2 link-serve "$D/c.yaml"
	assert_equal "$status" 64
	assert_line "avm-fabric: link-serve: '$D/c.yaml' has nodes 0 to 1"
	run avm-fabric --node 0 --secret "$D/nosecret" link-serve "$D/c.yaml"
	assert_equal "$status" 66
	assert_line --partial "secret '$D/nosecret'"
	run avm-fabric --pings 0 up "$D/c.yaml"
	assert_equal "$status" 64
	run avm-fabric --stream 1K up "$D/c.yaml"
	assert_equal "$status" 64
}

@test "launch before up: every node's avm-run misses its cluster file, relayed with its host and node; 69" {
	hosts 2
	cluster 2
	fab launch "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 69
	assert_line "h1[node 0]: avm-run[node 0]: /run/avm/fab/cluster.yaml: No such file or directory"
	assert_line --regexp "^avm-fabric: node [01] on 'h[12]' failed: avm-run exited 66; the VM was stopped on every node$"
}

@test "launch: node 0 cannot start (its kernel is missing): 69 naming it and its host, no avm-run left on any host" {
	hosts 3
	cluster 3
	fab up --no-measure "$D/c.yaml"
	assert_equal "$status" 0
	fab launch "$D/c.yaml" -- -v
	echo "$output"
	assert_equal "$status" 69
	assert_line "h1[node 0]: avm-run[node 0]: kernel '$D/none': No such file or directory"
	# node 0's own failure, not the 69 of the nodes that lost it
	assert_line "avm-fabric: node 0 on 'h1' failed: avm-run exited 66; the VM was stopped on every node"
	run pgrep -f "avm-run --cluster /run/avm/fab/cluster.yaml"
	assert_equal "$status" 1
}

@test "status and stop with nothing launched; launch --detach of a node that cannot start (69, its log's last line)" {
	hosts 2
	cluster 2
	fab up --no-measure "$D/c.yaml"
	fab status "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 69
	assert_output "h1: node 0 not running: not launched
h2: node 1 not running: not launched"
	fab status --json "$D/c.yaml"
	jq -e '(.running | not) and ([.nodes[].why] == ["not launched", "not launched"])' <<<"$output"
	fab stop "$D/c.yaml"
	assert_equal "$status" 0
	assert_output "fab: nothing was running"
	fab launch --detach "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 69
	assert_line --regexp "^avm-fabric: node [01] on 'h[12]' is not running: avm-run\[node [01]\]: "
	[ -s "$(remote_dir 1)/node-0.log" ] && [ -s "$(remote_dir 1)/node-0.pid" ]
	grep -q "kernel '$D/none': No such file or directory" "$(remote_dir 1)/node-0.log"
	run pgrep -f "avm-run --cluster /run/avm/fab/cluster.yaml"
	assert_equal "$status" 1
	# down takes the nodes' pid and log files with the rest
	fab down "$D/c.yaml"
	assert_equal "$status" 0
	[ ! -e "$(remote_dir 1)" ] && [ ! -e "$(remote_dir 2)" ]
}

@test "the whole flow over 3 hosts: check, up, launch of the guest kit's atomic and memtouch, down" {
	requires kvm
	hosts 3
	KERNEL="$AVM_TOP/build/guest/atomic.elf" cluster 3
	fab check "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 0
	fab up "$D/c.yaml"
	assert_equal "$status" 0
	fab launch "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 0
	assert_output --partial "PASS"
	refute_output --partial "FAIL"
	fab down "$D/c.yaml"
	assert_equal "$status" 0
	KERNEL="$AVM_TOP/build/guest/memtouch.elf" cluster 3
	fab up --no-measure "$D/c.yaml"
	fab launch "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 0
	assert_output --partial "PASS"
	fab down "$D/c.yaml"
	assert_equal "$status" 0
	run pgrep -f "avm-run --cluster /run/avm/fab/cluster.yaml"
	assert_equal "$status" 1
}

@test "launch: a node's avm-run killed mid-run stops the VM: 69 naming node and host, every node gone within 5 s" {
	requires kvm
	hosts 3
	# uart-irq waits for console input that never comes (timeout=60)
	KERNEL="$AVM_TOP/build/guest/uart-irq.elf" cluster 3
	fab up --no-measure "$D/c.yaml"
	env -u SSH_AUTH_SOCK HOME="$D" AVM_RUNDIR="$D/local" timeout 60 \
		avm-fabric launch --known-hosts "$D/known_hosts" --timeout 20 \
		--remote-bin "$AVM_TOP/bin" "$D/c.yaml" -- -a timeout=60 \
		>"$D/launch.out" 2>&1 &
	local lp=$! pid t st=0
	for t in $(seq 100); do
		pid=$(ip netns exec "${TAG}h2" pgrep -f "avm-run --cluster /run/avm/fab/cluster.yaml --node 1") && break
		sleep 0.1
	done
	[ -n "$pid" ]
	sleep 1
	kill -9 "$pid"
	t=$(date +%s%N)
	wait "$lp" || st=$?
	cat "$D/launch.out"
	assert_equal "$st" 69
	grep -q "^avm-fabric: node 1 on 'h2' failed: avm-run killed by SIGKILL" "$D/launch.out"
	# every node gone (launch waits for all) within 5 s of the kill
	[ $((($(date +%s%N) - t) / 1000000)) -lt 5000 ]
	run pgrep -f "avm-run --cluster /run/avm/fab/cluster.yaml"
	assert_equal "$status" 1
}

@test "the bring-up script of avm-fabric(8) EXAMPLES, as printed there: check, up, launch, down" {
	hosts 3
	KERNEL="$AVM_TOP/build/guest/atomic.elf" cluster 3
	sed -n '/^\.\\" bring-up.sh begin$/,/^\.\\" bring-up.sh end$/p' \
		"$AVM_TOP/man/avm-fabric.8" | sed '1,2d;$d' | sed '$d' |
		sed 's/\\e/\\/g' >"$D/bring-up.sh"
	head -1 "$D/bring-up.sh" | grep -qx '#!/bin/sh'
	grep -q 'avm-fabric "\$@" launch "\$file"' "$D/bring-up.sh"
	run env -u SSH_AUTH_SOCK HOME="$D" AVM_RUNDIR="$D/local" timeout 120 \
		sh "$D/bring-up.sh" "$D/c.yaml" --known-hosts "$D/known_hosts" \
		--remote-bin "$AVM_TOP/bin" --timeout 20
	echo "$output"
	if [ -e /dev/kvm ]; then
		assert_equal "$status" 0
		assert_line "h2: secret and cluster file pushed"
		assert_output --partial "PASS"
		assert_line "h3: secret and cluster file removed"
	else
		# check stops the script: nothing pushed anywhere
		assert_equal "$status" 69
		assert_line --regexp "^h1: missing kvm: "
		refute_line --partial "pushed"
	fi
	for i in 1 2 3; do
		[ ! -e "$(remote_dir $i)" ]
	done
	run pgrep -f "avm-run --cluster /run/avm/fab/cluster.yaml"
	assert_equal "$status" 1
}

@test "up --json, a relative fabric.secret and --remote-rundir" {
	hosts 3
	cluster 3
	printf 'fabric:\n  secret: keys/s\n' >>"$D/c.yaml"
	mkdir -p "$D/h1/run-avm/alt" "$D/h2/run-avm/alt" "$D/h3/run-avm/alt"
	fab up --json --remote-rundir /run/avm/alt "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 0
	jq -e '.ok and .remote_secret == "/run/avm/alt/fab/keys/s" and
		.remote_cluster == "/run/avm/alt/fab/cluster.yaml" and
		([.hosts[].status] == ["done", "done", "done"])' <<<"$output"
	# locally where avm-run looks: beside the cluster file
	for i in 1 2 3; do
		cmp "$D/keys/s" "$D/h$i/run-avm/alt/fab/keys/s"
		[ "$(stat -c %a "$D/h$i/run-avm/alt/fab/keys/s")" = 600 ]
	done
	fab down --remote-rundir /run/avm/alt "$D/c.yaml"
	assert_equal "$status" 0
	[ ! -e "$D/h1/run-avm/alt/fab/keys/s" ]
	[ ! -e "$D/keys/s" ]
}

@test "up: a host key that differs on one host (77) pushes no secret anywhere" {
	hosts 3
	cluster 3
	ssh-keygen -q -t ed25519 -N '' -f "$D/otherhost"
	sed -i "s|^10.89.3.2 .*|10.89.3.2 $(cut -d' ' -f1,2 "$D/otherhost.pub")|" \
		"$D/known_hosts"
	fab up "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 77
	assert_line --regexp "^h3: ssh: host key changed: "
	assert_line "h1: nothing pushed: not every host was reached"
	assert_line "h2: nothing pushed: not every host was reached"
	for i in 1 2 3; do
		[ -z "$(ls -A "$D/h$i/run-avm")" ]
	done
	[ ! -e "$D/local/fab/secret" ]
}

@test "up: an unreachable host (69) pushes no secret anywhere" {
	hosts 3
	cluster 3
	kill "${SSHD[2]}"
	wait "${SSHD[2]}" || true
	fab up "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 69
	assert_line "h2: ssh: connect '10.89.2.2' port 22: Connection refused"
	assert_line "h1: nothing pushed: not every host was reached"
	for i in 1 3; do
		[ -z "$(ls -A "$D/h$i/run-avm")" ]
	done
	[ ! -e "$D/local/fab/secret" ]
}

@test "up: a host that cannot write its run directory (73, naming host and path)" {
	hosts 3
	cluster 3
	# a file where host 2's VM folder should be
	echo x >"$D/h2/run-avm/fab"
	fab up "$D/c.yaml"
	echo "$output"
	assert_equal "$status" 73
	assert_line --regexp "^h2: sftp: .*'/run/avm/fab'"
	assert_line "h1: secret and cluster file pushed"
	assert_line "avm-fabric: some hosts hold the new secret: 'avm-fabric down' removes it"
	# kept: it is the one h1 and h3 hold
	cmp "$D/local/fab/secret" "$(remote_dir 1)/secret"
	[ -z "$(ls -A "$D/h2/run-avm/" | grep -v '^fab$')" ]
	rm "$D/h2/run-avm/fab"
	fab down "$D/c.yaml"
	assert_equal "$status" 0
	assert_line "h2: nothing was there"
	[ ! -e "$(remote_dir 1)" ]
}
