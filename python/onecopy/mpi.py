# SPDX-License-Identifier: Apache-2.0
"""onecopy.mpi — one copy of a read-only array per node of an MPI job (mpi4py).

    from mpi4py import MPI
    import onecopy.mpi

    # Rank 0's array (the others pass None) reaches one leader per node by MPI_Bcast, straight
    # into that node's shared segment; every rank gets a read-only numpy view of it.
    table = onecopy.mpi.share(MPI.COMM_WORLD, "table", array if rank == 0 else None)
    # Or a file that rank 0 reads (.npy keeps its dtype and shape; other files are raw bytes).
    table = onecopy.mpi.share(MPI.COMM_WORLD, "table", "/data/table.npy")
    ...
    onecopy.mpi.finalize(MPI.COMM_WORLD)   # or MPI_Finalize: job-scope segments are removed

Collective: every rank of comm calls share with the same name and options. It is a thin layer
over the C API (libonecopy_mpi.so, onecopy/mpi/share.h) through ctypes, so it needs no compiled
Python module: the library is ONECOPY_MPI_LIBRARY, or libonecopy_mpi.so next to this file, or
found by the dynamic linker. mpi4py must use the same MPI library (it does with the system
Open MPI).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import pathlib
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["share", "finalize", "created_here", "ShareError"]

_OK, _FAILED, _USAGE = 0, 1, 2
_SCOPES = {"job": 0, "persistent": 1}
_COPIES = {"per_node": 0, "node": 0, "replicate": 1}


class ShareError(RuntimeError):
    """share failed; every rank raises it with the same message (which rank failed, where, why)."""


class _Options(ctypes.Structure):
    # Mirrors onecopy_mpi_options in onecopy/mpi/share.h.
    _fields_ = [
        ("scope", ctypes.c_int),
        ("copies", ctypes.c_int),
        ("root", ctypes.c_int),
        ("pages", ctypes.c_char_p),
        ("numa", ctypes.c_char_p),
        ("chunk_bytes", ctypes.c_uint64),
        ("dtype", ctypes.c_char_p),
        ("ndim", ctypes.c_int),
        ("shape", ctypes.POINTER(ctypes.c_uint64)),
    ]


_lib: Optional[ctypes.CDLL] = None


def _library() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    candidates = []
    if os.environ.get("ONECOPY_MPI_LIBRARY"):
        candidates.append(os.environ["ONECOPY_MPI_LIBRARY"])
    candidates.append(str(pathlib.Path(__file__).with_name("libonecopy_mpi.so")))
    found = ctypes.util.find_library("onecopy_mpi")
    if found:
        candidates.append(found)
    errors = []
    for path in candidates:
        if os.sep in path and not os.path.exists(path):
            errors.append(f"{path}: no such file")
            continue
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            errors.append(str(e))
    else:
        raise ImportError("onecopy.mpi needs libonecopy_mpi.so (build with -DONECOPY_MPI=ON, or set "
                          "ONECOPY_MPI_LIBRARY): " + "; ".join(errors))
    seg = ctypes.c_void_p
    out = ctypes.POINTER(ctypes.c_void_p)
    opts = ctypes.POINTER(_Options)
    lib.onecopy_mpi_share_f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint64, ctypes.c_void_p, opts, out]
    lib.onecopy_mpi_share_file_f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint64, ctypes.c_char_p,
                                             ctypes.c_uint64, opts, out]
    lib.onecopy_mpi_finalize_f.argtypes = [ctypes.c_int]
    lib.onecopy_mpi_data.argtypes = [seg]
    lib.onecopy_mpi_data.restype = ctypes.c_void_p
    lib.onecopy_mpi_size.argtypes = [seg]
    lib.onecopy_mpi_size.restype = ctypes.c_uint64
    lib.onecopy_mpi_checksum.argtypes = [seg]
    lib.onecopy_mpi_checksum.restype = ctypes.c_uint64
    lib.onecopy_mpi_created_here.argtypes = [seg]
    lib.onecopy_mpi_release.argtypes = [seg]
    lib.onecopy_mpi_release.restype = None
    lib.onecopy_mpi_last_error.restype = ctypes.c_char_p
    _lib = lib
    return lib


class _Segment:
    """Owns one rank's attachment; released when the last array viewing it goes."""

    def __init__(self, lib: ctypes.CDLL, handle: ctypes.c_void_p):
        self._lib = lib
        self.handle = handle

    def __del__(self):
        if self.handle:
            self._lib.onecopy_mpi_release(self.handle)
            self.handle = None


