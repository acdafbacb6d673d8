#!/usr/bin/env bats
# avm-run's network cards (--net tap=NAME[,mac=MAC], the cluster file's
# vm.nets): every bad one is refused before KVM, placement, nodes or
# sockets, with its exit status and message, and nothing is left; a tap
# avm-run makes goes with it, an operator's tap stays as it was.  The
# guest kit's virtio-net driver sends a frame from the last vCPU (on
# node 1 of two) and gets the answer of avm-tapecho on the host's side
# of the tap.  Every test that touches an interface runs in a network
# namespace of its own, so no interface is ever made on the host's.

load helpers
bats_require_minimum_version 1.5.0

G="$AVM_TOP/build/guest"

setup() {
	setup_rundir
	D="$BATS_TEST_TMPDIR"
	NS=
	HOLDER=
	ECHO=
	SHARED=
}

teardown() {
	local p
	for p in $HOLDER $ECHO; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
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
	for t in "a/b" "a:b" "a b" ".." "t%d"; do
		run -64 avm-run --kernel "$G/hello.elf" --net "tap=$t"
		assert_line --partial "avm-run: bad --net 'tap=$t': "
	done
	for m in 01:00:5e:00:00:01 00:00:00:00:00:00 02:41:56:00:00 \
		02:41:56:00:00:01:02 02-41-56-00-00-01 g2:41:56:00:00:01 \
		0x:41:56:00:00:01 02:41:56:00:00:0X " 2:41:56:00:00:01"; do
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
		two_node_cluster "$D/c.yaml" "$D/secret" "  nets:" "$@"
	}
	cluster "  - tap: abcdefghijklmnop"
	run timeout 10 avm-run --cluster "$D/c.yaml" --node 0
	assert_equal "$status" 78
	assert_output "avm-run[node 0]: $D/c.yaml:7:5: tap: an interface name has 1 to 15 bytes, 'abcdefghijklmnop' has 16"
	cluster "  - tap: t%d"
	run timeout 10 avm-run --cluster "$D/c.yaml" --node 0
	assert_equal "$status" 78
	assert_output "avm-run[node 0]: $D/c.yaml:7:5: tap: 't%d': an interface name has no '%' (the kernel makes a name of its own from such a pattern)"
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

# tap_peer NAME ARGS -- PAYLOAD...: the far end of tap NAME, made here
# by a python script that holds it open as avm-run would: starts
# `avm-tapecho ARGS NAME` once the tap is up, sends it noise that must
# go unanswered (a frame of another ethertype; one of ethertype 0x88b5
# going out of the tap, from another packet socket), then each PAYLOAD
# from 02:41:56:00:00:10 to the broadcast address, one at a time, and
# prints each answer ("answer to DST from SRC type T LEN bytes: TEXT",
# non-printables as '.'), avm-tapecho's lines ("tapecho: LINE") and its
# status ("tapecho exit N").
tap_peer() {
	in_ns python3 - "$@" <<'EOF'
import fcntl, os, select, socket, struct, subprocess, sys, time

name = sys.argv[1]
sep = sys.argv.index("--")
args, payloads = sys.argv[2:sep], sys.argv[sep + 1:]
me = bytes.fromhex("024156000010")

def text(b):
    return "".join(chr(c) if 0x20 <= c < 0x7f else "." for c in b)

def mac(b):
    return ":".join("%02x" % c for c in b)

fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", name.encode(), 0x1002))
subprocess.run(["ip", "link", "set", name, "up"], check=True)
echo = subprocess.Popen(["avm-tapecho"] + args + [name],
                        stdout=subprocess.PIPE, text=True)
first = echo.stdout.readline()
print("tapecho: " + first, end="", flush=True)
if first != "ready\n":
    sys.exit("avm-tapecho did not say ready")
os.write(fd, b"\xff" * 6 + me + b"\x88\xb6" + b"not for avm-tapecho")
out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
out.bind((name, 0))
out.send(b"\xff" * 6 + bytes.fromhex("020000000099") + b"\x88\xb5" +
         b"going out: not for avm-tapecho")
for p in payloads:
    os.write(fd, b"\xff" * 6 + me + b"\x88\xb5" + os.fsencode(p))
    deadline = time.monotonic() + 10
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            sys.exit("no answer to '%s' in 10 s" % text(os.fsencode(p)))
        f = os.read(fd, 65536)
        # the host's own chatter (IPv6) and the noise above go by
        if len(f) >= 14 and f[:6] == me:
            break
    print("answer to %s from %s type %#06x %d bytes: %s" %
          (mac(f[:6]), mac(f[6:12]), f[12] << 8 | f[13], len(f),
           text(f[14:])), flush=True)
try:
    rest, _ = echo.communicate(timeout=10)
except subprocess.TimeoutExpired:
    echo.kill()
    rest, _ = echo.communicate()
for line in rest.splitlines():
    print("tapecho: " + line)
print("tapecho exit %d" % echo.returncode)
EOF
}

@test "avm-tapecho answers a frame on a tap (the host side of the guest kit test)" {
	netns
	requires python3
	run tap_peer kt0 --timeout-ms 10000 -- $'avm-kit ping cpu 9\x01'
	assert_success
	assert_line "answer to 02:41:56:00:00:10 from 02:48:4f:53:54:00 type 0x88b5 47 bytes: avm-host pong avm-kit ping cpu 9."
	assert_line "tapecho: ready"
	assert_line "tapecho: got 02:41:56:00:00:10 33 bytes: avm-kit ping cpu 9."
	assert_line "tapecho: sent 47 bytes"
	assert_line "tapecho exit 0"
	refute_output --partial "not for avm-tapecho"
	# --count: that many, then it ends
	run tap_peer kt0 --count 2 -- one two
	assert_success
	assert_line "answer to 02:41:56:00:00:10 from 02:48:4f:53:54:00 type 0x88b5 31 bytes: avm-host pong one"
	assert_line "answer to 02:41:56:00:00:10 from 02:48:4f:53:54:00 type 0x88b5 31 bytes: avm-host pong two"
	assert_line "tapecho: got 02:41:56:00:00:10 17 bytes: two"
	assert_line "tapecho exit 0"
}

