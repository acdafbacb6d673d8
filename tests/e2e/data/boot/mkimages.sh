#!/bin/sh
# Builds the tiny boot-protocol guests of guest.S (see there) into a
# folder, default build/tests/e2e/boot:
#
#   mb-aout.bin   multiboot v1 flat binary (header address fields)
#   mb-elf32.elf  ELF32 with a multiboot v1 header
#   pvh.elf       ELF64 with the Xen PVH entry note (32-bit entry)
#   elf64.elf     plain ELF64 (64-bit entry, RDI 'AVM1')
#
# Each prints "AVM-BOOT-OK <format> cmdline=[...]" on COM1 and powers off
# through the ACPI PM1a control port.  Needs gcc (or $CC) with the GNU
# assembler, ld and objcopy from binutils.  Exit status 0, or 1 with a
# message.
set -eu

here=$(dirname "$0")
out=${1:-build/tests/e2e/boot}
cc=${CC:-gcc}
ld=${LD:-ld}
objcopy=${OBJCOPY:-objcopy}
ldflags="--build-id=none -z max-page-size=0x1000 -e entry"

for t in "$cc" "$ld" "$objcopy"; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "mkimages.sh: '$t' not found (install gcc and binutils)" >&2
		exit 1
	}
done
mkdir -p "$out"
if "$ld" --help 2>/dev/null | grep -q no-warn-rwx-segments; then
	ldflags="$ldflags --no-warn-rwx-segments"
fi

# One RWX PT_LOAD at 1 MiB whose file layout follows its addresses (what
# the multiboot address fields need), the ELF headers not loaded, and a
# PT_NOTE for the PVH note.
cat >"$out/guest.ld" <<'LDS'
PHDRS
{
	image PT_LOAD FLAGS(7);
	note PT_NOTE;
}
SECTIONS
{
	. = 0x100000;
	.text : { *(.text) } :image
	.rodata : { *(.rodata) } :image
	.note.Xen : { *(.note.Xen) } :image :note
	.data : { *(.data) } :image
	_edata = .;
	.bss : { *(.bss) } :image
	_end = .;
	/DISCARD/ : { *(.note.gnu.property) *(.eh_frame) }
}
LDS

img() {
	name=$1 fmt=$2 bits=$3 emu=$4
	shift 4
	"$cc" -c -m"$bits" -D"$fmt" -o "$out/$name.o" "$here/guest.S"
	# shellcheck disable=SC2086
	"$ld" -m "$emu" $ldflags -T "$out/guest.ld" "$@" -o "$out/$name.elf" \
		"$out/$name.o"
	rm -f "$out/$name.o"
}

img mb-aout FMT_MB_AOUT 32 elf_i386
"$objcopy" -O binary "$out/mb-aout.elf" "$out/mb-aout.bin"
rm -f "$out/mb-aout.elf"
img mb-elf32 FMT_MB_ELF 32 elf_i386
img pvh FMT_PVH 64 elf_x86_64
img elf64 FMT_ELF64 64 elf_x86_64
rm -f "$out/guest.ld"
echo "mkimages.sh: built mb-aout.bin mb-elf32.elf pvh.elf elf64.elf in $out"
