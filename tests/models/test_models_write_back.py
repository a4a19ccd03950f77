"""Updates copy what they change (a value read from the store is never changed in place), the profile's
cached item scores match a recomputation, and the per-request bounds hold."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from socialpulse.models import cooccurrence, social, user_state
from socialpulse.models.candidates import generate
from socialpulse.models.config import ModelConfig
from socialpulse.models.interactions import Interaction, ItemInfo
from socialpulse.models.learn import learn_one

KINDS = ["view", "view", "view", "wishlist", "add_to_cart", "remove_from_cart", "purchase", "share", "review"]


def _stream(n: int, seed: int, users: int = 6, items: int = 15) -> list[Interaction]:
    rng = random.Random(seed)
    out = []
    for t in range(n):
        kind = rng.choice(KINDS)
        ts = 1000 * t - (rng.randrange(3000) if rng.random() < 0.1 else 0)  # some late events
        out.append(Interaction(f"u{rng.randrange(users)}", f"i{rng.randrange(items)}", kind, ts, "clicks", t + 1,
                               stars=rng.randint(1, 5) if kind == "review" else None,
                               category=f"c{rng.randrange(3)}", shared_by=f"u{rng.randrange(users)}"))
    return out


def test_updates_never_change_a_value_read_before():
    cfg = ModelConfig(history_len=5, neighbours_per_item=2, trending_k=3, users_per_item=2, max_referrals=2,
                      max_follows=2, social_items=2, social_per_item=1)
    store: dict = {}
    events = _stream(200, 3)
    for e in events[:100]:
        learn_one(store, e, cfg)
    for n in range(6):
        social.apply_follow(store, f"u{n}", f"u{(n + 1) % 6}", True, n, "social", n + 1, cfg)
        social.apply_follower(store, f"u{(n + 1) % 6}", f"u{n}", True, n, "social-edges", n + 1, cfg)
    held = dict(store)  # the objects a cache or a caller may still hold
    snapshot = copy.deepcopy(held)
    for e in events[100:]:
        learn_one(store, e, cfg)
    for n in range(6):
        user = f"u{n}"
        followee = f"u{(n + 1) % 6}"
        social.add_social_signal(store, user, "i1", followee, "bought", 10**6, "social-signals", n + 1, cfg)
        social.apply_follow(store, user, f"u{(n + 2) % 6}", True, 10**6, "social", 100 + n, cfg)
        social.apply_follow(store, user, followee, False, 10**6, "social", 200 + n, cfg)
        social.apply_follower(store, followee, user, False, 10**6, "social-edges", 100 + n, cfg)
        social.record_share(store, user, 10**6, "social", 300 + n)
        social.record_share_click(store, user, 10**6, "social-signals", 300 + n)
        user_state.mark_recommended(store, user, 10**6)
    assert held == snapshot
    assert store != snapshot  # the updates did happen, on copies


def test_cached_item_scores_match_the_history():
    cfg = ModelConfig(history_len=7)
    store: dict = {}
    for e in _stream(400, 5):
        learn_one(store, e, cfg)
        prof = store[user_state.key(e.user_id)]
        assert user_state.profile_scores(prof) == user_state.item_scores(prof["h"])
    profiles = [v for k, v in store.items() if k.startswith("u:")]
    for prof in profiles:  # a profile written before the cache existed is scored from its history
        legacy = {f: v for f, v in prof.items() if f != user_state.SCORES}
        assert user_state.profile_scores(legacy) == user_state.item_scores(prof["h"])


def test_request_bounds():
    cfg = ModelConfig(item_cf_neighbours=2, candidates_per_source=3, content_pool=2, cooc_window=50,
                      half_life_ms=10**12)
    catalogue = {f"i{n}": ItemInfo(f"i{n}", "c0", tags=(f"t{n % 2}",)) for n in range(15)}
    store: dict = {}
    for e in _stream(300, 7):
        learn_one(store, e, cfg)
    assert len(cooccurrence.similar_items(store, "i1", 10**6, cfg, cfg.item_cf_neighbours)) <= 2
    full = cooccurrence.similar_items(store, "i1", 10**6, ModelConfig(cooc_window=50, half_life_ms=10**12))
    assert len(full) > 2
    for user in ("u0", "u1", "nobody"):
        found = generate(store, catalogue, user, 10**6, cfg)
        for source in {c.source for c in found}:
            assert sum(c.source == source for c in found) <= cfg.candidates_per_source


@pytest.mark.parametrize("name", ["item_cf_neighbours", "content_pool", "cf_candidate_users"])
def test_request_bounds_must_be_positive(name):
    with pytest.raises(ValueError):
        bad: dict[str, Any] = {name: 0}
        ModelConfig(**bad)
