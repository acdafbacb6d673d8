# Sourced by the pager benchmarks: N pagers on loopback, each with its own
# run directory under $WORK (as on its own host), and the test client in
# a bench mode as each node's guest.  The caller sets TOP, WORK (made by
# mktemp -d), MEM and COUNT; what the benchmark starts and WORK go at
# the end.
PIDS=
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
head -c 32 /dev/urandom >"$WORK/secret"
chmod 600 "$WORK/secret"
PAGER=$TOP/bin/avm-pager
CLIENT=$TOP/build/tests/helpers/avm-pager-client

free_peers() {
	python3 -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(",".join("127.0.0.1:%d" % x.getsockname()[1] for x in s))' "$1"
}

# run N MODE: N pagers (with $PAGER_ARGS) and N clients in bench MODE (or
# soak: the soak test for $SOAK_MS, default 8000); the clients' output
# (key=value) on stdout.  With WATCH set, the command in it runs once
# node 0's stats file is there, as long as the clients do.
run() {
	n=$1 mode=$2 i=0
	peers=$(free_peers "$n")
	rm -rf "$WORK"/n*
	while [ $i -lt "$n" ]; do
		mkdir -p "$WORK/n$i"
		AVM_RUNDIR=$WORK/n$i "$PAGER" --vm b --memory $MEM --node $i \
			--nodes "$n" --peers "$peers" --secret "$WORK/secret" \
			${PAGER_ARGS:-} >"$WORK/p$i.log" 2>&1 &
		PIDS="$PIDS $!"
		i=$((i + 1))
	done
	i=0 cp=
	case $mode in
	soak) cargs="--tests soak --soak-ms ${SOAK_MS:-8000}" ;;
	*) cargs="--bench $mode --count $COUNT" ;;
	esac
	while [ $i -lt "$n" ]; do
		AVM_RUNDIR=$WORK/n$i "$CLIENT" --vm b --memory $MEM --node $i \
			--nodes "$n" $cargs >"$WORK/c$i.log" 2>&1 &
		cp="$cp $!"
		i=$((i + 1))
	done
	wp=
	if [ -n "${WATCH:-}" ]; then
		i=0
		while [ ! -s "$WORK/n0/b/pager-0.stats" ] && [ $i -lt 500 ]; do
			sleep 0.01
			i=$((i + 1))
		done
		AVM_RUNDIR=$WORK/n0 $WATCH >/dev/null 2>&1 &
		wp=$!
		PIDS="$PIDS $wp"
	fi
	for p in $cp; do wait "$p" || true; done
	if [ -n "$wp" ]; then
		kill "$wp" 2>/dev/null || true
		wait "$wp" 2>/dev/null || true
	fi
	cat "$WORK"/c*.log
}

val() { sed -n "s/^$1=//p" | head -1; }
