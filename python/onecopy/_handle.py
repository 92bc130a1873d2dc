# SPDX-License-Identifier: Apache-2.0
"""Handle (an attached segment) and Tensor (one of its tensors).

Both give zero-copy, read-only numpy arrays (np.asarray, __array__) and DLPack
(__dlpack__/__dlpack_device__). An array keeps the mapping alive after the Handle is gone.
Both pickle by name only: unpickling attaches the segment in the receiving process.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import _attach, _core, _dtypes

# Segment -> {tensor name: entry}: read once per mapping, not once per unpickled handle (a
# model's bundle has hundreds of tensors).
_tables: "weakref.WeakKeyDictionary[_core.Segment, dict]" = weakref.WeakKeyDictionary()


def _table(segment: _core.Segment) -> dict:
    table = _tables.get(segment)
    if table is None:
        table = {t["name"]: t for t in segment.tensors()}
        _tables[segment] = table
    return table


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
        self.nbytes: int = entry["nbytes"]

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
        """The segment's header: checksum, page_size, backing, placement, pages_per_node,
        creator, tensors, ..."""
        return self._segment.info()

    def verify(self) -> bool:
        """Recomputes the checksum (reads every page) and compares it with the header's."""
        return self._segment.verify()

    # -- bundles -----------------------------------------------------------------------------
    def keys(self) -> list[str]:
        """Tensor names of a bundle, in table order ([] for an array segment)."""
        return [n for n in self._tensors if n] if self.is_bundle else []

    def __contains__(self, name) -> bool:
        return self.is_bundle and name in self._tensors

    def tensor(self, name: str = "") -> Tensor:
        """The tensor called name ("" or no name: the single array of an array segment).

        Raises KeyError for a name the bundle does not have."""
        entry = self._tensors.get(name)
        if entry is None or (name and not self.is_bundle):
            if not self.is_bundle:
                raise KeyError(f"segment {self.name!r} is one array, not a bundle: use "
                               f"np.asarray(handle) or handle.tensor()")
            near = ", ".join(list(self.keys())[:5])
            raise KeyError(f"segment {self.name!r} has no tensor {name!r} (it has {near}"
                           f"{', ...' if len(self._tensors) > 5 else ''})")
        if not name and self.is_bundle:
            raise KeyError(f"segment {self.name!r} is a bundle: name a tensor ({self.keys()[:3]}...)")
        return Tensor(self, entry)

    def __getitem__(self, key):
        """h["tensor.name"] for a bundle (a read-only array); h[index] indexes an array segment."""
        if self.is_bundle:
            return self.tensor(key).numpy()
        return self.tensor().numpy()[key]

    # -- the single array ---------------------------------------------------------------------
    def _array(self) -> Tensor:
        if self.is_bundle:
            raise TypeError(f"segment {self.name!r} is a bundle of {len(self._tensors)} tensors: "
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
            return f"<onecopy.Handle {self.name!r} bundle of {len(self._tensors)} tensors>"
        t = self._array()
        return f"<onecopy.Handle {self.name!r} {t.dtype_name}{list(t.shape)}>"
