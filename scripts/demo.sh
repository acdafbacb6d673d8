#!/bin/sh
# The main job, as `make demo` runs it: what this host offers, then one VM
# with 4 vCPUs running the guest kit's hello program under avm-run.
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
echo "== avm-run: 4 vCPUs, 256M, the guest kit's hello program"
export AVM_RUNDIR="${AVM_RUNDIR:-$(mktemp -d /tmp/avm-demo.XXXXXX)}"
set +e
timeout 120 bin/avm-run --name demo --vcpus 4 --memory 256M \
	--kernel build/guest/hello.elf </dev/null
st=$?
set -e
echo "avm-run exited with status $st (the guest's verdict: 0 = PASS)"
exit $st
