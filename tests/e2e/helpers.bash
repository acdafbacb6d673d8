# Shared set-up for the bats end-to-end tests.
#
# AVM_TOP is the source tree (the Makefile sets it); the tools are run
# from $AVM_TOP/bin.  `requires kvm|root|netns|...` skips a test with a
# reason, or fails it when AVM_NO_SKIP=1 (CI sets that: a skipped test
# there would hide a broken machine).

AVM_TOP=${AVM_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
PATH="$AVM_TOP/bin:$AVM_TOP/build/tests/helpers:$PATH"
export AVM_TOP PATH

load_bats_libs() {
	local d
	for d in /usr/lib/bats /usr/lib/bats-core /usr/local/lib/bats; do
		if [ -f "$d/bats-support/load.bash" ]; then
			load "$d/bats-support/load.bash"
			load "$d/bats-assert/load.bash"
			return 0
		fi
	done
	echo "bats-support and bats-assert are missing: run scripts/deps.sh" >&2
	return 1
}
load_bats_libs

# A machine that cannot have KVM at all (no kvm misc device registered:
# e.g. a kernel that is itself a kvm_pvm guest, "not binding") cannot run
# a VM.  .ci/run then sets AVM_NO_KVM_REASON and says so in its banner;
# only the `kvm` requirement may skip then, every other skip still fails
# under AVM_NO_SKIP=1.
kvm_absent() {
	if [ -n "${AVM_NO_KVM_REASON:-}" ] && [ ! -e /dev/kvm ]; then
		skip "no KVM on this machine: $AVM_NO_KVM_REASON"
	fi
	skip_or_fail "needs read/write access to /dev/kvm"
}

skip_or_fail() {
	if [ "${AVM_NO_SKIP:-0}" = 1 ]; then
		fail "cannot skip here (AVM_NO_SKIP=1): $*"
	fi
	skip "$*"
}

requires() {
	local need
	for need in "$@"; do
		case $need in
		kvm)
			[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] ||
				kvm_absent
			;;
		root)
			[ "$(id -u)" = 0 ] || skip_or_fail "needs root"
			;;
		netns)
			[ "$(id -u)" = 0 ] && command -v ip >/dev/null ||
				skip_or_fail "needs root and ip(8) for network namespaces"
			;;
		python-yaml)
			python3 -c 'import yaml' 2>/dev/null ||
				skip_or_fail "needs python3 with the yaml module"
			;;
		*)
			command -v "$need" >/dev/null ||
				skip_or_fail "needs '$need'"
			;;
		esac
	done
}

# A fresh run directory per test, so no test sees another's sockets.
setup_rundir() {
	AVM_RUNDIR=$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/rundir.XXXXXX")
	export AVM_RUNDIR
}

# wait_for_line FILE TEXT: until TEXT is in FILE, at most 30 s.
wait_for_line() {
	local i
	for i in $(seq 300); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "'$2' did not appear in $1" >&2
	return 1
}

# stat_val KEY: the value of the line KEY=VALUE in $output (what
# avm-runstats and avm-cfgdump print).
stat_val() {
	sed -n "s/^${1//./\\.}=//p" <<<"$output"
}

# The checks of tests/guest/apic2.c: under avm-run each prints
# "apic2 cpu K MODE: CHECK: ok" for both CPUs it runs on and both modes.
APIC2_CHECKS=(esr 'lvt mask' 'software disable' 'timer restart'
	'timer mode switch' 'tsc-deadline switch' tpr ppr cr8)

# two_node_cluster FILE SECRET [LINE...]: a cluster file of VM "cl" (2
# vCPUs, 256M, the guest kit's hello) on two loopback nodes with SECRET,
# the LINEs added under vm: as they are ("  disks:", "  - path: a").
two_node_cluster() {
	local file=$1 secret=$2
	shift 2
	{
		echo "vm:"
		echo "  name: cl"
		echo "  vcpus: 2"
		echo "  memory: 256M"
		echo "  kernel: $AVM_TOP/build/guest/hello.elf"
		[ $# -eq 0 ] || printf '%s\n' "$@"
		echo "nodes:"
		echo "  - host: n0"
		echo "    address: 127.0.0.1"
		echo "  - host: n1"
		echo "    address: 127.0.0.2"
		echo "fabric:"
		echo "  secret: $secret"
	} >"$file"
}

# assert_apic2_passed: apic2's output ($output) has every check ok on CPU 0
# and CPU 3 in both modes, nothing skipped, and PASS.
assert_apic2_passed() {
	local k m c
	for k in 0 3; do
		for m in xapic x2apic; do
			for c in "${APIC2_CHECKS[@]}"; do
				assert_line "apic2 cpu $k $m: $c: ok"
			done
		done
	done
	refute_output --partial skipped
	assert_output --partial "PASS"
}
