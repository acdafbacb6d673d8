#!/usr/bin/env bats
# avm-pager: coherent guest memory over N pagers on loopback, each with
# the test client (tests/helpers/avm-pager-client.c) running litmus
# tests; failure of a node; wrong secrets and malformed frames.
#
# Nothing here asserts on time except the generous deadline within which
# the survivors of a failure must exit (the design says 5 s).

load helpers
load pagers
bats_require_minimum_version 1.5.0

setup() {
	pagers_setup
}

teardown() {
	kill_started
}

litmus() {
	local n=$1
	start_pagers "$n"
	start_clients "$n" --threads 2 --rounds 3000 --iters 3000
	wait_all_pass "$n"
	# the store-buffering pair lives on nodes 0 and N-1
	run cat "$AVM_RUNDIR/c$((n - 1)).log"
	assert_output --regexp "sb\+mfence: 3000 rounds: \(0,0\) 0 "
	assert_output --partial "xadd: counter $((n * 2 * 3000)) "
	assert_output --partial "lock: counter $((n * 2 * 3000)) "
}

@test "pager: one node, every fault through the pager" {
	PPIDS=() CPIDS=()
	mkdir -p "$AVM_RUNDIR/n0"
	AVM_RUNDIR=$AVM_RUNDIR/n0 avm-pager --vm v --memory 32M \
		>"$AVM_RUNDIR/p0.log" 2>&1 &
	PPIDS[0]=$!
	PIDS+=($!)
	start_clients 1 --threads 2 --rounds 2000 --iters 2000
	wait_all_pass 1
	# every fault went through it: zero fills counted, nothing remote
	run cat "$AVM_RUNDIR/p0.log"
	assert_output --regexp "every node is done: faults zero [1-9][0-9]*, local [0-9]+, read 0, write 0, upgrade 0"
}

@test "pager: unfenced store buffering is seen on one node, so the fenced test means something" {
	local try seen=
	for try in 1 2 3 4 5; do
		rm -rf "$AVM_RUNDIR/n0"
		mkdir -p "$AVM_RUNDIR/n0"
		AVM_RUNDIR=$AVM_RUNDIR/n0 avm-pager --vm v --memory 32M \
			>"$AVM_RUNDIR/p0.log" 2>&1 &
		PPIDS[0]=$!
		PIDS+=($!)
		start_clients 1 --threads 2 --rounds 2000 --tests sb
		wait_all_pass 1
		run cat "$AVM_RUNDIR/c0.log"
		assert_output --regexp "sb\+mfence: 2000 rounds: \(0,0\) 0 "
		if [[ $output =~ sb:\ 2000\ rounds:\ \(0,0\)\ [1-9] ]]; then
			seen=$try
			break
		fi
	done
	[ -n "$seen" ] || fail "no (0,0) in 5 x 2000 unfenced rounds: the two threads never overlapped"
	echo "# (0,0) seen on try $seen" >&3
}

@test "pager: litmus tests on 2 nodes" {
	litmus 2
	# the pages moved between the nodes, and the pagers counted it
	run cat "$AVM_RUNDIR/p0.log" "$AVM_RUNDIR/p1.log"
	assert_output --regexp "faults zero [0-9]+, local [0-9]+, read [0-9]+, write [1-9][0-9]*.*pages sent [1-9][0-9]*, received [1-9][0-9]*"
}

@test "pager: litmus tests on 3 nodes" {
	litmus 3
}

@test "pager: litmus tests on 4 nodes" {
	litmus 4
}

@test "pager: litmus tests on 3 nodes with busy polling and one page a first touch" {
	start_pagers 3 --poll-us 100 --zero-block 1
	start_clients 3 --threads 2
	wait_all_pass 3
}

@test "pager: a killed pager's half-written gathered copies go when the next node 0 starts, and its folder at the end" {
	# what a pager killed while replacing a copy leaves: its temporary
	# files (another pid), in the VM's gathered folder
	mkdir -p -m 700 "$AVM_RUNDIR/n0/v"
	mkdir -m 755 "$AVM_RUNDIR/n0/v/gathered"
	touch "$AVM_RUNDIR/n0/v/gathered/pager-1.stats.tmp.4242" \
		"$AVM_RUNDIR/n0/v/gathered/run-1.stats.tmp.4243"
	start_pagers 2
	start_clients 2 --threads 1 --tests mp
	wait_for_line "$AVM_RUNDIR/p0.log" ready || fail "pager 0 never got ready"
	run ls "$AVM_RUNDIR/n0/v/gathered"
	refute_output --partial ".tmp."
	wait_all_pass 2
	[ ! -e "$AVM_RUNDIR/n0/v/gathered" ] || fail "the gathered folder stays"
}