@test "avm-tapecho: --bench answers N frames with one line; a timeout is 1, usage 64, no interface 66" {
	netns
	requires python3
	run tap_peer kt0 --bench 50 -- $(seq -f "frame%g" 50)
	assert_success
	assert_equal "$(grep -c '^answer to 02:41:56:00:00:10 .*: avm-host pong frame' <<<"$output")" 50
	assert_line "answer to 02:41:56:00:00:10 from 02:48:4f:53:54:00 type 0x88b5 35 bytes: avm-host pong frame50"
	assert_line --regexp "^tapecho: bench tapecho frames=50 bytes=[0-9]+ ns=[0-9]+ ns_per_frame=[0-9]+$"
	refute_output --partial "tapecho: got"
	assert_line "tapecho exit 0"
	# only noise: the wait ends
	run tap_peer kt0 --timeout-ms 300 --
	assert_line "avm-tapecho: timeout: no frame of ethertype 0x88b5 on 'kt0' in 300 ms (0 of 1 answered)"
	assert_line "tapecho exit 1"
	run -64 avm-tapecho
	assert_output "usage: avm-tapecho [--count N | --bench N] [--timeout-ms MS] IFNAME"
	run -64 avm-tapecho --count 0 kt0
	assert_output "avm-tapecho: bad --count '0': 1 to 4294967295"
	run -64 avm-tapecho --count 2 --bench 2 kt0
	run -66 in_ns avm-tapecho nosuch0
	assert_output "avm-tapecho: interface 'nosuch0': No such device"
}

# kit_net: the guest kit's virtio-net set up in this test's namespace:
# an operator's tap avmk0, up, and avm-tapecho answering one frame on it
# ($ECHO, its output in $D/echo.out), started before the VM since
# avm-run uses an existing tap as it is; lo up for the nodes' links.
kit_net() {
	netns
	in_ns ip link set lo up
	in_ns ip tuntap add dev avmk0 mode tap
	in_ns ip link set avmk0 up
	in_ns avm-tapecho --timeout-ms 170000 avmk0 >"$D/echo.out" 2>&1 &
	ECHO=$!
	local _
	for _ in $(seq 100); do
		grep -qx ready "$D/echo.out" && return 0
		sleep 0.1
	done
	cat "$D/echo.out" >&2
	fail "avm-tapecho did not say ready"
}

# kit_net_answered CPU: the guest's ping from CPU came to the host from
# the card's MAC, the answer went back, and avm-tapecho ended well.
kit_net_answered() {
	assert_output --partial "virtio-net: mac 02:41:56:00:00:10"
	assert_output --partial "virtio-net: cpu $1 got 46 bytes from 02:48:4f:53:54:00: avm-host pong avm-kit ping cpu $1"
	assert_output --partial "virtio-net: cpu $1: pong received"
	local st=0
	wait "$ECHO" || st=$?
	ECHO=
	run cat "$D/echo.out"
	assert_equal "$st" 0
	assert_output "ready
got 02:41:56:00:00:10 32 bytes: avm-kit ping cpu $1
sent 46 bytes"
}

# The same driver against QEMU's virtio-net (microvm, TCG: no KVM
# needed), which puts its first device on the last of its 24
# virtio-mmio transports and, unlike the spec and avm-run, writes
# num_buffers 0.  It checks the driver, not avm-run.
@test "guest kit virtio-net under QEMU (microvm, TCG): the ping from the last CPU is answered by avm-tapecho" {
	requires qemu-system-x86_64
	kit_net
	run in_ns timeout 120 qemu-system-x86_64 -M microvm,acpi=on,rtc=on \
		-accel tcg -smp 2 -m 256 -nodefaults -display none \
		-serial stdio -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-global virtio-mmio.force-legacy=false \
		-netdev tap,id=n0,ifname=avmk0,script=no,downscript=no \
		-device virtio-net-device,netdev=n0,mac=02:41:56:00:00:10 \
		-kernel "$G/virtio-net.elf" \
		-append "mmio=0xfeb02e00 num_buffers=0" </dev/null
	assert_line PASS
	assert_equal "$status" 1 # guest status 0
	assert_line "virtio-net: cpu 1 node 0"
	kit_net_answered 1
}

@test "guest kit virtio-net on 1 node, 2 vCPUs: the last vCPU's frame reaches the tap and the answer the guest" {
	requires kvm
	kit_net
	run in_ns timeout 180 avm-run -n "t$$" -c 2 -m 128M \
		--kernel "$G/virtio-net.elf" \
		--net tap=avmk0,mac=02:41:56:00:00:10 </dev/null
	assert_success
	assert_output --partial "virtio-net: cpu 1 node 0"
	assert_output --partial "PASS"
	kit_net_answered 1
}

@test "guest kit virtio-net on 2 nodes: a vCPU on node 1 sends a frame, the host answers, the guest receives it" {
	requires kvm
	kit_net
	run in_ns timeout 180 avm-run -n "t$$" --nodes 2 -c 2 -m 256M \
		--kernel "$G/virtio-net.elf" \
		--net tap=avmk0,mac=02:41:56:00:00:10 </dev/null
	assert_success
	assert_output --partial "virtio-net: cpu 1 node 1"
	assert_output --partial "PASS"
	kit_net_answered 1
}
