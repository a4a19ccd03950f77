"""Live quality: exact scores of one list against the next interaction, the window, and drift."""

from __future__ import annotations

import math
import random

import pytest

from socialpulse.models.live_quality import LiveQuality, score_against_next
from socialpulse.models.marketing import COUNTERS, pooled_uplift
from socialpulse.models.online_mf import OnlineMFScorer

LIST = [["a", "item_cf"], ["b", "trending"], ["c", "item_cf"], ["d", "social"]]


def test_scores_the_whole_list_and_each_source_in_list_order() -> None:
    scores = {m: (h, n) for m, h, n in score_against_next(LIST, "c", 10)}
    assert scores == {
        "engine": (1.0, pytest.approx(1 / math.log2(4))),  # rank 3
        "engine_item_cf": (1.0, pytest.approx(1 / math.log2(3))),  # rank 2 among item_cf's items
        "engine_trending": (0.0, 0.0),
        "engine_social": (0.0, 0.0),
    }


def test_items_past_k_do_not_count_and_no_list_scores_nothing() -> None:
    assert score_against_next(LIST, "d", 3)[0] == ("engine", 0.0, 0.0)
    assert score_against_next(None, "a", 10) == [] and score_against_next([], "a", 10) == []


def test_window_keeps_the_latest_scores() -> None:
    lq = LiveQuality(window=3)
    for hit in (1.0, 1.0, 0.0, 0.0, 0.0):
        lq.observe("engine", hit, hit / 2)
    assert lq.rates("engine") == (0.0, 0.0)
    lq.observe("engine", 1.0, 0.5)
    assert lq.rates("engine") == pytest.approx((1 / 3, 1 / 6))
    assert lq.rates("never") == (0.0, 0.0) and lq.models() == ["engine"]


def test_drift_is_reported_when_the_hit_rate_collapses_and_not_while_it_holds() -> None:
    rng = random.Random(5)
    lq = LiveQuality()
    steady = [lq.observe("engine", float(rng.random() < 0.4), 0.0) for _ in range(3000)]
    assert not any(steady)
    collapsed = [lq.observe("engine", float(rng.random() < 0.05), 0.0) for _ in range(1000)]
    first = collapsed.index(True)  # raises if never detected
    assert first < 300


def test_pooled_uplift_adds_partitions_up() -> None:
    one = {COUNTERS + "price_drop": {"t": 10, "tc": 3, "h": 2, "hc": 0}}
    two = {COUNTERS + "price_drop": {"t": 10, "tc": 1, "h": 2, "hc": 1}}
    assert pooled_uplift([one], "price_drop") is None  # no held-out conversion yet: no ratio
    assert pooled_uplift([one, two, {}], "price_drop") == pytest.approx((4 / 20) / (1 / 4))
    assert pooled_uplift([one, two], "churn_risk") is None


def test_online_mf_learns_which_items_a_group_of_users_picks() -> None:
    rng = random.Random(1)
    scorer = OnlineMFScorer(min_examples=100)
    assert not scorer.ready
    for _ in range(20_000):
        user = rng.randrange(200)
        scorer.learn_one(f"u{user}", f"i{(user % 5) * 20 + rng.randrange(20)}")
    assert scorer.ready
    scores = scorer.score_many(["u3"], [[f"i{n}" for n in range(100)]])[0]
    own = sum(scores[60:80]) / 20  # u3 is in group 3: items 60..79
    other = sum(scores[:60] + scores[80:]) / 80
    assert own > other + 0.3
    # Unknown users and items get the global mean, and scoring does not add them to the model.
    mean = min(1.0, max(0.0, scorer._model.global_mean.get()))
    assert scorer.score_many(["stranger"], [["unknown"]]) == [[pytest.approx(mean)]]
    assert "stranger" not in scorer._model.u_biases and "unknown" not in scorer._model.i_latents
