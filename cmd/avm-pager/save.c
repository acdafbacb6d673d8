/* Saving guest memory into a snapshot; see save.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "avm/log.h"
#include "avm/util.h"
#include "fail.h"
#include "save.h"

enum { SAVE_IDLE, SAVE_FETCH, SAVE_WRITE };

int
save_init(struct save *s, const struct pager_cfg *cfg, struct pager_stats *st,
	  struct fault *f, struct mem *mem, struct net *net)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->st = st;
	s->fault = f;
	s->mem = mem;
	s->net = net;
	s->job.memfd = -1;
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return s->efd < 0 ? -errno : 0;
}

int
save_busy(const struct save *s)
{
	return s->job.state != SAVE_IDLE;
}

/* --- this node's part -------------------------------------------------------- */

/* snap_mem_fn of the write thread: the memfd where the home holds a page. */
static int
job_mem(void *arg, uint64_t off, void *buf, size_t len)
{
	struct save_job *j = arg;
	uint64_t first = j->info.ram_off / PAGER_PAGE_SIZE;
	uint64_t p = off / PAGER_PAGE_SIZE, n = len / PAGER_PAGE_SIZE, k, run;
	uint8_t *b = buf;
	ssize_t got;

	for (k = 0; k < n; k += run) {
		int have = j->have[p + k - first];

		for (run = 1;
		     k + run < n && j->have[p + k + run - first] == have; run++)
			;
		if (!have) {
			memset(b + k * PAGER_PAGE_SIZE, 0,
			       run * PAGER_PAGE_SIZE);
			continue;
		}
		got = pread(j->memfd, b + k * PAGER_PAGE_SIZE,
			    run * PAGER_PAGE_SIZE,
			    (off_t)((p + k) * PAGER_PAGE_SIZE));
		if (got < 0)
			return -errno;
		if ((uint64_t)got != run * PAGER_PAGE_SIZE)
			return -EIO;
	}
	return 0;
}

static void *
job_thread(void *arg)
{
	struct save *s = arg;
	struct save_job *j = &s->job;
	struct snap_write_opts o = { .level = j->req.level,
				     .chunk_pages = j->req.chunk_pages,
				     .parts = 1 };
	struct snap_part_info info;
	uint64_t one = 1;

	j->rc = snap_part_write(j->path, j->req.snap_id, s->cfg->node,
				j->info.ram_off, j->info.ram_bytes, &o, job_mem,
				j, &info, j->why, sizeof(j->why));
	j->err = errno;
	if (j->rc == 0)
		j->info = info;
	/* The loop reads it, then joins us. */
	if (write(s->efd, &one, sizeof(one)) != sizeof(one))
		pager_fail(AVM_EX_OSERR, "save: eventfd: %s", strerror(errno));
	return NULL;
}

/* The answer of this node's part: to node 0, or into node 0's table. */
static void finished(struct save *s, uint32_t node,
		     const struct savemsg_part *part,
		     const struct wire_error *e);

static void
job_answer(struct save *s, const struct savemsg_part *part,
	   const struct wire_error *e)
{
	struct save_job *j = &s->job;
	uint8_t buf[WIRE_PG_PART_SIZE];
	int n;

	j->state = SAVE_IDLE;
	fault_save_end(s->fault);
	if (!j->origin) {
		finished(s, s->cfg->node, part, e);
		return;
	}
	if (!e) {
		n = savemsg_part_encode(part, buf, sizeof(buf));
		if (n < 0)
			pager_fail(AVM_EX_SOFTWARE,
				   "save: our part does not "
				   "encode: %s",
				   strerror(-n));
		conn_send(j->origin, WIRE_T_PG_SAVE_PART_DONE, WIRE_F_REPLY,
			  j->origin_id, buf, (size_t)n, NULL, 0);
	} else {
		conn_send_error(j->origin, WIRE_T_PG_SAVE_PART_DONE,
				j->origin_id, e);
	}
}

