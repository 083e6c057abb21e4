#!/usr/bin/env bash
# Prepares one Debian kernel for booting under qemu and prints its ready folder.
#   prepare.sh KVER-PATTERN        e.g. "6.1" or "6.12"; KM_ARCH=arm64 for Debian's arm64 kernel (default amd64)
# Picks the newest generic linux-image package of KM_ARCH whose version starts with the pattern, downloads it once into
# $KM_CACHE (default /var/cache/tapio-kernels), and builds there:
#   vmlinux         amd64: the uncompressed ELF kernel (qemu boots it through PVH, skipping slow xz under TCG)
#   Image           arm64: the kernel as Debian ships it (a plain arm64 Image, booted directly)
#   vmlinux.btf     arm64: the kernel's BTF, cut out of the Image (bpf/ builds the arm64 objects against it)
#   initrd.cpio.gz  busybox (of KM_ARCH) + the 9p/overlay modules (run.sh adds /init)
# Everything is cached per kernel version; a second call only prints the folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pattern="${1:?usage: prepare.sh KVER-PATTERN (e.g. 6.1 or 6.12)}"
cache="${KM_CACHE:-/var/cache/tapio-kernels}"
arch="${KM_ARCH:-amd64}"
case "$arch" in
  amd64) kfile=vmlinux ;;
  arm64) kfile=Image; bash "$here/../arm64/setup.sh" ;; # the arm64 package index, qemu-system-arm
  *) echo "prepare.sh: KM_ARCH=$arch is not supported (amd64, arm64)" >&2; exit 2 ;;
esac
mkdir -p "$cache"

bash "$here/setup.sh"
PATH="$PATH:/sbin:/usr/sbin"

# Kernels older than the machine's release come from an older Debian suite (5.10 is bullseye's). That suite is used
# only here, for this one download, through a private apt configuration under $cache: the machine's own apt sources
# stay as they are. Its package index (~8 MB) is fetched once and reused.
apt_opts=()
case "$pattern" in
  5.10*) suite=bullseye ;;
  *) suite="" ;;
esac
if [ -n "$suite" ]; then
  adir="$cache/apt-$suite"
  mkdir -p "$adir/lists/partial" "$adir/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" > "$adir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$adir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$adir/lists" -o "Dir::Cache=$adir/cache" -o APT::Sandbox::User=root)
  if ! ls "$adir/lists/"*_Packages* >/dev/null 2>&1; then
    echo "prepare.sh: fetching the $suite package index (private apt config in $adir)" >&2
    apt-get "${apt_opts[@]}" update -qq >&2 || true
  fi
fi

# Newest generic (not cloud: it has no 9p; not rt) image whose version starts with the pattern. Package names come
# as linux-image-6.1.0-56-amd64 (signed) and linux-image-6.12.111+deb12-amd64-unsigned; both hold the same kernel.
esc="${pattern//./\\.}"
pkg="$(apt-cache "${apt_opts[@]}" pkgnames linux-image- 2>/dev/null \
  | grep -E "^linux-image-${esc}[.-].*-${arch}(-unsigned)?\$" | grep -vE -- "-(cloud|rt)-${arch}" \
  | sort -V | tail -n 1 || true)"
if [ -z "$pkg" ]; then
  # Maybe the package lists are stale or empty: try once more after an update.
  apt-get "${apt_opts[@]}" update -qq >&2 || true
  pkg="$(apt-cache "${apt_opts[@]}" pkgnames linux-image- | grep -E "^linux-image-${esc}[.-].*-${arch}(-unsigned)?\$" \
    | grep -vE -- "-(cloud|rt)-${arch}" | sort -V | tail -n 1 || true)"
fi
# A kernel downloaded earlier still works when its package has since left the archive.
if [ -z "$pkg" ]; then
  ready="$(ls -d "$cache"/"$pattern"[.-]*-"$arch"/ 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$ready" ] && [ -f "$ready/initrd.cpio.gz" ] && { echo "${ready%/}"; exit 0; }
  echo "prepare.sh: no linux-image package matches '$pattern'" >&2; exit 2
fi
kver="${pkg#linux-image-}"; kver="${kver%-unsigned}"
dir="$cache/$kver"
if [ -f "$dir/initrd.cpio.gz" ] && [ -f "$dir/$kfile" ]; then echo "$dir"; exit 0; fi

