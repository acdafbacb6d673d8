#!/bin/sh
# Checks that every tool's exit statuses agree in three places: its
# --help (printed from the one table, lib/exit.c), the EXIT STATUS
# section of its man page, and the AVM_EX_* names its code uses (each
# must be listed).  Prints each difference and exits 1 when there is one.
#
# usage: scripts/check-exits.sh [TOP]
#   TOP     the source tree with bin/ built (default: this script's tree)
#   MANDIR  where the man pages are (default: TOP/man), for tests
set -eu

TOP=${1:-$(cd "$(dirname "$0")/.." && pwd)}
MANDIR=${MANDIR:-$TOP/man}
fail=0

# The statuses of a --help text on stdin: lines "  N    text" (or "  v")
# after the line "exit status:", up to the next empty line.
help_statuses() {
	awk '/^exit status:/ { on = 1; next }
	     on && /^$/ { exit }
	     on && /^  [0-9v]/ { print $1 }' | sort -u
}

# The statuses of the EXIT STATUS section of man page $1: the numbers of
# each .It line ("It 130 , 143"), and "v" for an ".It Ar v".
man_statuses() {
	awk '/^\.Sh / { on = ($0 ~ /^\.Sh EXIT STATUS/); next }
	     on && /^\.It / {
		for (i = 2; i <= NF; i++)
			if ($i ~ /^[0-9]+$/)
				print $i
			else if ($i == "v" && $(i - 1) == "Ar")
				print "v"
	     }' "$1" | sort -u
}

# The numbers of the AVM_EX_* names that the sources under $1 use.
code_statuses() {
	grep -rhoE 'AVM_EX_[A-Z]+' "$1" | sort -u | while read -r name; do
		case $name in
		AVM_EX_GUEST | AVM_EX_SIGNAL) continue ;;
		esac
		v=$(sed -n "s/^[[:space:]]*$name = \([0-9]*\),.*/\1/p" \
			"$TOP/include/avm/exit.h")
		if [ -z "$v" ]; then
			echo "check-exits: $1: $name is not in include/avm/exit.h" >&2
			echo "?$name"
		else
			echo "$v"
		fi
	done | sort -u
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for bin in "$TOP"/bin/avm-*; do
	tool=$(basename "$bin")
	page=$(ls "$MANDIR/$tool".[0-9] 2>/dev/null | head -n 1)
	if [ -z "$page" ]; then
		echo "check-exits: $tool: no man page in $MANDIR" >&2
		fail=1
		continue
	fi
	"$bin" --help | help_statuses >"$tmp/help"
	man_statuses "$page" >"$tmp/man"
	code_statuses "$TOP/cmd/$tool" >"$tmp/code"
	if [ ! -s "$tmp/help" ]; then
		echo "check-exits: $tool --help lists no exit status" >&2
		fail=1
	fi
	for s in $(comm -23 "$tmp/help" "$tmp/man"); do
		echo "check-exits: $tool: status $s is in --help (lib/exit.c)" \
			"but not in $(basename "$page")" >&2
		fail=1
	done
	for s in $(comm -13 "$tmp/help" "$tmp/man"); do
		echo "check-exits: $tool: status $s is in $(basename "$page")" \
			"but not in --help (lib/exit.c)" >&2
		fail=1
	done
	for s in $(comm -23 "$tmp/code" "$tmp/help"); do
		echo "check-exits: $tool: cmd/$tool/ may exit $s, which" \
			"--help (lib/exit.c) does not list" >&2
		fail=1
	done
done
[ "$fail" = 0 ] && echo "check-exits: --help, man pages and code agree"
exit "$fail"
