#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prints the path of an uncompressed guest kernel (ELF vmlinux, booted by QEMU through PVH) made
# from Debian's linux-image package: downloaded with `apt-get download` (never installed on the
# host) and unpacked into a cache that survives `make clean`, so only the first run downloads.
#   cache: $ONECOPY_NUMA_VM_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/onecopy/numa-vm
# Exit 77 with a one-line reason on stderr when no kernel can be had (offline, no apt).
set -eu -o pipefail

cache=${ONECOPY_NUMA_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/onecopy/numa-vm}
skip() { echo "numa-vm: skipped: $*" >&2; exit 77; }

mkdir -p "$cache" || skip "cannot create the kernel cache $cache"
# One fetch at a time (the 2- and 4-node tests may start together; so may other checkouts).
exec 9>"$cache/.lock"
flock 9

# The kernel package linux-image-amd64 points to now, e.g. linux-image-6.1.0-27-amd64.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ {print $2; exit}') || true
if [ -n "$pkg" ]; then
  version=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2; exit}') || true
  key="${pkg}_${version//:/%3a}"
  if [ -s "$cache/$key/vmlinux" ]; then echo "$cache/$key/vmlinux"; exit 0; fi
fi

fetch() {  # fetch PACKAGE KEY → $cache/KEY/vmlinux
  local work
  work=$(mktemp -d "$cache/.fetch.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  # apt-get download fails when the lists name a version the mirror no longer has: update once.
  if ! (cd "$work" && apt-get -q download "$1" >download.log 2>&1); then
    apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 || true
    (cd "$work" && apt-get -q download "$1" >download.log 2>&1) || {
      echo "apt-get download $1 failed: $(grep -v '^$' "$work/download.log" | tail -1)"; return 1; }
  fi
  dpkg-deb -x "$work"/linux-image-*.deb "$work/root" || { echo "dpkg-deb -x failed"; return 1; }
  local vmlinuz
  vmlinuz=$(ls "$work"/root/boot/vmlinuz-* 2>/dev/null | head -1)
  [ -n "$vmlinuz" ] || { echo "no /boot/vmlinuz-* in $1"; return 1; }
  # bzImage = setup code + an xz stream: unpack the stream into the ELF vmlinux (saves ~5 s per
  # boot). grep -P needs LC_ALL=C; the pipelines end early by design (SIGPIPE), so no pipefail.
  local off
  off=$(set +o pipefail; LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
  [ -n "$off" ] || { echo "no xz stream in $vmlinuz"; return 1; }
  (set +o pipefail; tail -c +$((off + 1)) "$vmlinuz" | xz -dc --single-stream >"$work/vmlinux") ||
    { echo "xz could not unpack $vmlinuz"; return 1; }
  head -c 4 "$work/vmlinux" | grep -q 'ELF' || { echo "unpacked kernel is not an ELF file"; return 1; }
  mkdir -p "$cache/$2"
  mv "$work/vmlinux" "$cache/$2/vmlinux.part" && mv "$cache/$2/vmlinux.part" "$cache/$2/vmlinux"
  basename "$vmlinuz" >"$cache/$2/source"
}

if [ -n "$pkg" ] && command -v apt-get >/dev/null && command -v xz >/dev/null; then
  if reason=$(fetch "$pkg" "$key"); then
    # Keep only the current kernel (each is ~65 MB).
    for d in "$cache"/*/; do [ "$d" = "$cache/$key/" ] || rm -rf "$d"; done
    echo "$cache/$key/vmlinux"
    exit 0
  fi
else
  reason="apt-cache knows no linux-image-amd64 (not Debian, or no package lists) or xz is missing"
fi
# Offline or apt trouble: any kernel fetched before will do.
old=$(ls -t "$cache"/*/vmlinux 2>/dev/null | head -1) || true
if [ -n "$old" ]; then
  echo "numa-vm: using the cached $old ($reason)" >&2
  echo "$old"
  exit 0
fi
skip "no guest kernel: $reason"
