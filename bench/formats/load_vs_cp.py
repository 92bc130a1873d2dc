#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Load throughput of a safetensors file from the page cache into a segment (`onecopy put`)
against `cp` of the same file into the same store directory, measured in the same run,
alternating, median of N.

usage: load_vs_cp.py ONECOPY [--size-gib 2] [--runs 5] [--dir /var/tmp] [--store DIR --pages P]
--store: where both the segment and cp's copy go (default a fresh dir in /dev/shm: 4 KiB
pages); e.g. a tmpfs mounted huge=within_size with --pages thp.
Prints one JSON record. The machine is shared: medians, and the spread, not single runs.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import numpy as np
from safetensors import TensorSpec, serialize_file


def make_file(path, size):
    """size bytes of bf16 tensors (16 of them plus a small one) written by safetensors."""
    pieces = 16
    each = (size // pieces) // 4 * 4
    buf = np.arange(each // 4, dtype=np.uint32)  # a cheap non-zero pattern
    specs = {f"layers.{i}.weight": TensorSpec(dtype="bfloat16", shape=(each // 2,),
                                              data_ptr=buf.ctypes.data, data_len=each)
             for i in range(pieces)}
    small = np.ones(7, dtype=np.float32)
    specs["norm"] = TensorSpec(dtype="float32", shape=(7,), data_ptr=small.ctypes.data, data_len=28)
    serialize_file(specs, path, metadata={"format": "pt"})


def cached_fraction(path):
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "-o", "RES,SIZE", path],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None
    res, size = out.stdout.split()
    return int(res) / int(size)


def shmem_huge_bytes():
    """ShmemHugePages from /proc/meminfo: how much tmpfs/shm data sits in huge pages now."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("ShmemHugePages:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("onecopy")
    ap.add_argument("--size-gib", type=float, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--store", default=None)
    ap.add_argument("--pages", default="4k")
    a = ap.parse_args()
    size = int(a.size_gib * (1 << 30))
    work = tempfile.mkdtemp(prefix="onecopy-bench.", dir=a.dir)
    store = tempfile.mkdtemp(prefix="onecopy-bench.", dir=a.store or "/dev/shm")
    src = os.path.join(work, "model.safetensors")
    try:
        make_file(src, size)
        file_size = os.path.getsize(src)
        with open(src, "rb") as f:  # into the page cache
            while f.read(64 << 20):
                pass
        env = dict(os.environ, ONECOPY_DIR=store)
        cp_s, put_s, fill_s, parts, cp_huge, put_huge = [], [], [], [], [], []
        for run in range(a.runs):
            for what in (("cp", "put") if run % 2 == 0 else ("put", "cp")):
                if what == "cp":
                    dst = os.path.join(store, "copy")
                    huge_before = shmem_huge_bytes()
                    t = time.perf_counter()
                    subprocess.run(["cp", src, dst], check=True)
                    cp_s.append(time.perf_counter() - t)
                    cp_huge.append(shmem_huge_bytes() - huge_before)
                    os.unlink(dst)
                else:
                    cmd = [a.onecopy, "put", "w", src, "--json", "--pages", a.pages]
                    if a.threads:
                        cmd += ["--threads", str(a.threads)]
                    t = time.perf_counter()
                    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
                    put_s.append(time.perf_counter() - t)
                    j = json.loads(out.stdout)
                    fill_s.append(j["seconds"]["fill"])
                    parts.append(j["seconds"])
                    put_huge.append(j.get("huge_bytes", 0))
                    subprocess.run([a.onecopy, "rm", "w"], check=True, env=env, capture_output=True)
        gb = file_size / 1e9
        med = statistics.median
        print(json.dumps({
            "file_bytes": file_size, "runs": a.runs, "store": store, "pages": a.pages, "cached_before": cached_fraction(src),
            "cpus": os.cpu_count(), "kernel": os.uname().release,
            # huge_bytes: how much of the copy sits in huge pages (cp's: the ShmemHugePages it
            # added; a file grown by write() on a huge=within_size tmpfs gets none).
            "cp_to_store": {"median_s": med(cp_s), "GBps": gb / med(cp_s), "all_s": cp_s,
                            "huge_bytes": med(cp_huge)},
            "onecopy_put": {"median_s": med(put_s), "GBps": gb / med(put_s), "all_s": put_s,
                            "huge_bytes": med(put_huge)},
            "fill_only": {"median_s": med(fill_s), "GBps": gb / med(fill_s)},
            "put_parts_median_s": {k: med(p[k] for p in parts) for k in parts[0]},
            "put_over_cp": med(put_s) / med(cp_s),
        }, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