def _describe(source: Any, dtype, shape) -> tuple:
    """On the root: what every rank needs to know about the source (or why it cannot be shared)."""
    try:
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            size = os.path.getsize(path)
            if path.endswith(".npy") and dtype is None:
                with open(path, "rb") as f:
                    version = np.lib.format.read_magic(f)
                    readers = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}
                    if version not in readers:
                        raise ValueError(f"{path}: .npy format version {version} is not supported")
                    shape_, fortran, dtype_ = readers[version](f)
                    if fortran:
                        raise ValueError(f"{path}: Fortran-ordered .npy files are not supported")
                    offset = f.tell()
                return ("file", path, np.dtype(dtype_).str, tuple(shape_), size - offset, offset)
            dt = np.dtype(dtype if dtype is not None else np.uint8)
            if shape is None:
                if size % dt.itemsize:
                    raise ValueError(f"{path}: {size} bytes is not a whole number of {dt.name}")
                shape = (size // dt.itemsize,)
            return ("file", path, dt.str, tuple(shape), size, 0)
        if source is None:
            raise ValueError("the root passed None: pass an array or a path on the root rank")
        array = np.ascontiguousarray(source)
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        return ("buffer", array, array.dtype.str, array.shape, array.nbytes, 0)
    except Exception as e:  # reported on every rank
        return ("error", f"{type(e).__name__}: {e}")


def share(comm, name: str, array_or_path: Any = None, *, root: int = 0, scope: str = "job",
          copies: str = "per_node", pages: Optional[str] = None, numa: Optional[str] = None,
          dtype=None, shape: Optional[Sequence[int]] = None, chunk_bytes: int = 0) -> np.ndarray:
    """Shares an array (or a file) that rank `root` holds with every rank of comm, one copy per node.

    Collective over comm (an mpi4py communicator). On the root, array_or_path is a numpy array
    (or anything np.ascontiguousarray takes) or a path: a .npy file keeps its dtype and shape,
    any other file is raw bytes (dtype/shape describe it). The other ranks' value is ignored.

    scope: "job" (removed at finalize/MPI_Finalize) or "persistent" (stays; a rerun skips the
    load). copies: "per_node" or "replicate" (one per NUMA node). pages: "auto", "1g", "2m",
    "thp", "4k". numa (per_node): the words of `onecopy put --numa`, chosen the same way —
    "auto" (the planner, on each node's leader), "bind:N", "interleave[:N,M]"; None: "local".

    Returns a read-only numpy array of the root's dtype and shape over this rank's mapping.
    Raises ShareError (ValueError for bad arguments) on every rank when any rank fails.
    """
    if scope not in _SCOPES:
        raise ValueError(f"scope must be one of {sorted(_SCOPES)}, not {scope!r}")
    if copies not in _COPIES:
        raise ValueError(f"copies must be one of {sorted(_COPIES)}, not {copies!r}")
    lib = _library()
    rank = comm.Get_rank()
    mine = _describe(array_or_path, dtype, shape) if rank == root else None
    meta = None
    if mine is not None:
        meta = mine if mine[0] == "error" else (mine[0],) + tuple(mine[2:])  # everything but the data
    meta = comm.bcast(meta, root=root)
    if meta[0] == "error":
        raise ShareError(f"share '{name}': rank {root} cannot share its source: {meta[1]}")
    kind, dtype_str, shape_, nbytes, offset = meta
    dt = np.dtype(dtype_str)
    dims = (ctypes.c_uint64 * max(len(shape_), 1))(*shape_)
    opts = _Options(scope=_SCOPES[scope], copies=_COPIES[copies], root=root,
                    pages=pages.encode() if pages else None, numa=numa.encode() if numa else None,
                    chunk_bytes=chunk_bytes, dtype=dt.name.encode(), ndim=len(shape_),
                    shape=ctypes.cast(dims, ctypes.POINTER(ctypes.c_uint64)))
    handle = ctypes.c_void_p()
    fcomm = comm.py2f()
    if kind == "buffer":
        data = mine[1].ctypes.data if rank == root else None
        rc = lib.onecopy_mpi_share_f(fcomm, name.encode(), nbytes, data, ctypes.byref(opts), ctypes.byref(handle))
    else:
        path = mine[1].encode() if rank == root else b""
        rc = lib.onecopy_mpi_share_file_f(fcomm, name.encode(), nbytes, path, offset, ctypes.byref(opts),
                                          ctypes.byref(handle))
    if rc != _OK:
        message = lib.onecopy_mpi_last_error().decode(errors="replace")
        raise (ValueError if rc == _USAGE else ShareError)(message)
    seg = _Segment(lib, handle)
    size = lib.onecopy_mpi_size(handle)
    view = (ctypes.c_char * size).from_address(lib.onecopy_mpi_data(handle))
    view._onecopy_segment = seg  # the mapping lives as long as any array over it
    array = np.frombuffer(view, dtype=dt).reshape(shape_)
    array.flags.writeable = False
    return array


def created_here(array: np.ndarray) -> bool:
    """True when this rank's node created the segment behind array (False: it was found)."""
    base = array
    while base is not None and not hasattr(base, "_onecopy_segment"):
        base = getattr(base, "base", None) if not isinstance(base, memoryview) else base.obj
    if base is None:
        raise ValueError("not an array returned by onecopy.mpi.share")
    seg = base._onecopy_segment
    return bool(seg._lib.onecopy_mpi_created_here(seg.handle))


def finalize(comm) -> None:
    """Collective: removes the job-scope segments shared over comm (MPI_Finalize also does)."""
    lib = _library()
    if lib.onecopy_mpi_finalize_f(comm.py2f()) != _OK:
        raise ShareError(lib.onecopy_mpi_last_error().decode(errors="replace"))
