/*
 * Guest RAM for the boot and ACPI unit tests: an anonymous private
 * mapping of `size` bytes.  Only what a test writes is ever touched, so
 * a large size costs address space, not memory.
 */
#ifndef AVM_T_GUESTMEM_H
#define AVM_T_GUESTMEM_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "../../cmd/avm-run/arch/x86/boot.h"

static inline struct guest_mem
mem_new(uint64_t size)
{
	struct guest_mem gm = { NULL, size };
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		printf("Bail out! mmap %llu bytes failed\n",
		       (unsigned long long)size);
		exit(1);
	}
	gm.ram = p;
	return gm;
}

static inline void
mem_free(struct guest_mem *gm)
{
	munmap(gm->ram, gm->size);
}

#endif
