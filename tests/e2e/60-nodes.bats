#!/usr/bin/env bats
# One VM over several nodes on this host: `avm-run --nodes N` starts an
# avm-run and avm-pager pair per node, linked over loopback TCP.

load helpers

G="$AVM_TOP/build/guest"

setup() {
	setup_rundir
}

run_nodes() {
	local nodes=$1 prog=$2
	shift 2
	run timeout 120 avm-run --name "n$$" --nodes "$nodes" "$@" \
		--kernel "$G/$prog.elf" </dev/null
}

# A VM that runs until stopped: uart-irq waits for a console line.
start_waiting() {
	local name=$1 nodes=$2
	out="$BATS_TEST_TMPDIR/out"
	timeout 60 avm-run --name "$name" --nodes "$nodes" --vcpus 4 \
		--memory 256M --append timeout=50 \
		--kernel "$G/uart-irq.elf" </dev/null >"$out" 2>&1 &
	vm_pid=$!
	wait_for_line "$out" "waiting"
}

@test "hello on 2 nodes: 4 vCPUs, 0-1 on node 0 and 2-3 on node 1 by the SRAT" {
	requires kvm
	run_nodes 2 hello --vcpus 4 --memory 512M
	assert_success
	assert_output --partial "2 numa nodes"
	assert_output --partial "kit: cpu 0 apic 0 node 0"
	assert_output --partial "kit: cpu 1 apic 1 node 0"
	assert_output --partial "kit: cpu 2 apic 2 node 1"
	assert_output --partial "kit: cpu 3 apic 3 node 1"
	for k in 0 1 2 3; do
		assert_output --partial "hello from cpu $k"
	done
	assert_output --partial "PASS"
}

@test "hello on 3 nodes" {
	requires kvm
	run_nodes 3 hello --vcpus 3 --memory 192M
	assert_success
	assert_output --partial "kit: cpu 2 apic 2 node 2"
	assert_output --partial "PASS"
}

@test "guest kit on 2 nodes: ipi, timer, atomic, memtouch" {
	requires kvm
	local p
	for p in ipi timer atomic memtouch; do
		run_nodes 2 "$p" --vcpus 4 --memory 256M
		assert_success
		assert_output --partial "PASS"
	done
}

@test "guest kit on 2 nodes: apic and nmi conformance (issue 13)" {
	requires kvm
	run_nodes 2 apic --vcpus 4 --memory 256M
	assert_success
	local p
	for p in 'reserved bits' relocation disabled 'x2APIC mode'; do
		assert_line "apic cpu 3: $p: ok"
	done
	assert_line "apic logical flat from cpu 3: ok"
	assert_line "apic logical cluster from cpu 3: ok"
	assert_output --partial "PASS"
	run_nodes 2 nmi --vcpus 4 --memory 256M
	assert_success
	assert_line "nmi nested: second after iret: ok"
	assert_line "nmi back to back: ok"
	assert_line "nmi two cpus, same node: ok"
	assert_line "nmi two cpus, two nodes: ok"
	assert_output --partial "PASS"
}

@test "guest kit on 2 nodes: apic2 conformance, xAPIC and x2APIC, on cpu 0 and on cpu 3 of node 1 (issue 13)" {
	requires kvm
	run_nodes 2 apic2 --vcpus 4 --memory 256M
	assert_success
	assert_line "kit: cpu 3 apic 3 node 1"
	assert_apic2_passed
}

@test "guest kit on 3 nodes: ipi, timer, atomic, memtouch" {
	requires kvm
	local p
	for p in ipi timer atomic memtouch; do
		run_nodes 3 "$p" --vcpus 3 --memory 192M
		assert_success
		assert_output --partial "PASS"
	done
}

@test "guest kit on 4 nodes: hello, ipi, timer, atomic, memtouch" {
	requires kvm
	local p
	for p in hello ipi timer atomic memtouch; do
		run_nodes 4 "$p" --vcpus 4 --memory 128M
		assert_success
		assert_output --partial "kit: cpu 3 apic 3 node 3"
		assert_output --partial "PASS"
	done
}

