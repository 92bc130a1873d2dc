# SPDX-License-Identifier: Apache-2.0
# deploy/k8s/*.yaml (the Kubernetes recipe of docs/ray.md) against the Kubernetes OpenAPI
# schemas that kubernetes-validate ships (offline), strict: unknown fields are errors too.
import copy
import pathlib

import pytest

kv = pytest.importorskip("kubernetes_validate",
                         reason="kubernetes-validate is not installed (scripts/install-deps.sh --ray)")
yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (kubernetes-validate needs it)")

K8S = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "k8s"
VERSION = "1.30.0"
MANIFESTS = sorted(K8S.glob("*.yaml"))


def documents(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def test_the_recipe_has_a_daemonset_running_onecopy_serve():
    kinds = {d["kind"]: d for p in MANIFESTS for d in documents(p)}
    assert {"Namespace", "DaemonSet", "Deployment"} <= set(kinds)
    serve = kinds["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]
    assert serve["command"][:2] == ["onecopy", "serve"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid(path):
    for doc in documents(path):
        kv.validate(doc, VERSION, strict=True)  # raises ValidationError with the field


def test_the_validator_rejects_a_broken_manifest():
    (ds,) = documents(K8S / "onecopy-daemonset.yaml")
    broken = copy.deepcopy(ds)
    broken["spec"]["template"]["spec"]["volumes"][0]["hostPath"]["path"] = 42
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, VERSION, strict=True)
    typo = copy.deepcopy(ds)
    typo["spec"]["template"]["spec"]["containers"][0]["volumeMount"] = []
    with pytest.raises(kv.ValidationError):
        kv.validate(typo, VERSION, strict=True)
