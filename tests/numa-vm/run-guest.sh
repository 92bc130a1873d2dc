#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boots a QEMU guest with N emulated NUMA nodes (TCG; ACPI SRAT + SLIT distances), runs the
# numa-vm-guest program in it and judges the run by QEMU's exit code AND the guest's closing
# summary line. Exit 0 pass, 1 fail, 77 skipped (no QEMU, busybox, cpio or kernel).
#   run-guest.sh --nodes 1|2|4 --binary numa-vm-guest --workdir DIR [--gib-pages N] [--timeout S]
#                [--filter TEXT]
# --gib-pages N: the guest gets N GiB more memory, its kernel reserves N 1 GiB pages at boot
# (hugepagesz=1G hugepages=N: fresh memory, unlike a long-running host's) and it runs the
# 1 GiB-page cases instead of the placement cases (run with --nodes 1 so far).
# The kernel comes from fetch-kernel.sh (cached); the initramfs is rebuilt in DIR every run.
set -eu -o pipefail
here=$(cd "$(dirname "$0")" && pwd)

nodes=2 binary="" workdir="" filter="" gib_pages=0
timeout_s=${ONECOPY_NUMA_VM_TIMEOUT:-240}
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --filter) filter=$2; shift 2 ;;
    --gib-pages) gib_pages=$2; shift 2 ;;
    *) echo "run-guest.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -x "$binary" ] && [ -n "$workdir" ] || { echo "run-guest.sh: --binary and --workdir are required" >&2; exit 2; }

skip() { echo "numa-vm: skipped: $*"; exit 77; }
command -v qemu-system-x86_64 >/dev/null ||
  skip "qemu-system-x86_64 is not installed (scripts/install-deps.sh --numa-vm installs it)"
busybox=$(command -v busybox) || skip "busybox is not installed (package busybox-static)"
command -v cpio >/dev/null || skip "cpio is not installed"
vmlinux=$("$here/fetch-kernel.sh") || exit $?   # 77 with its reason, or a path

# ---- the machine: N nodes sharing 2 GiB (or room for the 1 GiB pages), vCPUs, distances -------
# CPUs per node (';'-separated, empty = a memory-only node) and the distance matrix.
case "$nodes" in
  # Two vCPUs: the build machines have two cores, and the 1 GiB-page cases hash 1 GiB with as
  # many threads as the guest has CPUs.
  1) cpus="0-1" distances="10" ;;
  2) cpus="0-1;2-3" distances="10,21;21,10" ;;
  # Two pairs of close nodes, far from each other (2 sockets × 2 dies); node 3 has memory and no
  # CPUs, like CXL or HBM; node 2 has two CPUs so a bound populate runs on two pinned threads.
  4) cpus="0;1;2-3;" distances="10,12,32,32;12,10,32,32;32,32,10,12;32,32,12,10" ;;
  *) echo "run-guest.sh: --nodes must be 1, 2 or 4" >&2; exit 2 ;;
esac
vcpus=$([ "$nodes" = 1 ] && echo 2 || echo 4)
append="console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off"
if [ "$gib_pages" -gt 0 ]; then
  # The kernel reserves 1 GiB pages at boot from whole free 1 GiB-aligned ranges, after its own
  # early allocations (struct pages, page tables) were made top-down. A default 4 GiB guest gets
  # 1 page of 2: below 4 GiB, RAM ends 128 KiB short of 3 GiB, and the 1 GiB above is not whole.
  # So: 1 GiB below 4 GiB (the system, the initramfs; QEMU warns about less), and above it N GiB
  # for the pages plus 512 MiB at the top for the kernel's own.
  node_mib=$(((1536 + gib_pages * 1024) / nodes))
  machine=(-machine pc,max-ram-below-4g=1G)
  append+=" hugepagesz=1G hugepages=$gib_pages"
  suite=gib-pages
else
  node_mib=$((2048 / nodes))
  machine=()
  suite=placement