@test "litmus inside the guest, the two CPUs on different nodes: 2 and 4 nodes" {
	requires kvm
	local n
	for n in 2 4; do
		run_nodes $n litmus --vcpus 4 --memory 128M --append rounds=200
		assert_success
		assert_output --regexp "litmus mp: cpu 0 -> cpu 3, 200 rounds, [0-9]+ reads, 0 forbidden"
		assert_output --regexp "litmus sb: 200 rounds; both old: [0-9]+ without a fence \(allowed\), 0 with mfence"
	done
}

@test "status shows where each vCPU runs; pause and resume are VM-wide" {
	requires kvm
	start_waiting st 2
	run avm-run status --name st --json
	assert_success
	echo "$output" | jq -e '.nodes == 2 and .node == 0'
	echo "$output" | jq -e '.node_list[0].vcpu_first == 0 and .node_list[0].vcpu_last == 1'
	echo "$output" | jq -e '.node_list[1].vcpu_first == 2 and .node_list[1].vcpu_last == 3'
	echo "$output" | jq -e '[.vcpu[].id] == [0, 1] and ([.vcpu[].node] | unique) == [0]'
	run avm-run pause --name st
	assert_success
	run env AVM_RUNDIR="$AVM_RUNDIR/st/node-1" avm-run status --name st --json
	echo "$output" | jq -e '.state == "paused" and .node == 1'
	run avm-run resume --name st
	assert_success
	run env AVM_RUNDIR="$AVM_RUNDIR/st/node-1" avm-run status --name st --json
	echo "$output" | jq -e '.state == "running"'
	run avm-run stop --name st
	assert_success
	local st=0
	wait "$vm_pid" || st=$?
	assert_equal "$st" 0
}

@test "run-N.stats on each node: node 1's vCPU forwards its UART I/O, node 0 serves it; INIT and SIPI cross nodes" {
	requires kvm
	local f0="$AVM_RUNDIR/rs/run-0.stats"
	local f1="$AVM_RUNDIR/rs/node-1/rs/run-1.stats"
	out="$BATS_TEST_TMPDIR/out"
	# cpu 2 (node 1's first) does the console: prompt and interrupt
	timeout 60 avm-run --name rs --nodes 2 --vcpus 4 --memory 256M \
		--append "timeout=50 irq_cpu=2" \
		--kernel "$G/uart-irq.elf" </dev/null >"$out" 2>&1 &
	vm_pid=$!
	wait_for_line "$out" "waiting"

	run avm-runstats "$f0"
	assert_success
	assert_line "node=0"
	assert_line "nodes=2"
	assert_line "vcpus=2"
	assert_line "vcpus_total=4"
	assert_line "vcpu.0.index=0"
	assert_line "vcpu.1.index=1"
	[ "$(stat_val io_served)" -gt 0 ] || fail "node 0 served no I/O"
	[ "$(stat_val uart_tx_bytes)" -gt 0 ]
	# vCPU 0 starts the APs: 1 here, 2 and 3 on node 1
	[ "$(stat_val vcpu.0.ipis_local)" -gt 0 ]
	[ "$(stat_val vcpu.0.ipis_remote)" -gt 0 ]
	[ "$(stat_val vcpu.0.exits)" -gt 0 ]
	[ "$(stat_val vcpu.1.exits)" -gt 0 ]

	run avm-runstats "$f1"
	assert_success
	assert_line "node=1"
	assert_line "nodes=2"
	assert_line "vcpus=2"
	assert_line "vcpus_total=4"
	assert_line "vcpu.0.index=2"
	assert_line "vcpu.0.apic_id=2"
	assert_line "vcpu.1.index=3"
	assert_line "state=running"
	# no devices on node 1: its vCPU 2 sends them to node 0
	assert_line "uart_tx_bytes=0"
	assert_line "io_served=0"
	[ "$(stat_val vcpu.0.io_forwarded)" -gt 0 ] ||
		fail "vCPU 2 forwarded no I/O"
	[ "$(stat_val vcpu.0.exits)" -gt 0 ]
	[ "$(stat_val vcpu.1.exits)" -gt 0 ]

	run avm-run stop --name rs
	assert_success
	local st=0
	wait "$vm_pid" || st=$?
	assert_equal "$st" 0
	[ ! -e "$f0" ] && [ ! -e "$f1" ] || fail "a stats file is left"
}

