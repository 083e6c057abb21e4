#!/usr/bin/env bash
# Regenerates the kernel tables in docs/kernel-matrix.md from real runs: on this host and on each matrix kernel,
# `tapio probe --json` and load-collectors.js (every collector started for real), then render-doc.js.
#   gen-doc.sh [OUT-DIR] [KVER-PATTERN...]      defaults: /tmp/tapio-kernel-doc, kernels 5.10 6.1 6.12 arm64-6.1
# arm64-K is Debian's arm64 kernel K under qemu-system-aarch64 (run.sh KM_ARCH=arm64; `npm run build:arm64` first).
# Writes OUT/probe-K.json and OUT/collectors-K.jsonl per kernel (K = host for this machine). Build first.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-/tmp/tapio-kernel-doc}"; shift || true
kernels=("$@"); [ ${#kernels[@]} -gt 0 ] || kernels=(5.10 6.1 6.12 arm64-6.1)
mkdir -p "$out"

(cd "$root" && node bin/tapio.js probe --json > "$out/probe-host.json" && node scripts/kernel-matrix/load-collectors.js > "$out/collectors-host.jsonl")
echo "host: done" >&2
for k in "${kernels[@]}"; do
  # One boot per kernel: the probe's JSON on one line, then the collectors' rows.
  arch=amd64; pattern=$k
  case "$k" in arm64-*) arch=arm64; pattern=${k#arm64-} ;; esac
  KM_ARCH=$arch KM_TIMEOUT=900 bash "$here/run.sh" "$pattern" sh -c 'node bin/tapio.js probe --json > /km/probe.json; rc=$?; tr -d "\n" < /km/probe.json; echo; node scripts/kernel-matrix/load-collectors.js; exit $((rc + $?))' \
    > "$out/raw-$k.txt" 2> "$out/raw-$k.log" || { echo "$k: failed, see $out/raw-$k.log" >&2; exit 1; }
  grep '^{  "kernelRelease"' "$out/raw-$k.txt" > "$out/probe-$k.json"
  grep '^{"collector"' "$out/raw-$k.txt" > "$out/collectors-$k.jsonl"
  echo "$k: $(tail -n 1 "$out/raw-$k.log")" >&2
done
node "$here/render-doc.js" "$out" "$root/docs/kernel-matrix.md" host "${kernels[@]}"
