# Pagers on loopback with the test client (tests/helpers/avm-pager-client.c)
# as each node's guest: a real multi-node memory system without KVM.
# Node i gets its own run directory ($AVM_RUNDIR/nI), as on its own host.
# The caller's setup() calls pagers_setup, its teardown() kill_started.

# A run directory, the VM's secret in $SECRET, no process started yet.
pagers_setup() {
	setup_rundir
	command -v avm-pager-client >/dev/null ||
		skip_or_fail "build/tests/helpers/avm-pager-client is not built"
	SECRET=$AVM_RUNDIR/secret
	head -c 32 /dev/urandom >"$SECRET"
	chmod 600 "$SECRET"
	PIDS=()
}

# N free TCP ports on loopback, comma-joined as 127.0.0.1:PORT.
free_peers() {
	python3 - "$1" <<'PY'
import socket, sys
socks, out = [], []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
    out.append("127.0.0.1:%d" % s.getsockname()[1])
print(",".join(out))
PY
}

# start_pagers N [extra pager options]; VM name: $VM (default v).
start_pagers() {
	local n=$1 i
	shift
	PEERS=$(free_peers "$n")
	PPIDS=()
	for ((i = 0; i < n; i++)); do
		mkdir -p "$AVM_RUNDIR/n$i"
		AVM_RUNDIR=$AVM_RUNDIR/n$i avm-pager --vm "${VM:-v}" \
			--memory "${MEM:-32M}" --node $i --nodes $n --peers "$PEERS" \
			--secret "$SECRET" "$@" \
			>"$AVM_RUNDIR/p${VM:+$VM.}$i.log" 2>&1 &
		PPIDS[$i]=$!
		PIDS+=($!)
	done
}

# start_clients N [client options]
start_clients() {
	local n=$1 i
	shift
	CPIDS=()
	for ((i = 0; i < n; i++)); do
		AVM_RUNDIR=$AVM_RUNDIR/n$i avm-pager-client --timeout-ms 240000 \
			--vm "${VM:-v}" --memory "${MEM:-32M}" --node $i --nodes $n "$@" \
			>"$AVM_RUNDIR/c${VM:+$VM.}$i.log" 2>&1 &
		CPIDS[$i]=$!
		PIDS+=($!)
	done
}

# wait_exit PID STATUS WHAT: the process ends with that status.
wait_exit() {
	local rc=0
	wait "$1" || rc=$?
	[ "$rc" = "$2" ] || fail "$3 exited $rc, not $2"
}

kill_started() {
	local p
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null || true
	done
}

# wait_all_pass N: every client and pager exits 0, every client says
# PASS, and each node's run directory holds no file (a clean end removes
# what it made: socket, stats, lock).
wait_all_pass() {
	local n=$1 i rc
	for ((i = 0; i < n; i++)); do
		rc=0
		wait "${CPIDS[$i]}" || rc=$?
		if [ "$rc" != 0 ]; then
			cat "$AVM_RUNDIR"/c*.log "$AVM_RUNDIR"/p*.log >&2
			fail "client $i exited $rc"
		fi
	done
	for ((i = 0; i < n; i++)); do
		rc=0
		wait "${PPIDS[$i]}" || rc=$?
		[ "$rc" = 0 ] || {
			cat "$AVM_RUNDIR/p${VM:+$VM.}$i.log" >&2
			fail "pager $i exited $rc"
		}
		run cat "$AVM_RUNDIR/c${VM:+$VM.}$i.log"
		assert_output --partial "node $i: PASS"
		refute_output --partial "FAIL"
		# a clean end removes what it made: socket, stats, lock
		# (with $VM set, that VM's folder: other VMs may still run)
		if [ -d "$AVM_RUNDIR/n$i${VM:+/$VM}" ]; then
			run find "$AVM_RUNDIR/n$i${VM:+/$VM}" -mindepth 1 ! -type d
			assert_output ""
		fi
	done
}
