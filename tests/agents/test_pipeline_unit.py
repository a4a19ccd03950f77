"""The engine's plain functions, without Kafka: replay safety, fallback, ids, fan-out."""

from __future__ import annotations

import math

import pytest

from socialpulse.agents import pipeline
from socialpulse.agents.app import model_config
from socialpulse.schemas import Click, Item, Purchase, PurchaseLine, Social
from socialpulse.streams.settings import Settings

T0 = 1_760_000_000_000
CFG = model_config(Settings(rec_debounce_ms=0))
CATALOGUE = {i.item_id: pipeline.item_info(i) for i in (
    Item("a", "A", ("c", "x"), 1, True, T0), Item("b", "B", ("c", "x"), 1, True, T0),
    Item("c", "C", ("c", "y"), 1, True, T0), Item("d", "D", ("c", "y"), 1, False, T0))}


def click(n: int, user: str, item: str) -> Click:
    return Click(f"e{n}", user, item, "s", "view", T0 + n)


def test_replayed_event_changes_nothing_and_emits_nothing() -> None:
    store: dict = {}
    first = pipeline.on_click(store, CATALOGUE, click(1, "u", "a"), 0, T0, CFG)
    assert [r.recommendation_id for r in first.recommendations] == ["rec:e1"]
    snapshot = {k: repr(v) for k, v in store.items()}
    again = pipeline.on_click(store, CATALOGUE, click(1, "u", "a"), 0, T0, CFG)
    assert again.recommendations == [] and again.fanout == []
    assert {k: repr(v) for k, v in store.items()} == snapshot


def test_replay_completes_marketing_keys_a_crash_did_not_persist() -> None:
    """A SIGKILL can persist a batch's statistics keys but not its marketing keys (each key is its own
    changelog record); replaying the event must then complete marketing, not skip the whole event."""
    cart = Click("e1", "u", "a", "s", "add_to_cart", T0 + 1)
    whole: dict = {}
    pipeline.on_click(whole, CATALOGUE, cart, 0, T0, CFG)
    partial = {k: v for k, v in whole.items() if not k.startswith("mk:")}  # the crash lost these records
    again = pipeline.on_click(partial, CATALOGUE, cart, 0, T0, CFG)
    assert again.recommendations == []  # sent before the crash; its statistics were persisted
    assert {k: repr(v) for k, v in partial.items()} == {k: repr(v) for k, v in whole.items()}


def test_lists_turned_off_still_learn() -> None:
    """SOCIALPULSE_REC_ENABLED=false (the bench's no-lists run): the same state, no list."""
    on: dict = {}
    off: dict = {}
    pipeline.on_click(on, CATALOGUE, click(1, "u", "a"), 0, T0, CFG)
    out = pipeline.on_click(off, CATALOGUE, click(1, "u", "a"), 0, T0,
                            model_config(Settings(rec_debounce_ms=0, rec_enabled=False)))
    assert out.recommendations == []

    def without_lists(store: dict) -> dict:  # what only a list writes: the recent lists, the time of the last
        return {k: repr({**v, "rec": None} if k == "u:u" else v) for k, v in store.items()
                if not k.startswith(pipeline.RECENT_RECS)}

    assert on["u:u"]["rec"] is not None and off["u:u"]["rec"] is None
    assert without_lists(off) == without_lists(on)


def test_out_of_stock_never_recommended() -> None:
    store: dict = {}
    out = pipeline.on_click(store, CATALOGUE, click(1, "u", "a"), 0, T0, CFG)
    assert "d" not in [i.item_id for i in out.recommendations[0].items]


def test_model_failure_falls_back_and_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    store: dict = {}
    pipeline.on_click(store, CATALOGUE, click(1, "v", "b"), 0, T0, CFG)  # something is trending

    def broken(*args: object, **kwargs: object) -> list:
        raise RuntimeError("model exploded")

    monkeypatch.setattr(pipeline.model_candidates, "generate", broken)
    errors: list[tuple[str, str]] = []
    out = pipeline.on_click(store, CATALOGUE, click(2, "u", "c"), 1, T0, CFG,
                            on_error=lambda model, exc: errors.append((model, str(exc))))
    assert errors == [("candidates", "model exploded")]
    items = out.recommendations[0].items
    assert [(i.item_id, i.source) for i in items][:1] == [("b", "popular")]
    with pytest.raises(RuntimeError):  # without a reporter a failure is a bug and propagates
        pipeline.on_click(store, CATALOGUE, click(3, "u", "a"), 2, T0, CFG)


def test_purchase_fans_out_to_followers_once_per_line() -> None:
    store: dict = {}
    # bob's partition knows his follower carol (the reverse edge arrives through social-edges).
    pipeline.on_social_edge(store, "bob", {"follower": "carol", "follow": True, "ts": T0, "offset": 0}, 1, CFG)
    order = Purchase("o1", "bob", (PurchaseLine("a", 1, 5), PurchaseLine("c", 2, 5)), "USD", T0 + 5)
    out = pipeline.on_purchase(store, CATALOGUE, order, 7, T0, CFG)
    assert [(f.topic, f.key, f.value["item"], f.value["line"]) for f in out.fanout] == [
        ("social-signals", "carol", "a", 0), ("social-signals", "carol", "c", 1)]
    follow = pipeline.on_social(store, CATALOGUE, Social("f1", "follow", "dave", T0, target_user_id="bob"), 3,
                                T0, CFG)
    assert [(f.topic, f.key, f.value["follower"]) for f in follow.fanout] == [("social-edges", "bob", "dave")]


