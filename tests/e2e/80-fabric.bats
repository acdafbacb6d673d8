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
