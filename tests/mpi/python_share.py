# SPDX-License-Identifier: Apache-2.0
"""Run under mpirun: onecopy.mpi.share with mpi4py. Rank 0 prints one JSON line.

    mpirun -np 4 python3 python_share.py STORE_INPUT_DIR
"""
import json
import sys

import numpy as np
from mpi4py import MPI

import onecopy.mpi

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
work = sys.argv[1]
report = {}

# An array on the root.
expected = np.arange(3 * 1024 * 1024, dtype=np.float32).reshape(3, -1)
a = onecopy.mpi.share(comm, "py-array", expected if rank == 0 else None)
report["array_equal"] = bool(np.array_equal(a, expected))
report["array_readonly"] = not a.flags.writeable
report["array_dtype"] = str(a.dtype)
report["array_shape"] = list(a.shape)
report["created_here"] = onecopy.mpi.created_here(a)

# A .npy file that rank 0 reads: dtype and shape come from its header.
if rank == 0:
    np.save(f"{work}/table.npy", np.arange(1000, dtype=np.int64) * 3)
comm.Barrier()
t = onecopy.mpi.share(comm, "py-npy", f"{work}/table.npy", scope="persistent")
report["npy_equal"] = bool(np.array_equal(t, np.arange(1000, dtype=np.int64) * 3))

# A bad call fails on every rank with the same error.
try:
    onecopy.mpi.share(comm, "py-missing", f"{work}/no-such-file.bin")
    report["missing"] = "no error"
except onecopy.mpi.ShareError as e:
    report["missing"] = str(e)

sums = comm.gather(float(a.sum(dtype=np.float64)), root=0)
reports = comm.gather(report, root=0)
del a, t
onecopy.mpi.finalize(comm)
if rank == 0:
    print(json.dumps({"ranks": reports, "sums": sums}))
