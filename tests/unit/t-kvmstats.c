/*
 * KVM's binary stats image (cmd/avm-run/kvmstats.c) without KVM: images
 * built byte by byte in the layout of Documentation/virt/kvm/api.rst
 * (header, id string, descriptors with their names, data), parsed, and
 * read back through a file as the stats fd would be.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../cmd/avm-run/kvmstats.h"
#include "avm/stats.h"
#include "tap.h"

/* Types in descriptor flags bits 3:0, units in 7:4 (api.rst). */
#define T_CUMULATIVE 0x0
#define T_INSTANT 0x1
#define T_PEAK 0x2
#define T_LINEAR_HIST 0x3
#define T_LOG_HIST 0x4
#define U_SECONDS 0x20

#define NAME_SIZE 48 /* KVM_STATS_NAME_SIZE, what kernels use */

struct desc {
	const char *name;
	uint32_t flags;
	int16_t exponent;
	uint16_t size; /* u64s */
	uint32_t offset;
};

struct img {
	uint8_t b[16384];
	size_t len;
	uint32_t desc_offset, data_offset;
};

static void
le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void
le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
le64(uint8_t *p, uint64_t v)
{
	le32(p, (uint32_t)v);
	le32(p + 4, (uint32_t)(v >> 32));
}

/*
 * An image of n descriptors with names of name_size bytes and ndata u64
 * values (value k is 1000 + k), as a kernel lays it out.
 */
static void
build(struct img *im, uint32_t name_size, const struct desc *d, unsigned n,
      unsigned ndata)
{
	uint8_t *p = im->b;
	uint32_t id_offset = KVMSTATS_HDR_SIZE;
	uint32_t desc_offset = id_offset + name_size;
	uint32_t desc_size = KVMSTATS_DESC_SIZE + name_size;
	uint32_t data_offset = desc_offset + n * desc_size;

	memset(im, 0, sizeof(*im));
	le32(p + 0, 0); /* flags */
	le32(p + 4, name_size);
	le32(p + 8, n);
	le32(p + 12, id_offset);
	le32(p + 16, desc_offset);
	le32(p + 20, data_offset);
	snprintf((char *)p + id_offset, name_size, "kvm-4242/vcpu-0");
	for (unsigned k = 0; k < n; k++) {
		uint8_t *q = p + desc_offset + k * desc_size;

		le32(q + 0, d[k].flags);
		le16(q + 4, (uint16_t)d[k].exponent);
		le16(q + 6, d[k].size);
		le32(q + 8, d[k].offset);
		le32(q + 12, 0); /* bucket_size */
		memcpy(q + KVMSTATS_DESC_SIZE, d[k].name,
		       strnlen(d[k].name, name_size));
	}
	for (unsigned k = 0; k < ndata; k++)
		le64(p + data_offset + 8 * k, 1000 + k);
	im->len = data_offset + 8 * ndata;
	im->desc_offset = desc_offset;
	im->data_offset = data_offset;
}

/*
 * Like an x86 vCPU's: some of ours, some not, a histogram, a peak, and
 * "pf_taken" as a histogram (skipped); "halt_exits", "signal_exits",
 * "irq_exits" and "nmi_injections" absent.  43 u64s of data.
 */
static const struct desc x86[] = {
	{ "halt_successful_poll", T_CUMULATIVE, 0, 1, 0 },
	{ "halt_wait_ns", T_CUMULATIVE | U_SECONDS, -9, 1, 8 },
	{ "halt_wait_hist", T_LOG_HIST | U_SECONDS, -9, 32, 16 },
	{ "exits", T_CUMULATIVE, 0, 1, 272 },
	{ "io_exits", T_CUMULATIVE, 0, 1, 280 },
	{ "mmio_exits", T_CUMULATIVE, 0, 1, 288 },
	{ "guest_mode", T_INSTANT, 0, 1, 296 },
	{ "irq_injections", T_INSTANT, 0, 1, 304 },
	{ "pf_taken", T_LINEAR_HIST, 0, 4, 312 },
	{ "max_mmu_rmap_size", T_PEAK, 0, 1, 336 },
};
#define X86_N (sizeof(x86) / sizeof(x86[0]))
#define X86_DATA 43

