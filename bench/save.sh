#!/bin/bash
# bench/save.sh: saving guest memory into a snapshot and restoring it,
# with pagers on loopback and the test client as each node's guest (no
# KVM): a 512 MiB guest with half its memory written (the mixed pattern:
# a quarter of the pages random, a quarter counters, half never touched),
# on 1 and 2 nodes.  Against, in the same run: zlib alone compressing the
# same bytes on one thread at the same level (what the save must do at
# least), and the disk's own write rate (dd with fdatasync, same folder).
#   - save: avm-snapgen --from-pagers, as avm-run will ask (PG_SAVE):
#     every node fetches what it is home of and writes its part file; the
#     VM stays paused for all of it, so the save time is the pause;
#   - restore: avm-pager --restore of that snapshot, lazy and --eager:
#     once the pagers are up (the snapshot opened and its chunk index
#     read), from the clients' start to READY, when a guest could run
#     its first instruction (the clients say it: --tests idle).
# Numbers, never pass/fail.   bash bench/save.sh   (MEM=512M, LEVEL=6)
set -eu
TOP=${AVM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
MEM=${MEM:-512M}
LEVEL=${LEVEL:-6}
WORK=$(mktemp -d /tmp/avm-bench-save.XXXXXX)
# shellcheck source=lib-pagers.sh
. "$TOP/bench/lib-pagers.sh"
SNAPGEN=$TOP/build/tests/helpers/avm-snapgen
mib=$(python3 -c "import sys; print(int(sys.argv[1][:-1]) * {'M': 1, 'G': 1024}[sys.argv[1][-1]])" "$MEM")

# pagers N [pager options]: N pagers of VM b, each in $WORK/nI.
pagers() {
	n=$1 i=0
	shift
	peers=$(free_peers "$n")
	rm -rf "$WORK"/n* "$WORK/go"
	while [ $i -lt "$n" ]; do
		mkdir -p "$WORK/n$i"
		AVM_RUNDIR=$WORK/n$i "$PAGER" --vm b --memory "$MEM" --node $i \
			--nodes "$n" --peers "$peers" --secret "$WORK/secret" \
			--stats-ms 0 "$@" >"$WORK/p$i.log" 2>&1 &
		PIDS="$PIDS $!"
		i=$((i + 1))
	done
}

# clients N ARGS: N clients, staying until $WORK/go exists.
clients() {
	n=$1 i=0
	shift
	CP=
	while [ $i -lt "$n" ]; do
		AVM_RUNDIR=$WORK/n$i "$CLIENT" --vm b --memory "$MEM" --node $i \
			--nodes "$n" --timeout-ms 600000 --linger-until "$WORK/go" \
			"$@" >"$WORK/c$i.log" 2>&1 &
		CP="$CP $!"
		PIDS="$PIDS $!"
		i=$((i + 1))
	done
}

wait_for() { # FILE TEXT
	k=0
	until grep -q "$2" "$1" 2>/dev/null; do
		sleep 0.05
		k=$((k + 1))
		[ $k -lt 6000 ] || { echo "bench/save.sh: no '$2' in $1" >&2; cat "$1" >&2; exit 1; }
	done
}

finish() { # the clients detach, the pagers end
	touch "$WORK/go"
	for p in $CP; do wait "$p" || true; done
	sleep 0.2
}

# save N: seconds the save of N nodes took, the snapshot in $WORK/sN.snap.
save_n() {
	n=$1
	pagers "$n"
	clients "$n" --threads 2 --tests write-pattern --pattern mixed --seed 3
	wait_for "$WORK/c0.log" "write-pattern: written"
	if ! AVM_RUNDIR=$WORK/n0 "$SNAPGEN" --from-pagers --vm b \
		--memory "$MEM" --nodes "$n" --vcpus "$n" --level "$LEVEL" \
		"$WORK/s$n.snap" >"$WORK/save$n.out" 2>&1; then
		cat "$WORK/save$n.out" >&2
		finish
		echo n/a
		return
	fi
	finish
	sed -n 's/^saved from the pagers: .*, \([0-9.]*\) s$/\1/p' "$WORK/save$n.out"
}

# restore N SNAP [--eager]: ms from the pagers' start to READY (node 0).
restore_n() {
	n=$1 snap=$2
	shift 2
	[ -f "$snap" ] || { echo n/a; return; }
	pagers "$n" --restore "$snap" "$@"
	# the processes up (the snapshot opened, its index read), then the
	# clients: from their start to READY
	i=0
	while [ $i -lt "$n" ]; do
		k=0
		until [ -S "$WORK/n$i/b/pager.sock" ] || [ $k -ge 3000 ]; do
			sleep 0.01
			k=$((k + 1))
		done
		i=$((i + 1))
	done
	clients "$n" --tests idle
	wait_for "$WORK/c0.log" "ready in"
	finish
	sed -n 's/^node 0: ready in \([0-9.]*\) ms$/\1/p' "$WORK/c0.log"
}

s1=$(save_n 1)
s2=$(save_n 2)
l1=$(restore_n 1 "$WORK/s1.snap")
e1=$(restore_n 1 "$WORK/s1.snap" --eager)
l2=$(restore_n 2 "$WORK/s2.snap")
e2=$(restore_n 2 "$WORK/s2.snap" --eager)
stored=$(cat "$WORK"/s1.snap* 2>/dev/null | wc -c)

# zlib alone: the same kinds of pages (random, counters; the zero half
# is skipped by the saver too), in 256-page chunks, one thread.
zlib_s=$(python3 - "$mib" "$LEVEL" <<'EOF'
import array, os, sys, time, zlib
pages, level = int(sys.argv[1]) * 256, int(sys.argv[2])
chunk, t = [], 0.0
def flush():
    global chunk, t
    if chunk:
        b = b"".join(chunk)
        t0 = time.perf_counter()
        zlib.compress(b, level)
        t += time.perf_counter() - t0
    chunk = []
for p in range(pages):
    if p % 4 == 1:
        chunk.append(array.array("Q", range(p * 4096, p * 4096 + 4096, 8)).tobytes())
    elif p % 4 == 2:
        chunk.append(os.urandom(4096))
    if p % 256 == 255:
        flush()
flush()
print("%.3f" % t)
EOF
)
# the disk: the same folder, as much as the snapshot holds, fdatasync
disk=$(dd if=/dev/urandom of="$WORK/dd.tmp" bs=1M count=$((stored / 1048576 + 1)) iflag=fullblock 2>/dev/null && \
	dd if="$WORK/dd.tmp" of="$WORK/dd.out" bs=1M conv=fdatasync 2>&1 | \
	sed -n 's/.* s, \([0-9.]*\) \([MG]\)B\/s$/\1 \2/p' | \
	awk '{ print $2 == "G" ? $1 * 1000 : $1 }')
rm -f "$WORK/dd.tmp" "$WORK/dd.out"

r() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
rate() { awk -v m="$mib" -v s="$1" 'BEGIN { if (s > 0) printf "%.0f", m / s; else print "n/a" }'; }

echo "avm-pager save and restore: $MEM guest RAM, half written, zlib level $LEVEL ($(nproc) CPUs, pagers on loopback, no KVM)"
printf '%-52s %10s %10s %10s\n' "" "1 node" "2 nodes" "limit"
printf '%-52s %10s %10s %10s\n' "save time (the VM is paused all of it), s" "$s1" "$s2" ""
printf '%-52s %10s %10s %10s\n' "save rate, MiB/s of guest RAM" "$(rate "$s1")" "$(rate "$s2")" ""
printf '%-52s %10s %10s %10s\n' "zlib alone on the same pages, one thread, s" "$zlib_s" "" ""
printf '%-52s %10s %10s %10s\n' "save time / zlib's time" "$(r "$s1" "$zlib_s")" "$(r "$s2" "$zlib_s")" "1.5"
printf '%-52s %10s %10s %10s\n' "snapshot size, MiB" "$((stored / 1048576))" "" ""
printf '%-52s %10s %10s %10s\n' "disk write rate (dd, fdatasync), MB/s" "$disk" "" ""
printf '%-52s %10s %10s %10s\n' "restore: client start to READY, lazy, ms" "$l1" "$l2" "50"
printf '%-52s %10s %10s %10s\n' "restore: client start to READY, --eager, ms" "$e1" "$e2" ""
