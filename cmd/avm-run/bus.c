/* The PIO and MMIO buses; see bus.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

int
bus_add(struct bus *bus, uint64_t base, uint64_t len, struct device *dev)
{
	size_t i;

	if (len == 0 || base + len < base) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < bus->n; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (base < r->base + r->len && r->base < base + len) {
			errno = EEXIST;
			return -1;
		}
	}
	if (bus->n == bus->cap) {
		size_t cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *n = realloc(bus->ranges, cap * sizeof(*n));

		if (!n)
			return -1;
		bus->ranges = n;
		bus->cap = cap;
	}
	for (i = bus->n; i > 0 && bus->ranges[i - 1].base > base; i--)
		bus->ranges[i] = bus->ranges[i - 1];
	bus->ranges[i] = (struct bus_range){ base, len, dev };
	bus->n++;
	return 0;
}

const struct bus_range *
bus_find(const struct bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct bus_range *r = &bus->ranges[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

int
bus_access(const struct bus *bus, enum bus_space space, struct vcpu *vcpu,
	   uint64_t addr, void *data, unsigned len, int is_write)
{
	const struct bus_range *r = bus_find(bus, addr);
	const struct dev_ops *ops;
	uint64_t off;

	if (!r) {
		if (!is_write)
			memset(data, space == BUS_PIO ? 0xff : 0, len);
		return 0;
	}
	ops = r->dev->ops;
	off = addr - r->base;
	if (!is_write)
		memset(data, space == BUS_PIO ? 0xff : 0, len);
	if (space == BUS_PIO) {
		if (is_write && ops->pio_write)
			ops->pio_write(r->dev, vcpu, off, data, len);
		else if (!is_write && ops->pio_read)
			ops->pio_read(r->dev, vcpu, off, data, len);
	} else {
		if (is_write && ops->mmio_write)
			ops->mmio_write(r->dev, vcpu, off, data, len);
		else if (!is_write && ops->mmio_read)
			ops->mmio_read(r->dev, vcpu, off, data, len);
	}
	return 1;
}

void
bus_release(struct bus *bus)
{
	free(bus->ranges);
	memset(bus, 0, sizeof(*bus));
}
