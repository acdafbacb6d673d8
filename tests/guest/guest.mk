# The guest kit and its programs (included by the top Makefile).
#
# Each tests/guest/NAME.c becomes build/guest/NAME.elf: a freestanding
# x86-64 image with a multiboot v1 header and an ELF64 entry, built with
# the host gcc and ld.  CFLAGS is the user's for host code and is not
# used here; GUEST_CFLAGS (default -O2 -g) is its counterpart.

GUEST_CC     ?= gcc
GUEST_LD     ?= ld
GUEST_CFLAGS ?= -O2 -g

GUEST_PROGS := hello ipi timer uart-irq atomic memtouch litmus bench fault \
	apic apic2 nmi virtio-blk virtio-net
GUEST_ALL   := $(GUEST_PROGS:%=$(B)/guest/%.elf)

GUEST_KIT_SRC := $(sort $(wildcard tests/guest/kit/*.c tests/guest/kit/*.S))
GUEST_KIT_OBJ := $(patsubst tests/guest/%,$(B)/guest/obj/%.o,$(GUEST_KIT_SRC))
GUEST_LDS     := tests/guest/kit/kit.ld

GUEST_FLAGS := -std=gnu11 -ffreestanding -fno-pic -fno-pie -fno-builtin \
	-fno-stack-protector -fno-stack-clash-protection -fcf-protection=none \
	-fno-asynchronous-unwind-tables -mno-red-zone -mgeneral-regs-only \
	-mno-sse -mno-mmx -mcmodel=small -Itests/guest/kit \
	-Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -MMD -MP
ifeq ($(WERROR),1)
GUEST_FLAGS += -Werror
endif
GUEST_LDFLAGS := -m elf_x86_64 -nostdlib -static -z max-page-size=0x1000 \
	--no-warn-rwx-segments --build-id=none -T $(GUEST_LDS)

.PHONY: guest
guest: $(GUEST_ALL)

$(B)/guest/obj/%.c.o: tests/guest/%.c
	$(call say,GUESTCC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(GUEST_CC) $(GUEST_FLAGS) $(GUEST_CFLAGS) -c -o $@ $<

$(B)/guest/obj/%.S.o: tests/guest/%.S
	$(call say,GUESTAS,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(GUEST_CC) $(GUEST_FLAGS) -c -o $@ $<

$(B)/guest/%.elf: $(B)/guest/obj/%.c.o $(GUEST_KIT_OBJ) $(GUEST_LDS)
	$(call say,GUESTLD,$@)
	$(Q)$(GUEST_LD) $(GUEST_LDFLAGS) -o $@ $< $(GUEST_KIT_OBJ)
