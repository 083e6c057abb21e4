#!/usr/bin/env bash
# `npm run test:arm64` (after build:arm64): boots Debian bookworm's arm64 kernel under qemu-system-aarch64 (TCG) with
# an arm64 userspace (rootfs.sh) and this checkout's dist/, bpf/.output-arm64 and native/build-arm64, and runs
# guest.sh there: `tapio probe` and the loader/process/network tests.
#   test.sh [OUT-DIR] [TEST-FILE...]     default OUT-DIR /tmp/tapio-arm64
# Writes OUT/probe-arm64.json, OUT/tests-arm64.txt (TAP) and
# OUT/console.log; prints the node --test summary and exits non-zero when a step failed. Exit 2/124/125 as run.sh:
# no VM could be had / timed out / no result.
# Env: TAPIO_ARM64_KERNEL (default 6.1), KM_TIMEOUT (default 1500 s).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-/tmp/tapio-arm64}"; shift || true
mkdir -p "$out"
for f in bpf/.output-arm64/process.bpf.o native/build-arm64/Release/tapio_native.node dist/src/cli/main.js; do
  [ -e "$root/$f" ] || { echo "test:arm64: $f is missing; run 'npm run build:arm64' first" >&2; exit 2; }
done
set +e
KM_ARCH=arm64 KM_TIMEOUT="${KM_TIMEOUT:-1500}" KM_LOG_DIR="$out" bash "$root/scripts/kernel-matrix/run.sh" "${TAPIO_ARM64_KERNEL:-6.1}" \
  bash scripts/arm64/guest.sh "$@" > "$out/raw.txt" 2> "$out/run.log"
rc=$?
set -e
grep -a '^{  "kernelRelease"' "$out/raw.txt" > "$out/probe-arm64.json" || true
grep -av -e '^{  "kernelRelease"' -e '^arm64-guest:' "$out/raw.txt" > "$out/tests-arm64.txt" || true
grep -a '^arm64-guest:' "$out/raw.txt" || true
tail -n 1 "$out/run.log"
# node --test's own summary (the TAP trailer: tests, pass, fail, skipped, duration)
grep -aE '^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ' "$out/tests-arm64.txt" || { echo "test:arm64: no test summary; see $out/console.log and $out/run.log" >&2; tail -n 20 "$out/run.log" >&2; }
grep -aE '^ *not ok ' "$out/tests-arm64.txt" || true
exit "$rc"
