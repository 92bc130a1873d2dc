# SPDX-License-Identifier: Apache-2.0
"""put, open, open_or_create, ls, rm: the store operations, on the store this process's
environment names (ONECOPY_DIR, else the user's default store)."""
from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _attach, _core, _dtypes
from ._handle import Handle

# The metadata key under which a load from files records its sources' fingerprint.
_SOURCE_KEY = "onecopy.source"


def _is_path(data: Any) -> bool:
    return isinstance(data, (str, os.PathLike))


def _plan_files(source) -> "_core.LoadPlan":
    """The engine's load plan of a file, model directory or shard index (headers only)."""
    return _core.plan_files([os.fspath(source)])


def _tensors_of(name: str, data) -> tuple[list, bool]:
    """put's inputs as (tensors, bundle): [(tensor name, engine dtype, shape, uint8 bytes)]."""
    if isinstance(data, Mapping):
        if not data:
            raise ValueError(f"put {name!r}: an empty mapping has no tensors")
        tensors = []
        for key, value in data.items():
            if not isinstance(key, str):
                raise ValueError(f"put {name!r}: tensor names are strings, got {key!r}")
            tensors.append((key, *_prepare(value, f"put {name!r} tensor {key!r}")))
        return tensors, True
    return [("", *_prepare(data, f"put {name!r}"))], False


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

    data: a path (str or os.PathLike), loaded exactly as `onecopy put NAME PATH` does: a
    .safetensors or .npy file, a model directory (its *.safetensors.index.json, else every
    .safetensors, else every .npy; and its small files — config, tokenizer, … — see
    Handle.files) or a `*.safetensors.index.json`; one .npy file is a single array, the others
    a bundle. Or an array-like (one array), or a mapping {tensor name: array-like} (a bundle,
    e.g. a model's weights; order kept). The bytes are copied once into shared memory.
    numa: "auto" (the default, as `onecopy put`'s: the topology planner decides bind,
    interleave, one replica per node or no policy, with its reasons in handle.report["plan"]),
    "replicate[:N,M]", "bind:N[,M]", "interleave[:N,M]", "local" (no policy: first touch;
    "none" is the same). pages: "auto", "1g", "2m", "thp", "4k"; strict=True makes a page-size
    fallback an error (FallbackError) instead of a reason in handle.report["fallbacks"].
    replace: publish over an existing segment (readers keep the old one).
    remove_when_unused: `onecopy gc` removes it once no process maps it.
    metadata: free text kept in the segment (arrays and mappings; files carry their own).

    Raises FileExistsError when name exists (and not replace), FileNotFoundError for a missing
    path, onecopy.FormatError for a malformed file, ValueError for a bad name, dtype or option,
    NoSpaceError / HugePagePoolError / OutOfMemoryError when memory runs out, OSError with errno
    EBUSY while another process creates the same name.
    """
    try:
        return _put(name, data, numa, pages, strict, replace, remove_when_unused, metadata)
    except FileExistsError as e:
        if replace:
            raise
        # The engine's message is front-end neutral; say it the Python way.
        raise FileExistsError(errno.EEXIST, f"{e.strerror} (pass replace=True, or "
                              f"onecopy.rm({name!r}) first)") from None


def _placement(numa: str, pages: str, strict: bool, nbytes: int) -> "_core.Placement":
    """numa= and pages= for nbytes on this host, chosen as `onecopy put --numa/--pages` chooses
    them (the engine's choose_placement: the planner for auto, replicate, bind without nodes).
    Bad forms raise ValueError naming the allowed ones; the planner raises OutOfMemoryError
    when the copies cannot fit and FallbackError when strict and the asked pages or policy are
    not possible."""
    for what, value in (("numa", numa), ("pages", pages)):
        if not isinstance(value, str):
            raise ValueError(f"{what} must be a string like 'auto'; got {value!r}")
    return _core.choose_placement(numa.strip(), pages.strip(), strict, nbytes)


def _put(name, data, numa, pages, strict, replace, remove_when_unused, metadata) -> Handle:
    store_dir = _attach.current_store_dir()
    if _is_path(data):
        if metadata:
            raise ValueError(f"put {name!r}: metadata= is for arrays and mappings; tensor files "
                             "carry their own (safetensors __metadata__)")
        plan = _plan_files(data)
        where = _placement(numa, pages, strict, plan.nbytes)
        seg, report = _attach.store(store_dir, fresh=True).put_files(
            name, plan, where, replace, remove_when_unused)
        report["load_notes"] = plan.notes
        report["warnings"] += plan.warnings
    else:
        tensors, bundle = _tensors_of(name, data)
        nbytes = sum(t[3].size for t in tensors)
        where = _placement(numa, pages, strict, nbytes)
        seg, report = _attach.store(store_dir, fresh=True).put(
            name, tensors, bundle, where, replace, remove_when_unused, metadata)
    report["plan"] = where.plan
    _attach.remember(store_dir, seg)
    return Handle(seg, store_dir, report)


def open_or_put(name: str, source, *, numa: str = "auto", pages: str = "auto",
                strict: bool = False, timeout: float = 600.0,
                remove_when_unused: bool = False) -> Handle:
    """Attaches `name`, publishing it from source first if nobody on the host has: exactly one
    process loads it, the others wait (up to timeout seconds) and attach; if that process dies
    mid-load, a waiter takes over. Nothing half-loaded is ever visible.

    source: what put() takes (a path: file, model directory, shard index; an array-like; a
    mapping of array-likes). A load from files records a fingerprint of its sources in the
    segment (file names and sizes, a digest of each tensor file's header and of each small file:
    no tensor data is read), so when the segment exists already and was published from other
    files, this raises ValueError naming the name and the first difference. For arrays and
    mappings the tensor table (names, dtypes, shapes) is compared, not the values.
    remove_when_unused: when this call publishes, `onecopy gc` removes the segment once no
    process maps it (as put's).
    Raises TimeoutError (errno ETIMEDOUT) after timeout, and what put() raises.
    """
    store_dir = _attach.current_store_dir()
    if _is_path(source):
        plan = _plan_files(source)
        nbytes, expected = plan.nbytes, plan.tensors
    else:
        tensors, bundle = _tensors_of(name, source)
        nbytes = sum(t[3].size for t in tensors)
        expected = [{"name": t[0], "dtype": t[1], "shape": t[2]} for t in tensors]
    try:
        seg = _attach.attach(store_dir, name)  # published already (or mapped by this process)
    except FileNotFoundError:
        where = _placement(numa, pages, strict, nbytes)
        s = _attach.store(store_dir, fresh=True)
        if _is_path(source):
            seg = s.open_or_put_files(name, plan, where, float(timeout), remove_when_unused)
        else:
            seg = s.open_or_put_tensors(name, tensors, bundle, where, float(timeout),
                                        remove_when_unused)
    if _is_path(source):
        _check_same_files(name, seg, plan, source)
    _check_same_tensors(name, seg, expected)
    _attach.remember(store_dir, seg)
    return Handle(seg, store_dir)


def _recorded_source(seg) -> dict | None:
    try:
        meta = json.loads(seg.info()["metadata"] or "{}")
    except ValueError:
        return None
    return meta.get(_SOURCE_KEY) if isinstance(meta, dict) else None


def _check_same_files(name: str, seg, plan, source) -> None:
    """Raises ValueError when segment name was published from other files than plan's."""
    recorded, wanted = _recorded_source(seg), json.loads(plan.source)
    if recorded is None:
        raise ValueError(f"open_or_put {name!r}: the segment exists but was not published from "
                         f"files (it records no source), so it cannot be checked against "
                         f"{os.fspath(source)}: remove it (onecopy.rm) or use another name")
    for kind in ("files", "kept"):
        have = {e["name"]: e for e in recorded.get(kind, [])}
        want = {e["name"]: e for e in wanted.get(kind, [])}
        only_segment, only_source = sorted(have.keys() - want.keys()), sorted(want.keys() - have.keys())
        if only_segment or only_source:
            parts = [f"{', '.join(names)} only in the {where}"
                     for names, where in ((only_segment, "segment"), (only_source, "source"))
                     if names]
            raise ValueError(f"open_or_put {name!r}: the segment was published from other "
                             f"files: {'; '.join(parts)} ({os.fspath(source)})")
        for n in sorted(have):
            h, w = have[n], want[n]
            if h != w:
                what = ", ".join(f"{k} {h.get(k)} (segment) vs {w[k]} (source)"
                                 for k in w if h.get(k) != w[k])
                raise ValueError(f"open_or_put {name!r}: the segment was published from other "
                                 f"content: {n}: {what} ({os.fspath(source)})")


def _check_same_tensors(name: str, seg, expected: list) -> None:
    """Raises ValueError when segment name's tensor table is not the expected one."""
    have = [(t["name"], t["dtype"], tuple(t["shape"])) for t in seg.tensors()]
    want = [(t["name"], t["dtype"], tuple(t["shape"])) for t in expected]
    if have == want:
        return
    for h, w in zip(have, want):
        if h != w:
            raise ValueError(f"open_or_put {name!r}: the segment holds {h[0] or 'its array'!r} "
                             f"{h[1]}{list(h[2])} where the source has {w[0] or 'its array'!r} "
                             f"{w[1]}{list(w[2])}")
    raise ValueError(f"open_or_put {name!r}: the segment holds {len(have)} tensors, the source "
                     f"{len(want)}")


def open(name: str, *, via: str = "store", socket: str = "") -> Handle:  # noqa: A001 - like os.open
    """Attaches the published segment `name`, read-only (microseconds, whatever its size).

    via="store" (default): from this process's store. via="serve": through `onecopy serve` on
    socket ('' = ONECOPY_SOCKET, else the store's serve.sock): the server's sealed copy when it
    holds one (see seal()), else its fd of the store's file; no access to the store directory
    is needed (a container given only the socket). A handle pickles by name either way: the
    receiving process attaches from its own store.

    Raises FileNotFoundError when there is none, onecopy.FormatError when its file is malformed,
    ValueError for a bad name or via, OSError naming the socket when via="serve" and no server
    runs there."""
    store_dir = _attach.current_store_dir()
    if via == "serve":
        return Handle(_core.serve_attach(name, socket), store_dir)
    if via != "store":
        raise ValueError(f"open {name!r}: via must be 'store' or 'serve', not {via!r}")
    return Handle(_attach.attach(store_dir, name), store_dir)


def seal(name: str, *, keep_store_file: bool = False, socket: str = "") -> dict:
    """Asks `onecopy serve` (socket as open's) to copy the published segment `name` into a
    memfd sealed against shrinking, growing and writing, and to hand that out from then on:
    readers that open it with via="serve" keep their bytes whatever happens to the store file
    (truncated, rewritten, removed), where readers of the file itself get SIGBUS. Unless
    keep_store_file, the server then removes the store file: its copy is the one copy, reached
    through the server only, for as long as it runs or a reader maps it. Returns the server's
    reply (generation, file_size, checksum, seals, store_file_removed).

    Raises FileNotFoundError when the store has no such segment, OSError naming the socket when
    no server runs, RuntimeError when the copy fails (memory, huge pages) or the server
    predates sealing."""
    return json.loads(_core.serve_seal(name, keep_store_file, socket))


def unseal(name: str, *, socket: str = "") -> dict:
    """Asks `onecopy serve` to drop its sealed copy of `name` (readers keep their mappings).
    Raises FileNotFoundError when it holds none."""
    return json.loads(_core.serve_unseal(name, socket))


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
        where = _placement(numa, pages, strict, nbytes)
        seg = _attach.store(store_dir, fresh=True).open_or_create(
            name, dtype_name, list(shape), where, fill_draft, float(timeout), remove_when_unused,
            metadata)
    tensors = seg.tensors()
    if seg.is_bundle or tensors[0]["dtype"] != dtype_name or tuple(tensors[0]["shape"]) != shape:
        got = "a bundle" if seg.is_bundle else f"{tensors[0]['dtype']}{list(tensors[0]['shape'])}"
        raise ValueError(f"open_or_create {name!r}: the segment exists as {got}, asked for "
                         f"{dtype_name}{list(shape)}")
    _attach.remember(store_dir, seg)
    return Handle(seg, store_dir)


def ls() -> list[dict]:
    """Published segments, sorted by name: {"name", "nbytes", "dtype" and "shape" (arrays) or
    "tensors" (bundles: their names), "page_size", "backing", "placement", "placement_asked"
    (the numa= its creator asked for: "auto" when the planner chose), "mapped_by" (PIDs),
    "path", "created_ns", "checksum" (16 hex digits)}. Each segment's full header:
    onecopy.open(name).info()."""
    out = []
    for e in _attach.store(_attach.current_store_dir()).list():
        info = e["info"]
        bundle = info["kind"] == "bundle"
        row = {"name": e["name"], "nbytes": info["data_bytes"], "bundle": bundle}
        if bundle:
            row["tensors"] = [t["name"] for t in info["tensors"]]
        else:
            row["dtype"] = info["tensors"][0]["dtype"]
            row["shape"] = tuple(info["tensors"][0]["shape"])
        for k in ("page_size", "backing", "placement", "placement_asked", "created_ns", "checksum"):
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


