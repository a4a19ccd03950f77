"""Docker Compose and the Kubernetes manifests describe the same worker: image, port and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from socialpulse.streams.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
# Values that depend on where the worker runs; everything else must be identical.
PER_ENVIRONMENT = {"SOCIALPULSE_KAFKA_BOOTSTRAP", "SOCIALPULSE_SCHEMA_REGISTRY_URL", "SOCIALPULSE_REPLICATION_FACTOR"}


def _compose_worker() -> dict[str, Any]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return compose["services"]["socialpulse-worker"]


def _k8s(kind: str) -> dict[str, Any]:
    for path in (DEPLOY / "k8s").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == kind:
                return doc
    raise AssertionError(f"no {kind} in deploy/k8s")


def test_same_image_and_port() -> None:
    worker = _compose_worker()
    container = _k8s("StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    assert worker["image"] == container["image"] == "socialpulse:latest"
    compose_ports = {int(p.rsplit(":", 1)[1]) for p in worker["ports"]}
    k8s_ports = {p["containerPort"] for p in container["ports"]}
    web_port = int(worker["environment"]["SOCIALPULSE_WEB_PORT"])
    assert compose_ports == k8s_ports == {web_port}


def test_same_settings_and_all_valid() -> None:
    compose_env = {k: str(v) for k, v in _compose_worker()["environment"].items()}
    k8s_env = {k: str(v) for k, v in _k8s("ConfigMap")["data"].items()}
    assert compose_env.keys() == k8s_env.keys()
    differing = {k for k in compose_env if compose_env[k] != k8s_env[k]}
    assert differing <= PER_ENVIRONMENT, sorted(differing - PER_ENVIRONMENT)
    for env in (compose_env, k8s_env):
        Settings.from_env(env)  # every name is a real setting and every value parses


def test_data_volume_is_the_data_dir() -> None:
    worker = _compose_worker()
    data_dir = worker["environment"]["SOCIALPULSE_DATA_DIR"]
    assert any(v.endswith(":" + data_dir) for v in worker["volumes"])
    container = _k8s("StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    assert data_dir in {m["mountPath"] for m in container["volumeMounts"]}
