#!/bin/sh
# The main job, as `make demo` runs it: what this host offers, then one
# VM aggregated over two nodes on this host, running the guest kit.
set -eu
cd "$(dirname "$0")/.."

echo "== avm-probe: what this host offers an aggregated VM"
bin/avm-probe
echo
echo "== avm-probe --require kvm,uffd-wp"
if bin/avm-probe --require kvm,uffd-wp; then
	echo "all prerequisites present"
fi
echo
export AVM_RUNDIR="${AVM_RUNDIR:-$(mktemp -d /tmp/avm-demo.XXXXXX)}"
st=0
run() {
	echo
	echo "== $1"
	shift
	set +e
	timeout 120 bin/avm-run "$@" </dev/null
	r=$?
	set -e
	echo "-> avm-run exited with status $r (the guest's verdict: 0 = PASS)"
	[ $r = 0 ] || st=$r
}

# One VM over two nodes on this host: node 0 and node 1 each run an
# avm-run (2 vCPUs) and an avm-pager (256M of home memory), linked over
# loopback TCP.  The guest kit prints what it sees: each vCPU's NUMA node
# from the SRAT avm-run built.
run "one VM over 2 nodes: 4 vCPUs, 512M, every vCPU says hello" \
	--name demo --nodes 2 --vcpus 4 --memory 512M \
	--kernel build/guest/hello.elf
run "a parallel workload on every vCPU of both nodes: lock xadd and a
   spinlock-protected counter on shared memory must add up exactly" \
	--name demo --nodes 2 --vcpus 4 --memory 512M \
	--kernel build/guest/atomic.elf
# 504M in 4 chunks of 126M from 4M up: vCPUs 0-1 write node 0's home
# range, vCPUs 2-3 node 1's; then each verifies a chunk written on
# another vCPU, which for vCPU 1 and 3 moves pages between the nodes.
run "every vCPU writes memory of its own NUMA node, then checks another's" \
	--name demo --nodes 2 --vcpus 4 --memory 512M --append mem=504M \
	--kernel build/guest/memtouch.elf
exit $st
