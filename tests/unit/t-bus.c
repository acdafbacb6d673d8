/* Unit tests of avm-run's device bus (cmd/avm-run/bus.c). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../../cmd/avm-run/bus.h"
#include "tap.h"

struct rec {
	int reads, writes;
	uint64_t last_addr;
	unsigned last_len;
	uint32_t last_val;
};

static void
rec_read(struct device *d, struct vcpu *v, uint64_t addr, void *data,
	 unsigned len)
{
	struct rec *r = d->priv;

	(void)v;
	r->reads++;
	r->last_addr = addr;
	r->last_len = len;
	memset(data, 0x5a, len);
}

static void
rec_write(struct device *d, struct vcpu *v, uint64_t addr, const void *data,
	  unsigned len)
{
	struct rec *r = d->priv;

	(void)v;
	r->writes++;
	r->last_addr = addr;
	r->last_len = len;
	r->last_val = 0;
	memcpy(&r->last_val, data, len > 4 ? 4 : len);
}

static const struct dev_ops rec_ops = {
	.name = "rec",
	.pio_read = rec_read,
	.pio_write = rec_write,
	.mmio_read = rec_read,
	.mmio_write = rec_write,
};

int
main(void)
{
	struct rec ra = { 0 }, rb = { 0 }, rc = { 0 };
	struct device a = { &rec_ops, NULL, &ra }, b = { &rec_ops, NULL, &rb },
		      c = { &rec_ops, NULL, &rc };
	struct bus bus = { 0 };
	uint32_t v;
	uint8_t byte;

	ok(bus_add(&bus, 0x3f8, 8, &a) == 0, "add 0x3f8+8");
	ok(bus_add(&bus, 0x70, 2, &b) == 0, "add 0x70+2, below");
	ok(bus_add(&bus, 0xfec00000, 0x1000, &c) == 0, "add an MMIO page");
	errno = 0;
	ok(bus_add(&bus, 0x3fc, 8, &b) == -1 && errno == EEXIST,
	   "an overlapping range is refused with EEXIST");
	errno = 0;
	ok(bus_add(&bus, 0x10, 0, &b) == -1 && errno == EINVAL,
	   "an empty range is refused");
	errno = 0;
	ok(bus_add(&bus, UINT64_MAX - 1, 4, &b) == -1 && errno == EINVAL,
	   "a range that wraps is refused");
	ok(bus_find(&bus, 0x3f8) && bus_find(&bus, 0x3f8)->dev == &a,
	   "find the first byte");
	ok(bus_find(&bus, 0x3ff) && bus_find(&bus, 0x3ff)->dev == &a,
	   "find the last byte");
	ok(bus_find(&bus, 0x400) == NULL, "nothing past the end");
	ok(bus_find(&bus, 0x71)->dev == &b, "ranges stay sorted");

	v = 0x41;
	is_int(bus_access(&bus, BUS_PIO, NULL, 0x3f9, &v, 1, 1), 1,
	       "a write to a device is taken");
	ok(ra.writes == 1 && ra.last_addr == 1 && ra.last_len == 1 &&
		   ra.last_val == 0x41,
	   "the device sees the offset in its range, length and value");
	v = 0;
	bus_access(&bus, BUS_MMIO, NULL, 0xfec00010, &v, 4, 0);
	ok(rc.reads == 1 && rc.last_addr == 0x10 && v == 0x5a5a5a5a,
	   "an MMIO read reaches the device");
	byte = 0;
	is_int(bus_access(&bus, BUS_PIO, NULL, 0x80, &byte, 1, 0), 0,
	       "no device at port 0x80");
	is_int(byte, 0xff, "an unclaimed port reads all ones");
	v = 0x12345678;
	is_int(bus_access(&bus, BUS_MMIO, NULL, 0xd0000000, &v, 4, 0), 0,
	       "no device at an MMIO address");
	is_int(v, 0, "unclaimed MMIO reads zero");
	bus_release(&bus);
	ok(bus.n == 0 && bus.ranges == NULL, "release empties the bus");
	return done_testing();
}