fi
machine+=(-smp "$vcpus" -m "$((node_mib * nodes))M")
IFS=';' read -r -a rows <<<"$distances"
IFS=';' read -r -a node_cpus <<<"$cpus;"
for ((i = 0; i < nodes; i++)); do
  machine+=(-object "memory-backend-ram,id=m$i,size=${node_mib}M"
            -numa "node,nodeid=$i${node_cpus[$i]:+,cpus=${node_cpus[$i]}},memdev=m$i")
done
for ((i = 0; i < nodes; i++)); do  # every node must be declared before the first distance
  IFS=',' read -r -a row <<<"${rows[$i]}"
  for ((j = i + 1; j < nodes; j++)); do machine+=(-numa "dist,src=$i,dst=$j,val=${row[$j]}"); done
done

# ---- the initramfs: busybox, /init, the test program and the libraries it loads ----------------
rm -rf "$workdir"
root="$workdir/root"
mkdir -p "$root"/{bin,dev,proc,sys,etc,tmp}
copy_with_libs() {  # copy_with_libs FILE DEST: FILE (stripped) to DEST + every library ldd lists
  strip -o "$root$2" "$1" 2>/dev/null || cp "$1" "$root$2"
  local lib
  for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
    [ -e "$root$lib" ] || { mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"; }
  done
}
copy_with_libs "$busybox" /bin/busybox
ln -s busybox "$root/bin/sh"
copy_with_libs "$binary" /numa-vm-guest
install -m 0755 "$here/init.sh" "$root/init"
printf 'NODES=%s\nCPUS="%s"\nDISTANCES="%s"\nSUITE=%s\nFILTER="%s"\nexport LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu\n' \
  "$nodes" "$cpus" "$distances" "$suite" "$filter" >"$root/etc/numa-vm.conf"
mknod "$root/dev/console" c 5 1 2>/dev/null || true   # the kernel's own initramfs has one too
(cd "$root" && find . | cpio -o -H newc --quiet) >"$workdir/initramfs.cpio"

# ---- boot -------------------------------------------------------------------------------------
log="$workdir/console.log"
echo "numa-vm: booting a ${nodes}-node guest (CPUs $cpus; distances $distances; ${gib_pages} 1 GiB pages) with $(basename "$(dirname "$vmlinux")")"
start_ns=$(date +%s%N)
set +e
timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg,thread=multi -cpu max "${machine[@]}" \
  -nodefaults -display none -monitor none -serial stdio -no-reboot \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
  -kernel "$vmlinux" -initrd "$workdir/initramfs.cpio" \
  -append "$append" </dev/null 2>&1 |
  tr -d '\r' | tee "$log"
rc=${PIPESTATUS[0]}
set -e
ms=$((($(date +%s%N) - start_ns) / 1000000))
echo "numa-vm: ${nodes}-node guest finished in $((ms / 1000)).$((ms % 1000 / 100)) s, QEMU exit code $rc"

# ---- verdict: QEMU's code (isa-debug-exit: 1 = guest says pass) AND the summary line ----------
summary=$(grep -E '^numa-vm summary: ' "$log" | tail -1 || true)
case "$rc" in
  124|137) echo "numa-vm: FAIL: the guest did not finish within ${timeout_s} s"; exit 1 ;;
  0) echo "numa-vm: FAIL: the guest stopped without reporting (kernel panic or power-off)"; exit 1 ;;
  1) ;;
  3) echo "numa-vm: FAIL: guest tests failed: ${summary:-no summary line}"; exit 1 ;;
  *) echo "numa-vm: FAIL: QEMU exited with $rc"; exit 1 ;;
esac
if ! grep -qE '^numa-vm summary: nodes=[0-9]+ passed=[1-9][0-9]* failed=0 ' <<<"$summary"; then
  echo "numa-vm: FAIL: QEMU reported success but the summary line is '${summary:-missing}'"
  exit 1
fi
echo "numa-vm: PASS: $summary"
