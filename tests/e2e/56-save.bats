#!/usr/bin/env bats
# Saving guest memory into a snapshot, every node writing the memory it
# is home of as a part file at once (PG_SAVE to node 0's pager, which
# asks the others with PG_SAVE_PART): real pagers on loopback with the
# test client as each node's guest (tests/helpers/avm-pager-client.c
# --tests write-pattern writes a known pattern, each page from a node
# other than its home, so that homes must fetch pages back to save
# them).  avm-snapgen --from-pagers stands where avm-run will: it asks
# for the memory and writes the main file.  What is saved is compared
# page by page with the pattern (avm-snapgen --check), by its memory
# CRC32 (avm-snap inspect --verify), and restored on other node counts
# (avm-pager --restore, the client's verify-pattern).  No KVM.

load helpers
load pagers
bats_require_minimum_version 1.5.0

setup() {
	pagers_setup
	D=$BATS_TEST_TMPDIR
	GO=$D/go
}

teardown() {
	kill_started
}

# write N PATTERN SEED: N pagers (VM $VM, 32M) and clients that write the
# pattern and stay attached until $GO exists; returns once it is written.
write() {
	local n=$1 pat=$2 seed=$3 k
	start_pagers "$n"
	start_clients "$n" --threads 2 --tests write-pattern --pattern "$pat" \
		--seed "$seed" --linger-until "$GO"
	for ((k = 0; k < 600; k++)); do
		grep -q "write-pattern: written" "$AVM_RUNDIR/c${VM:+$VM.}0.log" \
			2>/dev/null && return 0
		sleep 0.1
	done
	cat "$AVM_RUNDIR"/c*.log "$AVM_RUNDIR"/p*.log >&2
	fail "the clients did not write the pattern"
}

# save N FILE [snapgen options]: the memory of VM ${VM:-v}'s N pagers.
save() {
	local n=$1 f=$2
	shift 2
	AVM_RUNDIR=$AVM_RUNDIR/n0 avm-snapgen --from-pagers --vm "${VM:-v}" \
		--memory "${MEM:-32M}" --nodes "$n" --vcpus "$n" "$@" "$f"
}

# memcrc FILE: the memory CRC32 avm-snap inspect --verify gives.
memcrc() {
	avm-snap -j inspect --verify "$1" | jq -r .verify.memory_crc32
}

@test "save on 2 nodes: each node writes its part, the snapshot is the memory page for page" {
	write 2 mixed 7
	run -0 save 2 "$D/s.snap"
	assert_line --partial "saved from the pagers: 2 parts"
	# every page that is not zero in the pattern (half of them) was
	# written by the node after its home's: each home fetched them back
	# before writing them
	assert_output --regexp "saved from the pagers: .*, 409[0-9] pages fetched first"
	run -0 avm-snapgen --check --vm v --memory 32M --nodes 2 --vcpus 2 \
		--pattern mixed --seed 7 "$D/s.snap"
	run -0 avm-snap -j inspect --verify "$D/s.snap"
	id=$(echo "$output" | jq -r '.snapshot_id[0:8]')
	echo "$output" | jq -e --arg id "$id" '
		[.nodes[].part] == ["s.snap.\($id).node0", "s.snap.\($id).node1"]
		and .verify.ok'
	# the same memory written by the tool itself: the same CRC32
	run -0 avm-snapgen --vm v --memory 32M --nodes 3 --vcpus 3 \
		--pattern mixed --seed 7 "$D/ref.snap"
	[ "$(memcrc "$D/s.snap")" = "$(memcrc "$D/ref.snap")" ]
	run cat "$AVM_RUNDIR/p1.log"
	assert_output --regexp "save: node 1 wrote '$D/s.snap.$id.node1': [0-9]+ bytes of 16777216 of memory"
	touch "$GO"
	wait_all_pass 2
}