/* Starts this node's part; -1 with e when it cannot. */
static int
job_start(struct save *s, const struct savemsg_req *req, struct conn *origin,
	  uint64_t id, struct wire_error *e)
{
	struct save_job *j = &s->job;
	uint32_t node = s->cfg->node;

	if (j->state != SAVE_IDLE) {
		wire_error_set(e, WIRE_E_BUSY, "node %u: a save is under way",
			       node);
		return -1;
	}
	if (req->nodes != s->cfg->nodes) {
		wire_error_set(e, WIRE_E_INVAL,
			       "node %u: the VM has %u nodes, not %u", node,
			       s->cfg->nodes, req->nodes);
		return -1;
	}
	if (!mem_attached(s->mem) || s->mem->detached) {
		wire_error_set(e, WIRE_E_BUSY,
			       "node %u: no client attached: no memory to save",
			       node);
		return -1;
	}
	if (snap_part_path(req->path, req->snap_id, node, j->path,
			   sizeof(j->path)) < 0) {
		wire_error_set(e, WIRE_E_INVAL,
			       "node %u: '%s': the part file's name is too "
			       "long",
			       node, req->path);
		return -1;
	}
	j->req = *req;
	j->origin = origin;
	j->origin_id = id;
	j->t0 = now_ns();
	memset(&j->info, 0, sizeof(j->info));
	j->info.ram_off = s->cfg->home_first[node] * PAGER_PAGE_SIZE;
	j->info.ram_bytes = s->cfg->home_pages[node] * PAGER_PAGE_SIZE;
	j->state = SAVE_FETCH;
	fault_save_start(s->fault);
	save_tick(s);
	log_info("save: node %u fetches its pages, then writes its part '%s'",
		 node, j->path);
	return 0;
}

/* The fetch is done: the memfd has every page; write in a thread. */
static void
job_write(struct save *s)
{
	struct save_job *j = &s->job;
	uint64_t first = s->cfg->home_first[s->cfg->node];
	uint64_t n = s->cfg->home_pages[s->cfg->node], i;
	struct wire_error e;
	int rc;

	j->have = malloc(n);
	j->memfd = fcntl(s->mem->memfd, F_DUPFD_CLOEXEC, 0);
	if (!j->have || j->memfd < 0) {
		wire_error_set(&e, WIRE_E_NOMEM, "node %u: save: %s",
			       s->cfg->node, strerror(errno));
		goto fail;
	}
	for (i = 0; i < n; i++)
		j->have[i] = (s->fault->local[first + i] & LS_HOLD) !=
			     PAGER_HOLD_NONE;
	j->state = SAVE_WRITE;
	rc = pthread_create(&j->th, NULL, job_thread, s);
	if (rc == 0)
		return;
	wire_error_set(&e, WIRE_E_NOMEM, "node %u: save: a thread: %s",
		       s->cfg->node, strerror(rc));
fail:
	free(j->have);
	j->have = NULL;
	if (j->memfd >= 0)
		close(j->memfd);
	j->memfd = -1;
	job_answer(s, NULL, &e);
}

/*
 * Fetches on their way at most: 1 MiB of answers, far below a link's
 * back-pressure mark (8 MiB), and enough to keep a link busy.
 */
#define SAVE_WINDOW 256

void
save_tick(struct save *s)
{
	if (s->job.state != SAVE_FETCH ||
	    !fault_save_more(s->fault, SAVE_WINDOW))
		return;
	s->job.fetched = s->fault->save_fetched;
	job_write(s);
}

void
save_thread_done(struct save *s)
{
	struct save_job *j = &s->job;
	struct savemsg_part part = { 0 };
	struct wire_error e;
	uint64_t x;

	if (read(s->efd, &x, sizeof(x)) != sizeof(x) || j->state != SAVE_WRITE)
		return;
	pthread_join(j->th, NULL);
	free(j->have);
	j->have = NULL;
	close(j->memfd);
	j->memfd = -1;
	if (j->rc < 0) {
		wire_error_set(&e, wire_errcode_from_errno(j->err),
			       "node %u: %s", s->cfg->node, j->why);
		log_warn("save: %s", e.msg);
		job_answer(s, NULL, &e);
		return;
	}
	part.info = j->info;
	part.write_ns = now_ns() - j->t0;
	part.fetched = j->fetched;
	s->st->save_parts++;
	s->st->save_fetched += j->fetched;
	log_info("save: node %u wrote '%s': %llu bytes of %llu of memory in "
		 "%.3f s",
		 s->cfg->node, j->path, (unsigned long long)j->info.file_bytes,
		 (unsigned long long)j->info.ram_bytes,
		 (double)part.write_ns / 1e9);
	job_answer(s, &part, NULL);
}

