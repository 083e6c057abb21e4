#!/usr/bin/env bash
# Runs the security collector's host tests (dist/test/collectors/security.test.js: real triggers, real programs) twice
# on the running kernel: once as the probe chooses (the LSM forms where BPF LSM works) and once with the kinds
# preferred over tracepoints forced off (TAPIO_SECURITY_FORCE_FALLBACK=1: tracepoints and tp_btf). Each run dumps
# every event its tests asserted on. Prints, per run, one JSON line per event ({"path":"preferred"|"fallback",
# "detection", "what", "attributes"}), then the run's TAP result lines prefixed "TAP <path> ". Exits non-zero if
# either run failed. Needs root and the host's dist/ build. Run inside the matrix VM:
#   scripts/kernel-matrix/run.sh 6.1 bash scripts/kernel-matrix/security-paths.sh
set -uo pipefail
tmp="$(mktemp -d /tmp/tapio-secpaths.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
status=0
for p in preferred fallback; do
  force=0; [ "$p" = fallback ] && force=1
  start=$(date +%s.%N)
  TAPIO_SECURITY_DUMP="$tmp/$p.jsonl" TAPIO_SECURITY_FORCE_FALLBACK=$force \
    timeout 600 node --test --test-concurrency=1 --test-reporter=tap dist/test/collectors/security.test.js > "$tmp/$p.tap" 2>&1 || status=1
  end=$(date +%s.%N)
  [ -f "$tmp/$p.jsonl" ] && sed "s/^{/{\"path\":\"$p\",/" "$tmp/$p.jsonl"
  grep -E '^(not )?ok |^# (pass|fail|skip)' "$tmp/$p.tap" | sed "s/^/TAP $p /"
  grep -qE '^not ok ' "$tmp/$p.tap" && tail -n 80 "$tmp/$p.tap" | sed "s/^/TAPLOG $p /"
  awk "BEGIN{printf \"TIME $p %.1f\\n\", $end-$start}"
done
exit "$status"
