/*
 * avm-snap inspect FILE [--verify [--ignore-disks]]: what a snapshot
 * holds, from its header, manifest, chunk indexes and disk records (a
 * few reads, whatever the file's size), and with --verify whether every
 * byte of it is sound and then whether each disk image is still the one
 * saved (snap_disk_check): a changed image is 65 like a bad chunk (the
 * snapshot cannot be restored as it is), a missing one 66 like a missing
 * part file.  YAML and --json come from one walk (avm/emit.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "avm/emit.h"
#include "avm/exit.h"
#include "avm/log.h"
#include "avm/snapfile.h"
#include "avm/util.h"
#include "snap.h"

/* What a failure of the library means for our exit status. */
static int
status_of(int err)
{
	if (err == EBADMSG)
		return AVM_EX_DATAERR;
	if (err == ENOMEM)
		return AVM_EX_SOFTWARE;
	return AVM_EX_NOINPUT;
}

/* raw / stored, two decimals; null when nothing is stored. */
static void
emit_ratio(struct emit *e, uint64_t raw, uint64_t stored)
{
	emit_key(e, "ratio");
	if (!stored)
		emit_null(e);
	else
		emit_double(e, round((double)raw / (double)stored * 100) / 100);
}

static void
emit_size(struct emit *e, const char *key, uint64_t v)
{
	char s[32];

	emit_kv_uint(e, key, v);
	/* "16M" says more than 16777216; "5187892" does not. */
	size_format(v, s, sizeof(s));
	if (s[0] && (s[strlen(s) - 1] < '0' || s[strlen(s) - 1] > '9'))
		emit_comment(e, s);
}

static const char *
part_name(const struct snap_info *in, uint32_t part)
{
	return part ? in->parts[part - 1].name : NULL;
}

static void
emit_section(struct emit *e, const struct snap_info *in,
	     const struct snap_section *sec)
{
	emit_map_begin(e);
	emit_kv_str(e, "type", snap_type_name(sec->type));
	switch (sec->type) {
	case SNAP_SEC_VCPU:
		emit_kv_uint(e, "vcpu", sec->id);
		break;
	case SNAP_SEC_DEVICE:
		emit_kv_str(e, "device", sec->name);
		break;
	case SNAP_SEC_DISK:
		emit_kv_uint(e, "disk", sec->id);
		break;
	default:
		emit_kv_uint(e, "node", sec->id);
		break;
	}
	emit_kv_str(e, "file", part_name(in, sec->part));
	emit_kv_uint(e, "offset_bytes", sec->offset);
	if (sec->type == SNAP_SEC_MEMORY) {
		emit_kv_uint(e, "ram_offset_bytes", sec->ram_off);
		emit_size(e, "raw_bytes", sec->raw_bytes);
		emit_size(e, "compressed_bytes", sec->stored_bytes);
		emit_ratio(e, sec->raw_bytes, sec->stored_bytes);
		emit_kv_uint(e, "chunks", sec->chunks);
		emit_kv_uint(e, "first_chunk", sec->first_chunk);
		emit_kv_uint(e, "zero_pages", sec->zero_pages);
		emit_size(e, "data_bytes", sec->data_bytes);
	} else {
		emit_kv_uint(e, "raw_bytes", sec->raw_bytes);
		emit_kv_uint(e, "compressed_bytes", sec->stored_bytes);
		emit_kv_bool(e, "deflated", sec->flags & SNAP_SEC_DEFLATE);
	}
	emit_kv_strf(e, "crc32", "0x%08" PRIx32, sec->crc);
	emit_map_end(e);
}

/* What --verify found of each disk image, by the index into in->disks. */
struct disk_check {
	int rc; /* snap_disk_check's; 0 when not checked */
	int checked;
	char why[SNAP_DISK_PATH_MAX + 256];
};

static void
emit_disk(struct emit *e, const struct snap_disk *d,
	  const struct disk_check *dc)
{
	char when[64];

	emit_map_begin(e);
	emit_kv_uint(e, "disk", d->index);
	emit_kv_str(e, "path", d->path);
	emit_size(e, "size_bytes", d->size_bytes);
	emit_kv_int(e, "mtime_unix_s", d->mtime_s);
	emit_comment(e, snap_disk_mtime(d, when, sizeof(when)));
	emit_kv_uint(e, "mtime_nsec", d->mtime_ns);
	emit_kv_bool(e, "read_only", d->readonly);
	if (dc && dc->checked) {
		emit_kv_bool(e, "unchanged", dc->rc == 0);
		if (dc->rc != 0)
			emit_kv_str(e, "error", dc->why);
	}
	emit_map_end(e);
}

