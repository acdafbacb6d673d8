#!/bin/sh
# One VM over several nodes on this host (avm-run --nodes N), against
# the same guest on one node: what crossing nodes costs, measured inside
# the guest with rdtsc.  Numbers, never pass/fail; on a 2-core host every
# node's vCPU and pager threads share the same two cores, so parallel
# efficiency here says more about the host than about AVM.
#
#   sh bench/nodes.sh [RUNS]     (default 3)
set -u
cd "$(dirname "$0")/.."
runs=${1:-3}
tmp=$(mktemp -d /tmp/avm-bench-nodes.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
export AVM_RUNDIR="$tmp/run"

median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "";
		else if (NR % 2) print v[(NR + 1) / 2];
		else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# vm OUT NODES VCPUS PROG ARGS: RUNS runs into OUT.1..
vm() {
	out=$1 n=$2 c=$3 prog=$4 args=$5
	i=0
	while [ $i -lt "$runs" ]; do
		i=$((i + 1))
		timeout 120 bin/avm-run --name bn --nodes "$n" --vcpus "$c" \
			--memory 64M --kernel "build/guest/$prog.elf" \
			--append "$args" </dev/null >"$tmp/$out.$i" 2>&1 ||
			echo "$out run $i: avm-run exit $?" >&2
	done
}

bench_ns() { # NAME OUT
	cat "$tmp/$2".* | awk -v n="$1" '$1 == "bench" && $2 == n {
		for (i = 3; i <= NF; i++) { split($i, kv, "=");
			if (kv[1] == "ns") print kv[2] } }' | median
}

vm local 1 2 bench "exit_cpu=1 iters=500"
vm remote 2 2 bench "exit_cpu=1 iters=500"
vm xadd1 1 2 atomic ""
vm xadd2 2 2 atomic ""
vm mem1 1 1 memtouch "mem=32M"
vm mem2 2 2 memtouch "mem=64M"
vm mem4 4 4 memtouch "mem=128M"

echo "== one VM over 2 nodes vs 1 node, 2 vCPUs, $runs runs each (medians)"
printf '%-34s %12s %12s %8s\n' "" "1 node" "2 nodes" "ratio"
row() {
	printf '%-34s %12s %12s %8s\n' "$1" "$2" "$3" \
		"$(awk -v a="$2" -v b="$3" 'BEGIN { if (a > 0 && b != "")
			printf "%.2f", b / a; else print "n/a" }')"
}
row "IPI round trip cpu0<->cpu1, ns" "$(bench_ns ipi_rtt local)" "$(bench_ns ipi_rtt remote)"
row "port I/O exit on cpu1, ns" "$(bench_ns exit_pio local)" "$(bench_ns exit_pio remote)"
row "LAPIC MMIO exit on cpu1, ns" "$(bench_ns exit_mmio local)" "$(bench_ns exit_mmio remote)"
row "IOAPIC MMIO exit on cpu1, ns" "$(bench_ns exit_ioapic local)" "$(bench_ns exit_ioapic remote)"
xadd() {
	cat "$tmp/$1".* | sed -n 's/.*xadd \([0-9]*\) cycles\/op.*/\1/p' | median
}
row "shared lock xadd, cycles/op" "$(xadd xadd1)" "$(xadd xadd2)"
memw() { # per-vCPU write MiB/s
	cat "$tmp/$1".* | sed -n 's/.*write \([0-9]*\) MiB\/s.*/\1/p' | median
}
touch_ns() {
	cat "$tmp/$1".* | sed -n 's/.*touch \([0-9]*\) ns\/page.*/\1/p' | median
}
row "first touch of own memory, ns/page" "$(touch_ns mem1)" "$(touch_ns mem2)"
w1=$(memw mem1)
w2=$(memw mem2)
row "write own memory, MiB/s per vCPU" "$w1" "$w2"
w4=$(memw mem4)
echo
echo "parallel efficiency on private memory, 1 vCPU a node, each writing the"
echo "memory its node is home of (aim 0.9; per-vCPU rate N nodes / 1 node):"
printf '  2 nodes: %s   4 nodes: %s\n' \
	"$(awk -v a="$w1" -v b="$w2" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }')" \
	"$(awk -v a="$w1" -v b="$w4" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }')"