/* --- node 0: the whole save ------------------------------------------------ */

/* Parts written by a save that failed, or that nobody will finish. */
static void
remove_parts(struct save *s)
{
	char dir[PATH_MAX], p[PATH_MAX + 64];
	uint32_t i;

	avm_dirname(s->job.req.path, dir, sizeof(dir));
	for (i = 0; i < s->cfg->nodes; i++)
		if (s->parts[i].info.name[0] &&
		    snprintf(p, sizeof(p), "%s/%s", dir,
			     s->parts[i].info.name) < (int)sizeof(p))
			(void)unlink(p);
}

/* Every node answered: the tool gets the parts, or the first failure. */
static void
save_end(struct save *s)
{
	static uint8_t buf[WIRE_PG_SAVE_DONE_MAX];
	uint64_t ns = now_ns() - s->t0;
	int n = 0;

	s->running = 0;
	if (!s->err.code) {
		n = savemsg_done_encode(s->parts, s->cfg->nodes, ns, buf,
					sizeof(buf));
		if (n < 0)
			wire_error_set(&s->err, WIRE_E_IO,
				       "the parts do not encode: %s",
				       strerror(-n));
	}
	if (s->err.code || !s->tool) {
		remove_parts(s);
		if (!s->tool)
			log_warn("save: the tool that asked went away: the "
				 "parts are removed");
	}
	if (!s->tool)
		return;
	if (s->err.code) {
		log_warn("save failed: %s", s->err.msg);
		conn_send_error(s->tool, WIRE_T_PG_SAVE_DONE, s->tool_id,
				&s->err);
	} else {
		log_info("save: every node's part written in %.3f s",
			 (double)ns / 1e9);
		conn_send(s->tool, WIRE_T_PG_SAVE_DONE, WIRE_F_REPLY,
			  s->tool_id, buf, (size_t)n, NULL, 0);
	}
	s->tool = NULL;
}

static void
finished(struct save *s, uint32_t node, const struct savemsg_part *part,
	 const struct wire_error *e)
{
	if (!s->running || s->answered & (1ull << node))
		return;
	s->answered |= 1ull << node;
	if (part)
		s->parts[node] = *part;
	else if (!s->err.code)
		s->err = *e;
	if (s->answered ==
	    (s->cfg->nodes == 64 ? ~0ull : (1ull << s->cfg->nodes) - 1))
		save_end(s);
}

int
save_start(struct save *s, struct conn *tool, uint64_t id,
	   const struct savemsg_req *req, struct wire_error *e)
{
	uint8_t buf[WIRE_PG_SAVE_MAX];
	uint32_t i;
	int n;

	if (s->cfg->node != 0) {
		wire_error_set(e, WIRE_E_INVAL,
			       "a save is asked of node 0's pager, this is "
			       "node %u's",
			       s->cfg->node);
		return -1;
	}
	if (s->running) {
		wire_error_set(e, WIRE_E_BUSY, "a save is under way");
		return -1;
	}
	if (!s->net->fabric_up) {
		wire_error_set(e, WIRE_E_BUSY,
			       "the links to the other nodes "
			       "are not up yet");
		return -1;
	}
	for (i = 1; i < s->cfg->nodes; i++)
		if (!net_bulk_link(s->net, i)) {
			wire_error_set(e, WIRE_E_BUSY,
				       "no bulk link to node %u", i);
			return -1;
		}
	/* Running before our part starts: it may end at once (one node,
	 * nothing to fetch, a thread that cannot start). */
	s->running = 1;
	s->tool = tool;
	s->tool_id = id;
	s->t0 = now_ns();
	s->answered = 0;
	memset(s->parts, 0, sizeof(s->parts));
	memset(&s->err, 0, sizeof(s->err));
	if (job_start(s, req, NULL, 0, e) < 0) {
		s->running = 0;
		s->tool = NULL;
		return -1;
	}
	n = savemsg_req_encode(req, buf, sizeof(buf));
	if (n < 0)
		pager_fail(AVM_EX_SOFTWARE,
			   "save: the request does not "
			   "encode: %s",
			   strerror(-n));
	for (i = 1; i < s->cfg->nodes; i++) {
		/* Ids unique on the link: stats use the top bit, streams
		 * page numbers. */
		s->asked[i] = 1ull << 62 | ++s->ids;
		conn_send(net_bulk_link(s->net, i), WIRE_T_PG_SAVE_PART, 0,
			  s->asked[i], buf, (size_t)n, NULL, 0);
	}
	return 0;
}

