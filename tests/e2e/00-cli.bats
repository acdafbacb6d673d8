#!/usr/bin/env bats
# The command line every tool shares (STYLE.md): -h/--help, -V/--version,
# and an unknown option as a usage error.  Runs over each bin/avm-* that
# is built, so a new tool is covered without touching this file.

load helpers
bats_require_minimum_version 1.5.0

tools() {
	local t
	for t in "$AVM_TOP"/bin/avm-*; do
		[ -f "$t" ] && [ -x "$t" ] && echo "$t"
	done
}

setup() {
	[ -n "$(tools)" ] || skip_or_fail "no tool in $AVM_TOP/bin (run make)"
	VERSION=$(sed -n 's/^VERSION *:= *//p' "$AVM_TOP/Makefile")
	[ -n "$VERSION" ] || fail "no VERSION in $AVM_TOP/Makefile"
}

@test "every tool: --help and -h exit 0 with a usage line on stdout" {
	local t name opt
	for t in $(tools); do
		name=$(basename "$t")
		for opt in --help -h; do
			run --separate-stderr "$t" "$opt"
			[ "$status" -eq 0 ] ||
				fail "$name $opt: exit status $status, want 0"
			grep -qi "^usage: $name\b" <<<"$output" ||
				fail "$name $opt: no 'usage: $name' line in: $output"
		done
	done
}

@test "every tool: --version and -V print the name and the version" {
	local t name opt
	for t in $(tools); do
		name=$(basename "$t")
		for opt in --version -V; do
			run --separate-stderr "$t" "$opt"
			[ "$status" -eq 0 ] ||
				fail "$name $opt: exit status $status, want 0"
			[[ ${lines[0]} == "$name $VERSION"* ]] ||
				fail "$name $opt: '${lines[0]}', want '$name $VERSION'"
		done
	done
}

@test "every tool: an unknown option exits 64 with a usage line on stderr" {
	local t name opt
	for t in $(tools); do
		name=$(basename "$t")
		for opt in --no-such-option-xyz -Z; do
			run --separate-stderr "$t" "$opt"
			[ "$status" -eq 64 ] ||
				fail "$name $opt: exit status $status, want 64"
			grep -qi "^usage: $name\b" <<<"$stderr" ||
				fail "$name $opt: no usage line on stderr: $stderr"
			[ -z "$output" ] ||
				fail "$name $opt: wrote to stdout: $output"
		done
	done
}

@test "every tool: errors are tagged with the tool's name, not its path" {
	local t name
	for t in $(tools); do
		name=$(basename "$t")
		for opt in --no-such-option-xyz -Z; do
			run --separate-stderr "$t" "$opt"
			[[ ${stderr_lines[0]} == "$name: "* ]] ||
				fail "$name $opt: first line not tagged '$name: ': $stderr"
		done
	done
}

@test "every tool: --help lists the exit statuses its man page and code do" {
	run sh "$AVM_TOP/scripts/check-exits.sh" "$AVM_TOP"
	assert_success
}

@test "check-exits: a status the man page leaves out fails the check" {
	cp -r "$AVM_TOP/man" "$BATS_TEST_TMPDIR/man"
	# avm-run(1) without its 78 entry, as before issue 8
	sed -i '/^\.It 78$/,/^\.It 129/{/^\.It 129/!d}' \
		"$BATS_TEST_TMPDIR/man/avm-run.1"
	run grep -c '^\.It 78$' "$BATS_TEST_TMPDIR/man/avm-run.1"
	assert_output 0
	MANDIR=$BATS_TEST_TMPDIR/man run sh "$AVM_TOP/scripts/check-exits.sh" \
		"$AVM_TOP"
	assert_failure 1
	assert_output --partial "avm-run: status 78 is in --help (lib/exit.c) but not in avm-run.1"
}

@test "check-tree: avm-pager's modules form a tree" {
	run sh "$AVM_TOP/scripts/check-tree.sh" "$AVM_TOP/cmd/avm-pager"
	assert_success
	assert_output --partial "a tree"
}

@test "check-tree: a lower module that includes a higher one fails the check" {
	cp -r "$AVM_TOP/cmd/avm-pager" "$BATS_TEST_TMPDIR/pager"
	# the links calling the coherence code by name: a circle
	sed -i 's|^#include "stats.h"$|#include "stats.h"\n#include "fault.h"|' \
		"$BATS_TEST_TMPDIR/pager/net.h"
	run sh "$AVM_TOP/scripts/check-tree.sh" "$BATS_TEST_TMPDIR/pager"
	assert_failure 1
	assert_output --partial "a circle: "
	# a header that several modules implement, as daemon.h was
	cp "$AVM_TOP/cmd/avm-pager/net.h" "$BATS_TEST_TMPDIR/pager/net.h"
	printf 'void fault_on_frame(void);\n' >>"$BATS_TEST_TMPDIR/pager/net.h"
	run sh "$AVM_TOP/scripts/check-tree.sh" "$BATS_TEST_TMPDIR/pager"
	assert_failure 1
	assert_output --partial "net.h declares fault_on_frame(), which module fault defines"
}