@test "pager: read-ahead copies are invalidated by later writes (2 and 3 nodes, writers home and not)" {
	for n in 2 3; do
		start_pagers "$n"
		start_clients "$n" --threads 2 --tests readahead
		wait_all_pass "$n"
		# the home did send copies ahead, and they were used
		run grep -h "read-ahead: [1-9][0-9]* copies sent as home" \
			"$AVM_RUNDIR/p0.log"
		assert_success
		run grep -h "readahead: 0 stale or wrong words" "$AVM_RUNDIR/c1.log"
		assert_success
	done
}

@test "pager: an uneven split (--home-sizes 8M,24M): each pager names its home, litmus passes" {
	start_pagers 2 --home-sizes 8M,24M
	start_clients 2 --home-sizes 8M,24M --threads 2 --rounds 1000 \
		--iters 1000
	wait_all_pass 2
	# 8M is pages 0..2048, 24M the rest of 32M: 2048..8192
	run cat "$AVM_RUNDIR/p0.log"
	assert_output --partial "node 0 of 2 ready: home of pages 0..2048,"
	run cat "$AVM_RUNDIR/p1.log"
	assert_output --partial "node 1 of 2 ready: home of pages 2048..8192,"
	run cat "$AVM_RUNDIR/c1.log"
	assert_output --partial "xadd: counter $((2 * 2 * 1000)) "
}

@test "pager: --home-sizes that do not add up to --memory exit 64, saying so" {
	run avm-pager --vm v --memory 32M --nodes 2 --node 0 \
		--peers 127.0.0.1:1,127.0.0.1:2 --home-sizes 8M,8M
	assert_failure 64
	assert_output --partial "--home-sizes: the nodes' memory adds up to 16777216 bytes, not 33554432"
	run avm-pager --vm v --memory 32M --nodes 2 --node 0 \
		--peers 127.0.0.1:1,127.0.0.1:2 --home-sizes 32M
	assert_failure 64
	assert_output --partial "--home-sizes: 1 sizes for 2 nodes"
}

@test "pager: the stats file has its header and counts faults, bytes, each peer's traffic and the hot pages while it runs" {
	start_pagers 2
	start_clients 2 --threads 1 --tests soak --soak-ms 4000
	timeout 60 sh -c "until grep -q ready '$AVM_RUNDIR/p1.log'; do sleep 0.1; done" ||
		fail "pager 1 never got ready"
	sleep 1
	run python3 - "$AVM_RUNDIR/n1/v/pager-1.stats" "${PPIDS[1]}" "${CPIDS[0]}" "${CPIDS[1]}" <<'EOF'
import os, struct, sys
b = open(sys.argv[1], "rb").read()
magic, version, size, node, nodes, page, dirb, lsb, pid = struct.unpack_from("<QIIIIIIII", b)
assert magic == 0x5453504d56415f41 and version == 3 and size == len(b) == 4288, (magic, version, size)
assert node == 1 and nodes == 2 and page == 4096 and dirb == 16, (node, nodes, dirb)
assert pid == int(sys.argv[2]), (pid, sys.argv[2])
faults = struct.unpack_from("<6Q", b, 96)
assert sum(faults) > 0 and faults[2] + faults[3] + faults[4] > 0, faults
sent, received = struct.unpack_from("<QQ", b, 96 + 6 * 8 + 7 * 8)
assert sent > 0 and received > 0, (sent, received)
gathered = struct.unpack_from("<Q", b, 1128)[0]
assert gathered == 0, gathered
# node 0 is the only peer: its traffic and round trip; our own entry 0
peer = [struct.unpack_from("<6Q", b, 1160 + 48 * i) for i in range(64)]
assert all(peer[0][:5]) and peer[0][5] == 0, peer[0]
assert not any(peer[1]) and not any(map(any, peer[2:])), peer[1]
# every peer byte is in the total too
assert peer[0][0] <= sent and peer[0][1] <= received, (peer[0], sent, received)
# the soak's counter page (homed here) went back and forth: both nodes
# took it, and the last one's thread is one of its client's threads
hot = [struct.unpack_from("<QQQQII", b, 488 + 40 * i) for i in range(16)]
pg, gpa, transfers, nodebits, last, tid = hot[0]
assert transfers > 1 and nodebits == 3 and last in (0, 1), hot[0]
assert tid != 0 and os.path.exists("/proc/%s/task/%d" % (sys.argv[3 + last], tid)), (hot[0], sys.argv[3 + last])
print("ok", sum(faults), sent, received, peer[0][4])
EOF
	assert_success
	assert_output --regexp "^ok [1-9][0-9]* [1-9][0-9]* [1-9][0-9]* [1-9][0-9]*$"
	wait_all_pass 2
}

