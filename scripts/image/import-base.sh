#!/usr/bin/env bash
# Loads a base.sh root filesystem tarball into the current Docker daemon as a one-layer image of the given
# architecture. `docker import --platform` is ignored by dockerd 20.10 (the image would say amd64), so this writes
# the docker-archive by hand: the tarball as the layer, a config naming the architecture, a manifest, then
# `docker load`. Images built FROM it inherit its architecture.
#   import-base.sh TARBALL ARCH TAG       ARCH: amd64 or arm64
set -euo pipefail
tarball=${1:?usage: import-base.sh TARBALL ARCH TAG}; arch=${2:?}; tag=${3:?}
dir=$(mktemp -d "$(dirname "$tarball")/.archive.XXXXXX")
trap 'rm -rf "$dir"' EXIT
diff=$(sha256sum "$tarball" | cut -d' ' -f1)
mkdir -p "$dir/$diff"
ln "$tarball" "$dir/$diff/layer.tar" 2>/dev/null || cp "$tarball" "$dir/$diff/layer.tar"
variant=""; [ "$arch" = arm64 ] && variant=',"variant":"v8"'
printf '{"architecture":"%s"%s,"os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/image/base.sh","comment":"debootstrap minbase bookworm, trimmed"}]}' \
  "$arch" "$variant" "$diff" > "$dir/config.json"
cfg=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
mv "$dir/config.json" "$dir/$cfg.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$cfg" "$tag" "$diff" > "$dir/manifest.json"
tar -C "$dir" -cf - manifest.json "$cfg.json" "$diff/layer.tar" | docker load > /dev/null
