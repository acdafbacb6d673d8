#!/usr/bin/env bats
# avm-top against real pagers on loopback, each node with its own run
# directory as on its own host and the test client as its guest: node
# 0's avm-top sees the other nodes through its pager's gathered copies.
# The screen runs in a real terminal (tmux).  The tests with vCPUs need
# KVM (avm-run) and skip without it.

load helpers
load pagers

setup() {
	pagers_setup
	TMUX_SOCK="avmtop$$"
}

teardown() {
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
	kill_started
}

# avm-top as node 0's host runs it.
top0() {
	AVM_RUNDIR=$AVM_RUNDIR/n0 avm-top "$@"
}

# wait_nodes N: node 0 sees all N nodes (its own and the gathered ones).
wait_nodes() {
	local i
	for i in $(seq 60); do
		[ "$(top0 -j -1 -d 0.1 "${VM:-v}" 2>/dev/null |
			jq .nodes_seen)" = "$1" ] && return 0
		sleep 0.2
	done
	top0 -b -1 -d 0.1 "${VM:-v}" >&2 || true
	fail "node 0 did not see $1 nodes"
}

# The screen, as tmux shows it.
screen() {
	tmux -L "$TMUX_SOCK" capture-pane -p -t top
}

# wait_screen REGEX: until the screen matches, at most 10 s.
wait_screen() {
	local i
	for i in $(seq 100); do
		screen | grep -Eq -- "$1" && return 0
		sleep 0.1
	done
	screen >&2
	fail "the screen never showed /$1/"
}

@test "top: an unknown VM is 66 naming it; a bad VM name 66; bad options 64" {
	run avm-top -1 nosuch
	assert_failure 66
	assert_output --partial "no VM 'nosuch' runs on this host"
	run avm-top -1 ../etc
	assert_failure 66
	assert_output --partial "'../etc' is not a VM name"
	for bad in "-d 0" "-d x" "-d 5000" "-n 0" "--node 64" "--hot -1" \
		"a b"; do
		run avm-top $bad
		assert_failure 64
		assert_output --partial "usage: avm-top"
	done
}

@test "top: -j -n 3 -d 0.5 on 3 nodes: three documents, every node, counters never go down, rates are the deltas over the interval" {
	start_pagers 3
	start_clients 3 --tests soak --soak-ms 30000 --threads 2
	wait_nodes 3
	run top0 -b -n 3 -d 0.5 -j v
	assert_success
	[ "${#lines[@]}" = 3 ] || fail "${#lines[@]} documents"
	# one document a line, no empty lines between
	[[ $output != *$'\n\n'* ]] || fail "empty lines in NDJSON"
	# every frame: the three nodes, node 0 its own, the others gathered
	jq -s -e 'length == 3 and all(.[];
		.vm == "v" and .nodes_total == 3 and .nodes_seen == 3 and
		([.nodes[].node] == [0, 1, 2]) and
		([.nodes[].source] == ["local", "gathered", "gathered"]) and
		(.interval_s > 0.4) and (.links | length) == 6)' \
		<<<"$output" || fail "$output"
	# a node's rates are its counters' change since its numbers before
	# over its interval (a gathered node's numbers change only when a
	# new copy came; until then they and their rates stay); counters
	# never go down
	jq -s -e '
		def abs: if . < 0 then -. else . end;
		def near($a; $b): (($a - $b) | abs) <= 0.001 + 1e-9 * ($b | abs);
		[range(1; 3) as $k | .[$k] as $c | .[$k - 1] as $p |
		 ($c.nodes[] as $n | ($p.nodes[] | select(.node == $n.node)) as $o |
		  ($n.faults_total >= $o.faults_total) and
		  ($n.bytes_sent >= $o.bytes_sent) and
		  ($n.fault_latency_count >= $o.fault_latency_count) and
		  if $n.sampled_ns != $o.sampled_ns then
		   ($n.sampled_ns - $o.sampled_ns) / 1e9 - $n.interval_s | abs < 1e-6 and
		   near($n.faults_per_s * $n.interval_s;
			$n.faults_total - $o.faults_total) and
		   near($n.bytes_sent_per_s * $n.interval_s;
			$n.bytes_sent - $o.bytes_sent)
		  else
		   $n.faults_total == $o.faults_total and
		   $n.faults_per_s == $o.faults_per_s
		  end),
		 ($c.links[] as $l | ($p.links[] |
		   select(.from == $l.from and .to == $l.to)) as $m |
		  ($c.nodes[] | select(.node == $l.from)) as $n |
		  ($p.nodes[] | select(.node == $l.from)) as $o |
		  ($l.bytes_sent >= $m.bytes_sent) and
		  if $n.sampled_ns != $o.sampled_ns then
		   near($l.bytes_sent_per_s * $n.interval_s;
			$l.bytes_sent - $m.bytes_sent)
		  else $l.bytes_sent_per_s == $m.bytes_sent_per_s end)] | all' \
		<<<"$output" || fail "$output"
	# node 0 reads its own file each frame: its interval is the delay
	jq -s -e 'all(.[]; .nodes[0].interval_s > 0.4 and
		.nodes[0].interval_s < 1.5)' <<<"$output" || fail "$output"
	# the pagers are busy: node 0 faults and talks to both others
	jq -s -e '.[2] | (.nodes[0].faults_total > 0) and
		([.links[] | select(.from == 0) | .bytes_sent > 0] | all) and
		([.links[] | select(.from == 0) | .rtt_ns > 0] | all)' \
		<<<"$output" || fail "$output"
}

