/* Run-to-run and control payload codecs; see include/avm/runmsg.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "avm/runmsg.h"

#define OFF(s, f) offsetof(struct s, f)

static int
is_text(uint8_t c)
{
	return c >= 0x20 && c < 0x7f;
}

static int
all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

/* --- RUN_IRQ -------------------------------------------------------------*/

static int
irq_ok(const struct runmsg_irq *m)
{
	return m->delivery <= 8 && m->dest_logical <= 1 &&
	       m->dest_x2apic <= 1 && m->shorthand <= 3 && m->level_trig <= 1 &&
	       m->assert <= 1;
}

int
runmsg_irq_encode(const struct runmsg_irq *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (!irq_ok(m))
		return -EINVAL;
	if (cap < WIRE_RUN_IRQ_SIZE)
		return -ENOSPC;
	memset(p, 0, WIRE_RUN_IRQ_SIZE);
	wire_put32(p + OFF(runmsg_irq_le, apic_id), m->apic_id);
	wire_put32(p + OFF(runmsg_irq_le, dest), m->dest);
	wire_put32(p + OFF(runmsg_irq_le, src), m->src);
	p[OFF(runmsg_irq_le, vector)] = m->vector;
	p[OFF(runmsg_irq_le, delivery)] = m->delivery;
	p[OFF(runmsg_irq_le, dest_logical)] = m->dest_logical;
	p[OFF(runmsg_irq_le, dest_x2apic)] = m->dest_x2apic;
	p[OFF(runmsg_irq_le, shorthand)] = m->shorthand;
	p[OFF(runmsg_irq_le, level_trig)] = m->level_trig;
	p[OFF(runmsg_irq_le, assert)] = m->assert;
	return WIRE_RUN_IRQ_SIZE;
}

int
runmsg_irq_decode(const void *buf, size_t len, struct runmsg_irq *m)
{
	const uint8_t *p = buf;
	struct runmsg_irq v;

	if (len != WIRE_RUN_IRQ_SIZE)
		return -EMSGSIZE;
	v.apic_id = wire_get32(p + OFF(runmsg_irq_le, apic_id));
	v.dest = wire_get32(p + OFF(runmsg_irq_le, dest));
	v.src = wire_get32(p + OFF(runmsg_irq_le, src));
	v.vector = p[OFF(runmsg_irq_le, vector)];
	v.delivery = p[OFF(runmsg_irq_le, delivery)];
	v.dest_logical = p[OFF(runmsg_irq_le, dest_logical)];
	v.dest_x2apic = p[OFF(runmsg_irq_le, dest_x2apic)];
	v.shorthand = p[OFF(runmsg_irq_le, shorthand)];
	v.level_trig = p[OFF(runmsg_irq_le, level_trig)];
	v.assert = p[OFF(runmsg_irq_le, assert)];
	if (!irq_ok(&v) || !all_zero(p + OFF(runmsg_irq_le, reserved), 4) ||
	    p[OFF(runmsg_irq_le, zero)])
		return -EBADMSG;
	*m = v;
	return 0;
}

/* --- RUN_APIC_ADDR ---------------------------------------------------------*/

static int
addr_ok(const struct runmsg_apic_addr *m)
{
	return !(m->flags & ~RUNMSG_ADDR_FLAGS) &&
	       (m->model == 0x0 || m->model == 0xf);
}

int
runmsg_apic_addr_encode(const struct runmsg_apic_addr *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (!addr_ok(m))
		return -EINVAL;
	if (cap < WIRE_RUN_ADDR_SIZE)
		return -ENOSPC;
	wire_put32(p + OFF(runmsg_apic_addr_le, id), m->id);
	p[OFF(runmsg_apic_addr_le, ldr)] = m->ldr;
	p[OFF(runmsg_apic_addr_le, model)] = m->model;
	p[OFF(runmsg_apic_addr_le, flags)] = m->flags;
	p[OFF(runmsg_apic_addr_le, zero)] = 0;
	return WIRE_RUN_ADDR_SIZE;
}

