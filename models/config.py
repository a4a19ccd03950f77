"""Frozen configuration of the pure models: caps, decay and interaction weights.

Never reads the environment; the entry point builds one from ``Settings`` and passes it down.
Every cap bounds a stored value or the number of keys (see README.md, "Bounds").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

_DAY_MS = 86_400_000

#: Implicit weight per interaction kind. ``remove_from_cart`` is a weak negative.
DEFAULT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "wishlist": 2.0,
    "add_to_cart": 3.0,
    "remove_from_cart": -1.0,
    "purchase": 5.0,
    "share": 2.0,
}

#: Review weight by stars 1..5: ``2 * (stars - 3)``, so a 1-star review is -4 and a 5-star one +4.
DEFAULT_REVIEW_WEIGHTS: tuple[float, ...] = (-4.0, -2.0, 0.0, 2.0, 4.0)

#: Multiplier per candidate source after each source's scores are scaled to [0, 1].
DEFAULT_SOURCE_WEIGHTS: dict[str, float] = {
    # Measured on simulated traffic (tests/offline_eval.py): taste recovers what users pick from; the
    # co-occurrence and popularity sources mostly re-propose the same popular items and crowd it out.
    "taste": 1.0,  # popular items of the categories the user likes (taste.py)
    "social": 0.6,  # what followees bought or shared: users open those next
    "item_cf": 0.1,
    "user_cf": 0.05,
    "content": 0.1,
    "trending": 0.1,  # what a user without history gets
    "popular": 0.01,  # fill: a tenth of trending, as before
}


def parse_source_weights(text: str) -> dict[str, float]:
    """``"item_cf=0.5,taste=1"``: the default source weights with those replaced (empty: the defaults).

    A weight of 0 turns a source off. Raises ``ValueError`` for an unknown source, a weight that is not a
    finite number >= 0, or both ``trending`` and ``popular`` off (a user without history would get nothing).
    """
    weights = dict(DEFAULT_SOURCE_WEIGHTS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in DEFAULT_SOURCE_WEIGHTS:
            raise ValueError(f"{part!r}: expected <source>=<weight>, sources: {', '.join(DEFAULT_SOURCE_WEIGHTS)}")
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"{part!r}: the weight must be a number >= 0")
        weights[name] = weight
    if weights["trending"] <= 0 and weights["popular"] <= 0:
        raise ValueError("trending or popular needs a weight > 0: they are all a user without history gets")
    return weights


@dataclass(frozen=True)
class ModelConfig:
    """Caps, decay and weights. Times are event-time milliseconds."""

    history_len: int = 50  # recent interactions kept per user
    cooc_window: int = 10  # distinct recent items paired with each new interaction
    neighbours_per_item: int = 50  # co-occurrence row size kept (rows prune at 2x)
    max_items_tracked: int = 100_000  # per partition, enforced by maintenance.sweep
    max_users_tracked: int = 100_000  # per partition, enforced by maintenance.sweep
    user_ttl_ms: int = 30 * _DAY_MS  # users idle longer are dropped by sweep
    half_life_ms: int = 7 * _DAY_MS  # decay of co-occurrence and item mass
    trending_half_life_ms: int = 7 * 86_400_000  # decay of trending popularity (category taste, not news)
    trending_by_count: bool = True  # popularity counts positive interactions; False weighs them as `weights`
    trending_k: int = 100  # entries served per trending list (pool prunes at 2x)
    users_per_item: int = 50  # recent users per item (user-CF inverted index, prunes at 2x)
    k: int = 10  # recommendations per request
    max_per_category: int = 3  # diversity cap per leaf category
    max_purchased: int = 200  # purchased items remembered per user (filtering)
    max_seen: int = 100  # items acted on remembered per user beyond the history (filtering; prunes at 2x)
    max_follows: int = 500  # followees per user and followers per user
    social_items: int = 100  # items in a user's social feed
    social_per_item: int = 10  # followee signals kept per feed item
    max_referrals: int = 50  # items a user reached via someone's share (purchase attribution)
    attribution_window_ms: int = 7 * _DAY_MS  # a purchase within this of a shared click credits the sharer
    debounce_ms: int = 2_000  # minimum event time between two recommendations for one user
    recommend: bool = True  # False: learn from events, build no lists (what the bench's no-lists run measures)
    # Work per request: each bound below caps what one generate() call reads or keeps.
    similar_users: int = 20  # neighbours used by user-CF
    cf_candidate_users: int = 12  # users whose profiles user-CF reads per request (most shared items first)
    seed_items: int = 5  # most recent distinct items that seed item-CF, content and category candidates
    item_cf_neighbours: int = 20  # heaviest co-occurrence neighbours read per seed (<= neighbours_per_item)
    content_pool: int = 30  # most popular items of a seed's category that content candidates score
    candidates_per_source: int = 20  # kept per source before merging (ranking keeps k of their union)
    taste_categories: int = 5  # the user's categories whose trending lists feed the taste source
    taste_alpha: float = 1.0  # pseudo-count of history entries per category (taste.py)
    taste_beta: float = 5.0  # pseudo-popularity of every category (taste.py)
    min_mass: float = 1e-3  # decayed mass under which sweep forgets an item
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    review_weights: tuple[float, ...] = DEFAULT_REVIEW_WEIGHTS
    source_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SOURCE_WEIGHTS))

    def __post_init__(self) -> None:
        for name in ("history_len", "cooc_window", "neighbours_per_item", "max_items_tracked", "max_users_tracked",
                     "user_ttl_ms", "half_life_ms", "trending_half_life_ms", "trending_k", "users_per_item", "k",
                     "max_per_category", "max_purchased", "max_seen", "max_follows", "social_items", "social_per_item",
                     "max_referrals", "similar_users", "cf_candidate_users", "seed_items", "item_cf_neighbours",
                     "content_pool", "candidates_per_source", "taste_categories"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ModelConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.taste_alpha < 0 or self.taste_beta < 0:
            raise ValueError("ModelConfig.taste_alpha and taste_beta must be >= 0")
        if len(self.review_weights) != 5:
            raise ValueError("review_weights needs one weight per star, 1..5")

    def weight(self, kind: str, stars: int | None = None) -> float:
        """Weight of one interaction; reviews use ``review_weights[stars - 1]``, unknown kinds weigh 0."""
        if kind == "review":
            if stars is None or not 1 <= stars <= 5:
                return 0.0
            return self.review_weights[stars - 1]
        return self.weights.get(kind, 0.0)
