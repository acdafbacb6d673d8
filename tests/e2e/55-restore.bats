#!/usr/bin/env bats
# avm-pager --restore: home pages start from a snapshot that avm-snapgen
# wrote with a known pattern, and the test client (tests/helpers/
# avm-pager-client.c, --tests verify-pattern) reads every page from
# threads on every node and checks it, then writes and reads again.
# Lazy (a page on its first touch, the rest in the background) and
# eager (everything before READY); a snapshot of 2 nodes restored on 1,
# 2 and 3; the counters of the stats file; bad snapshots.  No KVM.

load helpers
load pagers
bats_require_minimum_version 1.5.0

setup() {
	pagers_setup
	D=$BATS_TEST_TMPDIR
}

teardown() {
	kill_started
}

# snap FILE ARGS...: a 32M snapshot (the pagers' --memory) of 2 nodes.
snap() {
	local f=$1
	shift
	run -0 avm-snapgen --memory 32M --nodes 2 --vcpus 2 "$@" "$f"
}

# restore_stats I: "restore_pages restored_fault restored_background" of
# pager I's stats file (include/avm/pager.h: after gathered_ns), once
# every home page was taken (within 30 s).
restore_stats() {
	python3 - "$AVM_RUNDIR/n$1/v/pager-$1.stats" <<'EOF'
import struct, sys, time
end = time.time() + 30
total = fault = bg = 0
while time.time() < end:
    try:
        b = open(sys.argv[1], "rb").read()
        total, fault, bg = struct.unpack_from("<3Q", b, 1136)
    except (OSError, struct.error):
        pass  # not made yet
    if total and fault + bg == total:
        break
    time.sleep(0.05)
print(total, fault, bg)
EOF
}

# verify N PATTERN [pager options]: N pagers restore $D/s.snap, their
# clients verify it; each pager's stats say every home page was taken.
verify() {
	local n=$1 pat=$2 i
	shift 2
	start_pagers "$n" --restore "$D/s.snap" "$@"
	start_clients "$n" --threads 2 --tests verify-pattern \
		--pattern "$pat" --linger-ms 2000
	for ((i = 0; i < n; i++)); do
		STATS[$i]=$(restore_stats $i)
	done
	wait_all_pass "$n"
	for ((i = 0; i < n; i++)); do
		run cat "$AVM_RUNDIR/c$i.log"
		assert_output --partial "verify-pattern: $((8192 * 2)) pages read, 8192 words written, 0 bad words"
		read -r total fault bg <<<"${STATS[$i]}"
		[ "$total" -gt 0 ] && [ $((fault + bg)) = "$total" ] ||
			fail "pager $i: $total home pages, $fault on fault, $bg in the background"
		run cat "$AVM_RUNDIR/p$i.log"
		assert_output --regexp "restored from the snapshot: $total of $total home pages, $fault on fault, $bg in the background"
	done
}

@test "restore: lazy on 2 nodes: every page reads back as the snapshot's, writes stay coherent, pages come on fault and in the background" {
	snap "$D/s.snap" --pattern mixed
	# a 16M home at 8 MiB/s: the loaders take 2 s, the readers start
	# where they end: both ways on each node, whatever the timing
	verify 2 mixed --restore-rate 8
	for i in 0 1; do
		read -r total fault bg <<<"${STATS[$i]}"
		[ "$total" = 4096 ] && [ "$fault" -gt 0 ] && [ "$bg" -gt 0 ] ||
			fail "pager $i: $total home pages, $fault on fault, $bg in the background"
		echo "# pager $i: $fault on fault, $bg in the background" >&3
	done
	run cat "$AVM_RUNDIR/p0.log"
	assert_output --partial "restoring home pages 0..4096 from '$D/s.snap' (2 nodes, 33554432 bytes)"
	assert_output --regexp "restore done in [0-9.]+ s: 4096 home pages"
}

@test "restore: a random-pattern snapshot in part files, lazy on 2 nodes" {
	snap "$D/s.snap" --pattern random --seed 7 --parts
	ls "$D"/s.snap.*.node1
	start_pagers 2 --restore "$D/s.snap"
	start_clients 2 --threads 2 --tests verify-pattern --pattern random \
		--seed 7
	wait_all_pass 2
	# the pattern is checked: another seed is wrong data (mixed: the
	# seed changes only the random pages, not the barrier's)
	snap "$D/s.snap" --pattern mixed --seed 8 --parts
	start_pagers 2 --restore "$D/s.snap"
	start_clients 2 --threads 1 --tests verify-pattern --pattern mixed \
		--seed 7
	wait_exit "${CPIDS[0]}" 1 "a client that checks the wrong seed"
	run cat "$AVM_RUNDIR/c0.log"
	assert_output --regexp "verify-pattern: page [0-9]+ word [0-9]+: 0x[0-9a-f]+, want 0x"
}

@test "restore: --eager on 2 nodes: every home page is read before the client runs" {
	snap "$D/s.snap" --pattern mixed
	verify 2 mixed --eager
	for i in 0 1; do
		read -r total fault bg <<<"${STATS[$i]}"
		# only another node's faults can come before our loader
		[ "$bg" -gt 0 ] || fail "pager $i: nothing in the background"
		run grep -n -e "restore done in" -e "ready: home of" "$AVM_RUNDIR/p$i.log"
		assert_line --index 0 --partial "restore done in"
		assert_line --index 1 --partial "node $i of 2 ready: home of"
	done
}