int
runmsg_apic_addr_decode(const void *buf, size_t len, struct runmsg_apic_addr *m)
{
	const uint8_t *p = buf;
	struct runmsg_apic_addr v;

	if (len != WIRE_RUN_ADDR_SIZE)
		return -EMSGSIZE;
	v.id = wire_get32(p + OFF(runmsg_apic_addr_le, id));
	v.ldr = p[OFF(runmsg_apic_addr_le, ldr)];
	v.model = p[OFF(runmsg_apic_addr_le, model)];
	v.flags = p[OFF(runmsg_apic_addr_le, flags)];
	if (!addr_ok(&v) || p[OFF(runmsg_apic_addr_le, zero)])
		return -EBADMSG;
	*m = v;
	return 0;
}

/* --- RUN_EOI -----------------------------------------------------------------*/

int
runmsg_eoi_encode(const struct runmsg_eoi *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (cap < WIRE_RUN_EOI_SIZE)
		return -ENOSPC;
	memset(p, 0, WIRE_RUN_EOI_SIZE);
	p[OFF(runmsg_eoi_le, vector)] = m->vector;
	return WIRE_RUN_EOI_SIZE;
}

int
runmsg_eoi_decode(const void *buf, size_t len, struct runmsg_eoi *m)
{
	const uint8_t *p = buf;

	if (len != WIRE_RUN_EOI_SIZE)
		return -EMSGSIZE;
	if (!all_zero(p + OFF(runmsg_eoi_le, zero), 7))
		return -EBADMSG;
	m->vector = p[OFF(runmsg_eoi_le, vector)];
	return 0;
}

/* --- RUN_IO --------------------------------------------------------------------*/

uint32_t
runmsg_io_bytes(uint16_t size, uint16_t count)
{
	uint32_t n;

	if ((size != 1 && size != 2 && size != 4 && size != 8) || count == 0)
		return 0;
	n = (uint32_t)size * count;
	return n <= WIRE_RUN_IO_DATA_MAX ? n : 0;
}

/* The payload length m implies, or 0 when m is not valid. */
static size_t
io_len(const struct runmsg_io *m)
{
	uint32_t n = runmsg_io_bytes(m->size, m->count);

	if (!n || (m->flags & ~(RUNMSG_IO_WRITE | RUNMSG_IO_MMIO)) ||
	    ((m->flags & RUNMSG_IO_MMIO) && m->count != 1))
		return 0;
	return WIRE_RUN_IO_SIZE + (m->flags & RUNMSG_IO_WRITE ? n : 0);
}

int
runmsg_io_encode(const struct runmsg_io *m, void *buf, size_t cap)
{
	uint8_t *p = buf;
	size_t len = io_len(m);

	if (!len || (len > WIRE_RUN_IO_SIZE && !m->data))
		return -EINVAL;
	if (cap < len)
		return -ENOSPC;
	memset(p, 0, WIRE_RUN_IO_SIZE);
	wire_put64(p + OFF(runmsg_io_le, addr), m->addr);
	wire_put32(p + OFF(runmsg_io_le, vcpu), m->vcpu);
	wire_put16(p + OFF(runmsg_io_le, size), m->size);
	wire_put16(p + OFF(runmsg_io_le, count), m->count);
	wire_put32(p + OFF(runmsg_io_le, flags), m->flags);
	if (len > WIRE_RUN_IO_SIZE)
		memcpy(p + WIRE_RUN_IO_SIZE, m->data, len - WIRE_RUN_IO_SIZE);
	return (int)len;
}

