/* Tap interfaces; see tapdev.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "tapdev.h"

int
tapdev_name_ok(const char *name, char *why, size_t whylen)
{
	size_t n = strlen(name);

	if (n == 0 || n > TAPDEV_NAME_MAX) {
		snprintf(why, whylen,
			 "an interface name has 1 to %d bytes, '%s' has %zu",
			 TAPDEV_NAME_MAX, name, n);
		return -1;
	}
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		snprintf(why, whylen, "'%s' cannot name an interface", name);
		return -1;
	}
	for (const char *p = name; *p; p++) {
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p) ||
		    !isprint((unsigned char)*p)) {
			snprintf(why, whylen,
				 "'%s': an interface name has no '/', ':', "
				 "white space or control characters",
				 name);
			return -1;
		}
		/* Valid to the kernel, but TUNSETIFF takes it as a pattern
		 * and makes another name ("t%d": t0): not the tap named. */
		if (*p == '%') {
			snprintf(why, whylen,
				 "'%s': an interface name has no '%%' (the "
				 "kernel makes a name of its own from such a "
				 "pattern)",
				 name);
			return -1;
		}
	}
	return 0;
}

/* SIOCGIFFLAGS/SIOCSIFFLAGS through any socket. */
static int
if_flags(const char *name, short set, short *got)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = -1, e;

	if (s < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		*got = ifr.ifr_flags;
		r = 0;
		if (set && (ifr.ifr_flags & set) != set) {
			ifr.ifr_flags |= set;
			r = ioctl(s, SIOCSIFFLAGS, &ifr);
		}
	}
	e = errno;
	close(s);
	errno = e;
	return r;
}

int
tapdev_is_up(const char *name)
{
	short f;

	if (if_flags(name, 0, &f) < 0)
		return -1;
	return (f & IFF_UP) != 0;
}

int
tapdev_open(const char *name, bool *created, char *why, size_t whylen)
{
	struct ifreq ifr;
	short f;
	int fd, e;

	if (tapdev_name_ok(name, why, whylen) < 0) {
		errno = EINVAL;
		return -1;
	}
	*created = if_nametoindex(name) == 0;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		snprintf(why, whylen, "/dev/net/tun: %s%s", strerror(e),
			 e == ENOENT ? " (no tun driver: modprobe tun)"
			 : e == EACCES || e == EPERM
				 ? " (a tap needs root, CAP_NET_ADMIN or "
				   "access to /dev/net/tun)"
				 : "");
		errno = e;
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		e = errno;
		if (e == EBUSY)
			snprintf(why, whylen,
				 "tap '%s' is in use: another process has "
				 "it open",
				 name);
		else if (e == EINVAL && !*created)
			snprintf(why, whylen,
				 "'%s' is an interface that is not a tap",
				 name);
		else if (e == EPERM)
			snprintf(why, whylen,
				 "tap '%s': %s a tap needs CAP_NET_ADMIN "
				 "(root), or a tap made for this user "
				 "(ip tuntap add %s mode tap user USER)",
				 name, *created ? "creating" : "opening", name);
		else
			snprintf(why, whylen, "tap '%s': TUNSETIFF: %s", name,
				 strerror(e));
		close(fd);
		errno = e;
		return -1;
	}
	/* Ours: up, so that frames flow; another's stays as it is. */
	if (*created && if_flags(name, IFF_UP, &f) < 0) {
		e = errno;
		snprintf(why, whylen, "tap '%s': bringing it up: %s", name,
			 strerror(e));
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}
