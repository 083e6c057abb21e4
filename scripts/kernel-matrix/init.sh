#!/bin/sh
# PID 1 of the kernel-matrix VM (busybox sh). Mounts the host's root read-only over 9p with a tmpfs overlay on top,
# mounts the kernel filesystems Tapio needs (tracefs, debugfs, bpffs, securityfs, cgroup2), mounts the read-write
# results share at /km, runs /km/inner.sh in a chroot and powers off. Never exits: PID 1 exiting panics the kernel.
export PATH=/bin
say() { echo "km-init: $*"; }
die() { say "FATAL: $*"; echo "KM-FATAL" > /dev/console; poweroff -f; sleep 5; echo o > /proc/sysrq-trigger; }

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod "/lib/modules/$m" || say "insmod $m failed"; done < /lib/modules/order

mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose hostroot /lower || die "9p hostroot"
mount -t tmpfs -o mode=0755 upper /upper
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || die "overlay"

n=/newroot
mkdir -p $n/km
# A guest of another architecture (run.sh with KM_ARCH=arm64): the root above is its own userspace, and the checkout
# under test (km_project=PATH on the command line) comes from the host's root, shared as "hostfs", with an overlay.
for arg in $(cat /proc/cmdline); do case "$arg" in km_project=*) project="${arg#km_project=}" ;; esac; done
if [ -n "$project" ]; then
  mkdir -p /hostfs /upper/pu /upper/pw $n$project
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose hostfs /hostfs || die "9p hostfs"
  mount -t overlay overlay -o lowerdir=/hostfs$project,upperdir=/upper/pu,workdir=/upper/pw $n$project || die "project overlay"
fi
# The results share: no caching, so what the VM writes is on the host the moment qemu exits.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=none kmshare $n/km || die "9p kmshare"
mount -t proc proc $n/proc
mount -t sysfs sys $n/sys
mount -t devtmpfs dev $n/dev
mkdir -p $n/dev/pts $n/dev/shm
mount -t devpts devpts $n/dev/pts
mount -t tmpfs shm $n/dev/shm
# /tmp is not a fresh tmpfs: the checkout under test may live there (CI clones anywhere); writes land in the overlay.
mount -t tmpfs -o mode=0755 run $n/run
mount -t tracefs tracefs $n/sys/kernel/tracing || say "no tracefs"
mount -t debugfs debugfs $n/sys/kernel/debug || say "no debugfs"
mount -t bpf bpf $n/sys/fs/bpf || say "no bpffs"
mount -t securityfs securityfs $n/sys/kernel/security || say "no securityfs"
mount -t cgroup2 cgroup2 $n/sys/fs/cgroup || say "no cgroup2"
ifconfig lo 127.0.0.1 netmask 255.0.0.0 up
hostname tapio-km

read -r up _ < /proc/uptime
echo "KM-READY uptime=$up"
chroot $n /bin/bash /km/inner.sh
rc=$?
read -r up _ < /proc/uptime
echo "KM-DONE rc=$rc uptime=$up"
sync
umount $n/km 2>/dev/null
poweroff -f
sleep 5
echo o > /proc/sysrq-trigger
