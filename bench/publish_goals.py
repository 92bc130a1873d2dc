#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 16's publish goals, measured on one store directory against baselines from the same
run, alternating subject and baseline, medians of --runs, warm page cache:

- `onecopy put NAME FILE` ≥ 1.0× `cp FILE` into the same directory (tmpfs: /dev/shm, THP);
  on hugetlbfs (cp cannot write there) ≥ 0.8× a memcpy of the file's page cache into populated
  memory of that hugetlbfs (numpy copyto between two prefaulted mappings);
- `onecopy put NAME --zeros SIZE` no slower than `fallocate -l SIZE` into the same directory.

Ratios are speeds: baseline time / onecopy time (≥ goal: PASS). One JSON line per case on
stdout; with --report, the markdown section of the results instead.

    bench/publish_goals.py --onecopy build/release/onecopy --dir /dev/shm/x --label shm_4k \\
        [--sizes 1GiB,2GiB] [--runs 5] [--source-dir /var/tmp]
    bench/publish_goals.py --report results/raw/publish_goals.jsonl
"""
import argparse
import json
import mmap
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

GOALS = {"cp": 1.0, "memcpy": 0.8, "fallocate": 1.0}


def parse_size(text):
    t = text.strip().upper()
    n = t.rstrip("GIBM")
    return int(float(n) * {"GIB": 1 << 30, "MIB": 1 << 20}[t[len(n):]])


def timed(cmd, env=None):
    """(wall seconds, CPU seconds: user + system) of running cmd."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise subprocess.CalledProcessError(p.returncode, cmd)
    return wall, usage.ru_utime + usage.ru_stime


def memcpy_seconds(src, dst_dir, size):
    """(wall, CPU) seconds to copy the page cache of src into prefaulted memory of a file in dst_dir."""
    path = os.path.join(dst_dir, "memcpy.bin")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.ftruncate(fd, size)
        dst = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        with open(src, "rb") as f:
            s = mmap.mmap(f.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ)
        a = np.frombuffer(s, dtype=np.uint8)
        b = np.frombuffer(dst, dtype=np.uint8)
        b[:] = 1  # populate the destination
        int(a[::4096].sum())  # map the source's page cache
        t0, c0 = time.perf_counter(), time.process_time()
        np.copyto(b, a)
        t = time.perf_counter() - t0
        cpu = time.process_time() - c0
        del a, b
        s.close()
        dst.close()
        return t, cpu
    finally:
        os.close(fd)
        os.unlink(path)


def measure(args):
    os.makedirs(args.dir, mode=0o700, exist_ok=True)
    env = dict(os.environ, ONECOPY_DIR=args.dir, ONECOPY_CONF="/nonexistent/onecopy.conf")
    hugetlbfs = os.statvfs(args.dir).f_bsize >= (2 << 20)
    for label in args.sizes.split(","):
        size = parse_size(label)
        fd, src = tempfile.mkstemp(prefix="onecopy-publish-src.", dir=args.source_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                block = np.random.default_rng(1).integers(0, 255, 64 << 20, dtype=np.uint8).tobytes()
                for _ in range(size // len(block)):
                    f.write(block)
            subprocess.run(["cat", src], check=True, stdout=subprocess.DEVNULL)  # warm
            dst = os.path.join(args.dir, "cp.bin")
            cases = {"file": [], "zeros": []}
            for _ in range(args.runs):
                if hugetlbfs:
                    base = memcpy_seconds(src, args.dir, size)
                else:
                    base = timed(["cp", src, dst])
                    os.unlink(dst)
                put = timed([args.onecopy, "put", "goal", src, "--json"], env)
                timed([args.onecopy, "rm", "goal"], env)
                cases["file"].append((base, put))
                base = timed(["fallocate", "-l", str(size), dst])
                os.unlink(dst)
                put = timed([args.onecopy, "put", "goal", "--zeros", str(size), "--json"], env)
                timed([args.onecopy, "rm", "goal"], env)
                cases["zeros"].append((base, put))
            for case, pairs in cases.items():
                baseline = "fallocate" if case == "zeros" else "memcpy" if hugetlbfs else "cp"
                b = statistics.median(p[0][0] for p in pairs)
                o = statistics.median(p[1][0] for p in pairs)
                bc = statistics.median(p[0][1] for p in pairs)
                oc = statistics.median(p[1][1] for p in pairs)
                print(json.dumps({"backing": args.label, "size": label, "case": case, "baseline": baseline,
                                  "baseline_s": b, "onecopy_s": o, "ratio": b / o, "goal": GOALS[baseline],
                                  "baseline_cpu_s": bc, "onecopy_cpu_s": oc, "cpu_ratio": bc / oc if oc else 0,
                                  "load": open("/proc/loadavg").read().split()[0],
                                  "runs": args.runs, "samples": pairs}), flush=True)
        finally:
            os.unlink(src)


def report(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    print("## Publish goals (issue 16)\n")
    print("Warm page cache, same run, medians; ratio = baseline time / onecopy time (speed; "
          "above 1: onecopy faster). `put FILE` against `cp` on tmpfs, against memcpy into "
          "populated pages on hugetlbfs; `put --zeros` against `fallocate -l`. CPU s: user + system "
          "time of the processes (medians), steadier than wall time on a busy machine; load: the "
          "1-minute load average when the case ended.\n")
    print("| backing | size | what | baseline | baseline s | onecopy s | ratio | goal | | CPU s: baseline / onecopy (ratio) | load |")
    print("|---|---|---|---|---:|---:|---:|---:|---|---|---:|")
    for r in rows:
        what = "put FILE" if r["case"] == "file" else "put --zeros"
        verdict = "PASS" if r["ratio"] >= r["goal"] else "MISS"
        print(f"| {r['backing']} | {r['size']} | {what} | {r['baseline']} | {r['baseline_s']:.3f} | "
              f"{r['onecopy_s']:.3f} | {r['ratio']:.2f}× | ≥ {r['goal']:.1f}× | {verdict} | "
              f"{r['baseline_cpu_s']:.3f} / {r['onecopy_cpu_s']:.3f} ({r['cpu_ratio']:.2f}×) | {r['load']} |")
        print(f"publish goal {r['backing']} {r['size']} {what} vs {r['baseline']}: "
              f"{r['ratio']:.2f}× (goal ≥ {r['goal']:.1f}×) {verdict}", file=sys.stderr)
    print()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--onecopy")
    p.add_argument("--dir")
    p.add_argument("--label")
    p.add_argument("--sizes", default="1GiB,2GiB")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--source-dir", default=os.environ.get("TMPDIR", "/var/tmp"))
    p.add_argument("--report", metavar="JSONL")
    args = p.parse_args()
    if args.report:
        report(args.report)
    else:
        measure(args)


if __name__ == "__main__":
    main()
