"""Prequential metrics on hand-made streams whose values are known exactly."""

from __future__ import annotations

import math

import pytest

from socialpulse.models.evaluation import PrequentialEvaluator, interleave, list_metrics
from socialpulse.schemas.records import Click, Item, Purchase, PurchaseLine, Recommendation, RecommendedItem


def test_list_metrics_known_positions() -> None:
    assert list_metrics(["a", "b"], {"a"}, 2) == (1.0, 1.0, 1.0)
    hr, ndcg, mrr = list_metrics(["a", "b", "c"], {"b"}, 10)
    assert (hr, mrr) == (1.0, 0.5) and ndcg == pytest.approx(1 / math.log2(3))
    assert list_metrics(["a", "b", "c"], {"c"}, 2) == (0.0, 0.0, 0.0)
    # two targets at ranks 1 and 3 of 3: (1 + 1/2) / (1 + 1/log2(3))
    _, ndcg, _ = list_metrics(["x", "a", "y"], {"x", "y"}, 3)
    assert ndcg == pytest.approx(1.5 / (1 + 1 / math.log2(3)))


def test_hr_at_2_is_half_and_ndcg_uses_the_position() -> None:
    ev = PrequentialEvaluator(k=2, horizon=1, baselines={})
    ev.recommendation("u", [("a", "s"), ("b", "s")], 10)
    ev.recommendation("v", [("a", "s"), ("b", "s")], 10)
    ev.interaction("u", "b", 11)  # hit at rank 2
    ev.interaction("v", "c", 12)  # miss
    row = ev.report()["engine"]
    assert row["lists"] == 2 and row["hr"] == 0.5
    assert row["ndcg"] == pytest.approx(0.5 / math.log2(3))
    assert row["mrr"] == 0.25


def test_only_the_next_interactions_within_the_horizon_count() -> None:
    ev = PrequentialEvaluator(k=3, horizon=2, baselines={})
    ev.interaction("u", "a", 1)  # before the list: ignored
    ev.recommendation("u", [("a", "s"), ("z", "s")], 2)
    ev.interaction("w", "z", 3)  # another user
    ev.interaction("u", "b", 4)
    ev.interaction("u", "c", 5)  # horizon of 2 reached: targets {b, c}
    ev.interaction("u", "z", 6)  # too late
    assert ev.report()["engine"]["hr"] == 0.0


def test_per_source_sublists_and_coverage_and_novelty() -> None:
    ev = PrequentialEvaluator(k=10, horizon=1, baselines={})
    for item in ("a", "b", "c", "d"):
        ev.observe(Item(item, item, ("x",), 100, True, 0))
    ev.interaction("w", "a", 1)  # counts: a=1, total 1
    ev.recommendation("u", [("a", "popular"), ("b", "item_cf"), ("c", "item_cf")], 2)
    ev.interaction("u", "c", 3)
    report = ev.report()
    assert report["engine"]["mrr"] == pytest.approx(1 / 3)
    assert report["engine/item_cf"]["mrr"] == 0.5  # c is second among item_cf's own items
    assert report["engine/popular"]["hr"] == 0.0
    assert report["engine"]["coverage"] == 3 / 4
    # novelty: a has 1 of 1 interaction -> -log2(2/2)=0; b, c unseen -> -log2(1/2)=1 each
    assert report["engine"]["novelty"] == pytest.approx(2 / 3)
    assert list(report) == ["engine", "engine/item_cf", "engine/popular"]


def test_unscored_and_partial_horizon_at_the_end() -> None:
    ev = PrequentialEvaluator(k=2, horizon=3, baselines={})
    ev.recommendation("u", [("a", "s")], 1)
    ev.recommendation("v", [("a", "s")], 1)
    ev.interaction("u", "a", 2)
    ev.finish()
    row = ev.report()["engine"]
    assert row["lists"] == 1 and row["unscored"] == 1 and row["hr"] == 1.0


def test_baselines_test_then_train() -> None:
    ev = PrequentialEvaluator(k=1, horizon=1)
    ev.interaction("w", "a", 1)
    ev.interaction("w", "a", 2)
    ev.recommendation("u", [], 3)
    ev.interaction("u", "b", 4)  # the baseline list (a) was made before b was learnt: a miss
    ev.recommendation("u", [], 5)
    ev.interaction("u", "a", 6)
    report = ev.report()
    assert report["popularity"]["lists"] == 2 and report["popularity"]["hr"] == 0.5


def test_exclude_seen_skips_repeats() -> None:
    ev = PrequentialEvaluator(k=2, horizon=1, baselines={}, exclude_seen=True)
    ev.interaction("u", "a", 1)
    ev.recommendation("u", [("a", "s"), ("b", "s")], 2)
    ev.interaction("u", "a", 3)  # a repeat: not a target
    ev.interaction("u", "b", 4)
    assert ev.report()["engine"]["mrr"] == 0.5


def test_observe_records_and_interleave_order() -> None:
    rec = Recommendation("r1", "u", "e1", (RecommendedItem("b", 1.0, "social", "friend bought"),), 10, 99)
    events = [
        Click("e1", "u", "a", "s", "view", 10),
        Click("e2", "u", "b", "s", "remove_from_cart", 11),  # not an interaction
        Purchase("o1", "u", (PurchaseLine("b", 1, 100),), "USD", 12),
    ]
    stream = interleave([rec], events)
    assert stream == [events[0], rec, events[1], events[2]]
    ev = PrequentialEvaluator(k=10, horizon=1, baselines={})
    for record in stream:
        ev.observe(record)
    assert ev.report()["engine/social"]["hr"] == 1.0


def test_hr_over_time_buckets() -> None:
    ev = PrequentialEvaluator(k=1, horizon=1, baselines={})
    for t, item in [(0, "a"), (100, "b")]:
        ev.recommendation("u", [("a", "s")], t)
        ev.interaction("u", item, t + 1)
    series = ev.hr_over_time(buckets=2)["engine"]
    assert [hr for _, hr in series] == [1.0, 0.0]
