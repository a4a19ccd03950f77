from __future__ import annotations

import math
import pickle

import pytest

from socialpulse.models import social, user_state
from socialpulse.models.candidates import Candidate, generate
from socialpulse.models.config import ModelConfig
from socialpulse.models.interactions import Interaction, ItemInfo
from socialpulse.models.learn import learn_one
from socialpulse.models.ranking import SCORERS, Context, PopularityScorer, rank

CAT = {
    "A": ItemInfo("A", "shoes", ("Fashion", "shoes"), ("run", "blue"), 100, True, None, "Runner"),
    "B": ItemInfo("B", "shoes", ("Fashion", "shoes"), ("run",), 100, True, None, "Trail shoe"),
    "C": ItemInfo("C", "shoes", ("Fashion", "shoes"), ("blue",), 100, True, None, "Canvas"),
    "D": ItemInfo("D", "hats", ("Fashion", "hats"), (), 100, True, None, "Cap"),
    "E": ItemInfo("E", "hats", ("Fashion", "hats"), (), 100, False, None, "Beanie"),
    "F": ItemInfo("F", "hats", ("Fashion", "hats"), (), 100, True, "seller", "Fedora"),
}


def it(user, item, kind, ts, offset, source="clicks", **kw) -> Interaction:
    return Interaction(user, item, kind, ts, source, offset, category=CAT[item].category if item in CAT else "",
                       **kw)


def test_new_user_gets_trending_items():
    cfg = ModelConfig()
    store: dict = {}
    for n, item in enumerate(["A", "A", "B"]):
        learn_one(store, it(f"u{n}", item, "view", n, n + 1), cfg)
    found = generate(store, CAT, "newcomer", 10, cfg)
    assert [(c.item_id, c.source, c.explanation) for c in found[:2]] == [
        ("A", "trending", "trending now"), ("B", "trending", "trending now")]


def test_empty_partition_falls_back_to_in_stock_catalogue():
    found = generate({}, CAT, "newcomer", 0, ModelConfig())
    assert {c.source for c in found} == {"popular"} and "E" not in {c.item_id for c in found}


def test_item_cf_explains_with_the_anchor_title():
    cfg = ModelConfig()
    store: dict = {}
    learn_one(store, it("v", "A", "view", 0, 1), cfg)
    learn_one(store, it("v", "B", "view", 1, 2), cfg)
    learn_one(store, it("u", "A", "view", 2, 3), cfg)
    found = [c for c in generate(store, CAT, "u", 3, cfg) if c.source == "item_cf"]
    assert [(c.item_id, c.source, c.score, c.explanation) for c in found] == [
        ("B", "item_cf", cfg.source_weights["item_cf"], "viewed together with Runner")]
    by_source = {c.source for c in generate(store, CAT, "u", 3, cfg) if c.item_id == "B"}
    assert by_source >= {"item_cf", "user_cf", "content", "trending"}


def test_social_feed_candidates_and_follow_graph():
    cfg = ModelConfig()
    store: dict = {}
    assert user_state.apply_follow(store, "u", "f1", True, 0, "social", 1, cfg)
    assert social.apply_follow(store, "u", "f2", True, 1, "social", 2, cfg)
    assert not social.apply_follow(store, "u", "f2", True, 1, "social", 2, cfg)  # replay
    assert user_state.add_social_signal(store, "u", "D", "f1", "bought", 5, "social-signals", 1, cfg)
    assert user_state.add_social_signal(store, "u", "D", "f2", "bought", 6, "social-signals", 2, cfg)
    assert user_state.add_social_signal(store, "u", "C", "f2", "shared", 7, "social-signals", 3, cfg)
    assert not user_state.add_social_signal(store, "u", "C", "stranger", "shared", 8, "social-signals", 4, cfg)
    found = {c.item_id: c for c in generate(store, CAT, "u", 10, cfg) if c.source == "social"}
    assert found["D"].explanation == "2 people you follow bought this"
    assert found["D"].score == pytest.approx(cfg.source_weights["social"])  # the best of its source
    assert found["C"].explanation == "1 person you follow shared this"
    social.apply_follow(store, "u", "f2", False, 9, "social", 3, cfg)
    assert user_state.follows(store, "u") == ["f1"] and "C" not in store["u:u"]["s"]
    assert social.apply_follower(store, "f1", "u", True, 0, "social-edges", 1, cfg)
    assert social.followers(store, "f1") == ["u"]


