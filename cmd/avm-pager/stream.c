/* Bulk page streams; see stream.h. */
#include <errno.h>
#include <string.h>

#include "avm/log.h"
#include "avm/util.h"
#include "fail.h"
#include "stream.h"

#define STREAM_WINDOW 4

void
stream_init(struct stream *s, const struct pager_cfg *cfg, struct mem *mem,
	    struct net *net)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->mem = mem;
	s->net = net;
}

static void
stream_more(struct stream *s)
{
	struct pager_bulk b;
	uint8_t buf[WIRE_PG_MSG_SIZE];
	struct conn *c = net_bulk_link(s->net, s->node);

	while (s->outstanding < STREAM_WINDOW && s->next < s->end) {
		b.first = s->next;
		b.count = (uint32_t)(s->end - s->next > WIRE_PG_BULK_PAGES
					     ? WIRE_PG_BULK_PAGES
					     : s->end - s->next);
		pager_bulk_encode(&b, buf, sizeof(buf));
		conn_send(c, WIRE_T_PG_BULK_REQ, 0, b.first, buf, sizeof(buf),
			  NULL, 0);
		s->next += b.count;
		s->outstanding++;
	}
}

static void
stream_end(struct stream *s, int err)
{
	uint8_t buf[WIRE_PG_MSG_SIZE];
	struct wire_error e;

	if (!s->tool)
		return;
	if (err) {
		wire_error_set(&e, wire_errcode_from_errno(err), "stream: %s",
			       strerror(err));
		conn_send_error(s->tool, WIRE_T_PG_STREAM_DONE, s->tool_id, &e);
	} else {
		wire_put64(buf, s->bytes);
		wire_put64(buf + 8, now_ns() - s->t0);
		conn_send(s->tool, WIRE_T_PG_STREAM_DONE, WIRE_F_REPLY,
			  s->tool_id, buf, sizeof(buf), NULL, 0);
	}
	s->tool = NULL;
}

int
stream_start(struct stream *s, struct conn *tool, uint64_t id,
	     const struct pager_stream *req)
{
	if (s->tool)
		return -EBUSY;
	if (req->node >= s->cfg->nodes || req->node == s->cfg->node ||
	    !net_bulk_link(s->net, req->node))
		return -EINVAL;
	if (req->first >= s->cfg->npages ||
	    req->count > s->cfg->npages - req->first)
		return -ERANGE;
	s->tool = tool;
	s->tool_id = id;
	s->node = req->node;
	s->next = req->first;
	s->end = req->first + req->count;
	s->outstanding = s->bytes = 0;
	s->t0 = now_ns();
	stream_more(s);
	return 0;
}

void
stream_tool_gone(struct stream *s, struct conn *tool)
{
	if (s->tool == tool)
		s->tool = NULL;
}

void
stream_on_frame(struct stream *s, struct conn *c, const struct wire_hdr *h,
		const uint8_t *p)
{
	static uint8_t out[WIRE_PG_BULK_PAGES * PAGER_PAGE_SIZE];
	struct pager_bulk b;
	uint8_t buf[WIRE_PG_MSG_SIZE];
	ssize_t n;

	if (pager_bulk_decode(h->type, p, h->len, &b) < 0 ||
	    b.first >= s->cfg->npages || b.count > s->cfg->npages - b.first)
		pager_fail(AVM_EX_UNAVAILABLE,
			   "node %u failed: malformed %s on the bulk link",
			   c->node, wire_type_name(h->type));
	if (h->type == WIRE_T_PG_BULK_REQ) {
		n = mem_read_pages(s->mem, b.first, b.count, out);
		pager_bulk_encode(&b, buf, sizeof(buf));
		conn_send(c, WIRE_T_PG_BULK_DATA, WIRE_F_REPLY, h->id, buf,
			  sizeof(buf), out, (size_t)n);
		return;
	}
	if (!s->tool || c->node != s->node || !s->outstanding)
		return; /* the tool went away: drop it */
	s->outstanding--;
	s->bytes += (uint64_t)b.count * PAGER_PAGE_SIZE;
	if (s->next >= s->end && !s->outstanding)
		stream_end(s, 0);
	else
		stream_more(s);
}
