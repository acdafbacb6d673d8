#!/bin/sh
# `make bench`: every benchmark of bench/, each printing its own table
# with the limits it measured in the same run.  Numbers, never pass/fail.
set -u
cd "$(dirname "$0")/.."
st=0
for b in bench/vmm.sh bench/pager.sh bench/nodes.sh; do
	[ -f "$b" ] || continue
	echo
	sh "$b" || st=1
done
exit $st
