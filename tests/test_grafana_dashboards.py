"""Dashboards: structure, generated files up to date, every query parses (promtool) and runs against
a real Prometheus (LocalPrometheus) scraping a prometheus_client server that serves our Metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from socialpulse.deploy.grafana_dashboards import (
    DASHBOARDS,
    DATASOURCE_UID,
    GRAFANA_DIR,
    all_exprs,
    render_all,
)
from socialpulse.deploy.prometheus_runner import LocalPrometheus, PrometheusError, free_port
from socialpulse.streams.metrics import Metrics

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _load(name: str) -> dict:
    return json.loads((GRAFANA_DIR / "dashboards" / f"{name}.json").read_text())


def test_generated_files_are_committed_and_current() -> None:
    for rel, text in render_all().items():
        path = GRAFANA_DIR / rel
        assert path.exists(), f"{path} missing: python -m socialpulse.deploy.grafana_dashboards"
        assert path.read_text() == text, f"{path} is stale: python -m socialpulse.deploy.grafana_dashboards"
    on_disk = {p.name for p in (GRAFANA_DIR / "dashboards").glob("*.json")}
    assert on_disk == {f"{name}.json" for name in DASHBOARDS}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_structure(name: str) -> None:
    dash = _load(name)
    assert isinstance(dash["schemaVersion"], int) and dash["schemaVersion"] >= 36
    assert dash["uid"] and dash["title"]
    assert dash["panels"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"}
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        assert panel["datasource"]["uid"] == DATASOURCE_UID
        assert panel["targets"]
        for target in panel["targets"]:
            assert target["expr"].strip()
            assert target["datasource"]["uid"] == DATASOURCE_UID
            assert target["refId"]


def test_dashboard_uids_unique() -> None:
    uids = [_load(name)["uid"] for name in DASHBOARDS]
    assert len(uids) == len(set(uids))


def test_provisioning_matches_dashboards() -> None:
    prov = GRAFANA_DIR / "provisioning"
    (ds,) = yaml.safe_load((prov / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert ds["uid"] == DATASOURCE_UID and ds["type"] == "prometheus"
    (provider,) = yaml.safe_load((prov / "dashboards" / "dashboards.yaml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


def test_every_expr_parses_with_promtool(tmp_path: Path) -> None:
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool not found: apt-get install prometheus")
    rules = [{"record": f"socialpulse:dashboard_expr_{i}", "expr": expr} for i, (_, _, expr) in enumerate(all_exprs())]
    path = tmp_path / "exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard_exprs", "rules": rules}]}))
    proc = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_exprs_only_use_known_metrics() -> None:
    registry = CollectorRegistry()
    m = Metrics(registry)
    known = {s for fam in registry.collect() for s in _sample_names(fam)} | {
        "socialpulse_consumer_lag_messages",
        "socialpulse_table_entries",
        "socialpulse_prequential_hit_ratio",
        "socialpulse_prequential_ndcg",
        "socialpulse_uplift_ratio",
        "socialpulse_model_version_info",
    }
    del m
    for dashboard, title, expr in all_exprs():
        for name in re.findall(r"socialpulse_[a-z_]+", expr):
            assert name in known, f"{dashboard}/{title}: unknown metric {name}"


def _sample_names(fam) -> set[str]:
    base = fam.name
    if fam.type == "counter":
        return {base + "_total"}
    if fam.type == "histogram":
        return {base + "_bucket", base + "_count", base + "_sum"}
    if fam.type == "info":
        return {base + "_info"}
    return {base}


# --- against a real Prometheus ---------------------------------------------------------------


def _record_some(m: Metrics) -> None:
    for _ in range(5):
        m.consumed("interactions", 10)
        m.failed("interactions")
        m.dead_letter("decode_error")
        m.observe_processing("recommend", 0.003)
        m.observe_end_to_end(0.02)
        m.observe_end_to_end(0.07)
        m.recommended("item_cf", 10)
        m.recommended("trending", 5)
        m.triggered("cart_abandonment")
        m.suppressed("cart_abandonment", "frequency_cap")
        m.scorer_batch("deep", 64, 0.002)
        m.scorer_fallback("deep", "timeout")
        m.conversion("cart_abandonment", "trigger")
        m.drift_alert("river")
        m.observe_gc_pause(0, 0.002)
        m.observe_gc_pause(2, 0.08)
        m.observe_sweep(0.3)
        m.swept("user", 3)
    m.set_consumer_lag("interactions", 0, 42)
    m.set_consumer_lag("interactions", 1, 7)
    m.set_table_entries("user_history", 1000)
    m.set_prequential("item_cf", 10, 0.21, 0.12)
    m.set_model_version("deep", "2024.1")
    m.set_uplift("cart_abandonment", 1.2)


@pytest.fixture(scope="module")
def scraped() -> Iterator[tuple[LocalPrometheus, Metrics]]:
    metrics = Metrics(CollectorRegistry())
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    try:
        _record_some(metrics)
        with LocalPrometheus([f"127.0.0.1:{port}"], scrape_interval="1s") as prom:
            prom.wait_for_series("socialpulse_events_consumed_total")
            # A second batch of increments after the first scrape gives rate() a non-zero slope.
            _record_some(metrics)
            _wait_for_two_scrapes(prom)
            yield prom, metrics
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _wait_for_two_scrapes(prom: LocalPrometheus) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if prom.query("count_over_time(socialpulse_events_consumed_total[1m]) >= 3"):
            return
        time.sleep(0.3)
    raise AssertionError("Prometheus did not scrape three times within 30 s")


def test_local_prometheus_scrapes_our_metrics(scraped: tuple[LocalPrometheus, Metrics]) -> None:
    prom, _ = scraped
    assert prom.targets_health() == ["up"]
    names = prom.series_names()
    ours = {n for n in names if n.startswith("socialpulse_")}
    assert {
        "socialpulse_events_consumed_total",
        "socialpulse_dead_letters_total",
        "socialpulse_end_to_end_latency_seconds_bucket",
        "socialpulse_consumer_lag_messages",
        "socialpulse_worker_info",
    } <= ours
    (sample,) = prom.query('socialpulse_events_consumed_total{topic="interactions"}')
    assert float(sample["value"][1]) == 100.0
    assert prom.query('up{job="socialpulse"} == 1')


def test_bad_query_raises(scraped: tuple[LocalPrometheus, Metrics]) -> None:
    prom, _ = scraped
    with pytest.raises(PrometheusError):
        prom.query("sum(rate(socialpulse_events_consumed_total[5m]")


# Queries that need more history or state than a few seconds of scraping gives.
MAY_BE_EMPTY = {
    "Lag growth (messages / s)",  # deriv needs two scrapes of the gauge
    "Firing alerts",  # only ModelDrift fires on this data, once rules were evaluated
    "Drift detections (1h)",
}


def test_every_dashboard_expr_evaluates(scraped: tuple[LocalPrometheus, Metrics]) -> None:
    prom, _ = scraped
    empty: list[str] = []
    for dashboard, title, expr in all_exprs():
        result = prom.query(expr)  # raises PrometheusError on a bad expression
        if not result:
            empty.append(f"{dashboard}/{title}: {expr}")
    unexpected = [e for e in empty if e.split(": ", 1)[0].split("/", 1)[1] not in MAY_BE_EMPTY]
    print("dashboard queries without data:", *empty, sep="\n  ")
    assert not unexpected, "queries returned no data:\n" + "\n".join(unexpected)
