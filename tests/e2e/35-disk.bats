#!/usr/bin/env bats
# avm-run's disks (--disk PATH[,ro], the cluster file's vm.disks): every
# bad image is refused before KVM, placement, nodes or sockets, with its
# exit status and message, and nothing is left in the run directory; a
# guest kit driver writes and reads a virtio-blk disk from every node.

load helpers
bats_require_minimum_version 1.5.0

G="$AVM_TOP/build/guest"

setup() {
	setup_rundir
	D="$BATS_TEST_TMPDIR"
	HOLDER=
	SHARED=
}

teardown() {
	[ -z "$SHARED" ] || rm -rf "$SHARED"
	if [ -n "$HOLDER" ]; then
		kill "$HOLDER" 2>/dev/null || true
		wait "$HOLDER" 2>/dev/null || true
	fi
}

# nothing_left: the run directory holds nothing of the refused VM
nothing_left() {
	run find "$AVM_RUNDIR" -mindepth 1
	assert_output ""
}

@test "a missing image: 66 naming it, nothing left" {
	run timeout 10 avm-run --kernel "$G/hello.elf" --disk "$D/no.img"
	assert_equal "$status" 66
	assert_output "avm-run: disk '$D/no.img': No such file or directory"
	nothing_left
}

@test "a directory as image: 65, not a regular file (read-write or read-only)" {
	mkdir "$D/dir.img"
	run timeout 10 avm-run --kernel "$G/hello.elf" --disk "$D/dir.img"
	assert_equal "$status" 65
	assert_output "avm-run: disk '$D/dir.img': not a regular file"
	run timeout 10 avm-run --kernel "$G/hello.elf" --disk "$D/dir.img,ro"
	assert_equal "$status" 65
	assert_output "avm-run: disk '$D/dir.img': not a regular file"
	nothing_left
}

@test "an image smaller than one sector: 65 with its size; on 2 nodes too" {
	head -c 511 /dev/zero >"$D/small.img"
	run timeout 10 avm-run --kernel "$G/hello.elf" --disk "$D/small.img"
	assert_equal "$status" 65
	assert_output "avm-run: disk '$D/small.img': 511 bytes, smaller than one 512-byte sector"
	run timeout 10 avm-run --nodes 2 -c 2 --kernel "$G/hello.elf" \
		--disk "$D/small.img"
	assert_equal "$status" 65
	assert_output --partial "disk '$D/small.img': 511 bytes"
	nothing_left
}

@test "an image another VM holds: 75, read-write or read-only; a second disk is checked as well" {
	truncate -s 1M "$D/a.img" "$D/b.img"
	# another VM's lock on b.img, held for this test by flock(1)
	flock "$D/b.img" sleep 60 &
	HOLDER=$!
	sleep 0.3
	for b in "$D/b.img" "$D/b.img,ro"; do
		run timeout 10 avm-run --kernel "$G/hello.elf" \
			--disk "$D/a.img" --disk "$b"
		assert_equal "$status" 75
		assert_output "avm-run: disk '$D/b.img' is in use: another VM holds its lock (an image is one VM's, or read-only in every VM that has it)"
	done
	nothing_left
	# a.img was let go: the holder can take it now
	run flock -n "$D/a.img" true
	assert_success
}

@test "one image twice in one VM read-write: 75" {
	truncate -s 1M "$D/a.img"
	run timeout 10 avm-run --kernel "$G/hello.elf" --disk "$D/a.img" \
		--disk "$D/a.img"
	assert_equal "$status" 75
	assert_output --partial "disk '$D/a.img' is in use"
	nothing_left
}

@test "an unreadable image: 66 naming it (as a user who may not read it)" {
	local as= dir=$D
	if [ "$(id -u)" = 0 ]; then
		# root reads every file: start avm-run as nobody, in a folder
		# nobody can reach, with a run directory of nobody's
		requires setpriv
		SHARED=$(mktemp -d /tmp/avm-test-disk.XXXXXX)
		chmod 755 "$SHARED"
		dir=$SHARED
		mkdir -m 700 "$dir/run"
		chown 65534:65534 "$dir/run"
		AVM_RUNDIR=$dir/run
		as="setpriv --reuid=65534 --regid=65534 --clear-groups"
	fi
	truncate -s 1M "$dir/secret.img"
	chmod 000 "$dir/secret.img"
	for d in "$dir/secret.img" "$dir/secret.img,ro"; do
		run timeout 10 $as env AVM_RUNDIR="$AVM_RUNDIR" avm-run \
			--kernel "$G/hello.elf" --disk "$d"
		assert_equal "$status" 66
		assert_output --partial "avm-run: disk '$dir/secret.img': Permission denied"
	done
	assert_output "avm-run: disk '$dir/secret.img': Permission denied"
	nothing_left
}

