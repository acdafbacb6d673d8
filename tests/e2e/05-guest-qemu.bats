#!/usr/bin/env bats
# The guest kit's images (tests/guest/) under QEMU with 4 CPUs, the way
# avm-run will be checked later: each boots through its multiboot header,
# prints its banner, its checks and PASS, and leaves through
# isa-debug-exit, where QEMU exits with status * 2 + 1 (1 for PASS).
#
# First under TCG with SeaBIOS.  Then under KVM with kernel-irqchip=off
# (user-space LAPIC, as avm-run): on this host's kvm_pvm that needs qboot
# (SeaBIOS parks its APs with hlt, and a halted vCPU stalls QEMU there),
# idle=poll (the same stall, for the kit's idle APs) and notscdeadline
# (QEMU advertises TSC-deadline but its LAPIC ignores it).
# tests/guest/README.md has the details.

load helpers

bats_require_minimum_version 1.5.0

GUEST=$AVM_TOP/build/guest

setup() {
	requires qemu-system-x86_64 timeout python3
	[ -f "$GUEST/hello.elf" ] ||
		skip_or_fail "guest images not built: run 'make guest'"
}

QEMU_ARGS=(-machine q35 -accel tcg -smp 4 -m 256 -nodefaults
	-display none -serial stdio -no-reboot
	-device isa-debug-exit,iobase=0xf4,iosize=0x04)

# qemu_guest NAME [QEMU ARGS...]: boots build/guest/NAME.elf; the console
# is the output (its input $GUEST_STDIN, else none), QEMU's own messages
# go to qemu.err.
qemu_guest() {
	local img=$GUEST/$1.elf
	shift
	timeout 120 qemu-system-x86_64 "${QEMU_ARGS[@]}" -kernel "$img" "$@" \
		<"${GUEST_STDIN:-/dev/null}" 2>>"$BATS_TEST_TMPDIR/qemu.err"
}

# expect_exit STATUS: QEMU's exit for a guest status, with the output
# shown when it differs.
expect_exit() {
	local want=$(($1 * 2 + 1))
	if [ "$status" -ne "$want" ]; then
		printf '%s\n' "$output" >&2
		cat "$BATS_TEST_TMPDIR/qemu.err" >&2 2>/dev/null
		fail "qemu exited $status, expected $want (guest status $1)"
	fi
}

# The banner every image prints first.
expect_banner() {
	assert_equal "${lines[0]}" "avm-guest $1: 4 cpus"
	assert_line --regexp '^kit: entry multiboot, tsc [0-9]+ kHz \(.+\), 1 ioapic, '
	local k
	for k in 0 1 2 3; do
		assert_line --regexp "^kit: cpu $k apic [0-9]+ node [0-9]+$"
	done
}

expect_pass() {
	expect_exit 0
	assert_equal "${lines[-1]}" PASS
	refute_line --partial FAIL
}

