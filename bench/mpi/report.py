# SPDX-License-Identifier: Apache-2.0
"""Markdown table of distribute_bench's JSON records (one per line): bench/mpi/report.py FILE."""
import argparse
import json

NAMES = {
    "onecopy-bcast": "onecopy share, rank 0 reads + MPI_Bcast to node leaders",
    "onecopy-rerun": "onecopy share again (persistent segment found)",
    "onecopy-load": "onecopy share, each node leader reads the file",
    "win-shared": "MPI_Win_allocate_shared, node rank 0 reads the file",
    "private-read": "every rank reads the file into its own memory",
}


def gib(n):
    return f"{n / 2**30:.2f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--note", default="")
    a = p.parse_args()
    rows = [json.loads(l) for l in open(a.file) if l.startswith("{")]
    if not rows:
        raise SystemExit("no results")
    r0 = rows[0]
    print(f"{r0['ranks']} ranks on {r0['nodes']} simulated hosts, table {gib(r0['bytes'])} GiB. {a.note}\n")
    print("| method | time until every rank can read it | memory per host (GiB) | copies per host | same bytes on every rank |")
    print("|---|---:|---|---:|---|")
    for r in rows:
        mem = r["memory_per_node"]
        copies = max(mem) / r["bytes"]
        print(f"| {NAMES.get(r['method'], r['method'])} | {r['seconds']:.3f} s | "
              f"{' / '.join(gib(m) for m in mem)} | {copies:.2f} | {'yes' if r['same_bytes_everywhere'] else 'NO'} |")


if __name__ == "__main__":
    main()
