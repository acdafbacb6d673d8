#!/bin/sh
# Installs, with apt-get, the Debian 12 packages AVM needs to build, test
# and benchmark, and only those that are missing.  Run as root (make demo
# and make check call it); as another user it only says what is missing.
set -eu

pkgs="build-essential pkg-config clang libclang-rt-14-dev clang-format
libyaml-dev libssh2-1-dev zlib1g-dev libibverbs-dev librdmacm-dev
ibverbs-providers libssl-dev libncurses-dev
bats bats-assert bats-support jq python3 python3-yaml mandoc valgrind tmux
iproute2 openssh-server openssh-client procps
qemu-system-x86 cpio xz-utils zstd acpica-tools"

missing=
for p in $pkgs; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case $st in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: run 'make deps' as root, or install them with apt-get" >&2
	exit 69
fi
echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends $missing >/dev/null; then
	echo "deps.sh: apt-get install failed; updating the package lists and retrying" >&2
	apt-get update >/dev/null
	apt-get install -y --no-install-recommends $missing >/dev/null
fi