@test "every image: multiboot header first, ELF64 entry elsewhere" {
	local img n=0
	for img in "$GUEST"/*.elf; do
		run -0 python3 - "$img" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:4] == b"\x7fELF" and d[4] == 2, "not ELF64"
entry = struct.unpack_from("<Q", d, 24)[0]
for off in range(0, 8192, 4):
    magic, flags, csum = struct.unpack_from("<III", d, off)
    if magic == 0x1BADB002 and (magic + flags + csum) & 0xFFFFFFFF == 0:
        break
else:
    sys.exit("no multiboot header in the first 8 KiB")
assert flags & 0x10000, "multiboot address fields not valid"
hdr, load, load_end, bss_end, mb_entry = struct.unpack_from("<5I", d, off + 12)
assert load >= 0x100000 and load_end <= bss_end, "bad load range"
assert off - (hdr - load) + (load_end - load) <= len(d), "file too short"
assert mb_entry != entry, "one entry for both"
print("ok", hex(entry), hex(mb_entry))
EOF
		n=$((n + 1))
	done
	[ "$n" -ge 8 ]
}

@test "hello: every cpu says hello" {
	run qemu_guest hello
	expect_pass
	expect_banner hello
	local k
	for k in 0 1 2 3; do
		assert_line --regexp "^hello from cpu $k apic [0-9]+$"
	done
}

@test "hello: NUMA nodes come from the SRAT" {
	run qemu_guest hello \
		-object memory-backend-ram,id=m0,size=128M \
		-object memory-backend-ram,id=m1,size=128M \
		-numa node,nodeid=0,cpus=0-1,memdev=m0 \
		-numa node,nodeid=1,cpus=2-3,memdev=m1
	expect_pass
	assert_line --regexp '^kit: entry multiboot, .*, 2 numa nodes$'
	assert_line 'kit: cpu 0 apic 0 node 0'
	assert_line 'kit: cpu 1 apic 1 node 0'
	assert_line 'kit: cpu 2 apic 2 node 1'
	assert_line 'kit: cpu 3 apic 3 node 1'
}

@test "hello: NUMA distances come from the SLIT, a row a line, as given" {
	run qemu_guest hello \
		-object memory-backend-ram,id=m0,size=128M \
		-object memory-backend-ram,id=m1,size=128M \
		-numa node,nodeid=0,cpus=0-1,memdev=m0 \
		-numa node,nodeid=1,cpus=2-3,memdev=m1 \
		-numa dist,src=0,dst=1,val=23 -numa dist,src=1,dst=0,val=31
	expect_pass
	assert_line 'kit: slit node 0: 10 23'
	assert_line 'kit: slit node 1: 31 10'
}

@test "ipi: every kind of IPI arrives exactly once" {
	run qemu_guest ipi
	expect_pass
	expect_banner ipi
	local s
	for s in 'fixed bsp->ap' 'fixed ap->bsp' all-but-self self \
		all-including-self 'logical 0xfe' 'logical one cpu' \
		'nmi bsp->ap' 'nmi ap->bsp'; do
		assert_line "ipi $s: ok"
	done
}

@test "timer: one-shot and periodic LAPIC timer against the TSC" {
	run qemu_guest timer
	expect_pass
	expect_banner timer
	assert_line --regexp '^timer: lapic timer [0-9]+ kHz '
	assert_line --regexp '^timer one-shot: programmed 10000 us, measured min [0-9]+ us'
	assert_line --regexp '^timer periodic: [0-9]+ ticks, programmed 5000 us, measured median [0-9]+ us$'
	assert_line --regexp '^timer tsc-deadline: '
}

# type_line FILE TEXT: waits for the guest's prompt in FILE, types TEXT.
type_line() {
	local i
	for i in $(seq 600); do
		grep -q 'waiting .* for a line' "$1" 2>/dev/null && break
		sleep 0.1
	done
	printf '%s\n' "$2"
}

# uart_guest FILE TEXT BOOT-FUNCTION: boots uart-irq with BOOT-FUNCTION
# (qemu_guest or kvm_guest ''), console in FILE, and types TEXT into it
# through a pipe once the guest waits for it.
uart_guest() {
	local out=$1 text=$2
	shift 2
	type_line "$out" "$text" | GUEST_STDIN=/dev/stdin "$@" uart-irq >"$out"
}

# check_uart FILE: the console in FILE shows the line coming in.
check_uart() {
	output=$(cat "$1")
	mapfile -t lines <"$1"
	expect_pass
	assert_equal "${lines[0]}" 'avm-guest uart-irq: 4 cpus'
	assert_line --regexp '^uart-irq: irq 4 -> gsi [0-9]+ -> vector 0x34 on cpu 0; '
	assert_line 'got: hello avm'
	assert_line --regexp '^uart-irq: 10 bytes by [1-9][0-9]* interrupts$'
}

@test "uart-irq: a typed line comes in by interrupt" {
	local out=$BATS_TEST_TMPDIR/uart.out
	run uart_guest "$out" 'hello avm' qemu_guest
	check_uart "$out"
	expect_banner uart-irq
}

@test "uart-irq: no input is a timeout, status 2" {
	run qemu_guest uart-irq -append 'timeout=1'
	expect_exit 2
	assert_line --regexp '^FAIL: timeout: 1 s, 0 bytes by 0 interrupts$'
}

@test "atomic: lock xadd and spinlock totals are exact" {
	run qemu_guest atomic -append 'iters=5000'
	expect_pass
	expect_banner atomic
	assert_line 'atomic: xadd total 20000, spinlock total 20000, expected 20000'
	local k
	for k in 0 1 2 3; do
		assert_line --regexp "^atomic cpu $k: 5000 iters, xadd [0-9]+ cycles/op, spinlock [0-9]+ cycles/op$"
	done
}

@test "memtouch: memory written on one cpu reads back on another" {
	run qemu_guest memtouch -append 'mem=32M'
	expect_pass
	expect_banner memtouch
	assert_line --regexp '^memtouch: 0x[0-9a-f]+-0x[0-9a-f]+, 32 MiB, 8192 KiB per cpu$'
	local k
	for k in 0 1 2 3; do
		assert_line --regexp "^memtouch cpu $k: mem node -1, touch [0-9]+ ns/page, write [0-9]+ MiB/s, verify cpu $(((k + 1) % 4))'s [0-9]+ MiB/s$"
	done
}

@test "ipi and bench with iopl=0: cli/sti through #GP, in/out by the TSS bitmap, as on kvm_pvm" {
	run qemu_guest ipi -append 'iopl=0'
	expect_pass
	expect_banner ipi
	assert_line --regexp '^kit: iopl 0 at cpl3: cli/sti \(and in/out past the bitmap\) go through #GP \([1-9][0-9]* so far\)$'
	assert_line 'ipi nmi ap->bsp: ok'
	run qemu_guest bench -append 'iopl=0 iters=100'
	expect_pass
	assert_line --regexp '^bench exit_pio cycles=[0-9]+ ns=[0-9]+ iters=100 '
}

@test "bench: machine-readable lines" {
	run qemu_guest bench -append 'iters=200'
	expect_pass
	expect_banner bench
	local b
	for b in rdtsc exit_pio exit_mmio syscall ipi_rtt timer_oneshot; do
		assert_line --regexp "^bench $b cycles=-?[0-9]+ ns=-?[0-9]+ iters=200 tsc_khz=[0-9]+$"
	done
	assert_line --regexp '^bench timer_deadline (cycles=|skipped: )'
}

@test "bench: ipi_rtt is skipped on one cpu" {
	run qemu_guest bench -smp 1 -append 'iters=50'
	expect_pass
	assert_equal "${lines[0]}" 'avm-guest bench: 1 cpus'
	assert_line 'bench ipi_rtt skipped: needs 2 cpus'
}

@test "fault: a page fault at CPL3 is reported, status 3" {
	run qemu_guest fault
	expect_exit 3
	assert_line 'fault: cpu 0 raises exception 14 at cpl3'
	assert_line --regexp '^FAIL: exception 14 \(#PF\) err 0x4 rip 0x[0-9a-f]+ rsp 0x[0-9a-f]+ cr2 0x100000000 rflags 0x[0-9a-f]+ cpl 3 cpu 0$'
}

@test "fault: #UD on an AP names that cpu" {
	run qemu_guest fault -append 'fault=6 cpu=2'
	expect_exit 3
	assert_line --regexp '^FAIL: exception 6 \(#UD\) err 0x0 rip 0x[0-9a-f]+ .* cpl 3 cpu 2$'
}

@test "fault: fault=8 triple-faults the machine, with no report" {
	run qemu_guest fault -append 'fault=8' -d cpu_reset \
		-D "$BATS_TEST_TMPDIR/qemu.log"
	# -no-reboot: a triple fault ends QEMU with 0
	assert_equal "$status" 0
	assert_line 'fault: cpu 0 raises exception 8 at cpl3'
	refute_output --partial 'FAIL'
	grep -q 'Triple fault' "$BATS_TEST_TMPDIR/qemu.log" ||
		fail "QEMU saw no triple fault"
}

# --- issue 13's APIC conformance against QEMU's own APIC ----------------
#
# QEMU's emulated APIC is a reference independent of avm-run's model.
# QEMU 7.2's TCG lacks some of what the SDM says (each word below leaves
# one out; tests/guest/README.md), and has no x2APIC or TSC-deadline mode,
# which the programs skip by CPUID.  wait=10 bounds a check that hangs.

@test "apic: logical flat and cluster destinations agree with QEMU's APIC" {
	run qemu_guest apic \
		-append 'wait=10 nobasegp norelocate nodisable noclusterbroadcast'
	expect_pass
	expect_banner apic
	local k
	for k in 0 3; do
		assert_line "apic cpu $k: reserved bits: skipped (nobasegp)"
		assert_line "apic cpu $k: relocation: skipped (norelocate)"
		assert_line "apic cpu $k: disabled: skipped (nodisable)"
		assert_line "apic cpu $k: x2APIC mode: no x2APIC, skipped"
		assert_line "apic logical flat from cpu $k: ok"
		assert_line "apic logical cluster from cpu $k: ok (0xff skipped: noclusterbroadcast)"
	done
}

@test "apic2: LVT masking, timer restart and mode switches, TPR, PPR and CR8 agree with QEMU's APIC" {
	run qemu_guest apic2 -smp 2 \
		-append 'wait=10 noesr nosvrmask noexpiredswitch'
	expect_pass
	assert_equal "${lines[0]}" 'avm-guest apic2: 2 cpus'
	local k c
	for k in 0 1; do
		for c in 'lvt mask' 'timer restart' 'timer mode switch' tpr \
			ppr cr8; do
			assert_line "apic2 cpu $k xapic: $c: ok"
		done
		assert_line "apic2 cpu $k xapic: esr: skipped (noesr)"
		assert_line "apic2 cpu $k xapic: software disable: skipped (nosvrmask)"
		assert_line "apic2 cpu $k xapic: timer mode switch after expiry: skipped (noexpiredswitch)"
		assert_line "apic2 cpu $k xapic: tsc-deadline switch: no TSC-deadline or notscdeadline, skipped"
		assert_line "apic2 cpu $k x2apic: no x2APIC, skipped"
	done
}

@test "nmi: a second NMI waits for the handler's IRET under QEMU; a pair may merge (nmimerge)" {
	run qemu_guest nmi -append 'wait=10 nmimerge' \
		-object memory-backend-ram,id=m0,size=128M \
		-object memory-backend-ram,id=m1,size=128M \
		-numa node,nodeid=0,cpus=0-1,memdev=m0 \
		-numa node,nodeid=1,cpus=2-3,memdev=m1
	expect_pass
	expect_banner nmi
	assert_line 'nmi nested: second after iret: ok'
	local s
	for s in 'back to back' 'two cpus, same node' 'two cpus, two nodes'; do
		assert_line --regexp "^nmi $s: ok( \(1 of 2 came, merged: nmimerge\))?\$"
	done
}

# --- KVM, kernel-irqchip=off --------------------------------------------

QBOOT=/usr/share/qemu/qboot.rom

# kvm_guest APPEND NAME [QEMU ARGS...]: boots NAME under KVM.  kvm_pvm
# does not always let QEMU stop on SIGTERM: KILL follows.
kvm_guest() {
	local append=$1 img=$GUEST/$2.elf
	shift 2
	timeout -k 5 60 qemu-system-x86_64 -machine q35,kernel-irqchip=off \
		-accel kvm -bios "$QBOOT" -smp 4 -m 256 -nodefaults \
		-display none -serial stdio -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$img" -append "idle=poll notscdeadline $append" "$@" \
		<"${GUEST_STDIN:-/dev/null}" 2>>"$BATS_TEST_TMPDIR/qemu.err"
}

kvm_setup() {
	requires kvm
	[ -f "$QBOOT" ] || skip_or_fail "needs $QBOOT (qemu-system-data)"
}

# No timer here: QEMU's guests need idle=poll on this host (see
# kvm_guest), so with 4 vCPUs on 2 host cores the spinning APs delay the
# BSP's timer interrupts by more than the program tolerates.  avm-run's
# own timer test (30-run.bats) has no such handicap.
@test "kvm: hello, ipi, atomic, memtouch pass" {
	kvm_setup
	local p
	for p in hello ipi atomic memtouch; do
		run kvm_guest 'mem=64M' $p
		expect_pass
		assert_equal "${lines[0]}" "avm-guest $p: 4 cpus"
	done
}

@test "kvm: bench prints every line" {
	kvm_setup
	run kvm_guest 'iters=100' bench
	expect_pass
	local b
	for b in rdtsc exit_pio exit_mmio syscall ipi_rtt timer_oneshot; do
		assert_line --regexp "^bench $b cycles=-?[0-9]+ ns=-?[0-9]+ iters=100 tsc_khz=[0-9]+$"
	done
}

@test "kvm: a page fault is reported, status 3" {
	kvm_setup
	run kvm_guest 'cpu=3' fault
	expect_exit 3
	assert_line --regexp '^FAIL: exception 14 \(#PF\) err 0x4 .* cpl 3 cpu 3$'
}

@test "kvm: uart-irq gets a typed line by interrupt" {
	kvm_setup
	local out=$BATS_TEST_TMPDIR/uart.out
	run uart_guest "$out" 'hello avm' kvm_guest ''
	check_uart "$out"
}
