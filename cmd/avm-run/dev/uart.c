/*
 * 8250/16550A UART, the guest's console (COM1: 0x3f8, IRQ 4).
 *
 * Transmission is instant: THR writes go straight to the output, so THR
 * and the transmitter are always empty.  Received bytes come from a reader
 * thread into a small FIFO.  The interrupt line follows the highest
 * pending source, and is not gated by MCR.OUT2 (as QEMU's model does), so
 * simple test guests get interrupts without knowing PC wiring.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "avm/util.h"

#include "../devstate.h"
#include "../vm.h"
#include "devices.h"

#define UART_BASE 0x3f8
#define UART_IRQ 4
#define UART_FIFO 64

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

/*
 * State bytes (devstate.h), layout version 1, written by save with the
 * VM paused (after flushing pending output to the console, so nothing
 * is lost or written twice):
 *
 *	0   4   header: version 1, length 76
 *	4   9   IER, LCR, MCR, LSR, MSR, SCR, FCR, DLL, DLM
 *	13  1   THR-empty interrupt pending (0/1)
 *	14  1   interrupt line level (0/1), as the registers give it
 *	15  1   bytes in the receive FIFO (0..64)
 *	16  64  the receive FIFO, oldest first, zeros after the count
 *
 * Restore does not drive the line: its level is part of the interrupt
 * controllers' state (their input levels).  The console's Ctrl-A
 * escape state is the host terminal's, not saved.
 */
#define UART_STATE_VERSION 1
#define UART_STATE_SIZE (4 + 12 + UART_FIFO)
_Static_assert(UART_STATE_SIZE == 80, "uart state layout");

struct uart {
	struct device dev;
	pthread_mutex_t lock;
	int out_fd;
	int in_fd;
	int tty_raw;
	struct termios saved;
	int stop_pipe[2];
	pthread_t reader;
	int reader_started;

	uint8_t ier, lcr, mcr, lsr, msr, scr, fcr, dll, dlm;
	int thri_pending; /* THR empty interrupt not yet acknowledged */
	int irq_level;
	uint8_t rx[UART_FIFO];
	unsigned rx_head, rx_count;
	uint8_t out[256];
	unsigned out_len;
	int ctrl_a;
	uint64_t *tx_bytes; /* NULL: not counted (uart_count_tx) */
};

static void
uart_flush_locked(struct uart *u)
{
	if (u->out_len && write_full(u->out_fd, u->out, u->out_len) < 0 &&
	    errno != EPIPE) {
		/* The console went away: drop output rather than stop. */
	}
	u->out_len = 0;
}

