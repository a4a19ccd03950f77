from __future__ import annotations

import copy
import math
import random

import pytest

from socialpulse.models import cooccurrence, trending, user_cf, user_state
from socialpulse.models._state import add_decayed, decay
from socialpulse.models.config import ModelConfig
from socialpulse.models.interactions import Interaction, position
from socialpulse.models.learn import learn_one

HL = 1000  # half-life in ms, so decay factors are powers of two


def it(user, item, kind, ts, offset, source="clicks", **kw) -> Interaction:
    return Interaction(user, item, kind, ts, source, offset, **kw)


def test_decay_halves_every_half_life_and_late_events_decay_to_last_ts():
    assert decay(8.0, 0, 3000, HL) == 1.0
    assert decay(8.0, 5000, 3000, HL) == 8.0  # never grows backwards
    assert add_decayed([4.0, 1000], 1.0, 2000, HL) == [3.0, 2000]
    assert add_decayed([4.0, 2000], 2.0, 1000, HL) == [5.0, 2000]  # late: delta decayed to last_ts


def test_config_weights_and_validation():
    cfg = ModelConfig()
    assert [cfg.weight("review", s) for s in range(1, 6)] == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert cfg.weight("purchase") == 5.0 and cfg.weight("unknown") == 0.0 and cfg.weight("review") == 0.0
    with pytest.raises(ValueError):
        ModelConfig(history_len=0)


def test_cosine_similarity_hand_computed():
    cfg = ModelConfig(half_life_ms=HL)
    store: dict = {}
    learn_one(store, it("u", "A", "view", 0, 1), cfg)
    learn_one(store, it("u", "B", "view", 1000, 2), cfg)
    learn_one(store, it("u", "A", "purchase", 2000, 1, source="purchases"), cfg)
    # n_A = 1 at t=0 decayed to 0.25 at t=2000, + (5 - 1); n_B = 1 at t=1000; co(A,B) = min(1,1) at t=1000.
    assert store["n:A"]["m"] == [4.25, 2000]
    assert cooccurrence.mass(store, "B", 2000, cfg) == 0.5
    assert cooccurrence.neighbours(store, "A", 2000, cfg) == [("B", 0.5)]
    # Buying A after viewing B adds min(5, 1) - min(1, 1) = 0 to co(A, B).
    [(j, sim)] = cooccurrence.similar_items(store, "A", 2000, cfg)
    assert j == "B" and sim == pytest.approx(0.5 / math.sqrt(4.25 * 0.5))
    assert cooccurrence.similar_items(store, "B", 2000, cfg)[0][1] == pytest.approx(sim)


def test_repeated_views_do_not_inflate_cosine():
    cfg = ModelConfig(half_life_ms=10**12)
    store: dict = {}
    learn_one(store, it("u", "B", "view", 0, 0), cfg)
    for n in range(1, 50):
        learn_one(store, it("u", "A", "view", n, n), cfg)
    [(_, sim)] = cooccurrence.similar_items(store, "A", 50, cfg)
    assert sim == pytest.approx(1.0)


def test_window_pairs_only_last_distinct_items():
    cfg = ModelConfig(cooc_window=2, half_life_ms=10**12)
    store: dict = {}
    for n, item in enumerate(["A", "B", "C", "C", "D"]):
        learn_one(store, it("u", item, "view", n, n), cfg)
    assert sorted(store["c:D"]["nb"]) == ["B", "C"]  # A is 3rd distinct back; repeated C counts once


def test_row_eviction_at_cap_keeps_heaviest_with_id_tiebreak():
    cfg = ModelConfig(neighbours_per_item=2, cooc_window=50, half_life_ms=10**12)
    store: dict = {}
    items = ["E", "D", "C", "B", "A"]
    for n, item in enumerate(items):  # each user pairs X with one item; A twice (two users)
        learn_one(store, it(f"u{n}", item, "view", 2 * n, 2 * n), cfg)
        learn_one(store, it(f"u{n}", "X", "view", 2 * n + 1, 2 * n + 1), cfg)
    learn_one(store, it("w", "A", "view", 20, 20), cfg)
    learn_one(store, it("w", "X", "view", 21, 21), cfg)
    nb = store["c:X"]["nb"]
    assert len(nb) <= 2 * cfg.neighbours_per_item
    # Pruned at the 5th neighbour to the 2 heaviest: the newest (least decayed) B and A; A then doubles.
    assert cooccurrence.neighbours(store, "X", 30, cfg) == [("A", pytest.approx(2.0)), ("B", pytest.approx(1.0))]
    for n, item in enumerate(["F", "G", "H"]):
        learn_one(store, it("z", item, "view", 30 + n, 30 + n), cfg)
    learn_one(store, it("z", "X", "view", 40, 40), cfg)
    # 5 > 2 * cap: prune to A and, of the equal F, G, H (B is older, so lighter), F by id.
    assert sorted(store["c:X"]["nb"]) == ["A", "F"]


