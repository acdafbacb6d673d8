#!/bin/sh
# `make bench`: every benchmark of bench/, each printing its own table
# with the limits it measured in the same run.  Numbers, never pass/fail.
set -u
cd "$(dirname "$0")/.."
st=0
for b in bench/vmm.sh bench/pager.sh bench/nodes.sh bench/fabric.sh bench/top.sh bench/save.sh bench/devices.sh; do
	[ -f "$b" ] || continue
	echo
	case $b in *.sh) bash "$b" || st=1 ;; esac
done
exit $st
