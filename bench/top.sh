#!/bin/sh
# bench/top.sh: does watching a VM slow it down?  The same workloads with
# and without `avm-top -d 0.1` watching, alternated, in one run, the
# medians side by side with the limit (1%).  avm-top only reads stats
# files, so the cost it can add is CPU time taken from the VM's threads
# (on this 2-core host, any process running takes CPU from them).
#   - pagers alone (no KVM needed): 2 pagers on loopback with the test
#     client as guest: one page ping-ponged between the nodes, and remote
#     write misses;
#   - under KVM: the guest kit's atomic (a shared lock xadd) and memtouch
#     on 2 nodes (avm-run --nodes 2).
# Numbers, never pass/fail.   sh bench/top.sh [RUNS]   (default 5)
set -eu
TOP=${AVM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
RUNS=${1:-5}
MEM=64M
COUNT=${COUNT:-4000}
WORK=$(mktemp -d /tmp/avm-bench-top.XXXXXX)
. "$TOP/bench/lib-pagers.sh"

median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "";
		else if (NR % 2) print v[(NR + 1) / 2];
		else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

WATCHER="$TOP/bin/avm-top -b -d 0.1 b"
i=0
while [ $i -lt "$RUNS" ]; do
	i=$((i + 1))
	WATCH= run 2 pingpong | val pingpong_transfers_per_s >>"$WORK/pp0"
	WATCH=$WATCHER run 2 pingpong | val pingpong_transfers_per_s >>"$WORK/pp1"
	WATCH= run 2 write | val remote_write_miss_ns >>"$WORK/w0"
	WATCH=$WATCHER run 2 write | val remote_write_miss_ns >>"$WORK/w1"
done

# row NAME WITHOUT WITH HIGHER_IS_BETTER: slowdown in % (+ is slower)
row() {
	printf '%-44s %12s %12s %9s %6s\n' "$1" "$2" "$3" \
		"$(awk -v a="$2" -v b="$3" -v hib="$4" 'BEGIN {
			if (a <= 0 || b <= 0) { print "n/a"; exit }
			s = hib ? (a / b - 1) * 100 : (b / a - 1) * 100
			printf "%+.1f%%", s }')" "1%"
}

echo "avm-top's cost to a watched VM ($(nproc) CPUs; medians of $RUNS runs each, alternated)"
printf '%-44s %12s %12s %9s %6s\n' "" "unwatched" "watched" "slowdown" "limit"
row "pagers: page ping-pong, 2 nodes, transfers/s" \
	"$(median <"$WORK/pp0")" "$(median <"$WORK/pp1")" 1
row "pagers: remote write miss, 2 nodes, ns" \
	"$(median <"$WORK/w0")" "$(median <"$WORK/w1")" 0

# What avm-top itself takes: CPU time over wall time while it watches 2
# busy pagers 50 frames at -d 0.1 (a share of one CPU), once it sees the
# VM (a run that did not watch for its whole length says n/a).
SOAK_MS=10000 WATCH= run 2 soak >/dev/null &
rp=$!
i=0
until AVM_RUNDIR=$WORK/n0 "$TOP/bin/avm-top" -j -1 -d 0.05 b >/dev/null 2>&1 ||
	[ $i -ge 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
cpu=$(AVM_RUNDIR=$WORK/n0 python3 -c '
import os, subprocess, sys, time
t = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, st, ru = os.wait4(p.pid, 0)  # this child alone, not the shims before
w = time.monotonic() - t
print("%.2f" % (100 * (ru.ru_utime + ru.ru_stime) / w)
      if os.waitstatus_to_exitcode(st) == 0 and w > 4 else "n/a")' \
	"$TOP/bin/avm-top" -b -n 50 -d 0.1 b)
wait $rp || true
printf '%-44s %12s %12s %9s %6s\n' "avm-top -b -d 0.1: its CPU, % of one CPU" \
	"" "$cpu" "" ""

if [ ! -c /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "(guest kit under KVM: not measured, this host has no /dev/kvm)"
	exit 0
fi

# vm OUT PROG ARGS WATCH: one 2-node VM of the guest kit.
vm() {
	AVM_RUNDIR=$WORK/run timeout 180 "$TOP/bin/avm-run" --name b \
		--nodes 2 --vcpus 2 --memory 128M \
		--kernel "$TOP/build/guest/$2.elf" --append "$3" \
		</dev/null >>"$WORK/$1" 2>&1 &
	vp=$!
	wp=
	if [ "$4" = 1 ]; then
		i=0
		while [ ! -s "$WORK/run/b/run-0.stats" ] && [ $i -lt 1000 ]; do
			sleep 0.01
			i=$((i + 1))
		done
		AVM_RUNDIR=$WORK/run "$TOP/bin/avm-top" -b -d 0.1 b \
			>/dev/null 2>&1 &
		wp=$!
	fi
	wait "$vp" || echo "$1: avm-run exit $?" >&2
	[ -z "$wp" ] || { kill "$wp" 2>/dev/null; wait "$wp" 2>/dev/null; } || true
}

mkdir -p "$WORK/run"
i=0
while [ $i -lt "$RUNS" ]; do
	i=$((i + 1))
	vm xadd0 atomic "" 0
	vm xadd1 atomic "" 1
	vm mem0 memtouch "mem=64M" 0
	vm mem1 memtouch "mem=64M" 1
done
xadd() { sed -n 's/.*xadd \([0-9]*\) cycles\/op.*/\1/p' "$WORK/$1" | median; }
memw() { sed -n 's/.*write \([0-9]*\) MiB\/s.*/\1/p' "$WORK/$1" | median; }
row "guest kit atomic, 2 nodes, cycles/op" "$(xadd xadd0)" "$(xadd xadd1)" 0
row "guest kit memtouch, 2 nodes, write MiB/s" "$(memw mem0)" "$(memw mem1)" 1
