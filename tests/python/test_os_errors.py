# SPDX-License-Identifier: Apache-2.0
"""OSErrors from the engine carry errno, strerror and filename (os_error keeps the failing
call's path), so callers can act on them as on any OSError."""
import errno
import os

import pytest

import onecopy


def test_missing_input_is_file_not_found_with_its_filename(tmp_path):
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(FileNotFoundError) as e:
        onecopy.put("x", missing)
    assert e.value.errno == errno.ENOENT
    assert e.value.filename == str(missing)
    assert str(missing) in e.value.strerror


def test_path_through_a_file_is_not_a_directory_with_its_filename(tmp_path):
    (tmp_path / "plain").write_bytes(b"x")
    through = tmp_path / "plain" / "model.safetensors"
    with pytest.raises(NotADirectoryError) as e:
        onecopy.put("x", through)
    assert e.value.errno == errno.ENOTDIR
    assert e.value.filename == str(through)


def test_store_others_may_write_is_refused_with_its_filename(tmp_path, monkeypatch):
    # Root passes every permission check, so "forbidden" here is the store's own rule: a
    # directory other users could write is refused (EPERM), for root too.
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv("ONECOPY_DIR", str(shared))
    with pytest.raises(PermissionError) as e:
        onecopy.ls()
    assert e.value.errno == errno.EPERM
    assert e.value.filename == str(shared)
    assert "0777" in e.value.strerror
