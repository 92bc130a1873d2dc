# SPDX-License-Identifier: Apache-2.0
# A FIFO, socket or symlink planted where a segment belongs: onecopy.open refuses it at once
# with an error naming the path and what is there (it used to block forever on a FIFO). Each
# open runs in a child python with a timeout, so a regression fails instead of hanging.
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import onecopy


def open_in_child(name):
    code = textwrap.dedent(f"""
        import onecopy
        try:
            onecopy.open({name!r})
        except OSError as e:
            print(type(e).__name__, e)
            raise SystemExit(0)
        raise SystemExit("opened a planted file")
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def plant_fifo(path):
    os.mkfifo(path, 0o600)


def plant_socket(path):
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()


def plant_symlink(path):
    outside = path + ".outside"
    with open(outside, "wb") as f:
        f.write(b"not a segment")
    os.symlink(outside, path)


@pytest.mark.parametrize("plant,kind", [(plant_fifo, "a FIFO"), (plant_socket, "a socket"),
                                        (plant_symlink, "a symbolic link")])
def test_open_refuses_a_planted_file_without_blocking(store_dir, plant, kind):
    onecopy.put("good", np.arange(10, dtype=np.float32))
    path = os.path.join(store_dir, "w")
    plant(path)
    r = open_in_child("w")
    assert r.returncode == 0, r.stderr + r.stdout
    assert path in r.stdout and kind in r.stdout, r.stdout
    # The rest of the store still works.
    assert onecopy.open("good").numpy().tolist() == list(range(10))