def test_influence_is_smoothed_and_replay_safe():
    store: dict = {}
    assert social.influence(store, "s") == 0.5
    social.record_share(store, "s", 0, "social", 1)
    social.record_share_click(store, "s", 1, "social-signals", 1)
    social.record_share_click(store, "s", 1, "social-signals", 1)  # replay
    social.record_share_purchase(store, "s", 2, "social-signals", 2)
    assert social.influence(store, "s") == (1 + 3 + 1) / (1 + 2)


def test_referrer_within_attribution_window():
    cfg = ModelConfig(attribution_window_ms=100)
    store: dict = {}
    learn_one(store, it("u", "A", "view", 0, 1, shared_by="s"), cfg)
    assert user_state.referrer(store, "u", "A", 50, cfg) == "s"
    assert user_state.referrer(store, "u", "A", 500, cfg) is None


def test_rank_merges_filters_diversifies_and_breaks_ties_by_id():
    cfg = ModelConfig(k=4, max_per_category=2)
    cands = [
        Candidate("A", "trending", 0.4, "trending in shoes"),
        Candidate("A", "item_cf", 1.0, "viewed together with Cap"),
        Candidate("C", "content", 0.5, "similar"),
        Candidate("B", "content", 0.5, "similar"),
        Candidate("D", "trending", 0.3, "t"),
        Candidate("E", "item_cf", 2.0, "out of stock"),
        Candidate("F", "item_cf", 2.0, "own item"),
        Candidate("P", "item_cf", 2.0, "purchased"),
        Candidate("Z", "user_cf", 0.1, "not in catalogue"),
        Candidate("Y", "user_cf", 0.1, "not in catalogue"),
    ]
    ctx = Context(catalogue=CAT, purchased=frozenset({"P"}))
    ranked = rank("seller", cands, ctx, [], cfg)
    assert [(r.item_id, r.source) for r in ranked] == [("A", "item_cf"), ("B", "content"), ("D", "trending"),
                                                       ("Y", "user_cf")]
    assert ranked[0].score == pytest.approx(1.4) and ranked[0].sources == ("item_cf", "trending")
    assert ranked[0].explanation == "viewed together with Cap"


def test_rank_blends_scorers_and_routes_scorer_errors():
    cfg = ModelConfig()
    scorer = PopularityScorer(prior=1.0)
    scorer.learn_one("x", "B", 3.0)
    cands = [Candidate("A", "trending", 0.5, "t"), Candidate("B", "trending", 0.5, "t")]
    ranked = rank("u", cands, Context(catalogue={}, scorer_weights={"popularity": 1.0}), [scorer], cfg)
    assert [(r.item_id, r.score) for r in ranked] == [("B", 0.5 + 0.75), ("A", 0.5)]

    class Broken(PopularityScorer):
        name = "broken"

        def score_many(self, user_ids, item_ids):
            raise RuntimeError("boom")

    errors: list = []
    ctx = Context(catalogue={}, on_scorer_error=lambda name, exc: errors.append(name))
    assert [r.item_id for r in rank("u", cands, ctx, [Broken()], cfg)] == ["A", "B"]
    assert errors == ["broken"]
    with pytest.raises(RuntimeError):
        rank("u", cands, Context(catalogue={}), [Broken()], cfg)


def test_generate_and_rank_are_deterministic():
    cfg = ModelConfig()
    stores = []
    for _ in range(2):
        store: dict = {}
        for n, (u, i) in enumerate([("a", "A"), ("a", "B"), ("b", "B"), ("b", "C"), ("c", "A"), ("c", "D")]):
            learn_one(store, it(u, i, "view", n, n + 1), cfg)
        stores.append(store)
    out = [rank("a", generate(s, CAT, "a", 10, cfg), Context.of(s, CAT, "a"), [], cfg) for s in stores]
    assert out[0] == out[1] and out[0]