@test "top: a page ping-ponged between node 0 and node 1 is first in the hot table within 2 s, both nodes named" {
	start_pagers 2
	# a page node 1 is home of: node 0 sees it through the copies
	start_clients 2 --tests pingpong --page-offset 24M --soak-ms 30000
	wait_for_line "$AVM_RUNDIR/c0.log" "pingpong page gpa="
	gpa=$(sed -n 's/.*pingpong page gpa=\(0x[0-9a-f]*\).*/\1/p' \
		"$AVM_RUNDIR/c0.log")
	gpa=$(printf '0x%x' $((gpa & ~4095)))
	# 8 frames a quarter second apart: 2 s
	run top0 -j -n 8 -d 0.25 v
	assert_success
	jq -s -e --arg gpa "$gpa" \
		'any(.[]; .hot_pages[0] | .gpa == $gpa and .nodes == [0, 1])' \
		<<<"$output" || fail "$gpa not first: $(jq -c '.hot_pages[0]' <<<"$output")"
	run top0 -b -1 -d 0.25 v
	assert_success
	assert_line --regexp "^0x0*${gpa#0x} +[0-9.kM]+ +[0-9.kM]+ +[01] +0,1 +node [01]"
}

@test "top: the screen in a terminal shows both nodes and the hot table; keys 1, n and q do what the help says" {
	requires tmux
	start_pagers 2
	start_clients 2 --tests pingpong --soak-ms 30000
	wait_nodes 2
	tmux -L "$TMUX_SOCK" new-session -d -s top -x 150 -y 50 \
		"env AVM_RUNDIR=$AVM_RUNDIR/n0 avm-top -d 0.3 v; echo EXIT=\$? >$AVM_RUNDIR/top.exit; sleep 60"
	wait_screen "nodes 2/2"
	wait_screen "^ +1 +gathered"
	screen | grep -Eq "^ +0 +local" || fail "$(screen)"
	wait_screen "^0x[0-9a-f]{16} .* 0,1 +node"
	screen | grep -q "^VCPU" || fail "no vCPU table: $(screen)"
	# h: the keys
	tmux -L "$TMUX_SOCK" send-keys -t top h
	wait_screen "show or hide the per-vCPU rows"
	tmux -L "$TMUX_SOCK" send-keys -t top x
	wait_screen "^HOT PAGES"
	# 1: the vCPU rows go, and come back
	tmux -L "$TMUX_SOCK" send-keys -t top 1
	for i in $(seq 50); do
		screen | grep -q "^VCPU" || break
		sleep 0.1
	done
	! screen | grep -q "^VCPU" || fail "1 left the vCPU table: $(screen)"
	tmux -L "$TMUX_SOCK" send-keys -t top 1
	wait_screen "^VCPU"
	# n 1: node 1 alone
	tmux -L "$TMUX_SOCK" send-keys -t top n
	wait_screen "show node"
	tmux -L "$TMUX_SOCK" send-keys -t top 1 Enter
	wait_screen "\(node 1 only\)"
	! screen | grep -Eq "^ +0 +local" || fail "node 0 still shown: $(screen)"
	screen | grep -Eq "^ +1 +gathered" || fail "$(screen)"
	# a smaller window: drawn again at its size, the header first
	tmux -L "$TMUX_SOCK" resize-window -t top -x 70 -y 12
	wait_screen "^avm-top - .*vm v  running"
	[ "$(screen | awk '{ if (length($0) > m) m = length($0) } END { print m }')" -le 70 ] ||
		fail "lines wider than the window: $(screen)"
	tmux -L "$TMUX_SOCK" resize-window -t top -x 150 -y 50
	wait_screen "^HOT PAGES"
	# q: quits with 0
	tmux -L "$TMUX_SOCK" send-keys -t top q
	for i in $(seq 50); do
		[ -s "$AVM_RUNDIR/top.exit" ] && break
		sleep 0.1
	done
	run cat "$AVM_RUNDIR/top.exit"
	assert_output "EXIT=0"
}

@test "top: with no VM named, one line per VM of this host; a killed VM leaves the list" {
	VM=alpha start_pagers 1
	local pa=${PPIDS[0]}
	VM=alpha start_clients 1 --tests soak --soak-ms 30000
	VM=beta start_pagers 1
	local pb=${PPIDS[0]}
	VM=beta start_clients 1 --tests soak --soak-ms 30000
	local cb=${CPIDS[0]}
	for i in $(seq 100); do
		[ "$(top0 -j -1 -d 0.1 | jq -c '[.vms[].vm]')" = '["alpha","beta"]' ] && break
		sleep 0.1
	done
	run top0 -b -1 -d 0.2
	assert_success
	assert_line --index 0 --regexp "^VM +STATE +NODES"
	assert_line --regexp "^alpha +running +1/1 "
	assert_line --regexp "^beta +running +1/1 "
	kill -9 "$pb" "$cb"
	wait "$pb" "$cb" 2>/dev/null || true
	run top0 -j -1 -d 0.2
	assert_success
	jq -e '[.vms[].vm] == ["alpha"]' <<<"$output" || fail "$output"
	run top0 -1 -d 0.2 beta
	assert_failure 66
	kill -0 "$pa"
}