@test "save on 2 nodes where all 128 MiB moved: both homes fetch 64 MiB from each other at once" {
	# With every page asked for at once, each pager's answers piled up
	# past the link's back-pressure mark and both stopped reading: the
	# nodes declared each other dead.  A window of fetches in flight.
	MEM=128M
	write 2 random 9
	run -0 save 2 "$D/big.snap" --level 1
	assert_output --regexp "saved from the pagers: .*, 3276[0-9] pages fetched first"
	run -0 avm-snapgen --check --vm v --memory 128M --nodes 2 --vcpus 2 \
		--pattern random --seed 9 "$D/big.snap"
	touch "$GO"
	wait_all_pass 2
}

@test "save twice without a change: the same memory CRC32; restored on 3 nodes and on 1, lazily, it reads back" {
	write 2 random 11
	run -0 save 2 "$D/a.snap" --level 1
	run -0 save 2 "$D/b.snap" --chunk-pages 16
	a=$(memcrc "$D/a.snap") b=$(memcrc "$D/b.snap")
	[ -n "$a" ] && [ "$a" = "$b" ]
	touch "$GO"
	wait_all_pass 2
	for n in 3 1; do
		start_pagers "$n" --restore "$D/a.snap"
		start_clients "$n" --threads 2 --tests verify-pattern \
			--pattern random --seed 11
		wait_all_pass "$n"
	done
}

@test "a restored VM saved before its pages were read: they come from its snapshot" {
	run -0 avm-snapgen --vm v --memory 32M --nodes 2 --vcpus 2 \
		--pattern counter "$D/r.snap"
	# 1 MiB/s: most pages are still unread when the save comes
	start_pagers 3 --restore "$D/r.snap" --restore-rate 1
	start_clients 3 --tests idle --linger-until "$GO"
	for ((k = 0; k < 300; k++)); do
		grep -q "ready" "$AVM_RUNDIR/p2.log" && break
		sleep 0.1
	done
	run -0 save 3 "$D/s.snap"
	run -0 avm-snapgen --check --vm v --memory 32M --nodes 3 --vcpus 3 \
		--pattern counter "$D/s.snap"
	[ "$(memcrc "$D/s.snap")" = "$(memcrc "$D/r.snap")" ]
	touch "$GO"
	wait_all_pass 3
}

@test "save on 1 node" {
	write 1 counter 1
	run -0 save 1 "$D/one.snap"
	assert_line --partial "saved from the pagers: 1 parts"
	run -0 avm-snapgen --check --vm v --memory 32M --nodes 1 --vcpus 1 \
		--pattern counter "$D/one.snap"
	touch "$GO"
	wait_all_pass 1
}