static uint8_t
uart_iir(struct uart *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((u->ier & IER_RLSI) && (u->lsr & LSR_OE))
		return IIR_RLSI | fifo;
	if ((u->ier & IER_RDI) && u->rx_count)
		return IIR_RDI | fifo;
	if ((u->ier & IER_THRI) && u->thri_pending)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

/* Called with the lock held; drops it around the IRQ call so the VM's
 * interrupt path never runs under a device lock. */
static void
uart_update_irq(struct uart *u)
{
	int level = !(uart_iir(u) & IIR_NONE);

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	pthread_mutex_unlock(&u->lock);
	vm_set_irq(u->dev.vm, UART_IRQ, level);
	pthread_mutex_lock(&u->lock);
}

static void
uart_rx_push(struct uart *u, uint8_t c)
{
	if (u->rx_count == UART_FIFO) {
		u->lsr |= LSR_OE;
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % UART_FIFO] = c;
	u->rx_count++;
	u->lsr |= LSR_DR;
}

static void
uart_tx(struct uart *u, uint8_t c)
{
	if (u->tx_bytes) /* one writer: the lock is held */
		__atomic_store_n(
			u->tx_bytes,
			__atomic_load_n(u->tx_bytes, __ATOMIC_RELAXED) + 1,
			__ATOMIC_RELAXED);
	if (u->mcr & MCR_LOOP) {
		uart_rx_push(u, c);
		return;
	}
	u->out[u->out_len++] = c;
	if (c == '\n' || u->out_len == sizeof(u->out))
		uart_flush_locked(u);
}

static void
uart_pio_read(struct device *dev, struct vcpu *vcpu, uint64_t off, void *data,
	      unsigned len)
{
	struct uart *u = dev->priv;
	uint8_t v = 0xff;

	(void)vcpu;
	(void)len;
	pthread_mutex_lock(&u->lock);
	switch (off) {
	case 0:
		if (u->lcr & LCR_DLAB) {
			v = u->dll;
			break;
		}
		v = 0;
		if (u->rx_count) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % UART_FIFO;
			if (--u->rx_count == 0)
				u->lsr &= (uint8_t)~LSR_DR;
		}
		break;
	case 1:
		v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
		break;
	case 2:
		v = uart_iir(u);
		/* Reading IIR acknowledges a THR-empty interrupt. */
		if ((v & 0x0f) == IIR_THRI)
			u->thri_pending = 0;
		break;
	case 3:
		v = u->lcr;
		break;
	case 4:
		v = u->mcr;
		break;
	case 5:
		v = u->lsr | LSR_THRE | LSR_TEMT;
		u->lsr &= (uint8_t)~LSR_OE;
		break;
	case 6:
		if (u->mcr & MCR_LOOP) {
			/* Loopback wires RTS->CTS, DTR->DSR, OUT1->RI,
			 * OUT2->DCD; Linux's probe checks it. */
			v = (uint8_t)(((u->mcr & 0x02) << 3) |
				      ((u->mcr & 0x01) << 5) |
				      ((u->mcr & 0x04) << 4) |
				      ((u->mcr & 0x08) << 4));
		} else {
			v = 0xb0; /* DCD, DSR, CTS */
		}
		break;
	case 7:
		v = u->scr;
		break;
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	*(uint8_t *)data = v;
}

static void
uart_pio_write(struct device *dev, struct vcpu *vcpu, uint64_t off,
	       const void *data, unsigned len)
{
	struct uart *u = dev->priv;
	uint8_t v = *(const uint8_t *)data;

	(void)vcpu;
	(void)len;
	pthread_mutex_lock(&u->lock);
	switch (off) {
	case 0:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
			break;
		}
		uart_tx(u, v);
		u->thri_pending = 1;
		break;
	case 1:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
			break;
		}
		/* Enabling the THR interrupt raises it at once: the
		 * transmitter is always empty. */
		if ((v & IER_THRI) && !(u->ier & IER_THRI))
			u->thri_pending = 1;
		u->ier = v & 0x0f;
		break;
	case 2:
		u->fcr = v & 0xc9;
		if (v & FCR_CLEAR_RX) {
			u->rx_count = 0;
			u->lsr &= (uint8_t)~LSR_DR;
		}
		break;
	case 3:
		u->lcr = v;
		break;
	case 4:
		u->mcr = v & 0x1f;
		break;
	case 7:
		u->scr = v;
		break;
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

/* Bytes from the host: Ctrl-A x stops the VM, Ctrl-A Ctrl-A sends one
 * Ctrl-A, in raw terminal mode only. */
static void
uart_input(struct uart *u, const uint8_t *buf, size_t n)
{
	size_t i;

	pthread_mutex_lock(&u->lock);
	for (i = 0; i < n; i++) {
		if (u->tty_raw && u->ctrl_a) {
			u->ctrl_a = 0;
			if (buf[i] == 'x') {
				pthread_mutex_unlock(&u->lock);
				vm_end(u->dev.vm, VM_END_STOP, 0,
				       "stopped from the console (Ctrl-A x)");
				return;
			}
			if (buf[i] != 0x01)
				continue;
		} else if (u->tty_raw && buf[i] == 0x01) {
			u->ctrl_a = 1;
			continue;
		}
		uart_rx_push(u, buf[i]);
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static void *
uart_reader(void *arg)
{
	struct uart *u = arg;
	uint8_t buf[64];

	for (;;) {
		struct pollfd p[2] = { { u->in_fd, POLLIN, 0 },
				       { u->stop_pipe[0], POLLIN, 0 } };
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		n = read(u->in_fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break; /* end of input: the guest just gets no more */
		uart_input(u, buf, (size_t)n);
	}
	return NULL;
}

static void uart_release(struct uart *u);

static ssize_t
uart_save(struct device *dev, void *buf, size_t cap)
{
	struct uart *u = dev->priv;
	uint8_t *p = ds_begin(buf, cap, UART_STATE_VERSION,
			      UART_STATE_SIZE - DEVSTATE_HDR_SIZE);
	unsigned i;

	if (!p)
		return -1;
	pthread_mutex_lock(&u->lock);
	uart_flush_locked(u);
	ds_put8(&p, u->ier);
	ds_put8(&p, u->lcr);
	ds_put8(&p, u->mcr);
	ds_put8(&p, u->lsr);
	ds_put8(&p, u->msr);
	ds_put8(&p, u->scr);
	ds_put8(&p, u->fcr);
	ds_put8(&p, u->dll);
	ds_put8(&p, u->dlm);
	ds_put8(&p, (uint8_t)u->thri_pending);
	ds_put8(&p, (uint8_t)u->irq_level);
	ds_put8(&p, (uint8_t)u->rx_count);
	for (i = 0; i < UART_FIFO; i++)
		ds_put8(&p, i < u->rx_count
				    ? u->rx[(u->rx_head + i) % UART_FIFO]
				    : 0);
	pthread_mutex_unlock(&u->lock);
	return UART_STATE_SIZE;
}

#define BAD(...) ds_fail(why, whylen, EINVAL, "uart state: " __VA_ARGS__)

static int
uart_restore(struct device *dev, const void *buf, size_t len, char *why,
	     size_t whylen)
{
	struct uart *u = dev->priv;
	const uint8_t *p =
		ds_open(buf, len, "uart", UART_STATE_VERSION,
			UART_STATE_SIZE - DEVSTATE_HDR_SIZE, why, whylen);
	struct uart t;
	unsigned i;

	if (!p)
		return -1;
	memset(&t, 0, sizeof(t));
	t.ier = ds_get8(&p);
	t.lcr = ds_get8(&p);
	t.mcr = ds_get8(&p);
	t.lsr = ds_get8(&p);
	t.msr = ds_get8(&p);
	t.scr = ds_get8(&p);
	t.fcr = ds_get8(&p);
	t.dll = ds_get8(&p);
	t.dlm = ds_get8(&p);
	t.thri_pending = ds_get8(&p);
	t.irq_level = ds_get8(&p);
	t.rx_count = ds_get8(&p);
	for (i = 0; i < UART_FIFO; i++)
		t.rx[i] = ds_get8(&p);
	if (t.ier & ~0x0fu)
		return BAD("IER 0x%02x has reserved bits set", t.ier);
	if (t.mcr & ~0x1fu)
		return BAD("MCR 0x%02x has reserved bits set", t.mcr);
	if (t.fcr & ~0xc9u)
		return BAD("FCR 0x%02x has bits that do not stay set", t.fcr);
	if (t.lsr & ~(LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT))
		return BAD("LSR 0x%02x has bits this model never sets", t.lsr);
	if ((t.lsr & (LSR_THRE | LSR_TEMT)) != (LSR_THRE | LSR_TEMT))
		return BAD("LSR 0x%02x: the transmitter is always empty",
			   t.lsr);
	if (t.msr)
		return BAD("MSR 0x%02x: this model keeps it 0", t.msr);
	if (t.thri_pending > 1 || t.irq_level > 1)
		return BAD("THR-empty pending %d, line %d: not 0 or 1",
			   t.thri_pending, t.irq_level);
	if (t.rx_count > UART_FIFO)
		return BAD("%u bytes in a %d-byte receive FIFO", t.rx_count,
			   UART_FIFO);
	for (i = t.rx_count; i < UART_FIFO; i++)
		if (t.rx[i])
			return BAD("receive FIFO byte %u past the count %u "
				   "not zero",
				   i, t.rx_count);
	if (!(t.lsr & LSR_DR) != !t.rx_count)
		return BAD("LSR data ready %d with %u bytes received",
			   !!(t.lsr & LSR_DR), t.rx_count);
	if (t.irq_level != !(uart_iir(&t) & IIR_NONE))
		return BAD("line level %d, the registers give %d", t.irq_level,
			   !(uart_iir(&t) & IIR_NONE));
	pthread_mutex_lock(&u->lock);
	u->ier = t.ier;
	u->lcr = t.lcr;
	u->mcr = t.mcr;
	u->lsr = t.lsr;
	u->msr = t.msr;
	u->scr = t.scr;
	u->fcr = t.fcr;
	u->dll = t.dll;
	u->dlm = t.dlm;
	u->thri_pending = t.thri_pending;
	u->irq_level = t.irq_level;
	memcpy(u->rx, t.rx, sizeof(u->rx));
	u->rx_head = 0;
	u->rx_count = t.rx_count;
	pthread_mutex_unlock(&u->lock);
	return 0;
}

#undef BAD

static void
uart_free(struct device *dev)
{
	uart_release(dev->priv);
}

static void uart_stop(struct device *);

static const struct dev_ops uart_ops = {
	.name = "uart",
	.pio_read = uart_pio_read,
	.pio_write = uart_pio_write,
	.save = uart_save,
	.restore = uart_restore,
	.stop = uart_stop,
	.free = uart_free,
};

struct uart *
uart_create(struct vm *vm, int out_fd, int in_fd)
{
	struct uart *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	pthread_mutex_init(&u->lock, NULL);
	u->dev.ops = &uart_ops;
	u->dev.priv = u;
	u->out_fd = out_fd;
	u->in_fd = in_fd;
	u->stop_pipe[0] = u->stop_pipe[1] = -1;
	u->lsr = LSR_THRE | LSR_TEMT;
	u->lcr = 0x03;
	u->thri_pending = 0;
	/* The VM owns the device from here, even on failure. */
	if (vm_add_device(vm, &u->dev, BUS_PIO, UART_BASE, 8) < 0)
		return NULL;
	return u;
}

int
uart_start(struct uart *u)
{
	struct termios raw;

	if (u->in_fd < 0)
		return 0;
	if (pipe2(u->stop_pipe, O_CLOEXEC) < 0)
		return -1;
	if (isatty(u->in_fd) && tcgetattr(u->in_fd, &u->saved) == 0) {
		raw = u->saved;
		cfmakeraw(&raw);
		raw.c_oflag |= OPOST; /* keep \n -> \r\n for host output */
		if (tcsetattr(u->in_fd, TCSANOW, &raw) == 0)
			u->tty_raw = 1;
	}
	if (pthread_create(&u->reader, NULL, uart_reader, u) != 0) {
		errno = EAGAIN;
		return -1;
	}
	u->reader_started = 1;
	return 0;
}

void
uart_count_tx(struct uart *u, uint64_t *bytes)
{
	pthread_mutex_lock(&u->lock);
	u->tx_bytes = bytes;
	pthread_mutex_unlock(&u->lock);
}

void
uart_flush(struct uart *u)
{
	pthread_mutex_lock(&u->lock);
	uart_flush_locked(u);
	pthread_mutex_unlock(&u->lock);
}

/* The stdin reader ends: no more input, no more interrupts from it. */
static void
uart_stop_reader(struct uart *u)
{
	if (!u->reader_started)
		return;
	if (write(u->stop_pipe[1], "", 1) < 0) {
		/* the reader also ends at EOF */
	}
	pthread_join(u->reader, NULL);
	u->reader_started = 0;
}

static void
uart_stop(struct device *dev)
{
	uart_stop_reader(dev->priv);
}

static void
uart_release(struct uart *u)
{
	if (!u)
		return;
	uart_stop_reader(u);
	if (u->tty_raw)
		tcsetattr(u->in_fd, TCSANOW, &u->saved);
	uart_flush(u);
	if (u->stop_pipe[0] >= 0) {
		close(u->stop_pipe[0]);
		close(u->stop_pipe[1]);
	}
	pthread_mutex_destroy(&u->lock);
	free(u);
}
