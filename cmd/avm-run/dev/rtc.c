/*
 * CMOS RTC at ports 0x70 (index; bit 7 is the NMI mask) and 0x71 (data).
 * The clock registers read the host's UTC time at each access, in BCD and
 * 24-hour form as status B says; writes to them are ignored (the guest
 * cannot move the host's clock).  The rest is 128 bytes of plain CMOS.
 *
 * State bytes (devstate.h), layout version 1, written by save with the
 * VM paused:
 *
 *	0  4    header: version 1, length 132
 *	4  1    index register (0..0x7f; the NMI mask bit is not kept)
 *	5  3    zero
 *	8  128  CMOS bytes: the clock and status registers but status B
 *	        (0x00-0x0a, 0x0c, 0x0d, 0x32) are 0, status B only has
 *	        its 24-hour and binary bits
 *
 * Time: the RTC keeps no time base of its own, so none is saved: after
 * a restore the guest reads the restoring host's UTC time, as a real
 * machine's RTC has moved on after a suspend; the guest's wall clock
 * jumps by the time the VM spent saved (Linux steps it on resume only
 * if told, as after any pause).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../devstate.h"
#include "../vm.h"
#include "devices.h"

#define RTC_SEC 0x00
#define RTC_MIN 0x02
#define RTC_HOUR 0x04
#define RTC_WDAY 0x06
#define RTC_MDAY 0x07
#define RTC_MON 0x08
#define RTC_YEAR 0x09
#define RTC_STATUS_A 0x0a
#define RTC_STATUS_B 0x0b
#define RTC_STATUS_C 0x0c
#define RTC_STATUS_D 0x0d
#define RTC_CENTURY 0x32
#define STB_24H 0x02
#define STB_BINARY 0x04

#define RTC_STATE_VERSION 1
#define RTC_STATE_SIZE (4 + 4 + 128)
_Static_assert(RTC_STATE_SIZE == 136, "rtc state layout");

struct rtc {
	struct device dev;
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t cmos[128];
};

static uint8_t
rtc_enc(const struct rtc *r, int v)
{
	if (r->cmos[RTC_STATUS_B] & STB_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t
rtc_read_reg(struct rtc *r, uint8_t reg)
{
	struct tm tm;
	time_t t = time(NULL);
	int hour;

	gmtime_r(&t, &tm);
	switch (reg) {
	case RTC_SEC:
		return rtc_enc(r, tm.tm_sec);
	case RTC_MIN:
		return rtc_enc(r, tm.tm_min);
	case RTC_HOUR:
		if (r->cmos[RTC_STATUS_B] & STB_24H)
			return rtc_enc(r, tm.tm_hour);
		hour = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
		return (uint8_t)(rtc_enc(r, hour) |
				 (tm.tm_hour >= 12 ? 0x80 : 0));
	case RTC_WDAY:
		return rtc_enc(r, tm.tm_wday + 1);
	case RTC_MDAY:
		return rtc_enc(r, tm.tm_mday);
	case RTC_MON:
		return rtc_enc(r, tm.tm_mon + 1);
	case RTC_YEAR:
		return rtc_enc(r, tm.tm_year % 100);
	case RTC_CENTURY:
		return rtc_enc(r, 19 + tm.tm_year / 100);
	case RTC_STATUS_A:
		return 0x26; /* 32.768 kHz base, 1024 Hz rate, no update */
	case RTC_STATUS_C:
		return 0;
	case RTC_STATUS_D:
		return 0x80; /* battery good */
	}
	return r->cmos[reg];
}

static void
rtc_pio_read(struct device *dev, struct vcpu *vcpu, uint64_t off, void *data,
	     unsigned len)
{
	struct rtc *r = dev->priv;

	(void)vcpu;
	(void)len;
	pthread_mutex_lock(&r->lock);
	*(uint8_t *)data = off == 1 ? rtc_read_reg(r, r->index) : 0xff;
	pthread_mutex_unlock(&r->lock);
}

