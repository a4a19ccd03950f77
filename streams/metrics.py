"""Every Prometheus metric of the worker, built against one registry passed in.

Tests pass a fresh :class:`~prometheus_client.CollectorRegistry`; the worker serves
``metrics.exposition()`` on ``GET /metrics`` of its web server (port 6066 by default).

Label values come only from bounded sets: fixed enums below, or free-form names (topics, agents,
tables, models, scorers) capped at a small number of distinct values per label; anything past the
cap or outside an enum is recorded as ``"other"``. Never pass user or item ids as labels.

``Metrics(enabled=False)`` registers nothing and every helper returns at once, so benchmarks can
compare metrics on and off.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

__all__ = [
    "CAMPAIGNS",
    "DEAD_LETTER_REASONS",
    "OTHER",
    "SOURCES",
    "UNITLESS",
    "Metrics",
]

PREFIX = "socialpulse_"
OTHER = "other"


class DeadLetterReason(StrEnum):
    DECODE_ERROR = "decode_error"
    SCHEMA_VIOLATION = "schema_violation"
    STARS_OUT_OF_RANGE = "stars_out_of_range"
    NEGATIVE_AMOUNT = "negative_amount"
    FUTURE_TIMESTAMP = "future_timestamp"
    EMPTY_ID = "empty_id"
    TEXT_TOO_LONG = "text_too_long"
    UNKNOWN = "unknown"


DEAD_LETTER_REASONS: tuple[str, ...] = tuple(r.value for r in DeadLetterReason)
SOURCES: tuple[str, ...] = (
    "item_cf",
    "user_cf",
    "trending",
    "social",
    "content",
    "popular",
    "river",
    "deep",
    "sequence",
)
CAMPAIGNS: tuple[str, ...] = (
    "cart_abandonment",
    "churn_risk",
    "negative_review_recovery",
    "price_drop",
    "social_proof",
)
SUPPRESSION_REASONS: tuple[str, ...] = ("frequency_cap", "holdout")
FALLBACK_REASONS: tuple[str, ...] = ("timeout", "error", "queue_full", "not_loaded")
CONVERSION_KINDS: tuple[str, ...] = ("recommendation", "trigger")
# A conversion attributed to a recommendation has no campaign.
CONVERSION_CAMPAIGNS: tuple[str, ...] = (*CAMPAIGNS, "none")
DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 20)

# Metric names without a unit suffix, and why: the naming test allows exactly these.
UNITLESS: dict[str, str] = {
    "socialpulse_table_entries": "count of keys in a Faust table",
    "socialpulse_prequential_ndcg": "NDCG@k in [0, 1]",
    "socialpulse_scorer_batch_size": "user-item pairs per scorer batch (a count)",
    "socialpulse_agent_batch_size": "events per agent batch (a count)",
}

# Seconds. 0.05 is the end-to-end SLO and must stay a bucket boundary for the burn-rate alert.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
END_TO_END_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
GC_PAUSE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
QUEUE_WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
# What a state sweep removes: user profiles, a user's other keys (recent recommendations, followers,
# influence), item statistics, marketing keys.
SWEPT_KINDS: tuple[str, ...] = ("user", "user_keys", "item", "marketing")

_SAFE = re.compile(r"[^a-zA-Z0-9_.\-]")


class _CappedLabel:
    """Keeps the first ``cap`` distinct values of a free-form label; later ones become ``"other"``."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: object) -> str:
        text = _SAFE.sub("_", str(value))[:64] or OTHER
        if text in self._seen:
            return text
        with self._lock:
            if len(self._seen) < self.cap:
                self._seen.add(text)
                return text
        return OTHER


class _NoopMetric:
    """Stands in for every metric when metrics are disabled: each call does nothing."""

    def labels(self, *_: object, **__: object) -> _NoopMetric:
        return self

    def inc(self, *_: object) -> None:
        pass

    dec = set = observe = info = inc

    @contextmanager
    def time(self) -> Iterator[None]:
        yield


