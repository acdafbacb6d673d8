#!/usr/bin/env bats
# avm-run on one node: the guest kit's programs under the real KVM, bad
# input, and the control socket.

load helpers
bats_require_minimum_version 1.5.0

G="$AVM_TOP/build/guest"

setup() {
	setup_rundir
	SHARED=
	MNT=
}

teardown() {
	[ -z "$SHARED" ] || rm -rf "$SHARED"
	[ -z "$MNT" ] || { umount "$MNT" && rmdir "$MNT"; }
}

# wait_for_running NAME: until VM NAME says it runs, at most 30 s.
# (run.sock answers from early on, with state "starting".)
wait_for_running() {
	local i
	for i in $(seq 300); do
		avm-run status --name "$1" --json 2>/dev/null |
			jq -e '.state == "running"' >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "VM '$1' is not running" >&2
	return 1
}

run_guest() {
	local prog=$1
	shift
	run timeout 120 avm-run --name "t$$" "$@" --kernel "$G/$prog.elf" </dev/null
}

@test "hello: a line from each of 4 vCPUs, exit status from the guest" {
	requires kvm
	run_guest hello --vcpus 4 --memory 256M
	assert_success
	for k in 0 1 2 3; do
		assert_output --partial "hello from cpu $k"
	done
	assert_output --partial "PASS"
}

@test "hello on 1 vCPU" {
	requires kvm
	run_guest hello --vcpus 1 --memory 64M
	assert_success
	assert_output --partial "hello from cpu 0"
	refute_output --partial "hello from cpu 1"
}

@test "hello boots through multiboot as well as ELF64" {
	requires kvm
	run_guest hello --vcpus 2 --memory 64M --boot multiboot
	assert_success
	assert_output --partial "hello from cpu 1"
}

@test "ipi: fixed, broadcast, self, logical and NMI IPIs arrive" {
	requires kvm
	run_guest ipi --vcpus 4 --memory 64M
	assert_success
	assert_output --partial "PASS"
}

@test "apic: APIC base #GP, relocation, disabled and x2APIC page, CPUID, logical flat and cluster (issue 13)" {
	requires kvm
	run_guest apic --vcpus 4 --memory 64M
	assert_success
	local k p
	for k in 0 3; do
		for p in 'reserved bits' relocation disabled 'x2APIC mode'; do
			assert_line "apic cpu $k: $p: ok"
		done
		assert_line "apic logical flat from cpu $k: ok"
		assert_line "apic logical cluster from cpu $k: ok"
	done
	assert_output --partial "PASS"
}

@test "apic2: ESR, LVT masking, software disable, timer restart and mode switches, TSC-deadline, TPR, PPR, CR8; xAPIC and x2APIC (issue 13)" {
	requires kvm
	run_guest apic2 --vcpus 4 --memory 64M
	assert_success
	assert_apic2_passed
}

@test "nmi: a second NMI waits for the handler's IRET, two at once arrive twice (issue 13)" {
	requires kvm
	run_guest nmi --vcpus 4 --memory 64M
	assert_success
	assert_line "nmi nested: second after iret: ok"
	assert_line "nmi back to back: ok"
	assert_line "nmi two cpus, same node: ok"
	assert_output --partial "PASS"
}

@test "timer: LAPIC one-shot, periodic and TSC-deadline against host time" {
	requires kvm
	run_guest timer --vcpus 2 --memory 64M
	assert_success
	assert_output --partial "PASS"
}

@test "atomic: lock xadd and a spinlock counter add up over 4 vCPUs" {
	requires kvm
	run_guest atomic --vcpus 4 --memory 64M
	assert_success
	assert_output --partial "PASS"
}

@test "memtouch: every vCPU writes and verifies guest memory" {
	requires kvm
	run_guest memtouch --vcpus 4 --memory 256M
	assert_success
	assert_output --partial "PASS"
}

@test "litmus: message passing never reordered, fenced store buffering never both old" {
	requires kvm
	run_guest litmus --vcpus 2 --memory 64M
	assert_success
	assert_output --regexp "litmus mp: cpu 0 -> cpu 1, 2000 rounds, [0-9]+ reads, 0 forbidden"
	assert_output --regexp "both old: [0-9]+ without a fence \(allowed\), 0 with mfence \(forbidden\)"
}

