# SPDX-License-Identifier: Apache-2.0
"""Which store a call uses, and this process's attachments.

A store is identified by its directory when ONECOPY_DIR names one (that directory travels with
pickled handles, so a worker started with another environment still finds the segment), else by
None: the user's default store (ONECOPY_CONF, /etc/onecopy.conf or the mounts), resolved in each
process.

Attachments are shared: opening a name that this process already maps (same file: device and
inode) reuses the mapping instead of mapping it again. Handles received by pickle are also
*pinned*: a pool worker keeps the mapping (and its page tables) from one task to the next instead
of unmapping it when the task's handle is dropped. forget() drops the pins.
"""
from __future__ import annotations

import os
import weakref

from . import _core

# (store dir or "", name) -> _core.Segment, alive while any Handle/array/capsule uses it.
_live: "weakref.WeakValueDictionary[tuple[str, str], _core.Segment]" = weakref.WeakValueDictionary()
# Same keys, held until forget(): mappings of handles this process received by pickle.
_pinned: "dict[tuple[str, str], _core.Segment]" = {}


def current_store_dir() -> str | None:
    """The store directory of this process's environment (ONECOPY_DIR), or None."""
    return os.environ.get("ONECOPY_DIR") or None


# Building a Store reads /proc/mounts and the configuration (about a millisecond): keep them.
_stores: "dict[tuple[str, str], _core.Store]" = {}


def store(store_dir: str | None, *, fresh: bool = False) -> _core.Store:
    """The store of store_dir (None: this process's default store, as ONECOPY_CONF and the
    mounts say). fresh=True looks at the mounts again (after `onecopy setup`, say)."""
    key = (store_dir or "", "" if store_dir else os.environ.get("ONECOPY_CONF", ""))
    s = None if fresh else _stores.get(key)
    if s is None:
        s = _core.Store.at(store_dir) if store_dir else _core.Store.from_environment()
        _stores[key] = s
    return s


def base_name(segment: _core.Segment) -> str:
    """The name a segment was asked by: "w" for the replica "w@node1" ('@' is never in names)."""
    return segment.name.split("@", 1)[0]


def remember(store_dir: str | None, segment: _core.Segment) -> None:
    """Records a segment this process just created or attached."""
    _live[(store_dir or "", base_name(segment))] = segment


def attach(store_dir: str | None, name: str, *, pin: bool = False) -> _core.Segment:
    """The segment called name: this process's existing mapping of the same file, or a new one.

    Raises FileNotFoundError when there is none, onecopy.FormatError when its file is malformed."""
    key = (store_dir or "", name)
    try:
        return _attach(store(store_dir), key, name, pin)
    except FileNotFoundError:
        if store_dir:
            raise
        return _attach(store(store_dir, fresh=True), key, name, pin)  # a new backing?


def _attach(s: _core.Store, key: tuple[str, str], name: str, pin: bool) -> _core.Segment:
    seg = _live.get(key)
    if seg is not None:
        try:
            st = os.stat(s.path_of(name))
        except FileNotFoundError:
            seg = None  # removed: attach() below says so with the engine's message
        else:
            if seg.identity != (st.st_dev, st.st_ino):
                seg = None  # removed and created again: a different segment
    if seg is None:
        seg = s.attach(name)
        _live[key] = seg
    if pin:
        _pinned[key] = seg
    return seg


def drop(store_dir: str | None, name: str) -> None:
    """Forgets name (after rm): later opens attach afresh."""
    key = (store_dir or "", name)
    _live.pop(key, None)
    _pinned.pop(key, None)


def forget(name: str | None = None) -> None:
    """Drops this process's pins (of name, or of every segment). Mappings still used by a Handle
    or an array stay valid; the others are unmapped."""
    if name is None:
        _pinned.clear()
        return
    for key in [k for k in _pinned if k[1] == name]:
        del _pinned[key]
