# Unit tests of avm-run's x86 boot code (kernel loaders, e820, ACPI):
# they link the tool's objects, which are pure functions over a buffer
# that stands for guest RAM.
AVM_BOOT_OBJ := $(B)/cmd/avm-run/arch/x86/boot.o \
	$(B)/cmd/avm-run/arch/x86/boot-linux.o \
	$(B)/cmd/avm-run/arch/x86/boot-pvh.o \
	$(B)/cmd/avm-run/arch/x86/boot-multiboot.o \
	$(B)/cmd/avm-run/arch/x86/boot-elf.o \
	$(B)/cmd/avm-run/arch/x86/acpi.o

UNIT_EXTRA_t-boot := $(AVM_BOOT_OBJ)
UNIT_EXTRA_t-acpi := $(AVM_BOOT_OBJ)

# The tiny boot-protocol guests for end-to-end tests of avm-run's loaders
# (tests/e2e/data/boot/guest.S): built, never kept in git.
AVM_BOOT_IMAGES_DIR := $(B)/tests/e2e/boot
AVM_BOOT_IMAGES := $(addprefix $(AVM_BOOT_IMAGES_DIR)/,mb-aout.bin \
	mb-elf32.elf pvh.elf elf64.elf)

.PHONY: boot-images
boot-images: $(AVM_BOOT_IMAGES_DIR)/.stamp

$(AVM_BOOT_IMAGES_DIR)/.stamp: tests/e2e/data/boot/guest.S \
		tests/e2e/data/boot/mkimages.sh
	$(call say,MKIMG,$(AVM_BOOT_IMAGES_DIR))
	$(Q)sh tests/e2e/data/boot/mkimages.sh $(AVM_BOOT_IMAGES_DIR) >/dev/null
	$(Q)touch $@
