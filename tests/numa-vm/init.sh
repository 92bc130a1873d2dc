#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# /init of the numa-vm guest (busybox): mounts what the cases use, runs them, and leaves QEMU
# through isa-debug-exit with the result. /etc/numa-vm.conf (written by run-guest.sh) sets
# NODES, CPUS, DISTANCES, SUITE (placement or gib-pages) and FILTER.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /tmp /mnt/huge-2M /mnt/huge-1G /mnt/thp
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tmpfs tmp /tmp
mount -t hugetlbfs -o pagesize=2M hugetlbfs /mnt/huge-2M
mount -t hugetlbfs -o pagesize=1G hugetlbfs /mnt/huge-1G  # its pool: hugepages=N at boot
mount -t tmpfs -o huge=within_size,mode=1777 thp /mnt/thp
mount -t debugfs debugfs /sys/kernel/debug  # NUMA balancing's scan knobs
. /etc/numa-vm.conf
echo "numa-vm: guest up after $(cut -d' ' -f1 /proc/uptime) s, kernel $(uname -r), $NODES nodes," \
  "$(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages 2>/dev/null || echo no) 1 GiB pages"
/numa-vm-guest run --suite "$SUITE" --nodes "$NODES" --cpus "$CPUS" --distances "$DISTANCES" \
  ${FILTER:+--filter "$FILTER"}
rc=$?
echo "numa-vm: guest tests exited with $rc after $(cut -d' ' -f1 /proc/uptime) s"
# 0 → QEMU exits 1 (pass), anything else → 1 → QEMU exits 3 (fail).
[ $rc -eq 0 ] || rc=1
/numa-vm-guest qemu-exit $rc
# Only when the device or the program is missing: a plain power-off makes QEMU exit 0, which the
# runner counts as a failure.
echo "numa-vm: isa-debug-exit failed, powering off"
sleep 1
poweroff -f
