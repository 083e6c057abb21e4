#!/usr/bin/env bash
# `npm run build:arm64`: builds Tapio for arm64 on this x86 machine, next to the host build and never over it:
#   bpf/.output-arm64/*.bpf.o   every bpf/*.bpf.c with -D__TARGET_ARCH_arm64 against the vmlinux.h of Debian
#                               bookworm's arm64 kernel (its BTF cut out of the kernel package's Image)
#   native/build-arm64/Release/tapio_native.node   the addon cross-compiled with g++-aarch64-linux-gnu against
#                               libbpf-dev:arm64 and Node's headers in /usr/include/node
# dist/ is architecture-free; the loader picks the -arm64 builds when it runs on arm64 (src/kernel/native.ts).
# Installs what it needs (scripts/arm64/setup.sh) and rebuilds only what changed. Exit 2: the tools or the arm64
# kernel could not be had (apt, mirror); any other failure is a build error.
# Env: TAPIO_ARM64_KERNEL  version prefix of the arm64 kernel whose BTF to build against (default 6.1).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/arm64/setup.sh || exit 2
kdir=$(KM_ARCH=arm64 bash scripts/kernel-matrix/prepare.sh "${TAPIO_ARM64_KERNEL:-6.1}") || exit 2
make -s -C bpf BPF_ARCH=arm64 BTF="$kdir/vmlinux.btf"

out=native/build-arm64/Release/tapio_native.node
if [ ! -f "$out" ] || [ -n "$(find native/src native/binding.gyp -newer "$out" 2>/dev/null)" ]; then
  echo "build:arm64: cross-compiling the native addon" >&2
  # node-gyp builds in <dir>/build: a staging folder that links to the sources keeps native/build (x86) intact.
  stage=native/.cross-arm64
  mkdir -p "$stage"
  ln -sfn ../binding.gyp "$stage/binding.gyp"
  ln -sfn ../src "$stage/src"
  (cd "$stage" && CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
    ../../node_modules/.bin/node-gyp rebuild --arch=arm64 --nodedir=/usr --loglevel=error >/dev/null)
  mkdir -p "$(dirname "$out")"
  cp "$stage/build/Release/tapio_native.node" "$out.tmp" && mv "$out.tmp" "$out"
fi
file -b "$out" | grep -q 'ARM aarch64' || { echo "build:arm64: $out is not an arm64 object: $(file -b "$out")" >&2; exit 1; }
echo "build:arm64: $(ls bpf/.output-arm64/*.bpf.o | wc -l) BPF objects in bpf/.output-arm64, addon $out" >&2
