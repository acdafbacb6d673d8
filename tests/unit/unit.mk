# Unit tests of avm-run's interrupt controllers (pure models, no KVM):
# each links the objects of the models it drives.
UNIT_X86 := build/cmd/avm-run/arch/x86

UNIT_EXTRA_t-lapic := $(UNIT_X86)/lapic.o $(UNIT_X86)/apicbus.o
UNIT_EXTRA_t-apicbus := $(UNIT_X86)/lapic.o $(UNIT_X86)/apicbus.o
UNIT_EXTRA_t-ioapic := $(UNIT_X86)/ioapic.o $(UNIT_X86)/lapic.o \
	$(UNIT_X86)/apicbus.o
UNIT_EXTRA_t-pic := $(UNIT_X86)/pic.o $(UNIT_X86)/lapic.o \
	$(UNIT_X86)/apicbus.o
UNIT_EXTRA_t-bus := build/cmd/avm-run/bus.o
# The devices of dev/ with the VM's calls stubbed in the test.
UNIT_DEV := build/cmd/avm-run/dev
UNIT_EXTRA_t-devsave := $(UNIT_DEV)/uart.o $(UNIT_DEV)/rtc.o \
	$(UNIT_DEV)/pm.o $(UNIT_DEV)/debugexit.o
# avm-run's stats file and KVM's binary stats parser.
UNIT_EXTRA_t-runstats := build/cmd/avm-run/runstats.o
UNIT_EXTRA_t-kvmstats := build/cmd/avm-run/kvmstats.o
# The virtio-mmio transport and queues, and virtio-blk over a temp image.
UNIT_EXTRA_t-virtio := $(UNIT_DEV)/virtio-mmio.o $(UNIT_DEV)/virtq.o
UNIT_EXTRA_t-vblk := $(UNIT_DEV)/virtio-blk.o $(UNIT_DEV)/virtio-mmio.o \
	$(UNIT_DEV)/virtq.o
# virtio-net on a real tap, in a network namespace of its own.
UNIT_EXTRA_t-vnet := $(UNIT_DEV)/virtio-net.o $(UNIT_DEV)/tapdev.o \
	$(UNIT_DEV)/virtio-mmio.o $(UNIT_DEV)/virtq.o
# run.sock's server, the VM's calls stubbed in the test.
UNIT_EXTRA_t-ctl := build/cmd/avm-run/ctl.o