int
runmsg_io_decode(const void *buf, size_t len, struct runmsg_io *m)
{
	const uint8_t *p = buf;
	struct runmsg_io v;

	if (len < WIRE_RUN_IO_SIZE ||
	    len > WIRE_RUN_IO_SIZE + WIRE_RUN_IO_DATA_MAX)
		return -EMSGSIZE;
	v.addr = wire_get64(p + OFF(runmsg_io_le, addr));
	v.vcpu = wire_get32(p + OFF(runmsg_io_le, vcpu));
	v.size = wire_get16(p + OFF(runmsg_io_le, size));
	v.count = wire_get16(p + OFF(runmsg_io_le, count));
	v.flags = wire_get32(p + OFF(runmsg_io_le, flags));
	v.data = len > WIRE_RUN_IO_SIZE ? p + WIRE_RUN_IO_SIZE : NULL;
	if (io_len(&v) != len || !all_zero(p + OFF(runmsg_io_le, reserved), 4))
		return -EBADMSG;
	*m = v;
	return 0;
}

/* --- RUN_IO_DONE, CTL_RESULT ----------------------------------------------------*/

static int
bytes_ok(uint16_t type, const uint8_t *p, size_t len)
{
	size_t i;

	if (type == WIRE_T_RUN_IO_DONE)
		return len <= WIRE_RUN_IO_DATA_MAX ? 0 : -EMSGSIZE;
	if (type != WIRE_T_CTL_RESULT)
		return -EBADMSG;
	if (len > WIRE_MAX_PAYLOAD)
		return -EMSGSIZE;
	for (i = 0; i < len; i++)
		if (p[i] < 0x20 && p[i] != '\n' && p[i] != '\t' && p[i] != '\r')
			return -EBADMSG;
	return 0;
}

int
runmsg_bytes_encode(uint16_t type, const struct runmsg_bytes *m, void *buf,
		    size_t cap)
{
	if ((m->len && !m->data) || bytes_ok(type, m->data, m->len) < 0)
		return -EINVAL;
	if (cap < m->len)
		return -ENOSPC;
	if (m->len)
		memcpy(buf, m->data, m->len);
	return (int)m->len;
}

int
runmsg_bytes_decode(uint16_t type, const void *buf, size_t len,
		    struct runmsg_bytes *m)
{
	int rc = bytes_ok(type, buf, len);

	if (rc < 0)
		return rc;
	m->data = buf;
	m->len = (uint32_t)len;
	return 0;
}

/* --- RUN_END -------------------------------------------------------------------*/

void
runmsg_end_set(struct runmsg_end *m, int32_t status, uint32_t reason,
	       const char *fmt, ...)
{
	va_list ap;
	size_t i;

	m->status = status;
	m->reason = reason;
	va_start(ap, fmt);
	vsnprintf(m->why, sizeof(m->why), fmt, ap);
	va_end(ap);
	for (i = 0; m->why[i]; i++)
		if (!is_text((uint8_t)m->why[i]))
			m->why[i] = '?';
}

int
runmsg_end_encode(const struct runmsg_end *m, void *buf, size_t cap)
{
	uint8_t *p = buf;
	size_t n = strnlen(m->why, sizeof(m->why)), i;

	if (n > RUNMSG_WHY_MAX || m->reason < RUNMSG_END_POWEROFF ||
	    m->reason > RUNMSG_END_ERROR)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!is_text((uint8_t)m->why[i]))
			return -EINVAL;
	if (cap < WIRE_RUN_END_MIN + n)
		return -ENOSPC;
	wire_put32(p + OFF(runmsg_end_le, status), (uint32_t)m->status);
	wire_put32(p + OFF(runmsg_end_le, reason), m->reason);
	memcpy(p + WIRE_RUN_END_MIN, m->why, n);
	return (int)(WIRE_RUN_END_MIN + n);
}

int
runmsg_end_decode(const void *buf, size_t len, struct runmsg_end *m)
{
	const uint8_t *p = buf;
	size_t i, n;

	if (len < WIRE_RUN_END_MIN || len > WIRE_RUN_END_MAX)
		return -EMSGSIZE;
	n = len - WIRE_RUN_END_MIN;
	for (i = 0; i < n; i++)
		if (!is_text(p[WIRE_RUN_END_MIN + i]))
			return -EBADMSG;
	if (wire_get32(p + OFF(runmsg_end_le, reason)) < RUNMSG_END_POWEROFF ||
	    wire_get32(p + OFF(runmsg_end_le, reason)) > RUNMSG_END_ERROR)
		return -EBADMSG;
	m->status = (int32_t)wire_get32(p + OFF(runmsg_end_le, status));
	m->reason = wire_get32(p + OFF(runmsg_end_le, reason));
	memcpy(m->why, p + WIRE_RUN_END_MIN, n);
	m->why[n] = '\0';
	return 0;
}