@test "top: a VM that ends while watched: batch says so and exits 0; the screen says ended" {
	requires tmux
	start_pagers 1
	start_clients 1 --tests soak --soak-ms 3000
	wait_nodes 1
	tmux -L "$TMUX_SOCK" new-session -d -s top -x 150 -y 50 \
		"env AVM_RUNDIR=$AVM_RUNDIR/n0 avm-top -d 0.2 v; sleep 60"
	run timeout 30 env AVM_RUNDIR="$AVM_RUNDIR/n0" avm-top -b -d 0.2 v
	assert_success
	assert_output --partial "avm-top: VM 'v' ended"
	assert_output --partial "vm v  running"
	wait_screen "vm v  ended"
	wait_screen "VM v ended"
}

@test "top: a truncated stats file, one of another version or not one at all is 65 naming it, and nothing crashes" {
	start_pagers 1
	start_clients 1 --tests soak --soak-ms 30000
	wait_nodes 1
	local good=$AVM_RUNDIR/n0/v/pager-0.stats
	mkdir -p "$AVM_RUNDIR/n0/bad"
	# truncated: the first half of a good file
	head -c $(($(stat -c %s "$good") / 2)) "$good" \
		>"$AVM_RUNDIR/n0/bad/pager-0.stats"
	run top0 -1 -d 0.1 bad
	assert_failure 65
	assert_output --partial "bad/pager-0.stats: "
	assert_output --partial "bytes"
	# another version: version 1 in a whole file
	python3 - "$good" "$AVM_RUNDIR/n0/bad/pager-0.stats" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
struct.pack_into("<I", b, 8, 1)
open(sys.argv[2], "wb").write(b)
PY
	run top0 -j -1 -d 0.1 bad
	assert_failure 65
	assert_output --partial "pager stats version 1, this build reads 3"
	# not a stats file
	head -c 5000 /dev/urandom >"$AVM_RUNDIR/n0/bad/run-0.stats"
	cp "$good" "$AVM_RUNDIR/n0/bad/pager-0.stats"
	run top0 -1 -d 0.1 bad
	assert_failure 65
	assert_output --partial "bad/run-0.stats: not a run stats file"
	# the screen: the same message, the terminal given back
	requires tmux
	tmux -L "$TMUX_SOCK" new-session -d -s top -x 150 -y 50 \
		"env AVM_RUNDIR=$AVM_RUNDIR/n0 avm-top bad; echo EXIT=\$?; sleep 60"
	wait_screen "EXIT=65"
	wait_screen "not a run stats file"
	# a bad file of one VM does not hide the good one from the list
	run top0 -j -1 -d 0.1
	assert_success
	jq -e '[.vms[].vm] == ["v"]' <<<"$output" || fail "$output"
}

@test "top: a 2-node VM of the guest kit: both nodes and all four vCPUs with exits, on the screen and in JSON" {
	requires kvm tmux
	G=$AVM_TOP/build/tests/guest
	out="$BATS_TEST_TMPDIR/out"
	timeout 120 avm-run --name tv --nodes 2 --vcpus 4 --memory 256M \
		--append "timeout=100 irq_cpu=2" \
		--kernel "$G/uart-irq.elf" </dev/null >"$out" 2>&1 &
	vm_pid=$!
	PIDS+=($vm_pid)
	wait_for_line "$out" "waiting"
	for i in $(seq 50); do
		[ "$(avm-top -j -1 -d 0.2 tv | jq .nodes_seen)" = 2 ] && break
		sleep 0.2
	done
	run avm-top -j -1 -d 0.5 tv
	assert_success
	jq -e '.nodes_seen == 2 and .vcpus_total == 4 and
		([.vcpus[] | select(.exits > 0) | .vcpu] | sort) == [0, 1, 2, 3] and
		([.vcpus[] | .node] | sort) == [0, 0, 1, 1]' <<<"$output" ||
		fail "$output"
	tmux -L "$TMUX_SOCK" new-session -d -s top -x 150 -y 50 \
		"avm-top -d 0.3 tv; sleep 60"
	wait_screen "nodes 2/2  vCPUs 4"
	for v in 0 1 2 3; do
		wait_screen "^ +$v +[01] +[a-z]+ +[0-9.kM]+ +[1-9]"
	done
	screen | grep -q "^HOT PAGES" || fail "$(screen)"
	tmux -L "$TMUX_SOCK" send-keys -t top q
	run avm-run stop --name tv
	assert_success
	wait "$vm_pid"
}
