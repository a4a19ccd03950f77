from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry

from socialpulse.streams.metrics import (
    CAMPAIGNS,
    DEAD_LETTER_REASONS,
    END_TO_END_BUCKETS,
    OTHER,
    SOURCES,
    UNITLESS,
    Metrics,
)
from socialpulse.streams.settings import Settings

UNIT_SUFFIXES = ("_seconds", "_bytes", "_ratio", "_messages", "_total", "_info")


def _exercise(m: Metrics) -> None:
    m.consumed("interactions")
    m.failed("interactions")
    m.dead_letter("stars_out_of_range")
    m.offset_rewind("interactions")
    m.observe_processing("recommend", 0.002)
    m.observe_batch("clicks", 37)
    m.swept("user", 2)
    with m.time_processing("recommend"):
        pass
    m.observe_end_to_end(0.03)
    m.set_consumer_lag("interactions", 0, 12)
    m.set_table_entries("user_history", 3)
    m.recommended("item_cf", 10)
    m.triggered("cart_abandonment")
    m.suppressed("cart_abandonment", "holdout")
    m.set_prequential("item_cf", 10, 0.2, 0.1)
    m.drift_alert("river")
    m.scorer_batch("deep", 32, 0.001)
    m.scorer_fallback("deep", "timeout")
    m.set_model_version("deep", "v1")
    m.conversion("none", "recommendation")
    m.set_uplift("price_drop", 1.1)
    m.observe_gc_pause(2, 0.12)
    m.observe_sweep(0.4)


@pytest.fixture
def metrics() -> Metrics:
    m = Metrics(CollectorRegistry())
    _exercise(m)
    return m


def _families(m: Metrics):
    return list(m.registry.collect())


def test_every_name_follows_conventions(metrics: Metrics) -> None:
    families = _families(metrics)
    assert len(families) >= 20
    for fam in families:
        assert fam.name.startswith("socialpulse_"), fam.name
        sample_names = {s.name for s in fam.samples}
        if fam.type == "counter":
            assert f"{fam.name}_total" in sample_names, fam.name
        elif fam.type == "histogram":
            assert fam.name.endswith("_seconds") or fam.name in UNITLESS, fam.name
        elif fam.type == "gauge":
            assert fam.name.endswith(UNIT_SUFFIXES) or fam.name in UNITLESS, fam.name
        elif fam.type == "info":
            assert all(s.endswith("_info") for s in sample_names), fam.name
        else:  # pragma: no cover - no other types are built
            pytest.fail(f"unexpected metric type {fam.type} for {fam.name}")
        for sample in fam.samples:
            assert sample.name.startswith("socialpulse_")
            assert "user" not in sample.labels and "item" not in sample.labels


def test_expected_metrics_exist(metrics: Metrics) -> None:
    names = {s.name for fam in _families(metrics) for s in fam.samples}
    for expected in [
        "socialpulse_events_consumed_total",
        "socialpulse_events_failed_total",
        "socialpulse_dead_letters_total",
        "socialpulse_offset_rewinds_total",
        "socialpulse_processing_latency_seconds_bucket",
        "socialpulse_agent_batch_size_bucket",
        "socialpulse_state_swept_total",
        "socialpulse_end_to_end_latency_seconds_bucket",
        "socialpulse_consumer_lag_messages",
        "socialpulse_table_entries",
        "socialpulse_recommendations_total",
        "socialpulse_recommended_items_total",
        "socialpulse_triggers_total",
        "socialpulse_triggers_suppressed_total",
        "socialpulse_prequential_hit_ratio",
        "socialpulse_prequential_ndcg",
        "socialpulse_drift_alerts_total",
        "socialpulse_scorer_batch_size_bucket",
        "socialpulse_scorer_queue_wait_seconds_bucket",
        "socialpulse_scorer_fallbacks_total",
        "socialpulse_model_version_info",
        "socialpulse_conversions_total",
        "socialpulse_uplift_ratio",
        "socialpulse_worker_info",
        "socialpulse_gc_pause_seconds_bucket",
        "socialpulse_sweep_duration_seconds_bucket",
    ]:
        assert expected in names, expected


