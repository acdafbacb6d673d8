/* What avm-run needs of KVM; see include/avm/kvmcap.h. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "avm/kvmcap.h"
#include "avm/util.h"

static const struct kvmcap needed[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "pausing vCPUs" },
	{ KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR",
	  "the user-space x2APIC" },
	{ KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER",
	  "the user-space APIC MSRs" },
};

const struct kvmcap *
kvmcap_needed(size_t *n)
{
	*n = AVM_ARRAY_SIZE(needed);
	return needed;
}

const struct kvmcap *
kvmcap_missing(int (*has)(void *arg, const struct kvmcap *c), void *arg)
{
	size_t i;

	for (i = 0; i < AVM_ARRAY_SIZE(needed); i++)
		if (has(arg, &needed[i]) <= 0)
			return &needed[i];
	return NULL;
}

static int
kvmcap_ioctl(void *arg, const struct kvmcap *c)
{
	const char *hide = getenv("AVM_TEST_KVM_HIDE_CAP");

	if (hide && strcmp(hide, c->name) == 0)
		return 0;
	return ioctl(*(int *)arg, KVM_CHECK_EXTENSION, c->cap);
}

int
kvmcap_check(int kvm_fd, char *why, size_t len)
{
	const struct kvmcap *c;
	int api;

	api = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KVMCAP_API_VERSION) {
		if (api < 0)
			snprintf(why, len, "KVM_GET_API_VERSION: %s",
				 strerror(errno));
		else
			snprintf(why, len, "KVM API version %d, need %d", api,
				 KVMCAP_API_VERSION);
		errno = EPROTONOSUPPORT;
		return -1;
	}
	c = kvmcap_missing(kvmcap_ioctl, &kvm_fd);
	if (c) {
		snprintf(why, len, "no %s (needed for %s)", c->name, c->why);
		errno = ENOTSUP;
		return -1;
	}
	return 0;
}
