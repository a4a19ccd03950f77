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
