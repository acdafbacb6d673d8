/*
 * What avm-run needs of KVM, in one place: the API version and the
 * capabilities.  avm-run refuses a /dev/kvm that lacks one of them and
 * `avm-probe --require kvm` checks exactly this list, with the same
 * words.
 */
#ifndef AVM_KVMCAP_H
#define AVM_KVMCAP_H

#include <stddef.h>

#define KVMCAP_API_VERSION 12

struct kvmcap {
	long cap;	  /* KVM_CAP_* */
	const char *name; /* "KVM_CAP_USER_MEMORY" */
	const char *why;  /* what avm-run needs it for */
};

/* The capabilities avm-run needs, and how many. */
const struct kvmcap *kvmcap_needed(size_t *n);

/*
 * The first needed capability that has() says is absent (has returns
 * > 0 when present), or NULL when all are there.
 */
const struct kvmcap *
kvmcap_missing(int (*has)(void *arg, const struct kvmcap *c), void *arg);

/*
 * Checks an open /dev/kvm: the API version, then every needed
 * capability.  Returns 0, or -1 with the reason in why ("KVM API version
 * 11, need 12", "no KVM_CAP_X86_MSR_FILTER (needed for the user-space
 * APIC MSRs)"); errno is EPROTONOSUPPORT (version) or ENOTSUP (a cap).
 *
 * For tests on a host that has every capability: the environment
 * variable AVM_TEST_KVM_HIDE_CAP=KVM_CAP_NAME makes that one count as
 * absent, in avm-run and avm-probe alike.
 */
int kvmcap_check(int kvm_fd, char *why, size_t len);

#endif