static void
test_parse(void)
{
	struct img im;
	struct kvmstats_map m;
	uint64_t val[RUN_KVM_STATS];
	char why[200] = "";
	int r;

	build(&im, NAME_SIZE, x86, X86_N, X86_DATA);
	r = kvmstats_parse(im.b, im.len, &m, why, sizeof(why));
	is_int(r, 0, "an x86-like image parses (%s)", r ? why : "ok");
	is_int(m.have,
	       (1u << RUN_KVM_EXITS) | (1u << RUN_KVM_IO_EXITS) |
		       (1u << RUN_KVM_MMIO_EXITS) |
		       (1u << RUN_KVM_HALT_WAIT_NS) |
		       (1u << RUN_KVM_IRQ_INJECTIONS),
	       "have: exits, io, mmio, halt_wait_ns, irq_injections");
	ok(!(m.have & (1u << RUN_KVM_PF_TAKEN)),
	   "a histogram of one of our names is skipped");
	ok(!(m.have &
	     ((1u << RUN_KVM_HALT_EXITS) | (1u << RUN_KVM_SIGNAL_EXITS) |
	      (1u << RUN_KVM_IRQ_EXITS) | (1u << RUN_KVM_NMI_INJECTIONS))),
	   "absent names stay out of have");
	is_int(m.data_offset, im.data_offset, "data offset from the header");
	is_int(m.off[RUN_KVM_EXITS], 272, "exits at 272");
	is_int(m.off[RUN_KVM_HALT_WAIT_NS], 8, "halt_wait_ns at 8");
	is_int(m.data_len, 312, "data read through irq_injections");

	kvmstats_values(&m, im.b + im.data_offset, im.len - im.data_offset,
			val);
	is_int(val[RUN_KVM_EXITS], 1000 + 272 / 8, "exits' value");
	is_int(val[RUN_KVM_IO_EXITS], 1000 + 280 / 8, "io_exits' value");
	is_int(val[RUN_KVM_MMIO_EXITS], 1000 + 288 / 8, "mmio_exits' value");
	is_int(val[RUN_KVM_HALT_WAIT_NS], 1001, "halt_wait_ns' value");
	is_int(val[RUN_KVM_IRQ_INJECTIONS], 1000 + 304 / 8,
	       "irq_injections' value");
	is_int(val[RUN_KVM_PF_TAKEN] | val[RUN_KVM_HALT_EXITS], 0,
	       "values not had are 0");
	kvmstats_values(&m, im.b + im.data_offset, 300, val);
	ok(val[RUN_KVM_EXITS] == 1034 && val[RUN_KVM_IRQ_INJECTIONS] == 0,
	   "a short data block: values past it are 0");
	is_str(run_kvm_stat_name(RUN_KVM_PF_TAKEN), "pf_taken", "names");
	is_str(run_kvm_stat_name(RUN_KVM_HALT_WAIT_NS), "halt_wait_ns",
	       "names, in the enum's order");
}