@test "uart-irq: console input arrives by IOAPIC interrupt" {
	requires kvm
	local fifo="$BATS_TEST_TMPDIR/in" out="$BATS_TEST_TMPDIR/out"
	mkfifo "$fifo"
	timeout 60 avm-run --name uart --vcpus 2 --memory 64M \
		--kernel "$G/uart-irq.elf" <"$fifo" >"$out" 2>&1 &
	local pid=$!
	exec 7>"$fifo"
	wait_for_line "$out" "waiting"
	printf 'ping avm\n' >&7
	local st=0
	wait "$pid" || st=$?
	exec 7>&-
	run cat "$out"
	assert_equal "$st" 0
	assert_output --partial "got: ping avm"
	assert_output --partial "PASS"
}

@test "missing kernel: 66 and the path" {
	run avm-run --kernel /nonexistent/k
	assert_equal "$status" 66
	assert_output --partial "kernel '/nonexistent/k'"
}

@test "a VM folder another user could plant files in is refused with 77 before anything starts" {
	mkdir -m 777 "$AVM_RUNDIR/v"
	run avm-run -n v --kernel "$G/hello.elf"
	assert_equal "$status" 77
	assert_output --partial "'$AVM_RUNDIR/v' is writable by group or others (mode 0777): chmod go-w"
	chmod 755 "$AVM_RUNDIR/v"
	chown 65534 "$AVM_RUNDIR/v"
	run avm-run -n v --kernel "$G/hello.elf"
	assert_equal "$status" 77
	assert_output --partial "belongs to uid 65534, not to us"
	run find "$AVM_RUNDIR/v" -mindepth 1
	assert_output ""
}

@test "a socket path too long for any node is 64 before anything starts" {
	local long=$BATS_TEST_TMPDIR/rundir-with-a-rather-long-name-0123456789
	local name=a-vm-name-of-thirty-one-chars-x
	AVM_RUNDIR=$long run timeout 10 avm-run --nodes 2 -c 2 -n "$name" \
		--kernel "$G/hello.elf"
	assert_equal "$status" 64
	assert_output --partial "node-1/$name/pager.sock' is"
	assert_output --partial "more than a unix socket takes (107)"
	[ ! -e "$long/$name" ] || fail "'$long/$name' was made"
}

@test "a VM folder held by another avm-run: 75 at once, and the loser touches nothing" {
	mkdir -m 700 "$AVM_RUNDIR/v"
	# another avm-run's lock, held by flock(1) for this test
	flock "$AVM_RUNDIR/v/run.lock" sleep 30 &
	local holder=$!
	timeout 10 sh -c "until [ -e '$AVM_RUNDIR/v/run.lock' ]; do sleep 0.1; done"
	sleep 0.3
	run timeout 10 avm-run -n v --kernel "$G/hello.elf"
	kill "$holder"
	wait "$holder" || true
	assert_equal "$status" 75
	assert_output --partial "a VM named 'v' is already running here (another avm-run holds '$AVM_RUNDIR/v/run.lock')"
	run ls "$AVM_RUNDIR/v"
	assert_output "run.lock"
}

@test "inputs are checked before anything starts: a directory, a FIFO, a device give 65 at once, a missing initrd 66" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	for k in "$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR/fifo" /dev/zero; do
		run timeout 10 avm-run --nodes 2 -c 2 --kernel "$k"
		assert_equal "$status" 65
		assert_output --partial "kernel '$k': not a regular file"
	done
	run timeout 10 avm-run --kernel "$G/hello.elf" --initrd /nonexistent/i
	assert_equal "$status" 66
	assert_output "avm-run: initrd '/nonexistent/i': No such file or directory"
	# nothing was started: no run directory for the VM
	run find "$AVM_RUNDIR" -mindepth 1
	assert_output ""
}

