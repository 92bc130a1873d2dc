# SPDX-License-Identifier: Apache-2.0
"""One key table (docs/segment-json.md): handle.info() has exactly the keys `onecopy stat
--json` prints for the segment itself, with the same values, and the schema-1 Python keys still
answer for one release, each with a DeprecationWarning."""
import json
import subprocess

import numpy as np
import pytest

import onecopy

# What stat adds about the file and its users, beside the segment's own keys.
STAT_ONLY = {"name", "path", "mapped_by", "resident_histogram"}


def stat_json(onecopy_cli, name):
    r = subprocess.run([onecopy_cli, "stat", name, "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_python_info_is_the_cli_json(onecopy_cli):
    h = onecopy.put("b", {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, np.int64)},
                    numa="bind:0", metadata="m")
    shown = stat_json(onecopy_cli, "b")
    info = h.info()
    assert set(info) == set(shown) - STAT_ONLY
    for key in info:
        assert info[key] == shown[key], key
    assert info["schema"] == 2 and info["kind"] == "bundle"
    assert info["checksum"] == f"{int(info['checksum'], 16):016x}"  # 16 hex digits
    assert info["placement"] == "bind:0" and info["placement_asked"] == "bind"
    assert info["tensors"][0]["bytes"] == 24 and info["tensors"][0]["shape"] == [2, 3]


def test_old_python_keys_answer_with_a_warning():
    h = onecopy.put("a", np.zeros(1000, np.uint8), numa="local")
    info = h.info()
    old = {"file_size": info["file_bytes"], "nbytes": info["data_bytes"], "bundle": False,
           "creator_pid": info["creator"]["pid"], "creator_uid": info["creator"]["uid"],
           "creator_host": info["creator"]["host"],
           "pages_per_node": {e["node"]: e["pages"] for e in info["node_histogram"]}}
    for key, value in old.items():
        with pytest.warns(DeprecationWarning, match=key):
            assert info[key] == value
        with pytest.warns(DeprecationWarning):
            assert info.get(key) == value
    with pytest.warns(DeprecationWarning, match="nbytes"):
        assert info["tensors"][0]["nbytes"] == 1000
    with pytest.warns(DeprecationWarning, match="checksum"):
        assert f"{info['checksum']:016x}" == info["checksum"]  # formatted as the int it was
    with pytest.warns(DeprecationWarning, match="checksum"):
        assert info["checksum"] == int(info["checksum"], 16)
    with pytest.raises(KeyError):
        info["no_such_key"]
    assert info.get("no_such_key") is None
