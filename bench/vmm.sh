#!/bin/sh
# avm-run against QEMU with its user-space irqchip on the guest kit's
# micro-benchmarks (tests/guest/bench.c), measured inside the guest at
# CPL3 with rdtsc, so the VMMs' start-up does not count.  QEMU boots the
# same image through multiboot with the small qboot firmware (SeaBIOS
# runs for minutes here: BIOS code is CPL0, emulated on this host), and
# its guests get idle=poll (QEMU's user-space irqchip stalls every vCPU
# while one halts, here) and notscdeadline (its LAPIC ignores the
# TSC-deadline MSR).  avm-run gets idle=poll too.
#
#   sh bench/vmm.sh [RUNS]      RUNS runs of each VMM (default 3)
set -u
cd "$(dirname "$0")/.."
runs=${1:-3}
img=build/guest/bench.elf
qemu=${QEMU:-qemu-system-x86_64}
tmp=$(mktemp -d /tmp/avm-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
export AVM_RUNDIR="$tmp/run"

# median of the numbers on stdin
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "";
		else if (NR % 2) print v[(NR + 1) / 2];
		else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# field NAME KEY FILE...: KEY= of the "bench NAME" lines
field() {
	n=$1 k=$2
	shift 2
	cat "$@" 2>/dev/null | awk -v n="$n" -v k="$k" '
		$1 == "bench" && $2 == n {
			for (i = 3; i <= NF; i++) {
				split($i, kv, "=")
				if (kv[1] == k) print kv[2]
			}
		}' | median
}

echo "== avm-run vs QEMU (kernel-irqchip=off), guest kit bench, 2 vCPUs, $runs runs each"
i=0
while [ $i -lt "$runs" ]; do
	i=$((i + 1))
	timeout 120 bin/avm-run --name bench --vcpus 2 --memory 64M \
		--kernel "$img" --append idle=poll </dev/null >"$tmp/avm.$i" 2>&1 ||
		echo "avm-run run $i: exit $?" >&2
	timeout -s KILL 120 "$qemu" -machine q35,kernel-irqchip=off \
		-accel kvm -bios /usr/share/qemu/qboot.rom -smp 2 -m 64 \
		-nodefaults -no-user-config -display none -serial stdio \
		-no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$img" -append 'idle=poll notscdeadline' \
		</dev/null >"$tmp/qemu.$i" 2>&1
done
if ! grep -q '^bench ' "$tmp"/qemu.* 2>/dev/null; then
	echo "QEMU could not run the guest kit here; its output:" >&2
	head -5 "$tmp/qemu.1" | sed 's/^/  qemu: /' >&2
fi

printf '%-16s %12s %12s %10s\n' "benchmark" "avm-run ns" "QEMU ns" "avm/QEMU"
for b in exit_pio exit_mmio ipi_rtt timer_oneshot timer_deadline syscall rdtsc; do
	a=$(field "$b" ns "$tmp"/avm.*)
	q=$(field "$b" ns "$tmp"/qemu.*)
	[ -n "$a" ] || continue
	if [ -n "$q" ] && [ "$q" -gt 0 ] 2>/dev/null; then
		r=$(awk -v a="$a" -v q="$q" 'BEGIN { printf "%.2f", a / q }')
	else
		q=n/a r=n/a
	fi
	printf '%-16s %12s %12s %10s\n' "$b" "$a" "$q" "$r"
done

echo
echo "== start to first output, hello on 2 vCPUs ($runs runs each)"
i=0
while [ $i -lt "$runs" ]; do
	i=$((i + 1))
	build/tests/helpers/avm-firstout -t 60 bin/avm-run --name first \
		--vcpus 2 --memory 64M --kernel build/guest/hello.elf \
		</dev/null 2>>"$tmp/first.avm" >/dev/null
	build/tests/helpers/avm-firstout -t 60 "$qemu" \
		-machine q35,kernel-irqchip=off -accel kvm \
		-bios /usr/share/qemu/qboot.rom -smp 2 -m 64 -nodefaults \
		-no-user-config -display none -serial stdio -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel build/guest/hello.elf -append 'idle=poll notscdeadline' \
		</dev/null 2>>"$tmp/first.qemu" >/dev/null
done
ms() {
	sed -n "s/.*$1=\([0-9]*\).*/\1/p" "$2" | median |
		awk '{ printf "%.1f", $1 / 1e6 }'
}
printf '%-28s %10s %10s\n' "" "avm-run ms" "QEMU ms"
printf '%-28s %10s %10s\n' "first console byte" \
	"$(ms first_output_ns "$tmp/first.avm")" "$(ms first_output_ns "$tmp/first.qemu")"
printf '%-28s %10s %10s\n' "guest done, VMM exited" \
	"$(ms exit_ns "$tmp/first.avm")" "$(ms exit_ns "$tmp/first.qemu")"
