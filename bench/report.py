#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns one run of bench/run.sh into bench/results/latest.md and SVG plots.

    python3 bench/report.py RAW_DIR OUT_DIR

RAW_DIR holds the Google Benchmark JSON files (<bench>_<backing>.json), many_readers.jsonl,
machine.txt, topo.txt and notes.txt that run.sh wrote. Writes OUT_DIR/latest.md and
OUT_DIR/{attach,memory,gather}.svg (gnuplot; without it the plots are left out and the report
says so). Standard library only. Ratios are always against the baseline measured in the same
run (each micro-benchmark measures subject and baseline back to back in every iteration).
"""
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

BACKINGS = ["shm_4k", "thp_2m", "hugetlb_2m", "hugetlb_1g"]
BACKING_TEXT = {
    "shm_4k": "4 KiB pages (/dev/shm)",
    "thp_2m": "THP 2 MiB (huge=within_size tmpfs)",
    "hugetlb_2m": "hugetlbfs 2 MiB",
    "hugetlb_1g": "hugetlbfs 1 GiB",
}
SIZES = ["1MiB", "16MiB", "256MiB", "1GiB", "2GiB", "8GiB"]
SIZE_BYTES = {"1MiB": 2**20, "16MiB": 2**24, "256MiB": 2**28, "1GiB": 2**30, "2GiB": 2**31, "8GiB": 2**33}


def seconds(s):
    """A duration for people: 7.5 µs, 1.20 ms, 3.40 s."""
    if s is None:
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def span(entry, metric, unit=seconds):
    """'median (min–max)' of a counter published by bench/support/harness.cpp."""
    if entry is None or metric not in entry:
        return "–"
    return f"{unit(entry[metric])} ({unit(entry[metric + '_min'])}–{unit(entry[metric + '_max'])})"


def result_or_skip_row(m, out, name, lead, columns):
    """m's entry for name, or None; when name failed, a 'skipped: why' row after the lead cells."""
    e = m.get(name)
    if e is None and name in m.errors:
        cells = lead + [f"skipped: {m.why_missing(name)}"]
        out.append("| " + " | ".join(cells) + " |" + " |" * (columns - len(cells)))
    return e


def rate_span(entry, metric, amount, scale, digits=1):
    """'median (min–max)' of amount / time, e.g. GB/s: the min rate comes from the max time."""
    if entry is None or metric not in entry or not entry[metric]:
        return "–"
    r = lambda t: amount / t / scale
    return f"{r(entry[metric]):.{digits}f} ({r(entry[metric + '_max']):.{digits}f}–{r(entry[metric + '_min']):.{digits}f})"


def bytes_text(n):
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}".replace(".00 ", " ")
    return f"{n} B"


def ratio(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}×"


class Micro:
    """Every micro-benchmark result of the run, by name, plus the machine facts."""

    def __init__(self, raw):
        self.entries = {}
        self.errors = {}
        self.context = {}
        # The 4 KiB phase's context first: it shows the host before run.sh grew any pool.
        paths = sorted(glob.glob(os.path.join(raw, "*_*.json")), key=lambda p: ("shm_4k" not in p, p))
        for path in paths:
            with open(path) as f:
                data = json.load(f)
            self.context = self.context or data.get("context", {})
            for b in data.get("benchmarks", []):
                name = b["run_name"] if "run_name" in b else b["name"]
                name = name.split("/iterations:")[0].split("/manual_time")[0]
                if b.get("error_occurred"):
                    self.errors[name] = b.get("error_message", "error")
                else:
                    self.entries[name] = b

    def get(self, name):
        return self.entries.get(name)

    def why_missing(self, name):
        return self.errors.get(name, "not run")


