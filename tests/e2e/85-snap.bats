#!/usr/bin/env bats
# avm-snap inspect over snapshot files that avm-snapgen writes with the
# library's writer (the one saving will feed): what a user reads in YAML
# and JSON, --verify on good and damaged files (65, the message naming
# what is wrong) and on disk images changed since the snapshot (65, 66
# for one gone, --ignore-disks to look away), and the exit statuses of
# bad use.  No VM runs here, so nothing needs KVM and nothing may skip.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	requires jq
	D=$BATS_TEST_TMPDIR
}

# gen FILE ARGS...: a snapshot written by avm-snapgen.
gen() {
	local f=$1
	shift
	run -0 avm-snapgen "$@" "$f"
}

# flip FILE OFFSET: the byte of FILE at OFFSET, inverted.
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# poke FILE OFFSET BYTE: the byte of FILE at OFFSET set to BYTE (0..255).
poke() {
	printf "$(printf '\\%03o' "$3")" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# mem_offset FILE [NODE]: where node NODE's memory starts in its file.
mem_offset() {
	avm-snap -j inspect "$1" |
		jq -e ".sections[] | select(.type == \"memory\" and .node == ${2:-0}) | .offset_bytes"
}

@test "inspect: the VM a snapshot holds, in YAML" {
	gen "$D/demo.snap" --vm demo --vcpus 4 --memory 64M --nodes 2 \
		--created 1796580802
	run -0 --separate-stderr avm-snap inspect "$D/demo.snap"
	assert_line "format_version: 2"
	assert_line "vm: demo"
	assert_line "vcpus: 4"
	assert_line "mem_bytes: 67108864  # 64M"
	assert_line "created_unix_s: 1796580802  # 2026-12-06 18:13:22 UTC"
	assert_line "  - node: 1"
	assert_line "    vcpu_first: 2"
	assert_line "    ram_offset_bytes: 33554432"
	assert_line "    device: debugexit"
	assert_line "  zero_pages: 8192  # never written: no bytes stored"
	[ -z "$stderr" ]
}

@test "inspect -j: one JSON document with the values a script reads" {
	gen "$D/demo.snap" --vm demo --vcpus 4 --memory 64M --nodes 2
	run -0 --separate-stderr avm-snap -j inspect "$D/demo.snap"
	echo "$output" | jq -e '
		.format_version == 2 and .vm == "demo" and .vcpus == 4 and
		.mem_bytes == 67108864 and .file_bytes > 0 and
		(.snapshot_id | test("^[0-9a-f]{32}$")) and
		(.written_by | startswith("avm ")) and
		(.nodes | length) == 2 and
		.nodes[0].vcpus == 2 and .nodes[1].vcpu_first == 2 and
		.nodes[1].mem_bytes == 33554432 and .nodes[1].part == null and
		.disks == [] and
		(.sections | length) == 4 + 6 + 2 and
		([.sections[] | select(.type == "vcpu") | .vcpu] == [0, 1, 2, 3]) and
		([.sections[] | select(.type == "device") | .device] ==
		 ["uart", "rtc", "pm", "ioapic", "pic", "debugexit"]) and
		([.sections[] | select(.type == "memory") | .raw_bytes] ==
		 [33554432, 33554432]) and
		([.sections[] | select(.type == "memory") | .first_chunk] ==
		 [0, 32]) and
		.memory.chunk_bytes == 1048576 and .memory.chunks == 64 and
		.memory.pages == 16384 and .memory.zero_pages == 8192 and
		.memory.raw_bytes == 67108864 and
		.memory.data_bytes == 33554432 and
		.memory.compressed_bytes < .memory.data_bytes and
		.memory.ratio > 1 and (has("verify") | not)'
}

@test "inspect: YAML and JSON say the same" {
	requires python-yaml
	truncate -s 1M "$D/a b.img"
	gen "$D/s.snap" --nodes 3 --vcpus 3 --memory 12M --parts \
		--disk "$D/a b.img,ro"
	avm-snap inspect --verify "$D/s.snap" >"$D/y"
	avm-snap -j inspect --verify "$D/s.snap" >"$D/j"
	run -0 python3 -c 'import json, sys, yaml
a = yaml.safe_load(open(sys.argv[1]))
b = json.load(open(sys.argv[2]))
sys.exit(0 if a == b else "differ:\n%r\n%r" % (a, b))' "$D/y" "$D/j"
}

@test "zero pages store no bytes: 1G never written is its index" {
	gen "$D/z.snap" --memory 1G --pattern zero --devices ""
	run -0 avm-snap -j inspect "$D/z.snap"
	echo "$output" | jq -e '
		.memory.zero_pages == 262144 and .memory.data_bytes == 0 and
		.memory.compressed_bytes == 1024 * 64 and
		.file_bytes < 70000'
}

@test "--verify: a good file reads back whole, exit 0" {
	gen "$D/g.snap" --nodes 2 --vcpus 2 --memory 16M
	run -0 --separate-stderr avm-snap -j inspect --verify "$D/g.snap"
	echo "$output" | jq -e '
		.verify.ok == true and .verify.sections_checked == 2 + 6 + 2 and
		.verify.chunks_checked == 16 and
		(.verify.file_crc32 | test("^0x[0-9a-f]{8}$"))'
	[ -z "$stderr" ]
	# what the library reads back is what was written, page by page
	run -0 avm-snapgen --check --nodes 2 --vcpus 2 --memory 16M "$D/g.snap"
}

@test "--verify: a flipped byte in a chunk is named by number, 65" {
	# random pages do not compress: chunk k of a node starts at
	# its section's offset + k MiB
	gen "$D/r.snap" --nodes 2 --vcpus 2 --memory 8M --pattern random
	off=$(mem_offset "$D/r.snap" 1)
	flip "$D/r.snap" $((off + 1048576 + 1000))
	# without --verify the chunks are not read
	run -0 avm-snap inspect "$D/r.snap"
	run -65 --separate-stderr avm-snap -j inspect --verify "$D/r.snap"
	[[ $stderr == "avm-snap: '$D/r.snap': chunk 5 (guest RAM 0x500000-0x5fffff, node 1): bad CRC32 0x"*", expected 0x"* ]]
	echo "$output" | jq -e '.verify.ok == false and .verify.bad_chunk == 5 and
		(.verify.error | startswith("chunk 5 (guest RAM 0x500000-0x5fffff, node 1): bad CRC32"))'
}

@test "a flipped byte in the manifest, the header, the index: 65 naming it" {
	gen "$D/m.snap" --memory 4M
	cp "$D/m.snap" "$D/h.snap"
	cp "$D/m.snap" "$D/i.snap"
	cp "$D/m.snap" "$D/t.snap"
	flip "$D/m.snap" $((64 + 40))
	run -65 --separate-stderr avm-snap inspect "$D/m.snap"
	[[ $stderr =~ ^"avm-snap: '$D/m.snap': manifest: bad CRC32 0x"[0-9a-f]{8}", expected 0x"[0-9a-f]{8}$ ]]
	[ -z "$output" ]
	flip "$D/h.snap" 33
	run -65 avm-snap inspect "$D/h.snap"
	assert_output --partial "header: bad CRC32 0x"
	size=$(stat -c %s "$D/i.snap")
	flip "$D/i.snap" $((size - 32 - 10))
	run -65 avm-snap inspect "$D/i.snap"
	assert_output --partial "memory of node 0: chunk index: bad CRC32 0x"
	flip "$D/t.snap" $((size - 2))
	run -65 avm-snap inspect "$D/t.snap"
	assert_output --partial "trailer: bad CRC32 0x"
}

@test "not a snapshot: 65, bad magic" {
	gen "$D/s.snap" --memory 1M
	flip "$D/s.snap" 0
	run -65 avm-snap inspect "$D/s.snap"
	assert_output "avm-snap: '$D/s.snap': bad magic: not an AVM snapshot (it starts with be 56 4d 53 4e 41 50 00, not 41 56 4d 53 4e 41 50 00)"
	echo 'vm: {name: x}' >"$D/c.yaml"
	run -65 avm-snap inspect "$D/c.yaml"
	assert_output --partial "bad magic: not an AVM snapshot (it starts with 76 6d 3a 20"
	: >"$D/empty"
	run -65 avm-snap inspect "$D/empty"
	assert_output "avm-snap: '$D/empty': empty file"
}

@test "a newer format version: 65, naming the version got and the one read" {
	gen "$D/v.snap" --memory 1M
	poke "$D/v.snap" 8 3
	run -65 avm-snap inspect --verify "$D/v.snap"
	assert_output "avm-snap: '$D/v.snap': format version 3: this build reads versions 1 to 2 (the file is from a newer avm)"
}

@test "truncated files: 65, naming what is cut" {
	gen "$D/s.snap" --vcpus 2 --memory 8M --pattern random
	size=$(stat -c %s "$D/s.snap")
	off=$(mem_offset "$D/s.snap")
	for at in 20 64 500 $((off + 3000000)) $((size - 1)); do
		head -c "$at" "$D/s.snap" >"$D/cut"
		run -65 avm-snap inspect "$D/cut"
		case $at in
		20) want="truncated: 20 bytes, less than the 64-byte header" ;;
		64 | 500) want="truncated: $at bytes, written as $size; the manifest is cut" ;;
		$((size - 1))) want="the trailer is cut" ;;
		*) want="truncated: $at bytes, written as $size; memory of node 0 (bytes $off-$((size - 33))) is cut" ;;
		esac
		assert_output --partial "$want"
	done
	# a byte more is no better
	cp "$D/s.snap" "$D/more"
	echo >>"$D/more"
	run -65 avm-snap inspect "$D/more"
	assert_output --partial "something was added at the end"
}

