#!/usr/bin/env bats
# avm-fabric check: three "hosts", each a network namespace on a veth
# link to the root namespace with a real OpenSSH sshd on its own address
# (10.89.<i>.2), a host key and a user key made for the test.  avm-fabric
# runs in the root namespace and reaches them over ssh; the remote
# avm-probe and avm-run are this tree's (namespaces share the files).

load helpers

setup() {
	requires root netns /usr/sbin/sshd ssh-keygen jq
	D="$BATS_TEST_TMPDIR"
	NS=()
	SSHD=()
	PORT=() # PORT[I]: host I's ssh port, 22 when unset
	# Short names: an interface name has 15 characters at most.
	TAG="f$$"
	ssh-keygen -q -t ed25519 -N '' -C avm-test-host -f "$D/hostkey"
	ssh-keygen -q -t ed25519 -N '' -C avm-test-user -f "$D/userkey"
	cp "$D/userkey.pub" "$D/authorized_keys"
	: >"$D/known_hosts"
}

teardown() {
	local pid n
	for pid in "${SSHD[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${SSHD[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	# Deleting a namespace deletes its veth end, the peer in the root
	# namespace and the route over it.
	for n in "${NS[@]}"; do
		ip netns del "$n" 2>/dev/null || true
	done
}

# start_sshd I: sshd of host I in its namespace, on 10.89.I.2 port
# ${PORT[I]:-22}.
# sshd wants its privilege separation folder /run/sshd: it gets one on
# a tmpfs in a mount namespace of its own, so nothing is left in /run.
# The host's /run/avm (the default remote run directory of up and down)
# is $D/hI/run-avm there, so that each host's files can be told apart
# and checked from here.
start_sshd() {
	local i=$1 ns="${TAG}h$1"
	cat >"$D/sshd$i.conf" <<-EOF
		ListenAddress 10.89.$i.2
		Port ${PORT[$i]:-22}
		HostKey $D/hostkey
		AuthorizedKeysFile $D/authorized_keys
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		StrictModes no
		PidFile $D/sshd$i.pid
		Subsystem sftp internal-sftp
	EOF
	mkdir -p "$D/h$i/run-avm"
	ip netns exec "$ns" unshare -m sh -c \
		'mount -t tmpfs -o mode=0755,size=1m avm-test /run &&
		 mkdir /run/sshd /run/avm &&
		 mount --bind "$2" /run/avm &&
		 exec /usr/sbin/sshd -D -e -f "$1"' \
		sh "$D/sshd$i.conf" "$D/h$i/run-avm" </dev/null >"$D/sshd$i.log" 2>&1 3>&- &
	SSHD[$i]=$!
}

# wait_sshd I: until sshd I listens, at most 10 s.
wait_sshd() {
	local i=$1 ns="${TAG}h$1" t
	for t in $(seq 100); do
		if ip netns exec "$ns" ss -Hltn "src 10.89.$i.2:${PORT[$i]:-22}" |
			grep -q LISTEN; then
			return 0
		fi
		kill -0 "${SSHD[$i]}" 2>/dev/null || break
		sleep 0.1
	done
	cat "$D/sshd$i.log" >&2
	echo "sshd of host $i does not listen on 10.89.$i.2:${PORT[$i]:-22}" >&2
	return 1
}

# hosts N: namespaces h1..hN, each with its sshd running and its host key
# in $D/known_hosts (as "[address]:port" when the port is not 22).  No address is added to the root namespace: a route
# to 10.89.I.0/24 over the veth end there, and a default route back over
# the one inside.
hosts() {
	local n=$1 i ns r name
	for ((i = 1; i <= n; i++)); do
		ns="${TAG}h$i"
		r="${TAG}r$i"
		ip netns add "$ns"
		NS+=("$ns")
		ip link add "$r" type veth peer name "${TAG}n$i" netns "$ns"
		ip link set "$r" up
		ip -n "$ns" link set lo up
		ip -n "$ns" link set "${TAG}n$i" up
		ip -n "$ns" addr add "10.89.$i.2/24" dev "${TAG}n$i"
		ip -n "$ns" route add default dev "${TAG}n$i"
		ip route add "10.89.$i.0/24" dev "$r" scope link
		if [ -n "${PORT[$i]:-}" ]; then
			name="[10.89.$i.2]:${PORT[$i]}"
		else
			name=10.89.$i.2
		fi
		echo "$name $(cut -d' ' -f1,2 "$D/hostkey.pub")" >>"$D/known_hosts"
		start_sshd "$i"
	done
	for ((i = 1; i <= n; i++)); do
		wait_sshd "$i"
	done
}

# cluster N [MEMORY]: $D/c.yaml, a VM of one node per host, each node
# 1 vCPU and MEMORY (256M), logging in as root with $D/userkey.
cluster() {
	local n=$1 mem=${2:-256M} i total
	total=$(numfmt --from=iec --to=iec "$(($(numfmt --from=iec "$mem") * n))")
	{
		echo "vm:"
		echo "  name: fab"
		echo "  vcpus: $n"
		echo "  memory: $total"
		echo "  kernel: $D/none"
		echo "nodes:"
		for ((i = 1; i <= n; i++)); do
			echo "  - host: h$i"
			echo "    address: 10.89.$i.2"
			echo "    vcpus: 1"
			echo "    memory: $mem"
			echo "    ssh:"
			echo "      user: root"
			[ -z "${PORT[$i]:-}" ] || echo "      port: ${PORT[$i]}"
			echo "      key: $D/userkey"
		done
	} >"$D/c.yaml"
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
		"$@"
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
	assert_line "avm-fabric: no verb (check, up, down)"
	run avm-fabric frob x.yaml
	assert_equal "$status" 64
	assert_line "avm-fabric: unknown verb 'frob' (check, up, down)"
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
	fab up "$D/c.yaml"
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
