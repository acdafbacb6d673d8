/*
 * A minimal virtio-blk driver (virtio 1.x over virtio-mmio, polling, no
 * interrupts) for avm-run's disk 0 at 0xd0000000: CPU 0 sets the device
 * up, then every CPU, on whichever node it runs, writes its own 8
 * sectors (CPU c: sectors 8c..8c+7, every byte of sector s holding
 * (s + 1) & 0xff), CPU 0 flushes, and every CPU reads its sectors back
 * and checks them.  One queue for all: a CPU holds a lock from submit to
 * completion.  The host then compares the image with the same pattern
 * (tests/e2e/35-disk.bats).
 *
 * With "ro" on the command line the disk must be read-only: a write must
 * fail with VIRTIO_BLK_S_IOERR and reads work.
 */
#include "kit.h"
#include "virtio.h"

KIT_PROGRAM("virtio-blk");

#define BASE 0xd0000000ull

#define QNUM 8
#define SECTORS_PER_CPU 8
#define MAX_CPUS 64

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4

static struct desc ring_desc[QNUM] __attribute__((aligned(4096)));
static volatile uint16_t ring_avail[2 + QNUM + 1] __attribute__((aligned(64)));
static volatile uint32_t ring_used[1 + 2 * QNUM + 1]
	__attribute__((aligned(64)));

static struct req {
	uint32_t type, reserved;
	uint64_t sector;
	volatile uint8_t status;
} req[MAX_CPUS] __attribute__((aligned(64)));
static uint8_t data[MAX_CPUS][SECTORS_PER_CPU * 512]
	__attribute__((aligned(4096)));
static struct kit_lock qlock;
static uint16_t avail_idx;

static inline uint32_t
rd(uint64_t off)
{
	return *(volatile uint32_t *)(uintptr_t)(BASE + off);
}

static inline void
wr(uint64_t off, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(BASE + off) = v;
}

static void
setup(void)
{
	uint64_t a;
	uint32_t st;

	if (rd(R_MAGIC) != 0x74726976 || rd(R_VERSION) != 2 ||
	    rd(R_DEVICE_ID) != 2)
		kit_fail("no virtio-blk v2 at %#lx (magic %#x version %u id "
			 "%u)",
			 (unsigned long)BASE, rd(R_MAGIC), rd(R_VERSION),
			 rd(R_DEVICE_ID));
	wr(R_STATUS, 0);
	wr(R_STATUS, 1);
	wr(R_STATUS, 1 | 2);
	wr(R_DEV_FEAT_SEL, 1);
	if (!(rd(R_DEV_FEAT) & 1))
		kit_fail("VIRTIO_F_VERSION_1 not offered");
	wr(R_DRV_FEAT_SEL, 0);
	wr(R_DRV_FEAT, 1u << 9); /* FLUSH */
	wr(R_DRV_FEAT_SEL, 1);
	wr(R_DRV_FEAT, 1); /* VERSION_1 */
	wr(R_STATUS, 1 | 2 | 8);
	if (!(rd(R_STATUS) & 8))
		kit_fail("FEATURES_OK refused");
	wr(R_QUEUE_SEL, 0);
	if (rd(R_QUEUE_NUM_MAX) < QNUM)
		kit_fail("queue max %u below %u", rd(R_QUEUE_NUM_MAX), QNUM);
	wr(R_QUEUE_NUM, QNUM);
	a = (uint64_t)(uintptr_t)ring_desc;
	wr(R_DESC_LO, (uint32_t)a);
	wr(R_DESC_HI, (uint32_t)(a >> 32));
	a = (uint64_t)(uintptr_t)ring_avail;
	wr(R_AVAIL_LO, (uint32_t)a);
	wr(R_AVAIL_HI, (uint32_t)(a >> 32));
	a = (uint64_t)(uintptr_t)ring_used;
	wr(R_USED_LO, (uint32_t)a);
	wr(R_USED_HI, (uint32_t)(a >> 32));
	wr(R_QUEUE_READY, 1);
	wr(R_STATUS, 1 | 2 | 8 | 4);
	st = rd(R_STATUS);
	if (st != (1 | 2 | 4 | 8))
		kit_fail("status %#x after DRIVER_OK", st);
	kit_printf("virtio-blk: %lu sectors\n",
		   (unsigned long)(rd(R_CONFIG) | (uint64_t)rd(R_CONFIG + 4)
							  << 32));
}

