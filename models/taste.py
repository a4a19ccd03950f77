"""Personalised popularity: how much a user likes a category, times an item's share of that category.

Users pick a category they like, then an item within it mostly by its popularity, so
``P(item | user) ~ affinity(user, category) * popularity(item) / popularity(category)``. The affinity is
the user's own positive history entries per category plus a pseudo-count ``taste_alpha``, so a user with
little history still gets the popular items of every category and one with a clear taste mostly gets theirs.
The category's popularity has a pseudo-mass ``taste_beta``, so an item alone in a barely used category is
not taken for that category's sure pick.
Everything is read from the profile and the trending lists: no state of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from .config import ModelConfig
from .interactions import ItemInfo
from .user_state import ITEM, WEIGHT


def affinity(history: list[list], catalogue: Mapping[str, ItemInfo], cfg: ModelConfig) -> dict[str, float]:
    """``{category: positive history entries in it}`` (unknown items and negative actions don't count)."""
    counts: dict[str, float] = {}
    for e in history:
        if e[WEIGHT] > 0 and (info := catalogue.get(e[ITEM])) is not None and info.category:
            counts[info.category] = counts.get(info.category, 0.0) + 1.0
    return counts


def top_categories(counts: Mapping[str, float], n: int) -> list[str]:
    """The ``n`` categories with most entries (ties: name asc)."""
    return [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def terms(counts: Mapping[str, float], category: str, category_mass: float,
          cfg: ModelConfig) -> tuple[float, float]:
    """``(affinity, mass)`` of a category: an item of it with decayed popularity ``p`` scores ``affinity * p / mass``
    (0 when ``mass <= 0``), the unnormalised ``P(item | user)``. Per category, so a list computes it once."""
    return counts.get(category, 0.0) + cfg.taste_alpha, category_mass + cfg.taste_beta