@test "--console: another user's link is refused with 77 before anything starts, our own and /dev/stdout are taken, a FIFO without reader is 73 at once" {
	local d="$BATS_TEST_TMPDIR"
	# a folder others may write to, where nobody plants a link to a
	# file of ours
	SHARED=$(mktemp -d /tmp/avm-test-shared.XXXXXX)
	chmod 0777 "$SHARED" # not sticky: the kernel guards sticky ones itself
	: >"$d/victim"
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		ln -s "$d/victim" "$SHARED/console"
	run timeout 10 avm-run --nodes 2 -c 2 --kernel "$G/hello.elf" \
		--console "$SHARED/console"
	assert_equal "$status" 77
	assert_output "avm-run[node 0]: console '$SHARED/console': a symbolic link of another user (uid $(id -u nobody)): give the file itself"
	[ ! -s "$d/victim" ]
	run find "$AVM_RUNDIR" -mindepth 1
	assert_output ""
	mkfifo "$d/fifo"
	run timeout 10 avm-run --kernel "$G/hello.elf" --console "$d/fifo"
	assert_equal "$status" 73
	assert_output "avm-run: console '$d/fifo': No such device or address"
	# our own link and /dev/stdout (root's): what follows depends on KVM
	ln -s "$d/victim" "$d/mine"
	for c in "$d/mine" /dev/stdout; do
		run timeout 60 avm-run --kernel "$G/hello.elf" --console "$c"
		refute_output --partial "symbolic link"
		[ "$status" != 77 ] && [ "$status" != 73 ]
	done
}

@test "not a kernel: 65" {
	requires kvm
	head -c 20000 /dev/urandom >"$BATS_TEST_TMPDIR/junk"
	run avm-run --kernel "$BATS_TEST_TMPDIR/junk"
	assert_equal "$status" 65
	assert_output --partial "not a kernel image"
}

@test "truncated kernel: 65" {
	requires kvm
	head -c 3000 "$G/hello.elf" >"$BATS_TEST_TMPDIR/trunc"
	run avm-run --kernel "$BATS_TEST_TMPDIR/trunc"
	assert_equal "$status" 65
}

@test "bad sizes and counts: 64 with a usage line" {
	run avm-run --memory 12Q --kernel "$G/hello.elf"
	assert_equal "$status" 64
	assert_output --partial "bad --memory '12Q'"
	run avm-run --memory 1M --kernel "$G/hello.elf"
	assert_equal "$status" 64
	run avm-run --vcpus 0 --kernel "$G/hello.elf"
	assert_equal "$status" 64
	run avm-run --vcpus abc --kernel "$G/hello.elf"
	assert_equal "$status" 64
	run avm-run --name '../x' --kernel "$G/hello.elf"
	assert_equal "$status" 64
	run avm-run --boot nope --kernel "$G/hello.elf"
	assert_equal "$status" 64
	run avm-run
	assert_equal "$status" 64
	assert_output --partial "usage:"
}

@test "more vCPUs than KVM allows: 69" {
	requires kvm
	run avm-run --vcpus 4096 --kernel "$G/hello.elf"
	assert_equal "$status" 69
	assert_output --partial "KVM on this host allows at most"
}

@test "more memory than the host has: 69" {
	requires kvm
	run avm-run --memory 1T --kernel "$G/hello.elf"
	assert_equal "$status" 69
	assert_output --partial "more than this host's RAM"
}

@test "no VM of that name: control verbs exit 69" {
	run avm-run status --name nosuchvm
	assert_equal "$status" 69
	assert_output --partial "no VM 'nosuchvm'"
}

@test "run.sock: status, pause, resume and stop while a guest runs" {
	requires kvm jq
	local fifo="$BATS_TEST_TMPDIR/in" out="$BATS_TEST_TMPDIR/out"
	mkfifo "$fifo"
	timeout 60 avm-run --name ctl --vcpus 2 --memory 64M \
		--kernel "$G/uart-irq.elf" <"$fifo" >"$out" 2>&1 &
	local pid=$!
	exec 7>"$fifo"
	wait_for_running ctl
	[ -S "$AVM_RUNDIR/ctl/run.sock" ]
	[ "$(stat -c %a "$AVM_RUNDIR/ctl/run.sock")" = 600 ]

	run avm-run status --name ctl --json
	assert_success
	echo "$output" | jq -e '.name == "ctl" and .state == "running" and .vcpus == 2'
	echo "$output" | jq -e '.vcpu | length == 2'

	run avm-run status --name ctl
	assert_success
	assert_output --partial "state: running"

	run avm-run pause --name ctl
	assert_success
	run avm-run status --name ctl --json
	echo "$output" | jq -e '.state == "paused" and .vcpus_parked == 2'
	# Paused vCPUs make no exits.
	local e1 e2
	e1=$(avm-run status --name ctl --json | jq .totals.exits)
	sleep 0.3
	e2=$(avm-run status --name ctl --json | jq .totals.exits)
	assert_equal "$e1" "$e2"

	run avm-run resume --name ctl
	assert_success
	run avm-run status --name ctl --json
	echo "$output" | jq -e '.state == "running"'

	run avm-run bogus-verb --name ctl
	assert_equal "$status" 64

	run avm-run stop --name ctl
	assert_success
	local st=0
	wait "$pid" || st=$?
	exec 7>&-
	assert_equal "$st" 0
	[ ! -e "$AVM_RUNDIR/ctl/run.sock" ]
}

