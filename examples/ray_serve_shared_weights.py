# SPDX-License-Identifier: Apache-2.0
"""Ray Serve: N replicas of a torch model on one node sharing one copy of its weights.

    python3 examples/ray_serve_shared_weights.py [--replicas 2] [--hidden 1024]

The driver publishes the model's state dict once as a onecopy bundle in its node's store
(onecopy.torch.put_state_dict); each replica builds the model on the meta device and assigns
the bundle's tensors (onecopy.torch.load_state_dict: no copy, read-only), so N replicas cost
one copy of the weights. Prints each replica's answer,
the PIDs mapping the segment, and exits 0 when every replica answered like the local model.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import ray
import torch
from ray import serve

import onecopy
import onecopy.torch

WEIGHTS = "serve-example-weights"


def make_model(hidden: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, 16))


@serve.deployment(ray_actor_options={"num_cpus": 0.5})
class SharedWeightsModel:
    def __init__(self, hidden: int):
        weights = onecopy.open(WEIGHTS)  # the node's one copy, attached read-only
        with torch.device("meta"):
            self.model = make_model(hidden)  # no memory of its own for parameters
        onecopy.torch.load_state_dict(self.model, weights)  # parameters = views of the segment
        self.model.eval()
        self.weights = weights  # keeps the mapping for the replica's lifetime

    def __call__(self, x: list[float]) -> dict:
        with torch.no_grad():
            y = self.model(torch.tensor(x).unsqueeze(0))[0]
        return {"pid": os.getpid(), "y": y.tolist(),
                "shares_weights": self.model[0].weight.data_ptr() == self.weights.tensor("0.weight").address}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--hidden", type=int, default=1024)
    args = p.parse_args()

    torch.manual_seed(0)
    model = make_model(args.hidden).eval()
    # One copy on this node; removed by `onecopy gc` once no replica maps it.
    onecopy.torch.put_state_dict(WEIGHTS, model, remove_when_unused=True)
    ray.init(num_cpus=2, object_store_memory=80 * 2**20, include_dashboard=False,
             log_to_driver=False)
    try:
        app = SharedWeightsModel.options(num_replicas=args.replicas).bind(args.hidden)
        handle = serve.run(app, name="shared-weights", route_prefix=None)
        x = torch.linspace(-1, 1, args.hidden)
        expected = model(x.unsqueeze(0))[0]
        answers, pids = [], set()
        for _ in range(20 * args.replicas):  # until every replica has answered
            a = handle.remote(x.tolist()).result()
            answers.append(a)
            pids.add(a["pid"])
            if len(pids) == args.replicas:
                break
        ok = len(pids) == args.replicas and all(
            a["shares_weights"] and torch.allclose(torch.tensor(a["y"]), expected, atol=1e-5)
            for a in answers)
        (seg,) = [s for s in onecopy.ls() if s["name"] == WEIGHTS]
        print(f"replicas answering: {sorted(pids)}; weights {seg['nbytes'] / 2**20:.1f} MiB, "
              f"one segment mapped by {sorted(seg['mapped_by'])}")
        print("every replica answered like the local model over the shared weights" if ok
              else "MISMATCH")
        return 0 if ok and pids <= set(seg["mapped_by"]) else 1
    finally:
        serve.shutdown()
        ray.shutdown()
        onecopy.rm(WEIGHTS)


if __name__ == "__main__":
    sys.exit(main())
