"""Grafana dashboards and provisioning files for SocialPulse, generated so they stay consistent.

``python -m socialpulse.deploy.grafana_dashboards`` rewrites ``grafana/dashboards/*.json`` and the
provisioning YAML; the committed files must equal what this module generates (a test checks it).
Every query is plain PromQL (no Grafana macros) so the tests can run it against a real Prometheus.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DASHBOARDS", "DATASOURCE_UID", "all_exprs", "render_all", "write_all"]

GRAFANA_DIR = Path(__file__).parent / "grafana"
DATASOURCE_UID = "socialpulse-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
# Where the compose file / k8s ConfigMap mounts grafana/dashboards inside the Grafana container.
DASHBOARDS_MOUNT = "/var/lib/grafana/dashboards"
PROMETHEUS_URL = "http://prometheus:9090"
SCHEMA_VERSION = 39
W = "5m"  # rate window: at least 4 scrape intervals at the default 15s


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: tuple[tuple[str, str], ...]  # (PromQL, legend format)
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    description: str = ""
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def _p(title: str, *exprs: tuple[str, str], **kw: Any) -> Panel:
    return Panel(title, tuple(exprs), **kw)


def _quantile(q: float, metric: str, by: str = "") -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket[{W}])))"


E2E = "socialpulse_end_to_end_latency_seconds"

OVERVIEW = Dashboard(
    "socialpulse-overview",
    "SocialPulse / Overview",
    "Is the engine up, keeping up and recommending?",
    (
        _p("Workers up", ('sum(up{job="socialpulse"})', "up"), kind="stat", width=6, height=4),
        _p(
            "Worker versions",
            ("count by (version) (socialpulse_worker_info)", "{{version}}"),
            kind="stat",
            width=6,
            height=4,
        ),
        _p(
            "Events consumed / s",
            (f"sum(rate(socialpulse_events_consumed_total[{W}]))", "events/s"),
            kind="stat",
            unit="ops",
            width=6,
            height=4,
        ),
        _p(
            "p99 end-to-end latency",
            (_quantile(0.99, E2E), "p99"),
            kind="stat",
            unit="s",
            width=6,
            height=4,
            description="Event time to recommendation produced; SLO 50 ms.",
        ),
        _p(
            "Events consumed by topic",
            (f"sum by (topic) (rate(socialpulse_events_consumed_total[{W}]))", "{{topic}}"),
            unit="ops",
        ),
        _p(
            "End-to-end latency",
            (_quantile(0.5, E2E), "p50"),
            (_quantile(0.99, E2E), "p99"),
            ("vector(0.05)", "SLO"),
            unit="s",
        ),
        _p(
            "Recommendations by source",
            (f"sum by (source) (rate(socialpulse_recommendations_total[{W}]))", "{{source}}"),
            unit="ops",
        ),
        _p(
            "Dead letters by reason",
            (f"sum by (reason) (rate(socialpulse_dead_letters_total[{W}]))", "{{reason}}"),
            unit="ops",
        ),
        _p(
            "Triggers by campaign",
            (f"sum by (campaign) (rate(socialpulse_triggers_total[{W}]))", "{{campaign}}"),
            unit="ops",
        ),
        _p(
            "Firing alerts",
            ('sum by (alertname) (ALERTS{alertstate="firing"})', "{{alertname}}"),
        ),
    ),
)

PIPELINE = Dashboard(
    "socialpulse-pipeline-health",
    "SocialPulse / Pipeline health",
    "Kafka consumption, agents, tables and batched scorers.",
    (
        _p(
            "Consumer lag by topic",
            ("sum by (topic) (socialpulse_consumer_lag_messages)", "{{topic}}"),
            unit="short",
        ),
        _p(
            "Consumer lag by partition",
            ("max by (topic, partition) (socialpulse_consumer_lag_messages)", "{{topic}}[{{partition}}]"),
            unit="short",
        ),
        _p(
            "Lag growth (messages / s)",
            ("sum by (topic) (deriv(socialpulse_consumer_lag_messages[10m]))", "{{topic}}"),
            unit="short",
        ),
        _p(
            "Consumed vs failed",
            (f"sum by (topic) (rate(socialpulse_events_consumed_total[{W}]))", "consumed {{topic}}"),
            (f"sum by (topic) (rate(socialpulse_events_failed_total[{W}]))", "failed {{topic}}"),
            unit="ops",
        ),
        _p(
            "Agent processing latency p99",
            (_quantile(0.99, "socialpulse_processing_latency_seconds", "agent"), "{{agent}}"),
            unit="s",
        ),
        _p(
            "State sweeps",
            (_quantile(0.99, "socialpulse_sweep_duration_seconds"), "p99 sweep duration"),
            (f"sum by (kind) (rate(socialpulse_state_swept_total[{W}]))", "{{kind}} removed / s"),
            description="Each partition is swept once per SOCIALPULSE_SWEEP_INTERVAL_S of event time: a full "
            "scan that expires idle users and light items; the partition waits for it.",
        ),
        _p(
            "Garbage-collector pauses",
            (_quantile(0.99, "socialpulse_gc_pause_seconds", "generation"), "p99 gen {{generation}}"),
            (f"sum by (generation) (rate(socialpulse_gc_pause_seconds_sum[{W}]))", "share of time gen {{generation}}"),
            unit="s",
            description="A worker stops while Python collects; full (gen 2) pauses grow with the live heap "
            "(SOCIALPULSE_GC_THRESHOLDS, SOCIALPULSE_GC_FREEZE).",
        ),
        _p(
            "Share of events over the 50 ms SLO",
            (
                f'1 - sum(rate({E2E}_bucket{{le="0.05"}}[{W}])) / sum(rate({E2E}_count[{W}]))',
                "over SLO",
            ),
            ("vector(0.01)", "error budget"),
            unit="percentunit",
        ),
        _p(
            "Dead-letter ratio",
            (
                f"sum(rate(socialpulse_dead_letters_total[{W}]))"
                f" / clamp_min(sum(rate(socialpulse_events_consumed_total[{W}])), 1e-9)",
                "dead letters / consumed",
            ),
            unit="percentunit",
        ),
        _p("Table entries", ("sum by (table) (socialpulse_table_entries)", "{{table}}")),
        _p(
            "Scorer batch size p50 / p99",
            (_quantile(0.5, "socialpulse_scorer_batch_size", "scorer"), "p50 {{scorer}}"),
            (_quantile(0.99, "socialpulse_scorer_batch_size", "scorer"), "p99 {{scorer}}"),
        ),
        _p(
            "Scorer queue wait p99",
            (_quantile(0.99, "socialpulse_scorer_queue_wait_seconds", "scorer"), "{{scorer}}"),
            unit="s",
        ),
        _p(
            "Scorer fallbacks",
            (
                f"sum by (scorer, reason) (rate(socialpulse_scorer_fallbacks_total[{W}]))",
                "{{scorer}} {{reason}}",
            ),
            unit="ops",
        ),
        _p("Scrape duration", ('scrape_duration_seconds{job="socialpulse"}', "{{instance}}"), unit="s"),
    ),
)

MODELS = Dashboard(
    "socialpulse-models",
    "SocialPulse / Models",
    "Online (prequential, test-then-train) quality, drift and versions of the recommenders.",
    (
        _p(
            "Prequential HitRate@k",
            ("max by (model, k) (socialpulse_prequential_hit_ratio)", "{{model}} @{{k}}"),
            unit="percentunit",
        ),
        _p(
            "Prequential NDCG@k",
            ("max by (model, k) (socialpulse_prequential_ndcg)", "{{model}} @{{k}}"),
        ),
        _p(
            "Drift detections (1h)",
            ("sum by (model) (increase(socialpulse_drift_alerts_total[1h]))", "{{model}}"),
        ),
        _p(
            "Loaded model versions",
            ("count by (model, version) (socialpulse_model_version_info)", "{{model}} {{version}}"),
            kind="stat",
        ),
        _p(
            "Share of recommended items by source",
            (
                f"sum by (source) (rate(socialpulse_recommended_items_total[{W}]))"
                f" / scalar(sum(rate(socialpulse_recommended_items_total[{W}])))",
                "{{source}}",
            ),
            unit="percentunit",
        ),
        _p(
            "Items per recommendation",
            (
                f"sum by (source) (rate(socialpulse_recommended_items_total[{W}]))"
                f" / sum by (source) (rate(socialpulse_recommendations_total[{W}]))",
                "{{source}}",
            ),
        ),
        _p(
            "Scorer fallback ratio",
            (
                f"sum by (scorer) (rate(socialpulse_scorer_fallbacks_total[{W}]))"
                f" / clamp_min(sum by (scorer) (rate(socialpulse_scorer_batch_size_count[{W}])), 1e-9)",
                "{{scorer}}",
            ),
            unit="percentunit",
            description="Fallbacks per batched scorer call.",
        ),
    ),
)

MARKETING = Dashboard(
    "socialpulse-marketing",
    "SocialPulse / Marketing",
    "Triggered campaigns, suppression, conversions and uplift over the holdout.",
    (
        _p(
            "Triggers sent by campaign",
            (f"sum by (campaign) (rate(socialpulse_triggers_total[{W}]))", "{{campaign}}"),
            unit="ops",
        ),
        _p(
            "Triggers suppressed",
            (
                f"sum by (campaign, reason) (rate(socialpulse_triggers_suppressed_total[{W}]))",
                "{{campaign}} {{reason}}",
            ),
            unit="ops",
        ),
        _p(
            "Conversions",
            (
                f"sum by (campaign, kind) (rate(socialpulse_conversions_total[{W}]))",
                "{{kind}} {{campaign}}",
            ),
            unit="ops",
        ),
        _p(
            "Uplift over holdout",
            ("max by (campaign) (socialpulse_uplift_ratio)", "{{campaign}}"),
            ("vector(1)", "no effect"),
        ),
        _p(
            "Conversions per trigger (1h)",
            (
                'sum by (campaign) (increase(socialpulse_conversions_total{kind="trigger"}[1h]))'
                " / clamp_min(sum by (campaign) (increase(socialpulse_triggers_total[1h])), 1)",
                "{{campaign}}",
            ),
            unit="percentunit",
        ),
        _p(
            "Suppressed share (1h)",
            (
                "sum by (campaign) (increase(socialpulse_triggers_suppressed_total[1h]))"
                " / clamp_min(sum by (campaign) (increase(socialpulse_triggers_suppressed_total[1h]))"
                " + sum by (campaign) (increase(socialpulse_triggers_total[1h])), 1)",
                "{{campaign}}",
            ),
            unit="percentunit",
        ),
    ),
)

DASHBOARDS: dict[str, Dashboard] = {
    "overview": OVERVIEW,
    "pipeline-health": PIPELINE,
    "models": MODELS,
    "marketing": MARKETING,
}


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    targets = [
        {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
        for i, (expr, legend) in enumerate(panel.exprs)
    ]
    options: dict[str, Any]
    if panel.kind == "stat":
        options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    else:
        options = {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": options,
        "targets": targets,
    }


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    panels, x, y, row_h = [], 0, 0, 0
    for panel_id, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > 24:
            x, y, row_h = 0, y + row_h, 0
        panels.append(_panel_json(panel, panel_id, x, y))
        x += panel.width
        row_h = max(row_h, panel.height)
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["socialpulse"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "utc",
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def datasource_yaml() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": PROMETHEUS_URL,
                "isDefault": True,
                "editable": False,
                "jsonData": {"timeInterval": "15s"},
            }
        ],
    }


def dashboards_provider_yaml() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "socialpulse",
                "folder": "SocialPulse",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": DASHBOARDS_MOUNT},
            }
        ],
    }


_YAML_HEADER = "# Generated by socialpulse.deploy.grafana_dashboards; edit that, not this.\n"


def render_all() -> dict[Path, str]:
    """Relative path under ``grafana/`` -> file text, for every generated file."""
    files = {
        Path("dashboards") / f"{name}.json": json.dumps(dashboard_json(d), indent=2, sort_keys=True) + "\n"
        for name, d in DASHBOARDS.items()
    }
    files[Path("provisioning/datasources/prometheus.yaml")] = _YAML_HEADER + yaml.safe_dump(
        datasource_yaml(), sort_keys=False
    )
    files[Path("provisioning/dashboards/dashboards.yaml")] = _YAML_HEADER + yaml.safe_dump(
        dashboards_provider_yaml(), sort_keys=False
    )
    return files


def all_exprs() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, PromQL) for every query of every dashboard."""
    return [(name, p.title, expr) for name, d in DASHBOARDS.items() for p in d.panels for expr, _ in p.exprs]


def write_all(directory: Path = GRAFANA_DIR) -> list[Path]:
    written = []
    for rel, text in render_all().items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for written in write_all():
        print(written)
