#!/usr/bin/env bats
# The cluster file parser, through avm-cfgdump: good files give the values
# a user wrote, each bad file gives the one diagnostic its first line
# promises ("# expect: LINE:COL: message"), with exit status 78.

load helpers

bats_require_minimum_version 1.5.0

DATA="$BATS_TEST_DIRNAME/data/config"

# The diagnostic a bad file promises, as avm-cfgdump prints it.
expected_diag() {
	local f=$1 want
	want=$(head -n 1 "$f")
	want=${want#\# expect: }
	case $want in
	[0-9]*:[0-9]*:*) echo "avm-cfgdump: $f:$want" ;;
	*) echo "avm-cfgdump: $f: $want" ;;
	esac
}

@test "every good file parses" {
	local f n=0
	for f in "$DATA"/good/*.yaml; do
		run -0 avm-cfgdump "$f"
		n=$((n + 1))
	done
	[ "$n" -ge 4 ]
}

@test "a full file gives the values written" {
	run -0 avm-cfgdump "$DATA/good/full.yaml"
	assert_line vm.name=demo
	assert_line vm.vcpus=4
	assert_line vm.memory_bytes=3221225472
	assert_line vm.kernel=/boot/vmlinuz
	assert_line vm.initrd=initrd.img
	assert_line "vm.cmdline=console=ttyS0 earlyprintk=serial,ttyS0"
	assert_line vm.line=2
	assert_line vm.disks.count=2
	assert_line vm.disks.0.path=root.img
	assert_line vm.disks.0.readonly=false
	assert_line vm.disks.1.path=/srv/data.img
	assert_line vm.disks.1.readonly=true
	assert_line nodes.count=2
	assert_line nodes.default=false
	assert_line nodes.0.host=hostA
	assert_line nodes.0.address=10.0.0.1
	assert_line nodes.0.ssh.user=root
	assert_line nodes.0.ssh.port=2222
	assert_line "nodes.0.ssh.key=~/.ssh/id_ed25519"
	assert_line nodes.0.vcpus=2
	assert_line nodes.0.memory_bytes=2147483648
	assert_line nodes.0.line=14
	assert_line nodes.1.host=hostB
	assert_line nodes.1.ssh.port=22
	assert_line nodes.1.memory_bytes=1073741824
	assert_line fabric.transport=rdma
	assert_line fabric.port=7401
	assert_line fabric.listen=10.0.0.1
	assert_line fabric.secret=/etc/avm/demo.secret
}

@test "without nodes, localhost contributes everything" {
	run -0 avm-cfgdump "$DATA/good/minimal.yaml"
	assert_line nodes.count=1
	assert_line nodes.default=true
	assert_line nodes.0.host=localhost
	assert_line nodes.0.address=localhost
	assert_line nodes.0.vcpus=1
	assert_line nodes.0.memory_bytes=16777216
	assert_line vm.kernel=
	assert_line vm.disks.count=0
	assert_line fabric.transport=tcp
	assert_line fabric.port=7400
	assert_line fabric.listen=
	assert_line fabric.secret=
}

@test "nodes without vcpus and memory get equal blocks: 1G over 3 and 5 nodes" {
	run -0 avm-cfgdump "$DATA/good/equal-3.yaml"
	assert_line nodes.count=3
	assert_line nodes.0.vcpus=1
	assert_line nodes.2.vcpus=1
	# 262144 pages: 87381, 87381, 87382
	assert_line nodes.0.memory_bytes=357912576
	assert_line nodes.1.memory_bytes=357912576
	assert_line nodes.2.memory_bytes=357916672
	run -0 avm-cfgdump "$DATA/good/equal-5.yaml"
	assert_line nodes.count=5
	assert_line nodes.4.vcpus=1
	# 52428 pages, then 52429 for the last four
	assert_line nodes.0.memory_bytes=214745088
	assert_line nodes.1.memory_bytes=214749184
	assert_line nodes.4.memory_bytes=214749184
}

@test "an uneven split is kept as written" {
	run -0 avm-cfgdump "$DATA/good/uneven.yaml"
	assert_line nodes.0.vcpus=1
	assert_line nodes.0.memory_bytes=268435456
	assert_line nodes.1.vcpus=3
	assert_line nodes.1.memory_bytes=805306368
}

@test "pasted avm-probe entries at column 0 under nodes parse" {
	run -0 avm-cfgdump "$DATA/good/probe-paste.yaml"
	assert_line nodes.count=2
	assert_line nodes.0.host=alpha
	assert_line nodes.0.address=alpha
	assert_line nodes.0.vcpus=2
	assert_line nodes.0.line=7
	assert_line nodes.1.host=beta
	assert_line nodes.1.address=192.168.1.2
	assert_line nodes.1.memory_bytes=536870912
	refute_line --partial probe
}

@test "flow style and quoted scalars parse" {
	run -0 avm-cfgdump "$DATA/good/flow.yaml"
	assert_line vm.name=flow
	assert_line vm.memory_bytes=67108864
	assert_line vm.disks.1.path=b.img
	assert_line nodes.0.host=::1
}

@test "good files read the same in another YAML reader" {
	requires python-yaml
	local f
	for f in "$DATA"/good/*.yaml; do
		avm-cfgdump "$f" >"$BATS_TEST_TMPDIR/dump" ||
			fail "avm-cfgdump '$f' failed"
		python3 - "$f" "$BATS_TEST_TMPDIR/dump" <<-'EOF'
			import re, sys, yaml
			doc = yaml.safe_load(open(sys.argv[1]))
			got = dict(l.rstrip("\n").split("=", 1)
				   for l in open(sys.argv[2]) if "=" in l)
			def size(v):
			    if isinstance(v, int):
			        return v
			    m = re.fullmatch(r"(\d+)\s*([KMGT]?)(i?B)?", str(v))
			    assert m, v
			    return int(m.group(1)) << {"": 0, "K": 10, "M": 20,
			                               "G": 30, "T": 40}[m.group(2)]
			def same(key, want):
			    assert got.get(key) == str(want), \
			        (sys.argv[1], key, got.get(key), want)
			vm = doc["vm"]
			same("vm.name", vm["name"])
			same("vm.vcpus", vm["vcpus"])
			same("vm.memory_bytes", size(vm["memory"]))
			nodes = doc.get("nodes") or []
			if nodes:
			    same("nodes.count", len(nodes))
			for i, n in enumerate(nodes):
			    same("nodes.%d.host" % i, n["host"])
			    if "vcpus" in n:
			        same("nodes.%d.vcpus" % i, n["vcpus"])
			    if "memory" in n:
			        same("nodes.%d.memory_bytes" % i, size(n["memory"]))
			    if "ssh" in n and "port" in n["ssh"]:
			        same("nodes.%d.ssh.port" % i, n["ssh"]["port"])
			fab = doc.get("fabric") or {}
			if "port" in fab:
			    same("fabric.port", fab["port"])
			print(sys.argv[1], "agrees on", len(nodes), "nodes")
		EOF
	done
}

@test "each bad file gives its expected diagnostic and exit 78" {
	local f n=0 want
	for f in "$DATA"/bad/*.yaml; do
		want=$(expected_diag "$f")
		run -78 --separate-stderr avm-cfgdump "$f"
		if [ "$stderr" != "$want" ]; then
			echo "file: $f"
			echo "want: $want"
			echo "got:  $stderr"
			return 1
		fi
		[ -z "$output" ]
		n=$((n + 1))
	done
	[ "$n" -ge 25 ]
}

@test "bad files name distinct problems" {
	local n
	n=$(for f in "$DATA"/bad/*.yaml; do head -n 1 "$f"; done |
		sort -u | wc -l)
	[ "$n" -ge 25 ]
}

@test "a missing file exits 66" {
	run -66 --separate-stderr avm-cfgdump "$BATS_TEST_TMPDIR/nope.yaml"
	assert_equal "$stderr" \
		"avm-cfgdump: $BATS_TEST_TMPDIR/nope.yaml: No such file or directory"
}

@test "a directory exits 66" {
	run -66 --separate-stderr avm-cfgdump "$BATS_TEST_TMPDIR"
	assert_equal "$stderr" "avm-cfgdump: $BATS_TEST_TMPDIR: Is a directory"
}

@test "an unreadable file exits 66" {
	local as=
	cp "$DATA/good/minimal.yaml" "$BATS_TEST_TMPDIR/secret.yaml"
	chmod 000 "$BATS_TEST_TMPDIR/secret.yaml"
	# root reads every file: read it as nobody, who may not
	if [ "$(id -u)" = 0 ]; then
		requires setpriv
		chmod 755 "$BATS_TEST_TMPDIR"
		as="setpriv --reuid=65534 --regid=65534 --clear-groups"
	fi
	run -66 --separate-stderr $as avm-cfgdump "$BATS_TEST_TMPDIR/secret.yaml"
	assert_equal "$stderr" \
		"avm-cfgdump: $BATS_TEST_TMPDIR/secret.yaml: Permission denied"
}

@test "bad usage exits 64" {
	run -64 avm-cfgdump
	run -64 avm-cfgdump a b
	run -64 avm-cfgdump --bogus
	run -0 avm-cfgdump --help
	assert_output --partial usage
}

@test "hostile input: too many nodes" {
	local f=$BATS_TEST_TMPDIR/many.yaml i
	{
		echo 'vm: {name: a, vcpus: 1024, memory: 2G}'
		echo 'nodes:'
		for i in $(seq 0 1024); do
			echo "- {host: h$i, vcpus: 1, memory: 2M}"
		done
	} >"$f"
	run -78 --separate-stderr avm-cfgdump "$f"
	assert_equal "$stderr" \
		"avm-cfgdump: $f:1027:3: too many entries in 'nodes' (at most 1024)"
}

@test "hostile input: deep nesting" {
	local f=$BATS_TEST_TMPDIR/deep.yaml
	{
		printf 'vm: {name: a, vcpus: 1, memory: 16M}\n'
		printf 'nodes:\n- host: a\n  vcpus: 1\n  memory: 16M\n  probe: {a: '
		printf '[%.0s' $(seq 1 100000)
		printf '\n'
	} >"$f"
	run -78 --separate-stderr avm-cfgdump "$f"
	assert_equal "$stderr" \
		"avm-cfgdump: $f:6:42: nesting deeper than 32 levels"
}

@test "hostile input: a huge file is refused" {
	local f=$BATS_TEST_TMPDIR/huge.yaml
	head -c $((17 * 1024 * 1024)) /dev/zero | tr '\0' '#' >"$f"
	run -78 --separate-stderr avm-cfgdump "$f"
	assert_equal "$stderr" \
		"avm-cfgdump: $f: file too large (more than 16777216 bytes)"
}

@test "avm-probe output pasted under nodes parses" {
	requires avm-probe
	local f=$BATS_TEST_TMPDIR/probed.yaml vc mem
	run --separate-stderr avm-probe
	[ -n "$output" ]
	# The entry may say what the node contributes; the VM then matches.
	vc=$(sed -n 's/^  vcpus: *//p' <<<"$output")
	mem=$(sed -n 's/^  memory: *//p' <<<"$output")
	{
		printf 'vm:\n  name: probed\n  vcpus: %s\n  memory: %s\n' \
			"${vc:-1}" "${mem:-16M}"
		printf 'nodes:\n%s\n' "$output"
		[ -n "$vc" ] || echo '  vcpus: 1'
		[ -n "$mem" ] || echo '  memory: 16M'
	} >"$f"
	run -0 avm-cfgdump "$f"
	assert_line nodes.count=1
}
