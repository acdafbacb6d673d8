/* The payloads of link measurement; see include/avm/fabmsg.h. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "avm/fabmsg.h"
#include "avm/wire.h"

#define OFF(s, f) offsetof(struct s, f)
#define FILL_MAX (WIRE_FAB_ECHO_MAX - WIRE_FAB_ECHO_MIN)

int
fabmsg_echo_encode(const struct fabmsg_echo *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (m->fill_len > FILL_MAX || (m->fill_len && !m->fill))
		return -EINVAL;
	if (cap < WIRE_FAB_ECHO_MIN + m->fill_len)
		return -ENOSPC;
	wire_put64(p + OFF(fabmsg_echo_le, seq), m->seq);
	if (m->fill_len)
		memcpy(p + WIRE_FAB_ECHO_MIN, m->fill, m->fill_len);
	return (int)(WIRE_FAB_ECHO_MIN + m->fill_len);
}

int
fabmsg_echo_decode(const void *buf, size_t len, struct fabmsg_echo *m)
{
	const uint8_t *p = buf;

	if (len < WIRE_FAB_ECHO_MIN || len > WIRE_FAB_ECHO_MAX)
		return -EMSGSIZE;
	m->seq = wire_get64(p + OFF(fabmsg_echo_le, seq));
	m->fill = p + WIRE_FAB_ECHO_MIN;
	m->fill_len = len - WIRE_FAB_ECHO_MIN;
	return 0;
}

int
fabmsg_sink_encode(const struct fabmsg_sink *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (m->pages < 1 || m->pages > WIRE_FAB_SINK_PAGES)
		return -EINVAL;
	if (cap < WIRE_FAB_SINK_HDR)
		return -ENOSPC;
	memset(p, 0, WIRE_FAB_SINK_HDR);
	wire_put64(p + OFF(fabmsg_sink_le, seq), m->seq);
	wire_put32(p + OFF(fabmsg_sink_le, pages), m->pages);
	return WIRE_FAB_SINK_HDR;
}

int
fabmsg_sink_decode(const void *buf, size_t len, struct fabmsg_sink *m)
{
	const uint8_t *p = buf;
	uint32_t pages;

	if (len < WIRE_FAB_SINK_MIN || len > WIRE_FAB_SINK_MAX)
		return -EMSGSIZE;
	pages = wire_get32(p + OFF(fabmsg_sink_le, pages));
	if (wire_get32(p + OFF(fabmsg_sink_le, zero)) != 0 || pages < 1 ||
	    pages > WIRE_FAB_SINK_PAGES ||
	    len != WIRE_FAB_SINK_HDR + (size_t)pages * WIRE_PG_PAGE_SIZE)
		return -EBADMSG;
	m->seq = wire_get64(p + OFF(fabmsg_sink_le, seq));
	m->pages = pages;
	m->data = p + WIRE_FAB_SINK_HDR;
	return 0;
}

int
fabmsg_sink_end_encode(const struct fabmsg_sink_count *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (m->ns != 0)
		return -EINVAL;
	if (cap < WIRE_FAB_SINK_END_SIZE)
		return -ENOSPC;
	wire_put64(p + OFF(fabmsg_sink_end_le, frames), m->frames);
	wire_put64(p + OFF(fabmsg_sink_end_le, bytes), m->bytes);
	return WIRE_FAB_SINK_END_SIZE;
}

int
fabmsg_sink_end_decode(const void *buf, size_t len, struct fabmsg_sink_count *m)
{
	const uint8_t *p = buf;

	if (len != WIRE_FAB_SINK_END_SIZE)
		return -EMSGSIZE;
	m->frames = wire_get64(p + OFF(fabmsg_sink_end_le, frames));
	m->bytes = wire_get64(p + OFF(fabmsg_sink_end_le, bytes));
	m->ns = 0;
	return 0;
}

int
fabmsg_sink_done_encode(const struct fabmsg_sink_count *m, void *buf,
			size_t cap)
{
	uint8_t *p = buf;

	if (cap < WIRE_FAB_SINK_DONE_SIZE)
		return -ENOSPC;
	wire_put64(p + OFF(fabmsg_sink_done_le, frames), m->frames);
	wire_put64(p + OFF(fabmsg_sink_done_le, bytes), m->bytes);
	wire_put64(p + OFF(fabmsg_sink_done_le, ns), m->ns);
	return WIRE_FAB_SINK_DONE_SIZE;
}

int
fabmsg_sink_done_decode(const void *buf, size_t len,
			struct fabmsg_sink_count *m)
{
	const uint8_t *p = buf;

	if (len != WIRE_FAB_SINK_DONE_SIZE)
		return -EMSGSIZE;
	m->frames = wire_get64(p + OFF(fabmsg_sink_done_le, frames));
	m->bytes = wire_get64(p + OFF(fabmsg_sink_done_le, bytes));
	m->ns = wire_get64(p + OFF(fabmsg_sink_done_le, ns));
	return 0;
}

int
fabmsg_clock_encode(const struct fabmsg_clock *m, void *buf, size_t cap)
{
	if (cap < WIRE_FAB_CLOCK_SIZE)
		return -ENOSPC;
	wire_put64((uint8_t *)buf + OFF(fabmsg_clock_le, sent_ns), m->sent_ns);
	return WIRE_FAB_CLOCK_SIZE;
}

int
fabmsg_clock_decode(const void *buf, size_t len, struct fabmsg_clock *m)
{
	if (len != WIRE_FAB_CLOCK_SIZE)
		return -EMSGSIZE;
	m->sent_ns = wire_get64((const uint8_t *)buf +
				OFF(fabmsg_clock_le, sent_ns));
	m->peer_ns = 0;
	return 0;
}

int
fabmsg_clock_reply_encode(const struct fabmsg_clock *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (cap < WIRE_FAB_CLOCK_REPLY_SIZE)
		return -ENOSPC;
	wire_put64(p + OFF(fabmsg_clock_reply_le, sent_ns), m->sent_ns);
	wire_put64(p + OFF(fabmsg_clock_reply_le, peer_ns), m->peer_ns);
	return WIRE_FAB_CLOCK_REPLY_SIZE;
}

int
fabmsg_clock_reply_decode(const void *buf, size_t len, struct fabmsg_clock *m)
{
	const uint8_t *p = buf;

	if (len != WIRE_FAB_CLOCK_REPLY_SIZE)
		return -EMSGSIZE;
	m->sent_ns = wire_get64(p + OFF(fabmsg_clock_reply_le, sent_ns));
	m->peer_ns = wire_get64(p + OFF(fabmsg_clock_reply_le, peer_ns));
	return 0;
}