# One preparer at a time per kernel.
exec 9>"$cache/.$kver.lock"
flock -w 600 9
if [ -f "$dir/initrd.cpio.gz" ] && [ -f "$dir/$kfile" ]; then echo "$dir"; exit 0; fi

echo "prepare.sh: preparing $pkg in $dir" >&2
work="$(mktemp -d "$cache/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get "${apt_opts[@]}" download -q -o APT::Sandbox::User=root "$pkg" >&2)
dpkg-deb -x "$work"/*.deb "$work/root"
depmod -b "$work/root" "$kver"
busybox=/bin/busybox
if [ "$arch" != amd64 ]; then
  # The initramfs runs on the guest's CPU: that architecture's busybox (same Debian version, same applets).
  (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "busybox-static:$arch" >&2)
  dpkg-deb -x "$work"/busybox-static_*.deb "$work/busybox"
  busybox="$work/busybox/bin/busybox"
fi
vmlinuz="$work/root/boot/vmlinuz-$kver"
if [ "$arch" = arm64 ]; then
  cp "$vmlinuz" "$work/Image"
  node "$here/extract-btf.js" "$vmlinuz" "$work/vmlinux.btf" >&2
else

# vmlinuz -> ELF vmlinux: find the compressed stream inside the bzImage and decompress it (the approach of the
# kernel's scripts/extract-vmlinux). 6.1 uses xz, 6.12 zstd. Trailing bytes after the stream make the decompressor
# complain; the ELF check below is what counts.
try_format() { # MAGIC-REGEX DECOMPRESS-CMD...
  local magic="$1"; shift
  for off in $(LC_ALL=C grep -obUaP "$magic" "$vmlinuz" | cut -d: -f1); do
    tail -c "+$((off + 1))" "$vmlinuz" | "$@" > "$work/vmlinux" 2>/dev/null || true
    if [ "$(head -c 4 "$work/vmlinux" | od -An -tx1 | tr -d ' ')" = "7f454c46" ]; then return 0; fi
  done
  rm -f "$work/vmlinux"; return 1
}
try_format '\xfd7zXZ\x00' xz -dcq || try_format '\x28\xb5\x2f\xfd' zstd -dcq || try_format '\x1f\x8b\x08' gzip -dcq || true
[ -f "$work/vmlinux" ] || { echo "prepare.sh: no ELF vmlinux found inside $vmlinuz" >&2; exit 3; }
fi

# initramfs: busybox, the modules for virtio + 9p + overlay in dependency order, and our /init.
ird="$work/initrd"
mkdir -p "$ird"/{bin,dev,proc,sys,lower,upper,newroot,lib/modules}
cp "$busybox" "$ird/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$ird/bin/$applet"
done
: > "$ird/lib/modules/order"
# virtio + 9p + overlay to reach the root; sch_ingress (clsact), cls_bpf, veth for the tc collector and network tests
# (the kernel cannot autoload them: its modprobe would run in the initramfs, which holds no module tree).
for mod in virtio_pci 9pnet_virtio 9p overlay sch_ingress cls_bpf act_bpf veth; do
  { modprobe -d "$work/root" -S "$kver" --show-depends "$mod" || true; } | while read -r kind path _; do
    [ "$kind" = insmod ] || continue              # "builtin X" lines need nothing
    name="$(basename "$path")"; name="${name%.xz}"
    grep -qx "$name" "$ird/lib/modules/order" && continue
    case "$path" in
      *.xz) xz -dc "$path" > "$ird/lib/modules/$name" ;;
      *.zst) zstd -dcq "$path" > "$ird/lib/modules/$name" ;;
      *) cp "$path" "$ird/lib/modules/$name" ;;
    esac
    echo "$name" >> "$ird/lib/modules/order"
  done
done
# /init itself is not here: run.sh appends it as a second cpio archive at each boot, so editing init.sh needs no
# rebuild of this cache.
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -9) > "$work/initrd.cpio.gz"

mkdir -p "$dir"
cp "$work/root/boot/config-$kver" "$dir/config"
mv "$work/$kfile" "$dir/$kfile"
[ -f "$work/vmlinux.btf" ] && mv "$work/vmlinux.btf" "$dir/vmlinux.btf"
echo "$pkg" > "$dir/package"
mv "$work/initrd.cpio.gz" "$dir/initrd.cpio.gz"
echo "$dir"
