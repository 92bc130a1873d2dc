# SPDX-License-Identifier: Apache-2.0
# onecopy.seal / onecopy.open(name, via="serve") against a real `onecopy serve` on the test's
# private store: the sealed copy is what readers through the server map, it keeps its bytes
# when the store file is truncated, the store file goes unless kept, and a missing server is
# named by its socket.
import os

import numpy as np
import pytest

import onecopy
from serve_process import Server


@pytest.fixture
def server(onecopy_cli):
    s = Server(onecopy_cli)
    yield s
    assert s.stop() == 0


def test_a_sealed_copy_keeps_its_bytes_when_the_store_file_is_truncated(server, store_dir):
    a = np.arange(300_000, dtype=np.float32)
    onecopy.put("table", a)
    reply = onecopy.seal("table", keep_store_file=True, socket=server.socket)
    assert reply["store_file_removed"] is False
    assert reply["seals"] == ["shrink", "grow", "write", "seal"]
    h = onecopy.open("table", via="serve", socket=server.socket)
    path = os.path.join(store_dir, "table")
    os.chmod(path, 0o644)
    os.truncate(path, 0)  # what the owner (or root) can do to a store file
    assert np.array_equal(np.asarray(h), a)
    assert onecopy.open("table", via="serve", socket=server.socket).info()["checksum"] == reply["checksum"]


def test_without_keep_store_file_the_server_holds_the_one_copy(server):
    a = np.full(5000, 7, dtype=np.int64)
    onecopy.put("w", a)
    assert onecopy.seal("w", socket=server.socket)["store_file_removed"] is True
    with pytest.raises(FileNotFoundError):
        onecopy.open("w")
    h = onecopy.open("w", via="serve", socket=server.socket)
    assert np.array_equal(np.asarray(h), a)
    onecopy.unseal("w", socket=server.socket)
    with pytest.raises(FileNotFoundError):
        onecopy.open("w", via="serve", socket=server.socket)
    assert np.array_equal(np.asarray(h), a)  # the reader's mapping stays
    with pytest.raises(FileNotFoundError):
        onecopy.seal("missing", socket=server.socket)


def test_no_server_is_named_by_its_socket(store_dir):
    onecopy.put("w", np.zeros(10))
    sock = os.path.join(store_dir, ".locks", "serve.sock")
    with pytest.raises(OSError, match="is 'onecopy serve' running"):
        onecopy.open("w", via="serve")
    with pytest.raises(OSError, match=sock):
        onecopy.seal("w")
    with pytest.raises(ValueError, match="via must be 'store' or 'serve'"):
        onecopy.open("w", via="socket")
