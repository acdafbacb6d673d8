/* Constructors of the devices in dev/, one file each.  Each returns the
 * device registered on the VM's bus, or NULL with errno. */
#ifndef AVM_RUN_DEVICES_H
#define AVM_RUN_DEVICES_H

#include <stdint.h>

struct vm;
struct uart;

/* 8250/16550A UART at 0x3f8, IRQ 4.  Output to out_fd; input from in_fd
 * (-1: none) by a reader thread.  When in_fd is a terminal it is put in
 * raw mode, restored when the VM frees the device; Ctrl-A x there stops
 * the VM. */
struct uart *uart_create(struct vm *, int out_fd, int in_fd);
int uart_start(struct uart *);
void uart_flush(struct uart *);
/* Counts each byte the guest writes to the transmitter (THR, loopback
 * included) into *bytes, under the UART's lock; NULL stops counting. */
void uart_count_tx(struct uart *, uint64_t *bytes);

/* CMOS RTC at 0x70/0x71: the host's UTC time, BCD 24-hour. */
int rtc_create(struct vm *);

/* ACPI PM block (ports in arch/x86/acpi.h): S5 powers off, the reset
 * register and port 0xcf9 report a reset; the PM timer counts. */
int pm_create(struct vm *);
/* The PM timer's clock in ns (NULL: now_ns), for tests and fuzzing. */
void pm_set_clock(uint64_t (*now)(void));

/* Debug-exit port 0xf4 for test guests: the value written becomes
 * avm-run's exit status. */
int debugexit_create(struct vm *);

#endif
