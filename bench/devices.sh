#!/bin/sh
# bench/devices.sh: node 0's virtio devices, driven without a guest by
# bench/devbench.c (a driver in the bench process, the real device
# models and worker threads), against the host doing the same without
# them, in the same run:
#   - virtio-blk on a 256 MiB image in build/ (this host's disk): one
#     request at a time, sequential 1 MiB and random 4 KiB writes and
#     reads; the host's O_DIRECT pread/pwrite of the same sizes, queue
#     depth 1 (what fio --direct=1 --iodepth=1 measures).  The device
#     goes through the page cache (reads start cold), so its writes can
#     beat the disk until the flush, which is timed with them;
#   - virtio-net: a 64-byte frame's round trip from the driver through
#     the card and its tap to an echo on the host side and back into a
#     receive buffer; the same echo with the bench writing and reading
#     the tap itself.  In a network namespace of its own (root).
# From a vCPU (node 0 and node 1) needs KVM: not measured here.
# Numbers, never pass/fail.   sh bench/devices.sh   (SIZE=256)
set -eu
TOP=${AVM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
SIZE=${SIZE:-256}
B=$TOP/build/bench/devbench
D=$TOP/build/cmd/avm-run/dev
mkdir -p "$TOP/build/bench"
${CC:-cc} -O2 -D_GNU_SOURCE -I"$TOP/include" -o "$B" "$TOP/bench/devbench.c" \
	"$D/virtio-blk.o" "$D/virtio-net.o" "$D/virtio-mmio.o" "$D/virtq.o" \
	"$D/tapdev.o" -lpthread
IMG=$(mktemp "$TOP/build/bench/disk.XXXXXX")
trap 'rm -f "$IMG"' EXIT INT TERM
dd if=/dev/urandom of="$IMG" bs=1M count="$SIZE" status=none
out=$("$B" blk "$IMG")
net=$("$B" net 2>&1) || net="net: $net"
v() { printf '%s\n%s\n' "$out" "$net" | awk -v k="$1" '$1 == k { print $2 }'; }

echo "virtio-blk and virtio-net without a guest ($SIZE MiB image on $(df -T "$IMG" | awk 'NR == 2 { print $2 }'), 4 KiB x 2000 random, queue depth 1)"
printf '%-44s %12s %12s\n' "" "device" "host direct"
printf '%-44s %12s %12s\n' "sequential write 1 MiB (with the flush), MiB/s" "$(v dev_seq_write_mibs)" "$(v host_seq_write_mibs)"
printf '%-44s %12s %12s\n' "sequential read 1 MiB, MiB/s" "$(v dev_seq_read_mibs)" "$(v host_seq_read_mibs)"
printf '%-44s %12s %12s\n' "random write 4 KiB (with the flush), IOPS" "$(v dev_rand_write_iops)" "$(v host_rand_write_iops)"
printf '%-44s %12s %12s\n' "random read 4 KiB, IOPS" "$(v dev_rand_read_iops)" "$(v host_rand_read_iops)"
printf '%-44s %12s %12s\n' "" "card" "plain tap"
printf '%-44s %12s %12s\n' "64-byte frame round trip, median us" "$(v dev_rtt_us)" "$(v tap_rtt_us)"
printf '%-44s %12s %12s\n' "64-byte frame round trip, p99 us" "$(v dev_rtt_p99_us)" "$(v tap_rtt_p99_us)"
case $net in net:*) echo "$net" ;; esac
