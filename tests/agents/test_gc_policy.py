"""The worker's garbage-collector policy: thresholds from settings, pauses timed, start-up frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from socialpulse.agents import gc_policy
from socialpulse.streams.metrics import Metrics
from socialpulse.streams.settings import Settings


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    callbacks = list(gc.callbacks)
    yield
    gc.set_threshold(*thresholds)
    gc.callbacks[:] = callbacks
    gc.unfreeze()


def _pauses(metrics: Metrics, generation: str) -> tuple[float | None, float | None]:
    labels = {"generation": generation}
    return (metrics.registry.get_sample_value("socialpulse_gc_pause_seconds_count", labels),
            metrics.registry.get_sample_value("socialpulse_gc_pause_seconds_sum", labels))


def test_pause_timer_observes_each_collection_by_generation() -> None:
    metrics = Metrics()
    ticks = iter([10.0, 10.004, 20.0, 20.25])
    on_gc = gc_policy.pause_timer(metrics, clock=lambda: next(ticks))
    on_gc("start", {"generation": 0})
    on_gc("stop", {"generation": 0, "collected": 3})
    on_gc("start", {"generation": 2})
    on_gc("stop", {"generation": 2, "collected": 0})
    count, total = _pauses(metrics, "0")
    assert count == 1 and total == pytest.approx(0.004)
    count, total = _pauses(metrics, "2")
    assert count == 1 and total == pytest.approx(0.25)
    # A full collection of 250 ms lands above the 100 ms bucket, where a dashboard's p99 sees it.
    assert metrics.registry.get_sample_value("socialpulse_gc_pause_seconds_bucket",
                                             {"generation": "2", "le": "0.1"}) == 0


def test_apply_sets_thresholds_and_times_real_collections(restore_gc: None) -> None:
    metrics = Metrics()
    callback = gc_policy.apply("2000,10,100", metrics)
    assert gc.get_threshold() == (2000, 10, 100)
    assert callback in gc.callbacks
    gc.collect()
    count, total = _pauses(metrics, "2")
    assert count is not None and count >= 1 and total is not None and total > 0


def test_freeze_exempts_live_objects_from_collections(restore_gc: None) -> None:
    kept = [[n] for n in range(1000)]
    frozen = gc_policy.freeze("a test")
    assert frozen >= len(kept)
    assert gc.get_freeze_count() >= frozen
    assert not gc.is_finalized(kept)


def test_thresholds_setting_is_validated() -> None:
    assert gc_policy.parse_thresholds(Settings().gc_thresholds) == (2000, 10, 100)
    assert Settings(gc_thresholds="700,10,10").gc_thresholds == "700,10,10"
    with pytest.raises(ValidationError):
        Settings(gc_thresholds="700,10")
    with pytest.raises(ValidationError):
        Settings(gc_thresholds="fast")