static void
rtc_pio_write(struct device *dev, struct vcpu *vcpu, uint64_t off,
	      const void *data, unsigned len)
{
	struct rtc *r = dev->priv;
	uint8_t v = *(const uint8_t *)data;

	(void)vcpu;
	(void)len;
	pthread_mutex_lock(&r->lock);
	if (off == 0) {
		r->index = v & 0x7f;
	} else if (r->index == RTC_STATUS_B) {
		r->cmos[RTC_STATUS_B] = v & (STB_24H | STB_BINARY);
	} else if (r->index > RTC_STATUS_D && r->index != RTC_CENTURY) {
		r->cmos[r->index] = v;
	}
	pthread_mutex_unlock(&r->lock);
}

static ssize_t
rtc_save(struct device *dev, void *buf, size_t cap)
{
	struct rtc *r = dev->priv;
	uint8_t *p = ds_begin(buf, cap, RTC_STATE_VERSION,
			      RTC_STATE_SIZE - DEVSTATE_HDR_SIZE);

	if (!p)
		return -1;
	pthread_mutex_lock(&r->lock);
	ds_put8(&p, r->index);
	ds_put8(&p, 0);
	ds_put16(&p, 0);
	memcpy(p, r->cmos, sizeof(r->cmos));
	pthread_mutex_unlock(&r->lock);
	return RTC_STATE_SIZE;
}

/* Registers the model computes or never stores: always 0 in cmos[]. */
static int
rtc_computed(unsigned reg)
{
	return reg <= RTC_STATUS_A || reg == RTC_STATUS_C ||
	       reg == RTC_STATUS_D || reg == RTC_CENTURY;
}

static int
rtc_restore(struct device *dev, const void *buf, size_t len, char *why,
	    size_t whylen)
{
	struct rtc *r = dev->priv;
	const uint8_t *p =
		ds_open(buf, len, "rtc", RTC_STATE_VERSION,
			RTC_STATE_SIZE - DEVSTATE_HDR_SIZE, why, whylen);
	uint8_t index, cmos[128];

	if (!p)
		return -1;
	index = ds_get8(&p);
	if (index > 0x7f)
		return ds_fail(why, whylen, EINVAL,
			       "rtc state: CMOS index 0x%02x out of range "
			       "0..0x7f",
			       index);
	if (p[0] | p[1] | p[2])
		return ds_fail(why, whylen, EINVAL,
			       "rtc state: reserved bytes 5..7 not zero");
	memcpy(cmos, p + 3, sizeof(cmos));
	for (unsigned i = 0; i < sizeof(cmos); i++)
		if (rtc_computed(i) && cmos[i])
			return ds_fail(why, whylen, EINVAL,
				       "rtc state: clock register 0x%02x is "
				       "0x%02x, not 0",
				       i, cmos[i]);
	if (cmos[RTC_STATUS_B] & ~(STB_24H | STB_BINARY))
		return ds_fail(why, whylen, EINVAL,
			       "rtc state: status B 0x%02x has bits this "
			       "model does not keep",
			       cmos[RTC_STATUS_B]);
	pthread_mutex_lock(&r->lock);
	r->index = index;
	memcpy(r->cmos, cmos, sizeof(cmos));
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void
rtc_free(struct device *dev)
{
	struct rtc *r = dev->priv;

	pthread_mutex_destroy(&r->lock);
	free(r);
}

static const struct dev_ops rtc_ops = {
	.name = "rtc",
	.pio_read = rtc_pio_read,
	.pio_write = rtc_pio_write,
	.save = rtc_save,
	.restore = rtc_restore,
	.free = rtc_free,
};

int
rtc_create(struct vm *vm)
{
	struct rtc *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	pthread_mutex_init(&r->lock, NULL);
	r->dev.ops = &rtc_ops;
	r->dev.priv = r;
	r->cmos[RTC_STATUS_B] = STB_24H;
	return vm_add_device(vm, &r->dev, BUS_PIO, 0x70, 2);
}
