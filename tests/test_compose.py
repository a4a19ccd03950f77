"""deploy/compose.yaml describes the whole stack consistently (no Docker needed to check it)."""

from __future__ import annotations

from pathlib import Path

import yaml

from socialpulse.streams.settings import ENV_PREFIX, Settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_services_and_images():
    services = _compose()["services"]
    assert {"kafka", "schema-registry", "socialpulse-worker", "prometheus", "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["schema-registry"]["image"].startswith("apicurio/apicurio-registry:3.")
    assert services["prometheus"]["image"].startswith("prom/prometheus")
    assert services["grafana"]["image"].startswith("grafana/grafana")
    worker = services["socialpulse-worker"]
    assert worker["image"] == "socialpulse:latest"
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / worker["build"]["context"] / worker["build"]["dockerfile"]).is_file()
    assert worker["command"] == ["socialpulse", "worker"]


def test_kafka_is_single_node_kraft():
    env = _compose()["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR"):
        assert env[key] == "1"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "INTERNAL://kafka:19092" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_worker_env_names_real_settings_and_points_at_services():
    services = _compose()["services"]
    env = services["socialpulse-worker"]["environment"]
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert set(env) <= known, set(env) - known
    Settings.from_env({k: str(v) for k, v in env.items()})  # every value validates
    assert env["SOCIALPULSE_KAFKA_BOOTSTRAP"] == "kafka:19092"
    assert env["SOCIALPULSE_SCHEMA_REGISTRY_URL"].startswith("http://schema-registry:8080/apis/ccompat/v7")
    assert env["SOCIALPULSE_WEB_HOST"] == "0.0.0.0"
    assert str(env["SOCIALPULSE_WEB_PORT"]) == "6066"
    assert "127.0.0.1:6066:6066" in services["socialpulse-worker"]["ports"]


def test_ports_bind_loopback_and_do_not_clash():
    host_ports = []
    for name, service in _compose()["services"].items():
        for mapping in service.get("ports", []):
            ip, host, _container = mapping.split(":")
            assert ip == "127.0.0.1", name
            host_ports.append(host)
    assert len(host_ports) == len(set(host_ports))


def test_mounted_config_exists_and_prometheus_scrapes_the_worker():
    services = _compose()["services"]
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in prom["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]]
    assert "socialpulse-worker:6066" in targets


def test_dependencies_name_defined_services():
    services = _compose()["services"]
    for name, service in services.items():
        for dep in service.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown {dep}"
