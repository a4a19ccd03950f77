"""Scorers inside a worker: built from settings, metered, skipped while cold; model versions published."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from socialpulse.agents.app import model_config
from socialpulse.agents.scoring import MeteredScorer, UnknownScorer, build_scorers, declare_models, engine_version
from socialpulse.models.online_mf import OnlineMFScorer
from socialpulse.streams.metrics import Metrics
from socialpulse.streams.settings import Settings


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_cold_scorer_falls_back_then_scores_once_it_has_learned_enough() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    clock = [0.0]
    metered = MeteredScorer(OnlineMFScorer(min_examples=3), metrics, lambda: clock[0])
    assert metered.score_many(["u"], [["a", "b"]]) == [[0.0, 0.0]]
    assert sample(registry, "socialpulse_scorer_fallbacks_total", scorer="online_mf", reason="not_loaded") == 1
    for item in ("a", "a", "b"):
        metered.learn_one("u", item)
    scores = metered.score_many(["u", "v"], [["a", "b", "c"], ["a"]])
    assert [len(s) for s in scores] == [3, 1] and scores != [[0.0] * 3, [0.0]]
    assert sample(registry, "socialpulse_scorer_fallbacks_total", scorer="online_mf", reason="not_loaded") == 1
    assert sample(registry, "socialpulse_scorer_batch_size_count", scorer="online_mf") == 2
    assert sample(registry, "socialpulse_scorer_batch_size_sum", scorer="online_mf") == 2 + 4
    assert sample(registry, "socialpulse_scorer_queue_wait_seconds_count", scorer="online_mf") == 2


def test_settings_name_the_scorers_and_unknown_names_are_refused() -> None:
    metrics = Metrics(CollectorRegistry())
    assert build_scorers(Settings(), metrics, lambda: 0.0) == ()
    (scorer,) = build_scorers(Settings(scorers="online_mf"), metrics, lambda: 0.0)
    assert scorer.name == "online_mf"
    with pytest.raises(UnknownScorer, match="known scorers"):
        build_scorers(Settings(scorers="online_mf,deep_magic"), metrics, lambda: 0.0)
    with pytest.raises(ValueError):
        Settings(scorers="online_mf,,x")


def test_model_versions_and_drift_counters_are_declared() -> None:
    registry = CollectorRegistry()
    cfg = model_config(Settings())
    versions = declare_models(Metrics(registry), cfg, [OnlineMFScorer()])
    assert versions == {"engine": engine_version(cfg), "online_mf": "1"}
    assert engine_version(cfg) != engine_version(model_config(Settings(rec_k=5)))
    assert sample(registry, "socialpulse_model_version_info", model="engine", version=versions["engine"]) == 1
    assert sample(registry, "socialpulse_drift_alerts_total", model="online_mf") == 0