@test "pager: a ping-pong on one page: its home's hot table names the page, its guest address, both nodes, and each one's ping-pong thread as the last taker" {
	start_pagers 2
	start_clients 2 --threads 2 --tests pingpong --rounds 500 --soak-ms 3000
	wait_for_line "$AVM_RUNDIR/c0.log" "pingpong page gpa=" ||
		fail "client 0 never named its page"
	wait_for_line "$AVM_RUNDIR/c1.log" "pingpong: tid" ||
		fail "client 1 never started"
	sleep 1
	# 32M over two slots of 16M, the second at 4G: the middle page is
	# memfd page 4096, node 1's first, at guest address 0x100000000
	run grep -x "pingpong page gpa=0x100000000" "$AVM_RUNDIR/c0.log"
	assert_success
	local tids
	tids=$(sed -n 's/^node [01]: pingpong: tid \([0-9]*\)$/\1/p' \
		"$AVM_RUNDIR/c0.log" "$AVM_RUNDIR/c1.log" | paste -sd,)
	run python3 - "$AVM_RUNDIR/n1/v/pager-1.stats" "$tids" <<'EOF'
import struct, sys, time
def read(path):
    # a copy consistent under seq (offset 64): even and unchanged
    with open(path, "rb") as f:
        while True:
            b = f.read()
            f.seek(64)
            seq = f.read(8)
            f.seek(0)
            if struct.unpack_from("<Q", b, 64)[0] % 2 == 0 and seq == b[64:72]:
                return b
tids = [int(t) for t in sys.argv[2].split(",")]
assert len(tids) == 2, tids
seen = set()
for _ in range(200):
    b = read(sys.argv[1])
    assert struct.unpack_from("<QI", b) == (0x5453504d56415f41, 3)
    hot = [struct.unpack_from("<QQQQII", b, 488 + 40 * i) for i in range(16)]
    pg, gpa, transfers, nodebits, last, tid = hot[0]
    assert pg == 4096 and gpa & ~0xfff == 0x100000000, hot[0]
    assert transfers >= 100 and nodebits == 3 and last in (0, 1), hot[0]
    # the last taker's own ping-pong thread, whichever node it was
    assert tid == tids[last], (hot[0], tids)
    seen.add(last)
    if len(seen) == 2:
        break
    time.sleep(0.01)
assert seen == {0, 1}, seen
print("ok", transfers)
EOF
	assert_success
	assert_output --regexp "^ok [0-9]+$"
	wait_all_pass 2
	# strict turns: both sides counted the same rounds, at least 500
	local r0 r1
	r0=$(sed -n 's/^node 0: pingpong: \([0-9]*\) rounds, turn .*/\1/p' "$AVM_RUNDIR/c0.log")
	r1=$(sed -n 's/^node 1: pingpong: \([0-9]*\) rounds, turn .*/\1/p' "$AVM_RUNDIR/c1.log")
	[ -n "$r0" ] && [ "$r0" = "$r1" ] && [ "$r0" -ge 500 ] ||
		fail "rounds: node 0 '$r0', node 1 '$r1'"
	run cat "$AVM_RUNDIR/c0.log"
	assert_output --partial "pingpong: $r0 rounds, turn $((2 * r0 + 1))"
}