static void
test_names(void)
{
	struct img im;
	struct kvmstats_map m;
	struct desc d[] = {
		{ "exits", T_CUMULATIVE, 0, 1, 0 },
		{ "exits", T_CUMULATIVE, 0, 1, 8 },
		{ "io_exitsXX", T_CUMULATIVE, 0, 1, 16 },
		{ "halt_exits", T_CUMULATIVE, 0, 2, 24 },
		{ "signal_exits", T_PEAK, 0, 1, 40 },
		{ "irq_exits", T_CUMULATIVE, 0, 1, 48 },
	};
	char why[200];

	build(&im, NAME_SIZE, d, 6, 7);
	is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), 0,
	       "names: parses");
	is_int(m.off[RUN_KVM_EXITS], 0, "the first of a name twice wins");
	ok(!(m.have & (1u << RUN_KVM_IO_EXITS)), "a longer name is another");
	ok(!(m.have & (1u << RUN_KVM_HALT_EXITS)), "size 2 is skipped");
	ok(!(m.have & (1u << RUN_KVM_SIGNAL_EXITS)), "a peak is skipped");
	ok(m.have & (1u << RUN_KVM_IRQ_EXITS), "irq_exits taken");

	/* A name filling name_size without its NUL matches nothing, even
	 * with the bytes of one of ours. */
	build(&im, 5, d, 1, 1); /* "exits" has 5 bytes: no room for NUL */
	is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), 0,
	       "name without NUL: parses");
	is_int(m.have, 0, "name without NUL: skipped");

	/* Longer names than KVM's 48 are fine up to the limit. */
	build(&im, KVMSTATS_NAME_MAX, x86, X86_N, X86_DATA);
	is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), 0,
	       "name_size %u parses", KVMSTATS_NAME_MAX);
	is_int(m.off[RUN_KVM_MMIO_EXITS], 288, "and finds the same");

	build(&im, NAME_SIZE, d, 0, 0);
	is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), 0,
	       "no descriptors: parses");
	ok(m.have == 0 && m.data_len == 0, "no descriptors: nothing had");
}

static void
test_bad(void)
{
	struct img im;
	struct kvmstats_map m;
	char why[200];
	size_t n;
	int r;

	build(&im, NAME_SIZE, x86, X86_N, X86_DATA);
	is_int(kvmstats_parse(im.b, 0, &m, why, sizeof(why)), -EPROTO,
	       "empty image");
	is_int(kvmstats_parse(im.b, KVMSTATS_HDR_SIZE - 1, &m, why,
			      sizeof(why)),
	       -EPROTO, "truncated header");
	is_str(why, "23 bytes: too short for a header", "says so");
	/* Cut anywhere before the data: the descriptors or the data
	 * offset fall outside. */
	for (n = KVMSTATS_HDR_SIZE, r = -EPROTO; n < im.data_offset; n++)
		if (kvmstats_parse(im.b, n, &m, why, sizeof(why)) != -EPROTO)
			r = 0;
	is_int(r, -EPROTO, "every cut before the data is refused");
	ok(m.have == 0, "and leaves nothing had");
	/* Cut inside the data: exits (272) is outside what remains. */
	r = kvmstats_parse(im.b, im.data_offset + 272, &m, why, sizeof(why));
	is_int(r, -EPROTO, "truncated data: refused");
	is_str(why, "'exits': offset 272 is outside the data (272 bytes)",
	       "names the value");

	build(&im, NAME_SIZE, x86, X86_N, X86_DATA);
	le32(im.b + 4, KVMSTATS_NAME_MAX + 1);
	is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), -EPROTO,
	       "name_size too big");
	is_str(why, "name_size 257 is not 1 to 256", "says so");
	le32(im.b + 4, 0);
	is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), -EPROTO,
	       "name_size 0");
	/* Within the limit, but the descriptors then end past the image. */
	le32(im.b + 4, 200);
	is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), -EPROTO,
	       "name_size larger than the image holds");
	le32(im.b + 4, NAME_SIZE);
	le32(im.b + 8, 0x7fffffff);
	is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), -EPROTO,
	       "num_desc far too big");
	le32(im.b + 8, X86_N);
	le32(im.b + 16, 3);
	is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), -EPROTO,
	       "descriptors inside the header");
	le32(im.b + 16, 0xfffffff0u);
	is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), -EPROTO,
	       "descriptors far past the end");
	le32(im.b + 16, im.desc_offset);
	le32(im.b + 20, im.desc_offset + 64);
	is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), -EPROTO,
	       "data over the descriptors");
	le32(im.b + 20, (uint32_t)im.len + 1);
	is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), -EPROTO,
	       "data past the end");
	le32(im.b + 20, im.data_offset);
	is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), 0,
	       "put back: parses again");

	/* One descriptor of ours pointing outside the data. */
	{
		uint8_t *q = im.b + im.desc_offset +
			     4 * (KVMSTATS_DESC_SIZE + NAME_SIZE); /* io */

		le32(q + 8, X86_DATA * 8 - 4);
		is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)),
		       -EPROTO, "a value straddling the data's end");
		is_str(why,
		       "'io_exits': offset 340 is outside the data (344 "
		       "bytes)",
		       "names it");
		le32(q + 8, 0xfffffff8u);
		is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)),
		       -EPROTO, "an offset near 4 GiB");
		le32(q + 8, 280);
	}
	/* One not ours may point anywhere: it is never read. */
	{
		uint8_t *q =
			im.b + im.desc_offset +
			6 * (KVMSTATS_DESC_SIZE + NAME_SIZE); /* guest_mode */

		le32(q + 8, 0xfffffff8u);
		is_int(kvmstats_parse(im.b, im.len, &m, why, sizeof(why)), 0,
		       "another's bad offset does not matter");
	}
}

