/*
 * Guest RAM: a memfd, mapped here and given to KVM as its memory slots
 * (vm_memory), then served through avm-pager (DESIGN.md, "Guest memory"):
 * avm-run starts the pager of its node as a child, registers guest RAM with a
 * userfaultfd and hands the memfd and the uffd over pager.sock.  From
 * then on every fault on guest RAM, of a vCPU inside KVM or of one of our
 * own threads (the boot loader, device models), is resolved by the
 * pager: one memory path, even for a single node.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/kvm.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "avm/link.h"
#include "avm/log.h"
#include "avm/pager.h"
#include "avm/placement.h"
#include "avm/util.h"

#include "arch/x86/boot.h"
#include "vm.h"

#define PAGER_START_TIMEOUT_MS 10000
#define PAGER_EXIT_TIMEOUT_MS 5000

extern char **environ;

static uint64_t
host_mem_total(void)
{
	char buf[4096], *p;
	uint64_t kb = 0;

	if (read_file_str("/proc/meminfo", buf, sizeof(buf)) < 0)
		return 0;
	p = strstr(buf, "MemTotal:");
	if (p && sscanf(p, "MemTotal: %" SCNu64, &kb) != 1)
		kb = 0;
	return kb * 1024;
}

int
vm_memory(struct vm *vm)
{
	struct kvm_userspace_memory_region r;
	uint64_t host = host_mem_total(), low;
	char a[32], b[32];

	vm->ram_size = vm->opts.mem_bytes;
	if (host && vm->ram_size > host) {
		log_err("--memory %s: more than this host's RAM (%s)",
			size_format(vm->ram_size, a, sizeof(a)),
			size_format(host & ~((1ull << 20) - 1), b, sizeof(b)));
		return AVM_EX_UNAVAILABLE;
	}
	vm->mem_fd = memfd_create("avm-ram", MFD_CLOEXEC);
	if (vm->mem_fd < 0 || ftruncate(vm->mem_fd, (off_t)vm->ram_size) < 0) {
		log_err("guest RAM memfd of %s: %s",
			size_format(vm->ram_size, a, sizeof(a)),
			strerror(errno));
		return AVM_EX_OSERR;
	}
	vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_NORESERVE, vm->mem_fd, 0);
	if (vm->ram == MAP_FAILED) {
		vm->ram = NULL;
		log_err("mmap guest RAM: %s", strerror(errno));
		return AVM_EX_OSERR;
	}
	low = vm->ram_size < BOOT_MMIO_HOLE_START ? vm->ram_size
						  : BOOT_MMIO_HOLE_START;
	memset(&r, 0, sizeof(r));
	r.slot = 0;
	r.guest_phys_addr = 0;
	r.memory_size = low;
	r.userspace_addr = (uintptr_t)vm->ram;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		goto fail;
	if (vm->ram_size > low) {
		r.slot = 1;
		r.guest_phys_addr = BOOT_MMIO_HOLE_END;
		r.memory_size = vm->ram_size - low;
		r.userspace_addr = (uintptr_t)(vm->ram + low);
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			goto fail;
	}
	return AVM_EX_OK;
fail:
	log_err("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	return AVM_EX_UNAVAILABLE;
}

void
vm_memory_release(struct vm *vm)
{
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	vm->ram = NULL;
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	vm->mem_fd = -1;
}

/* avm-pager beside our own binary (a build tree, an install), else from
 * PATH. */
static void
pager_path(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if (snprintf(buf, len, "%s/avm-pager", self) <
				    (int)len &&
			    access(buf, X_OK) == 0)
				return;
		}
	}
	snprintf(buf, len, "avm-pager");
}

static int
pager_spawn(struct vm *vm)
{
	char path[PATH_MAX], size[32], node[16], nodes[16], dead[16];
	char homes[PAGER_MAX_NODES * 24];
	char *argv[] = { path,	     "--vm",	(char *)vm->opts.name,
			 "--memory", size,	"--node",
			 node,	     "--nodes", nodes,
			 NULL,	     NULL,	NULL,
			 NULL,	     NULL,	NULL,
			 NULL,	     NULL,	NULL,
			 NULL,	     NULL };
	posix_spawn_file_actions_t fa;
	size_t at = 0;
	unsigned i;
	int r, k = 9;

	pager_path(path, sizeof(path));
	snprintf(size, sizeof(size), "%" PRIu64, vm->ram_size);
	snprintf(node, sizeof(node), "%u", vm->node);
	snprintf(nodes, sizeof(nodes), "%u", vm->nnodes);
	if (vm->nnodes > 1) {
		/* Homes: our placement, which the SRAT describes too
		 * (vm_boot), never a default of the pager's. */
		if (vm->nnodes > PAGER_MAX_NODES) {
			log_err("%u nodes: avm-pager takes at most %d",
				vm->nnodes, PAGER_MAX_NODES);
			return AVM_EX_USAGE;
		}
		for (i = 0; i < vm->nnodes; i++)
			at += (size_t)snprintf(homes + at, sizeof(homes) - at,
					       "%s%" PRIu64, i ? "," : "",
					       vm->place[i].page_count *
						       PLACEMENT_PAGE_SIZE);
		argv[k++] = "--home-sizes";
		argv[k++] = homes;
		argv[k++] = "--peers";
		argv[k++] = (char *)vm->opts.pager_peers;
		argv[k++] = "--secret";
		argv[k++] = (char *)vm->opts.secret;
	}
	if (vm->opts.dead_ms > 0) {
		/* One failure deadline for the run and the pager links. */
		snprintf(dead, sizeof(dead), "%d", vm->opts.dead_ms);
		argv[k++] = "--dead-ms";
		argv[k++] = dead;
	}
	/* The pager's stdout (its "ready" line) must not mix with the
	 * guest's console: with -v it goes to our stderr, with its info log;
	 * else nowhere, and the pager says only warnings and errors. */
	posix_spawn_file_actions_init(&fa);
	if (vm->opts.verbose) {
		posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO,
						 STDOUT_FILENO);
	} else {
		argv[k++] = "--quiet";
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO,
						 "/dev/null", O_WRONLY, 0);
	}
	r = posix_spawnp(&vm->pager_pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		log_err("start '%s': %s", path, strerror(r));
		vm->pager_pid = 0;
		return AVM_EX_UNAVAILABLE;
	}
	log_debug("started avm-pager, pid %d", (int)vm->pager_pid);
	return AVM_EX_OK;
}