def test_replay_of_applied_offset_is_a_noop():
    cfg = ModelConfig()
    store: dict = {}
    assert learn_one(store, it("u", "A", "view", 0, 5), cfg) > 0
    snapshot = copy.deepcopy(store)
    assert learn_one(store, it("u", "A", "view", 0, 5), cfg) == 0
    assert user_state.apply_interaction(store, it("u", "B", "view", 0, 4), cfg) is False  # older offset
    assert store == snapshot


def _events(n: int, seed: int) -> list[Interaction]:
    rng = random.Random(seed)
    out = []
    offsets = {"clicks": 0, "purchases": 0, "reviews": 0}
    for t in range(n):
        user, ts = f"u{rng.randrange(8)}", 1000 * t
        source = rng.choice(["clicks"] * 6 + ["purchases", "reviews"])
        offsets[source] += 1
        if source == "clicks":
            out.append(it(user, f"i{rng.randrange(12)}", rng.choice(["view", "add_to_cart", "wishlist",
                                                                      "remove_from_cart"]), ts, offsets[source],
                          category=f"c{rng.randrange(3)}"))
        elif source == "purchases":  # an order of two lines shares its offset
            for line in range(2):
                out.append(it(user, f"i{rng.randrange(12)}", "purchase", ts, offsets[source], source=source,
                              line=line, category="c0"))
        else:
            out.append(it(user, f"i{rng.randrange(12)}", "review", ts, offsets[source], source=source,
                          stars=rng.randint(1, 5)))
    return out


def test_reapplying_a_suffix_leaves_the_store_identical():
    cfg = ModelConfig(half_life_ms=5000, trending_half_life_ms=3000, cooc_window=3, neighbours_per_item=3)
    events = _events(300, 1)
    once: dict = {}
    for e in events:
        learn_one(once, e, cfg)
    twice = copy.deepcopy(once)
    for e in events[200:]:
        assert learn_one(twice, e, cfg) == 0
    assert twice == once


def test_crash_between_keys_then_replay_completes_exactly():
    cfg = ModelConfig(half_life_ms=5000, trending_half_life_ms=3000, cooc_window=3)
    events = _events(300, 2)
    reference: dict = {}
    for e in events:
        learn_one(reference, e, cfg)
    crashed: dict = {}
    for e in events[:150]:
        learn_one(crashed, e, cfg)
    for e in events[150:160]:  # the profile was written, the rest was lost in the crash
        user_state.apply_interaction(crashed, e, cfg)
    for e in events[150:]:  # replay from the last committed offset
        learn_one(crashed, e, cfg)
    assert crashed == reference


def test_purchase_lines_share_an_offset_but_all_apply():
    cfg = ModelConfig()
    store: dict = {}
    for line, item in enumerate(["A", "B"]):
        learn_one(store, it("u", item, "purchase", 0, 7, source="purchases", line=line), cfg)
    assert store["u:u"]["p"] == ["A", "B"]
    assert store["u:u"]["a"]["purchases"] == position(7, 1)
    assert "A" in store["c:B"]["nb"]


def test_history_is_bounded_sorted_and_items_scored():
    cfg = ModelConfig(history_len=3)
    store: dict = {}
    learn_one(store, it("u", "A", "purchase", 10, 1, source="purchases"), cfg)
    learn_one(store, it("u", "A", "review", 11, 1, source="reviews", stars=1), cfg)
    learn_one(store, it("u", "B", "view", 5, 2), cfg)  # late event is inserted in order
    learn_one(store, it("u", "C", "view", 12, 3), cfg)
    hist = store["u:u"]["h"]
    assert [e[0] for e in hist] == ["A", "A", "C"] and len(hist) == 3
    assert user_state.item_scores(hist) == {"A": -4.0, "C": 1.0}  # the review overrides the purchase


