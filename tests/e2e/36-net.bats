#!/usr/bin/env bats
# avm-run's network cards (--net tap=NAME[,mac=MAC], the cluster file's
# vm.nets): every bad one is refused before KVM, placement, nodes or
# sockets, with its exit status and message, and nothing is left; a tap
# avm-run makes goes with it, an operator's tap stays as it was.  Each
# test runs avm-run in a network namespace of its own, so no interface
# is ever made on the host's.

load helpers
bats_require_minimum_version 1.5.0

G="$AVM_TOP/build/guest"

setup() {
	setup_rundir
	D="$BATS_TEST_TMPDIR"
	NS=
	HOLDER=
	SHARED=
}

teardown() {
	if [ -n "$HOLDER" ]; then
		kill "$HOLDER" 2>/dev/null || true
		wait "$HOLDER" 2>/dev/null || true
	fi
	[ -z "$NS" ] || ip netns del "$NS" 2>/dev/null || true
	[ -z "$SHARED" ] || rm -rf "$SHARED"
}

# netns: a namespace of this test's, in $NS; in_ns CMD...: run CMD there
netns() {
	requires netns
	NS="avm-t36-$$-$BATS_TEST_NUMBER"
	ip netns add "$NS"
}

in_ns() {
	ip netns exec "$NS" "$@"
}

nothing_left() {
	run find "$AVM_RUNDIR" -mindepth 1
	assert_output ""
}

# The status avm-run ends with on a VM that starts: 69 without KVM (it
# stops at /dev/kvm, after the taps), the guest's own with it.
ran_to_kvm_or_end() {
	if [ -w /dev/kvm ]; then
		assert_success
	else
		assert_equal "$status" 69
		assert_output --partial "/dev/kvm"
	fi
}

@test "--net usage: name too long or malformed, bad MAC, unknown key, no tap, more than 8, one tap twice: 64" {
	run -64 avm-run --kernel "$G/hello.elf" --net tap=abcdefghijklmnop
	assert_line "avm-run: bad --net 'tap=abcdefghijklmnop': an interface name has 1 to 15 bytes, 'abcdefghijklmnop' has 16"
	for t in "a/b" "a:b" "a b" ".."; do
		run -64 avm-run --kernel "$G/hello.elf" --net "tap=$t"
		assert_line --partial "avm-run: bad --net 'tap=$t': "
	done
	for m in 01:00:5e:00:00:01 00:00:00:00:00:00 02:41:56:00:00 \
		02:41:56:00:00:01:02 02-41-56-00-00-01 g2:41:56:00:00:01; do
		run -64 avm-run --kernel "$G/hello.elf" --net "tap=t0,mac=$m"
		assert_line "avm-run: bad --net 'tap=t0,mac=$m': bad mac '$m': six hex bytes XX:XX:XX:XX:XX:XX, unicast, not all zero"
	done
	run -64 avm-run --kernel "$G/hello.elf" --net tap=t0,bridge=br0
	assert_line "avm-run: bad --net 'tap=t0,bridge=br0': unknown 'bridge=br0': tap=NAME[,mac=XX:XX:XX:XX:XX:XX]"
	run -64 avm-run --kernel "$G/hello.elf" --net mac=02:00:00:00:00:01
	assert_line "avm-run: bad --net 'mac=02:00:00:00:00:01': no tap=NAME"
	run -64 avm-run --kernel "$G/hello.elf" $(for i in $(seq 9); do
		echo --net "tap=t$i"
	done)
	assert_line "avm-run: --net 'tap=t9': at most 8 network cards"
	run -64 avm-run --kernel "$G/hello.elf" --net tap=t0 --net tap=t0
	assert_line "avm-run: tap 't0' is named twice: a tap is one card's"
	run -64 avm-run --cluster "$D/c.yaml" --net tap=t0
	nothing_left
}

@test "a tap avm-run makes goes with it; an operator's tap is used as it is and stays (down, with a warning)" {
	netns
	run in_ns timeout 60 avm-run -v -n "t$$" --kernel "$G/hello.elf" \
		--net tap=avm0,mac=02:41:56:00:00:07 --net tap=oper0 </dev/null
	ran_to_kvm_or_end
	assert_output --partial "net 0: tap 'avm0' (made for this VM), at 0xd0008000 GSI 16"
	assert_output --partial "net 1: tap 'oper0' (made for this VM), at 0xd0009000 GSI 17"
	run in_ns ip -o link show
	refute_output --partial avm0
	refute_output --partial oper0
	# the operator's: persistent, down
	in_ns ip tuntap add dev oper0 mode tap
	run in_ns timeout 60 avm-run -v -n "t$$" --kernel "$G/hello.elf" \
		--net tap=oper0 </dev/null
	ran_to_kvm_or_end
	assert_output --partial "net 0: tap 'oper0', at 0xd0008000 GSI 16"
	assert_output --partial "avm-run: warning: tap 'oper0' is down: the guest's frames are dropped until it is up (ip link set oper0 up)"
	run in_ns ip -o link show oper0
	assert_success
	assert_output --partial "state DOWN"
	refute_output --partial ",UP"
	nothing_left
}

