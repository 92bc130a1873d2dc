# SPDX-License-Identifier: Apache-2.0
"""onecopy.ray — one shared, read-only copy per Ray node of an array, a file or a model's weights.

    import ray, onecopy.ray

    table = onecopy.ray.share("table", array)        # the driver's array: ray.put once
    weights = onecopy.ray.share("w", "/models/m.safetensors")   # a path readable on every node

    @ray.remote
    def work(table, i):
        t = table.open()              # the first task on this node publishes; the others wait
        return float(np.asarray(t)[i])

    ray.get([work.remote(table, i) for i in range(100)])
    table.release()                   # or `with onecopy.ray.share(...)`, or at driver exit

A Shared pickles as its name, the source and a fingerprint: no data. open() attaches the node's
segment, creating it first when nobody on that node has (onecopy.open_or_create: one creator per
node, the others block on its lock and attach; if the creator dies, a waiter takes over). Only
the creator fetches the driver's array (ray.get of the one ObjectRef), so the array crosses to
each node once, and only to nodes where a task opens it.

The store is the worker's own: ONECOPY_DIR of the node's environment (which Ray workers inherit
from their raylet), else the user's default store. On a real cluster that is the default store
of each machine; simulated_cluster() gives every simulated node its own directory instead.

Lifetime: segments are published remove_when_unused and tagged with the job id. release()
(also on `with` exit and at driver exit) removes them on every node; if the driver dies first,
Ray ends the job's workers, nobody maps the segments any more, and `onecopy gc` (which every
publish through this module runs first on its node) removes them.

Ray is imported here only: `import onecopy` never imports it.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import socket
import weakref
from typing import Any, Optional, Sequence, Union

import numpy as np
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

import onecopy
from . import _api, _attach, _dtypes
from ._handle import Handle
from ._ray_cluster import simulated_cluster

__all__ = ["share", "Shared", "PublishError", "simulated_cluster", "node_store"]


class PublishError(RuntimeError):
    """Publishing on a node failed: names the node, its store and the cause (e.g. no space)."""


def node_store() -> Optional[str]:
    """This process's store directory (ONECOPY_DIR), or None for the default store."""
    return _attach.current_store_dir()


def _where() -> str:
    """'node 3f2a9c1e (host, store /dev/shm/x)': the node this process runs on, for errors."""
    try:
        node = ray.get_runtime_context().get_node_id()[:8]
    except Exception:  # not in a Ray process: still say which host
        node = "?"
    return f"node {node} ({socket.gethostname()}, store {node_store() or 'default'})"


def _job() -> str:
    try:
        return ray.get_runtime_context().get_job_id()
    except Exception:
        return ""


def _fingerprint(a: np.ndarray) -> str:
    """The array's dtype, shape and a digest of its bytes: two shares under one name must agree."""
    digest = hashlib.blake2b(np.ascontiguousarray(a).reshape(-1).view(np.uint8), digest_size=16)
    return f"{_dtypes.engine_name(a.dtype)}{list(a.shape)}:{digest.hexdigest()}"


# Counts, in this process, how many times open() fetched the driver's array (tests read it: the
# array must cross to each node once, never once per task).
fetches = 0

# Names this driver shared and not yet released (released at exit).
_unreleased: "weakref.WeakValueDictionary[str, Shared]" = weakref.WeakValueDictionary()