@test "a second VM of the same name is refused with 75" {
	requires kvm
	local fifo="$BATS_TEST_TMPDIR/in"
	mkfifo "$fifo"
	timeout 60 avm-run --name dup --vcpus 1 --memory 64M \
		--kernel "$G/uart-irq.elf" <"$fifo" >/dev/null 2>&1 &
	local pid=$!
	exec 7>"$fifo"
	wait_for_running dup
	run avm-run --name dup --kernel "$G/hello.elf"
	assert_equal "$status" 75
	assert_output --partial "already running"
	[ -S "$AVM_RUNDIR/dup/run.sock" ] || fail "the first VM's run.sock is gone"
	avm-run stop --name dup
	wait "$pid" || true
	exec 7>&-
}

@test "SIGTERM stops the VM with status 143" {
	requires kvm
	local fifo="$BATS_TEST_TMPDIR/in"
	mkfifo "$fifo"
	avm-run --name sig --vcpus 2 --memory 64M \
		--kernel "$G/uart-irq.elf" <"$fifo" >/dev/null 2>&1 &
	local pid=$!
	exec 7>"$fifo"
	wait_for_running sig
	kill -TERM "$pid"
	local st=0
	wait "$pid" || st=$?
	exec 7>&-
	assert_equal "$st" 143
}

@test "guest RAM is served by avm-pager; a dead pager stops the VM with 69" {
	requires kvm jq
	local fifo="$BATS_TEST_TMPDIR/in" out="$BATS_TEST_TMPDIR/out"
	mkfifo "$fifo"
	timeout 60 avm-run --name pg --vcpus 2 --memory 64M \
		--kernel "$G/uart-irq.elf" <"$fifo" >"$out" 2>&1 &
	local pid=$!
	exec 7>"$fifo"
	wait_for_line "$out" "waiting"
	local ppid
	ppid=$(avm-run status --name pg --json | jq -e .pager_pid)
	[ "$ppid" -gt 0 ]
	# The pager's stats show the guest's faults went through it.
	run cat "/proc/$ppid/cmdline"
	assert_output --partial "avm-pager"
	kill -KILL "$ppid"
	local st=0 t0=$SECONDS
	wait "$pid" || st=$?
	exec 7>&-
	assert_equal "$st" 69
	[ $((SECONDS - t0)) -le 5 ]
	run cat "$out"
	assert_output --partial "guest memory:"
}

@test "a guest triple fault exits 1, as avm-run(1) says" {
	requires kvm
	run_guest fault --vcpus 2 --memory 64M --append 'fault=8'
	assert_equal "$status" 1
	assert_output --partial "fault: cpu 0 raises exception 8 at cpl3"
	assert_output --regexp "avm-run: vCPU 0: triple fault \(shutdown\)"
	refute_output --partial "FAIL"
}

@test "a KVM without a capability avm-run needs: avm-probe --require kvm says so too" {
	requires kvm
	local cap=KVM_CAP_X86_MSR_FILTER
	run -0 avm-probe --require kvm
	AVM_TEST_KVM_HIDE_CAP=$cap run -69 --separate-stderr \
		avm-probe --require kvm
	assert_equal "$stderr" "avm-probe: missing kvm: no $cap (needed for the user-space APIC MSRs)"
	AVM_TEST_KVM_HIDE_CAP=$cap run_guest hello --memory 64M
	assert_equal "$status" 69
	assert_output --partial "avm-run: '/dev/kvm': no $cap (needed for the user-space APIC MSRs)"
	AVM_TEST_KVM_HIDE_CAP=$cap run avm-probe -j
	jq -e --arg cap "$cap" '.[0].probe.kvm.present and
	    (.[0].probe.kvm.usable | not) and
	    (.[0].probe.kvm.reason | contains($cap))' <<<"$output"
}