@test "pager: node 0 gathers the other nodes' stats into gathered/ while they run, and removes them at the end" {
	local i
	start_pagers 3
	start_clients 3 --threads 1 --tests soak --soak-ms 8000
	for i in 0 1 2; do
		wait_for_line "$AVM_RUNDIR/p$i.log" ready || fail "pager $i never got ready"
	done
	# node 1 has an avm-run (a run stats file of 2 vCPUs), node 2 none
	run python3 - "$AVM_RUNDIR" <<'EOF'
import os, struct, sys, time
d = sys.argv[1]
G = d + "/n0/v/gathered/"
MAGIC = 0x5453504d56415f41
def read(path):
    with open(path, "rb") as f:
        return f.read()
# run-1.stats: header of 136 bytes, then 2 vCPUs of 200
hdr = struct.pack("<QIIIIIIIIQQQQQQQ5Q", 0x5453524d56415f41, 1, 136 + 400,
                  1, 3, 2, 6, os.getpid(), 1, 32 << 20, 12345, 0, 4, 7, 8, 9,
                  0, 0, 0, 0, 0)
assert len(hdr) == 136
vcpus = b"".join(struct.pack("<IIII", 2 + i, 2 + i, 1000 + i, 1) +
                 struct.pack("<23Q", *range(1, 24)) for i in range(2))
run1 = hdr + vcpus
assert len(run1) == 136 + 400
tmp = d + "/n1/v/run-1.stats.tmp"
open(tmp, "wb").write(run1)
os.rename(tmp, d + "/n1/v/run-1.stats")
want = [G + "pager-1.stats", G + "pager-2.stats", G + "run-1.stats"]
t0 = time.time()
while not all(map(os.path.exists, want)):
    assert time.time() - t0 < 10, [os.path.exists(w) for w in want]
    time.sleep(0.1)
def pager(i):
    b = read(G + "pager-%d.stats" % i)
    magic, version, size, node, nodes = struct.unpack_from("<QIIII", b)
    assert (magic, version, size, len(b)) == (MAGIC, 3, 4288, 4288), (i, magic, version, size)
    assert (node, nodes) == (i, 3), (i, node, nodes)
    seq, gathered = struct.unpack_from("<Q", b, 64)[0], struct.unpack_from("<Q", b, 1128)[0]
    assert seq % 2 == 0 and gathered > 1.7e18, (i, seq, gathered)
    return gathered, struct.unpack_from("<6Q", b, 96)
first = [pager(i) for i in (1, 2)]
time.sleep(1.5)
second = [pager(i) for i in (1, 2)]
for (g0, f0), (g1, f1) in zip(first, second):
    assert g1 > g0, (g0, g1)
    assert all(b >= a for a, b in zip(f0, f1)), (f0, f1)
assert sum(second[0][1]) > 0 and sum(second[1][1]) > 0, second
# the run stats came as they were, with the time they came
r = read(G + "run-1.stats")
assert len(r) == len(run1) and r[:56] == run1[:56] and r[64:] == run1[64:], len(r)
assert struct.unpack_from("<Q", r, 56)[0] > 1.7e18
assert not os.path.exists(G + "run-2.stats")
# node 1's avm-run is gone: so goes its copy
os.unlink(d + "/n1/v/run-1.stats")
t0 = time.time()
while os.path.exists(G + "run-1.stats"):
    assert time.time() - t0 < 10, "gathered/run-1.stats stays"
    time.sleep(0.1)
assert os.path.exists(G + "pager-1.stats")
print("gathered", second[0][1][2] + second[0][1][3], second[1][1][2] + second[1][1][3])
EOF
	[ "$status" = 0 ] || cat "$AVM_RUNDIR"/p*.log >&2
	assert_success
	assert_output --regexp "^gathered [0-9]+ [0-9]+$"
	[ -d "$AVM_RUNDIR/n0/v/gathered" ] || fail "no gathered folder while running"
	run stat -c %a "$AVM_RUNDIR/n0/v/gathered"
	assert_output 755
	# the others keep none
	[ ! -e "$AVM_RUNDIR/n1/v/gathered" ] && [ ! -e "$AVM_RUNDIR/n2/v/gathered" ] ||
		fail "a node other than 0 made a gathered folder"
	wait_all_pass 3
	[ ! -e "$AVM_RUNDIR/n0/v/gathered" ] || fail "the gathered folder outlived the pager"
}