class Shared:
    """A name plus where its bytes come from; open() gives the node's Handle.

    Make it with share() on the driver; pass it to tasks and actors like any argument."""

    def __init__(self, name: str, kind: str, source: Any, *, dtype: str = "", shape=(),
                 fingerprint: str = "", numa: str = "auto", pages: str = "auto",
                 timeout: float = 600.0, job: str = ""):
        self.name = name
        self.kind = kind            # "array" (source: [ObjectRef]) or "file" (source: path)
        self._source = source       # a list around the ref: Ray passes it as is, not resolved
        self.dtype = dtype
        self.shape = tuple(shape)
        self.fingerprint = fingerprint
        self.numa, self.pages, self.timeout = numa, pages, timeout
        self.job = job

    def __reduce__(self):
        return (Shared, (self.name, self.kind, self._source),
                {"dtype": self.dtype, "shape": self.shape, "fingerprint": self.fingerprint,
                 "numa": self.numa, "pages": self.pages, "timeout": self.timeout, "job": self.job})

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self) -> str:
        what = f"{self.dtype}{list(self.shape)}" if self.kind == "array" else self._source
        return f"<onecopy.ray.Shared {self.name!r} {what}>"

    # -- on the workers ---------------------------------------------------------------------
    def open(self) -> Handle:
        """The Handle of this node's copy, published first when this is the node's first user.

        Raises ValueError when the node's segment of that name holds other content, and
        PublishError (naming the node and its store) when publishing fails, e.g. no space."""
        store_dir = node_store()
        if (store_dir or "", self.name) in _attach._pinned:  # opened (and checked) here before
            try:
                return Handle(_attach.attach(store_dir, self.name, pin=True), store_dir)
            except FileNotFoundError:
                _attach.drop(store_dir, self.name)  # released or collected: publish again
        try:
            _attach.store(store_dir).gc()  # what dead jobs left behind on this node
        except OSError:
            pass  # best effort: collecting is not this task's job
        try:
            if self.kind == "array":
                h = onecopy.open_or_create(
                    self.name, self.shape, self.dtype, self._fill, numa=self.numa,
                    pages=self.pages, timeout=self.timeout, remove_when_unused=True,
                    metadata=json.dumps({"fingerprint": self.fingerprint, "job": self.job}))
            else:
                h = onecopy.open_or_put(self.name, self._source, numa=self.numa,
                                        pages=self.pages, timeout=self.timeout,
                                        remove_when_unused=True)
        except ValueError as e:
            raise ValueError(f"onecopy.ray: {self.name!r} on {_where()}: {e}") from None
        except Exception as e:
            raise PublishError(f"onecopy.ray: publishing {self.name!r} on {_where()}: "
                               f"{type(e).__name__}: {e}") from e
        if self.kind == "array":
            self._check_content(h)
        _attach.attach(store_dir, self.name, pin=True)  # kept for the worker's next tasks
        return h

    def _fill(self, array: np.ndarray) -> None:
        global fetches
        if self._source is None:
            raise PublishError(f"onecopy.ray: {self.name!r} has no copy on {_where()} and the "
                               "driver dropped its source (drop_source() after preload())")
        fetches += 1
        array[...] = ray.get(self._source[0])  # zero-copy from this node's object store

    def _check_content(self, h: Handle) -> None:
        try:
            theirs = json.loads(h.info()["metadata"]).get("fingerprint")
        except (ValueError, AttributeError):
            theirs = None
        if theirs != self.fingerprint:
            raise ValueError(f"onecopy.ray: {self.name!r} on {_where()} already holds other "
                             f"content ({theirs or 'not published by onecopy.ray'}; this share "
                             f"is {self.fingerprint}): use another name or remove it there")

    # -- on the driver ------------------------------------------------------------------------
    def preload(self, nodes: Optional[Sequence[str]] = None) -> list[str]:
        """Publishes on every alive node (or the given node ids) now, one task pinned to each
        node, instead of in the first task that opens it there. Returns the node ids."""
        nodes = list(nodes) if nodes is not None else _alive_nodes()
        ray.get([_preload.options(scheduling_strategy=_on(n)).remote(self) for n in nodes])
        return nodes

    def drop_source(self) -> None:
        """Lets Ray free the driver's array on every node (its object store keeps a copy on
        each node that fetched it, until evicted). Call it after preload(): a node without a
        copy cannot publish any more."""
        if self.kind == "array":
            self._source = None

    def release(self) -> int:
        """Removes this name's segments of this job from every alive node (processes that map
        them keep valid mappings) and lets go of the driver's array. Returns how many."""
        _unreleased.pop(self.name, None)
        if not ray.is_initialized():
            return 0
        removed = ray.get([_remove.options(scheduling_strategy=_on(n)).remote(
            self.name, self.job, self.kind == "file") for n in _alive_nodes()])
        self.drop_source()
        return sum(removed)

    def __enter__(self) -> "Shared":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def share(name: str, source: Union[np.ndarray, str, os.PathLike], *, numa: str = "auto",
          pages: str = "auto", timeout: float = 600.0) -> Shared:
    """On the driver: names source for the job's tasks (call .open() in them).

    source: an array-like (put once into Ray's object store; each node's first task fetches it)
    or a path readable on every node (a .npy, .safetensors, raw file or model directory, as
    onecopy.open_or_put reads it). Raises ValueError when name is already shared in this job
    with other content."""
    if isinstance(source, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(source))
        shared = Shared(name, "file", path, numa=numa, pages=pages, timeout=timeout, job=_job())
        fingerprint = f"file:{path}"
    else:
        a = np.asarray(source)
        fingerprint = _fingerprint(a)
        shared = Shared(name, "array", [ray.put(a)], dtype=_dtypes.engine_name(a.dtype),
                        shape=a.shape, fingerprint=fingerprint, numa=numa, pages=pages,
                        timeout=timeout, job=_job())
    earlier = _unreleased.get(name)
    if earlier is not None and earlier.fingerprint != fingerprint:
        raise ValueError(f"onecopy.ray.share: {name!r} is already shared in this job with other "
                         f"content ({earlier!r}): release() it first or use another name")
    shared.fingerprint = fingerprint
    _unreleased[name] = shared
    return shared


@atexit.register
def _release_all() -> None:
    for shared in list(_unreleased.values()):
        try:
            shared.release()
        except Exception:  # the cluster may be gone already; gc collects what is left
            pass


def _alive_nodes() -> list[str]:
    return [n["NodeID"] for n in ray.nodes() if n["Alive"]]


def _on(node_id: str) -> NodeAffinitySchedulingStrategy:
    return NodeAffinitySchedulingStrategy(node_id, soft=False)


@ray.remote(num_cpus=0)
def _preload(shared: Shared) -> str:
    shared.open()
    return ray.get_runtime_context().get_node_id()


@ray.remote(num_cpus=0, max_retries=0)
def _remove(name: str, job: str, from_files: bool) -> int:
    """Removes name from this node's store if this job published it (arrays: the job id in the
    metadata; files: any segment published from files under that name); then collects garbage."""
    store = _attach.store(node_store())
    removed = 0
    if store.exists(name):
        try:
            meta = json.loads(store.attach(name).info()["metadata"] or "{}")
        except (ValueError, OSError):
            meta = {}
        ours = _api._SOURCE_KEY in meta if from_files else meta.get("job") == job
        if ours:
            store.remove(name)
            _attach.drop(node_store(), name)
            removed = 1
    store.gc()
    return removed