def test_a_follow_builds_a_list_only_for_a_user_without_one() -> None:
    """A follow changes no input of a list; it is only a cold start's first chance to send one."""
    store: dict = {}
    first = pipeline.on_social(store, CATALOGUE, Social("f1", "follow", "dave", T0, target_user_id="bob"), 0,
                               T0, CFG)
    assert [r.recommendation_id for r in first.recommendations] == ["rec:f1"]
    again = pipeline.on_social(store, CATALOGUE, Social("f2", "follow", "dave", T0 + 5, target_user_id="eve"), 1,
                               T0, CFG)
    assert again.recommendations == [] and [f.key for f in again.fanout] == ["eve"]  # learned, not listed
    assert pipeline.on_click(store, CATALOGUE, click(9, "dave", "a"), 0, T0, CFG).recommendations
    share = Social("s1", "share", "dave", T0 + 20, target_item_id="c")
    assert [r.recommendation_id for r in pipeline.on_social(store, CATALOGUE, share, 2, T0, CFG).recommendations] \
        == ["rec:s1"]


def test_fanout_duplicates_from_one_origin_are_ignored() -> None:
    store: dict = {}
    pipeline.on_social(store, CATALOGUE, Social("f1", "follow", "carol", T0, target_user_id="bob"), 0, T0, CFG)
    signal = {"kind": "bought", "item": "a", "from": "bob", "ts": T0 + 1, "offset": 9, "line": 0}
    pipeline.on_social_signal(store, "carol", signal, 1, CFG)
    snapshot = repr(store)
    pipeline.on_social_signal(store, "carol", signal, 1, CFG)  # resent after the origin's crash
    assert repr(store) == snapshot
    rec = pipeline.recommend(store, CATALOGUE, "carol", "x", T0 + 2, T0, CFG)
    assert rec is not None
    social = [i for i in rec.items if i.source == "social"]
    assert [i.item_id for i in social] == ["a"]


def test_purchase_signals_after_a_share_signal_are_kept() -> None:
    """A share's offset (social topic) may exceed a later purchase's (purchases topic): both reach the feed."""
    store: dict = {}
    pipeline.on_social(store, CATALOGUE, Social("f1", "follow", "carol", T0, target_user_id="bob"), 0, T0, CFG)
    shared = {"kind": "shared", "item": "a", "from": "bob", "ts": T0 + 1, "offset": 900, "line": 0}
    bought = {"kind": "bought", "item": "c", "from": "bob", "ts": T0 + 2, "offset": 5, "line": 0}
    pipeline.on_social_signal(store, "carol", shared, 1, CFG)
    pipeline.on_social_signal(store, "carol", bought, 1, CFG)
    assert sorted(store["u:carol"]["s"]) == ["a", "c"]


class RecordingScorer:
    """A scorer that remembers what it learned and scores items by how often it learned them."""

    name, version = "recording", "1"

    def __init__(self) -> None:
        self.learned: list[tuple[str, str, float]] = []

    def learn_one(self, user_id: str, item_id: str, weight: float = 1.0) -> None:
        self.learned.append((user_id, item_id, weight))

    def score_many(self, user_ids, item_ids):
        counts = [i for _, i, _ in self.learned]
        return [[min(1.0, counts.count(i) / 10) for i in items] for items in item_ids]

    def score_one(self, user_id: str, item_id: str) -> float:
        return self.score_many([user_id], [[item_id]])[0][0]


def test_each_interaction_scores_the_list_sent_before_it_then_teaches_scorers() -> None:
    store: dict = {}
    scorer = RecordingScorer()
    first = pipeline.on_click(store, CATALOGUE, click(1, "u", "a"), 0, T0, CFG, scorers=(scorer,))
    assert first.quality == []  # no list had been sent to u yet
    sent = [(i.item_id, i.source) for i in first.recommendations[0].items]
    target_rank = next(n for n, (item, _) in enumerate(sent) if item == "b")
    second = pipeline.on_click(store, CATALOGUE, click(2, "u", "b"), 1, T0, CFG, scorers=(scorer,))
    engine = dict((m, (h, n)) for m, h, n in second.quality)
    assert engine["engine"] == (1.0, pytest.approx(1 / math.log2(target_rank + 2)))
    source = sent[target_rank][1]
    assert engine[f"engine_{source}"][0] == 1.0
    assert all(h == 0.0 for m, (h, _) in engine.items() if m not in ("engine", f"engine_{source}"))
    assert scorer.learned == [("u", "a", 1.0), ("u", "b", 1.0)]
    # A replayed event is neither scored nor learned twice.
    again = pipeline.on_click(store, CATALOGUE, click(2, "u", "b"), 1, T0, CFG, scorers=(scorer,))
    assert again.quality == [] and len(scorer.learned) == 2


def test_purchase_lines_are_scored_and_learned_with_the_purchase_weight() -> None:
    store: dict = {}
    scorer = RecordingScorer()
    pipeline.on_click(store, CATALOGUE, click(1, "u", "a"), 0, T0, CFG, scorers=(scorer,))
    order = Purchase("o1", "u", (PurchaseLine("b", 1, 100), PurchaseLine("zz", 1, 100)), "EUR", T0 + 5)
    out = pipeline.on_purchase(store, CATALOGUE, order, 0, T0, CFG, scorers=(scorer,))
    assert [(m, h) for m, h, _ in out.quality if m == "engine"] == [("engine", 1.0), ("engine", 0.0)]
    assert scorer.learned[1:] == [("u", "b", 5.0), ("u", "zz", 5.0)]