def test_values_are_recorded(metrics: Metrics) -> None:
    reg = metrics.registry
    assert reg.get_sample_value("socialpulse_events_consumed_total", {"topic": "interactions"}) == 1
    assert reg.get_sample_value("socialpulse_recommended_items_total", {"source": "item_cf"}) == 10
    assert reg.get_sample_value("socialpulse_recommendations_total", {"source": "item_cf"}) == 1
    assert reg.get_sample_value("socialpulse_worker_info", {"version": "0.1.0"}) == 1
    assert reg.get_sample_value("socialpulse_processing_latency_seconds_count", {"agent": "recommend"}) == 2
    metrics.set_model_version("deep", "v2")
    assert reg.get_sample_value("socialpulse_model_version_info", {"model": "deep", "version": "v2"}) == 1
    assert reg.get_sample_value("socialpulse_model_version_info", {"model": "deep", "version": "v1"}) is None


def test_slo_is_a_bucket_boundary() -> None:
    assert 0.05 in END_TO_END_BUCKETS


@pytest.mark.parametrize(
    ("method", "allowed"),
    [("reason", DEAD_LETTER_REASONS), ("source", SOURCES), ("campaign", CAMPAIGNS)],
)
def test_enum_labels_map_unknown_to_other(method: str, allowed: tuple[str, ...]) -> None:
    check = getattr(Metrics, method)
    for value in allowed:
        assert check(value) == value
    assert check("user-123") == OTHER
    assert check("") == OTHER


def test_free_form_labels_are_capped() -> None:
    m = Metrics(CollectorRegistry(), max_names=3, max_partitions=4, ks=(10,))
    for i in range(100):
        m.consumed(f"topic-{i}")
        m.set_consumer_lag("topic-0", i, i)
    topics = {
        s.labels["topic"]
        for fam in m.registry.collect()
        if fam.name == "socialpulse_events_consumed"
        for s in fam.samples
    }
    assert topics == {"topic-0", "topic-1", "topic-2", OTHER}
    partitions = {
        s.labels["partition"]
        for fam in m.registry.collect()
        if fam.name == "socialpulse_consumer_lag_messages"
        for s in fam.samples
    }
    assert partitions == {"0", "1", "2", "3", OTHER}
    assert m.k(10) == "10"
    assert m.k(7) == OTHER
    assert m.topic("a b{c}") == OTHER  # cap reached; sanitising never widens the set


def test_every_label_set_is_bounded_under_hostile_input() -> None:
    m = Metrics(CollectorRegistry(), max_names=8, max_partitions=8)
    for i in range(2000):
        m.dead_letter(f"r{i}")
        m.recommended(f"s{i}", 1)
        m.triggered(f"c{i}")
        m.suppressed(f"c{i}", f"x{i}")
        m.scorer_fallback(f"sc{i}", f"why{i}")
        m.conversion(f"c{i}", f"k{i}")
        m.set_prequential(f"m{i}", i, 0.1, 0.1)
        m.set_table_entries(f"t{i}", i)
    for fam in m.registry.collect():
        series = {tuple(sorted(s.labels.items())) for s in fam.samples}
        assert len(series) <= 200, (fam.name, len(series))


def test_disabled_records_nothing_and_costs_little() -> None:
    reg = CollectorRegistry()
    off = Metrics(reg, enabled=False)
    _exercise(off)
    off.events_consumed.labels("x").inc()  # metric objects are no-ops too
    off.end_to_end_latency.observe(1.0)
    assert list(reg.collect()) == []
    body, _ = off.exposition()
    assert body == b""

    on = Metrics(CollectorRegistry())
    n = 20_000

    def cost(m: Metrics) -> float:
        start = time.perf_counter()
        for _ in range(n):
            m.consumed("interactions")
            m.observe_end_to_end(0.01)
        return time.perf_counter() - start

    # Best of three: a busy CI machine slows single runs, never the fastest one much.
    off_s = min(cost(off) for _ in range(3))
    on_s = min(cost(on) for _ in range(3))
    assert off_s < on_s / 3
    assert off_s / (2 * n) < 2e-6  # well under 2 µs per call


def test_from_settings() -> None:
    off = Metrics.from_settings(Settings(metrics_enabled=False), CollectorRegistry())
    assert not off.enabled
    on = Metrics.from_settings(Settings(partitions=100))
    assert on.enabled and on.max_partitions == 100
    assert on.partition(99) == "99" and on.partition(100) == OTHER


def test_two_instances_do_not_collide() -> None:
    Metrics()
    Metrics()  # private registries: no "Duplicated timeseries" error


def test_exposition_is_prometheus_text(metrics: Metrics) -> None:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    assert b'socialpulse_dead_letters_total{reason="stars_out_of_range"} 1.0' in body
