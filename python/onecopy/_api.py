# SPDX-License-Identifier: Apache-2.0
"""put, open, open_or_create, ls, rm: the store operations, on the store this process's
environment names (ONECOPY_DIR, else the user's default store)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _attach, _dtypes, _placement
from ._handle import Handle


def _prepare(value: Any, what: str) -> tuple[str, list[int], np.ndarray]:
    """(engine dtype, shape, the bytes as a C-contiguous 1-D uint8 array) of an array-like."""
    a = np.asarray(value)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))  # segments hold native (little-endian) values
    try:
        name = _dtypes.engine_name(a.dtype)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    shape = list(a.shape)
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)  # (it would also turn a 0-d array into 1-d)
    return name, shape, a.reshape(-1).view(np.uint8)


def put(name: str, data, numa: str = "auto", pages: str = "auto", *, strict: bool = False,
        replace: bool = False, remove_when_unused: bool = False, metadata: str = "") -> Handle:
    """Publishes data as the read-only segment `name` and returns its Handle.

    data: an array-like (one array) or a mapping {tensor name: array-like} (a bundle, e.g. a
    model's weights; order kept). The bytes are copied once into shared memory.
    numa: "auto" (the topology planner decides: bind, interleave, one replica per node or the
    kernel's default, with its reasons in handle.report["plan"]), "replicate[:N,M]", "local",
    "none", "bind:N[,M]", "interleave", "interleave:N,M". pages: "auto", "1g", "2m", "thp", "4k"; strict=True makes a page-size
    fallback an error (FallbackError) instead of a reason in handle.report["fallbacks"].
    replace: publish over an existing segment (readers keep the old one).
    remove_when_unused: `onecopy gc` removes it once no process maps it.

    Raises FileExistsError when name exists (and not replace), ValueError for a bad name, dtype
    or option, NoSpaceError / HugePagePoolError / OutOfMemoryError when memory runs out,
    OSError with errno EBUSY while another process creates the same name.
    """
    if isinstance(data, Mapping):
        if not data:
            raise ValueError(f"put {name!r}: an empty mapping has no tensors")
        tensors = []
        for key, value in data.items():
            if not isinstance(key, str):
                raise ValueError(f"put {name!r}: tensor names are strings, got {key!r}")
            tensors.append((key, *_prepare(value, f"put {name!r} tensor {key!r}")))
        bundle = True
    else:
        tensors = [("", *_prepare(data, f"put {name!r}"))]
        bundle = False
    nbytes = sum(t[3].size for t in tensors)
    where = _placement.placement(numa, nbytes, pages, strict)
    store_dir = _attach.current_store_dir()
    seg, report = _attach.store(store_dir, fresh=True).put(
        name, tensors, bundle, _placement.pages(pages), where.where, where.replicate_on,
        strict, replace, remove_when_unused, metadata)
    report["plan"] = where.plan
    _attach.remember(store_dir, seg)
    return Handle(seg, store_dir, report)


def open(name: str) -> Handle:  # noqa: A001 - the natural name, like os.open / io.open
    """Attaches the published segment `name`, read-only (microseconds, whatever its size).

    Raises FileNotFoundError when there is none, onecopy.FormatError when its file is malformed,
    ValueError for a bad name."""
    store_dir = _attach.current_store_dir()
    return Handle(_attach.attach(store_dir, name), store_dir)


def open_or_create(name: str, shape, dtype, fill: Any = None, *, numa: str = "auto",
                   pages: str = "auto", strict: bool = False, timeout: float = 600.0,
                   remove_when_unused: bool = False, metadata: str = "") -> Handle:
    """Attaches `name`, creating it first if nobody has: exactly one process on the host runs
    fill, the others wait (up to timeout seconds) and attach. If the creator dies, a waiter
    takes over; nothing half-filled is ever visible.

    fill: None (zeros), a scalar or array-like (broadcast into the new array), or a callable
    called with the writable numpy array of shape/dtype to fill in place (valid only during the
    call: do not keep it). remove_when_unused and metadata are recorded in the segment as by
    put() when this call creates it (handle.info() reads them back). Raises ValueError when the
    segment exists with another shape or dtype, TimeoutError (errno ETIMEDOUT) after timeout,
    and what fill raises.
    """
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(d) for d in shape)
    dtype_name = _dtypes.engine_name(dtype)
    np_dtype, real = _dtypes.numpy_dtype(dtype_name)
    if fill is not None and not callable(fill) and not real and np.any(np.asarray(fill) != 0):
        raise ValueError(f"open_or_create {name!r}: filling {dtype_name} with values needs "
                         "ml_dtypes (pip install ml_dtypes); pass a callable that writes the "
                         "raw bits, or fill=None for zeros")

    def fill_draft(raw: np.ndarray) -> None:
        if fill is None:
            return  # populate gave zeros
        array = raw.view(np_dtype).reshape(shape)
        if callable(fill):
            fill(array)
        else:
            array[...] = fill

    nbytes = int(np.prod(shape, dtype=np.uint64)) * np_dtype.itemsize
    store_dir = _attach.current_store_dir()
    try:
        seg = _attach.attach(store_dir, name)  # this process may map it already
    except FileNotFoundError:
        where = _placement.placement(numa, nbytes, pages, strict)
        seg = _attach.store(store_dir, fresh=True).open_or_create(
            name, dtype_name, list(shape), _placement.pages(pages), where.where,
            where.replicate_on, strict, fill_draft, float(timeout), remove_when_unused, metadata)
    tensors = seg.tensors()
    if seg.is_bundle or tensors[0]["dtype"] != dtype_name or tuple(tensors[0]["shape"]) != shape:
        got = "a bundle" if seg.is_bundle else f"{tensors[0]['dtype']}{list(tensors[0]['shape'])}"
        raise ValueError(f"open_or_create {name!r}: the segment exists as {got}, asked for "
                         f"{dtype_name}{list(shape)}")
    _attach.remember(store_dir, seg)
    return Handle(seg, store_dir)


def ls() -> list[dict]:
    """Published segments, sorted by name: {"name", "nbytes", "dtype" and "shape" (arrays) or
    "tensors" (bundles: their names), "page_size", "backing", "placement", "mapped_by" (PIDs),
    "path", "created_ns", "checksum"}."""
    out = []
    for e in _attach.store(_attach.current_store_dir()).list():
        info = e["info"]
        row = {"name": e["name"], "nbytes": info["nbytes"], "bundle": info["bundle"]}
        if info["bundle"]:
            row["tensors"] = [t["name"] for t in info["tensors"]]
        else:
            row["dtype"] = info["tensors"][0]["dtype"]
            row["shape"] = tuple(info["tensors"][0]["shape"])
        for k in ("page_size", "backing", "placement", "created_ns", "checksum"):
            row[k] = info[k]
        row["mapped_by"] = e["mapped_by"]
        row["path"] = e["path"]
        out.append(row)
    return out


def rm(name: str) -> None:
    """Unlinks segment `name`. Processes that map it (arrays, handles) keep a valid mapping;
    the memory returns when the last one goes. Raises FileNotFoundError when there is none."""
    store_dir = _attach.current_store_dir()
    _attach.store(store_dir).remove(name)
    _attach.drop(store_dir, name)