# Scorer contract: every registered scorer gets these checks.

USERS = ["u1", "u2", "u3"]
ITEMS = [["A", "B", "C"], ["B"], ["C", "A"]]


def _trained(name: str):
    scorer = SCORERS[name]()
    for n in range(30):
        scorer.learn_one(USERS[n % 3], "ABCD"[n % 4], 1.0 + n % 3)
    return scorer


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_scorer_prediction_is_pure(name):
    scorer = _trained(name)
    before = pickle.dumps(scorer)
    scorer.score_many([*USERS, "nobody"], [*ITEMS, ["never-seen"]])
    scorer.score_one("nobody", "never-seen")
    assert pickle.dumps(scorer) == before


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_scorer_handles_unseen_and_shapes(name):
    scorer = _trained(name)
    out = scorer.score_many(["nobody", "u1"], [["never-seen", "A"], []])
    assert [len(r) for r in out] == [2, 0]
    assert all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in out[0])
    assert scorer.score_one("u1", "A") == scorer.score_many(["u1"], [["A"]])[0][0]
    assert SCORERS[name]().score_one("u", "i") == pytest.approx(SCORERS[name]().score_one("u", "i"))


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_scorer_pickle_round_trip_and_determinism(name):
    scorer = _trained(name)
    clone = pickle.loads(pickle.dumps(scorer))
    assert clone.score_many(USERS, ITEMS) == scorer.score_many(USERS, ITEMS)
    assert _trained(name).score_many(USERS, ITEMS) == scorer.score_many(USERS, ITEMS)
    assert isinstance(scorer.name, str) and isinstance(scorer.version, str)


def test_taste_prefers_the_users_categories_and_explains():
    cfg = ModelConfig()
    store: dict = {}
    for n, (user, item) in enumerate([("v", "B"), ("v", "D"), ("w", "D"), ("u", "A"), ("u", "C")]):
        learn_one(store, it(user, item, "view", 0, n + 1), cfg)
    taste = [c for c in generate(store, CAT, "u", 0, cfg) if c.source == "taste"]
    # D is the more popular item, but u has only viewed shoes: B (shoes) first,
    # (2 + 1) * 1 / (3 + 5) against (0 + 1) * 2 / (2 + 5) with taste_alpha 1 and taste_beta 5.
    assert [(c.item_id, c.explanation) for c in taste] == [
        ("B", "popular in shoes, which you like"), ("D", "popular in hats")]
    assert taste[0].score == pytest.approx(cfg.source_weights["taste"])


def test_items_older_than_the_history_are_still_never_offered():
    cfg = ModelConfig(history_len=2)
    store: dict = {}
    learn_one(store, it("v", "A", "view", 0, 1), cfg)
    learn_one(store, it("v", "B", "view", 1, 2), cfg)
    for n, item in enumerate(["A", "C", "D"]):  # A leaves u's two-entry history
        learn_one(store, it("u", item, "view", 2 + n, 3 + n), cfg)
    assert [e[0] for e in store["u:u"]["h"]] == ["C", "D"]
    assert "A" not in {c.item_id for c in generate(store, CAT, "u", 10, cfg)}
    assert "B" in {c.item_id for c in generate(store, CAT, "u", 10, cfg)}


def test_rank_explains_only_the_items_it_keeps():
    cfg = ModelConfig(k=2, max_per_category=10)
    asked: list[str] = []

    def explain(item: str) -> str:
        asked.append(item)
        return f"because of {item}"

    cands = [Candidate(i, "item_cf", s, explain) for i, s in (("A", 0.9), ("B", 0.8), ("C", 0.7), ("D", 0.6))]
    ranked = rank("u", cands, Context(catalogue=CAT), [], cfg)
    assert [(r.item_id, r.explanation) for r in ranked] == [("A", "because of A"), ("B", "because of B")]
    assert asked == ["A", "B"]
    assert Candidate("A", "trending", 0.1, "trending now").explanation == "trending now"