/* One request of CPU cpu, submitted and waited for; returns its status. */
static uint8_t
request(unsigned cpu, uint32_t type, uint64_t sector, uint32_t len)
{
	struct req *r = &req[cpu];
	uint16_t want;
	uint8_t st;

	kit_lock(&qlock);
	r->type = type;
	r->sector = sector;
	r->status = 0xff;
	ring_desc[0] = (struct desc){ (uintptr_t)r, 16, 1, 1 };
	if (len) {
		ring_desc[0].next = 1;
		ring_desc[1] =
			(struct desc){ (uintptr_t)data[cpu], len,
				       (uint16_t)(1 | (type == T_IN ? 2 : 0)),
				       2 };
	} else {
		ring_desc[0].next = 2;
	}
	ring_desc[2] = (struct desc){ (uintptr_t)&r->status, 1, 2, 0 };
	ring_avail[2 + (avail_idx % QNUM)] = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ring_avail[1] = ++avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr(R_QUEUE_NOTIFY, 0);
	want = avail_idx;
	/* used->idx is the high half of the ring's first word. */
	KIT_WAIT((uint16_t)(ring_used[0] >> 16) == want, 10000,
		 "cpu %u: request type %u not completed", cpu, type);
	st = r->status;
	kit_unlock(&qlock);
	return st;
}

static uint8_t
pat(unsigned cpu, unsigned i)
{
	return (uint8_t)(cpu * SECTORS_PER_CPU + i / 512 + 1);
}

void
prog_main(unsigned cpu)
{
	uint64_t first = (uint64_t)cpu * SECTORS_PER_CPU;
	bool ro = kit_arg_word("ro");
	uint8_t st;

	if (kit_ncpus > MAX_CPUS)
		kit_fail("%u CPUs, at most %u", kit_ncpus, MAX_CPUS);
	if (cpu == 0)
		setup();
	kit_barrier();
	for (unsigned i = 0; i < sizeof(data[cpu]); i++)
		data[cpu][i] = pat(cpu, i);
	st = request(cpu, T_OUT, first, sizeof(data[cpu]));
	if (ro && st != 1)
		kit_fail("cpu %u: write to a read-only disk: status %u, not "
			 "IOERR",
			 cpu, st);
	if (!ro && st != 0)
		kit_fail("cpu %u: write of sectors %lu..: status %u", cpu,
			 (unsigned long)first, st);
	kit_barrier();
	if (cpu == 0 && (st = request(0, T_FLUSH, 0, 0)) != 0)
		kit_fail("flush: status %u", st);
	kit_barrier();
	for (unsigned i = 0; i < sizeof(data[cpu]); i++)
		data[cpu][i] = 0;
	st = request(cpu, T_IN, first, sizeof(data[cpu]));
	if (st != 0)
		kit_fail("cpu %u: read: status %u", cpu, st);
	for (unsigned i = 0; !ro && i < sizeof(data[cpu]); i++)
		if (data[cpu][i] != pat(cpu, i))
			kit_fail("cpu %u: byte %u read %#x, wrote %#x", cpu, i,
				 data[cpu][i], pat(cpu, i));
	kit_printf("virtio-blk cpu %u: sectors %lu..%lu %s\n", cpu,
		   (unsigned long)first,
		   (unsigned long)first + SECTORS_PER_CPU - 1,
		   ro ? "refused, read" : "written, read back");
	kit_barrier();
	if (cpu == 0)
		kit_pass();
}
