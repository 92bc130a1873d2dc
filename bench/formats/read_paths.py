#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Which way of reading a file into a populated /dev/shm mapping is fastest here: buffered
pread (what the loader does), O_DIRECT pread, and copy_file_range into the tmpfs file — each
from the page cache (warm) and from disk (cold: the file's pages dropped with
posix_fadvise(DONTNEED), this file only). Threads run 8 MiB pieces like the loader.

usage: read_paths.py [--size-gib 1] [--runs 3] [--threads 2] [--dir /var/tmp]
"""
import argparse
import json
import mmap
import os
import statistics
import tempfile
import threading
import time

PIECE = 8 << 20


def run_threads(n, pieces, work):
    it = iter(pieces)
    lock = threading.Lock()
    errors = []

    def loop():
        try:
            while not errors:
                with lock:
                    p = next(it, None)
                if p is None:
                    return
                work(p)
        except OSError as e:
            errors.append(e)

    ts = [threading.Thread(target=loop) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-gib", type=float, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dir", default="/var/tmp")
    a = ap.parse_args()
    size = int(a.size_gib * (1 << 30)) // PIECE * PIECE
    src = tempfile.NamedTemporaryFile(dir=a.dir, prefix="onecopy-read.", delete=False).name
    dst = tempfile.NamedTemporaryFile(dir="/dev/shm", prefix="onecopy-read.", delete=False).name
    results = {}
    try:
        with open(src, "wb") as f:
            block = os.urandom(PIECE)
            for _ in range(size // PIECE):
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
        dfd = os.open(dst, os.O_RDWR)
        os.ftruncate(dfd, size)
        m = mmap.mmap(dfd, size)
        pieces = list(range(0, size, PIECE))
        zero = bytes(PIECE)
        for at in pieces:  # populate, as the draft does before the fill
            m[at:at + PIECE] = zero
        view = memoryview(m)

        def buffered(fd):
            return lambda at: os.preadv(fd, [view[at:at + PIECE]], at)

        def cfr(fd):
            def work(at):
                done = 0
                while done < PIECE:
                    done += os.copy_file_range(fd, dfd, PIECE - done, at + done, at + done)
            return work

        def drop(fd):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)

        def warm(fd):
            while os.read(fd, 64 << 20):
                pass
            os.lseek(fd, 0, 0)

        ways = {"pread": (0, buffered), "o_direct": (os.O_DIRECT, buffered), "copy_file_range": (0, cfr)}
        for name, (flags, make) in ways.items():
            for cache in ("warm", "cold"):
                times = []
                for _ in range(a.runs):
                    fd = os.open(src, os.O_RDONLY | flags)
                    plain = os.open(src, os.O_RDONLY)
                    (warm if cache == "warm" else drop)(plain)
                    os.close(plain)
                    try:
                        t = time.perf_counter()
                        run_threads(a.threads, pieces, make(fd))
                        times.append(time.perf_counter() - t)
                    except OSError as e:
                        results[f"{name}/{cache}"] = f"error: {e}"
                        break
                    finally:
                        os.close(fd)
                else:
                    assert view[:16] == block[:16] and view[size - 16:] == block[-16:]
                    results[f"{name}/{cache}"] = round(size / 1e9 / statistics.median(times), 2)
        view.release()
        m.close()
        os.close(dfd)
    finally:
        os.unlink(src)
        os.unlink(dst)
    print(json.dumps({"GBps": results, "bytes": size, "threads": a.threads, "runs": a.runs,
                      "kernel": os.uname().release}, indent=1))


if __name__ == "__main__":
    main()
