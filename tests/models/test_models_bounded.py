from __future__ import annotations

import random

from socialpulse.models.config import ModelConfig
from socialpulse.models.interactions import Interaction
from socialpulse.models.learn import learn_one, sweep


def test_memory_is_bounded_by_caps_not_traffic():
    cfg = ModelConfig(history_len=8, cooc_window=3, neighbours_per_item=5, max_items_tracked=500,
                      max_users_tracked=1000, trending_k=10, users_per_item=5, max_purchased=5, max_referrals=3,
                      user_ttl_ms=10**9, half_life_ms=60_000, trending_half_life_ms=30_000)
    rng = random.Random(42)
    kinds = ["view"] * 6 + ["add_to_cart", "wishlist", "purchase", "remove_from_cart"]
    categories = 10
    sweep_every = 10_000
    per_item_keys = 4  # n:, p:, c:, iu:
    cap = cfg.max_users_tracked + per_item_keys * cfg.max_items_tracked + 1 + categories
    store: dict = {}
    for n in range(200_000):
        item = rng.randrange(5000)
        learn_one(store, Interaction(f"u{rng.randrange(20_000)}", f"i{item}", rng.choice(kinds), n * 10, "clicks", n,
                                     category=f"c{item % categories}", shared_by=f"u{rng.randrange(20_000)}"), cfg)
        if n % sweep_every == sweep_every - 1:
            sweep(store, n * 10, cfg)
            assert len(store) <= cap
            assert sum(k.startswith("u:") for k in store) <= cfg.max_users_tracked
    for k, v in store.items():
        if k.startswith("u:"):
            assert len(v["h"]) <= cfg.history_len and len(v["p"]) <= cfg.max_purchased
            assert len(v["r"]) <= 2 * cfg.max_referrals
        elif k.startswith("c:"):
            assert len(v["nb"]) <= 2 * cfg.neighbours_per_item
        elif k.startswith("t:"):
            assert len(v["e"]) <= 2 * cfg.trending_k
        elif k.startswith("iu:"):
            assert len(v["u"]) <= 2 * cfg.users_per_item
        assert len(v["a"]) <= 1


def test_a_users_other_keys_go_with_the_user():
    """Recent recommendations go with the profile; followers and influence, written by other users'
    events, go once their own last update is older than the TTL when their user has no profile."""
    cfg = ModelConfig(user_ttl_ms=1_000, max_users_tracked=100)
    store: dict = {}
    learn_one(store, Interaction("alice", "i1", "view", 4_900, "clicks", 1), cfg)  # a live profile
    store |= {
        "rr:alice": [["rec:e1", [["i2", "item_cf"]], 4_900]],
        "rr:bob": [["rec:e0", [["i2", "item_cf"]], 4_950]],  # no profile (expired): goes, however recent
        "fo:alice": {"f": {"x": 10}, "a": {}},  # old edges, but alice is live
        "fo:carol": {"f": {"x": 10, "y": 4_500}, "a": {}},  # only followed, recently
        "fo:dave": {"f": {"x": 10}, "a": {}},
        "inf:erin": {"shares": 1, "clicks": 0, "purchases": 0, "ts": 10, "a": {}},
        "inf:frank": {"shares": 1, "clicks": 2, "purchases": 0, "ts": 4_800, "a": {}},
        "inf:gus": {"shares": 1, "clicks": 0, "purchases": 0, "a": {}},  # stored before "ts" was kept
    }
    stats = sweep(store, 5_000, cfg)
    assert stats.user_keys_removed == 4 and stats.forgotten == ("bob",)
    assert {k for k in store if k.split(":")[0] in ("rr", "fo", "inf")} == {
        "rr:alice", "fo:alice", "fo:carol", "inf:frank"}


def test_a_users_other_keys_are_capped():
    cfg = ModelConfig(user_ttl_ms=10**9, max_users_tracked=2)
    store = {f"fo:u{n}": {"f": {"x": 100 + n}, "a": {}} for n in range(4)}
    assert sweep(store, 1_000, cfg).user_keys_removed == 2
    assert sorted(store) == ["fo:u2", "fo:u3"]  # the least recently updated went
