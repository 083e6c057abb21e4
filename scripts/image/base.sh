#!/usr/bin/env bash
# Makes the Debian base of the agent image: `debootstrap --variant=minbase` of bookworm with the shared libraries the
# agent links (libbpf1, libelf1, zlib1g, libstdc++6), then trimmed to what runs: no apt, package lists, caches,
# manuals, locales or iconv modules (copyright files stay). Writes a root filesystem tarball for `docker import`.
# Cached: the tarball's name carries a hash of everything that decides its content, so it is made once.
# ARCH arm64 on an x86 machine: `debootstrap --foreign`, then the second stage in a chroot whose arm64 binaries run
# under qemu-user (binfmt_misc; scripts/arm64/setup.sh installs and registers it). test:arm64 boots this too.
# Usage: base.sh CACHE_DIR [ARCH]   -> prints the tarball's path (ARCH: amd64, the default, or arm64)
set -euo pipefail
cache=${1:?usage: base.sh CACHE_DIR [ARCH]}
arch=${2:-amd64}
case "$arch" in
  amd64) triplet=x86_64-linux-gnu ;;
  arm64) triplet=aarch64-linux-gnu ;;
  *) echo "base: ARCH $arch is not supported (amd64, arm64)" >&2; exit 2 ;;
esac
suite=bookworm
include=libbpf1,libelf1,zlib1g,libstdc++6
# The mirror apt already uses on this machine (only Debian's mirror is reachable), else Debian's default.
mirror=${TAPIO_DEBIAN_MIRROR:-$( { grep -rhoE '^(deb|URIs:) +https?://[^ ]*/debian/?( |$)' \
  /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true; } | head -1 | awk '{print $2}')}
mirror=${mirror:-http://deb.debian.org/debian}

key=$( (echo "$suite $include $arch"; cat "$0") | sha256sum | cut -c1-12)
out="$cache/base-$suite-$arch-$key.tar"
if [ -s "$out" ]; then echo "$out"; exit 0; fi

command -v debootstrap >/dev/null || { echo "base: debootstrap is not installed (npm run setup installs it)" >&2; exit 3; }
mkdir -p "$cache"
root=$(mktemp -d "$cache/rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
log="$cache/debootstrap-$arch.log"
host_arch=$(dpkg --print-architecture)
if [ "$arch" = "$host_arch" ]; then
  echo "base: debootstrap $suite from $mirror (about a minute, once)" >&2
  stages=(debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror")
else
  [ -e "/proc/sys/fs/binfmt_misc/qemu-${triplet%%-*}" ] || bash "$(dirname "$0")/../arm64/setup.sh"
  echo "base: debootstrap $suite for $arch from $mirror, second stage under qemu-user (a few minutes, once)" >&2
  stages=(debootstrap --foreign --arch="$arch" --variant=minbase --include="$include" "$suite" "$root" "$mirror")
fi
if ! "${stages[@]}" > "$log" 2>&1 || { [ "$arch" != "$host_arch" ] && ! chroot "$root" /debootstrap/debootstrap --second-stage >> "$log" 2>&1; }; then
  echo "base: debootstrap failed (is $mirror reachable?); last lines of $log:" >&2
  tail -5 "$log" >&2
  exit 3
fi
# Nothing is installed into the image after this: the package manager itself goes, dpkg's database stays (so
# scanners can still list what is inside).
chroot "$root" dpkg --purge apt > /dev/null
rm -rf "$root"/var/cache/apt "$root"/var/lib/apt "$root"/var/log/* "$root"/usr/share/man "$root"/usr/share/info \
  "$root"/usr/share/locale "$root"/usr/share/lintian "$root/usr/lib/$triplet/gconv"
find "$root"/usr/share/doc -mindepth 2 ! -name copyright -delete
tar --numeric-owner --sort=name -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "$out"
