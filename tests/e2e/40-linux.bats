#!/usr/bin/env bats
# The real Debian kernel under avm-run (assets from `make guest-linux`).
#
# This machine's KVM emulates guest CPL0 code, so Linux only gets through
# its early boot here (DESIGN.md): each test waits, with a deadline, for
# the lines it checks, then stops avm-run.  A full boot needs a host with
# hardware virtualization.

load helpers

L="$AVM_TOP/assets/linux"

setup() {
	setup_rundir
	[ -f "$L/vmlinux" ] && [ -f "$L/bzImage" ] ||
		skip_or_fail "no Debian kernel: run 'make guest-linux'"
}

# boot NAME DEADLINE PATTERN... : start avm-run in the background with its
# console in a file, wait until every pattern is there or DEADLINE
# seconds passed, then stop it.  Leaves the console in $out.
boot() {
	local name=$1 deadline=$2 img=$3 args=$4
	shift 4
	out="$BATS_TEST_TMPDIR/console"
	avm-run --name "$name" --vcpus 4 --memory 1G --kernel "$img" \
		--append "$args" --console "$out" </dev/null \
		2>"$BATS_TEST_TMPDIR/stderr" &
	local pid=$! t=0 p all
	while [ $t -lt $((deadline * 2)) ]; do
		all=1
		for p in "$@"; do
			grep -q -- "$p" "$out" 2>/dev/null || { all=0; break; }
		done
		[ $all = 1 ] && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.5
		t=$((t + 1))
	done
	avm-run stop --name "$name" >/dev/null 2>&1 || kill $pid 2>/dev/null
	wait $pid || true
}

@test "Linux via PVH: e820 of the VM, our ACPI tables, Allowing 4 CPUs" {
	requires kvm
	boot pvh 240 "$L/vmlinux" "earlyprintk=serial,ttyS0 console=ttyS0 noxsave" \
		"Allowing 4 CPUs" "ACPI: SLIT"
	run cat "$out"
	assert_output --partial "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"
	assert_output --partial "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved"
	assert_output --partial "BIOS-e820: [mem 0x0000000000100000-0x000000003fffffff] usable"
	local t
	for t in RSDP XSDT APIC FACP DSDT SRAT SLIT; do
		assert_output --regexp "ACPI: $t 0x[0-9A-F]+ [0-9A-F]+ \(v[0-9]+ AVM"
	done
	assert_output --partial "SRAT: Node 0 PXM 0 [mem 0x00000000-0x3fffffff]"
	assert_output --partial "smpboot: Allowing 4 CPUs, 0 hotplug CPUs"
}

@test "Linux via bzImage: the 64-bit boot protocol delivers the command line" {
	requires kvm
	# The decompressor reads the command line from our zero page; its
	# xz payload takes minutes of emulated CPL0 here, so this is as far
	# as a test can wait.
	boot bz 120 "$L/bzImage" "earlyprintk=serial,ttyS0,115200 console=ttyS0 nokaslr" \
		"KASLR disabled: 'nokaslr' on cmdline"
	run cat "$out"
	assert_output --partial "KASLR disabled: 'nokaslr' on cmdline"
	run cat "$BATS_TEST_TMPDIR/stderr"
	refute_output --partial "not a kernel"
}
