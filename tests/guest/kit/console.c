/*
 * COM1 output from CPL3 (IOPL 3 makes in/out legal there), a lock so
 * that lines from different CPUs stay whole, a small printf, and the
 * exit port.  Every in/out is a VM exit, so output waits for THRE once
 * per 16 bytes (the 16550 FIFO) instead of once per byte.
 */
#include "kit.h"

#define COM1 KIT_PORT_COM1
#define LSR_THRE 0x20

static struct kit_lock serial_lock;

void
kit_serial_init(void)
{
	outb(COM1 + 1, 0x00); /* no interrupts */
	outb(COM1 + 3, 0x80); /* DLAB */
	outb(COM1 + 0, 0x01); /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	outb(COM1 + 2, 0x07); /* FIFOs on and cleared, rx trigger 1 byte */
	outb(COM1 + 4, 0x0b); /* DTR RTS OUT2 (OUT2 gates the IRQ line) */
}

/* Bounded: a VMM without a UART must not hang the guest here. */
static void
wait_thre(void)
{
	for (int i = 0; i < 100000; i++) {
		if (inb(COM1 + 5) & LSR_THRE)
			return;
		kit_pause();
	}
}

/*
 * locked: take the lock with IF off.  Otherwise (the exception report,
 * at CPL0) try it for a while only: its holder may be the CPU that
 * faulted, or one that will never run again.
 */
void
kit_serial_write(const char *s, size_t n, bool locked)
{
	uint64_t f = 0;
	int tries = 100000;

	if (locked) {
		f = kit_irq_save();
		kit_lock(&serial_lock);
	} else {
		while (__atomic_exchange_n(&serial_lock.v, 1, __ATOMIC_ACQUIRE))
			if (--tries == 0)
				break;
	}
	while (n > 0) {
		size_t chunk = n < 16 ? n : 16;

		wait_thre();
		for (size_t i = 0; i < chunk; i++)
			outb(COM1, (uint8_t)s[i]);
		s += chunk;
		n -= chunk;
	}
	if (locked || tries > 0)
		kit_unlock(&serial_lock);
	if (locked)
		kit_irq_restore(f);
}

struct out {
	char *buf;
	size_t size, len;
};

static void
put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void
put_num(struct out *o, uint64_t v, unsigned base, bool neg, bool upper,
	int width, bool zero, bool left)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0, len;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	len = n + (neg ? 1 : 0);
	if (neg && zero)
		put(o, '-');
	if (!left)
		for (; width > len; width--)
			put(o, zero ? '0' : ' ');
	if (neg && !zero)
		put(o, '-');
	while (n > 0)
		put(o, tmp[--n]);
	if (left)
		for (; width > len; width--)
			put(o, ' ');
}

int
kit_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };

	for (; *fmt; fmt++) {
		bool zero = false, left = false, alt = false;
		int width = 0, lng = 0;
		uint64_t u;
		int64_t d;
		const char *s;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '0')
				zero = true;
			else if (*fmt == '-')
				left = true;
			else if (*fmt == '#')
				alt = true;
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			lng = 1;
		switch (*fmt) {
		case 'd':
		case 'i':
			d = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			u = d < 0 ? -(uint64_t)d : (uint64_t)d;
			put_num(&o, u, 10, d < 0, false, width, zero, left);
			break;
		case 'u':
		case 'x':
		case 'X':
			u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			/* %#x: 0x before a value that is not 0 (after any
			 * padding with spaces, unlike C) */
			if (alt && *fmt != 'u' && u) {
				put(&o, '0');
				put(&o, *fmt);
				width -= 2;
			}
			put_num(&o, u, *fmt == 'u' ? 10 : 16, false,
				*fmt == 'X', width, zero, left);
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			u = (uintptr_t)va_arg(ap, void *);
			put_num(&o, u, 16, false, false, width, zero, left);
			break;
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 's':
			s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			width -= (int)strlen(s);
			if (!left)
				for (; width > 0; width--)
					put(&o, ' ');
			while (*s)
				put(&o, *s++);
			for (; width > 0; width--)
				put(&o, ' ');
			break;
		case '%':
			put(&o, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			put(&o, '%');
			put(&o, *fmt);
			break;
		}
	}
	if (size > 0)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int
kit_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kit_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* One call, one write under the lock: lines up to 255 bytes stay whole. */
int
kit_printf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kit_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	kit_serial_write(buf, strlen(buf), true);
	return n;
}

void
kit_exit(int status)
{
	outb(KIT_PORT_EXIT, (uint8_t)status);
	/* Still here: the VMM has no exit port.  Halt this CPU for good. */
	kit_syscall(KIT_SYS_HALT, 0, 0);
	for (;;)
		;
}

void
kit_pass(void)
{
	kit_printf("PASS\n");
	kit_exit(KIT_EXIT_PASS);
}

void
kit_fail_status(int status, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	size_t n;

	memcpy(buf, "FAIL: ", 6);
	va_start(ap, fmt);
	kit_vsnprintf(buf + 6, sizeof(buf) - 7, fmt, ap);
	va_end(ap);
	n = strlen(buf);
	buf[n++] = '\n';
	kit_serial_write(buf, n, true);
	kit_exit(status);
}