@test "a snapshot of a VM with a device this build does not know: 65" {
	gen "$D/d.snap" --devices uart,vga --memory 1M
	run -65 avm-snap inspect "$D/d.snap"
	assert_output "avm-snap: '$D/d.snap': unknown device 'vga' (section 3): this build restores uart, rtc, pm, ioapic, pic, debugexit, virtio-blk0 to virtio-blk7, virtio-net0 to virtio-net7"
	# one name per instance: the bare ops name is not one, nor disk 8
	gen "$D/i.snap" --devices virtio-blk0,virtio-blk7,virtio-net0 --memory 1M
	run -0 avm-snap -j inspect "$D/i.snap"
	echo "$output" | jq -e '[.sections[] | select(.type == "device") | .device] ==
		["virtio-blk0", "virtio-blk7", "virtio-net0"]'
	for bad in virtio-blk virtio-blk8 virtio-blkx virtio-net01; do
		gen "$D/i.snap" --devices "uart,$bad" --memory 1M
		run -65 avm-snap inspect "$D/i.snap"
		assert_output --partial "unknown device '$bad' (section 3)"
	done
}

# image FILE SIZE: a disk image of SIZE bytes with a fixed mtime.
image() {
	truncate -s "$2" "$1"
	touch -d '2026-12-07 01:39:00.25 UTC' "$1"
}

