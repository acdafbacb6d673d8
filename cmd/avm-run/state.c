/*
 * The VM's life cycle (vm.h): its state (starting, running, paused,
 * stopping), why it ended, and the vCPUs parking while it is paused.
 * Pause and resume are VM-wide from node 0 (links_control).  Each change
 * of state goes to the run stats file too (vm_set_state), and a vCPU
 * parked shows there as paused.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "links.h"
#include "vcpu.h"
#include "vm.h"

static enum run_vm_state
run_state_of(enum vm_state s)
{
	switch (s) {
	case VM_STARTING:
		return RUN_VM_STARTING;
	case VM_RUNNING:
		return RUN_VM_RUNNING;
	case VM_PAUSED:
		return RUN_VM_PAUSED;
	case VM_STOPPING:
		return RUN_VM_STOPPING;
	}
	return RUN_VM_STOPPING;
}

void
vm_set_state(struct vm *vm, enum vm_state s)
{
	atomic_store(&vm->state, s);
	runstats_vm_state(&vm->stats, run_state_of(s));
}

static void
vm_kick_all(struct vm *vm)
{
	unsigned i;

	for (i = 0; vm->vcpus && i < vm->nvcpus; i++)
		if (vm->vcpus[i])
			vcpu_kick(vm->vcpus[i]);
}

static void
vm_endv(struct vm *vm, int remote, enum vm_end end, int status, const char *fmt,
	va_list ap)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->lock);
	if (vm->end != VM_END_NONE) {
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	vm->end = end;
	vm->end_status = status;
	vm->end_remote = remote;
	vsnprintf(vm->end_why, sizeof(vm->end_why), fmt, ap);
	vm_set_state(vm, VM_STOPPING);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	vm_kick_all(vm);
	if (vm->end_fd >= 0 && write(vm->end_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN only: vm_run is woken anyway */
	}
}

void
vm_end(struct vm *vm, enum vm_end end, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_endv(vm, 0, end, status, fmt, ap);
	va_end(ap);
}

void
vm_end_remote(struct vm *vm, enum vm_end end, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_endv(vm, 1, end, status, fmt, ap);
	va_end(ap);
}

int
vm_park(struct vm *vm, struct vcpu *v)
{
	int stopping;

	pthread_mutex_lock(&vm->lock);
	if (vm_state(vm) == VM_STOPPING) {
		pthread_mutex_unlock(&vm->lock);
		return 1;
	}
	vm->nparked++;
	pthread_cond_broadcast(&vm->cond);
	/* Back to running (or halted) at the next turn of its loop. */
	vcpu_set_run_state(v, RUN_VCPU_PAUSED);
	while (vm_state(vm) == VM_PAUSED)
		pthread_cond_wait(&vm->cond, &vm->lock);
	vm->nparked--;
	stopping = vm_state(vm) == VM_STOPPING;
	pthread_mutex_unlock(&vm->lock);
	return stopping;
}

int
vm_pause_local(struct vm *vm, int timeout_ms)
{
	struct timespec ts;
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm_state(vm) == VM_STOPPING || vm_state(vm) == VM_STARTING) {
		errno = vm_state(vm) == VM_STARTING ? EBUSY : ESHUTDOWN;
		pthread_mutex_unlock(&vm->lock);
		return -1;
	}
	vm_set_state(vm, VM_PAUSED);
	pthread_mutex_unlock(&vm->lock);
	vm_kick_all(vm);

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->lock);
	while (vm_state(vm) == VM_PAUSED && vm->nparked < vm->vcpu_count &&
	       r == 0)
		r = pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
	if (vm_state(vm) == VM_STOPPING)
		r = ESHUTDOWN;
	pthread_mutex_unlock(&vm->lock);
	if (r) {
		errno = r;
		return -1;
	}
	return 0;
}

int
vm_resume_local(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm_state(vm) == VM_STOPPING || vm_state(vm) == VM_STARTING) {
		errno = vm_state(vm) == VM_STARTING ? EBUSY : ESHUTDOWN;
		pthread_mutex_unlock(&vm->lock);
		return -1;
	}
	vm_set_state(vm, VM_RUNNING);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	vm_kick_all(vm);
	return 0;
}

/* Pause and resume are VM-wide: node 0 (where run.sock answers for the
 * VM) tells the other nodes. */
int
vm_pause(struct vm *vm, int timeout_ms)
{
	if (vm_pause_local(vm, timeout_ms) < 0)
		return -1;
	return links_control(vm, 1);
}

int
vm_resume(struct vm *vm)
{
	if (vm_resume_local(vm) < 0)
		return -1;
	return links_control(vm, 0);
}

const char *
vm_state_name(enum vm_state s)
{
	switch (s) {
	case VM_STARTING:
		return "starting";
	case VM_RUNNING:
		return "running";
	case VM_PAUSED:
		return "paused";
	case VM_STOPPING:
		return "stopping";
	}
	return "unknown";
}
