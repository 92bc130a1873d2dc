# SPDX-License-Identifier: Apache-2.0
# Every test gets a private store: ONECOPY_DIR on a fresh directory in /dev/shm (mode 0700,
# made by mkdtemp), removed afterwards, and no host configuration (ONECOPY_CONF points nowhere).
import os
import shutil
import tempfile

import pytest

import onecopy
from onecopy import _attach


@pytest.fixture(autouse=True)
def store_dir(monkeypatch):
    d = tempfile.mkdtemp(prefix="onecopy-pytest.", dir="/dev/shm")
    monkeypatch.setenv("ONECOPY_DIR", d)
    monkeypatch.setenv("ONECOPY_CONF", "/nonexistent/onecopy.conf")
    _attach._live.clear()
    _attach._pinned.clear()
    yield d
    onecopy.forget()
    _attach._live.clear()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def onecopy_cli():
    """The onecopy command of this build (ctest sets ONECOPY_CLI), else the one on PATH."""
    path = os.environ.get("ONECOPY_CLI") or shutil.which("onecopy")
    if not path:
        pytest.skip("no onecopy command: set ONECOPY_CLI (ctest does) or put it on PATH")
    return path