@test "disks: inspect lists each image's path, size, mtime and ro" {
	image "$D/root.img" 1M
	image "$D/data.img" 64K
	cd "$D"
	# a relative path is recorded absolute, as avm-run opened it
	gen "$D/d.snap" --memory 1M --devices uart,virtio-blk0,virtio-blk1 \
		--disk root.img --disk "$D/data.img,ro"
	run -0 --separate-stderr avm-snap inspect "$D/d.snap"
	assert_line "disks:"
	assert_line "  - disk: 0"
	assert_line "    path: $D/root.img"
	assert_line "    size_bytes: 1048576  # 1M"
	assert_line "    mtime_unix_s: 1796607540  # 2026-12-07 01:39:00.250000000 UTC"
	assert_line "    mtime_nsec: 250000000"
	assert_line "    read_only: false"
	assert_line "    path: $D/data.img"
	assert_line "    read_only: true"
	assert_line "    disk: 1"
	[ -z "$stderr" ]
	run -0 --separate-stderr avm-snap -j inspect "$D/d.snap"
	echo "$output" | jq -e --arg d "$D" '
		.disks == [
		 {disk: 0, path: "\($d)/root.img", size_bytes: 1048576,
		  mtime_unix_s: 1796607540, mtime_nsec: 250000000,
		  read_only: false},
		 {disk: 1, path: "\($d)/data.img", size_bytes: 65536,
		  mtime_unix_s: 1796607540, mtime_nsec: 250000000,
		  read_only: true}] and
		([.sections[] | select(.type == "disk") | .disk] == [0, 1]) and
		([.sections[] | select(.type == "disk") | .deflated] ==
		 [false, false])'
	run -0 avm-snapgen --check --memory 1M --devices uart,virtio-blk0,virtio-blk1 \
		--disk root.img --disk "$D/data.img,ro" "$D/d.snap"
}

@test "disks: --verify passes on unchanged images" {
	image "$D/a.img" 1M
	image "$D/b.img" 2M
	gen "$D/d.snap" --memory 1M --disk "$D/a.img" --disk "$D/b.img,ro"
	run -0 --separate-stderr avm-snap -j inspect --verify "$D/d.snap"
	[ -z "$stderr" ]
	echo "$output" | jq -e '
		.verify.ok == true and .verify.disks_checked == 2 and
		.verify.disks_ignored == false and
		.verify.sections_checked == 2 + 6 + 1 + 2 and
		[.disks[].unchanged] == [true, true] and
		([.disks[] | has("error")] == [false, false])'
	# without --verify the images are not looked at
	rm "$D/b.img"
	run -0 avm-snap -j inspect "$D/d.snap"
	echo "$output" | jq -e '[.disks[] | has("unchanged")] == [false, false]'
}

