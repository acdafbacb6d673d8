/*
 * The guest's NUMA distances (the ACPI SLIT), decided here alone: the
 * fabric map that `avm-fabric up` left in the VM's folder,
 * <rundir>/<vm>/fabric.map (avm/fabricmap.h, avm.7 FABRIC MAP), when
 * there is one; else none, and acpi.h's 10 local, 20 remote.
 *
 * A start-up row of its own, right after the run directory's: the map is
 * read and judged before placement, KVM, other nodes or sockets, so a bad
 * one stops avm-run at once with the file named, on a machine without
 * KVM too.  Only node 0 builds the ACPI tables, so only node 0 reads it.
 *
 * The map lives in the trusted VM folder (avm_trusted_dir) and is held
 * to the rules of the files there: not a symbolic link, a regular file,
 * ours, not writable by group or others (77).  A map of another VM or of
 * another node count is stale (65): 'avm-fabric up' writes a new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avm/fabricmap.h"
#include "avm/log.h"

#include "vm.h"

#define FIX "run 'avm-fabric up' again or remove it"

/* Logs the distances the guest gets, a row a line, with -v. */
static void
log_distances(const struct vm *vm, const char *from)
{
	char row[FABRIC_MAP_NODES_MAX * 4 + 1];
	unsigned i, j, n = vm->nnodes;
	size_t k;

	if (!vm->distance) {
		log_debug("SLIT: %s: 10 local, 20 remote", from);
		return;
	}
	log_debug("SLIT: from '%s'", from);
	for (i = 0; i < n; i++) {
		for (j = 0, k = 0; j < n; j++)
			k += (size_t)snprintf(row + k, sizeof(row) - k, " %u",
					      vm->distance[i * n + j]);
		log_debug("SLIT: node %u:%s", i, row);
	}
}

/* Opens the map, or says why not (an exit status, *fd -1: no map). */
static int
map_open(const char *path, int *fd)
{
	struct stat st;
	int e;

	/* O_NONBLOCK: a FIFO in its place must not hang us. */
	*fd = open(path,
		   O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (*fd < 0) {
		e = errno;
		if (e == ENOENT)
			return AVM_EX_OK;
		if (e == ELOOP) {
			log_err("fabric map '%s' is a symbolic link: only a "
				"file written there is trusted; " FIX,
				path);
			return AVM_EX_NOPERM;
		}
		log_err("fabric map '%s': %s", path, strerror(e));
		return e == EACCES || e == EPERM ? AVM_EX_NOPERM
						 : AVM_EX_NOINPUT;
	}
	if (fstat(*fd, &st) < 0) {
		log_err("fabric map '%s': fstat: %s", path, strerror(errno));
		return AVM_EX_OSERR;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("fabric map '%s' is not a regular file (a directory, "
			"a FIFO, a device); " FIX,
			path);
		return AVM_EX_NOPERM;
	}
	if (st.st_uid != geteuid()) {
		log_err("fabric map '%s' belongs to uid %u, not to us (uid "
			"%u); " FIX,
			path, (unsigned)st.st_uid, (unsigned)geteuid());
		return AVM_EX_NOPERM;
	}
	if (st.st_mode & 022) {
		log_err("fabric map '%s' is writable by group or others (mode "
			"%04o): chmod go-w it, or " FIX,
			path, (unsigned)(st.st_mode & 07777));
		return AVM_EX_NOPERM;
	}
	return AVM_EX_OK;
}

int
vm_distances(struct vm *vm)
{
	struct fabric_map m;
	struct avm_diag d;
	char path[sizeof(vm->dir) + sizeof(FABRIC_MAP_FILE) + 1];
	char line[1024];
	int fd, r, e;

	if (vm->node != 0)
		return AVM_EX_OK;
	snprintf(path, sizeof(path), "%s/%s", vm->dir, FABRIC_MAP_FILE);
	r = map_open(path, &fd);
	if (r != AVM_EX_OK || fd < 0) {
		if (fd >= 0)
			close(fd);
		if (r == AVM_EX_OK)
			log_distances(vm, "no fabric map");
		return r;
	}
	r = fabric_map_load_fd(fd, path, &m, &d);
	e = errno;
	close(fd);
	if (r < 0) {
		avm_diag_format(&d, line, sizeof(line));
		log_err("%s (" FIX ")", line);
		if (e == ENOMEM)
			return AVM_EX_OSERR;
		return e == EINVAL ? AVM_EX_DATAERR : AVM_EX_NOINPUT;
	}
	r = AVM_EX_DATAERR;
	if (strcmp(m.vm, vm->opts.name) != 0)
		log_err("fabric map '%s' names VM '%s', not '%s': " FIX, path,
			m.vm, vm->opts.name);
	else if (m.nodes != vm->nnodes)
		log_err("fabric map '%s' has %u nodes, VM '%s' has %u: " FIX,
			path, m.nodes, vm->opts.name, vm->nnodes);
	else {
		vm->distance = m.distance;
		m.distance = NULL;
		r = AVM_EX_OK;
	}
	fabric_map_release(&m);
	if (r == AVM_EX_OK)
		log_distances(vm, path);
	return r;
}

void
vm_distances_release(struct vm *vm)
{
	free(vm->distance);
	vm->distance = NULL;
}