static void
emit_memory(struct emit *e, const struct snap_info *in)
{
	uint64_t stored = 0, data = 0;
	uint32_t i;

	for (i = 0; i < in->nsec; i++)
		if (in->sec[i].type == SNAP_SEC_MEMORY) {
			stored += in->sec[i].stored_bytes;
			data += in->sec[i].data_bytes;
		}
	emit_kv_map_begin(e, "memory");
	emit_size(e, "chunk_bytes", (uint64_t)in->chunk_pages * in->page_bytes);
	emit_kv_uint(e, "chunks", in->chunks);
	emit_kv_uint(e, "pages", in->mem_bytes / in->page_bytes);
	emit_kv_uint(e, "zero_pages", in->zero_pages);
	emit_comment(e, "never written: no bytes stored");
	emit_size(e, "raw_bytes", in->mem_bytes);
	emit_size(e, "data_bytes", data);
	emit_size(e, "compressed_bytes", stored);
	emit_ratio(e, in->mem_bytes, stored);
	emit_map_end(e);
}

/* What --verify found, for the document. */
struct verdict {
	int verified;		     /* --verify */
	const char *error;	     /* the first failure, or NULL */
	int ignore_disks;	     /* --ignore-disks */
	uint32_t disks_checked;	     /* images looked at */
	int64_t bad_disk;	     /* the first that failed, or -1 */
	const struct disk_check *dc; /* [in->ndisks] */
};

static void
emit_doc(struct emit *e, const char *path, const struct snap_info *in,
	 const struct snap_verified *v, const struct verdict *vd)
{
	char id[33], when[64];
	struct tm tm;
	time_t t;
	uint32_t i;

	for (i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", in->snap_id[i]);
	emit_map_begin(e);
	emit_kv_str(e, "file", path);
	emit_kv_uint(e, "format_version", in->version);
	emit_size(e, "file_bytes", in->file_bytes);
	emit_kv_str(e, "snapshot_id", id);
	emit_kv_str(e, "written_by", in->writer);
	emit_kv_uint(e, "created_unix_s", in->created_unix_s);
	t = (time_t)in->created_unix_s;
	if (in->created_unix_s && gmtime_r(&t, &tm) &&
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm))
		emit_comment(e, when);
	emit_kv_str(e, "vm", in->vm);
	emit_kv_uint(e, "vcpus", in->vcpus);
	emit_size(e, "mem_bytes", in->mem_bytes);
	emit_kv_list_begin(e, "nodes");
	for (i = 0; i < in->nodes; i++) {
		const struct placement_node *n = &in->node[i];
		uint32_t k;

		emit_map_begin(e);
		emit_kv_uint(e, "node", i);
		emit_kv_uint(e, "vcpu_first", n->vcpu_first);
		emit_kv_uint(e, "vcpus", n->vcpu_count);
		emit_kv_uint(e, "ram_offset_bytes",
			     n->page_first * in->page_bytes);
		emit_size(e, "mem_bytes", n->page_count * in->page_bytes);
		for (k = 0; k < in->nparts && in->parts[k].node != i; k++)
			;
		emit_kv_str(e, "part",
			    k < in->nparts ? in->parts[k].name : NULL);
		emit_map_end(e);
	}
	emit_list_end(e);
	emit_kv_list_begin(e, "disks");
	for (i = 0; i < in->ndisks; i++)
		emit_disk(e, &in->disks[i], vd->dc ? &vd->dc[i] : NULL);
	emit_list_end(e);
	emit_kv_list_begin(e, "sections");
	for (i = 0; i < in->nsec; i++)
		emit_section(e, in, &in->sec[i]);
	emit_list_end(e);
	emit_memory(e, in);
	if (vd->verified) {
		emit_kv_map_begin(e, "verify");
		emit_kv_bool(e, "ok", vd->error == NULL);
		emit_kv_uint(e, "sections_checked", v->sections);
		emit_kv_uint(e, "chunks_checked", v->chunks);
		emit_kv_uint(e, "disks_checked", vd->disks_checked);
		emit_kv_bool(e, "disks_ignored", vd->ignore_disks);
		if (vd->error) {
			emit_key(e, "bad_chunk");
			if (v->bad_chunk >= 0)
				emit_uint(e, (uint64_t)v->bad_chunk);
			else
				emit_null(e);
			emit_key(e, "bad_disk");
			if (vd->bad_disk >= 0)
				emit_uint(e, (uint64_t)vd->bad_disk);
			else
				emit_null(e);
			emit_kv_str(e, "error", vd->error);
		} else {
			emit_kv_strf(e, "file_crc32", "0x%08" PRIx32,
				     v->file_crc);
			emit_kv_strf(e, "memory_crc32", "0x%08" PRIx32,
				     v->ram_crc);
		}
		emit_map_end(e);
	}
	emit_map_end(e);
}

