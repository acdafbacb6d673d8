# AVM: one non-recursive Makefile for the library, the tools, the tests,
# the guest kit, the fuzzers and the benchmarks.  `make help` lists targets.
#
# CFLAGS, LDFLAGS and LDLIBS belong to the user; our flags go beside them.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=
CC         ?= cc
CFLAGS     ?= -O2 -g
WERROR     ?= 1
FUZZ_CC    ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 30
BATS       ?= bats

# Quiet by default; V=1 shows every command.
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-7s %s\n' $(1) $(2)
endif

B := build
PKGS := yaml-0.1 libssh2 zlib libibverbs libcrypto

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

AVM_CPPFLAGS := -Iinclude -D_GNU_SOURCE -DAVM_VERSION='"$(VERSION)"'
AVM_CFLAGS   := -std=gnu11 -Wall -Wextra -Wno-unused-parameter \
		-Wshadow -Wstrict-prototypes -Wmissing-prototypes \
		-fno-strict-aliasing -MMD -MP $(PKG_CFLAGS)
ifeq ($(WERROR),1)
AVM_CFLAGS += -Werror
endif
AVM_LIBS := $(PKG_LIBS) -lpthread -lm

ALL_CFLAGS = $(AVM_CPPFLAGS) $(AVM_CFLAGS) $(CPPFLAGS) $(CFLAGS)

.PHONY: all install uninstall clean check check-unit check-e2e check-man \
	check-exits check-tree check-style check-fuzz fuzz bench demo deps \
	guest-linux help format

all:

# --- library -------------------------------------------------------------

LIB_SRC := $(sort $(wildcard lib/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
LIBAVM  := $(B)/libavm.a

$(LIBAVM): $(LIB_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(B)/%.o: %.c
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# --- tools: every cmd/avm-X/ with a main.c becomes bin/avm-X --------------

# A tool's own libraries: avm-top's screen.
avm-top_LIBS := $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw -ltinfo)

TOOLS := $(sort $(patsubst cmd/%/main.c,%,$(wildcard cmd/avm-*/main.c)))

define tool_rules
$(1)_SRC := $$(sort $$(shell find cmd/$(1) -name '*.c'))
$(1)_OBJ := $$($(1)_SRC:%.c=$(B)/%.o)
bin/$(1): $$($(1)_OBJ) $(LIBAVM)
	$$(call say,LD,$$@)
	$$(Q)mkdir -p bin
	$$(Q)$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$($(1)_OBJ) $(LIBAVM) $$(AVM_LIBS) $$($(1)_LIBS) $$(LDLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rules,$(t))))

BINS := $(TOOLS:%=bin/%)
all: $(BINS)

# --- test helpers: tests/helpers/X.c becomes build/tests/helpers/X -------

HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
HELPERS    := $(HELPER_SRC:%.c=$(B)/%)
$(B)/tests/helpers/%: $(B)/tests/helpers/%.o $(LIBAVM)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBAVM) $(AVM_LIBS) $(LDLIBS)

# --- unit tests: tests/unit/t-X.c, TAP ------------------------------------
#
# A unit test of code that lives in one tool (not in lib/) names that
# tool's object files here: UNIT_EXTRA_t-X := build/cmd/...o

UNIT_SRC := $(sort $(wildcard tests/unit/t-*.c))
UNITS    := $(UNIT_SRC:%.c=$(B)/%)

-include tests/unit/unit.mk
-include tests/unit/boot.mk

.SECONDARY:
.SECONDEXPANSION:
$(B)/tests/unit/%: $(B)/tests/unit/%.o $$(UNIT_EXTRA_$$*) $(LIBAVM)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(UNIT_EXTRA_$*) $(LIBAVM) $(AVM_LIBS) $(LDLIBS)

# --- guest kit ------------------------------------------------------------

-include tests/guest/guest.mk

# --- checks ---------------------------------------------------------------

# Valgrind on the unit tests where it is installed (it is in CI, through
# scripts/deps.sh); VALGRIND= turns it off.
VALGRIND ?= $(shell command -v valgrind >/dev/null 2>&1 && \
	echo valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite)

check: deps
	$(Q)$(MAKE) --no-print-directory check-style check-man check-exits \
		check-tree check-unit check-fuzz check-e2e

# The boot images and Linux assets first: t-boot loads them, and a check
# it cannot make is a skip, which fails under AVM_NO_SKIP=1.
check-unit: $(UNITS) boot-images guest-linux
	@echo '# unit tests'
	$(Q)fail=0; for t in $(UNITS); do \
		echo "# $$t"; $(VALGRIND) $$t || { echo "FAIL: $$t"; fail=1; }; \
	done; exit $$fail

check-e2e: all $(HELPERS) $(GUEST_ALL) boot-images guest-linux
	@echo '# end-to-end tests'
	$(Q)AVM_TOP=$(CURDIR) $(BATS) tests/e2e

