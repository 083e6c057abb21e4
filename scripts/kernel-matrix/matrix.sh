#!/usr/bin/env bash
# Runs Tapio's kernel-facing checks on each kernel of the matrix and writes the results to a folder:
#   matrix.sh [OUT-DIR] [KVER-PATTERN...]      defaults: /tmp/tapio-kernel-matrix, kernels 5.10, 6.1 and 6.12
# Per kernel: `tapio probe --json` (probe-K.json) and the loader/network/process tests (tests-K.txt, TAP from
# node --test) and every implementation of the accept hook forced in turn (fallback-K.jsonl). Prints one summary line per kernel and per step; exits non-zero if any step failed.
# Build first on the host (npx tsc -p . and the native addon): the VM runs the host's dist/ and native/ as they are.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-/tmp/tapio-kernel-matrix}"; shift || true
kernels=("$@"); [ ${#kernels[@]} -gt 0 ] || kernels=(5.10 6.1 6.12)
tests="${KM_TESTS:-dist/test/kernel/loader.test.js dist/test/collectors/network.test.js dist/test/collectors/process.test.js}"
mkdir -p "$out"
status=0
for k in "${kernels[@]}"; do
  if KM_TIMEOUT=300 bash "$here/run.sh" "$k" node bin/tapio.js probe --json > "$out/probe-$k.json" 2> "$out/probe-$k.log"; then r=ok; else r="failed"; status=1; fi
  echo "$k probe: $r ($(tail -n 1 "$out/probe-$k.log"))"
  # shellcheck disable=SC2086  # the test list is a space-separated list of files
  if KM_TIMEOUT="${KM_TEST_TIMEOUT:-1500}" bash "$here/run.sh" "$k" node --test --test-concurrency=1 --test-reporter=tap $tests \
       > "$out/tests-$k.txt" 2> "$out/tests-$k.log"; then tr=ok; else tr="failed"; status=1; fi
  if KM_TIMEOUT=600 bash "$here/run.sh" "$k" node scripts/kernel-matrix/fallback-paths.js > "$out/fallback-$k.jsonl" 2> "$out/fallback-$k.log"; then r=ok; else r="failed"; status=1; fi
  echo "$k accept fallbacks: $r, $(grep -c '"ok":true' "$out/fallback-$k.jsonl" || true) of $(grep -c '"hook"' "$out/fallback-$k.jsonl" || true) implementations give the right accept event"
  echo "$k tests: $tr, $(grep -cE '^ *ok ' "$out/tests-$k.txt" || true) ok, $(grep -cE '^ *not ok ' "$out/tests-$k.txt" || true) not ok ($(tail -n 1 "$out/tests-$k.log"))"
done
exit "$status"