def test_trending_ties_break_by_item_id_and_lists_are_bounded():
    cfg = ModelConfig(trending_k=3, trending_half_life_ms=HL)
    store: dict = {}
    for n, item in enumerate(["b", "a", "c", "d"]):
        learn_one(store, it("u", item, "view", 0, n + 1, category="shoes"), cfg)
    assert trending.trending(store, None, 0, 10, cfg) == [("a", 1.0), ("b", 1.0), ("c", 1.0)]
    learn_one(store, it("v", "d", "purchase", 1000, 1, source="purchases", category="shoes"), cfg)
    assert trending.trending(store, "shoes", 1000, 2, cfg) == [("d", 1.5), ("a", 0.5)]  # one interaction each
    for n in range(20):
        learn_one(store, it("w", f"x{n}", "view", 2000 + n, 100 + n, category="shoes"), cfg)
    assert len(store["t:global"]["e"]) <= 2 * cfg.trending_k
    assert len(store["t:cat:shoes"]["e"]) <= 2 * cfg.trending_k


def test_category_total_counts_every_item_even_those_pruned_from_the_list():
    cfg = ModelConfig(trending_k=3, trending_half_life_ms=HL)
    store: dict = {}
    for n in range(10):
        learn_one(store, it("u", f"x{n}", "view", 0, n + 1, category="shoes"), cfg)
    learn_one(store, it("u", "x0", "view", 0, 5, category="shoes"), cfg)  # a replay: counted once
    assert len(store["t:cat:shoes"]["e"]) <= 2 * cfg.trending_k < 10
    assert trending.total(store, "shoes", 0, cfg) == 10.0
    assert trending.total(store, None, HL, cfg) == pytest.approx(5.0)  # global, one half-life later
    assert trending.total(store, "hats", 0, cfg) is None


def test_trending_weighs_interactions_unless_by_count():
    cfg = ModelConfig(trending_half_life_ms=HL, trending_by_count=False)
    store: dict = {}
    learn_one(store, it("u", "a", "view", 0, 1, category="shoes"), cfg)
    learn_one(store, it("v", "a", "purchase", 1000, 1, source="purchases", category="shoes"), cfg)
    assert trending.trending(store, "shoes", 1000, 1, cfg) == [("a", 5.5)]


def test_user_cf_cosine_and_candidates_hand_computed():
    cfg = ModelConfig()
    store: dict = {}
    learn_one(store, it("u", "A", "view", 0, 1), cfg)
    learn_one(store, it("u", "B", "add_to_cart", 1, 2), cfg)
    learn_one(store, it("v", "A", "view", 2, 3), cfg)
    learn_one(store, it("v", "C", "view", 3, 4), cfg)
    learn_one(store, it("w", "D", "view", 4, 5), cfg)  # shares nothing with u
    # u = {A: 1, B: 3}, v = {A: 1, C: 1}: cos = 1 / (sqrt(10) * sqrt(2)).
    sims = user_cf.similar_users(store, "u", 10, cfg)
    assert sims == [("v", pytest.approx(1 / math.sqrt(20)))]
    assert user_cf.candidates(store, "u", 10, cfg) == [("C", pytest.approx(1 / math.sqrt(20)))]


def test_user_index_is_bounded_to_recent_users():
    cfg = ModelConfig(users_per_item=2)
    store: dict = {}
    for n in range(9):
        learn_one(store, it(f"u{n}", "A", "view", n, n + 1), cfg)
    assert len(store["iu:A"]["u"]) <= 4 and "u8" in store["iu:A"]["u"]


def test_expire_users_by_ttl_then_cap():
    cfg = ModelConfig(user_ttl_ms=100, max_users_tracked=2)
    store: dict = {}
    for n, ts in enumerate([0, 500, 510, 520]):
        learn_one(store, it(f"u{n}", "A", "view", ts, n + 1), cfg)
    assert user_state.expire_users(store, 550, cfg) == ["u0", "u1"]
    assert sorted(k for k in store if k.startswith("u:")) == ["u:u2", "u:u3"]
