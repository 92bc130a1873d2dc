# SPDX-License-Identifier: Apache-2.0
"""Handle (an attached segment) and Tensor (one of its tensors).

Both give zero-copy, read-only numpy arrays (np.asarray, __array__) and DLPack
(__dlpack__/__dlpack_device__). An array keeps the mapping alive after the Handle is gone.
Both pickle by name only: unpickling attaches the segment in the receiving process.
A bundle's Handle is a read-only Mapping {tensor name: array}; its small files (a model
directory's config and tokenizer, kept by put) are in Handle.files, not among the tensors.
"""
from __future__ import annotations

import difflib
import errno
import os
import pathlib
import shutil
import tempfile
import types
import weakref
from collections.abc import Mapping

import numpy as np

from . import _attach, _core, _dtypes

# Segment -> {tensor name: entry}: read once per mapping, not once per unpickled handle (a
# model's bundle has hundreds of tensors).
_tables: "weakref.WeakKeyDictionary[_core.Segment, dict]" = weakref.WeakKeyDictionary()


# Segment -> (tensor names without the kept files, read-only {relative path: bytes}): computed
# once per mapping; keys(), len() and iteration use the first, Handle.files the second.
_names: "weakref.WeakKeyDictionary[_core.Segment, list]" = weakref.WeakKeyDictionary()
_files: "weakref.WeakKeyDictionary[_core.Segment, Mapping]" = weakref.WeakKeyDictionary()


def _table(segment: _core.Segment) -> dict:
    table = _tables.get(segment)
    if table is None:
        table = {t["name"]: t for t in segment.tensors()}
        _tables[segment] = table
    return table


# Tensor-name prefix of the small files put keeps from a model directory (the engine's
# formats::kept_file_prefix).
FILES_PREFIX = "onecopy.files/"


def _from_pickle(name: str, store_dir: str | None) -> "Handle":
    return Handle(_attach.attach(store_dir, name, pin=True), store_dir)


def _tensor_from_pickle(name: str, store_dir: str | None, tensor: str) -> "Tensor":
    return _from_pickle(name, store_dir).tensor(tensor)


class Tensor:
    """One tensor of a segment (or a segment's single array): dtype, shape, and zero-copy views.

    np.asarray(t) is a read-only numpy array over the shared pages; numpy.from_dlpack(t) (or
    torch.from_dlpack) sees the same memory, marked read-only for DLPack >= 1.0 consumers."""

    __slots__ = ("_handle", "name", "dtype_name", "shape", "nbytes")

    def __init__(self, handle: "Handle", entry: dict):
        self._handle = handle
        self.name: str = entry["name"]
        self.dtype_name: str = entry["dtype"]  #: the engine's name: "f32", "bf16", "f8_e4m3", ...
        self.shape: tuple[int, ...] = tuple(entry["shape"])
        self.nbytes: int = entry["bytes"]

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of np.asarray(self) (see onecopy._dtypes for bf16 and F8)."""
        return _dtypes.numpy_dtype(self.dtype_name)[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def address(self) -> int:
        """Address of the first byte in this process's mapping."""
        return self._handle._segment.address(self.name)

    def numpy(self) -> np.ndarray:
        """The read-only numpy array over the shared pages (no copy)."""
        np_dtype, real = _dtypes.numpy_dtype(self.dtype_name)
        native = self.dtype_name in _dtypes.NATIVE
        a = np.asarray(self._handle._segment.export(self.name, not native))
        if not native and real:
            a = a.view(np_dtype)  # raw bits -> ml_dtypes type, still the same memory
        return a

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        if dtype is not None and np.dtype(dtype) != a.dtype:
            if copy is False:
                raise ValueError(f"a {a.dtype} segment cannot be viewed as {np.dtype(dtype)} "
                                 "without a copy")
            return a.astype(dtype)
        return a.copy() if copy else a

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        if copy:
            return np.array(self.numpy()).__dlpack__(max_version=max_version)
        kwargs = {"stream": stream, "max_version": max_version, "dl_device": dl_device}
        exported = self._handle._segment.export(self.name, False)
        return exported.__dlpack__(**{k: v for k, v in kwargs.items() if v is not None})

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __getitem__(self, index):
        return self.numpy()[index]

    def __reduce__(self):
        return (_tensor_from_pickle, (self._handle.name, self._handle._store_dir, self.name))

    def __repr__(self) -> str:
        what = f"{self._handle.name!r}" + (f"[{self.name!r}]" if self.name else "")
        return f"<onecopy.Tensor {what} {self.dtype_name}{list(self.shape)}>"


