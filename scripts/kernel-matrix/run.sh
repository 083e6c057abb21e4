#!/usr/bin/env bash
# Runs one command inside a Debian kernel under qemu and exits with that command's exit code.
#   run.sh KVER-PATTERN CMD...        e.g. run.sh 6.1 node bin/tapio.js probe --json
# The VM sees this machine's root read-only (with a throwaway tmpfs overlay), so dist/, the native addon, node and
# libbpf are the host's own. CMD runs as root with cwd /work/main (or $KM_CWD). Its output is tee'd to the serial console and
# a read-write 9p share, and printed here after the VM powers off; the serial console goes to $KM_LOG_DIR/console.log
# (shown live on stderr with KM_VERBOSE=1).
# KM_ARCH=arm64: Debian's arm64 kernel under qemu-system-aarch64 (-M virt), its root an arm64 userspace
# (scripts/arm64/rootfs.sh) and the checkout shared from this machine at the same path; with KM_GUEST_ROOT=DIR the
# root is DIR as it is (e.g. the arm64 image's filesystem) and nothing of this machine is shared.
# Environment: KM_TIMEOUT (s, default 1800), KM_MEM (default 2G), KM_SMP (default 2), KM_CACHE, KM_CWD, KM_ARCH,
# KM_LOG_DIR (keep console.log and output.log there; default: a temp dir removed at exit).
# Exit codes besides CMD's: 2 no VM could be prepared (tools, kernel package), 124 qemu timed out, 125 the VM gave
# no result (see the console log).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ $# -ge 2 ] || { echo "usage: run.sh KVER-PATTERN CMD..." >&2; exit 2; }
pattern="$1"; shift
timeout_s="${KM_TIMEOUT:-1800}"
cwd="${KM_CWD:-$(cd "$here/../.." && pwd)}"

# Anything that goes wrong before the VM runs (tools, package download) is "no VM here" (exit 2), not a test result.
arch="${KM_ARCH:-amd64}"
kdir="$(bash "$here/prepare.sh" "$pattern")" || { echo "run.sh: could not prepare a VM for kernel '$pattern'" >&2; exit 2; }
if [ "$arch" = arm64 ]; then
  guest_root="${KM_GUEST_ROOT:-$(bash "$here/../arm64/rootfs.sh")}" || { echo "run.sh: could not prepare the arm64 userspace" >&2; exit 2; }
fi
kver="$(basename "$kdir")"

tmp="$(mktemp -d /tmp/tapio-km.XXXXXX)"
qpid=""
cleanup() {
  if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then kill "$qpid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/share" "$tmp/initroot"

# The script the VM runs in its chroot. CMD is quoted here with %q so any arguments survive.
{
  echo '#!/bin/bash'
  echo "export PATH=$(printf %q "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") HOME=/root"
  echo "export TAPIO_KERNEL_MATRIX=$(printf %q "$kver")"
  echo "cd $(printf %q "$cwd") || exit 126"
  printf '('; printf ' %q' "$@"; printf ' ) 2>&1 | tee /km/output.log /dev/console\n'
  echo 'rc=${PIPESTATUS[0]}'
  echo 'echo "$rc" > /km/rc; sync; exit "$rc"'
} > "$tmp/share/inner.sh"

# initrd = the cached one + a small archive holding /init (concatenated cpio archives are merged by the kernel).
cp "$here/init.sh" "$tmp/initroot/init"; chmod +x "$tmp/initroot/init"
(cd "$tmp/initroot" && echo init | cpio -o -H newc --quiet | gzip) > "$tmp/init.cpio.gz"
cat "$kdir/initrd.cpio.gz" "$tmp/init.cpio.gz" > "$tmp/initrd"

common=(-accel tcg,thread=multi -m "${KM_MEM:-2G}" -smp "${KM_SMP:-2}"
  -display none -monitor none -serial stdio -no-reboot -nic none -initrd "$tmp/initrd"
  -virtfs "local,path=$tmp/share,mount_tag=kmshare,security_model=none,multidevs=remap")
append="loglevel=4 panic=-1 mitigations=off rdinit=/init"
if [ "$arch" = arm64 ]; then
  # pauth-impdef: the same pointer authentication with a cheap hash instead of QARMA, much faster under TCG.
  qemu=(qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on "${common[@]}" -kernel "$kdir/Image"
    -append "console=ttyAMA0 $append$( [ -n "${KM_GUEST_ROOT:-}" ] || echo " km_project=$cwd")"
    -virtfs "local,path=$guest_root,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap")
  [ -n "${KM_GUEST_ROOT:-}" ] || qemu+=(-virtfs local,path=/,mount_tag=hostfs,security_model=none,readonly=on,multidevs=remap)
else
  qemu=(qemu-system-x86_64 -cpu max "${common[@]}" -kernel "$kdir/vmlinux" -append "console=ttyS0 $append"
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap)
fi

start=$(date +%s.%N)
echo "kernel-matrix: booting $kver (timeout ${timeout_s}s)" >&2
set +e
if [ "${KM_VERBOSE:-0}" = 1 ]; then
  timeout --kill-after=10 "$timeout_s" "${qemu[@]}" < /dev/null 2>&1 | tee "$tmp/console.log" >&2
  qrc=${PIPESTATUS[0]}
else
  timeout --kill-after=10 "$timeout_s" "${qemu[@]}" < /dev/null > "$tmp/console.log" 2>&1 &
  qpid=$!
  wait "$qpid"; qrc=$?
  qpid=""
fi
set -e
end=$(date +%s.%N)

[ -f "$tmp/share/output.log" ] && cat "$tmp/share/output.log"
ready="$(grep -ao 'KM-READY uptime=[0-9.]*' "$tmp/console.log" | head -n1 | cut -d= -f2 || true)"
done_up="$(grep -ao 'KM-DONE rc=[0-9]* uptime=[0-9.]*' "$tmp/console.log" | head -n1 | sed 's/.*uptime=//' || true)"
if [ -n "${KM_LOG_DIR:-}" ]; then mkdir -p "$KM_LOG_DIR"; cp "$tmp/console.log" "$KM_LOG_DIR/console.log"
  [ -f "$tmp/share/output.log" ] && cp "$tmp/share/output.log" "$KM_LOG_DIR/output.log"; fi

if [ -f "$tmp/share/rc" ]; then
  rc="$(cat "$tmp/share/rc")"
elif [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  echo "kernel-matrix: qemu timed out after ${timeout_s}s; console tail:" >&2; tail -n 40 "$tmp/console.log" >&2; rc=124
else
  echo "kernel-matrix: the VM gave no result (qemu exit $qrc); console tail:" >&2; tail -n 40 "$tmp/console.log" >&2; rc=125
fi
printf 'kernel-matrix: %s rc=%s boot=%ss cmd=%ss wall=%.1fs\n' "$kver" "$rc" "${ready:-?}" \
  "$( [ -n "$ready" ] && [ -n "$done_up" ] && awk "BEGIN{printf \"%.1f\", $done_up-$ready}" || echo '?')" \
  "$(awk "BEGIN{print $end-$start}")" >&2
exit "$rc"