@test "an interface that is not a tap: 65; a tap another process has open: 75; nothing left" {
	netns
	run in_ns timeout 10 avm-run --kernel "$G/hello.elf" --net tap=lo
	assert_equal "$status" 65
	assert_output "avm-run: 'lo' is an interface that is not a tap"
	in_ns ip link add veth0 type veth peer name veth1
	run in_ns timeout 10 avm-run --kernel "$G/hello.elf" \
		--net tap=t0 --net tap=veth0
	assert_equal "$status" 65
	assert_output "avm-run: 'veth0' is an interface that is not a tap"
	run in_ns ip -o link show t0
	assert_failure # the first card's tap went with the refusal
	# another process holds tap busy0 open (a second VM, or anything)
	in_ns python3 -c '
import fcntl, struct, sys, time
fd = open("/dev/net/tun", "r+b", buffering=0)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"busy0", 0x1002))
print("held", flush=True)
time.sleep(60)' >"$D/holder.out" &
	HOLDER=$!
	for _ in $(seq 50); do
		grep -q held "$D/holder.out" && break
		sleep 0.1
	done
	run in_ns timeout 10 avm-run --kernel "$G/hello.elf" --net tap=busy0
	assert_equal "$status" 75
	assert_output "avm-run: tap 'busy0' is in use: another process has it open"
	run in_ns ip -o link show busy0
	assert_success # the holder's tap is untouched
	nothing_left
}

@test "a tap without the right: 77 naming the fix; a tap made for the user is the fix" {
	netns # root, which can start avm-run as nobody
	requires setpriv
	SHARED=$(mktemp -d /tmp/avm-test-net.XXXXXX)
	chmod 755 "$SHARED"
	mkdir -m 700 "$SHARED/run"
	chown 65534:65534 "$SHARED/run"
	# as nobody, with /dev/net/tun as this host has it, then with one
	# every user may open (bound over it in this command's own mount
	# namespace: the host's is untouched)
	mknod -m 666 "$SHARED/tun" c 10 200
	as_nobody() {
		in_ns sh -c '[ -z "$1" ] || mount --bind "$1" /dev/net/tun
			shift
			exec setpriv --reuid=65534 --regid=65534 --clear-groups \
				env AVM_RUNDIR="$0" timeout 60 avm-run "$@"' \
			"$SHARED/run" "$@" </dev/null
	}
	if [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
		run as_nobody "" --kernel "$G/hello.elf" --net tap=t0
		assert_equal "$status" 77
		assert_output "avm-run: /dev/net/tun: Permission denied (a tap needs root, CAP_NET_ADMIN or access to /dev/net/tun)"
	fi
	run as_nobody "$SHARED/tun" --kernel "$G/hello.elf" --net tap=t0
	assert_equal "$status" 77
	assert_output "avm-run: tap 't0': creating a tap needs CAP_NET_ADMIN (root), or a tap made for this user (ip tuntap add t0 mode tap user USER)"
	run find "$SHARED/run" -mindepth 1
	assert_output ""
	# the fix: a tap made for that user
	in_ns ip tuntap add dev t0 mode tap user 65534
	run as_nobody "$SHARED/tun" -v --kernel "$G/hello.elf" --net tap=t0
	assert_output --partial "net 0: tap 't0', at 0xd0008000 GSI 16"
	ran_to_kvm_or_end
}

@test "the cluster file's nets: a bad tap name, a bad MAC, more than 8: 78 with the place" {
	head -c 32 /dev/urandom >"$D/secret"
	chmod 600 "$D/secret"
	cluster() {
		{
			echo "vm:"
			echo "  name: cl"
			echo "  vcpus: 2"
			echo "  memory: 256M"
			echo "  kernel: $G/hello.elf"
			echo "  nets:"
			printf '%s\n' "$@"
			echo "nodes:"
			echo "  - host: n0"
			echo "    address: 127.0.0.1"
			echo "  - host: n1"
			echo "    address: 127.0.0.2"
			echo "fabric:"
			echo "  secret: $D/secret"
		} >"$D/c.yaml"
	}
	cluster "  - tap: abcdefghijklmnop"
	run timeout 10 avm-run --cluster "$D/c.yaml" --node 0
	assert_equal "$status" 78
	assert_output "avm-run[node 0]: $D/c.yaml:7:5: tap: an interface name has 1 to 15 bytes, 'abcdefghijklmnop' has 16"
	cluster "  - tap: t0" "  - tap: t1" "    mac: \"ff:ff:ff:ff:ff:ff\""
	run timeout 10 avm-run --cluster "$D/c.yaml" --node 0
	assert_equal "$status" 78
	assert_output "avm-run[node 0]: $D/c.yaml:8:5: bad mac 'ff:ff:ff:ff:ff:ff': six hex bytes XX:XX:XX:XX:XX:XX, unicast, not all zero"
	local lines=() i
	for i in $(seq 9); do lines+=("  - tap: t$i"); done
	cluster "${lines[@]}"
	run timeout 10 avm-run --cluster "$D/c.yaml" --node 0
	assert_equal "$status" 78
	assert_output "avm-run[node 0]: $D/c.yaml:15:5: 9 nets: avm-run offers at most 8"
	cluster "  - mac: \"02:41:56:00:00:01\""
	run timeout 10 avm-run --cluster "$D/c.yaml" --node 0
	assert_equal "$status" 78
	assert_output --partial "missing key 'tap' in 'vm.nets[0]'"
	nothing_left
}
