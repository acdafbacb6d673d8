/*
 * Node 0's disks: the images of --disk and the cluster file's vm.disks,
 * each a virtio-blk device (dev/virtio-blk.c) on the MMIO bus.
 *
 * A start-up row of its own right after the fabric map's: every image is
 * opened, judged and locked before placement, KVM, other nodes or
 * sockets, so a bad one stops avm-run at once with its path, on a
 * machine without KVM too, and nothing is left in the run directory:
 *
 *   66  missing or unreadable (open fails: ENOENT, EACCES, ...)
 *   65  not a regular file (a directory, FIFO, device), or smaller than
 *       one 512-byte sector
 *   75  another VM holds its lock (or this VM names it twice)
 *
 * The lock is flock(2) on the image, held as long as the device has the
 * file open: exclusive for a read-write disk, shared for a read-only one,
 * so two VMs may share an image only when both have it read-only.  It is
 * advisory: it guards against two AVM VMs (or a tool that takes flock,
 * like flock(1)), not against every writer.
 *
 * Where the guest finds them: disk i decodes VMMIO_SIZE bytes at
 * DISK_BASE + i * 4 KiB (in the MMIO hole, boot.h) and drives ISA IRQ
 * disk_irqs[i] of the IOAPIC (and the PIC), free lines no other device
 * model here uses; a Linux kernel gets them on its command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avm/log.h"
#include "avm/util.h"

#include "arch/x86/boot.h"
#include "dev/virtio-blk.h"
#include "dev/virtio-mmio.h"
#include "vm.h"

#define DISK_BASE 0xd0000000ull
#define DISK_STRIDE 0x1000ull

static const unsigned disk_irqs[VM_DISKS_MAX] = { 5, 6, 7, 10, 11, 12, 14, 15 };

uint64_t
vm_disk_base(unsigned i)
{
	return DISK_BASE + DISK_STRIDE * i;
}

unsigned
vm_disk_irq(unsigned i)
{
	return disk_irqs[i];
}

/* Opens and judges disk d: AVM_EX_OK with *fd and *size, or a status
 * after a message. */
static int
disk_open(const struct vm_disk *d, int *fd, uint64_t *size)
{
	struct stat st;
	int e;

	*fd = open(d->path, (d->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC |
				    O_NOCTTY | O_NONBLOCK);
	if (*fd < 0) {
		e = errno;
		if (e == EISDIR) {
			log_err("disk '%s': not a regular file", d->path);
			return AVM_EX_DATAERR;
		}
		log_err("disk '%s': %s%s", d->path, strerror(e),
			!d->readonly && (e == EACCES || e == EROFS)
				? " (',ro' opens it read-only)"
				: "");
		return AVM_EX_NOINPUT;
	}
	if (fstat(*fd, &st) < 0) {
		log_err("disk '%s': fstat: %s", d->path, strerror(errno));
		return AVM_EX_OSERR;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("disk '%s': not a regular file", d->path);
		return AVM_EX_DATAERR;
	}
	if (st.st_size < VIRTIO_BLK_SECTOR) {
		log_err("disk '%s': %lld bytes, smaller than one 512-byte "
			"sector",
			d->path, (long long)st.st_size);
		return AVM_EX_DATAERR;
	}
	if (flock(*fd, (d->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			log_err("disk '%s' is in use: another VM holds its "
				"lock (an image is one VM's, or read-only in "
				"every VM that has it)",
				d->path);
			return AVM_EX_TEMPFAIL;
		}
		log_err("disk '%s': flock: %s", d->path, strerror(errno));
		return AVM_EX_OSERR;
	}
	/* The worker's I/O blocks; O_NONBLOCK only kept a FIFO from
	 * hanging the open. */
	fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) & ~O_NONBLOCK);
	*size = (uint64_t)st.st_size;
	if (*size % VIRTIO_BLK_SECTOR)
		log_warn("disk '%s': the last %" PRIu64 " bytes are not a "
			 "whole sector; the guest does not see them",
			 d->path, *size % VIRTIO_BLK_SECTOR);
	return AVM_EX_OK;
}

int
vm_disks(struct vm *vm)
{
	unsigned i;
	int r;

	for (i = 0; i < VM_DISKS_MAX; i++)
		vm->disk_fd[i] = -1;
	if (vm->node != 0 || !vm->opts.ndisks)
		return AVM_EX_OK; /* devices live on node 0 */
	if (vm->opts.ndisks > VM_DISKS_MAX) {
		log_err("%u disks: avm-run offers at most %d", vm->opts.ndisks,
			VM_DISKS_MAX);
		return AVM_EX_USAGE;
	}
	for (i = 0; i < vm->opts.ndisks; i++) {
		vm->ndisks = i + 1;
		r = disk_open(&vm->opts.disks[i], &vm->disk_fd[i],
			      &vm->disk_size[i]);
		if (r != AVM_EX_OK)
			return r;
		log_debug("disk %u: '%s', %" PRIu64 " bytes%s, at %#" PRIx64
			  " IRQ %u",
			  i, vm->opts.disks[i].path, vm->disk_size[i],
			  vm->opts.disks[i].readonly ? ", read-only" : "",
			  vm_disk_base(i), vm_disk_irq(i));
	}
	return AVM_EX_OK;
}

void
vm_disks_release(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ndisks; i++) {
		if (vm->disk_fd[i] >= 0)
			close(vm->disk_fd[i]);
		vm->disk_fd[i] = -1;
	}
	vm->ndisks = 0;
}

int
vm_disks_attach(struct vm *vm)
{
	struct vblk_cfg cfg;
	struct vblk *b;
	char serial[VIRTIO_BLK_ID_BYTES + 1];

	for (unsigned i = 0; i < vm->ndisks; i++) {
		const char *path = vm->opts.disks[i].path;
		const char *base = strrchr(path, '/');

		/* The serial: the image's file name, its first 20 bytes. */
		snprintf(serial, sizeof(serial), "%s", base ? base + 1 : path);
		vm->disk_line[i].vm = vm;
		vm->disk_line[i].gsi = vm_disk_irq(i);
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = vm->disk_fd[i];
		cfg.readonly = vm->opts.disks[i].readonly;
		cfg.size = vm->disk_size[i];
		cfg.serial = serial;
		cfg.mem = (struct vq_mem){ vm_virtio_ram, vm };
		cfg.set_irq = vm_virtio_irq;
		cfg.irq_opaque = &vm->disk_line[i];
		cfg.log = vm_virtio_log;
		vm->disk_fd[i] = -1; /* the device's now, even on failure */
		b = vblk_new(&cfg);
		if (!b || vm_add_device(vm, vblk_device(b), BUS_MMIO,
					vm_disk_base(i), VMMIO_SIZE) < 0) {
			log_err("disk '%s': device: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int
vm_disks_cmdline(const struct vm *vm, char *buf, size_t len)
{
	size_t k = 0;
	int n;

	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; i < vm->ndisks; i++) {
		n = snprintf(buf + k, len - k,
			     "%svirtio_mmio.device=%u@%#" PRIx64 ":%u",
			     i ? " " : "", VMMIO_SIZE, vm_disk_base(i),
			     vm_disk_irq(i));
		if (n < 0 || (size_t)n >= len - k)
			return -1;
		k += (size_t)n;
	}
	return 0;
}