check-man:
	@echo '# man page lint'
	$(Q)mandoc -T lint -W warning man/*.[0-9]

# Each tool's exit statuses: --help (lib/exit.c), man page and code agree.
check-exits: all
	@echo '# exit statuses'
	$(Q)sh scripts/check-exits.sh $(CURDIR)

# The tools' modules import each other in a tree (scripts/check-tree.sh).
TREE_DIRS := cmd/avm-pager
check-tree:
	@echo '# module trees'
	$(Q)for d in $(TREE_DIRS); do sh scripts/check-tree.sh $$d || exit 1; done

STYLE_SRC = $(shell find include lib cmd tests bench -name '*.[ch]' 2>/dev/null)
check-style:
	@echo '# style (clang-format)'
	$(Q)clang-format --dry-run -Werror $(STYLE_SRC)

format:
	$(Q)clang-format -i $(STYLE_SRC)

# --- fuzzing (libFuzzer) --------------------------------------------------

FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZERS  := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all $(AVM_CPPFLAGS) -std=gnu11 $(PKG_CFLAGS)

# A fuzzer of code that lives in one tool names its sources here:
# FUZZ_EXTRA_fuzz-X := cmd/...c (built with the fuzzer's flags).
FUZZ_X86 := cmd/avm-run/arch/x86
FUZZ_EXTRA_fuzz-devstate := $(FUZZ_X86)/ioapic.c $(FUZZ_X86)/pic.c \
	$(FUZZ_X86)/lapic.c $(FUZZ_X86)/apicbus.c cmd/avm-run/dev/uart.c \
	cmd/avm-run/dev/rtc.c cmd/avm-run/dev/pm.c cmd/avm-run/dev/debugexit.c
FUZZ_EXTRA_fuzz-virtio := cmd/avm-run/dev/virtio-blk.c \
	cmd/avm-run/dev/virtio-net.c \
	cmd/avm-run/dev/virtio-mmio.c cmd/avm-run/dev/virtq.c

$(B)/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(wildcard include/avm/*.h) \
		$$(FUZZ_EXTRA_$$*)
	$(call say,FUZZCC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_EXTRA_$*) $(LIB_SRC) \
		$(AVM_LIBS)

# `make fuzz` runs each target FUZZ_SECONDS (default 60); `make check`
# runs each for a few seconds so a decoder crash fails CI.  One input
# taking FUZZ_TIMEOUT seconds (default 30) is a hang, and fails too.
fuzz: $(FUZZERS)
	$(Q)for f in $(FUZZERS); do \
		n=$$(basename $$f); mkdir -p $(B)/fuzz/corpus-$$n; \
		echo "# fuzzing $$n for $(FUZZ_SECONDS)s (log: $(B)/fuzz/$$n.log)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) \
		    -print_final_stats=1 \
		    $(B)/fuzz/corpus-$$n tests/fuzz/seed/$$n \
		    >$(B)/fuzz/$$n.log 2>&1 || { tail -40 $(B)/fuzz/$$n.log; \
		    echo "FAIL: $$n"; exit 1; }; \
		grep -E '^stat::number_of_executed_units|^Done' $(B)/fuzz/$$n.log; \
	done

check-fuzz:
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=5

# --- benchmarks -----------------------------------------------------------

bench: all $(HELPERS) $(GUEST_ALL)
	$(Q)AVM_TOP=$(CURDIR) sh bench/run.sh

# --- set-up, demo ---------------------------------------------------------

deps:
	$(Q)sh scripts/deps.sh

# Debian's kernel and a busybox initramfs for the Linux boot checks.
guest-linux:
	$(Q)sh scripts/guest-linux.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all $(GUEST_ALL)
	$(Q)sh scripts/demo.sh

# --- install --------------------------------------------------------------

MANPAGES := $(sort $(wildcard man/*.[0-9]))

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	for m in $(MANPAGES); do \
		s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; \
	done

uninstall:
	rm -f $(TOOLS:%=$(DESTDIR)$(BINDIR)/%)
	for m in $(MANPAGES); do \
		s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$$(basename $$m); \
	done

clean:
	rm -rf $(B) bin

help:
	@echo 'targets:'
	@echo '  all         build libavm.a and the tools into bin/'
	@echo '  demo        install missing packages, build, run the main job'
	@echo '  check       install missing packages, then style, man lint,'
	@echo '              exit statuses, unit tests (valgrind), short fuzz'
	@echo '              runs, bats e2e'
	@echo '  guest-linux fetch Debian'"'"'s kernel and build an initramfs (assets/)'
	@echo '  fuzz        run each libFuzzer target FUZZ_SECONDS (default 60)'
	@echo '  bench       print benchmark tables'
	@echo '  install     install tools and man pages (PREFIX, DESTDIR)'
	@echo '  uninstall   remove what install put there'
	@echo '  format      reformat the sources with clang-format'
	@echo '  clean       remove build/ and bin/'
	@echo 'variables: V=1 verbose, WERROR=0, CFLAGS, PREFIX, DESTDIR'

-include $(shell find $(B) -name '*.d' 2>/dev/null)
