"""Learned scorers inside a worker: built from settings, metered, and skipped while they are cold.

Ranking (``models/ranking.py``) calls ``score_many`` once per list with every candidate of that list;
:class:`MeteredScorer` records that call's size (user-item pairs), how long the event had waited in its
batch before being scored, and a ``not_loaded`` fallback while the model has learned too little to be
trusted (it then scores every item 0, so the ranking is the one without it). Model errors are
reported by ranking itself (``Context.on_scorer_error``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict

from socialpulse.models.config import ModelConfig
from socialpulse.models.ranking import SCORERS, Scorer
from socialpulse.streams.metrics import Metrics
from socialpulse.streams.settings import Settings

ENGINE_MODEL = "engine"


class UnknownScorer(ValueError):
    pass


def scorer_names(settings: Settings) -> list[str]:
    names = [name for name in settings.scorers.split(",") if name]
    unknown = [name for name in names if name not in SCORERS]
    if unknown:
        raise UnknownScorer(f"SOCIALPULSE_SCORERS names {unknown}; known scorers: {sorted(SCORERS)}")
    return names


class MeteredScorer:
    """Wraps one scorer with the worker's metrics; ``batch_started`` gives the current batch's start."""

    def __init__(self, scorer: Scorer, metrics: Metrics, batch_started: Callable[[], float]) -> None:
        self.scorer = scorer
        self.name, self.version = scorer.name, scorer.version
        self._metrics = metrics
        self._batch_started = batch_started

    def learn_one(self, user_id: str, item_id: str, weight: float = 1.0) -> None:
        self.scorer.learn_one(user_id, item_id, weight)

    def score_many(self, user_ids: Sequence[str], item_ids: Sequence[Sequence[str]]) -> list[list[float]]:
        pairs = sum(len(items) for items in item_ids)
        self._metrics.scorer_batch(self.name, pairs, max(0.0, time.perf_counter() - self._batch_started()))
        if not getattr(self.scorer, "ready", True):
            self._metrics.scorer_fallback(self.name, "not_loaded")
            return [[0.0] * len(items) for items in item_ids]
        return self.scorer.score_many(user_ids, item_ids)

    def score_one(self, user_id: str, item_id: str) -> float:
        return self.score_many([user_id], [[item_id]])[0][0]


def build_scorers(settings: Settings, metrics: Metrics, batch_started: Callable[[], float]) -> tuple[Scorer, ...]:
    return tuple(MeteredScorer(SCORERS[name](), metrics, batch_started) for name in scorer_names(settings))


def engine_version(cfg: ModelConfig) -> str:
    """The candidate-and-blend model's version: a digest of its configuration (weights, caps, decay)."""
    digest = hashlib.sha256(repr(sorted(asdict(cfg).items())).encode()).hexdigest()[:12]
    return f"cfg-{digest}"


def declare_models(metrics: Metrics, cfg: ModelConfig, scorers: Sequence[Scorer]) -> dict[str, str]:
    """Publish every model's version and start its drift counter at 0; returns {model: version}."""
    versions = {ENGINE_MODEL: engine_version(cfg)} | {s.name: s.version for s in scorers}
    for model, version in versions.items():
        metrics.set_model_version(model, version)
        metrics.declare_drift(model)
    return versions
