# SPDX-License-Identifier: Apache-2.0
# examples/ray_serve_shared_weights.py with 2 Serve replicas on one node: both answer like the
# local torch model, their parameters are views of the one shared segment, and the segment is
# mapped by both replica processes (the script exits 1 otherwise). It starts and stops Ray.
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("ray.serve", reason="ray[serve] is not installed (scripts/install-deps.sh --ray)")
pytest.importorskip("torch", reason="torch is not installed")

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "ray_serve_shared_weights.py"


def test_two_serve_replicas_share_one_copy_of_the_weights(store_dir):
    out = subprocess.run([sys.executable, str(EXAMPLE), "--replicas", "2", "--hidden", "512"],
                         capture_output=True, text=True, timeout=400, env=dict(os.environ))
    assert out.returncode == 0, out.stdout + out.stderr[-4000:]
    assert "every replica answered like the local model" in out.stdout
    assert [f for f in os.listdir(store_dir) if not f.startswith(".") and
            not f.endswith(".lock")] == []  # removed by the script
