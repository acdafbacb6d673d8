/*
 * Node 0's network cards: the taps of --net and the cluster file's
 * vm.nets, each a virtio-net card (dev/virtio-net.c) on the MMIO bus.
 *
 * A start-up row of its own right after the disks': every tap is opened
 * before placement, KVM, other nodes or sockets, so a bad one stops
 * avm-run at once with its name, on a machine without KVM too:
 *
 *   64  a bad --net (syntax, interface name, MAC)
 *   65  the name is an interface that is not a tap
 *   69  no tun driver (/dev/net/tun)
 *   75  another process has the tap open
 *   77  creating the tap (or opening another user's) needs
 *       CAP_NET_ADMIN
 *
 * A tap that does not exist is created, not persistent, and brought up:
 * the kernel removes it when avm-run's descriptor closes, however avm-run
 * ends (kill -9 too), so nothing is left.  A tap that exists (made with
 * `ip tuntap add`, perhaps on a bridge) is used as it is and stays.
 *
 * Where the guest finds them: card i decodes VMMIO_SIZE bytes at
 * NET_BASE + i * 4 KiB, right after the disks' pages, and drives IOAPIC
 * pin 16 + i, level-triggered and active high.  The ISA lines are the
 * disks' (disks.c), and the kernel command line's virtio_mmio.device=
 * can only name those on x86 with ACPI, so the cards are announced in
 * the DSDT alone (LNRO0005, Linux's virtio-mmio match).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "avm/log.h"
#include "avm/util.h"

#include "arch/x86/acpi.h"
#include "dev/tapdev.h"
#include "dev/virtio-mmio.h"
#include "dev/virtio-net.h"
#include "vm.h"

#define NET_BASE 0xd0008000ull /* after VM_DISKS_MAX pages of disks */
#define NET_STRIDE 0x1000ull
#define NET_GSI 16

_Static_assert(VM_DISKS_MAX * 0x1000ull + 0xd0000000ull <= NET_BASE,
	       "the cards' pages follow the disks'");
_Static_assert(NET_GSI + VM_NETS_MAX <= 24, "the IOAPIC has 24 pins");

uint64_t
vm_net_base(unsigned i)
{
	return NET_BASE + NET_STRIDE * i;
}

unsigned
vm_net_gsi(unsigned i)
{
	return NET_GSI + i;
}

int
vm_net_mac_parse(const char *s, uint8_t mac[6])
{
	unsigned v[6];

	/* Exactly XX:XX:XX:XX:XX:XX: checked first, since scanf's %x
	 * would also take a sign, white space or "0x". */
	if (strlen(s) != 17)
		return -1;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return -1;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	/* A card's own address: unicast (bit 0 of the first byte clear),
	 * not all zeros. */
	if (mac[0] & 1 ||
	    !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -1;
	return 0;
}

int
vm_net_parse(struct vm_net *n, char *arg, char *why, size_t whylen)
{
	char *save = NULL, *tok;

	memset(n, 0, sizeof(*n));
	for (tok = strtok_r(arg, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "tap=", 4)) {
			n->tap = tok + 4;
			if (tapdev_name_ok(n->tap, why, whylen) < 0)
				return -1;
		} else if (!strncmp(tok, "mac=", 4)) {
			if (vm_net_mac_parse(tok + 4, n->mac) < 0) {
				snprintf(why, whylen,
					 "bad mac '%s': six hex bytes "
					 "XX:XX:XX:XX:XX:XX, unicast, not "
					 "all zero",
					 tok + 4);
				return -1;
			}
			n->has_mac = 1;
		} else {
			snprintf(why, whylen,
				 "unknown '%s': tap=NAME[,mac=XX:XX:XX:XX:XX:"
				 "XX]",
				 tok);
			return -1;
		}
	}
	if (!n->tap) {
		snprintf(why, whylen, "no tap=NAME");
		return -1;
	}
	return 0;
}

/* A locally administered unicast address of the VM's name and the card:
 * the same on every run, another for another VM. */
static void
default_mac(const char *name, unsigned i, uint8_t mac[6])
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ i) * 16777619u;
	mac[0] = 0x02;
	mac[1] = 0x41; /* 'A' */
	mac[2] = 0x56; /* 'V' */
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

