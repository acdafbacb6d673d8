/*
 * userfaultfd: whether this process may have one that also takes faults
 * raised inside the kernel (KVM touches guest memory from there), its
 * features, and a real run of what avm-pager does with it: a memfd
 * mapped MAP_SHARED, registered in MISSING and WP modes, a page placed
 * write-protected with UFFDIO_COPY, then unprotected and protected again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/userfaultfd.h>

#include "avm/util.h"
#include "probe.h"

/* Newer than the oldest headers we build with (Linux 6.1). */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

#define UFFD_DEV "/dev/userfaultfd"

static const struct {
	const char *name;
	uint64_t bit;
} uffd_features[] = {
	{ "wp", UFFD_FEATURE_PAGEFAULT_FLAG_WP },
	{ "wp_shmem", UFFD_FEATURE_WP_HUGETLBFS_SHMEM },
	{ "missing_shmem", UFFD_FEATURE_MISSING_SHMEM },
	{ "missing_hugetlbfs", UFFD_FEATURE_MISSING_HUGETLBFS },
	{ "minor_shmem", UFFD_FEATURE_MINOR_SHMEM },
	{ "minor_hugetlbfs", UFFD_FEATURE_MINOR_HUGETLBFS },
	{ "event_fork", UFFD_FEATURE_EVENT_FORK },
	{ "event_remap", UFFD_FEATURE_EVENT_REMAP },
	{ "event_remove", UFFD_FEATURE_EVENT_REMOVE },
	{ "event_unmap", UFFD_FEATURE_EVENT_UNMAP },
	{ "sigbus", UFFD_FEATURE_SIGBUS },
	{ "thread_id", UFFD_FEATURE_THREAD_ID },
	{ "exact_address", UFFD_FEATURE_EXACT_ADDRESS },
	{ "wp_unpopulated", UFFD_FEATURE_WP_UNPOPULATED },
	{ "poison", UFFD_FEATURE_POISON },
	{ "wp_async", UFFD_FEATURE_WP_ASYNC },
	{ "move", UFFD_FEATURE_MOVE },
};

/* Bits of uffdio_register.ioctls: 1 << _UFFDIO_X. */
static const struct {
	const char *name;
	int bit;
} uffd_ioctls[] = {
	{ "wake", 0x02 },   { "copy", 0x03 },	      { "zeropage", 0x04 },
	{ "move", 0x05 },   { "writeprotect", 0x06 }, { "continue", 0x07 },
	{ "poison", 0x08 },
};

/*
 * A userfaultfd for kernel and user faults alike: the system call, else
 * /dev/userfaultfd (Linux 6.1), whose file mode is the access control
 * when vm.unprivileged_userfaultfd is 0.  Returns the fd or -1 with why
 * in u->reason.
 */
static int
uffd_open(struct uffd_info *u)
{
	int fd, sys_errno, dev;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		u->via = "userfaultfd(2)";
		return fd;
	}
	sys_errno = errno;
	dev = open(UFFD_DEV, O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		if (fd >= 0) {
			close(dev);
			u->via = UFFD_DEV;
			return fd;
		}
		snprintf(u->reason, sizeof(u->reason),
			 "userfaultfd(2): %s; USERFAULTFD_IOC_NEW: %s",
			 strerror(sys_errno), strerror(errno));
		close(dev);
		return -1;
	}
	if (u->unprivileged == 0 && sys_errno == EPERM)
		snprintf(u->reason, sizeof(u->reason),
			 "userfaultfd(2): %s (vm.unprivileged_userfaultfd is "
			 "0); open '%s': %s",
			 strerror(sys_errno), UFFD_DEV, strerror(errno));
	else
		snprintf(u->reason, sizeof(u->reason),
			 "userfaultfd(2): %s; open '%s': %s",
			 strerror(sys_errno), UFFD_DEV, strerror(errno));
	return -1;
}

static int
uffd_api(int fd, uint64_t want, uint64_t *features, uint64_t *ioctls)
{
	struct uffdio_api api;

	memset(&api, 0, sizeof(api));
	api.api = UFFD_API;
	api.features = want;
	if (ioctl(fd, UFFDIO_API, &api) < 0)
		return -1;
	*features = api.features;
	if (ioctls)
		*ioctls = api.ioctls;
	return 0;
}

static void
wp_fail(struct uffd_info *u, const char *what)
{
	snprintf(u->wp_error, sizeof(u->wp_error), "%s: %s", what,
		 strerror(errno));
	probe_debug("userfaultfd: %s", u->wp_error);
}

