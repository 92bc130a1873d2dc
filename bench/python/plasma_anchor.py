#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Arrow Plasma's row of bench/python/anchors.py, run by that script in its own venv (pyarrow 11,
the last with Plasma, and numpy<2): starts a plasma_store, puts the array, measures a Pool of
workers getting it, stops the store. Prints one JSON line.

    <venv>/bin/python bench/python/plasma_anchor.py LABEL TASKS WORKERS
"""
import json
import multiprocessing as mp
import os
import statistics
import sys
import time

import numpy as np
import pyarrow.plasma as plasma

_sock = None
_client = None
_barrier = None


def _init(sock, barrier):
    global _sock, _barrier
    _sock, _barrier = sock, barrier


def _get(oid):
    global _client
    if _client is None:
        _client = plasma.connect(_sock)
    return _client.get(plasma.ObjectID(oid))


def peek(oid, i):
    a = _get(oid)
    return float(a[i % len(a)])


def fresh(oid):
    t0 = time.perf_counter()
    a = _get(oid)
    t1 = time.perf_counter()
    a.sum()
    return t1 - t0, time.perf_counter() - t1


def hold(oid):
    a = _get(oid)
    a.sum()
    _barrier.wait()
    _barrier.wait()
    return os.getpid()


def pss(pid):
    """PSS + Shared_Hugetlb + Private_Hugetlb of pid, bytes (as onecopy.memory_of)."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Pss", "Shared_Hugetlb", "Private_Hugetlb"):
                total += int(rest.split()[0]) * 1024
    return total


def descendants(pid):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def total(pids):
    n = 0
    for p in pids:
        try:
            n += pss(p)
        except OSError:
            pass
    return n


def main():
    label, tasks, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    nbytes = 80_000_000 if label == "80MB" else 1 << 30
    with plasma.start_plasma_store(int(nbytes * 1.5) + (64 << 20)) as (sock, proc):
        ctx = mp.get_context("fork")
        barrier = ctx.Barrier(workers + 1)
        me = os.getpid()
        client = plasma.connect(sock)
        with ctx.Pool(workers, initializer=_init, initargs=(sock, barrier)) as pool:
            idle = total([me] + descendants(me))  # before the array exists, as anchors.py
            a = np.arange(10_000_000) if label == "80MB" else np.arange(nbytes // 8, dtype=np.float64)
            t0 = time.perf_counter()
            oid = client.put(a).binary()
            publish_s = time.perf_counter() - t0
            attach_s, read_s = pool.apply_async(fresh, [oid]).get()
            times = []
            for i in range(tasks):
                t0 = time.perf_counter()
                pool.apply_async(peek, [oid, i]).get()
                times.append(time.perf_counter() - t0)
            held = [pool.apply_async(hold, [oid]) for _ in range(workers)]
            barrier.wait()
            mem = total([me] + descendants(me)) - idle
            barrier.wait()
            for r in held:
                r.get()
    print(json.dumps({"publish_s": publish_s, "per_task_s": statistics.median(times),
                      "attach_s": attach_s, "read_s": read_s, "memory": mem}))


if __name__ == "__main__":
    main()