# --- run-<node>.stats: avm-run's counters (include/avm/runstats.h) ---------

# runstats_until FILE TEST: reads FILE with avm-runstats into $output
# until the shell TEST (on stat_val) holds, at most 5 s.
runstats_until() {
	local i
	for i in $(seq 50); do
		run avm-runstats "$1"
		[ "$status" = 0 ] && eval "$2" && return 0
		sleep 0.1
	done
	echo "'$2' did not come true in $1:" >&2
	echo "$output" >&2
	return 1
}

@test "run-0.stats: every counter and state while a guest runs, ENDED and removed after" {
	requires kvm jq
	local fifo="$BATS_TEST_TMPDIR/in" out="$BATS_TEST_TMPDIR/out"
	local f="$AVM_RUNDIR/rs/run-0.stats" t0 vpid k
	t0=$(date +%s%N)
	mkfifo "$fifo"
	timeout 60 avm-run --name rs --vcpus 2 --memory 64M \
		--kernel "$G/uart-irq.elf" <"$fifo" >"$out" 2>&1 &
	local pid=$!
	exec 7>"$fifo"
	wait_for_line "$out" "waiting"
	[ -f "$f" ] || fail "no '$f' while the VM runs"
	[ "$(stat -c %s "$f")" -gt 0 ]
	vpid=$(avm-run status --name rs --json | jq -e .pid)

	run -0 avm-runstats "$f"
	assert_line "version=1"
	assert_line "node=0"
	assert_line "nodes=1"
	assert_line "vcpus=2"
	assert_line "vcpus_total=2"
	assert_line "pid=$vpid"
	assert_line "state=running"
	assert_line "mem_bytes=$((64 << 20))"
	assert_line "gathered_ns=0"
	[ "$(stat_val started_ns)" -ge $((t0 - 1000000000)) ]
	[ "$(stat_val started_ns)" -le "$(date +%s%N)" ]
	# the banner and the prompt went out through the UART
	[ "$(stat_val uart_tx_bytes)" -gt 100 ]
	assert_line "io_served=0"
	for k in 0 1; do
		assert_line "vcpu.$k.index=$k"
		assert_line "vcpu.$k.apic_id=$k"
		[ "$(stat_val "vcpu.$k.exits")" -gt 0 ] ||
			fail "vCPU $k: no exits"
		[ -d "/proc/$vpid/task/$(stat_val "vcpu.$k.tid")" ] ||
			fail "vCPU $k: tid is no thread of avm-run"
		assert_line --regexp "^vcpu\.$k\.state=(running|halted)$"
		assert_line "vcpu.$k.ipis_remote=0"
		assert_line "vcpu.$k.io_forwarded=0"
	done
	# cpu 0 waits in a loop, cpu 1 idles in HLT once it has started
	assert_line "vcpu.0.state=running"
	[ "$(stat_val vcpu.0.exits.io)" -gt 0 ]
	[ "$(stat_val vcpu.1.exits.mmio)" -gt 0 ] # its LAPIC set-up
	# INIT and SIPI to vCPU 1 came from vCPU 0's APIC
	[ "$(stat_val vcpu.0.ipis_local)" -ge 2 ]

	# KVM's own counters, once a second, where the kernel has a stats
	# fd (Linux 5.14 on): the total of exits at least.
	if [ "$(printf '%s\n' 5.14 "$(uname -r)" | sort -V | head -1)" = 5.14 ]; then
		runstats_until "$f" '[ "$(stat_val vcpu.0.kvm.exits)" -gt 0 ] &&
			[ "$(stat_val vcpu.1.kvm.exits)" -gt 0 ]'
	fi

	run -0 avm-run pause --name rs
	run -0 avm-runstats "$f"
	assert_line "state=paused"
	assert_line "vcpu.0.state=paused"
	assert_line "vcpu.1.state=paused"
	run -0 avm-run resume --name rs
	runstats_until "$f" '[ "$(stat_val state)" = running ] &&
		[ "$(stat_val vcpu.0.state)" = running ]'

	# Input without its newline: the IOAPIC interrupts cpu 0, which
	# reads it and waits for the rest.
	printf 'ping' >&7
	runstats_until "$f" '[ "$(stat_val ioapic_irqs)" -gt 0 ] &&
		[ "$(stat_val vcpu.0.irqs_injected)" -gt 0 ]'

	exec 8<"$f" # to see what is written last, after the name is gone
	printf '\n' >&7
	local st=0
	wait "$pid" || st=$?
	exec 7>&-
	assert_equal "$st" 0
	[ ! -e "$f" ] || fail "'$f' is still there"
	# state, a u32 at offset 36: RUN_VM_ENDED (4)
	assert_equal "$(od -An -tu4 -j36 -N4 /dev/fd/8 | tr -d ' ')" 4
	exec 8<&-
}

