#!/bin/sh
# bench/pager.sh: avm-pager's costs, with the limits they are measured
# against, all in one run on this host (loopback TCP between pagers that
# each have their own run directory).  Prints a table; never fails on
# time.  Needs bin/avm-pager and build/tests/helpers/avm-pager-client
# (make all build/tests/helpers/avm-pager-client).
set -eu
TOP=${AVM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
HELPER=$TOP/build/bench/uffd-rtt
MEM=64M
COUNT=${COUNT:-200}

mkdir -p "$TOP/build/bench"
${CC:-cc} -O2 -D_GNU_SOURCE -I"$TOP/include" -o "$HELPER" \
	"$TOP/bench/uffd-rtt.c" "$TOP/build/libavm.a" -lpthread \
	$(pkg-config --libs yaml-0.1 libcrypto 2>/dev/null)

WORK=$(mktemp -d /tmp/avm-bench-pager.XXXXXX)
. "$TOP/bench/lib-pagers.sh"

base=$("$HELPER")
uffd=$(echo "$base" | val uffd_fault_ns)
rtt=$(echo "$base" | val tcp_rtt_ns)
zero=$(run 1 zero | val zero_fill_ns)
# first touch of a node's own home memory (the client writes every page
# of it once): 1 node one page a fault (as before --zero-block), 1, 2 and
# 4 nodes with the 2 MiB block; against a memfd no pager watches
t1=$(PAGER_ARGS="--zero-block 1" run 1 touch)
tb1=$(run 1 touch)
tb2=$(run 2 touch | val touch_ns)
tb4=$(run 4 touch | val touch_ns)
read=$(PAGER_ARGS="--prefetch 0" run 2 read | val remote_read_miss_ns)
readp=$(PAGER_ARGS="--poll-us 20 --prefetch 0" run 2 read | val remote_read_miss_ns)
ppp=$(PAGER_ARGS="--poll-us 20" run 2 pingpong | val pingpong_transfers_per_s)
w1=$(run 2 write | val remote_write_miss_ns)
w3=$(run 4 write | val remote_write_miss_ns)
pp=$(run 2 pingpong | val pingpong_transfers_per_s)
sq0=$(PAGER_ARGS="--prefetch 0" run 2 seqread)
sq=$(run 2 seqread)
bulk=$(run 2 bulk)
bb=$(echo "$bulk" | val bulk_bytes)
bn=$(echo "$bulk" | val bulk_ns)

printf '%-46s %12s\n' "avm-pager ($(nproc) CPUs, loopback TCP)" "value"
printf '%-46s %9s us\n' "plain uffd fault, UFFDIO_COPY (limit)" \
	"$(echo "scale=1; $uffd/1000" | bc)"
printf '%-46s %9s us\n' "4 KiB TCP request/response (limit)" \
	"$(echo "scale=1; $rtt/1000" | bc)"
printf '%-46s %9s us\n' "zero fill, 200 pages in a row, 2 MiB blocks" \
	"$(echo "scale=1; $zero/1000" | bc)"
us() { echo "scale=1; $1/1000" | bc; }
printf '%-46s %9s us\n' "first touch, memfd without a pager (limit)" \
	"$(us "$(echo "$tb1" | val plain_touch_ns)")"
printf '%-46s %9s us\n' "first touch, 1 node, --zero-block 1" \
	"$(us "$(echo "$t1" | val touch_ns)")"
printf '%-46s %9s us\n' "first touch, 1 node, 2 MiB blocks" \
	"$(us "$(echo "$tb1" | val touch_ns)")"
printf '%-46s %9s us\n' "first touch, 2 nodes (own home), 2 MiB blocks" \
	"$(us "$tb2")"
printf '%-46s %9s us\n' "first touch, 4 nodes (own home), 2 MiB blocks" \
	"$(us "$tb4")"
printf '%-46s %9s us\n' "remote read miss" "$(echo "scale=1; $read/1000" | bc)"
printf '%-46s %9s us\n' "remote write miss, 1 copy to invalidate" \
	"$(echo "scale=1; $w1/1000" | bc)"
printf '%-46s %9s us\n' "remote write miss, 3 copies to invalidate" \
	"$(echo "scale=1; $w3/1000" | bc)"
printf '%-46s %9s us\n' "remote read miss, --poll-us 20" "$(us "$readp")"
printf '%-46s %9s /s\n' "one page ping-pong, 2 nodes (transfers)" "$pp"
printf '%-46s %9s /s\n' "one page ping-pong, --poll-us 20" "$ppp"
printf '%-46s %9s GB/s\n' "bulk page streaming (PG_BULK, 256 pages)" \
	"$(echo "scale=2; $bb/$bn" | bc)"
mibs() { # BYTES NS
	echo "scale=1; $1 * 1000 / 1048576 / ($2 / 1000000)" | bc
}
printf '%-46s %9s MiB/s\n' "sequential read of node 0's memory, no read-ahead" \
	"$(mibs "$(echo "$sq0" | val seqread_bytes)" "$(echo "$sq0" | val seqread_ns)")"
printf '%-46s %9s MiB/s\n' "the same, read-ahead (--prefetch 64)" \
	"$(mibs "$(echo "$sq" | val seqread_bytes)" "$(echo "$sq" | val seqread_ns)")"
printf '%-46s %9s MiB/s\n' "the same link's bulk stream (limit; aim 30%)" \
	"$(mibs "$bb" "$bn")"
printf '%-46s %9s B\n' "directory bytes a homed page" 16
printf '%-46s %9s B\n' "metadata a page, 2 nodes (16/2 + 1 local)" 9
printf '%-46s %9s x\n' "remote read miss / (uffd fault + TCP RTT)" \
	"$(echo "scale=2; $read/($uffd+$rtt)" | bc)"
printf '%-46s %9s\n' "(aim: 1.3x; numbers never pass or fail)" ""
