"""deploy/kubernetes: every manifest validated offline against the Kubernetes schemas (the
`kubernetes-validate` package vendors them, strict: an unknown field is an error), the RayCluster's pod
templates included; the RayCluster's own fields checked by hand (the KubeRay CRD schema is not published on
the package indexes this project may use); and the manifests agree with each other and with the image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from conftest import REPO_ROOT

K8S = REPO_ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.33"


def documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in documents() if d["kind"] == kind]


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize(
    "doc", [d for d in documents() if d["apiVersion"] != "ray.io/v1"], ids=lambda d: d["kind"]
)
def test_kubernetes_objects_are_valid(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_is_caught() -> None:
    deployment = by_kind("Deployment")[0]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 1}}  # a misspelt field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_raycluster() -> None:
    (cluster,) = by_kind("RayCluster")
    spec = cluster["spec"]
    groups = [("head", spec["headGroupSpec"])] + [(g["groupName"], g) for g in spec["workerGroupSpecs"]]
    for name, group in groups:
        template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": name},
            "template": group["template"],
        }
        kubernetes_validate.validate(template, KUBERNETES_VERSION, strict=True)
        # KubeRay passes rayStartParams to `ray start` as a map of strings
        assert all(isinstance(v, str) for v in group["rayStartParams"].values()), name
    for _, group in groups[1:]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] >= 1
    assert spec["rayVersion"] == "2.60.0"  # the pinned ray[tune] (pyproject.toml)
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # trials land on the workers


def test_the_manifests_agree_with_each_other_and_the_image() -> None:
    (cluster,) = by_kind("RayCluster")
    (deployment,) = by_kind("Deployment")
    (service,) = by_kind("Service")
    (secret,) = by_kind("Secret")
    (claim,) = by_kind("PersistentVolumeClaim")
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    head = f"{cluster['metadata']['name']}-head-svc:6379"  # KubeRay's head service name
    assert env["RAY_ADDRESS"]["value"] == head and head in pod["containers"][0]["args"][0]
    for variable in ("MUTRANSFER_DATABASE_URL", "MUTRANSFER_ADMIN_TOKEN"):
        ref = env[variable]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # checkpoints are resumed on any node
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    image = compose["x-mutransfer-image"]["image"]
    pods = [pod] + [
        g["template"]["spec"]
        for g in [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]
    ]
    for spec in pods:
        assert spec["containers"][0]["image"] == image
        assert spec["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert Path(REPO_ROOT / "Dockerfile").is_file()