int
vm_pager_start(struct vm *vm)
{
	struct pager_slot slot[2];
	struct pager_attach a;
	struct pager_ready ready;
	char why[256];
	uint64_t low =
		guest_mem_low_end(&(struct guest_mem){ vm->ram, vm->ram_size });
	unsigned n = 0;
	int uffd, fd, r;

	if (madvise(vm->ram, vm->ram_size, MADV_DONTFORK) < 0)
		log_debug("madvise DONTFORK: %s", strerror(errno));
	r = pager_spawn(vm);
	if (r != AVM_EX_OK)
		return r;
	uffd = pager_uffd_open();
	if (uffd < 0) {
		log_err("userfaultfd: %s", strerror(-uffd));
		return -uffd == EPERM ? AVM_EX_NOPERM : AVM_EX_UNAVAILABLE;
	}
	r = pager_uffd_register(uffd, vm->ram, vm->ram_size);
	if (r < 0) {
		close(uffd);
		log_err("userfaultfd: register guest RAM: %s", strerror(-r));
		return AVM_EX_UNAVAILABLE;
	}
	slot[n++] = (struct pager_slot){ 0, low, 0, (uintptr_t)vm->ram };
	if (vm->ram_size > low)
		slot[n++] = (struct pager_slot){ BOOT_MMIO_HOLE_END,
						 vm->ram_size - low, low,
						 (uintptr_t)(vm->ram + low) };
	memset(&a, 0, sizeof(a));
	a.vm = vm->opts.name;
	a.node = vm->node;
	a.nodes = vm->nnodes;
	a.memfd = vm->mem_fd;
	a.uffd = uffd;
	a.mem_bytes = vm->ram_size;
	a.slots = slot;
	a.nslots = n;
	/* With other nodes, READY waits for their pagers too. */
	a.timeout_ms = PAGER_START_TIMEOUT_MS * (vm->nnodes > 1 ? 3 : 1);
	fd = pager_attach(&a, &ready, &vm->pager, why, sizeof(why));
	/* The pager holds the uffd now: if it dies, the last reference goes
	 * and faulting threads are released rather than stuck. */
	close(uffd);
	if (fd < 0) {
		log_err("avm-pager: %s", why[0] ? why : strerror(-fd));
		return AVM_EX_UNAVAILABLE;
	}
	vm->pager_fd = link_fd(vm->pager);
	return AVM_EX_OK;
}

/* The pager said something or went away: a failure ends the VM. */
void
vm_pager_event(struct vm *vm)
{
	char why[256] = "";

	if (pager_check(vm->pager, why, sizeof(why)) < 0)
		vm_end(vm, VM_END_ERROR, AVM_EX_UNAVAILABLE, "guest memory: %s",
		       why[0] ? why : "avm-pager went away");
}

void
vm_pager_stop(struct vm *vm)
{
	uint64_t t0 = now_ns();
	int st = 0;
	pid_t r;

	if (vm->pager) {
		pager_detach(vm->pager);
		vm->pager = NULL;
		vm->pager_fd = -1;
	}
	if (vm->pager_pid <= 0)
		return;
	/* Our child: wait for it with a deadline, then make it go. */
	for (;;) {
		r = waitpid(vm->pager_pid, &st, WNOHANG);
		if (r == vm->pager_pid || (r < 0 && errno != EINTR))
			break;
		if (now_ns() - t0 > PAGER_EXIT_TIMEOUT_MS * 1000000ull) {
			log_warn("avm-pager %d did not exit: killing it",
				 (int)vm->pager_pid);
			kill(vm->pager_pid, SIGKILL);
			waitpid(vm->pager_pid, &st, 0);
			break;
		}
		usleep(10000);
	}
	vm->pager_pid = 0;
}