class Handle:
    """An attached segment: one array or a bundle of named tensors, read-only and shared.

    - np.asarray(h) (an array segment) or h["name"] (a bundle) give zero-copy read-only arrays;
      h.tensor(name) gives a Tensor (DLPack with the real dtype, e.g. bf16).
    - pickle.dumps(h) is a few dozen bytes whatever the size: the name (and the store directory
      when ONECOPY_DIR chose it). Unpickling attaches the segment in that process.
    Make handles with onecopy.put, onecopy.open or onecopy.open_or_create.
    """

    __slots__ = ("_segment", "_store_dir", "_tensors", "report", "__weakref__")

    def __new__(cls, segment: _core.Segment, store_dir: str | None = None, report=None):
        if cls is Handle and segment.is_bundle:
            cls = Bundle  # a read-only Mapping of its tensors
        return super().__new__(cls)

    def __init__(self, segment: _core.Segment, store_dir: str | None, report: dict | None = None):
        self._segment = segment
        self._store_dir = store_dir
        self._tensors = _table(segment)
        #: What creating it did (page size, fallbacks with reasons, ...); None unless from put().
        self.report = report

    # -- what it is --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The segment's name ("w" also for a replicated segment: each process that opens or
        unpickles the handle attaches the replica of its own node, "w@nodeN")."""
        return _attach.base_name(self._segment)

    @property
    def path(self) -> str:
        """The segment file."""
        return self._segment.path

    @property
    def nbytes(self) -> int:
        """Bytes of data (all tensors, with alignment padding for bundles)."""
        return self._segment.nbytes

    @property
    def is_bundle(self) -> bool:
        return self._segment.is_bundle

    def info(self) -> dict:
        """The segment's header with the keys of `onecopy stat --json` (docs/segment-json.md):
        data_bytes, checksum (16 hex digits), page_size, backing, placement, placement_asked,
        node_histogram, creator, tensors, ..."""
        return self._segment.info()

    def sharing(self) -> dict:
        """Whether this process really shares the segment, from its smaps (hugetlb counted:
        the kernel leaves hugetlb pages out of Rss and Pss).

        {"name", "nbytes": the segment's data, "mapped": bytes of the segment this process has
        in its page tables (Rss + hugetlb of the mapping: shared pages, no copy),
        "page_size": the mapping's page size, "process_private": bytes the whole process holds
        that no other process can share (anonymous memory — heap, stacks, and any copy of the
        weights — plus private hugetlb pages; smaps' Private_Clean would also count shared file
        pages that only this process happens to map), "process_pss": its proportional share of everything it maps, hugetlb
        included (onecopy.memory_of)}. A process that shares a model it has read maps about
        nbytes and holds far less than nbytes privately."""
        pages = _core.pages_of_mapping(self._segment.data_address)
        private = _private_bytes()
        return {"name": self.name, "nbytes": self.nbytes,
                "mapped": pages["rss"] + pages["hugetlb"],
                "page_size": pages["kernel_page_size"], "process_private": private,
                "process_pss": _core.memory_of(os.getpid())["total"]}

    def verify(self) -> bool:
        """Recomputes the checksum (reads every page) and compares it with the header's."""
        return self._segment.verify()

    # -- bundles -----------------------------------------------------------------------------
    def keys(self) -> list[str]:
        """Tensor names of a bundle, in table order ([] for an array segment)."""
        if not self.is_bundle:
            return []
        names = _names.get(self._segment)
        if names is None:
            names = [n for n in self._tensors if n and not n.startswith(FILES_PREFIX)]
            _names[self._segment] = names
        return list(names)

    def __contains__(self, name) -> bool:
        return (self.is_bundle and isinstance(name, str) and name in self._tensors
                and not name.startswith(FILES_PREFIX))

    @property
    def files(self) -> Mapping[str, bytes]:
        """The small files put kept from a model directory ({"config.json": b"...",
        "1_Pooling/config.json": ...}; files over 64 MiB and weights in other formats are left
        out), read-only; empty for segments made from arrays or single files."""
        files = _files.get(self._segment)
        if files is None:
            files = types.MappingProxyType({
                n[len(FILES_PREFIX):]: bytes(self._segment.export(n, False))
                for n in self._tensors if n.startswith(FILES_PREFIX)})
            _files[self._segment] = files
        return files

    def materialize(self, directory: str | os.PathLike | None = None) -> pathlib.Path:
        """Writes Handle.files into a folder a loader can read (AutoConfig.from_pretrained,
        AutoTokenizer.from_pretrained, ...) and returns it.

        directory None: a per-user cache folder named after the segment and its checksum
        ($XDG_CACHE_HOME or ~/.cache, then onecopy/files/NAME-CHECKSUM), written once: the
        first caller writes a temporary folder and renames it into place, concurrent callers
        and later calls return the same folder. A given directory is created if needed and each
        file is replaced atomically (an unchanged file is left alone)."""
        files = self.files
        for rel in files:
            parts = pathlib.PurePosixPath(rel).parts
            if rel.startswith("/") or ".." in parts:
                raise ValueError(f"segment {self.name!r}: kept file {rel!r} is not a relative "
                                 "path inside the model folder")
        if directory is not None:
            target = pathlib.Path(directory)
            target.mkdir(parents=True, exist_ok=True)
            for rel, data in files.items():
                _write_if_changed(target / rel, data)
            return target
        cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
        base = cache / "onecopy" / "files"
        target = base / f"{self.name}-{self.info()['checksum']}"  # 16 hex digits, as onecopy stat shows it
        if target.is_dir():
            return target  # complete: it only ever appears by rename
        base.mkdir(parents=True, exist_ok=True)
        staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{self.name}.", dir=base))
        try:
            for rel, data in files.items():
                path = staging / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            staging.chmod(0o755)
            os.rename(staging, target)
        except OSError as e:
            shutil.rmtree(staging, ignore_errors=True)
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not target.is_dir():
                raise
        return target  # another caller renamed its copy first: the same files

    def tensor(self, name: str = "") -> Tensor:
        """The tensor called name ("" or no name: the single array of an array segment).

        Raises KeyError for a name the bundle does not have."""
        entry = self._tensors.get(name)
        if entry is None or (name and not self.is_bundle):
            if not self.is_bundle:
                raise KeyError(f"segment {self.name!r} is one array, not a bundle: use "
                               f"np.asarray(handle) or handle.tensor()")
            raise KeyError(self._no_tensor(name))
        if name.startswith(FILES_PREFIX):
            raise KeyError(self._no_tensor(name))
        if not name and self.is_bundle:
            raise KeyError(f"segment {self.name!r} is a bundle: name a tensor ({self.keys()[:3]}...)")
        return Tensor(self, entry)

    def _no_tensor(self, name) -> str:
        """What a KeyError says: the tensors called like name (difflib), else how many there are."""
        keys = self.keys()
        text = str(name)
        near = [k for k in keys if k.startswith(text + ".")][:3]
        near += [k for k in difflib.get_close_matches(text, keys, n=3) if k not in near]
        hint = (f"did you mean {', '.join(repr(k) for k in near[:3])}?" if near
                else f"it has {len(keys)} tensors: handle.keys()")
        return f"segment {self.name!r} has no tensor {name!r}; {hint}"

    def __getitem__(self, key):
        """h["tensor.name"] for a bundle (a read-only array); h[index] indexes an array segment."""
        if self.is_bundle:
            if not isinstance(key, str):
                raise KeyError(self._no_tensor(key))
            return self.tensor(key).numpy()
        return self.tensor().numpy()[key]

    # -- the single array ---------------------------------------------------------------------
    def _array(self) -> Tensor:
        if self.is_bundle:
            raise TypeError(f"segment {self.name!r} is a bundle of {len(self.keys())} tensors: "
                            f"use handle[name] (names: handle.keys())")
        return self.tensor()

    @property
    def shape(self) -> tuple[int, ...]:
        return self._array().shape

    @property
    def dtype(self) -> np.dtype:
        return self._array().dtype

    @property
    def dtype_name(self) -> str:
        return self._array().dtype_name

    @property
    def ndim(self) -> int:
        return self._array().ndim

    def __len__(self) -> int:
        """The first dimension of an array segment; the number of tensors of a bundle."""
        if self.is_bundle:
            return len(self.keys())
        return len(self._array())

    def numpy(self) -> np.ndarray:
        """The read-only numpy array of an array segment (no copy)."""
        return self._array().numpy()

    def __array__(self, dtype=None, copy=None):
        return self._array().__array__(dtype=dtype, copy=copy)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        return self._array().__dlpack__(stream=stream, max_version=max_version,
                                        dl_device=dl_device, copy=copy)

    def __dlpack_device__(self):
        return (1, 0)

    # -- pickling -----------------------------------------------------------------------------
    def __reduce__(self):
        return (_from_pickle, (self.name, self._store_dir))

    def __repr__(self) -> str:
        if self.is_bundle:
            files = len(self._tensors) - len(self.keys())
            extra = f" and {files} files" if files else ""
            return f"<onecopy.Handle {self.name!r} bundle of {len(self.keys())} tensors{extra}>"
        t = self._array()
        return f"<onecopy.Handle {self.name!r} {t.dtype_name}{list(t.shape)}>"


class Bundle(Handle, Mapping):
    """The Handle of a bundle: a read-only Mapping {tensor name: read-only array} (items, keys,
    values, get, in, len, iter) in table order; h.tensor(name) gives the Tensor (DLPack, real
    dtypes). A KeyError names the near matches."""

    __slots__ = ()

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(_names.get(self._segment) or self.keys())

    # Mapping compares contents; handles compare (and hash) by identity, as before.
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__


def _private_bytes() -> int:
    """Anonymous + Private_Hugetlb of this process (smaps_rollup), bytes."""
    total = 0
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Anonymous", "Private_Hugetlb"):
                total += int(rest.split()[0]) * 1024
    return total


def _write_if_changed(path: pathlib.Path, data: bytes) -> None:
    """Writes data to path atomically (temp file + rename), unless path holds it already."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