/* The fd side, on a file holding an image: load, read, read again. */
static void
test_file(void)
{
	char path[] = "/tmp/t-kvmstats.XXXXXX";
	struct kvmstats ks;
	struct img im;
	uint64_t val[RUN_KVM_STATS], v = 77;
	char why[200];
	int fd, fd2;

	build(&im, NAME_SIZE, x86, X86_N, X86_DATA);
	fd = mkstemp(path);
	if (!ok(fd >= 0, "temporary file"))
		return;
	unlink(path);
	ok(write(fd, im.b, im.len) == (ssize_t)im.len, "image written");
	fd2 = dup(fd);
	is_int(kvmstats_load(&ks, fd, why, sizeof(why)), 0, "load");
	is_int(ks.fd, fd, "keeps the fd");
	is_int(kvmstats_read(&ks, val), 0, "read");
	is_int(val[RUN_KVM_EXITS], 1034, "exits");
	ok(pwrite(fd2, &v, 8, im.data_offset + 272) == 8, "exits changes");
	is_int(kvmstats_read(&ks, val), 0, "read again");
	is_int(val[RUN_KVM_EXITS], 77, "sees the new value");
	is_int(val[RUN_KVM_IRQ_INJECTIONS], 1038, "and the others");
	ok(ftruncate(fd2, im.data_offset + 100) == 0, "the data shrinks");
	is_int(kvmstats_read(&ks, val), -ENODATA, "a short read is ENODATA");
	kvmstats_close(&ks);
	kvmstats_close(&ks);
	is_int(ks.fd, -1, "closed twice, harmlessly");

	/* A bad image: refused, its fd closed. */
	fd = dup(fd2);
	is_int(kvmstats_load(&ks, fd, why, sizeof(why)), -EPROTO,
	       "a truncated file is refused");
	ok(fcntl(fd, F_GETFD) < 0 && errno == EBADF, "and its fd closed");
	ok(ks.fd == -1 && ks.map.have == 0, "nothing had");

	/* None of our names: no fd kept, nothing had, no error. */
	{
		struct desc d = { "guest_mode", T_INSTANT, 0, 1, 0 };

		build(&im, NAME_SIZE, &d, 1, 1);
	}
	ok(ftruncate(fd2, 0) == 0 &&
		   pwrite(fd2, im.b, im.len, 0) == (ssize_t)im.len,
	   "an image without our names");
	fd = dup(fd2);
	is_int(kvmstats_load(&ks, fd, why, sizeof(why)), 0,
	       "without our names: loads");
	ok(ks.fd == -1 && ks.map.have == 0, "keeps no fd, has nothing");
	ok(fcntl(fd, F_GETFD) < 0 && errno == EBADF, "closed it");
	is_int(kvmstats_read(&ks, val), -EBADF, "nothing to read");
	kvmstats_close(&ks);
	close(fd2);

	/* Not a stats fd at all (KVM_GET_STATS_FD on a plain file). */
	fd = open("/dev/null", O_RDONLY);
	is_int(kvmstats_open(&ks, fd, why, sizeof(why)), -ENOTTY,
	       "no stats fd: ENOTTY");
	is_int(ks.fd, -1, "and none kept");
	close(fd);
}

int
main(void)
{
	test_parse();
	test_names();
	test_bad();
	test_file();
	return done_testing();
}