@test "--disk usage: a bad flag, an empty path, more than 8: 64" {
	run -64 avm-run --kernel "$G/hello.elf" --disk "$D/a.img,rw"
	assert_line "avm-run: bad --disk '$D/a.img,rw': PATH or PATH,ro"
	run -64 avm-run --kernel "$G/hello.elf" --disk ",ro"
	assert_line "avm-run: bad --disk: an empty path"
	run -64 avm-run --kernel "$G/hello.elf" $(for i in $(seq 9); do
		echo --disk "$D/$i.img"
	done)
	assert_line "avm-run: --disk '$D/9.img': at most 8 disks"
	run -64 avm-run --cluster "$D/c.yaml" --disk "$D/a.img"
	nothing_left
}

@test "the cluster file's disks: relative to the file, missing 66, read-only locked 75, more than 8: 78" {
	head -c 32 /dev/urandom >"$D/secret"
	chmod 600 "$D/secret"
	cluster() {
		local lines=("  disks:") p
		for p in "$@"; do
			lines+=("  - path: ${p%,ro}")
			[ "$p" = "${p%,ro}" ] || lines+=("    readonly: true")
		done
		two_node_cluster "$D/c.yaml" "$D/secret" "${lines[@]}"
	}
	cluster disks/missing.img
	run timeout 10 avm-run --cluster "$D/c.yaml" --node 0
	assert_equal "$status" 66
	assert_output "avm-run[node 0]: disk '$D/disks/missing.img': No such file or directory"
	mkdir "$D/disks"
	truncate -s 1M "$D/disks/a.img"
	flock "$D/disks/a.img" sleep 60 &
	HOLDER=$!
	sleep 0.3
	cluster disks/a.img,ro
	run timeout 10 avm-run --cluster "$D/c.yaml" --node 0
	assert_equal "$status" 75
	assert_output --partial "disk '$D/disks/a.img' is in use"
	cluster $(seq -f "x%g.img" 9)
	run timeout 10 avm-run --cluster "$D/c.yaml" --node 0
	assert_equal "$status" 78
	assert_output "avm-run[node 0]: $D/c.yaml:15:5: 9 disks: avm-run offers at most 8"
	nothing_left
}

# expected_image FILE CPUS: what the guest kit's virtio-blk leaves in a
# 1 MiB image: CPU c's sectors 8c..8c+7, sector s all (s + 1) & 0xff
expected_image() {
	local s
	: >"$1"
	for s in $(seq 0 $(($2 * 8 - 1))); do
		head -c 512 /dev/zero |
			tr '\0' "\\$(printf %03o $(((s + 1) & 255)))" >>"$1"
	done
	truncate -s 1M "$1"
}

@test "guest kit virtio-blk on 1 node: the image holds what 2 vCPUs wrote" {
	requires kvm
	truncate -s 1M "$D/d.img"
	run timeout 120 avm-run -n "t$$" -c 2 -m 128M \
		--kernel "$G/virtio-blk.elf" --disk "$D/d.img" </dev/null
	assert_success
	assert_output --partial "virtio-blk cpu 1: sectors 8..15 written, read back"
	expected_image "$D/want.img" 2
	cmp "$D/d.img" "$D/want.img"
}

@test "guest kit virtio-blk on 2 nodes: writes from a vCPU on each node reach the image" {
	requires kvm
	truncate -s 1M "$D/d.img"
	run timeout 180 avm-run -n "t$$" --nodes 2 -c 4 -m 256M \
		--kernel "$G/virtio-blk.elf" --disk "$D/d.img" </dev/null
	assert_success
	for c in 0 1 2 3; do
		assert_output --partial "virtio-blk cpu $c: sectors"
	done
	expected_image "$D/want.img" 4
	cmp "$D/d.img" "$D/want.img"
}

@test "guest kit virtio-blk: a read-only disk refuses writes with IOERR, the image unchanged" {
	requires kvm
	truncate -s 1M "$D/d.img"
	run timeout 180 avm-run -n "t$$" --nodes 2 -c 2 -m 256M \
		--kernel "$G/virtio-blk.elf" --disk "$D/d.img,ro" -a ro </dev/null
	assert_success
	assert_output --partial "refused, read"
	cmp "$D/d.img" <(head -c 1M /dev/zero)
}