# kill_mid_run N pager|client I: the others report node I and exit 69
# within the deadline.
kill_mid_run() {
	local n=$1 what=$2 victim=$3 i rc t0 t1 pid
	start_pagers "$n"
	start_clients "$n" --threads 2 --tests soak --soak-ms 60000
	# wait until every pager answered its client (they print "ready")
	for ((i = 0; i < n; i++)); do
		timeout 60 sh -c "until grep -q ready '$AVM_RUNDIR/p$i.log'; do sleep 0.1; done" ||
			fail "pager $i never got ready"
	done
	sleep 1
	if [ "$what" = pager ]; then
		pid=${PPIDS[$victim]}
	else
		pid=${CPIDS[$victim]}
	fi
	kill -9 "$pid"
	t0=$(date +%s%N)
	for ((i = 0; i < n; i++)); do
		for pid in "${CPIDS[$i]}" "${PPIDS[$i]}"; do
			[ "$pid" = "${PPIDS[$victim]}" ] && [ "$what" = pager ] && continue
			[ "$pid" = "${CPIDS[$victim]}" ] && [ "$what" = client ] && continue
			rc=0
			# a generous outer bound; the check is the 5 s below
			timeout 30 tail --pid="$pid" -f /dev/null || true
			wait "$pid" || rc=$?
			[ "$rc" = 69 ] || {
				cat "$AVM_RUNDIR"/*.log >&2
				fail "pid $pid (node $i) exited $rc, not 69"
			}
		done
	done
	t1=$(date +%s%N)
	echo "# survivors exited after $(((t1 - t0) / 1000000)) ms" >&3
	[ $(((t1 - t0) / 1000000)) -le 5000 ] ||
		fail "survivors took $(((t1 - t0) / 1000000)) ms, more than 5 s"
	for ((i = 0; i < n; i++)); do
		if [ "$i" != "$victim" ]; then
			run cat "$AVM_RUNDIR/c$i.log" "$AVM_RUNDIR/p$i.log"
			assert_output --partial "node $victim failed"
		fi
	done
}

@test "pager: killing a pager of 3 stops every other process, naming it" {
	kill_mid_run 3 pager 1
}

@test "pager: killing a client of 4 stops every other process, naming it" {
	kill_mid_run 4 client 2
}

@test "pager: killing node 0's pager of 2" {
	kill_mid_run 2 pager 0
}

@test "pager: a frozen peer is dead after --dead-ms, the one link deadline" {
	local rc=0
	start_pagers 2 --dead-ms 1500
	start_clients 2 --threads 1 --tests soak --soak-ms 60000
	for i in 0 1; do
		timeout 60 sh -c "until grep -q ready '$AVM_RUNDIR/p$i.log'; do sleep 0.1; done" ||
			fail "pager $i never got ready"
	done
	kill -STOP "${PPIDS[1]}"
	timeout 30 tail --pid="${PPIDS[0]}" -f /dev/null || true
	wait "${PPIDS[0]}" || rc=$?
	kill -CONT "${PPIDS[1]}"
	[ "$rc" = 69 ] || { cat "$AVM_RUNDIR"/p0.log >&2; fail "pager 0 exited $rc, not 69"; }
	run cat "$AVM_RUNDIR/p0.log"
	assert_output --regexp "node 1 failed: silent for [0-9]+ ms \(deadline 1500 ms\)"
}

@test "pager: a peer with the wrong secret is refused" {
	local bad=$AVM_RUNDIR/bad rc=0
	head -c 32 /dev/urandom >"$bad"
	chmod 600 "$bad"
	PEERS=$(free_peers 2)
	mkdir -p "$AVM_RUNDIR/n0" "$AVM_RUNDIR/n1"
	AVM_RUNDIR=$AVM_RUNDIR/n0 avm-pager --vm v --memory 32M --node 0 \
		--nodes 2 --peers "$PEERS" --secret "$SECRET" \
		--connect-timeout-ms 20000 >"$AVM_RUNDIR/p0.log" 2>&1 &
	PIDS+=($!)
	AVM_RUNDIR=$AVM_RUNDIR/n1 run timeout 30 avm-pager --vm v \
		--memory 32M --node 1 --nodes 2 --peers "$PEERS" --secret "$bad"
	assert_failure 77
	assert_output --partial "wrong secret"
	# node 0 logs the refusal with the peer's address
	timeout 20 sh -c "until grep -q 'refused 127.0.0.1:' '$AVM_RUNDIR/p0.log'; do sleep 0.1; done" ||
		{ cat "$AVM_RUNDIR/p0.log" >&2; fail "no refusal logged"; }
	run cat "$AVM_RUNDIR/p0.log"
	assert_output --regexp "refused 127\.0\.0\.1:[0-9]+: node 1: .*authentication failed"
}

@test "pager: a secret file others may read is refused" {
	chmod 644 "$SECRET"
	run avm-pager --vm v --memory 32M --node 0 --nodes 2 \
		--peers 127.0.0.1:1,127.0.0.1:2 --secret "$SECRET"
	assert_failure 77
	assert_output --partial "chmod 600"
}

@test "pager: malformed frames from a raw peer are refused" {
	PEERS=$(free_peers 2)
	AVM_RUNDIR=$AVM_RUNDIR avm-pager --vm v --memory 32M --node 0 \
		--nodes 2 --peers "$PEERS" --secret "$SECRET" \
		--connect-timeout-ms 30000 >"$AVM_RUNDIR/p0.log" 2>&1 &
	PIDS+=($!)
	local port=${PEERS%%,*}
	port=${port##*:}
	run python3 - "$port" <<'EOF'
import socket, struct, sys, time
port = int(sys.argv[1])
def talk(data):
    for _ in range(100):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            time.sleep(0.1)
    s.sendall(data)
    got = b""
    s.settimeout(10)
    while True:
        try:
            b = s.recv(4096)
        except ConnectionResetError:
            break  # closed on unread data: a close all the same
        # socket.timeout propagates: a link left open fails the test
        if not b:
            break
        got += b
    s.close()
    return got
# garbage, an unknown type, a HELLO with a bad magic, a huge length
for data in (b"\xff" * 64,
             struct.pack("<HHIQ", 999, 0, 0, 1),
             struct.pack("<HHIQ", 1, 0, 84, 0) + b"XXXX" + b"\0" * 80,
             struct.pack("<HHIQ", 1, 0, 1 << 30, 0)):
    got = talk(data)
    # the pager's HELLO, then its refusal (WELCOME with REPLY|ERROR) or
    # nothing more, then the close (above): never a link
    assert len(got) >= 16 and got[:2] == b"\x01\x00", got
print("refused")
EOF
	assert_success
	assert_output "refused"
	# one refusal logged for each of the four
	timeout 10 sh -c "until [ \$(grep -c 'refused 127.0.0.1:' '$AVM_RUNDIR/p0.log') -ge 4 ]; do sleep 0.1; done" ||
		{ cat "$AVM_RUNDIR/p0.log" >&2; fail "not four refusals"; }
	run grep -c "refused 127.0.0.1:" "$AVM_RUNDIR/p0.log"
	assert_output 4
	# the pager is still there and still waiting for node 1
	kill -0 "${PIDS[0]}"
}

@test "pager: a second pager of the same VM exits 75 and leaves the first one's socket" {
	avm-pager --vm v --memory 32M >"$AVM_RUNDIR/p0.log" 2>&1 &
	PIDS+=($!)
	timeout 10 sh -c "until [ -S '$AVM_RUNDIR/v/pager.sock' ]; do sleep 0.1; done"
	local pid=$!
	run avm-pager --vm v --memory 32M
	assert_failure 75
	assert_output --partial "vm 'v' node 0: another avm-pager holds"
	[ -S "$AVM_RUNDIR/v/pager.sock" ] || fail "the first pager's pager.sock is gone"
	# its stats file is the first pager's still, not truncated
	run python3 -c 'import struct, sys; b = open(sys.argv[1], "rb").read(); print(struct.unpack_from("<QIIIIIIII", b)[8])' "$AVM_RUNDIR/v/pager-0.stats"
	assert_output "$pid"
	run timeout 60 avm-pager-client --vm v --memory 32M --node 0 --nodes 1 \
		--threads 1 --tests mp --rounds 100
	assert_success
}

@test "pager: a VM folder others may write, or another user's, is refused with 77" {
	mkdir -m 777 "$AVM_RUNDIR/v"
	run avm-pager --vm v --memory 32M
	assert_failure 77
	assert_output --partial "is writable by group or others (mode 0777): chmod go-w"
	run find "$AVM_RUNDIR/v" -mindepth 1
	assert_output ""
	chmod 700 "$AVM_RUNDIR/v"
	chown 65534 "$AVM_RUNDIR/v"
	run avm-pager --vm v --memory 32M
	assert_failure 77
	assert_output --partial "belongs to uid 65534, not to us"
	rm -rf "$AVM_RUNDIR/v"
	ln -s /tmp "$AVM_RUNDIR/v"
	run avm-pager --vm v --memory 32M
	assert_failure 77
	assert_output --partial "is not a directory"
}

@test "pager: node 0's gathered folder is trusted as the VM's: a link or a folder others may write is refused with 77" {
	local peers
	peers=$(free_peers 2)
	mkdir -m 700 "$AVM_RUNDIR/v" "$AVM_RUNDIR/elsewhere"
	echo precious >"$AVM_RUNDIR/elsewhere/pager-1.stats"
	ln -s "$AVM_RUNDIR/elsewhere" "$AVM_RUNDIR/v/gathered"
	run avm-pager --vm v --memory 32M --node 0 --nodes 2 --peers "$peers" \
		--secret "$SECRET"
	assert_failure 77
	assert_output --partial "'$AVM_RUNDIR/v/gathered' is not a directory"
	run cat "$AVM_RUNDIR/elsewhere/pager-1.stats"
	assert_output "precious"
	rm "$AVM_RUNDIR/v/gathered"
	mkdir -m 777 "$AVM_RUNDIR/v/gathered"
	chmod 777 "$AVM_RUNDIR/v/gathered"
	run avm-pager --vm v --memory 32M --node 0 --nodes 2 --peers "$peers" \
		--secret "$SECRET"
	assert_failure 77
	assert_output --partial "is writable by group or others (mode 0777)"
	# nothing of the pager's is left
	run find "$AVM_RUNDIR/v" -mindepth 1 ! -type d
	assert_output ""
	# --stats-ms 0: node 0 keeps no copies and makes no folder
	rmdir "$AVM_RUNDIR/v/gathered"
	run avm-pager --vm v --memory 32M --node 0 --nodes 2 --peers "$peers" \
		--secret "$SECRET" --stats-ms 0 --connect-timeout-ms 300
	assert_failure 69
	[ ! -e "$AVM_RUNDIR/v/gathered" ] || fail "a gathered folder with --stats-ms 0"
	run avm-pager --vm v --memory 32M --stats-ms 50
	assert_failure 64
	assert_output --partial "--stats-ms: 50 is below 100"
}

@test "pager: a stats file planted as a symbolic link is not followed" {
	mkdir -m 700 "$AVM_RUNDIR/v"
	echo precious >"$AVM_RUNDIR/victim"
	ln -s "$AVM_RUNDIR/victim" "$AVM_RUNDIR/v/pager-0.stats"
	run avm-pager --vm v --memory 32M
	assert_failure 73
	assert_output --partial "create '$AVM_RUNDIR/v/pager-0.stats'"
	run cat "$AVM_RUNDIR/victim"
	assert_output "precious"
}

@test "pager: a full run directory gives 73 at once, not a SIGBUS, and leaves nothing" {
	requires root
	local fs=$BATS_TEST_TMPDIR/full
	mkdir -p "$fs"
	mount -t tmpfs -o size=64k tmpfs "$fs"
	dd if=/dev/zero of="$fs/fill" bs=4k 2>/dev/null || true
	AVM_RUNDIR=$fs/rd run timeout 20 avm-pager --vm v --memory 32M
	local st=$status out=$output
	run find "$fs/rd" -mindepth 1 ! -type d
	local left=$output
	umount "$fs"
	[ "$st" = 73 ] || fail "exit $st, not 73: $out"
	[[ $out == *"pager-0.stats': No space left on device"* ]] || fail "$out"
	[ -z "$left" ] || fail "left behind: $left"
}

@test "pager: bad options exit 64" {
	run avm-pager --memory 32M
	assert_failure 64
	run avm-pager --vm v --memory 3000
	assert_failure 64
	run avm-pager --vm v --memory 32M --nodes 2
	assert_failure 64
	assert_output --partial "--peers"
	run avm-pager --vm v --memory 32M --nodes 2 --node 2 --peers a:1,b:2
	assert_failure 64
	run -64 avm-pager --vm v --memory 32M --zero-block 0
	assert_line --partial "--zero-block: '0' is not a number of pages in 1..512"
	run -64 avm-pager --vm v --memory 32M --zero-block 513
	run -64 avm-pager --vm v --memory 32M --prefetch 257
	assert_line --partial "--prefetch: '257' is not a number of pages in 0..256"
	run -64 avm-pager --vm v --memory 32M --poll-us 1001
	assert_line --partial "--poll-us: '1001' is not a number of microseconds in 0..1000"
}

@test "pager: a client with the wrong layout is refused" {
	avm-pager --vm v --memory 32M >"$AVM_RUNDIR/p0.log" 2>&1 &
	PIDS+=($!)
	run timeout 60 avm-pager-client --vm v --memory 16M --node 0 --nodes 1
	assert_failure 69
	assert_output --partial "pager refused"
}

@test "pager: --json's ready line is JSON even for a run directory with quotes" {
	local dir=$AVM_RUNDIR/q\"\\b
	mkdir -p "$dir"
	AVM_RUNDIR=$dir avm-pager --vm v --memory 32M --json \
		>"$AVM_RUNDIR/p0.out" 2>"$AVM_RUNDIR/p0.log" &
	PPIDS=($!)
	PIDS+=($!)
	AVM_RUNDIR=$dir avm-pager-client --timeout-ms 60000 --vm v \
		--memory 32M --node 0 --nodes 1 --threads 1 --tests xadd \
		--iters 100 >"$AVM_RUNDIR/c0.log" 2>&1 &
	CPIDS=($!)
	PIDS+=($!)
	wait_all_pass 1
	run head -n 1 "$AVM_RUNDIR/p0.out"
	jq -e --arg stats "$dir/v/pager-0.stats" \
		'.vm == "v" and .node == 0 and .nodes == 1 and
		 .home_first_page == 0 and .home_pages == 8192 and
		 .stats == $stats' <<<"$output" ||
		fail "not the ready line: $output"
}

# touch_run ZB: one pager (--zero-block ZB) and a client that writes
# every page of its home once (--bench touch), then stays until $GO;
# prints node 0's zero-fill faults and pages held exclusive.
touch_run() {
	GO=$BATS_TEST_TMPDIR/go
	rm -f "$GO" "$AVM_RUNDIR/c0.log"
	start_pagers 1 --zero-block "$1"
	start_clients 1 --bench touch --linger-until "$GO"
	for ((k = 0; k < 600; k++)); do
		grep -q plain_touch_ns "$AVM_RUNDIR/c0.log" && break
		sleep 0.1
	done
	AVM_RUNDIR=$AVM_RUNDIR/n0 avm-top -j -1 v |
		jq -r '.nodes[0] | "\(.faults.zero) \(.pages_owned) \(.zero_block_pages)"'
	touch "$GO"
	wait "${CPIDS[0]}"
	wait "${PPIDS[0]}"
}

@test "pager: a first touch of never-touched home memory maps its whole 2 MiB block at once (--zero-block 1: a page a fault)" {
	# 32M: 8192 home pages, the client writes the 7168 past its variables
	out=$(touch_run 512)
	read -r zero owned block <<<"$out"
	echo "zero-fill faults $zero, pages owned $owned, by blocks $block"
	[ "$zero" -ge 14 ] && [ "$zero" -le 40 ]
	[ "$owned" -ge 7168 ] && [ "$block" -ge 7168 ]
	out=$(touch_run 1)
	read -r zero owned block <<<"$out"
	echo "zero-fill faults $zero, pages owned $owned, by blocks $block"
	[ "$zero" -ge 7168 ]
	[ "$owned" -ge 7168 ] && [ "$block" = 0 ]
}