@test "disks: a touched image fails --verify with 65, naming both times" {
	image "$D/a.img" 1M
	gen "$D/d.snap" --memory 1M --disk "$D/a.img"
	touch -d '2026-12-07 01:40:02.123456789 UTC' "$D/a.img"
	run -65 --separate-stderr avm-snap -j inspect --verify "$D/d.snap"
	assert_equal "$stderr" "avm-snap: '$D/d.snap': disk 0 '$D/a.img': modified since the snapshot: 2026-12-07 01:40:02.123456789 UTC now, 2026-12-07 01:39:00.250000000 UTC when saved"
	echo "$output" | jq -e --arg d "$D" '
		.verify.ok == false and .verify.bad_disk == 0 and
		.verify.bad_chunk == null and .verify.disks_checked == 1 and
		.verify.chunks_checked == 1 and
		.disks[0].unchanged == false and
		.disks[0].error == .verify.error and
		(.verify.error | startswith("disk 0 '"'"'\($d)/a.img'"'"': modified since the snapshot: "))'
	# a plain touch (now) is a change too
	image "$D/a.img" 1M
	run -0 avm-snap inspect --verify "$D/d.snap"
	touch "$D/a.img"
	run -65 avm-snap inspect --verify "$D/d.snap"
	assert_line --partial "disk 0 '$D/a.img': modified since the snapshot: "
}

@test "disks: another size fails --verify with 65; the first bad disk decides" {
	image "$D/a.img" 1M
	image "$D/b.img" 1M
	gen "$D/d.snap" --memory 1M --disk "$D/a.img" --disk "$D/b.img"
	truncate -s 2M "$D/b.img"
	touch -d '2026-12-07 01:39:00.25 UTC' "$D/b.img" # the same mtime
	run -65 --separate-stderr avm-snap inspect --verify "$D/d.snap"
	assert_equal "$stderr" "avm-snap: '$D/d.snap': disk 1 '$D/b.img': 2097152 bytes now, 1048576 when saved"
	assert_line "  bad_disk: 1"
	assert_line "    unchanged: true"
	# both changed: each named, in order; a disk gone is 66
	rm "$D/a.img"
	run -66 --separate-stderr avm-snap -j inspect --verify "$D/d.snap"
	assert_equal "${#stderr_lines[@]}" 2
	assert_equal "${stderr_lines[0]}" "avm-snap: '$D/d.snap': disk 0 '$D/a.img': No such file or directory"
	assert_equal "${stderr_lines[1]}" "avm-snap: '$D/d.snap': disk 1 '$D/b.img': 2097152 bytes now, 1048576 when saved"
	echo "$output" | jq -e '.verify.bad_disk == 0 and
		[.disks[].unchanged] == [false, false]'
	mkdir "$D/a.img"
	run -65 avm-snap inspect --verify "$D/d.snap"
	assert_line "avm-snap: '$D/d.snap': disk 0 '$D/a.img': not a regular file now"
}

@test "disks: --ignore-disks checks the snapshot's bytes and not the images" {
	image "$D/a.img" 1M
	gen "$D/d.snap" --memory 4M --pattern random --disk "$D/a.img"
	truncate -s 3M "$D/a.img"
	run -65 avm-snap inspect --verify "$D/d.snap"
	run -0 --separate-stderr avm-snap -j inspect --verify --ignore-disks "$D/d.snap"
	[ -z "$stderr" ]
	echo "$output" | jq -e '.verify.ok == true and
		.verify.disks_checked == 0 and .verify.disks_ignored == true and
		(.disks[0] | has("unchanged") | not)'
	# a damaged snapshot is still one
	off=$(mem_offset "$D/d.snap")
	flip "$D/d.snap" $((off + 5000))
	run -65 avm-snap inspect --verify --ignore-disks "$D/d.snap"
	assert_output --partial "chunk 0 (guest RAM 0x0-0xfffff, node 0): bad CRC32"
	# and one damaged snapshot does not look at its images
	run -65 --separate-stderr avm-snap -j inspect --verify "$D/d.snap"
	echo "$output" | jq -e '.verify.bad_chunk == 0 and
		.verify.bad_disk == null and .verify.disks_checked == 0'
	# without --verify it means nothing: a usage error, not ignored
	run -64 avm-snap inspect --ignore-disks "$D/d.snap"
	assert_line "avm-snap: --ignore-disks goes with --verify (it skips the check of the disk images)"
}