/* The check of the pager's own use; see the comment at the top. */
static void
wp_shmem_check(struct uffd_info *u)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = 2 * page;
	struct uffdio_register reg;
	struct uffdio_writeprotect wp;
	struct uffdio_copy copy;
	uint64_t features, want;
	char *map = MAP_FAILED, *src = NULL;
	int fd, mfd = -1;

	fd = uffd_open(u);
	if (fd < 0) {
		memcpy(u->wp_error, u->reason, sizeof(u->wp_error));
		u->reason[0] = '\0';
		return;
	}
	want = u->features &
	       (UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_MISSING_SHMEM |
		UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	if (uffd_api(fd, want, &features, NULL) < 0) {
		wp_fail(u, "UFFDIO_API");
		goto out;
	}
	mfd = memfd_create("avm-probe", MFD_CLOEXEC);
	if (mfd < 0) {
		wp_fail(u, "memfd_create");
		goto out;
	}
	if (ftruncate(mfd, (off_t)len) < 0) {
		wp_fail(u, "ftruncate memfd");
		goto out;
	}
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (map == MAP_FAILED) {
		wp_fail(u, "mmap memfd");
		goto out;
	}
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)map;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP;
	if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
		wp_fail(u, "UFFDIO_REGISTER of a shared memfd, MISSING|WP");
		goto out;
	}
	u->register_ioctls = reg.ioctls;
	if (!(reg.ioctls & (1ull << _UFFDIO_WRITEPROTECT))) {
		snprintf(u->wp_error, sizeof(u->wp_error),
			 "UFFDIO_REGISTER of a shared memfd gives no "
			 "UFFDIO_WRITEPROTECT");
		goto out;
	}
	u->wp_shmem_register = 1;

	src = aligned_alloc(page, page);
	if (!src) {
		wp_fail(u, "aligned_alloc");
		goto out;
	}
	memset(src, 0xa5, page);
	memset(&copy, 0, sizeof(copy));
	copy.dst = (uintptr_t)map;
	copy.src = (uintptr_t)src;
	copy.len = page;
	copy.mode = UFFDIO_COPY_MODE_WP;
	if (ioctl(fd, UFFDIO_COPY, &copy) < 0) {
		wp_fail(u, "UFFDIO_COPY with MODE_WP");
		goto out;
	}
	memset(&wp, 0, sizeof(wp));
	wp.range.start = (uintptr_t)map;
	wp.range.len = page;
	wp.mode = 0;
	if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp) < 0) {
		wp_fail(u, "UFFDIO_WRITEPROTECT clear");
		goto out;
	}
	wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp) < 0) {
		wp_fail(u, "UFFDIO_WRITEPROTECT set");
		goto out;
	}
	/* Read back through the mapping: the copy landed in the memfd. */
	if ((unsigned char)map[page - 1] != 0xa5) {
		snprintf(u->wp_error, sizeof(u->wp_error),
			 "UFFDIO_COPY: the page reads back wrong");
		goto out;
	}
	u->wp_shmem_ops = 1;
out:
	free(src);
	if (map != MAP_FAILED)
		munmap(map, len);
	if (mfd >= 0)
		close(mfd);
	close(fd);
}

void
uffd_probe(struct uffd_info *u)
{
	int64_t v;
	int fd;

	memset(u, 0, sizeof(*u));
	u->unprivileged = -1;
	if (read_file_i64("/proc/sys/vm/unprivileged_userfaultfd", &v) == 0)
		u->unprivileged = (int)v;
	fd = uffd_open(u);
	if (fd < 0) {
		probe_debug("userfaultfd: %s", u->reason);
		return;
	}
	/* Features 0 asks for nothing and learns everything there is. */
	if (uffd_api(fd, 0, &u->features, NULL) < 0) {
		snprintf(u->reason, sizeof(u->reason), "UFFDIO_API: %s",
			 strerror(errno));
		probe_debug("userfaultfd: %s", u->reason);
		close(fd);
		return;
	}
	close(fd);
	u->api = UFFD_API;
	u->available = 1;
	probe_debug("userfaultfd: via %s, features %#llx", u->via,
		    (unsigned long long)u->features);
	wp_shmem_check(u);
}

void
uffd_emit(struct emit *e, const struct uffd_info *u)
{
	size_t i;

	emit_map_begin(e);
	emit_kv_bool(e, "available", u->available);
	if (!u->available)
		emit_kv_str(e, "reason", u->reason);
	else
		emit_kv_str(e, "via", u->via);
	emit_key(e, "unprivileged_userfaultfd");
	if (u->unprivileged < 0)
		emit_null(e);
	else
		emit_int(e, u->unprivileged);
	if (!u->available) {
		emit_map_end(e);
		return;
	}
	emit_kv_uint(e, "api", u->api);
	emit_kv_uint(e, "features_mask", u->features);
	emit_kv_map_begin(e, "features");
	/* Missing-page faults on anonymous memory: the base of the API. */
	emit_kv_bool(e, "missing", 1);
	for (i = 0; i < AVM_ARRAY_SIZE(uffd_features); i++)
		emit_kv_bool(e, uffd_features[i].name,
			     !!(u->features & uffd_features[i].bit));
	emit_map_end(e);
	emit_kv_bool(e, "wp_shmem_register", u->wp_shmem_register);
	emit_kv_list_begin(e, "register_ioctls");
	for (i = 0; i < AVM_ARRAY_SIZE(uffd_ioctls); i++) {
		if (u->register_ioctls & (1ull << uffd_ioctls[i].bit))
			emit_str(e, uffd_ioctls[i].name);
	}
	emit_list_end(e);
	emit_kv_bool(e, "wp_shmem_ops", u->wp_shmem_ops);
	if (u->wp_error[0])
		emit_kv_str(e, "wp_error", u->wp_error);
	emit_map_end(e);
}
