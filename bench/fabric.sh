#!/bin/bash
# bench/fabric.sh: avm-fabric up's link matrix for 2 and 4 nodes on this
# host (network namespaces on one bridge, each with its own sshd, as the
# e2e tests make them: tests/e2e/fabric-hosts.bash), and for every link
# the limit it is measured against in the same run: a plain TCP
# ping-pong of the same 64-byte messages between the same two
# namespaces (bench/tcp-pingpong.c).  Prints tables; never fails on time.
# Needs root, ip netns and /usr/sbin/sshd; says so and stops otherwise.
set -u
TOP=${AVM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
PINGS=${PINGS:-2000}
STREAM=${STREAM:-64M}
echo "## avm-fabric link matrix (bench/fabric.sh)"
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null ||
	[ ! -x /usr/sbin/sshd ] || ! command -v jq >/dev/null; then
	echo "not run: needs root, ip (iproute2), jq and /usr/sbin/sshd"
	exit 0
fi
PP=$TOP/build/bench/tcp-pingpong
mkdir -p "$TOP/build/bench"
${CC:-cc} -O2 -o "$PP" "$TOP/bench/tcp-pingpong.c" || exit 1

. "$TOP/tests/e2e/fabric-hosts.bash"
D=$(mktemp -d /tmp/avm-bench-fabric.XXXXXX)
NS=()
SSHD=()
PORT=()
TAG="b$$"
cleanup() {
	hosts_teardown
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
hosts_keys

fab() {
	env -u SSH_AUTH_SOCK HOME="$D" AVM_RUNDIR="$D/local" \
		"$TOP/bin/avm-fabric" "$@" --known-hosts "$D/known_hosts" \
		--remote-bin "$TOP/bin" --timeout 30 "$D/c.yaml"
}

# us NS: nanoseconds as microseconds, one decimal
us() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1000 }'; }

for n in 2 4; do
	# names of their own: a deleted namespace's devices go away late
	hosts_teardown
	NS=()
	SSHD=()
	TAG="b$$n$n"
	hosts "$n" >/dev/null || exit 1
	cluster "$n"
	if ! fab up --json --pings "$PINGS" --stream "$STREAM" >"$D/up.json" \
		2>"$D/up.err"; then
		cat "$D/up.err" "$D/up.json"
		exit 1
	fi
	echo
	echo "$n nodes: $PINGS round trips of 64 bytes and $STREAM streamed per link, one link at a time"
	echo
	echo "| link | avm link rtt median (min-max) | plain TCP rtt median (min-max) | avm / TCP | avm bandwidth |"
	echo "|---|---|---|---|---|"
	jq -r '.links[] | "\(.from) \(.to) \(.rtt_median_ns) \(.rtt_min_ns) \(.rtt_max_ns) \(.bandwidth_bytes_per_s)"' \
		<"$D/up.json" | while read -r i j med min max bw; do
		ip netns exec "${TAG}h$((j + 1))" "$PP" serve "10.89.$((j + 1)).2" 7500 \
			>"$D/pp-serve" &
		sp=$!
		tcp=$(ip netns exec "${TAG}h$((i + 1))" "$PP" ping \
			"10.89.$((j + 1)).2" 7500 "$PINGS")
		wait "$sp"
		eval "$(echo "$tcp" | sed 's/^/t_/')"
		ratio=$(awk -v a="$med" -v b="$t_rtt_median_ns" 'BEGIN { printf "%.2f", a / b }')
		printf '| h%d -> h%d | %s us (%s-%s) | %s us (%s-%s) | %s x | %s MB/s |\n' \
			$((i + 1)) $((j + 1)) "$(us "$med")" "$(us "$min")" "$(us "$max")" \
			"$(us "$t_rtt_median_ns")" "$(us "$t_rtt_min_ns")" "$(us "$t_rtt_max_ns")" \
			"$ratio" "$(awk -v b="$bw" 'BEGIN { printf "%.0f", b / 1e6 }')"
	done
	fab down >/dev/null 2>&1
done
