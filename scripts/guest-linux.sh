#!/bin/sh
# Fetches Debian's amd64 kernel and builds a busybox initramfs for the
# Linux boot checks of avm-run.  `make guest-linux` runs it.
#
# Writes into assets/linux/ (git-ignored):
#   bzImage            the kernel package's /boot/vmlinuz-VERSION (64-bit
#                      boot protocol)
#   vmlinux            the ELF kernel decompressed from the bzImage payload;
#                      it carries the PVH entry note when the kernel was built
#                      with CONFIG_PVH (Debian's is)
#   config             the kernel's /boot/config-VERSION
#   initrd.img         gzip'ed cpio (newc): static busybox and an /init that
#                      prints AVM_INITRD_OK and powers the machine off
#   VERSION            the package the files came from (idempotence stamp)
#
# Nothing is installed on the host: packages are fetched with
# `apt-get download` and unpacked with `dpkg-deb -x`.
#
# Environment: AVM_LINUX_PKG names the kernel package to fetch (default:
# linux-image-$(uname -r) when Debian has it, else what linux-image-amd64
# depends on).  Exit status: 0 done, 1 failure (the message says which step).

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dest="$top/assets/linux"

say() {
	printf 'guest-linux: %s\n' "$*" >&2
}

die() {
	printf 'guest-linux: %s\n' "$*" >&2
	exit 1
}

need() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' not found: $2"
}

need apt-get "this script needs Debian's apt"
need apt-cache "this script needs Debian's apt"
need dpkg-deb "this script needs dpkg"
need gzip "install gzip"
need od "install coreutils"

# apt-cache knows nothing before the first `apt-get update`.
pkg_known() {
	apt-cache show "$1" >/dev/null 2>&1
}

if ! pkg_known linux-image-amd64; then
	say "apt has no package lists; running apt-get update"
	apt-get update -qq || die "apt-get update failed"
fi

if [ -n "${AVM_LINUX_PKG:-}" ]; then
	kpkg=$AVM_LINUX_PKG
elif pkg_known "linux-image-$(uname -r)" &&
	case "$(uname -r)" in *-amd64) true ;; *) false ;; esac; then
	kpkg="linux-image-$(uname -r)"
else
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[^ ]*-amd64\)$/\1/p' |
		head -n 1)
	[ -n "$kpkg" ] ||
		die "cannot tell which kernel linux-image-amd64 depends on"
fi
kver=$(apt-cache show "$kpkg" 2>/dev/null |
	sed -n 's/^Version: //p' | head -n 1)
[ -n "$kver" ] || die "apt does not know '$kpkg'"
stamp="$kpkg $kver"

mkdir -p "$dest"
if [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$stamp" ] &&
	[ -f "$dest/bzImage" ] && [ -f "$dest/initrd.img" ]; then
	say "up to date: $stamp in $dest"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
# apt's sandbox user must be able to write the download folder.
chmod 0755 "$tmp"

fetch() {
	say "downloading $1"
	(cd "$tmp" && apt-get download -q "$1" >"$tmp/apt.log" 2>&1) || {
		cat "$tmp/apt.log" >&2
		die "apt-get download '$1' failed (no network or no such package?)"
	}
}

# --- kernel --------------------------------------------------------------

fetch "$kpkg=$kver"
deb=$(ls "$tmp"/linux-image-*.deb)
say "unpacking $(basename "$deb")"
dpkg-deb -x "$deb" "$tmp/k"
vmlinuz=
for f in "$tmp"/k/boot/vmlinuz-*; do
	[ -f "$f" ] && vmlinuz=$f && break
done
[ -n "$vmlinuz" ] || die "'$(basename "$deb")' holds no /boot/vmlinuz-*"
kname=${vmlinuz##*/vmlinuz-}
cp "$vmlinuz" "$dest/bzImage.tmp"
mv "$dest/bzImage.tmp" "$dest/bzImage"
if [ -f "$tmp/k/boot/config-$kname" ]; then
	cp "$tmp/k/boot/config-$kname" "$dest/config"
fi
say "kernel $kname -> $dest/bzImage"

# --- vmlinux from the bzImage payload -------------------------------------
#
# The setup header says where the compressed kernel lies: payload_offset
# (0x248) and payload_length (0x24c) count from the start of the
# protected-mode code, which follows (setup_sects + 1) * 512 bytes of
# real-mode setup.  The last 4 bytes of the payload are the uncompressed
# size that the kernel's build appends; they are not part of the stream.

u8() {
	od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '
}
u32() {
	od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '
}

bz="$dest/bzImage"
setup_sects=$(u8 "$bz" 497)
[ "$setup_sects" -ne 0 ] || setup_sects=4
poff=$(u32 "$bz" 584)
plen=$(u32 "$bz" 588)
start=$(((setup_sects + 1) * 512 + poff))
rm -f "$dest/vmlinux"
if [ "$plen" -le 4 ]; then
	say "bzImage has no payload_offset/length: no vmlinux"
else
	tail -c +$((start + 1)) "$bz" | head -c $((plen - 4)) >"$tmp/payload"
	magic=$(od -An -tx1 -N6 "$tmp/payload" | tr -d ' \n')
	case "$magic" in
	1f8b*) dec="gzip -dc" ;;
	fd377a585a00) dec="xz -dc" ;;
	28b52ffd*) dec="zstd -dcq" ;;
	425a68*) dec="bzip2 -dc" ;;
	5d0000*) dec="xz -dc --format=lzma" ;;
	02214c18*) dec="lz4 -dc" ;;
	894c5a*) dec="lzop -dc" ;;
	*) dec= ;;
	esac
	if [ -z "$dec" ]; then
		say "unknown payload compression (magic $magic): no vmlinux"
	elif ! command -v "${dec%% *}" >/dev/null 2>&1; then
		say "payload needs '${dec%% *}', which is missing: no vmlinux"
	else
		say "decompressing the payload (${dec%% *}) -> $dest/vmlinux"
		$dec <"$tmp/payload" >"$tmp/vmlinux" ||
			die "decompressing the bzImage payload failed"
		[ "$(od -An -tx1 -N4 "$tmp/vmlinux" | tr -d ' \n')" = 7f454c46 ] ||
			die "the decompressed payload is not an ELF file"
		mv "$tmp/vmlinux" "$dest/vmlinux"
	fi