@test "part files: one per node, named in the manifest, each checked" {
	gen "$D/p.snap" --nodes 3 --vcpus 3 --memory 24M --parts
	# <main>.<the id's first 8 hex digits>.node<N>
	run -0 avm-snap -j inspect "$D/p.snap"
	id=$(echo "$output" | jq -r '.snapshot_id[0:8]')
	p0=p.snap.$id.node0 p1=p.snap.$id.node1 p2=p.snap.$id.node2
	[ -f "$D/$p0" ] && [ -f "$D/$p2" ]
	run -0 avm-snap -j inspect --verify "$D/p.snap"
	echo "$output" | jq -e --arg p0 "$p0" --arg p1 "$p1" --arg p2 "$p2" '
		[.nodes[].part] == [$p0, $p1, $p2] and
		([.sections[] | select(.type == "memory") | .file] ==
		 [$p0, $p1, $p2]) and
		.verify.ok == true and .verify.chunks_checked == 24'
	run -0 avm-snapgen --check --nodes 3 --vcpus 3 --memory 24M "$D/p.snap"
	flip "$D/$p1" 100
	run -65 avm-snap inspect --verify "$D/p.snap"
	assert_output --partial "chunk 8 (guest RAM 0x800000-0x8fffff, node 1): bad CRC32"
	rm "$D/$p2"
	run -66 avm-snap inspect "$D/p.snap"
	assert_output "avm-snap: '$D/p.snap': part '$p2' (memory of node 2): No such file or directory"
	run -65 avm-snap inspect "$D/$p0"
	assert_output --partial "a part file (the memory of node 0), not a snapshot"
}

@test "a writer that fails or is killed half-way leaves the old file" {
	gen "$D/k.snap" --memory 1M --vm old
	cp "$D/k.snap" "$D/old"
	# a file size limit: the write fails with EFBIG, the writer cleans up
	run bash -c "ulimit -f 2048; exec env --ignore-signal=XFSZ \
		avm-snapgen --vm new --memory 64M --pattern random '$D/k.snap'"
	assert_equal "$status" 73
	assert_output --partial "avm-snapgen: '$D/k.snap': write '$D/k.snap.tmp."
	assert_output --partial "': File too large"
	cmp "$D/k.snap" "$D/old"
	run ls "$D"
	assert_output "$(printf 'k.snap\nold')"
	# the same limit with SIGXFSZ: killed in the middle, no clean-up
	run bash -c "ulimit -f 2048; exec env --default-signal=XFSZ \
		avm-snapgen --vm new --memory 64M --pattern random '$D/k.snap'"
	assert_equal "$status" $((128 + 25))
	cmp "$D/k.snap" "$D/old"
	run -0 avm-snap -j inspect "$D/k.snap"
	echo "$output" | jq -e '.vm == "old"'
	ls "$D"/k.snap.tmp.* # what a crash leaves: the temporary file only
}

@test "missing or unreadable files: 66" {
	run -66 avm-snap inspect "$D/nope.snap"
	assert_output "avm-snap: '$D/nope.snap': No such file or directory"
	run -66 avm-snap inspect "$D"
	assert_output "avm-snap: '$D': Is a directory"
	run -66 avm-snap inspect /dev/null
	assert_output "avm-snap: '/dev/null': not a regular file"
}

@test "usage: 64, and inspect is the only verb" {
	run -64 --separate-stderr avm-snap
	assert_equal "${stderr_lines[0]}" "avm-snap: no verb (inspect)"
	run -64 --separate-stderr avm-snap save vm.snap
	assert_equal "${stderr_lines[0]}" "avm-snap: unknown verb 'save' (inspect)"
	run -64 --separate-stderr avm-snap inspect
	assert_equal "${stderr_lines[0]}" "avm-snap: inspect: no snapshot file"
	run -64 --separate-stderr avm-snap inspect a b
	assert_equal "${stderr_lines[0]}" "avm-snap: inspect: unexpected argument 'b'"
	run -64 --separate-stderr avm-snap --verify=yes inspect a
	assert_equal "${stderr_lines[0]}" "avm-snap: option '--verify' takes no argument"
	run -0 avm-snap --help
	assert_line --regexp '^  inspect FILE '
	refute_line --regexp '^  (save|restore|clone)'
}

@test "output that cannot be written: 1" {
	[ -w /dev/full ] || skip_or_fail "needs /dev/full"
	gen "$D/s.snap" --memory 1M
	run -1 --separate-stderr bash -c "avm-snap inspect '$D/s.snap' >/dev/full"
	assert_equal "$stderr" "avm-snap: write output: No space left on device"
	run -1 --separate-stderr bash -c "avm-snap -j inspect --verify '$D/s.snap' >/dev/full"
	assert_equal "$stderr" "avm-snap: write output: No space left on device"
}