@test "run-0.stats: gone after SIGTERM too" {
	requires kvm
	local fifo="$BATS_TEST_TMPDIR/in"
	mkfifo "$fifo"
	avm-run --name sig --vcpus 1 --memory 64M \
		--kernel "$G/uart-irq.elf" <"$fifo" >/dev/null 2>&1 &
	local pid=$!
	exec 7>"$fifo"
	wait_for_running sig
	[ -f "$AVM_RUNDIR/sig/run-0.stats" ]
	kill -TERM "$pid"
	local st=0
	wait "$pid" || st=$?
	exec 7>&-
	assert_equal "$st" 143
	[ ! -e "$AVM_RUNDIR/sig/run-0.stats" ]
}

@test "run-0.stats is removed however avm-run ends (here: KVM or not)" {
	run timeout 60 avm-run --name gone --vcpus 2 --memory 64M \
		--kernel "$G/hello.elf" </dev/null
	# 0 with KVM, 69 without: either way the folder is left empty
	[ "$status" = 0 ] || [ "$status" = 69 ] || fail "status $status"
	run find "$AVM_RUNDIR" -mindepth 1
	assert_output ""
}

@test "run-0.stats: a link or a folder in its place is 73, never followed" {
	mkdir -m 700 "$AVM_RUNDIR/v"
	ln -s "$BATS_TEST_TMPDIR/victim" "$AVM_RUNDIR/v/run-0.stats"
	run timeout 10 avm-run -n v --kernel "$G/hello.elf"
	assert_equal "$status" 73
	assert_output "avm-run: create '$AVM_RUNDIR/v/run-0.stats': Too many levels of symbolic links"
	[ ! -e "$BATS_TEST_TMPDIR/victim" ] || fail "the link was followed"
	rm "$AVM_RUNDIR/v/run-0.stats"
	mkdir "$AVM_RUNDIR/v/run-0.stats"
	run timeout 10 avm-run -n v --kernel "$G/hello.elf"
	assert_equal "$status" 73
	assert_output "avm-run: create '$AVM_RUNDIR/v/run-0.stats': Is a directory"
	# nothing else was made or left
	run ls -A "$AVM_RUNDIR/v"
	assert_output "run-0.stats"
}

@test "run-0.stats on a full disk: 73 at start, nothing left" {
	requires root
	MNT=$(mktemp -d "$BATS_TEST_TMPDIR/full.XXXXXX")
	mount -t tmpfs -o size=64k,mode=0700 tmpfs "$MNT" || {
		rmdir "$MNT"
		MNT=
		skip_or_fail "cannot mount a tmpfs here"
	}
	dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null || true
	AVM_RUNDIR=$MNT run timeout 10 avm-run -n v --vcpus 4 \
		--kernel "$G/hello.elf"
	assert_equal "$status" 73
	assert_output "avm-run: size '$MNT/v/run-0.stats': No space left on device"
	run ls -A "$MNT"
	assert_output "fill"
}

@test "avm-runstats: no file is 66, another file 65 with the reason" {
	run -66 avm-runstats "$BATS_TEST_TMPDIR/none"
	assert_output --partial "No such file or directory"
	printf 'not a stats file%4080s' "" >"$BATS_TEST_TMPDIR/text"
	run -65 avm-runstats "$BATS_TEST_TMPDIR/text"
	assert_output "avm-runstats: '$BATS_TEST_TMPDIR/text': not a run stats file (bad magic)"
	# no magic yet: a file being made, not a bad one
	head -c 4096 /dev/zero >"$BATS_TEST_TMPDIR/zero"
	run -75 avm-runstats "$BATS_TEST_TMPDIR/zero"
	run -64 avm-runstats
}
