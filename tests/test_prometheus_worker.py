"""A real Prometheus scraping a real worker process that consumes simulated traffic from the real broker.

The worker gets two waves of simulated events plus a few undecodable clicks; Prometheus scrapes its
``/metrics`` every second. The tests read everything back through Prometheus's HTTP API: the key
series exist and move, and every Grafana dashboard query evaluates and returns data, except the
ones listed in ``NOT_YET_EMITTED`` (metrics the worker does not record yet; that set may only shrink).
Prometheus and Kafka missing are failures, never skips.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import WorkerProcess, engine_settings, produce, produce_raw

from socialpulse.deploy.grafana_dashboards import all_exprs
from socialpulse.deploy.prometheus_runner import PROMETHEUS_BIN, LocalPrometheus
from socialpulse.streams.settings import Settings
from socialpulse.streams.simulator import SimConfig, generate
from socialpulse.streams.topics import create_topics

pytestmark = pytest.mark.kafka

SIM = SimConfig(users=200, items=100, events=3000, seed=3)
BAD_CLICKS = [(f"u-bad-{i}".encode(), b"\x00not avro at all " + bytes([i])) for i in range(7)]
CONSUME_TIMEOUT_S = 180.0

# Dashboard queries (dashboard, panel title, PromQL) that cannot return data against this worker:
# they read metrics that agents/ does not record yet. Every other query must return data, so this
# set can only shrink; an entry that starts returning data fails the test until it is removed.
NOT_YET_EMITTED: frozenset[tuple[str, str, str]] = frozenset(
    {
        # Marketing series this short traffic does not reach (trigger-attributed conversions, suppressions)
        # or the worker does not record yet (socialpulse_uplift_ratio).
        (
            "marketing",
            "Triggers suppressed",
            "sum by (campaign, reason) (rate(socialpulse_triggers_suppressed_total[5m]))",
        ),
        ("marketing", "Uplift over holdout", "max by (campaign) (socialpulse_uplift_ratio)"),
        (
            "marketing",
            "Conversions per trigger (1h)",
            'sum by (campaign) (increase(socialpulse_conversions_total{kind="trigger"}[1h]))'
            " / clamp_min(sum by (campaign) (increase(socialpulse_triggers_total[1h])), 1)",
        ),
        (
            "marketing",
            "Suppressed share (1h)",
            "sum by (campaign) (increase(socialpulse_triggers_suppressed_total[1h]))"
            " / clamp_min(sum by (campaign) (increase(socialpulse_triggers_suppressed_total[1h]))"
            " + sum by (campaign) (increase(socialpulse_triggers_total[1h])), 1)",
        ),
        # socialpulse_scorer_*: no batched scorer runs in the worker yet.
        (
            "pipeline-health",
            "Scorer batch size p50 / p99",
            "histogram_quantile(0.5, sum by (le, scorer) (rate(socialpulse_scorer_batch_size_bucket[5m])))",
        ),
        (
            "pipeline-health",
            "Scorer batch size p50 / p99",
            "histogram_quantile(0.99, sum by (le, scorer) (rate(socialpulse_scorer_batch_size_bucket[5m])))",
        ),
        (
            "pipeline-health",
            "Scorer queue wait p99",
            "histogram_quantile(0.99, sum by (le, scorer) (rate(socialpulse_scorer_queue_wait_seconds_bucket[5m])))",
        ),
        (
            "pipeline-health",
            "Scorer fallbacks",
            "sum by (scorer, reason) (rate(socialpulse_scorer_fallbacks_total[5m]))",
        ),
        (
            "models",
            "Scorer fallback ratio",
            "sum by (scorer) (rate(socialpulse_scorer_fallbacks_total[5m]))"
            " / clamp_min(sum by (scorer) (rate(socialpulse_scorer_batch_size_count[5m])), 1e-9)",
        ),
        # socialpulse_prequential_*, socialpulse_drift_alerts_total, socialpulse_model_version_info:
        # no prequential evaluation, drift detector or versioned model in the worker yet.
        ("models", "Prequential HitRate@k", "max by (model, k) (socialpulse_prequential_hit_ratio)"),
        ("models", "Prequential NDCG@k", "max by (model, k) (socialpulse_prequential_ndcg)"),
        ("models", "Drift detections (1h)", "sum by (model) (increase(socialpulse_drift_alerts_total[1h]))"),
        ("models", "Loaded model versions", "count by (model, version) (socialpulse_model_version_info)"),
    }
)

# Quiet by design in a run this short, whatever the worker emits: every alert but ModelDrift waits
# a `for:` of at least a minute, and ModelDrift needs socialpulse_drift_alerts_total (above).
QUIET_IN_THIS_TEST: frozenset[tuple[str, str, str]] = frozenset(
    {("overview", "Firing alerts", 'sum by (alertname) (ALERTS{alertstate="firing"})')}
)


@dataclass
class Run:
    settings: Settings
    worker: WorkerProcess
    prom: LocalPrometheus
    wave1: int
    wave2: int
    consumed_after_wave1: float
    e2e_count_after_wave1: float


def _scalar(prom: LocalPrometheus, expr: str) -> float:
    result = prom.query(expr)
    return float(result[0]["value"][1]) if result else 0.0


def _wait_until(prom: LocalPrometheus, worker: WorkerProcess, expr: str, at_least: float) -> float:
    deadline = time.monotonic() + CONSUME_TIMEOUT_S
    value = 0.0
    while time.monotonic() < deadline:
        value = _scalar(prom, expr)
        if value >= at_least:
            return value
        assert worker.proc is not None and worker.proc.poll() is None, f"worker died:\n{worker.tail()}"
        time.sleep(0.5)
    raise AssertionError(f"{expr} = {value} < {at_least} after {CONSUME_TIMEOUT_S}s\nworker:\n{worker.tail()}")


@pytest.fixture(scope="module")
def run(kafka, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    binary = shutil.which("prometheus") or PROMETHEUS_BIN
    if not Path(binary).exists():
        pytest.fail("prometheus binary not found: apt-get install prometheus")
    tmp = tmp_path_factory.mktemp("prom-worker")
    settings = engine_settings(kafka.bootstrap, tmp / "data", partitions=2)
    create_topics(settings)
    records = list(generate(SIM))
    half = len(records) // 2  # the catalogue comes first, so it is all in the first wave

    worker = WorkerProcess(settings, tmp / "worker.log").start()
    prom = LocalPrometheus([f"127.0.0.1:{settings.web_port}"], scrape_interval="1s")
    try:
        worker.wait_ready()
        prom.start()
        prom.wait_for_series("socialpulse_worker_info")

        wave1 = produce(settings, records[:half])
        produce_raw(settings, "clicks", BAD_CLICKS)
        consumed1 = _wait_until(
            prom, worker, "sum(socialpulse_events_consumed_total)", wave1 + len(BAD_CLICKS)
        )
        e2e1 = _scalar(prom, "sum(socialpulse_end_to_end_latency_seconds_count)")

        wave2 = produce(settings, records[half:])
        _wait_until(prom, worker, "sum(socialpulse_events_consumed_total)", wave1 + wave2 + len(BAD_CLICKS))
        # Two more scrapes after the last event, so rate() windows hold the whole run.
        scrapes = _scalar(prom, 'count_over_time(up{job="socialpulse"}[10m])')
        _wait_until(prom, worker, 'count_over_time(up{job="socialpulse"}[10m])', scrapes + 2)
        yield Run(settings, worker, prom, wave1, wave2, consumed1, e2e1)
    finally:
        prom.stop()
        worker.stop()


def test_worker_is_scraped(run: Run) -> None:
    assert run.prom.targets_health() == ["up"]
    (up,) = run.prom.query('up{job="socialpulse"} == 1')
    assert up["metric"]["instance"] == f"127.0.0.1:{run.settings.web_port}"
    (info,) = run.prom.query("socialpulse_worker_info")
    assert info["metric"]["version"]


def test_consumed_counter_moves_with_traffic(run: Run) -> None:
    bad = len(BAD_CLICKS)
    assert run.consumed_after_wave1 >= run.wave1 + bad
    # At least once: a rebalance may re-read a few events, never fewer than were produced.
    after = _scalar(run.prom, "sum(socialpulse_events_consumed_total)")
    assert after >= run.wave1 + run.wave2 + bad > run.consumed_after_wave1
    by_topic = {
        r["metric"]["topic"]: float(r["value"][1]) for r in run.prom.query("socialpulse_events_consumed_total")
    }
    prefix = run.settings.topic_prefix
    assert {prefix + t for t in ("clicks", "purchases", "items", "social")} <= set(by_topic), by_topic
    assert _scalar(run.prom, "sum(increase(socialpulse_events_consumed_total[10m]))") > 0


def test_dead_letters_counted(run: Run) -> None:
    bad = len(BAD_CLICKS)
    assert _scalar(run.prom, 'socialpulse_dead_letters_total{reason="decode_error"}') >= bad
    clicks = run.settings.topic_prefix + "clicks"
    assert _scalar(run.prom, f'socialpulse_events_failed_total{{topic="{clicks}"}}') >= bad


def test_latency_histograms_filled(run: Run) -> None:
    e2e = _scalar(run.prom, "sum(socialpulse_end_to_end_latency_seconds_count)")
    assert e2e > run.e2e_count_after_wave1 > 0
    p99 = _scalar(
        run.prom, "histogram_quantile(0.99, sum by (le) (rate(socialpulse_end_to_end_latency_seconds_bucket[5m])))"
    )
    assert 0 < p99 < 60, p99
    agents = {r["metric"]["agent"] for r in run.prom.query("socialpulse_processing_latency_seconds_count > 0")}
    assert {"clicks", "purchases"} <= agents, agents
    assert _scalar(run.prom, "sum(socialpulse_recommendations_total)") > 0


def test_every_dashboard_expr_evaluates(run: Run) -> None:
    exprs = set(all_exprs())
    excused = NOT_YET_EMITTED | QUIET_IN_THIS_TEST
    stale = excused - exprs
    assert not stale, f"excused queries no dashboard has any more (remove them): {sorted(stale)}"
    empty = {e for e in exprs if not run.prom.query(e[2])}  # query() raises on a bad expression
    missing = sorted(empty - excused)
    assert not missing, "dashboard queries without data:\n" + "\n".join(map(str, missing))
    now_with_data = sorted(excused - empty)
    assert not now_with_data, "these return data now; remove them from the excused sets:\n" + "\n".join(
        map(str, now_with_data)
    )


def test_recommendations_count_lists_not_items(run: Run) -> None:
    lists = _scalar(run.prom, "sum(socialpulse_recommendations_total)")
    items = _scalar(run.prom, "sum(socialpulse_recommended_items_total)")
    assert items > lists > 0
