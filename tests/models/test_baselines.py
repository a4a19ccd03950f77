"""Baselines on hand-made streams: exact rankings, decay, co-occurrence cosine, pure predictions."""

from __future__ import annotations

import math
import pickle

import pytest

from socialpulse.models.baselines import BASELINES, DecayedPopularity, ItemKNN, Popularity


def test_popularity_ranks_by_count_ties_by_id() -> None:
    p = Popularity()
    for item in ["c", "a", "b", "a", "b", "d"]:
        p.learn_one("u", item, 0)
    assert p.recommend("x", 3, 0) == ["a", "b", "c"]
    assert p.recommend("x", 2, 0, exclude={"a"}) == ["b", "c"]


def test_popularity_top_set_stays_exact_with_small_capacity() -> None:
    p = Popularity(keep=2)
    stream = ["a", "a", "b", "c", "c", "c", "d", "d", "d", "d", "b", "b", "b", "b"]
    for item in stream:
        p.learn_one("u", item, 0)
    assert p.recommend("x", 2, 0) == ["b", "d"]  # b=5, d=4, c=3, a=2
    assert p.recommend("x", 2, 0, exclude={"b", "d"}) == ["c", "a"]  # falls back to a full scan


def test_decayed_popularity_prefers_recent() -> None:
    p = DecayedPopularity(half_life_ms=1000)
    for _ in range(3):
        p.learn_one("u", "old", 0)
    p.learn_one("u", "new", 2000)  # weight 4 vs 3 at t=0: new wins
    assert p.recommend("x", 2, 2000) == ["new", "old"]
    p2 = DecayedPopularity(half_life_ms=1000)
    for _ in range(5):
        p2.learn_one("u", "old", 0)
    p2.learn_one("u", "new", 2000)  # weight 4 vs 5
    assert p2.recommend("x", 2, 2000) == ["old", "new"]


def test_decayed_popularity_survives_huge_time_spans() -> None:
    p = DecayedPopularity(half_life_ms=1)
    p.learn_one("u", "a", 0)
    p.learn_one("u", "b", 10_000)
    p.learn_one("u", "b", 20_000)
    assert p.recommend("x", 2, 20_000)[0] == "b"


def test_item_knn_cosine() -> None:
    knn = ItemKNN(window=10)
    for user, items in {"u1": "ab", "u2": "ab", "u3": "ac"}.items():
        for item in items:
            knn.learn_one(user, item, 0)
    # n(a)=3, n(b)=2, n(c)=1; co(a,b)=2, co(a,c)=1
    assert knn.similarity("a", "b") == pytest.approx(2 / math.sqrt(6))
    assert knn.similarity("a", "c") == pytest.approx(1 / math.sqrt(3))
    assert knn.similarity("b", "c") == 0.0
    knn.learn_one("u4", "c", 0)
    assert knn.recommend("u4", 2, 0, exclude={"c"}) == ["a", "b"]  # a from c's neighbours, b from popularity


def test_item_knn_window_limits_cooccurrence() -> None:
    knn = ItemKNN(window=2)
    for item in "abc":
        knn.learn_one("u", item, 0)
    assert knn.similarity("a", "b") > 0 and knn.similarity("b", "c") > 0
    assert knn.similarity("a", "c") == 0.0


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_recommend_is_pure_and_pickles(name: str) -> None:
    model = BASELINES[name]()
    for t, (user, item) in enumerate([("u", "a"), ("u", "b"), ("v", "a"), ("v", "c"), ("w", "b")]):
        model.learn_one(user, item, t * 1000)
    before = pickle.dumps(model)
    first = model.recommend("u", 3, 5000)
    model.recommend("stranger", 3, 5000)
    assert pickle.dumps(model) == before
    clone = pickle.loads(before)
    assert clone.recommend("u", 3, 5000) == first
    assert len(first) == 3 and len(set(first)) == 3
