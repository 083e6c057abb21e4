#!/usr/bin/env bash
# Installs the host tools the kernel matrix needs (qemu, kmod for depmod/modprobe, busybox-static, xz, cpio),
# only the ones that are missing, so running it again is cheap.
set -euo pipefail

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v depmod >/dev/null || [ -x /sbin/depmod ] || need+=(kmod)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx insmod || need+=(busybox-static)
command -v xz >/dev/null || need+=(xz-utils)
command -v cpio >/dev/null || need+=(cpio)
command -v zstd >/dev/null || need+=(zstd)
command -v dpkg-deb >/dev/null || need+=(dpkg)

if [ ${#need[@]} -gt 0 ]; then
  echo "kernel-matrix setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # apt-get update only if the package lists do not know the packages yet.
  if ! apt-cache show "${need[0]}" >/dev/null 2>&1; then apt-get update -qq; fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
