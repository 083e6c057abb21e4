#!/usr/bin/env bash
# Runs the security collector's host tests (dist/test/collectors/security.test.js: real triggers, real programs) twice
# on the running kernel: "preferred", every detection with the implementations the probe allows (the LSM forms where
# BPF LSM works), and "fallback", with the kinds preferred over tracepoints forced off (TAPIO_SECURITY_FORCE_FALLBACK=1)
# for the tests of the detections whose hooks have LSM forms (files, mount, ptrace, module loads; the others run
# the same tracepoint programs in both: verifying them twice under emulation would only cost minutes). Each run dumps
# every event its tests asserted on. Prints one JSON line per event ({"path":"preferred"|"fallback", "detection",
# "what", "attributes"}), then the run's TAP result lines prefixed "TAP <path> " and "TIME <path> <seconds>".
# Exits non-zero if either run failed. Needs root and the host's dist/ build. Run inside the matrix VM:
#   scripts/kernel-matrix/run.sh 6.1 bash scripts/kernel-matrix/security-paths.sh [PREBUILT-TRIGGER]
set -uo pipefail
[ -n "${1:-}" ] && export TAPIO_SECURITY_TRIGGER="$1" # built on the host: the VM's compiler is slow
tmp="$(mktemp -d /tmp/tapio-secpaths.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
LSM_DETECTIONS=file.credential_read,file.system_write,file.link,host.escape_lever,host.mount,namespace.change,host.module_load,privilege.ptrace,host.chroot,host.bpf_load,host.runtime_socket
LSM_TESTS='^(hooks|host\.module_load|namespace\.change and host\.mount|host\.chroot, host\.escape_lever|privilege\.ptrace|file\.credential_read)'
status=0
for p in preferred fallback; do
  args=(); envs=(TAPIO_SECURITY_DUMP="$tmp/$p.jsonl")
  if [ "$p" = fallback ]; then
    envs+=(TAPIO_SECURITY_FORCE_FALLBACK=1 TAPIO_SECURITY_DETECTIONS="$LSM_DETECTIONS"); args=(--test-name-pattern="$LSM_TESTS")
  fi
  start=$(date +%s.%N)
  env "${envs[@]}" timeout 900 node --test --test-concurrency=1 --test-reporter=tap "${args[@]}" dist/test/collectors/security.test.js > "$tmp/$p.tap" 2>&1 || status=1
  end=$(date +%s.%N)
  [ -f "$tmp/$p.jsonl" ] && sed "s/^{/{\"path\":\"$p\",/" "$tmp/$p.jsonl"
  grep -E '^(not )?ok |^# (pass|fail|skip)' "$tmp/$p.tap" | sed "s/^/TAP $p /"
  grep -qE '^not ok ' "$tmp/$p.tap" && tail -n 80 "$tmp/$p.tap" | sed "s/^/TAPLOG $p /"
  awk "BEGIN{printf \"TIME $p %.1f\\n\", $end-$start}"
done
exit "$status"
