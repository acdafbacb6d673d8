/*
 * Run-to-run links: one TCP connection between the avm-run of every two
 * nodes of a VM (a full mesh), framed as in man/avm-wire.7, opened with
 * the HELLO/WELCOME handshake and the secret's HMAC proof (auth.h) like
 * the pager links.  Node i dials every node below it and accepts the
 * others.  A receive thread per link handles what comes in:
 *
 *   RUN_IRQ        apicbus_deliver() to a vCPU of ours
 *   RUN_APIC_ADDR  apicbus_set_addr() for a remote APIC
 *   RUN_EOI        ioapic_eoi() (node 0)
 *   RUN_IO         a forwarded PIO/MMIO access run on the device bus
 *                  (node 0), answered by RUN_IO_DONE
 *   RUN_END        the VM ended on the sender: vm_end_remote()
 *   RUN_CONTROL    pause/resume this node's vCPUs
 *   PING           answered with PONG (heartbeats, links_tick())
 *
 * A link that closes before the VM ends, or whose peer stays silent past
 * the heartbeat deadline, ends the VM with status 69 naming the node.
 */
#ifndef AVM_RUN_LINKS_H
#define AVM_RUN_LINKS_H

#include <stdint.h>

struct vm;
struct vcpu;
struct apic_msg;
struct apic_addr;

/* Opens every link of vm's node within timeout_ms.  Returns 0, or an
 * exit status after a message. */
int links_open(struct vm *, int timeout_ms);
/* Starts the receive threads.  Returns 0, or -1 with errno. */
int links_start(struct vm *);
/* Tells the other nodes that the VM ended (unless the end came from one
 * of them), says BYE, waits a little for theirs and closes. */
void links_close(struct vm *);
/* Closes the sockets and frees the links (after every vCPU is gone). */
void links_free(struct vm *);

/* apicbus ops: an interrupt for remote APIC apic_id; our APIC's new
 * addressing for everyone. */
int links_forward_irq(void *vm, uint32_t apic_id, const struct apic_msg *);
void links_publish(void *vm, const struct apic_addr *);
/* A level-triggered EOI of a vCPU here, for node 0's IOAPIC (the route
 * of the nodes other than 0, route.h). */
void links_eoi(struct vm *, uint8_t vector);

/*
 * Runs a PIO (mmio 0) or MMIO access of vCPU v on node 0's device bus (the
 * route of the nodes other than 0, route.h):
 * count accesses of size bytes at addr, data in and out.  Waits for the
 * answer; ends the VM when none comes within the deadline.  Returns 0,
 * or -1 (the VM is ending).
 */
int links_io(struct vcpu *v, int mmio, uint64_t addr, void *data, unsigned size,
	     unsigned count, int is_write);

/* Pauses or resumes every other node (from node 0).  Returns 0, or -1
 * with errno. */
int links_control(struct vm *, int pause);

/* Heartbeat: PINGs every peer; a peer silent past the links' deadline
 * (--dead-ms, LINK_DEAD_MS) ends the VM.  Called at least every
 * LINK_HEARTBEAT_MS by vm_run. */
void links_tick(struct vm *);

#endif
