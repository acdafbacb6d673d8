/*
 * CMOS RTC at ports 0x70 (index; bit 7 is the NMI mask) and 0x71 (data).
 * The clock registers read the host's UTC time at each access, in BCD and
 * 24-hour form as status B says; writes to them are ignored (the guest
 * cannot move the host's clock).  The rest is 128 bytes of plain CMOS.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

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