static int
net_status(int e)
{
	switch (e) {
	case EBUSY:
		return AVM_EX_TEMPFAIL;
	case EINVAL:
		return AVM_EX_DATAERR;
	case EPERM:
	case EACCES:
		return AVM_EX_NOPERM;
	case ENOENT:
	case ENODEV:
		return AVM_EX_UNAVAILABLE;
	default:
		return AVM_EX_OSERR;
	}
}

int
vm_nets(struct vm *vm)
{
	char why[300];
	bool created;
	unsigned i;

	for (i = 0; i < VM_NETS_MAX; i++)
		vm->net_fd[i] = -1;
	if (vm->node != 0 || !vm->opts.nnets)
		return AVM_EX_OK; /* devices live on node 0 */
	if (vm->opts.nnets > VM_NETS_MAX) {
		log_err("%u network cards: avm-run offers at most %d",
			vm->opts.nnets, VM_NETS_MAX);
		return AVM_EX_USAGE;
	}
	for (i = 0; i < vm->opts.nnets; i++) {
		const char *tap = vm->opts.nets[i].tap;

		for (unsigned j = 0; j < i; j++) {
			if (!strcmp(vm->opts.nets[j].tap, tap)) {
				log_err("tap '%s' is named twice: a tap is "
					"one card's",
					tap);
				return AVM_EX_USAGE;
			}
		}
		vm->nnets = i + 1;
		vm->net_fd[i] = tapdev_open(tap, &created, why, sizeof(why));
		if (vm->net_fd[i] < 0) {
			int e = errno;

			log_err("%s", why);
			return net_status(e);
		}
		vm->net_created[i] = created;
		if (!created && tapdev_is_up(tap) == 0)
			log_warn("tap '%s' is down: the guest's frames are "
				 "dropped until it is up (ip link set %s up)",
				 tap, tap);
		log_debug("net %u: tap '%s'%s, at %#" PRIx64 " GSI %u", i, tap,
			  created ? " (made for this VM)" : "", vm_net_base(i),
			  vm_net_gsi(i));
	}
	return AVM_EX_OK;
}

void
vm_nets_release(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nnets; i++) {
		if (vm->net_fd[i] >= 0)
			close(vm->net_fd[i]);
		vm->net_fd[i] = -1;
	}
	vm->nnets = 0;
}

int
vm_nets_attach(struct vm *vm)
{
	struct vnet_cfg cfg;
	struct vnet *v;

	for (unsigned i = 0; i < vm->nnets; i++) {
		const struct vm_net *n = &vm->opts.nets[i];

		vm->net_line[i].vm = vm;
		vm->net_line[i].gsi = vm_net_gsi(i);
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = vm->net_fd[i];
		if (n->has_mac)
			memcpy(cfg.mac, n->mac, 6);
		else
			default_mac(vm->opts.name, i, cfg.mac);
		cfg.mem = (struct vq_mem){ vm_virtio_ram, vm };
		cfg.set_irq = vm_virtio_irq;
		cfg.irq_opaque = &vm->net_line[i];
		cfg.log = vm_virtio_log;
		vm->net_fd[i] = -1; /* the card's now, even on failure */
		v = vnet_new(&cfg);
		if (!v || vm_add_device(vm, vnet_device(v), BUS_MMIO,
					vm_net_base(i), VMMIO_SIZE) < 0) {
			log_err("tap '%s': device: %s", n->tap,
				strerror(errno));
			return -1;
		}
		log_info("net %u: tap '%s', MAC "
			 "%02x:%02x:%02x:%02x:%02x:%02x",
			 i, n->tap, cfg.mac[0], cfg.mac[1], cfg.mac[2],
			 cfg.mac[3], cfg.mac[4], cfg.mac[5]);
	}
	return 0;
}

unsigned
vm_nets_acpi(const struct vm *vm, struct acpi_vmmio *out)
{
	for (unsigned i = 0; i < vm->nnets; i++)
		out[i] = (struct acpi_vmmio){ vm_net_base(i), VMMIO_SIZE,
					      vm_net_gsi(i) };
	return vm->nnets;
}
