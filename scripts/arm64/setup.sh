#!/usr/bin/env bash
# Installs what the arm64 build and test need, only what is missing (a second run costs a few dpkg queries):
# the arm64 architecture in dpkg, the aarch64 cross compiler, libbpf/libelf/zlib for arm64 (the addon links them),
# qemu-system-arm (the arm64 VM of test:arm64) and qemu-user-static (the image's second debootstrap stage).
# Kept out of scripts/setup.sh so an x86-only `npm run setup` does not fetch the arm64 package index.
set -euo pipefail
[ "$(uname -m)" = x86_64 ] || { echo "arm64 setup: cross-building from $(uname -m) is not supported (build natively with npm run setup)" >&2; exit 2; }
DEBS=(g++-aarch64-linux-gnu libbpf-dev:arm64 libelf-dev:arm64 zlib1g-dev:arm64 qemu-system-arm qemu-user-static
      binfmt-support kmod cpio xz-utils zstd debootstrap)

# shellcheck source=../lib/debs.sh
source "$(dirname "$0")/../lib/debs.sh"
mapfile -t missing < <(missing_debs "${DEBS[@]}")
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "arm64 setup: missing Debian packages: ${missing[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
  echo "arm64 setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  lock=(-o DPkg::Lock::Timeout=900)  # other apt users (setup of another checkout) finish first
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt-get "${lock[@]}" update -qq
  elif ! apt-cache show libbpf-dev:arm64 >/dev/null 2>&1; then
    apt-get "${lock[@]}" update -qq
  fi
  apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# arm64 binaries run on this machine through qemu-user (debootstrap's second stage, `docker run --platform
# linux/arm64`): binfmt_misc mounted and qemu-aarch64 registered (with the F flag, so it works inside chroots).
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && [ "$(id -u)" = 0 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || echo "arm64 setup: could not register qemu-aarch64 with binfmt_misc; arm64 binaries will not run here" >&2
fi
