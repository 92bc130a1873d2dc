# SPDX-License-Identifier: Apache-2.0
"""`onecopy put` and onecopy.put() place the same input the same way: one default (numa auto)
and one choice (the engine's choose_placement), on this host and on recorded machines."""
import inspect
import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

import onecopy
from onecopy import _api

TOPOLOGIES = sorted((pathlib.Path(__file__).resolve().parents[2] / "tests" / "topologies").glob("*.xml"))


def cli(onecopy_cli, *args, env=None):
    r = subprocess.run([onecopy_cli, *args], capture_output=True, text=True, env=env, timeout=60)
    return r


def test_both_faces_default_to_auto():
    assert inspect.signature(onecopy.put).parameters["numa"].default == "auto"
    assert inspect.signature(onecopy.open_or_put).parameters["numa"].default == "auto"


def test_cli_and_python_publish_the_same_placement_here(onecopy_cli):
    nbytes = 3 << 20
    r = cli(onecopy_cli, "put", "from-cli", "--zeros", str(nbytes), "-q")
    assert r.returncode == 0, r.stderr
    onecopy.put("from-python", np.zeros(nbytes, np.uint8))
    shown = {}
    for name in ("from-cli", "from-python"):
        r = cli(onecopy_cli, "stat", name, "--json")
        assert r.returncode == 0, r.stderr
        shown[name] = json.loads(r.stdout)
    for key in ("placement", "placement_asked", "page_size", "backing"):
        assert shown["from-cli"][key] == shown["from-python"][key], key
    assert shown["from-cli"]["placement_asked"] == "auto"
    # What Python's dict says is what the CLI prints: one key table.
    info = onecopy.open("from-python").info()
    assert info["placement"] == shown["from-python"]["placement"]
    assert info["placement_asked"] == "auto"


@pytest.mark.parametrize("topology", TOPOLOGIES, ids=lambda p: p.stem)
@pytest.mark.parametrize("nbytes", [64 << 20, 48 << 30])
def test_cli_and_python_plan_the_same_on_recorded_machines(onecopy_cli, topology, nbytes, monkeypatch):
    # HWLOC_XMLFILE replaces this host for topology::live() in both processes; put --explain
    # prints the plan without creating (the nodes are not this host's).
    monkeypatch.setenv("HWLOC_XMLFILE", str(topology))
    r = cli(onecopy_cli, "put", "x", "--zeros", str(nbytes), "--explain", "--json", env=dict(os.environ))
    default = inspect.signature(onecopy.put).parameters["numa"].default
    try:
        chosen = _api._placement(default, "auto", False, nbytes)
    except OSError as e:  # does not fit: the CLI must fail the same way
        assert r.returncode == 1 and e.strerror.split(":")[0] in r.stderr, (r.stderr, e)
        return
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["request"]["policy"] == default
    assert chosen.plan["policy"] == plan["policy"]
    assert chosen.plan["summary"] == plan["summary"]
    assert chosen.plan["reasons"] == plan["reasons"]
    assert chosen.replicate_on == [c["replica_node"] for c in plan["copies"] if c["replica_node"] is not None]
