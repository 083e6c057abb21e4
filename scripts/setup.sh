#!/usr/bin/env bash
# Installs everything Tapio needs on a fresh Debian 12 machine, idempotently:
# Debian packages (only when one is missing), npm dependencies (only when the lock changed),
# then builds the BPF objects, the native addon and the TypeScript (each only when its sources changed).
set -euo pipefail
cd "$(dirname "$0")/.."

# Build needs: clang/llvm for CO-RE BPF, libbpf + libelf + zlib for the addon, bpftool for vmlinux.h.
# Test and benchmark needs: real container runtimes, peers to compare against (libbpf-tools, bpftrace), wrk,
# protocol peers (nghttp2, curl, apache2-bin: the one server here that takes an h2c Upgrade; nginx: a common TLS
# server, which the tests run from their own config, never as the system service).
# Image needs (`npm run image`, test/deploy): debootstrap makes the Debian base of the agent image.
DEBS=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make g++ python3 iproute2
      bpftrace libbpf-tools containerd runc docker.io podman busybox-static wrk clang-format iptables
      debootstrap nghttp2-client nghttp2-server curl apache2-bin nginx)

source scripts/lib/debs.sh
mapfile -t missing < <(missing_debs "${DEBS[@]}")
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; run 'npm run setup' as root or install them with apt-get" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  apt-get update -qq
  # No service may start from a package's postinst (nginx's would take port 80): policy-rc.d says no, the
  # Debian way, unless the machine already has one of its own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies: reinstall only when package-lock.json changed since the last install.
stamp=node_modules/.tapio-lock.sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# Tracepoint attach needs tracefs (or debugfs) mounted to find perf event ids.
if [ ! -e /sys/kernel/tracing/events ] && [ ! -e /sys/kernel/debug/tracing/events ] && [ "$(id -u)" = 0 ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || echo "setup: could not mount tracefs; tracepoint programs will not attach" >&2
fi

make -s -C bpf
bash scripts/build-native.sh
npx tsc -p .
node scripts/build-kubernetes-client.js
