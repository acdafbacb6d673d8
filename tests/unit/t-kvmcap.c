/*
 * Unit tests of lib/kvmcap.c, the one list of what avm-run needs of KVM
 * (avm-probe --require kvm checks the same): the lookup reports the first
 * capability a host lacks, and a file that is not /dev/kvm fails the
 * check with a reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <unistd.h>

#include "avm/kvmcap.h"
#include "tap.h"

/* A host that has every capability except *arg. */
static int
has_all_but(void *arg, const struct kvmcap *c)
{
	return c->cap != *(long *)arg;
}

static int
has_cap(long cap)
{
	const struct kvmcap *v;
	size_t n, i;

	v = kvmcap_needed(&n);
	for (i = 0; i < n; i++)
		if (v[i].cap == cap)
			return 1;
	return 0;
}

int
main(void)
{
	const struct kvmcap *v, *m;
	long none = -1, lack;
	char why[160];
	size_t n, i;
	int fd;

	v = kvmcap_needed(&n);
	ok(n >= 4, "avm-run needs at least 4 capabilities");
	/* What vm.c enables and relies on must be in the list. */
	ok(has_cap(KVM_CAP_USER_MEMORY), "KVM_CAP_USER_MEMORY listed");
	ok(has_cap(KVM_CAP_IMMEDIATE_EXIT), "KVM_CAP_IMMEDIATE_EXIT listed");
	ok(has_cap(KVM_CAP_X86_USER_SPACE_MSR), "USER_SPACE_MSR listed");
	ok(has_cap(KVM_CAP_X86_MSR_FILTER), "KVM_CAP_X86_MSR_FILTER listed");
	ok(kvmcap_missing(has_all_but, &none) == NULL,
	   "a host with everything lacks nothing");
	for (i = 0; i < n; i++) {
		lack = v[i].cap;
		m = kvmcap_missing(has_all_but, &lack);
		ok(m == &v[i], "a host without %s: that one is missing",
		   v[i].name);
		ok(strncmp(v[i].name, "KVM_CAP_", 8) == 0 && v[i].why[0],
		   "%s has a name and a reason", v[i].name);
	}
	fd = open("/dev/null", O_RDWR);
	errno = 0;
	why[0] = '\0';
	ok(kvmcap_check(fd, why, sizeof(why)) == -1 && errno == EPROTONOSUPPORT,
	   "/dev/null is no KVM");
	ok(strstr(why, "KVM_GET_API_VERSION") != NULL, "reason: %s", why);
	close(fd);
	return done_testing();
}
