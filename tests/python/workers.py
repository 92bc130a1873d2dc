# SPDX-License-Identifier: Apache-2.0
# Functions that run in worker processes (importable by spawn/forkserver/loky workers), and
# readers of /proc/PID/maps and smaps.
import os
import time

import numpy as np

_barrier = None


def set_barrier(barrier):
    """Pool initializer: the barrier every task of a PSS measurement meets at."""
    global _barrier
    _barrier = barrier


def mapping_ranges(path, pid="self"):
    """(start, end) of every mapping of path in a process."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].strip() == path:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                out.append((start, end))
    return out


def mapping_memory(path, pid="self"):
    """{"Rss": bytes, "Pss": bytes} of a process's mappings of path (from smaps)."""
    totals = {"Rss": 0, "Pss": 0}
    inside = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):  # a mapping's header line
                fields = line.split(maxsplit=5)
                inside = len(fields) == 6 and fields[5].strip() == path
            elif inside and first in ("Rss:", "Pss:"):
                totals[first[:-1]] += int(line.split()[1]) * 1024
    return totals


def private_bytes(pid="self"):
    """Anonymous + Private_Hugetlb of a process (smaps_rollup): memory that is the process's own,
    where a copy of the weights made by a worker would show up. Not Private_Clean: a page of a
    shared segment that only this process has touched so far counts there until a second process
    maps it, so the first worker to read the weights would look as if it held a copy."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return sum(int(fields.get(k, "0 kB").split()[0]) * 1024
               for k in ("Anonymous", "Private_Hugetlb"))


def describe(handle, i):
    """What a worker sees: its pid, whether the array is the shared mapping, a sum, writeable."""
    a = np.asarray(handle)
    address = a.ctypes.data
    inside = any(s <= address < e for s, e in mapping_ranges(handle.path))
    return {"pid": os.getpid(), "i": i, "in_mapping": inside, "sum": float(a.sum()),
            "item": a[i].item(), "writeable": bool(a.flags.writeable)}


def describe_tensor(tensor, i):
    a = np.asarray(tensor)
    inside = any(s <= a.ctypes.data < e for s, e in mapping_ranges(tensor._handle.path))
    return {"pid": os.getpid(), "in_mapping": inside, "sum": float(a.astype(np.float64).sum())}


def hold_and_measure(handle):
    """Touch every page, wait until every task has, then report this process's memory."""
    from onecopy import memory_of
    before = memory_of(os.getpid())["pss"]
    a = np.asarray(handle)
    total = float(a.sum())
    _barrier.wait()
    mine = mapping_memory(handle.path)
    after = memory_of(os.getpid())["pss"]
    _barrier.wait()  # nobody unmaps before everyone has measured
    return {"pid": os.getpid(), "sum": total, "rss": mine["Rss"], "pss": mine["Pss"],
            "pss_delta": after - before}


def create_slowly(name, log, started, release, shape):
    """open_or_create whose fill logs its pid, says it started, and waits for release."""
    import onecopy

    def fill(a):
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        if started is not None:
            started.set()
        if release is not None:
            release.wait(60)
        else:
            time.sleep(0.3)
        a[...] = 42

    h = onecopy.open_or_create(name, shape, "f32", fill)
    return float(np.asarray(h).sum())