@test "a save that cannot be made: 69 with the node's reason, nothing left, the VM goes on" {
	write 2 mixed 3
	# asked of node 1's pager
	run -69 env AVM_RUNDIR="$AVM_RUNDIR/n1" avm-snapgen --from-pagers \
		--vm v --memory 32M --nodes 2 --vcpus 2 "$D/x.snap"
	assert_output "avm-snapgen: '$D/x.snap': a save is asked of node 0's pager, this is node 1's"
	# a part's name over 47 bytes: node 0 refuses before asking anyone
	long=$(printf 'x%.0s' {1..36}).snap
	run -69 save 2 "$D/$long"
	assert_output "avm-snapgen: '$D/$long': node 0: '$D/$long': the part file's name is too long"
	# the VM's node count, as the tool thinks it, is wrong
	run -69 save 3 "$D/x.snap"
	assert_output --partial "the VM has 2 nodes, not 3"
	run find "$D" -name "x.snap*" -o -name "$long*"
	assert_output ""
	# a file system too small for the parts: a node's write fails
	if [ "$(id -u)" = 0 ]; then
		mkdir "$D/full"
		mount -t tmpfs -o size=1m tmpfs "$D/full"
		run -69 save 2 "$D/full/x.snap"
		out=$output
		run find "$D/full" -mindepth 1
		left=$output
		umount "$D/full"
		[[ $out =~ ^avm-snapgen:\ \'$D/full/x.snap\':\ node\ [01]:\ write\ \'$D/full/x.snap.[0-9a-f]{8}.node[01].tmp.[0-9]+\':\ No\ space\ left\ on\ device$ ]] ||
			fail "$out"
		[ -z "$left" ] || fail "left behind: $left"
	fi
	# and the VM still saves and runs to its end
	run -0 save 2 "$D/s.snap"
	run -0 avm-snapgen --check --vm v --memory 32M --nodes 2 --vcpus 2 \
		--pattern mixed --seed 3 "$D/s.snap"
	touch "$GO"
	wait_all_pass 2
}

@test "a save with no client attached: 69" {
	start_pagers 1
	for ((k = 0; k < 100; k++)); do
		[ -S "$AVM_RUNDIR/n0/v/pager.sock" ] && break
		sleep 0.1
	done
	run -69 save 1 "$D/x.snap"
	assert_output "avm-snapgen: '$D/x.snap': node 0: no client attached: no memory to save"
	run find "$D" -name "x.snap*"
	assert_output ""
}

@test "node 1 killed during a save: the save fails, nothing is left, the VM stops naming the node" {
	write 2 random 5
	# level 9 on random pages: long enough to be caught writing
	save 2 "$D/k.snap" --level 9 >"$D/save.out" 2>&1 &
	SAVE=$!
	PIDS+=("$SAVE")
	for ((k = 0; k < 1000; k++)); do
		compgen -G "$D/k.snap.*.node1.tmp.*" >/dev/null && break
		sleep 0.01
	done
	compgen -G "$D/k.snap.*.node1.tmp.*" >/dev/null ||
		fail "node 1 never started writing its part"
	kill -9 "${PPIDS[1]}"
	rc=0
	wait "$SAVE" || rc=$?
	cat "$D/save.out"
	[ "$rc" = 69 ]
	run cat "$D/save.out"
	assert_output --regexp "^avm-snapgen: '$D/k.snap': node 0's pager ended during the save: node 1 failed: .+$"
	run find "$D" -name "k.snap*"
	assert_output ""
	wait_exit "${PPIDS[0]}" 69 "pager 0"
	wait_exit "${CPIDS[0]}" 69 "client 0"
}

@test "clones: one snapshot restored as two VMs at once, lazily on 2 and 3 nodes: each reads it back and writes, the snapshot stays as it was" {
	write 2 mixed 21
	run -0 save 2 "$D/t.snap"
	touch "$GO"
	wait_all_pass 2
	VM=a
	start_pagers 2 --restore "$D/t.snap"
	start_clients 2 --threads 2 --tests verify-pattern --pattern mixed \
		--seed 21
	A_P=("${PPIDS[@]}") A_C=("${CPIDS[@]}")
	VM=b
	start_pagers 3 --restore "$D/t.snap"
	start_clients 3 --threads 2 --tests verify-pattern --pattern mixed \
		--seed 21
	wait_all_pass 3
	VM=a PPIDS=("${A_P[@]}") CPIDS=("${A_C[@]}")
	wait_all_pass 2
	# both wrote into their memory; the snapshot is as it was
	run -0 avm-snapgen --check --vm v --memory 32M --nodes 2 --vcpus 2 \
		--pattern mixed --seed 21 "$D/t.snap"
}

@test "a save while the nodes write: their requests wait for the parts, the save is whole, the writes all land" {
	start_pagers 2
	# a lock and a counter taken by every thread of both nodes
	start_clients 2 --threads 2 --tests soak --soak-ms 4000
	sleep 1
	run -0 save 2 "$D/live.snap" --level 1
	run -0 avm-snap inspect --verify "$D/live.snap"
	wait_all_pass 2
	run grep -h "saved 1 parts: .*, [1-9][0-9]* requests held back meanwhile" \
		"$AVM_RUNDIR/p0.log" "$AVM_RUNDIR/p1.log"
	assert_success
}
