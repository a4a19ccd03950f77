"""Kubernetes manifests: schema-valid offline (kubernetes-validate, strict), CRDs checked by shape,
and consistent with the settings, the image name and the worker port."""

from __future__ import annotations

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from socialpulse.deploy.prometheus_config import JOB, WORKER_PORT
from socialpulse.streams.settings import Settings

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
K8S_VERSION = "1.30.0"
IMAGE = "socialpulse:latest"
NOT_CORE = {"ServiceMonitor", "Kustomization"}  # CRD / tool config: no upstream schema


def _docs() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((path.name, doc))
    return out


def _one(kind: str) -> dict:
    (doc,) = [d for _, d in _docs() if d["kind"] == kind]
    return doc


@pytest.mark.parametrize(
    ("name", "doc"), [(n, d) for n, d in _docs() if d["kind"] not in NOT_CORE], ids=lambda v: str(v)[:40]
)
def test_schema_valid(name: str, doc: dict) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_validator_rejects_a_broken_manifest() -> None:
    bad = copy.deepcopy(_one("StatefulSet"))
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "web"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    bad = copy.deepcopy(_one("StatefulSet"))
    bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_expected_kinds_present() -> None:
    kinds = {d["kind"] for _, d in _docs()}
    assert {
        "Namespace",
        "ConfigMap",
        "StatefulSet",
        "Service",
        "PodDisruptionBudget",
        "ServiceMonitor",
    } <= kinds


def test_kustomization_lists_every_manifest() -> None:
    listed = set(_one("Kustomization")["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == files


def test_servicemonitor_shape() -> None:
    sm = _one("ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["namespace"] == "socialpulse"
    svc = _one("Service")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert {"targetLabel": "job", "replacement": JOB} in endpoint["relabelings"]


def test_configmap_holds_valid_settings() -> None:
    data = _one("ConfigMap")["data"]
    settings = Settings.from_env(data)  # unknown SOCIALPULSE_* names raise
    assert settings.web_port == WORKER_PORT
    sts = _one("StatefulSet")
    mounts = sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert str(settings.data_dir) in {m["mountPath"] for m in mounts}


def test_image_port_probes_and_scrape_annotations() -> None:
    sts = _one("StatefulSet")
    pod = sts["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == IMAGE
    assert container["ports"][0]["containerPort"] == WORKER_PORT == Settings().web_port
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    ann = pod["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert ann["prometheus.io/port"] == str(WORKER_PORT)
    assert ann["prometheus.io/path"] == "/metrics"
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] in {m["name"] for m in container["volumeMounts"]}
    svc = _one("Service")
    assert svc["spec"]["clusterIP"] == "None"
    assert sts["spec"]["serviceName"] == svc["metadata"]["name"]
    assert svc["spec"]["ports"][0]["port"] == WORKER_PORT
    pdb = _one("PodDisruptionBudget")
    assert pdb["spec"]["selector"] == sts["spec"]["selector"]