@test "restore: a snapshot of 2 nodes on 3, lazy and eager, in part files" {
	snap "$D/s.snap" --pattern mixed --parts
	verify 3 mixed
	# 8192 pages over 3 nodes
	read -r t0 fault bg <<<"${STATS[0]}"
	read -r t1 fault bg <<<"${STATS[1]}"
	read -r t2 fault bg <<<"${STATS[2]}"
	assert_equal "$((t0 + t1 + t2))" 8192
	verify 3 mixed --eager
}

@test "restore: a snapshot of 2 nodes on 1" {
	snap "$D/s.snap" --pattern mixed
	verify 1 mixed
	read -r total fault bg <<<"${STATS[0]}"
	assert_equal "$total" 8192
}

@test "restore: a bad chunk met in the middle stops the VM, naming the chunk; no wrong data is read" {
	# random pages do not compress: node 1's chunk k is at its
	# section's offset + k MiB; chunk 15 of node 1 (chunk 31 of the
	# file) is the last its loader reaches (in 2 s at 8 MiB/s) and the
	# first node 0 reads: a fault meets it
	snap "$D/s.snap" --pattern random
	off=$(avm-snap -j inspect "$D/s.snap" |
		jq -e '.sections[] | select(.type == "memory" and .node == 1) | .offset_bytes')
	b=$(od -An -tu1 -j $((off + 15 * 1048576 + 1000)) -N1 "$D/s.snap" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 255)))" |
		dd of="$D/s.snap" bs=1 seek=$((off + 15 * 1048576 + 1000)) \
			conv=notrunc status=none
	start_pagers 2 --restore "$D/s.snap" --restore-rate 8
	start_clients 2 --threads 2 --tests verify-pattern --pattern random
	want="chunk 31 (guest RAM 0x1f00000-0x1ffffff, node 1): bad CRC32 0x"
	wait_exit "${PPIDS[1]}" 65 "the pager of the bad chunk"
	run cat "$AVM_RUNDIR/p1.log"
	assert_output --partial "avm-pager[node 1]: restore: $want"
	assert_output --regexp "\(page 81[0-9][0-9] of '$D/s.snap', on its first touch\)"
	for i in 0 1; do
		wait_exit "${CPIDS[$i]}" 69 "client $i"
		run cat "$AVM_RUNDIR/c$i.log"
		assert_output --partial "stopping: restore: $want"
		refute_output --partial "verify-pattern: page"
	done
	wait_exit "${PPIDS[0]}" 69 "pager 0"
}

@test "restore: --eager with a bad chunk: the client never starts" {
	snap "$D/s.snap" --pattern random
	off=$(avm-snap -j inspect "$D/s.snap" |
		jq -e '.sections[] | select(.type == "memory" and .node == 0) | .offset_bytes')
	printf '\377' | dd of="$D/s.snap" bs=1 seek=$((off + 2 * 1048576 + 5)) \
		conv=notrunc status=none
	start_pagers 2 --restore "$D/s.snap" --eager
	start_clients 2 --threads 1 --tests verify-pattern --pattern random
	wait_exit "${PPIDS[0]}" 65 "pager 0"
	wait_exit "${CPIDS[0]}" 69 "client 0"
	run cat "$AVM_RUNDIR/c0.log"
	assert_output --partial "chunk 2 (guest RAM 0x200000-0x2fffff, node 0): bad CRC32"
	refute_output --partial "verify-pattern"
}

@test "restore: a snapshot of another memory size is 65, a missing one 66, a bad one 65, before any link" {
	run -0 avm-snapgen --memory 16M "$D/small.snap"
	mkdir -p "$AVM_RUNDIR/n0"
	export AVM_RUNDIR=$AVM_RUNDIR/n0
	run -65 avm-pager --vm v --memory 32M --nodes 2 --node 0 \
		--peers 127.0.0.1:1,127.0.0.1:2 --secret "$SECRET" \
		--restore "$D/small.snap"
	assert_output "avm-pager[node 0]: --restore '$D/small.snap': a snapshot of 16777216 bytes of memory, this pager has --memory 33554432"
	run -66 avm-pager --vm v --memory 32M --restore "$D/nope.snap"
	assert_output "avm-pager[node 0]: --restore '$D/nope.snap': No such file or directory"
	echo "not a snapshot" >"$D/bad.snap"
	run -65 avm-pager --vm v --memory 32M --restore "$D/bad.snap" --eager
	assert_output --partial "avm-pager[node 0]: --restore '$D/bad.snap': bad magic: not an AVM snapshot"
	# a part that is gone: 66, naming it
	run -0 avm-snapgen --memory 32M --nodes 2 --parts "$D/p.snap"
	part=$(basename "$D"/p.snap.*.node1)
	rm "$D/$part"
	run -66 avm-pager --vm v --memory 32M --restore "$D/p.snap"
	assert_output "avm-pager[node 0]: --restore '$D/p.snap': part '$part' (memory of node 1): No such file or directory"
	# nothing was made: no socket, no stats, no lock
	run find "$AVM_RUNDIR" -mindepth 1 ! -type d
	assert_output ""
	run -64 avm-pager --vm v --memory 32M --eager
	assert_output --partial "--eager and --restore-rate are for --restore"
	run -64 avm-pager --vm v --memory 32M --restore-rate 10
	assert_output --partial "--eager and --restore-rate are for --restore"
	run -64 avm-pager --vm v --memory 32M --restore "$D/p.snap" \
		--restore-rate 10M
	assert_output --partial "--restore-rate: '10M' is not a number of MiB/s"
}