fi

# The PVH entry: an ELF note named "Xen" of type 18
# (XEN_ELFNOTE_PHYS32_ENTRY), present when the kernel has CONFIG_PVH=y.
if [ -f "$dest/vmlinux" ]; then
	if command -v readelf >/dev/null 2>&1; then
		if readelf -n "$dest/vmlinux" 2>/dev/null |
			grep -Eq '^[[:space:]]*Xen[[:space:]]+0x[0-9a-f]+[[:space:]].*(0x00000012|PHYS32_ENTRY)'; then
			say "vmlinux has the PVH entry note"
		else
			say "vmlinux has NO PVH entry note"
		fi
	elif [ -f "$dest/config" ] && grep -q '^CONFIG_PVH=y' "$dest/config"; then
		say "config says CONFIG_PVH=y (readelf missing, note not checked)"
	fi
fi

# --- initramfs ------------------------------------------------------------

fetch busybox-static
bdeb=$(ls "$tmp"/busybox-static_*.deb)
dpkg-deb -x "$bdeb" "$tmp/bb"
[ -x "$tmp/bb/bin/busybox" ] || die "'$(basename "$bdeb")' holds no /bin/busybox"

cat >"$tmp/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "AVM_INITRD_OK $(/bin/busybox uname -r) cpus=$(/bin/busybox nproc)"
/bin/busybox poweroff -f
EOF

# A cpio "newc" writer (the format the kernel unpacks): per entry a
# 110-byte ASCII header, the name NUL-terminated and padded to 4 bytes,
# the data padded to 4 bytes.  Writing it ourselves makes device nodes
# without root and the archive byte-for-byte reproducible (mtime 0).
cpio_ino=1
pad4() {
	n=$(((4 - $1 % 4) % 4))
	[ "$n" -eq 0 ] || head -c "$n" /dev/zero
}
# cpio_entry NAME MODE SIZE RDEVMAJOR RDEVMINOR [FILE | -s TARGET]
cpio_entry() {
	name=$1 mode=$2 size=$3
	nlen=$((${#name} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		"$cpio_ino" "$mode" 0 0 1 0 "$size" 0 0 "$4" "$5" "$nlen" 0
	printf '%s' "$name"
	head -c 1 /dev/zero
	pad4 $((110 + nlen))
	if [ "$#" -ge 6 ]; then
		if [ "$6" = -s ]; then
			printf '%s' "$7"
		else
			cat "$6"
		fi
		pad4 "$size"
	fi
	cpio_ino=$((cpio_ino + 1))
}
fsize() {
	wc -c <"$1" | tr -d ' '
}

say "building $dest/initrd.img (busybox $(dpkg-deb -f "$bdeb" Version))"
{
	for d in bin sbin dev proc sys; do
		cpio_entry "$d" $((0040755)) 0 0 0
	done
	cpio_entry dev/console $((0020600)) 0 5 1
	cpio_entry dev/ttyS0 $((0020600)) 0 4 64
	cpio_entry bin/busybox $((0100755)) "$(fsize "$tmp/bb/bin/busybox")" \
		0 0 "$tmp/bb/bin/busybox"
	cpio_entry bin/sh $((0120777)) 7 0 0 -s busybox
	cpio_entry init $((0100755)) "$(fsize "$tmp/init")" 0 0 "$tmp/init"
	cpio_ino=0
	cpio_entry TRAILER!!! 0 0 0 0
} >"$tmp/initrd.cpio"
gzip -9n <"$tmp/initrd.cpio" >"$dest/initrd.img"

printf '%s\n' "$stamp" >"$dest/VERSION"
say "done: $stamp"