void
save_tool_gone(struct save *s, struct conn *tool)
{
	if (s->tool == tool)
		s->tool = NULL;
}

void
save_on_frame(struct save *s, struct conn *c, const struct wire_hdr *h,
	      const uint8_t *p)
{
	struct savemsg_req req;
	struct savemsg_part part;
	struct wire_error e;
	uint32_t node = c->node;
	int rc;

	if (h->type == WIRE_T_PG_SAVE_PART) {
		/* Every request gets its one reply. */
		rc = savemsg_req_decode(p, h->len, &req);
		if (rc < 0)
			wire_error_set(&e, WIRE_E_INVAL,
				       "node %u: malformed PG_SAVE_PART",
				       s->cfg->node);
		else if (node != 0)
			wire_error_set(&e, WIRE_E_INVAL,
				       "node %u: saves come from node 0, not "
				       "node %u",
				       s->cfg->node, node);
		if (rc < 0 || node != 0 || job_start(s, &req, c, h->id, &e) < 0)
			conn_send_error(c, WIRE_T_PG_SAVE_PART_DONE, h->id, &e);
		return;
	}
	/* PG_SAVE_PART_DONE, at node 0 */
	if (!s->running || node >= s->cfg->nodes || h->id != s->asked[node]) {
		log_debug("node %u: PG_SAVE_PART_DONE %llu we did not ask for",
			  node, (unsigned long long)h->id);
		return;
	}
	if (h->flags & WIRE_F_ERROR) {
		if (wire_error_decode(p, h->len, &e) < 0)
			wire_error_set(&e, WIRE_E_PROTO,
				       "node %u: a malformed error", node);
		finished(s, node, NULL, &e);
		return;
	}
	rc = savemsg_part_decode(p, h->len, &part);
	if (rc == 0 &&
	    (part.info.node != node ||
	     part.info.ram_off != s->cfg->home_first[node] * PAGER_PAGE_SIZE ||
	     part.info.ram_bytes != s->cfg->home_pages[node] * PAGER_PAGE_SIZE))
		rc = -EBADMSG;
	if (rc < 0) {
		wire_error_set(&e, WIRE_E_PROTO,
			       "node %u: its part is malformed or of other "
			       "memory than it is home of",
			       node);
		finished(s, node, NULL, &e);
		return;
	}
	finished(s, node, &part, NULL);
}

void
save_abandon(struct save *s, const char *msg)
{
	char tmp[sizeof(s->job.path) + 32];

	/* snap_part_write's temporary name, or the part it renamed
	 * already (the loop did not hear yet); the thread dies with us. */
	if (s->job.state == SAVE_WRITE) {
		if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", s->job.path,
			     (int)getpid()) < (int)sizeof(tmp))
			(void)unlink(tmp);
		(void)unlink(s->job.path);
	}
	if (!s->running)
		return;
	remove_parts(s);
	/* The tool hears why, as the client does (net_notify_all). */
	if (s->tool && msg)
		link_notify(s->tool->l, WIRE_E_SHUTDOWN, msg, 300);
}
