"""promtool checks of the shipped Prometheus config and alert rules. CI installs promtool
(Debian package ``prometheus``); a missing promtool fails these tests rather than skipping them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from socialpulse.deploy.prometheus_config import JOB, PROMETHEUS_DIR, render_config

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool not found: apt-get install prometheus")
    proc = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"promtool {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def test_check_config() -> None:
    out = _promtool("check", "config", "prometheus.yml")
    assert "SUCCESS" in out


def test_check_rules() -> None:
    out = _promtool("check", "rules", "alerts.yml")
    assert "SUCCESS: 7 rules found" in out


def test_alert_unit_tests() -> None:
    _promtool("test", "rules", "alerts_test.yml")


def test_every_alert_has_a_unit_test() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())["tests"]
    firing: set[str] = set()
    silent: set[str] = set()
    for test in tests:
        for case in test.get("alert_rule_test", []):
            (firing if case["exp_alerts"] else silent).add(case["alertname"])
    assert alerts <= firing, f"alerts never shown firing: {alerts - firing}"
    assert alerts <= silent, f"alerts never shown silent: {alerts - silent}"
    assert {
        "SocialPulseWorkerDown",
        "ConsumerLagGrowing",
        "DeadLettersSpiking",
        "LatencySLOBurn",
        "ModelDrift",
        "ScorerFallbacks",
    } <= alerts


def test_shipped_config_is_the_rendered_template() -> None:
    assert (PROMETHEUS_DIR / "prometheus.yml").read_text() == render_config()


def test_rendered_config_with_real_ports_is_valid(tmp_path: Path) -> None:
    config = render_config(
        ["127.0.0.1:40001", "127.0.0.1:40002"],
        scrape_interval="1s",
        rule_files=[PROMETHEUS_DIR / "alerts.yml"],
    )
    parsed = yaml.safe_load(config)
    (job,) = parsed["scrape_configs"]
    assert job["job_name"] == JOB and job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:40001", "127.0.0.1:40002"]
    (tmp_path / "prometheus.yml").write_text(config)
    _promtool("check", "config", "prometheus.yml", cwd=tmp_path)


def test_render_needs_a_target() -> None:
    with pytest.raises(ValueError):
        render_config([])