_NOOP = _NoopMetric()
_METRIC_ATTRS = (
    "events_consumed",
    "events_failed",
    "dead_letters",
    "processing_latency",
    "agent_batch_size",
    "state_swept",
    "end_to_end_latency",
    "consumer_lag",
    "table_entries",
    "recommendations",
    "recommended_items",
    "triggers",
    "triggers_suppressed",
    "prequential_hit",
    "prequential_ndcg",
    "drift_alerts",
    "scorer_batch_size",
    "scorer_queue_wait",
    "scorer_fallbacks",
    "model_version",
    "conversions",
    "uplift",
    "worker",
    "gc_pause",
    "sweep_duration",
)


def _enum_label(value: object, allowed: Iterable[str]) -> str:
    text = str(value.value if isinstance(value, StrEnum) else value)
    return text if text in allowed else OTHER


class Metrics:
    """All worker metrics. Build one per worker process and pass it down.

    ``registry`` defaults to a new private registry (never the global one, so building two
    ``Metrics`` never collides). ``max_partitions`` bounds the ``partition`` label of the lag gauge:
    partitions ``>= max_partitions`` are recorded as ``"other"``; set it to the topics' partition count.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        enabled: bool = True,
        version: str = "0.1.0",
        max_partitions: int = 256,
        ks: Iterable[int] = DEFAULT_KS,
        max_names: int = 32,
    ) -> None:
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=True) if registry is None else registry
        self.max_partitions = max_partitions
        self.ks = frozenset(str(k) for k in ks)
        self._topic = _CappedLabel(max_names)
        self._agent = _CappedLabel(max_names)
        self._table = _CappedLabel(max_names)
        self._model = _CappedLabel(max_names)
        self._scorer = _CappedLabel(max_names)
        if not enabled:
            for name in _METRIC_ATTRS:
                setattr(self, name, _NOOP)
            return
        r = self.registry
        p = PREFIX
        self.events_consumed = Counter(p + "events_consumed", "Events taken from a topic.", ["topic"], registry=r)
        self.events_failed = Counter(
            p + "events_failed",
            "Events whose processing failed (dead-lettered or fallen back).",
            ["topic"],
            registry=r,
        )
        self.dead_letters = Counter(
            p + "dead_letters", "Events sent to the dead-letter topic, by reason.", ["reason"], registry=r
        )
        self.offset_rewinds = Counter(
            p + "offset_rewinds",
            "Times a worker found a hole in a partition's offsets and sought back to re-read it.",
            ["topic"],
            registry=r,
        )
        self.agent_batch_size = Histogram(
            p + "agent_batch_size",
            "Events per batch an agent handles.",
            ["agent"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.state_swept = Counter(
            p + "state_swept",
            "What state sweeps removed (expired or over a cap): user profiles, items, marketing keys.",
            ["kind"],
            registry=r,
        )
        self.sweep_duration = Histogram(
            p + "sweep_duration_seconds",
            "Wall time of one partition's state sweep (a full scan; the partition waits for it).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.processing_latency = Histogram(
            p + "processing_latency_seconds",
            "Wall time an agent spends on one event or batch.",
            ["agent"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.end_to_end_latency = Histogram(
            p + "end_to_end_latency_seconds",
            "Event timestamp to recommendation produced.",
            buckets=END_TO_END_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            p + "consumer_lag_messages",
            "Messages between the committed offset and the high watermark.",
            ["topic", "partition"],
            registry=r,
        )
        self.table_entries = Gauge(p + "table_entries", "Keys held in a table.", ["table"], registry=r)
        self.recommendations = Counter(
            p + "recommendations",
            "Recommendation lists produced, by the source that led them.",
            ["source"],
            registry=r,
        )
        self.recommended_items = Counter(
            p + "recommended_items",
            "Items recommended, by the source that proposed them.",
            ["source"],
            registry=r,
        )
        self.triggers = Counter(p + "triggers", "Marketing triggers sent.", ["campaign"], registry=r)
        self.triggers_suppressed = Counter(
            p + "triggers_suppressed", "Triggers not sent, by reason.", ["campaign", "reason"], registry=r
        )
        self.prequential_hit = Gauge(
            p + "prequential_hit_ratio",
            "Prequential (test-then-train) HitRate@k.",
            ["k", "model"],
            registry=r,
        )
        self.prequential_ndcg = Gauge(
            p + "prequential_ndcg", "Prequential (test-then-train) NDCG@k.", ["k", "model"], registry=r
        )
        self.drift_alerts = Counter(p + "drift_alerts", "Concept-drift detections.", ["model"], registry=r)
        self.scorer_batch_size = Histogram(
            p + "scorer_batch_size",
            "User-item pairs per batched scorer call.",
            ["scorer"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.scorer_queue_wait = Histogram(
            p + "scorer_queue_wait_seconds",
            "Time a request waits for its scorer batch.",
            ["scorer"],
            buckets=QUEUE_WAIT_BUCKETS,
            registry=r,
        )
        self.scorer_fallbacks = Counter(
            p + "scorer_fallbacks",
            "Scorer calls that fell back (e.g. to popularity).",
            ["scorer", "reason"],
            registry=r,
        )
        self.model_version = Info(p + "model_version", "Version of each loaded model.", ["model"], registry=r)
        self.conversions = Counter(
            p + "conversions",
            "Purchases attributed to a recommendation or a trigger.",
            ["campaign", "kind"],
            registry=r,
        )
        self.uplift = Gauge(
            p + "uplift_ratio", "Conversion rate of treated over holdout users.", ["campaign"], registry=r
        )
        self.gc_pause = Histogram(
            p + "gc_pause_seconds",
            "Pauses of Python's cyclic garbage collector in the worker, by generation (2 = full).",
            ["generation"],
            buckets=GC_PAUSE_BUCKETS,
            registry=r,
        )
        self.worker = Info(p + "worker", "Worker build information.", registry=r)
        self.worker.info({"version": version})

    @classmethod
    def from_settings(cls, settings: Any, registry: CollectorRegistry | None = None, **kw: Any) -> Metrics:
        """Build from :class:`socialpulse.streams.settings.Settings` (``metrics_enabled``, ``partitions``)."""
        kw.setdefault("max_partitions", max(settings.partitions, 64))
        return cls(registry, enabled=settings.metrics_enabled, **kw)

    # --- label values -------------------------------------------------------------------------
    def topic(self, value: object) -> str:
        return self._topic(value)

    def agent(self, value: object) -> str:
        return self._agent(value)

    def table(self, value: object) -> str:
        return self._table(value)

    def model(self, value: object) -> str:
        return self._model(value)

    def scorer(self, value: object) -> str:
        return self._scorer(value)

    def partition(self, value: int) -> str:
        return str(value) if 0 <= value < self.max_partitions else OTHER

    def k(self, value: int) -> str:
        text = str(value)
        return text if text in self.ks else OTHER

    @staticmethod
    def reason(value: object) -> str:
        return _enum_label(value, DEAD_LETTER_REASONS)

    @staticmethod
    def source(value: object) -> str:
        return _enum_label(value, SOURCES)

    @staticmethod
    def campaign(value: object) -> str:
        return _enum_label(value, CAMPAIGNS)

    # --- recording ----------------------------------------------------------------------------
    def consumed(self, topic: str, n: int = 1) -> None:
        if self.enabled:
            self.events_consumed.labels(self._topic(topic)).inc(n)

    def failed(self, topic: str, n: int = 1) -> None:
        if self.enabled:
            self.events_failed.labels(self._topic(topic)).inc(n)

    def dead_letter(self, reason: object) -> None:
        if self.enabled:
            self.dead_letters.labels(self.reason(reason)).inc()

    def offset_rewind(self, topic: str) -> None:
        if self.enabled:
            self.offset_rewinds.labels(self._topic(topic)).inc()

    def observe_batch(self, agent: str, events: int) -> None:
        if self.enabled:
            self.agent_batch_size.labels(self._agent(agent)).observe(events)

    def swept(self, kind: str, n: int) -> None:
        if self.enabled and n:
            self.state_swept.labels(_enum_label(kind, SWEPT_KINDS)).inc(n)

    def observe_sweep(self, seconds: float) -> None:
        if self.enabled:
            self.sweep_duration.observe(seconds)

    def observe_processing(self, agent: str, seconds: float) -> None:
        if self.enabled:
            self.processing_latency.labels(self._agent(agent)).observe(seconds)

    @contextmanager
    def time_processing(self, agent: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        start = time.perf_counter()
        try:
            yield
        finally:
            self.processing_latency.labels(self._agent(agent)).observe(time.perf_counter() - start)

    def observe_gc_pause(self, generation: int, seconds: float) -> None:
        if self.enabled:
            self.gc_pause.labels(_enum_label(str(generation), ("0", "1", "2"))).observe(seconds)

    def observe_end_to_end(self, seconds: float) -> None:
        if self.enabled:
            self.end_to_end_latency.observe(max(seconds, 0.0))

    def set_consumer_lag(self, topic: str, partition: int, lag: float) -> None:
        if self.enabled:
            self.consumer_lag.labels(self._topic(topic), self.partition(partition)).set(lag)

    def set_table_entries(self, table: str, n: int) -> None:
        if self.enabled:
            self.table_entries.labels(self._table(table)).set(n)

    def recommended(self, source: object, items: int) -> None:
        """One list produced by ``source`` with ``items`` items."""
        if self.enabled:
            label = self.source(source)
            self.recommendations.labels(label).inc()
            self.recommended_items.labels(label).inc(items)

    def triggered(self, campaign: object) -> None:
        if self.enabled:
            self.triggers.labels(self.campaign(campaign)).inc()

    def suppressed(self, campaign: object, reason: str) -> None:
        if self.enabled:
            self.triggers_suppressed.labels(self.campaign(campaign), _enum_label(reason, SUPPRESSION_REASONS)).inc()

    def set_prequential(self, model: str, k: int, hit_rate: float, ndcg: float) -> None:
        if self.enabled:
            labels = (self.k(k), self._model(model))
            self.prequential_hit.labels(*labels).set(hit_rate)
            self.prequential_ndcg.labels(*labels).set(ndcg)

    def drift_alert(self, model: str) -> None:
        if self.enabled:
            self.drift_alerts.labels(self._model(model)).inc()

    def declare_drift(self, model: str) -> None:
        """Start a model's drift counter at 0, so "no drift yet" reads 0 rather than no data."""
        if self.enabled:
            self.drift_alerts.labels(self._model(model))

    def declare_campaigns(self) -> None:
        """Start every campaign's suppression and conversion counters at 0 (bounded label sets)."""
        if self.enabled:
            for campaign in CAMPAIGNS:
                for reason in SUPPRESSION_REASONS:
                    self.triggers_suppressed.labels(campaign, reason)
                for kind in CONVERSION_KINDS:
                    self.conversions.labels(campaign, kind)

    def scorer_batch(self, scorer: str, size: int, queue_wait_s: float | None = None) -> None:
        if self.enabled:
            label = self._scorer(scorer)
            self.scorer_batch_size.labels(label).observe(size)
            if queue_wait_s is not None:
                self.scorer_queue_wait.labels(label).observe(queue_wait_s)

    def scorer_fallback(self, scorer: str, reason: str) -> None:
        if self.enabled:
            self.scorer_fallbacks.labels(self._scorer(scorer), _enum_label(reason, FALLBACK_REASONS)).inc()

    def set_model_version(self, model: str, version: str) -> None:
        """Replaces the model's previous version (one series per model)."""
        if self.enabled:
            self.model_version.labels(self._model(model)).info({"version": _SAFE.sub("_", version)[:64]})

    def conversion(self, campaign: object, kind: str) -> None:
        if self.enabled:
            self.conversions.labels(
                _enum_label(campaign, CONVERSION_CAMPAIGNS), _enum_label(kind, CONVERSION_KINDS)
            ).inc()

    def set_uplift(self, campaign: object, ratio: float) -> None:
        if self.enabled:
            self.uplift.labels(self.campaign(campaign)).set(ratio)

    # --- serving ------------------------------------------------------------------------------
    def exposition(self) -> tuple[bytes, str]:
        """(body, content type) for ``GET /metrics``; empty body when disabled."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
