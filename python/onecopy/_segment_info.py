# SPDX-License-Identifier: Apache-2.0
"""A segment's header as a dict with the keys of the one segment JSON table (schema 2, see
docs/segment-json.md): handle.info(), the "info" of Store.list(), each of its "tensors".

Until the next release these dicts also answer the keys Python used before the table was
shared with `onecopy ... --json` (schema 1), each with a DeprecationWarning naming the new
key: file_size, nbytes, pages_per_node, bundle, creator_pid, creator_uid, creator_host, and a
tensor's nbytes. "checksum" kept its name but is now 16 hex digits, as `onecopy stat` prints
it; for one release it still formats ("{:016x}") and compares as the int it was, with a
warning.
"""
from __future__ import annotations

import warnings


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"segment info key {old!r} is deprecated (segment JSON schema 2): use {new}",
                  DeprecationWarning, stacklevel=3)


class Checksum(str):
    """16 lowercase hex digits; behaves as the int it was (format, ==, int()) for one release."""

    __slots__ = ()

    def __int__(self) -> int:
        return int(str(self), 16)

    def __format__(self, spec: str) -> str:
        if spec and spec[-1] in "xXdob":
            _deprecated("checksum (as an int)", "the hex text, or int(checksum, 16)")
            return format(int(str(self), 16), spec)
        return str.__format__(self, spec)

    def __eq__(self, other) -> bool:
        if isinstance(other, int) and not isinstance(other, bool):
            _deprecated("checksum (as an int)", "the hex text, or int(checksum, 16)")
            return int(str(self), 16) == other
        return str.__eq__(self, other)

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__


class TensorInfo(dict):
    """{"name", "dtype", "shape", "offset", "bytes"}; "nbytes" answers with a warning."""

    def __missing__(self, key):
        if key == "nbytes":
            _deprecated("nbytes", "'bytes'")
            return self["bytes"]
        raise KeyError(key)

    def get(self, key, default=None):
        return self[key] if key in self or key == "nbytes" else default


_OLD_KEYS = {
    "file_size": ("'file_bytes'", lambda d: d["file_bytes"]),
    "nbytes": ("'data_bytes'", lambda d: d["data_bytes"]),
    "pages_per_node": ("'node_histogram'",
                       lambda d: {h["node"]: h["pages"] for h in d["node_histogram"]}),
    "bundle": ("'kind' == 'bundle'", lambda d: d["kind"] == "bundle"),
    "creator_pid": ("['creator']['pid']", lambda d: d["creator"]["pid"]),
    "creator_uid": ("['creator']['uid']", lambda d: d["creator"]["uid"]),
    "creator_host": ("['creator']['host']", lambda d: d["creator"]["host"]),
}


class SegmentInfo(dict):
    """The schema-2 keys (docs/segment-json.md); the old Python keys answer with a warning."""

    def __init__(self, info: dict):
        super().__init__(info)
        self["checksum"] = Checksum(info["checksum"])
        self["tensors"] = [TensorInfo(t) for t in info["tensors"]]

    def __missing__(self, key):
        if key in _OLD_KEYS:
            new, value = _OLD_KEYS[key]
            _deprecated(key, new)
            return value(self)
        raise KeyError(key)

    def get(self, key, default=None):
        return self[key] if key in self or key in _OLD_KEYS else default
