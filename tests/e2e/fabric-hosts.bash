# The "hosts" of the avm-fabric tests and of bench/fabric.sh: network
# namespaces on one bridge, each with a real OpenSSH sshd on its own
# address (10.89.<i>.2), a host key and a user key made for the run.
# The bridge sits in a namespace of its own ("switch"), with one more
# veth from the root namespace, so that the hosts reach each other (the
# link matrix) and the root namespace reaches them (ssh), and nothing is
# added to the root namespace but a route over that veth.
#
# The caller sets D (a folder for keys, configs and logs), TAG (a short
# prefix for names: an interface name has 15 characters at most) and
# empty arrays NS, SSHD and PORT (PORT[I]: host I's ssh port, 22 when
# unset), calls hosts_keys once, hosts N, and hosts_teardown at the end.

# hosts_keys: a host key, a user key authorized everywhere, an empty
# known_hosts.
hosts_keys() {
	ssh-keygen -q -t ed25519 -N '' -C avm-test-host -f "$D/hostkey"
	ssh-keygen -q -t ed25519 -N '' -C avm-test-user -f "$D/userkey"
	cp "$D/userkey.pub" "$D/authorized_keys"
	: >"$D/known_hosts"
}

# hosts_teardown: every sshd stopped, every namespace deleted (with it
# its veth ends, their peers and the route over them).
hosts_teardown() {
	local pid n
	for pid in "${SSHD[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${SSHD[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	for n in "${NS[@]}"; do
		ip netns del "$n" 2>/dev/null || true
	done
}

# start_sshd I: sshd of host I in its namespace, on 10.89.I.2 port
# ${PORT[I]:-22}.
# sshd wants its privilege separation folder /run/sshd: it gets one on
# a tmpfs in a mount namespace of its own, so nothing is left in /run.
# There /run/avm-bin is $D/hI/bin, for a test that gives one host other
# tools than the rest.
# The host's /run/avm (the default remote run directory of up and down)
# is $D/hI/run-avm there, so that each host's files can be told apart
# and checked from here.
start_sshd() {
	local i=$1 ns="${TAG}h$1"
	cat >"$D/sshd$i.conf" <<-EOF
		ListenAddress 10.89.$i.2
		Port ${PORT[$i]:-22}
		HostKey $D/hostkey
		AuthorizedKeysFile $D/authorized_keys
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		StrictModes no
		PidFile $D/sshd$i.pid
		Subsystem sftp internal-sftp
	EOF
	mkdir -p "$D/h$i/run-avm" "$D/h$i/bin"
	ip netns exec "$ns" unshare -m sh -c \
		'mount -t tmpfs -o mode=0755,size=1m avm-test /run &&
		 mkdir /run/sshd /run/avm /run/avm-bin &&
		 mount --bind "$2" /run/avm &&
		 mount --bind "$3" /run/avm-bin &&
		 exec /usr/sbin/sshd -D -e -f "$1"' \
		sh "$D/sshd$i.conf" "$D/h$i/run-avm" "$D/h$i/bin" \
		</dev/null >"$D/sshd$i.log" 2>&1 3>&- &
	SSHD[$i]=$!
}

# wait_sshd I: until sshd I listens, at most 10 s.
wait_sshd() {
	local i=$1 ns="${TAG}h$1" t
	for t in $(seq 100); do
		if ip netns exec "$ns" ss -Hltn "src 10.89.$i.2:${PORT[$i]:-22}" |
			grep -q LISTEN; then
			return 0
		fi
		kill -0 "${SSHD[$i]}" 2>/dev/null || break
		sleep 0.1
	done
	cat "$D/sshd$i.log" >&2
	echo "sshd of host $i does not listen on 10.89.$i.2:${PORT[$i]:-22}" >&2
	return 1
}

# hosts N: namespaces h1..hN on the switch's bridge, each with its sshd
# running and its host key in $D/known_hosts (as "[address]:port" when
# the port is not 22).  No address is added to the root namespace: a
# route to 10.89.0.0/16 over its veth to the switch; each host has a
# default route over its own veth (the others and the root namespace
# answer ARP on the bridge).
hosts() {
	local n=$1 i ns sw="${TAG}sw" name
	ip netns add "$sw"
	NS+=("$sw")
	ip -n "$sw" link add br0 type bridge
	ip -n "$sw" link set br0 up
	ip link add "${TAG}r0" type veth peer name "${TAG}s0" netns "$sw"
	ip -n "$sw" link set "${TAG}s0" master br0 up
	ip link set "${TAG}r0" up
	ip route add 10.89.0.0/16 dev "${TAG}r0" scope link
	for ((i = 1; i <= n; i++)); do
		ns="${TAG}h$i"
		ip netns add "$ns"
		NS+=("$ns")
		ip -n "$sw" link add "${TAG}s$i" type veth peer name \
			"${TAG}n$i" netns "$ns"
		ip -n "$sw" link set "${TAG}s$i" master br0 up
		ip -n "$ns" link set lo up
		ip -n "$ns" link set "${TAG}n$i" up
		ip -n "$ns" addr add "10.89.$i.2/24" dev "${TAG}n$i"
		ip -n "$ns" route add default dev "${TAG}n$i"
		if [ -n "${PORT[$i]:-}" ]; then
			name="[10.89.$i.2]:${PORT[$i]}"
		else
			name=10.89.$i.2
		fi
		echo "$name $(cut -d' ' -f1,2 "$D/hostkey.pub")" >>"$D/known_hosts"
		start_sshd "$i"
	done
	for ((i = 1; i <= n; i++)); do
		wait_sshd "$i"
	done
}


# cluster N [MEMORY]: $D/c.yaml, a VM of one node per host, each node
# 1 vCPU and MEMORY (256M), logging in as root with $D/userkey; its
# kernel $KERNEL ($D/none when unset).
cluster() {
	local n=$1 mem=${2:-256M} i total
	total=$(($(numfmt --from=iec "$mem") * n / 1048576))M
	{
		echo "vm:"
		echo "  name: fab"
		echo "  vcpus: $n"
		echo "  memory: $total"
		echo "  kernel: ${KERNEL:-$D/none}"
		echo "nodes:"
		for ((i = 1; i <= n; i++)); do
			echo "  - host: h$i"
			echo "    address: 10.89.$i.2"
			echo "    vcpus: 1"
			echo "    memory: $mem"
			echo "    ssh:"
			echo "      user: root"
			[ -z "${PORT[$i]:-}" ] || echo "      port: ${PORT[$i]}"
			echo "      key: $D/userkey"
		done
	} >"$D/c.yaml"
}