def load_readers(raw):
    rows = []
    path = os.path.join(raw, "many_readers.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip().startswith("{")]
    return rows


def reader_series(rows):
    """(mode label, size) → {readers: [runs]}; the label names the backing for onecopy."""
    series = {}
    for r in rows:
        label = r["mode"]
        if r["mode"] == "onecopy":
            label = "onecopy " + r["pages"].split(" ")[0]
        key = (label, r["size_bytes"])
        series.setdefault(key, {}).setdefault(r["readers"], []).append(r)
    return series


def median_of(runs, path):
    values = []
    for r in runs:
        v = r
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        if v is not None:
            values.append(v)
    return statistics.median(values) if values else None


def minmax_of(runs, path):
    values = []
    for r in runs:
        v = r
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        if v is not None:
            values.append(v)
    return (min(values), max(values)) if values else (None, None)


# ---- sections ---------------------------------------------------------------------------------

def optional_ratio(e, time_key, ratio_key):
    """"1.2 µs (1.31×)" from a result's time and ratio counters; "–" for results without them."""
    if time_key not in e or ratio_key not in e:
        return "–"
    return f"{seconds(e[time_key])} ({ratio(e[ratio_key])})"


def attach_section(m, out):
    out.append("## Attach, lazy (open + validate + mmap)\n")
    out.append("Median over 1000 iterations (min–max). *attach*: the store attaches a file it has "
               "attached before (as a worker does per task; the header it checked then is kept while "
               "the file is unchanged: header_cache.hpp); *first attach*: a store attaching the file for "
               "the first time, so it reads and checks the header (a fresh store, its directory already "
               "open). In every iteration the same file is also opened "
               "and mapped raw: *floor* = open + fstat + mmap (issue 16's goal: attach ≤ 1.3× it); "
               "*floor + close* = the floor closing its descriptor, as an attach that keeps none must; "
               "*validate floor* = the floor + pread of the header region at the file's end (the "
               "least an attach that checks the header against the file size does); *first touch* "
               "= what reading the header pages through the mapping adds to the floor (measured "
               "apart; attach reads the header with pread and touches no page of the mapping). Each "
               "row ends in PASS or MISS. Files up to 2 GiB are real published segments; 8 GiB files are "
               "sparse (a valid header, data never written), which a lazy attach cannot tell apart.\n")
    out.append("| backing | size | attach | floor | ratio | goal ≤ 1.3× | first attach | ratio | goal ≤ 1.3× | floor + close (attach ÷ it) | validate floor (first attach ÷ it) | first touch of header | detach / floor detach |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    worst = None
    for b in BACKINGS:
        for s in SIZES:
            e = result_or_skip_row(m, out, f"BM_Attach/{b}/{s}", [b, s], 10)
            if e is None:
                continue
            worst = max(worst or 0, e["ratio"])
            touch = e["floor_touch_s"] - e["floor_s"]
            file_kind = " (sparse)" if "file=sparse" in e.get("label", "") else ""
            new = e.get("ratio_new")
            first = (f"{span(e, 'attach_new_s')} | **{ratio(new)}** | {'PASS' if new <= 1.3 else 'MISS'}"
                     if new is not None else "– | – | –")
            out.append(f"| {b} | {s}{file_kind} | {span(e, 'attach_s')} | {span(e, 'floor_s')} | "
                       f"**{ratio(e['ratio'])}** | {'PASS' if e['ratio'] <= 1.3 else 'MISS'} | {first} | "
                       f"{optional_ratio(e, 'floor_close_s', 'ratio_close')} | "
                       f"{optional_ratio(e, 'floor_validate_s', 'ratio_new_validate')} | "
                       f"{seconds(touch)} | {seconds(e['detach_s'])} / {seconds(e['floor_detach_s'])} |")
    out.append("")
    return worst


def populated_section(m, out):
    out.append("## Attach, prefaulted (MADV_POPULATE_READ), 2 GiB\n")
    out.append("Against open + mmap + MADV_POPULATE_READ of the same file in the same iteration. "
               "Populating maps pages that exist (nothing is allocated or zeroed): the cost is one "
               "page-table entry per page.\n")
    out.append("| backing | pages | attach | floor | ratio | detach (munmap) |")
    out.append("|---|---|---|---|---|---|")
    for b in BACKINGS:
        e = result_or_skip_row(m, out, f"BM_AttachPopulated/{b}/2GiB", [b], 6)
        if e is None:
            continue
        pages = e.get("label", "").split("pages=")[-1]
        out.append(f"| {b} | {pages} | {span(e, 'attach_s')} | {span(e, 'floor_s')} | {ratio(e['ratio'])} | {seconds(e['detach_s'])} |")
    out.append("")


def read_section(m, out):
    out.append("## Sequential read, 2 GiB\n")
    out.append("Summing every 8-byte word, segment (attached by a fresh reader) against private "
               "anonymous memory of the same page size, interleaved in 128 MiB pieces, 8 passes. "
               "GB/s, median (min–max). *A/A control*: a second private buffer of the same pages "
               "read the same way, against the first — how far apart two buffers of one kind can "
               "be here (their pages land in different places). *First pass* is the reader's "
               "first read of the lazily attached segment, page faults included (single thread).\n")
    out.append("| backing | threads | segment GB/s | private GB/s | ratio | A/A control | first pass (with faults) | pages (segment / private) |")
    out.append("|---|---|---|---|---|---|---|---|")
    worst = None
    for b in BACKINGS:
        for t in (1, 2):
            e = result_or_skip_row(m, out, f"BM_SequentialRead/{b}/threads:{t}", [b, str(t)], 8)
            if e is None:
                continue
            worst = min(worst if worst is not None else 99, e["ratio"])
            n = 2**31 - 8192
            label = e.get("label", "")
            pages = label.split("pages=")[1].split(" private")[0] if "pages=" in label else ""
            private = label.split("private_pages=")[1].split(" threads")[0] if "private_pages=" in label else ""
            first = seconds(e["first_pass_s"]) if "first_pass_s" in e else ""
            out.append(f"| {b} | {t} | {rate_span(e, 'segment_s', n, 1e9)} | {rate_span(e, 'private_s', n, 1e9)} | "
                       f"**{ratio(e['ratio'])}** | {ratio(e.get('ratio_control'))} | {first} | {pages} / {private} |")
    out.append("")
    return worst


def gather_table(m, out, bench, n, digits):
    """One row per backing of bench (lookups of n loads): segment, private, POSIX shm 4 KiB."""
    out.append("| backing | segment | private | ratio | POSIX shm 4 KiB | segment ÷ POSIX shm 4 KiB |")
    out.append("|---|---|---|---|---|---|")
    for b in BACKINGS:
        e = result_or_skip_row(m, out, f"{bench}/{b}", [b], 6)
        if e is None:
            continue
        posix = rate_span(e, "posix_shm_4k_s", n, 1e6, digits) if "posix_shm_4k_s" in e else "(same pages)"
        vs = f"**{ratio(e['ratio_vs_posix_shm_4k'])}**" if "ratio_vs_posix_shm_4k" in e else "–"
        out.append(f"| {b} | {rate_span(e, 'segment_s', n, 1e6, digits)} | "
                   f"{rate_span(e, 'private_s', n, 1e6, digits)} | {ratio(e['ratio'])} | {posix} | {vs} |")
    out.append("")


def gather_section(m, out):
    out.append("## Random 8-byte gathers (64M lookups, one core), 2 GiB\n")
    out.append("An embedding lookup: `sum += table[index[i]]` over 64M random indices. Segment, "
               "private memory of the same page size and (on huge-page backings) plain POSIX shm "
               "with 4 KiB pages, back to back in each of 3 iterations. Million lookups/s, "
               "median (min–max).\n")
    gather_table(m, out, "BM_Gather", 64 * 2**20, 1)
    out.append("Dependent chain (4M loads, each position computed from the value loaded before it: "
               "pointer chasing, hash probing). Latency-bound: each TLB miss's page walk is paid in "
               "full. Million loads/s, median (min–max).\n")
    gather_table(m, out, "BM_GatherDependent", 4 * 2**20, 2)


def publish_section(m, out):
    out.append("## Publish, 2 GiB (create + fill + checksum + publish)\n")
    out.append("Against memcpy of the same bytes into already-populated private memory of the same "
               "page size, back to back in each iteration (fill and memcpy copy from one 256 MiB "
               "source, 8 times, one thread). GB/s of data, median (min–max) over the 4 warm "
               "iterations; *cold* is the first iteration, after 4 s idle (this VM returns freed "
               "memory to the host; touching it again is slow) and, on hugetlbfs, on pool pages "
               "not used before in the run. Breakdown of a warm publish: create (size, map, "
               "populate every page) / fill / seal (checksum, header, read-only, rename).\n")
    out.append("| backing | memcpy GB/s | publish GB/s | ratio | cold publish GB/s | cold ratio | create / fill / seal |")
    out.append("|---|---|---|---|---|---|---|")
    n = 2**31 - 8192
    for b in BACKINGS:
        e = result_or_skip_row(m, out, f"BM_Publish/{b}/2GiB", [b], 7)
        if e is None:
            continue
        cold = f"{n / e['publish_cold_s'] / 1e9:.2f}" if "publish_cold_s" in e else "–"
        parts = " / ".join(seconds(e.get(k)) for k in ("create_s", "fill_s", "seal_s"))
        out.append(f"| {b} | {rate_span(e, 'memcpy_s', n, 1e9)} | {rate_span(e, 'publish_s', n, 1e9, 2)} | "
                   f"**{ratio(e['ratio'])}** | {cold} | {ratio(e.get('ratio_cold'))} | {parts} |")
    out.append("")


def readers_section(rows, out):
    out.append("## Many readers (bench/multiproc/many_readers)\n")
    out.append("N processes are released together; each gets the array and checksums it (one "
               "thread each, 2 CPUs in all). *First result*: from the release to a reader's "
               "checksum, median over the readers (and the slowest), median of 3 runs. *Memory*: "
               "Σ over the readers of PSS + their share of hugetlb pages (hugetlb is not in Pss), "
               "once all have their result; *÷ one copy* divides it by the array's bytes. "
               "*Processes alone* is the same sum before the release (each reader's own code, "
               "heap and stack). Copying modes also keep one more copy outside the readers (the "
               "file's page cache, the sender's buffer), not counted here.\n")
    series = reader_series(rows)
    skipped = [r for r in rows if "skipped" in r]
    for size in sorted({k[1] for k in series}, reverse=True):
        out.append(f"### {bytes_text(size)} array\n")
        out.append("| mode | readers | first result (slowest) | attach / get bytes | memory | ÷ one copy | processes alone |")
        out.append("|---|---|---|---|---|---|---|")
        for (label, s), by_n in sorted(series.items()):
            if s != size:
                continue
            for n in sorted(by_n):
                runs = [r for r in by_n[n] if "skipped" not in r]
                if not runs:
                    out.append(f"| {label} | {n} | skipped: {by_n[n][0]['skipped']} | | | | |")
                    continue
                first = median_of(runs, ["first_result_s", "median"])
                slowest = median_of(runs, ["first_result_s", "max"])
                attach = median_of(runs, ["attach_s", "median"])
                mem = median_of(runs, ["total_memory_bytes"])
                over = median_of(runs, ["memory_over_one_copy"])
                before = median_of(runs, ["memory_before_bytes"])
                agree = all(r.get("checksums_agree") for r in runs)
                out.append(f"| {label} | {n} | {seconds(first)} ({seconds(slowest)}) | {seconds(attach)} | "
                           f"{bytes_text(mem)} | **{over:.2f}×** | {bytes_text(before)}{'' if agree else ' (checksums differ!)'} |")
        out.append("")
    if skipped:
        out.append("Skipped runs: " + "; ".join(sorted({f"{r['mode']} ×{r['readers']} at {bytes_text(r['size_bytes'])}: {r['skipped']}" for r in skipped})) + "\n")
    return series


# ---- targets ----------------------------------------------------------------------------------

def targets_section(m, series, out):
    out.append("## Targets (issue 4)\n")
    out.append("| target | measured | status |")
    out.append("|---|---|---|")

    def status(ok):
        return "met" if ok else "**missed**"

    attach = [(n, e) for n, e in m.entries.items() if n.startswith("BM_Attach/")]
    if attach:
        worst = max(attach, key=lambda x: x[1]["ratio"])
        best = min(attach, key=lambda x: x[1]["ratio"])
        worst_v = max(attach, key=lambda x: x[1]["ratio_validate"])
        out.append(f"| lazy attach ≤ 1.3× open+fstat+mmap at every size (a file attached before) | "
                   f"{ratio(best[1]['ratio'])}–{ratio(worst[1]['ratio'])} "
                   f"(attach {seconds(statistics.median(e['attach_s'] for _, e in attach))} median of all sizes; "
                   f"≤ {ratio(worst_v[1]['ratio_validate'])} of the validate floor) | {status(worst[1]['ratio'] <= 1.3)} |")
        firsts = [e for _, e in attach if "ratio_new" in e]
        if firsts:
            lo, hi = min(e["ratio_new"] for e in firsts), max(e["ratio_new"] for e in firsts)
            out.append(f"| … a store's first attach of a file (header read and checked) | {ratio(lo)}–{ratio(hi)} "
                       f"(first attach {seconds(statistics.median(e['attach_new_s'] for e in firsts))} median) | "
                       f"{status(hi <= 1.3)} |")
    reads = [(n, e) for n, e in m.entries.items() if n.startswith("BM_SequentialRead/")]
    if reads:
        worst = min(reads, key=lambda x: x[1]["ratio"])
        spread = max(abs(1 - e.get("ratio_control", 1)) for _, e in reads)
        out.append(f"| sequential read ≥ 0.95× private memory of the same page size | worst {ratio(worst[1]['ratio'])} "
                   f"({worst[0].split('/', 1)[1]}); A/A control of two private buffers off by up to {spread * 100:.0f}% | "
                   f"{status(worst[1]['ratio'] >= 0.95)} |")
    g = m.get("BM_Gather/hugetlb_2m")
    gd = m.get("BM_GatherDependent/hugetlb_2m")
    if g and "ratio_vs_posix_shm_4k" in g:
        dep = (f"; dependent chain {ratio(gd['ratio_vs_posix_shm_4k'])}" if gd and "ratio_vs_posix_shm_4k" in gd else "")
        out.append(f"| gathers on a 2 MiB segment ≥ 3× a 4 KiB POSIX-shm baseline | {ratio(g['ratio_vs_posix_shm_4k'])} "
                   f"({64 * 2**20 / g['segment_s'] / 1e6:.0f} vs {64 * 2**20 / g['posix_shm_4k_s'] / 1e6:.0f} M lookups/s; "
                   f"private 2 MiB memory {ratio(64 * 2**20 / g['private_s'] / (64 * 2**20 / g['posix_shm_4k_s']))}{dep}) | "
                   f"{status(g['ratio_vs_posix_shm_4k'] >= 3)} |")
    else:
        out.append("| gathers on a 2 MiB segment ≥ 3× a 4 KiB POSIX-shm baseline | not measured (no hugetlbfs 2 MiB phase) | – |")
    pubs = [(b, m.get(f"BM_Publish/{b}/2GiB")) for b in ("hugetlb_2m", "hugetlb_1g", "thp_2m")]
    pubs = [(b, e) for b, e in pubs if e]
    if pubs:
        text = ", ".join(f"{b} {ratio(e['ratio'])} warm / {ratio(e.get('ratio_cold'))} cold" for b, e in pubs)
        ok = all(e["ratio"] >= 0.5 for b, e in pubs if b.startswith("hugetlb"))
        out.append(f"| publish of 2 GiB on huge pages ≥ 0.5× memcpy | {text} | {status(ok)} (warm) |")
    one = [(k, v[16]) for k, v in series.items() if k[0].startswith("onecopy") and k[1] >= 2**30 - 2**20 and 16 in v]
    copying = [(k, v[16]) for k, v in series.items() if k[0] in ("file", "pipe") and 16 in v]
    if one:
        vals = [(k[0], median_of([r for r in runs if "skipped" not in r], ["memory_over_one_copy"])) for k, runs in one]
        worst = max(v for _, v in vals if v is not None)
        text = ", ".join(f"{k.split(' ', 1)[1]} {v:.3f}×" for k, v in vals if v is not None)
        cp = ", ".join(f"{k[0]} {median_of([r for r in runs if 'skipped' not in r], ['memory_over_one_copy']):.1f}× "
                       f"(at {bytes_text(k[1])})" for k, runs in copying if any('skipped' not in r for r in runs))
        out.append(f"| 16 readers' memory ≤ 1.05× one copy (≈ 16× for copying) | onecopy at 1 GiB: {text}; {cp} | {status(worst <= 1.05)} |")
    out.append("")


# ---- plots ------------------------------------------------------------------------------------

def plots(m, series, out_dir, tmp):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return "gnuplot is not installed (scripts/install-deps.sh --bench installs gnuplot-nox): no plots"
    common = ("set terminal svg size 820,480 dynamic noenhanced font 'Helvetica,12' background '#ffffff'\n"
              "set grid\nset key outside right top\n")
    scripts = []

    # Attach time vs size.
    lines = []
    for i, b in enumerate(BACKINGS, 1):
        rows = [(SIZE_BYTES[s], m.get(f"BM_Attach/{b}/{s}")) for s in SIZES]
        rows = [(x, e) for x, e in rows if e]
        if not rows:
            continue
        dat = os.path.join(tmp, f"attach_{b}.dat")
        with open(dat, "w") as f:
            for x, e in rows:
                f.write(f"{x / 2**20} {e['attach_s'] * 1e6} {e['floor_s'] * 1e6}\n")
        lines.append(f"'{dat}' using 1:2 with linespoints lt {i} pt 7 title '{b}: attach'")
        lines.append(f"'{dat}' using 1:3 with linespoints lt {i} dt 2 pt 6 title '{b}: open+mmap floor'")
    if lines:
        scripts.append(common + f"set output '{out_dir}/attach.svg'\n"
                       "set title 'Lazy attach time vs segment size (median)'\n"
                       "set logscale x 2\nset xlabel 'segment size'\nset ylabel 'µs'\nset yrange [0:*]\nset xrange [0.7:12000]\n"
                       "set xtics ('1M' 1, '16M' 16, '256M' 256, '1G' 1024, '2G' 2048, '8G' 8192)\n"
                       "plot " + ", \\\n  ".join(lines) + "\n")

    # Memory vs number of readers.
    lines = []
    for i, ((label, size), by_n) in enumerate(sorted(series.items()), 1):
        pts = []
        for n in sorted(by_n):
            runs = [r for r in by_n[n] if "skipped" not in r]
            if runs:
                pts.append((n, median_of(runs, ["memory_over_one_copy"])))
        if not pts:
            continue
        dat = os.path.join(tmp, f"mem_{i}.dat")
        with open(dat, "w") as f:
            for n, v in pts:
                f.write(f"{n} {v}\n")
        dash = "" if size >= 2**30 - 2**20 else " dt 2"
        lines.append(f"'{dat}' using 1:2 with linespoints lw 2{dash} pt {4 + i} ps 1.2 title '{label}, {bytes_text(size)}'")
    if lines:
        scripts.append(common + f"set output '{out_dir}/memory.svg'\n"
                       "set title 'Memory of N readers (PSS + hugetlb share) per copy of the array'\n"
                       "set logscale xy 2\nset xlabel 'readers'\nset ylabel 'memory ÷ one copy'\n"
                       "set xtics (1, 2, 4, 8, 16)\nset ytics (1, 2, 4, 8, 16)\nset yrange [0.7:24]\nset xrange [0.8:20]\n"
                       "plot " + ", \\\n  ".join(lines) + ", x with lines lt 0 title 'N copies'\n")

    # Gather rate per page size: independent lookups, and dependent ones.
    panels = []
    for bench, title, count in (("BM_Gather", "independent 8-byte gathers (64M)", 64 * 2**20),
                                ("BM_GatherDependent", "dependent chain (4M)", 4 * 2**20)):
        rows = []
        for b in BACKINGS:
            e = m.get(f"{bench}/{b}")
            if e:
                posix = count / e["posix_shm_4k_s"] / 1e6 if "posix_shm_4k_s" in e else "-"
                rows.append(f"{b} {count / e['segment_s'] / 1e6} {count / e['private_s'] / 1e6} {posix}")
        if rows:
            dat = os.path.join(tmp, f"{bench}.dat")
            with open(dat, "w") as f:
                f.write("\n".join(rows) + "\n")
            panels.append(("unset key\n" if panels else "") + f"set title '{title}'\n"
                          f"plot '{dat}' using 2:xtic(1) title 'segment', '' using 3 title 'private, same pages', "
                          "'' using 4 title 'POSIX shm, 4 KiB'\n")
    if panels:
        scripts.append(common.replace("820,480", "980,500") + f"set output '{out_dir}/gather.svg'\n"
                       "set style data histograms\nset style histogram clustered gap 1\n"
                       "set style fill solid 0.8 border -1\nset datafile missing '-'\n"
                       "set ylabel 'million lookups / s'\nset yrange [0:*]\nset xtics nomirror font ',10'\nset key below\n"
                       "set multiplot layout 1,2 title 'Random reads from 2 GiB, one core (median)'\n"
                       + "".join(panels) + "unset multiplot\n")
    for s in scripts:
        path = os.path.join(tmp, "plot.gp")
        with open(path, "w") as f:
            f.write(s)
        subprocess.run([gnuplot, path], check=True)
    return None


def main():
    raw, out_dir = sys.argv[1], sys.argv[2]
    m = Micro(raw)
    rows = load_readers(raw)
    text = lambda name: open(os.path.join(raw, name)).read().strip() if os.path.exists(os.path.join(raw, name)) else ""
    machine = text("machine.txt")
    facts = {k: m.context.get(k, "") for k in ("topology", "base_page_size", "hugepage_pools", "thp_enabled",
                                                "thp_defrag", "thp_shmem_enabled", "kernel")}
    out = ["# onecopy benchmarks: latest run\n",
           "Written by `make bench` (bench/run.sh → bench/report.py); reproduce with `sudo make bench` "
           "(as root the huge-page phases run; as another user only 4 KiB pages). Benchmarks never "
           "assert. Each figure is a median with min–max; each ratio is against a baseline measured "
           "in the same process, back to back in every iteration.\n",
           "## Machine\n", "```", machine, "```\n",
           "| fact | value |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in facts.items() if v]
    out.append("| pools during the run | grown per phase by run.sh (hugetlbfs 2 MiB: +3072 pages, 1 GiB: +6), "
               "then shrunk by the same amount |")
    topo = text("topo.txt")
    if topo:
        out += ["", "`onecopy topo --summary`:", "```", topo, "```"]
    notes = text("notes.txt")
    if notes:
        out += ["", "Notes from the run:", "", *[f"- {line}" for line in notes.splitlines()]]
    out.append("")
    body = []
    attach_section(m, body)
    populated_section(m, body)
    read_section(m, body)
    gather_section(m, body)
    publish_section(m, body)
    series = readers_section(rows, body)
    inference = text("inference_load.txt")
    if inference:  # bench/python/inference_load.py prints its own table, ratios and targets
        body += ["## Inference workers loading one model (bench/python/inference_load.py)\n",
                 "```", inference, "```\n"]
    targets = []
    targets_section(m, series, targets)
    with tempfile.TemporaryDirectory() as tmp:
        problem = plots(m, series, out_dir, tmp)
    figures = ["## Plots\n"]
    if problem:
        figures.append(problem + "\n")
    else:
        figures += ["![lazy attach time vs size](attach.svg)\n", "![memory vs number of readers](memory.svg)\n",
                    "![gather rate per page size](gather.svg)\n"]
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write("\n".join(out + targets + body + figures) + "\n")


if __name__ == "__main__":
    main()