/* --verify on a terminal: a percentage on stderr, redrawn. */
struct progress {
	int shown; /* last percentage drawn, -1: none */
};

static void
progress(void *arg, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	int pct = total ? (int)(done * 100 / total) : 100;

	if (pct == p->shown)
		return;
	p->shown = pct;
	fprintf(stderr, "\r%s: verify %3d%%", PROG, pct);
}

/*
 * Each disk image of in against its record, into dc[]; vd says how many
 * and which failed first.  Returns the exit status of the first that
 * failed: 65 changed (another size or modification time, not a regular
 * file), 66 gone or not readable (stat's errno); AVM_EX_OK when none.
 */
static int
check_disks(const struct snap_info *in, struct disk_check *dc,
	    struct verdict *vd)
{
	int st = AVM_EX_OK, r;
	uint32_t i;

	for (i = 0; i < in->ndisks; i++) {
		r = snap_disk_check(&in->disks[i], dc[i].why,
				    sizeof(dc[i].why));
		dc[i].rc = r;
		dc[i].checked = 1;
		vd->disks_checked++;
		if (r == 0 || st != AVM_EX_OK)
			continue;
		st = r > 0 ? AVM_EX_DATAERR : AVM_EX_NOINPUT;
		vd->bad_disk = in->disks[i].index;
		vd->error = dc[i].why;
	}
	return st;
}

int
verb_inspect(struct snapcmd *c, int argc, char **argv)
{
	struct snap_verified v = { 0 };
	struct verdict vd = { .verified = c->verify,
			      .ignore_disks = c->ignore_disks,
			      .bad_disk = -1 };
	struct disk_check *dc = NULL;
	const struct snap_info *in;
	struct progress pr = { -1 };
	const struct snap_io *io;
	const char *path;
	char why[512];
	struct snap *s;
	struct emit e;
	uint32_t i;
	int st = AVM_EX_OK, tty = isatty(STDERR_FILENO);

	if (argc != 1) {
		if (argc)
			log_err("inspect: unexpected argument '%s'", argv[1]);
		else
			log_err("inspect: no snapshot file");
		usage_error();
	}
	path = argv[0];
	s = snap_open(path, why, sizeof(why));
	if (!s) {
		log_err("'%s': %s", path, why);
		return status_of(errno);
	}
	in = snap_info(s);
	if (c->verify && snap_verify(s, &v, tty ? progress : NULL, &pr, why,
				     sizeof(why)) < 0) {
		st = status_of(errno);
		vd.error = why;
	}
	if (pr.shown >= 0)
		fprintf(stderr, "\r%*s\r", (int)strlen(PROG) + 14, "");
	/* The images once the snapshot is sound: a damaged one is moot. */
	if (c->verify && !vd.error && !c->ignore_disks && in->ndisks) {
		dc = calloc(in->ndisks, sizeof(*dc));
		if (!dc)
			log_die(AVM_EX_SOFTWARE, "out of memory");
		vd.dc = dc;
		st = check_disks(in, dc, &vd);
	}
	emit_init(&e, stdout, c->json ? EMIT_JSON : EMIT_YAML,
		  c->json ? EMIT_PRETTY : 0);
	emit_doc(&e, path, in, &v, &vd);
	io = snap_io(s);
	if (c->verbose)
		log_info("read %" PRIu64 " bytes of '%s' in %" PRIu64
			 " reads, %" PRIu64 " inflated",
			 io->read_bytes, path, io->reads, io->inflates);
	if (emit_finish(&e) < 0) {
		if (errno == EINVAL || errno == ERANGE)
			log_die(AVM_EX_SOFTWARE, "internal error: output tree "
						 "is malformed");
		log_err("write output: %s", strerror(errno));
		snap_close(s);
		free(dc);
		return AVM_EX_FAIL;
	}
	/* Every image that failed, not only the first. */
	for (i = 0; dc && i < in->ndisks; i++)
		if (dc[i].rc != 0)
			log_err("'%s': %s", path, dc[i].why);
	if (vd.error && !dc)
		log_err("'%s': %s", path, vd.error);
	snap_close(s);
	free(dc);
	return st;
}