/* --- RUN_CONTROL -------------------------------------------------------------*/

int
runmsg_control_encode(const struct runmsg_control *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (m->op != RUNMSG_CONTROL_PAUSE && m->op != RUNMSG_CONTROL_RESUME)
		return -EINVAL;
	if (cap < WIRE_RUN_CONTROL_SIZE)
		return -ENOSPC;
	memset(p, 0, WIRE_RUN_CONTROL_SIZE);
	wire_put32(p + OFF(runmsg_control_le, op), m->op);
	return WIRE_RUN_CONTROL_SIZE;
}

int
runmsg_control_decode(const void *buf, size_t len, struct runmsg_control *m)
{
	const uint8_t *p = buf;
	uint32_t op;

	if (len != WIRE_RUN_CONTROL_SIZE)
		return -EMSGSIZE;
	op = wire_get32(p + OFF(runmsg_control_le, op));
	if ((op != RUNMSG_CONTROL_PAUSE && op != RUNMSG_CONTROL_RESUME) ||
	    !all_zero(p + OFF(runmsg_control_le, reserved), 4))
		return -EBADMSG;
	m->op = op;
	return 0;
}

/* --- RUN_CLOCK ---------------------------------------------------------------*/

int
runmsg_clock_encode(const struct runmsg_clock *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (cap < WIRE_RUN_CLOCK_SIZE)
		return -ENOSPC;
	memset(p, 0, WIRE_RUN_CLOCK_SIZE);
	wire_put64(p + OFF(runmsg_clock_le, clock), m->clock);
	wire_put32(p + OFF(runmsg_clock_le, flags), m->flags);
	wire_put64(p + OFF(runmsg_clock_le, realtime), m->realtime);
	wire_put64(p + OFF(runmsg_clock_le, host_tsc), m->host_tsc);
	return WIRE_RUN_CLOCK_SIZE;
}

int
runmsg_clock_decode(const void *buf, size_t len, struct runmsg_clock *m)
{
	const uint8_t *p = buf;

	if (len != WIRE_RUN_CLOCK_SIZE)
		return -EMSGSIZE;
	if (!all_zero(p + OFF(runmsg_clock_le, reserved), 4))
		return -EBADMSG;
	m->clock = wire_get64(p + OFF(runmsg_clock_le, clock));
	m->flags = wire_get32(p + OFF(runmsg_clock_le, flags));
	m->realtime = wire_get64(p + OFF(runmsg_clock_le, realtime));
	m->host_tsc = wire_get64(p + OFF(runmsg_clock_le, host_tsc));
	return 0;
}

/* --- CTL_COMMAND -------------------------------------------------------------*/

int
runmsg_command_encode(const struct runmsg_command *m, void *buf, size_t cap)
{
	size_t n = strnlen(m->verb, sizeof(m->verb)), i;

	if (n == 0 || n > WIRE_CTL_VERB_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!is_text((uint8_t)m->verb[i]))
			return -EINVAL;
	if (cap < n)
		return -ENOSPC;
	memcpy(buf, m->verb, n);
	return (int)n;
}

int
runmsg_command_decode(const void *buf, size_t len, struct runmsg_command *m)
{
	const uint8_t *p = buf;
	size_t i;

	if (len == 0 || len > WIRE_CTL_VERB_MAX)
		return -EMSGSIZE;
	for (i = 0; i < len; i++)
		if (!is_text(p[i]))
			return -EBADMSG;
	memcpy(m->verb, p, len);
	m->verb[len] = '\0';
	return 0;
}