@test "kvmclock: node 1's agrees with node 0's (KVM_SET_CLOCK from RUN_CLOCK)" {
	requires kvm
	start_waiting kc 2
	local o0 o1
	# kvmclock - host real time, read together by KVM on each node: the
	# same on both when the clocks are aligned.  Unaligned they differ
	# by the time between the two VMs' creation (tens of ms here).
	o0=$(avm-run status --name kc --json |
		jq -e '.kvmclock_ns - .kvmclock_realtime_ns')
	o1=$(env AVM_RUNDIR="$AVM_RUNDIR/kc/node-1" avm-run status --name kc --json |
		jq -e '.kvmclock_ns - .kvmclock_realtime_ns')
	local d=$((o0 - o1))
	[ ${d#-} -lt 2000000 ] || {
		echo "kvmclock offsets differ by $d ns" >&2
		false
	}
	avm-run stop --name kc
	wait "$vm_pid" || true
}

@test "kill node 1's avm-run: node 0 exits 69 naming node 1" {
	requires kvm
	start_waiting k1 2
	local pid
	pid=$(avm-run status --name k1 --json | jq -e '.node_list[1].pid')
	kill -9 "$pid"
	local st=0
	wait "$vm_pid" || st=$?
	assert_equal "$st" 69
	run cat "$out"
	assert_output --partial "node 1 failed"
}

@test "kill node 1's avm-pager: every node exits 69 naming node 1" {
	requires kvm
	start_waiting kp 2
	local pid
	pid=$(env AVM_RUNDIR="$AVM_RUNDIR/kp/node-1" avm-run status --name kp --json |
		jq -e '.pager_pid')
	kill -9 "$pid"
	local st=0
	wait "$vm_pid" || st=$?
	assert_equal "$st" 69
	run cat "$out"
	# the failure names node 1 (its RUN_END or a pager's report), not
	# just the guest's banner line "kit: cpu 2 apic 2 node 1"
	assert_output --regexp "node 1( failed|: )"
}

@test "kill node 0 of 3: the other nodes exit, naming node 0" {
	requires kvm
	start_waiting k0 3
	local pids pid0
	pids=$(avm-run status --name k0 --json | jq -r '.node_list[1:][].pid')
	pid0=$(avm-run status --name k0 --json | jq -e '.pid')
	kill -9 "$pid0"
	local p i
	for p in $pids; do
		for i in $(seq 100); do
			kill -0 "$p" 2>/dev/null || break
			# a zombie whose parent is gone counts as gone
			[ "$(ps -o stat= -p "$p" 2>/dev/null | cut -c1)" = Z ] && break
			sleep 0.1
		done
		[ "$i" -lt 100 ]
	done
	wait "$vm_pid" || true
	run cat "$out"
	assert_output --partial "node 0 failed"
}

@test "--nodes needs a vCPU per node: 64" {
	run avm-run --nodes 3 --vcpus 2 --kernel "$G/hello.elf"
	assert_equal "$status" 64
	assert_output --partial "every node needs a vCPU"
	run avm-run --nodes 0 --kernel "$G/hello.elf"
	assert_equal "$status" 64
}

@test "Linux via PVH on 2 nodes: two SRAT proximity domains, Allowing 4 CPUs" {
	requires kvm
	local L="$AVM_TOP/assets/linux"
	[ -f "$L/vmlinux" ] || skip_or_fail "no Debian kernel: run 'make guest-linux'"
	out="$BATS_TEST_TMPDIR/console"
	avm-run --name lx --nodes 2 --vcpus 4 --memory 1G --kernel "$L/vmlinux" \
		--append "earlyprintk=serial,ttyS0 console=ttyS0 noxsave" \
		--console "$out" </dev/null 2>"$BATS_TEST_TMPDIR/stderr" &
	local pid=$! t
	for t in $(seq 480); do
		grep -q "Allowing 4 CPUs" "$out" 2>/dev/null && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.5
	done
	avm-run stop --name lx >/dev/null 2>&1 || kill $pid 2>/dev/null
	wait $pid || true
	run cat "$out"
	assert_output --partial "SRAT: PXM 0 -> APIC 0x01 -> Node 0"
	assert_output --partial "SRAT: PXM 1 -> APIC 0x02 -> Node 1"
	assert_output --partial "SRAT: Node 0 PXM 0 [mem 0x00000000-0x1fffffff]"
	assert_output --partial "SRAT: Node 1 PXM 1 [mem 0x20000000-0x3fffffff]"
	assert_output --partial "smpboot: Allowing 4 CPUs, 0 hotplug CPUs"
}

@test "an IOAPIC interrupt crosses nodes: console input to a vCPU on node 1" {
	requires kvm
	local fifo="$BATS_TEST_TMPDIR/in" out="$BATS_TEST_TMPDIR/out"
	mkfifo "$fifo"
	timeout 60 avm-run --name ui --nodes 2 --vcpus 4 --memory 256M \
		--append irq_cpu=3 --kernel "$G/uart-irq.elf" \
		<"$fifo" >"$out" 2>&1 &
	local pid=$!
	exec 7>"$fifo"
	wait_for_line "$out" "on cpu 3; waiting"
	printf 'over the fabric\n' >&7
	local st=0
	wait "$pid" || st=$?
	exec 7>&-
	run cat "$out"
	assert_equal "$st" 0
	assert_output --partial "got: over the fabric"
	assert_output --partial "PASS"
}

# fabric_map NAME NODES ROW...: the fabric map avm-fabric up would leave
# in VM NAME's folder (0600): NODES nodes, a distance row per ROW ("10,
# 20"); $MAPVM is the VM it names (NAME), $VERSION its version (1)
fabric_map() {
	local name=$1 nodes=$2 row
	shift 2
	mkdir -p -m 700 "$AVM_RUNDIR/$name"
	{
		echo "# a fabric map as avm-fabric up writes it (avm(7))"
		echo "version: ${VERSION:-1}"
		echo "vm: ${MAPVM:-$name}"
		echo "nodes: $nodes"
		echo "distance:"
		for row in "$@"; do
			echo "  - [$row]"
		done
	} >"$AVM_RUNDIR/$name/fabric.map"
	chmod 600 "$AVM_RUNDIR/$name/fabric.map"
}

@test "a fabric map that is not this VM's, or malformed: 65 naming the file, before anything starts" {
	local f="$AVM_RUNDIR/fm/fabric.map"
	local fix="run 'avm-fabric up' again or remove it"
	MAPVM=other fabric_map fm 2 "10, 20" "20, 10"
	run timeout 10 avm-run -n fm --nodes 2 -c 2 --kernel "$G/hello.elf"
	assert_equal "$status" 65
	assert_output "avm-run[node 0]: fabric map '$f' names VM 'other', not 'fm': $fix"
	fabric_map fm 3 "10, 20, 20" "20, 10, 20" "20, 20, 10"
	run timeout 10 avm-run -n fm --nodes 2 -c 2 --kernel "$G/hello.elf"
	assert_equal "$status" 65
	assert_output "avm-run[node 0]: fabric map '$f' has 3 nodes, VM 'fm' has 2: $fix"
	# one node: the map must say one node too
	fabric_map fm 2 "10, 20" "20, 10"
	run timeout 10 avm-run -n fm --kernel "$G/hello.elf"
	assert_equal "$status" 65
	assert_output "avm-run: fabric map '$f' has 2 nodes, VM 'fm' has 1: $fix"
	VERSION=2 fabric_map fm 2 "10, 20" "20, 10"
	run timeout 10 avm-run -n fm --nodes 2 -c 2 --kernel "$G/hello.elf"
	assert_equal "$status" 65
	assert_output "avm-run[node 0]: $f:2:10: version 2 of the fabric map, this avm reads version 1 ($fix)"
	fabric_map fm 2 "10, 20" "9, 10"
	run timeout 10 avm-run -n fm --nodes 2 -c 2 --kernel "$G/hello.elf"
	assert_equal "$status" 65
	assert_output "avm-run[node 0]: $f:7:6: 'distance[1][0]' is 9, out of range 11..254 ($fix)"
	fabric_map fm 2 "10, 20" "20, 10, 20"
	run timeout 10 avm-run -n fm --nodes 2 -c 2 --kernel "$G/hello.elf"
	assert_equal "$status" 65
	assert_output "avm-run[node 0]: $f:7:5: 'distance[1]' has 3 entries, 'nodes' is 2 ($fix)"
	printf 'version: 1\nvm: fm\nnodes: 2\ndistance: [[10, 20], [20, 10]\n' >"$f"
	run timeout 10 avm-run -n fm --nodes 2 -c 2 --kernel "$G/hello.elf"
	assert_equal "$status" 65
	assert_output "avm-run[node 0]: $f:5:1: syntax error: did not find expected ',' or ']' (while parsing a flow sequence at 4:11) ($fix)"
	# nothing was started: no node folder, secret, socket or lock is left
	run ls -A "$AVM_RUNDIR/fm"
	assert_output "fabric.map"
}

@test "a fabric map that is a link, not a file, another user's or writable by others: 77 before anything starts" {
	local d="$AVM_RUNDIR/fm" f="$AVM_RUNDIR/fm/fabric.map"
	fabric_map fm 2 "10, 20" "20, 10"
	mv "$f" "$d/real.map"
	ln -s real.map "$f"
	run timeout 10 avm-run -n fm --nodes 2 -c 2 --kernel "$G/hello.elf"
	assert_equal "$status" 77
	assert_output --partial "fabric map '$f' is a symbolic link"
	rm "$f" "$d/real.map"
	mkdir "$f"
	run timeout 10 avm-run -n fm --nodes 2 -c 2 --kernel "$G/hello.elf"
	assert_equal "$status" 77
	assert_output --partial "fabric map '$f' is not a regular file"
	rmdir "$f"
	mkfifo -m 600 "$f"
	run timeout 10 avm-run -n fm --nodes 2 -c 2 --kernel "$G/hello.elf"
	assert_equal "$status" 77
	assert_output --partial "fabric map '$f' is not a regular file"
	rm "$f"
	fabric_map fm 2 "10, 20" "20, 10"
	chmod 620 "$f"
	run timeout 10 avm-run -n fm --nodes 2 -c 2 --kernel "$G/hello.elf"
	assert_equal "$status" 77
	assert_output --partial "fabric map '$f' is writable by group or others (mode 0620): chmod go-w it"
	chmod 600 "$f"
	chown 65534 "$f"
	run timeout 10 avm-run -n fm --nodes 2 -c 2 --kernel "$G/hello.elf"
	assert_equal "$status" 77
	assert_output --partial "fabric map '$f' belongs to uid 65534, not to us"
	run ls -A "$d"
	assert_output "fabric.map"
}

@test "-v says which distances node 0 gives the guest, before KVM is opened" {
	# 69 where there is no KVM: the distances come first all the same
	fabric_map fm 3 "10, 30, 40" "31, 10, 50" "41, 51, 10"
	run timeout 100 avm-run -v -n fm --nodes 3 -c 3 --memory 192M \
		--kernel "$G/hello.elf" </dev/null
	[ "$status" = 0 ] || [ "$status" = 69 ] || fail "status $status"
	assert_line "avm-run[node 0]: SLIT: from '$AVM_RUNDIR/fm/fabric.map'"
	assert_line "avm-run[node 0]: SLIT: node 0: 10 30 40"
	assert_line "avm-run[node 0]: SLIT: node 1: 31 10 50"
	assert_line "avm-run[node 0]: SLIT: node 2: 41 51 10"
	rm "$AVM_RUNDIR/fm/fabric.map"
	run timeout 100 avm-run -v -n fm --nodes 3 -c 3 --memory 192M \
		--kernel "$G/hello.elf" </dev/null
	[ "$status" = 0 ] || [ "$status" = 69 ] || fail "status $status"
	assert_line "avm-run[node 0]: SLIT: no fabric map: 10 local, 20 remote"
	refute_line --partial "SLIT: node"
}

@test "the guest's SLIT is the fabric map's (asymmetric, 3 nodes), else 10 and 20" {
	requires kvm
	fabric_map "n$$" 3 "10, 30, 40" "31, 10, 50" "41, 51, 10"
	run_nodes 3 hello --vcpus 3 --memory 192M
	assert_success
	assert_output --partial "kit: slit node 0: 10 30 40"
	assert_output --partial "kit: slit node 1: 31 10 50"
	assert_output --partial "kit: slit node 2: 41 51 10"
	assert_output --partial "PASS"
	rm "$AVM_RUNDIR/n$$/fabric.map"
	run_nodes 2 hello --vcpus 2 --memory 128M
	assert_success
	assert_output --partial "kit: slit node 0: 10 20"
	assert_output --partial "kit: slit node 1: 20 10"
}
