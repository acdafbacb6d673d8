/*
 * The two ends of one link measurement, run on the hosts by up over ssh
 * (see matrix.c): link-serve listens where node I's run links will, and
 * answers; link-test, on node I's host, dials node J's link-serve with
 * the project's link layer and the VM's secret, times FAB_ECHO round
 * trips and a FAB_SINK page stream, and prints what it measured.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "avm/auth.h"
#include "avm/config.h"
#include "avm/emit.h"
#include "avm/exit.h"
#include "avm/fabmsg.h"
#include "avm/link.h"
#include "avm/log.h"
#include "avm/util.h"
#include "fabric.h"

/* Round trips that estimate the offset between the two hosts' clocks:
 * the one that took least says it best. */
#define CLOCK_SAMPLES 32

/* A greeting that takes longer than this is not a measuring peer. */
#define GREET_MS 5000
#define ECHO_FILL 56 /* 64-byte FAB_ECHO payloads */

/* What both ends need: the VM, node numbers, the key, the addresses. */
struct lt {
	struct avm_config cfg;
	uint8_t key[AUTH_KEY_LEN];
	struct link_self self;
	char addr[300]; /* link-serve: where to listen; link-test: dial */
};

static int
lt_node_addr(const struct avm_config *cfg, size_t node, int listen, char *buf,
	     size_t len)
{
	const char *host = listen && cfg->fabric_listen
				   ? cfg->fabric_listen
				   : cfg->nodes[node].address;
	int n = strchr(host, ':')
			? snprintf(buf, len, "[%s]:%u", host, cfg->fabric_port)
			: snprintf(buf, len, "%s:%u", host, cfg->fabric_port);

	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Loads the file and the secret, checks --node (and --peer); 0 or an
 * exit status after a message. */
static int
lt_init(struct lt *t, const struct fabric *f, const char *verb, int argc,
	char **argv, int need_peer)
{
	char path[PATH_MAX];
	int rc;

	rc = fabric_load(argc, argv, verb, &t->cfg);
	if (rc != AVM_EX_OK)
		return rc;
	if (f->node < 0 || (need_peer && f->peer < 0)) {
		log_err("%s: needs --node%s", verb,
			need_peer ? " and --peer" : "");
		usage_error();
	}
	if ((size_t)f->node >= t->cfg.nnodes ||
	    (need_peer && (size_t)f->peer >= t->cfg.nnodes)) {
		log_err("%s: '%s' has nodes 0 to %zu", verb, t->cfg.file,
			t->cfg.nnodes - 1);
		return AVM_EX_USAGE;
	}
	if (need_peer && f->peer == f->node) {
		log_err("%s: --peer is --node: a link joins two nodes", verb);
		return AVM_EX_USAGE;
	}
	if (f->secret)
		snprintf(path, sizeof(path), "%s", f->secret);
	else if (fabric_secret_path(&t->cfg, path, sizeof(path)) != 0)
		return AVM_EX_CONFIG;
	rc = auth_secret_load(path, t->key);
	if (rc < 0) {
		log_err("secret '%s': %s", path, auth_secret_strerror(rc));
		return auth_secret_exit(rc);
	}
	t->self = (struct link_self){
		.vm = t->cfg.name,
		.node = (uint32_t)f->node,
		.nodes = (uint32_t)t->cfg.nnodes,
		.role = WIRE_ROLE_FABRIC,
		.key = t->key,
	};
	if (lt_node_addr(&t->cfg, need_peer ? (size_t)f->peer : (size_t)f->node,
			 !need_peer, t->addr, sizeof(t->addr)) < 0) {
		log_err("%s: node address too long", verb);
		return AVM_EX_CONFIG;
	}
	return AVM_EX_OK;
}

static void
lt_release(struct lt *t)
{
	explicit_bzero(t->key, sizeof(t->key));
	config_release(&t->cfg);
}

static uint64_t
realtime_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* ---- link-serve ------------------------------------------------------- */

/*
 * One measuring peer, until it says BYE or goes: echoes echoed, sink
 * pages counted.  Returns 0 after an orderly end, -1 after a message.
 */
static int
serve_one(struct link *l)
{
	struct fabmsg_sink_count c = { 0 }, end;
	struct fabmsg_sink sink;
	struct fabmsg_echo echo;
	const void *p;
	struct wire_hdr h;
	uint64_t first = 0;
	uint8_t buf[WIRE_FAB_SINK_DONE_SIZE];
	int rc;

	for (;;) {
		rc = link_recv(l, &h, &p, LINK_DEAD_MS);
		if (rc < 0) {
			log_warn("link from '%s': %s", link_addr(l),
				 link_why(l)[0] ? link_why(l) : strerror(-rc));
			return -1;
		}
		switch (h.type) {
		case WIRE_T_BYE:
			return 0;
		case WIRE_T_FAB_ECHO:
			if (fabmsg_echo_decode(p, h.len, &echo) < 0)
				goto bad;
			rc = link_send(l, WIRE_T_FAB_ECHO_REPLY, WIRE_F_REPLY,
				       h.id, p, h.len, NULL, 0);
			break;
		case WIRE_T_FAB_SINK:
			if (fabmsg_sink_decode(p, h.len, &sink) < 0)
				goto bad;
			if (!c.frames)
				first = now_ns();
			c.frames++;
			c.bytes += h.len;
			rc = 0;
			break;
		case WIRE_T_FAB_CLOCK: {
			struct fabmsg_clock ck;
			uint8_t cb[WIRE_FAB_CLOCK_REPLY_SIZE];

			if (fabmsg_clock_decode(p, h.len, &ck) < 0)
				goto bad;
			ck.peer_ns = realtime_ns();
			fabmsg_clock_reply_encode(&ck, cb, sizeof(cb));
			rc = link_send(l, WIRE_T_FAB_CLOCK_REPLY, WIRE_F_REPLY,
				       h.id, cb, sizeof(cb), NULL, 0);
			break;
		}
		case WIRE_T_FAB_SINK_END:
			if (fabmsg_sink_end_decode(p, h.len, &end) < 0)
				goto bad;
			c.ns = c.frames ? now_ns() - first : 0;
			fabmsg_sink_done_encode(&c, buf, sizeof(buf));
			rc = link_send(l, WIRE_T_FAB_SINK_DONE, WIRE_F_REPLY,
				       h.id, buf, sizeof(buf), NULL, 0);
			c = (struct fabmsg_sink_count){ 0 };
			break;
		default:
			goto bad;
		}
		if (rc < 0) {
			log_warn("link from '%s': %s", link_addr(l),
				 link_why(l));
			return -1;
		}
	}
bad:
	log_warn("link from '%s': unexpected or malformed %s frame",
		 link_addr(l), wire_type_name(h.type));
	link_notify(l, WIRE_E_PROTO, "not a link measurement", 100);
	return -1;
}

int
verb_link_serve(struct fabric *f, int argc, char **argv)
{
	struct link_want want = { 1u << WIRE_ROLE_FABRIC, LINK_ANY_NODE, 0 };
	struct pollfd pf[2];
	struct lt t = { 0 };
	struct link *l;
	char why[512], b[64];
	uint64_t idle_until;
	int lfd = -1, rc, status;
	ssize_t n;

	status = lt_init(&t, f, "link-serve", argc, argv, 0);
	if (status != AVM_EX_OK)
		goto out;
	lfd = link_listen(link_transport("tcp"), t.addr, why, sizeof(why));
	if (lfd < 0) {
		log_err("%s", why);
		status = lfd == -EADDRINUSE ? AVM_EX_TEMPFAIL
					    : AVM_EX_UNAVAILABLE;
		goto out;
	}
	/* The line up waits for before it measures. */
	printf("listening %s\n", t.addr);
	if (fflush(stdout) != 0) {
		status = AVM_EX_FAIL;
		goto out;
	}
	idle_until = now_ns() + (uint64_t)f->timeout_s * 1000000000ull;
	pf[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	pf[1] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	for (;;) {
		rc = poll(pf, 2, deadline_ms(idle_until));
		if (rc < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			status = AVM_EX_SOFTWARE;
			break;
		}
		if (rc == 0) {
			log_err("nobody measured for %u s: giving up",
				f->timeout_s);
			status = AVM_EX_TEMPFAIL;
			break;
		}
		if (pf[1].revents) {
			/* up closed our stdin: the measuring is over. */
			n = read(STDIN_FILENO, b, sizeof(b));
			if (n <= 0 && !(n < 0 && errno == EINTR)) {
				status = AVM_EX_OK;
				break;
			}
		}
		if (!(pf[0].revents & POLLIN))
			continue;
		rc = link_accept(lfd, &t.self, &want, GREET_MS, &l, why,
				 sizeof(why));
		if (rc < 0) {
			log_warn("%s", why);
			continue;
		}
		if (f->verbose)
			log_info("measured by node %u from '%s'",
				 link_peer(l)->node, link_addr(l));
		serve_one(l);
		link_free(l);
		idle_until = now_ns() + (uint64_t)f->timeout_s * 1000000000ull;
	}
out:
	if (lfd >= 0)
		close(lfd);
	lt_release(&t);
	return status;
}

/* ---- link-test -------------------------------------------------------- */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The frames a request waits for: its reply, with PING handled inside. */
static int
await_reply(struct link *l, uint16_t type, uint64_t id, struct wire_hdr *h,
	    const void **p)
{
	int rc = link_recv(l, h, p, LINK_DEAD_MS);

	if (rc < 0)
		return rc;
	if (h->type != type || h->id != id || !(h->flags & WIRE_F_REPLY) ||
	    (h->flags & WIRE_F_ERROR))
		return -EPROTO;
	return 0;
}

/* n round trips of 64-byte FAB_ECHO; rtt sorted on return. */
static int
measure_rtt(struct link *l, uint64_t *rtt, size_t n)
{
	uint8_t fill[ECHO_FILL], buf[WIRE_FAB_ECHO_MIN + ECHO_FILL];
	struct fabmsg_echo m = { .fill = fill, .fill_len = sizeof(fill) }, r;
	struct wire_hdr h;
	const void *p;
	uint64_t t0;
	size_t i;
	int rc, len;

	memset(fill, 0xa5, sizeof(fill));
	for (i = 0; i < n; i++) {
		m.seq = i + 1;
		len = fabmsg_echo_encode(&m, buf, sizeof(buf));
		t0 = now_ns();
		rc = link_send(l, WIRE_T_FAB_ECHO, 0, i + 1, buf, (size_t)len,
			       NULL, 0);
		if (rc == 0)
			rc = await_reply(l, WIRE_T_FAB_ECHO_REPLY, i + 1, &h,
					 &p);
		if (rc < 0)
			return rc;
		rtt[i] = now_ns() - t0;
		if (fabmsg_echo_decode(p, h.len, &r) < 0 || r.seq != i + 1 ||
		    h.len != (size_t)len)
			return -EPROTO;
	}
	qsort(rtt, n, sizeof(*rtt), cmp_u64);
	return 0;
}

/*
 * How far the peer's wall clock is from ours, NTP's way: for each
 * sample, the peer's time against the middle of our send and receive;
 * the sample with the shortest round trip is kept, its error half that
 * round trip.
 */
static int
measure_clock(struct link *l, int64_t *offset, uint64_t *err)
{
	uint8_t buf[WIRE_FAB_CLOCK_SIZE];
	struct fabmsg_clock m, r;
	uint64_t t0, t1, best = UINT64_MAX;
	struct wire_hdr h;
	const void *p;
	int i, rc;

	for (i = 0; i < CLOCK_SAMPLES; i++) {
		m.sent_ns = t0 = realtime_ns();
		fabmsg_clock_encode(&m, buf, sizeof(buf));
		rc = link_send(l, WIRE_T_FAB_CLOCK, 0, 1000 + (uint64_t)i, buf,
			       sizeof(buf), NULL, 0);
		if (rc == 0)
			rc = await_reply(l, WIRE_T_FAB_CLOCK_REPLY,
					 1000 + (uint64_t)i, &h, &p);
		if (rc < 0)
			return rc;
		t1 = realtime_ns();
		if (fabmsg_clock_reply_decode(p, h.len, &r) < 0 ||
		    r.sent_ns != t0)
			return -EPROTO;
		if (t1 < t0 || t1 - t0 >= best)
			continue;
		best = t1 - t0;
		*offset = (int64_t)(r.peer_ns - (t0 + best / 2));
		*err = best / 2;
	}
	return 0;
}

/* The path MTU of the link's socket, 0 when the kernel does not say. */
static unsigned
path_mtu(struct link *l)
{
	int mtu = 0;
	socklen_t len = sizeof(mtu);

	if (getsockopt(link_fd(l), IPPROTO_IP, IP_MTU, &mtu, &len) < 0 &&
	    getsockopt(link_fd(l), IPPROTO_IPV6, IPV6_MTU, &mtu, &len) < 0)
		return 0;
	return mtu > 0 ? (unsigned)mtu : 0;
}

/* bytes of pages in frames of 256; *ns from the first send to the
 * answer, *got what the peer counted. */
static int
measure_stream(struct link *l, uint64_t bytes, uint64_t *ns,
	       struct fabmsg_sink_count *got)
{
	static uint8_t pages[WIRE_FAB_SINK_PAGES * WIRE_PG_PAGE_SIZE];
	struct fabmsg_sink s = { 0 };
	struct fabmsg_sink_count sent = { 0 };
	uint8_t hdr[WIRE_FAB_SINK_HDR], end[WIRE_FAB_SINK_END_SIZE];
	uint64_t left = bytes, t0, chunk;
	struct wire_hdr h;
	const void *p;
	int rc;

	memset(pages, 0x3c, sizeof(pages));
	t0 = now_ns();
	while (left) {
		chunk = left < sizeof(pages) ? left : sizeof(pages);
		s.pages = (uint32_t)((chunk + WIRE_PG_PAGE_SIZE - 1) /
				     WIRE_PG_PAGE_SIZE);
		fabmsg_sink_encode(&s, hdr, sizeof(hdr));
		rc = link_send(l, WIRE_T_FAB_SINK, 0, 0, hdr, sizeof(hdr),
			       pages, (size_t)s.pages * WIRE_PG_PAGE_SIZE);
		if (rc < 0)
			return rc;
		s.seq++;
		sent.frames++;
		sent.bytes += sizeof(hdr) + (size_t)s.pages * WIRE_PG_PAGE_SIZE;
		left -= chunk < left ? chunk : left;
	}
	fabmsg_sink_end_encode(&sent, end, sizeof(end));
	rc = link_send(l, WIRE_T_FAB_SINK_END, 0, 1, end, sizeof(end), NULL, 0);
	if (rc == 0)
		rc = await_reply(l, WIRE_T_FAB_SINK_DONE, 1, &h, &p);
	if (rc < 0)
		return rc;
	*ns = now_ns() - t0;
	if (fabmsg_sink_done_decode(p, h.len, got) < 0 ||
	    got->frames != sent.frames || got->bytes != sent.bytes)
		return -EPROTO;
	return 0;
}

int
verb_link_test(struct fabric *f, int argc, char **argv)
{
	struct link_want want = { 1u << WIRE_ROLE_FABRIC, 0, 0 };
	struct fabmsg_sink_count got = { 0 };
	struct lt t = { 0 };
	struct link *l = NULL;
	uint64_t *rtt = NULL, ns = 0, clock_err = 0;
	int64_t clock_off = 0;
	struct emit e;
	char why[512];
	int rc, status;

	status = lt_init(&t, f, "link-test", argc, argv, 1);
	if (status != AVM_EX_OK)
		goto out;
	want.node = (uint32_t)f->peer;
	rc = link_dial(&t.self, link_transport("tcp"), t.addr, &want,
		       (int)f->timeout_s * 1000, &l, why, sizeof(why));
	if (rc < 0) {
		log_err("link to node %d: %s", f->peer, why);
		status = rc == -EACCES || rc == -ECONNREFUSED
				 ? AVM_EX_NOPERM
				 : AVM_EX_UNAVAILABLE;
		goto out;
	}
	rtt = calloc(f->pings, sizeof(*rtt));
	if (!rtt)
		log_die(AVM_EX_SOFTWARE, "calloc: %s", strerror(errno));
	rc = measure_rtt(l, rtt, f->pings);
	if (rc == 0)
		rc = measure_clock(l, &clock_off, &clock_err);
	if (rc == 0)
		rc = measure_stream(l, f->stream_bytes, &ns, &got);
	if (rc < 0) {
		log_err("link to node %d ('%s'): %s", f->peer, t.addr,
			rc == -EPROTO	 ? "the peer's answers are not a "
					   "measurement's"
			: link_why(l)[0] ? link_why(l)
					 : strerror(-rc));
		status = AVM_EX_UNAVAILABLE;
		goto out;
	}
	link_bye(l, 1000);
	emit_init(&e, stdout, f->json ? EMIT_JSON : EMIT_YAML, 0);
	emit_map_begin(&e);
	emit_kv_uint(&e, "node", (uint64_t)f->node);
	emit_kv_uint(&e, "peer", (uint64_t)f->peer);
	emit_kv_str(&e, "address", t.addr);
	emit_kv_uint(&e, "pings", f->pings);
	emit_kv_uint(&e, "rtt_min_ns", rtt[0]);
	emit_kv_uint(&e, "rtt_median_ns", rtt[f->pings / 2]);
	emit_kv_uint(&e, "rtt_max_ns", rtt[f->pings - 1]);
	emit_kv_uint(&e, "stream_bytes", got.bytes);
	emit_kv_uint(&e, "stream_ns", ns);
	emit_kv_uint(&e, "bandwidth_bytes_per_s",
		     ns ? (uint64_t)((double)got.bytes * 1e9 / (double)ns) : 0);
	emit_kv_int(&e, "clock_offset_ns", clock_off);
	emit_kv_uint(&e, "clock_error_ns", clock_err);
	emit_kv_uint(&e, "path_mtu", path_mtu(l));
	emit_map_end(&e);
	if (fabric_emit_finish(&e) < 0 || fflush(stdout) != 0)
		status = AVM_EX_FAIL;
out:
	if (l)
		link_free(l);
	free(rtt);
	lt_release(&t);
	return status;
}
