"""Ranking: merge candidates, filter, blend scorer predictions, diversify, keep ``k``.

A :class:`Scorer` is a learned model with River's shape. ``score_many`` is the primitive (batched models
implement it once); ``score_one`` wraps it. Prediction never mutates a scorer. Scorers are registered by name
in :data:`SCORERS` so configuration can name one and agents never import a model class.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ._state import Store
from .candidates import Candidate
from .config import ModelConfig
from .interactions import ItemInfo
from .online_mf import OnlineMFScorer
from .user_state import purchased


@runtime_checkable
class Scorer(Protocol):
    name: str
    version: str

    def learn_one(self, user_id: str, item_id: str, weight: float = 1.0) -> None: ...

    def score_many(self, user_ids: Sequence[str], item_ids: Sequence[Sequence[str]]) -> list[list[float]]:
        """``user_ids``: [B]; ``item_ids``: [B][K_b] -> scores [B][K_b], finite floats in [0, 1]."""
        ...

    def score_one(self, user_id: str, item_id: str) -> float: ...


class PopularityScorer:
    """How often an item was learned, smoothed: ``n / (n + prior)``; ignores the user.

    Keeps at most ``2 * max_items`` counts, pruning to the ``max_items`` largest (count desc, id asc).
    """

    name = "popularity"
    version = "1"

    def __init__(self, max_items: int = 10_000, prior: float = 10.0) -> None:
        self.max_items = max_items
        self.prior = prior
        self.counts: dict[str, float] = {}

    def learn_one(self, user_id: str, item_id: str, weight: float = 1.0) -> None:
        if weight <= 0:
            return
        self.counts[item_id] = self.counts.get(item_id, 0.0) + weight
        if len(self.counts) > 2 * self.max_items:
            top = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.max_items]
            self.counts = dict(top)

    def score_many(self, user_ids: Sequence[str], item_ids: Sequence[Sequence[str]]) -> list[list[float]]:
        get = self.counts.get
        return [[(n := get(i, 0.0)) / (n + self.prior) for i in items] for items in item_ids]

    def score_one(self, user_id: str, item_id: str) -> float:
        return self.score_many([user_id], [[item_id]])[0][0]


#: Scorer factories by name; a new model registers here and gets the contract tests for free.
SCORERS: dict[str, Callable[..., Scorer]] = {
    "popularity": PopularityScorer,
    OnlineMFScorer.name: OnlineMFScorer,
}


@dataclass(frozen=True, slots=True)
class RankedItem:
    item_id: str
    score: float
    source: str  # the strongest source
    explanation: str  # the strongest source's explanation
    sources: tuple[str, ...] = ()  # every source that proposed the item, sorted


@dataclass(frozen=True)
class Context:
    """What ranking needs besides candidates. Items unknown to ``catalogue`` are allowed."""

    catalogue: Mapping[str, ItemInfo]
    purchased: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()
    scorer_weights: Mapping[str, float] = field(default_factory=dict)  # by scorer name; default 0.5
    on_scorer_error: Callable[[str, Exception], None] | None = None  # None: errors propagate

    @classmethod
    def of(cls, store: Store, catalogue: Mapping[str, ItemInfo], user: str, **kwargs: object) -> Context:
        return cls(catalogue=catalogue, purchased=purchased(store, user), **kwargs)  # type: ignore[arg-type]


DEFAULT_SCORER_WEIGHT = 0.5


def _blend(user: str, items: list[str], base: dict[str, float], context: Context,
           scorers: Sequence[Scorer]) -> dict[str, float]:
    total = dict(base)
    for scorer in scorers:
        try:
            scores = scorer.score_many([user], [items])[0]
            if len(scores) != len(items) or not all(math.isfinite(s) for s in scores):
                raise ValueError(f"scorer {scorer.name} returned {len(scores)} scores for {len(items)} items "
                                 "or a non-finite score")
        except Exception as exc:
            if context.on_scorer_error is None:
                raise
            context.on_scorer_error(scorer.name, exc)
            continue
        w = context.scorer_weights.get(scorer.name, DEFAULT_SCORER_WEIGHT)
        for item, s in zip(items, scores, strict=True):
            total[item] += w * s
    return total


def rank(user: str, candidates: Sequence[Candidate], context: Context, scorers: Sequence[Scorer],
         cfg: ModelConfig) -> list[RankedItem]:
    """Up to ``cfg.k`` items, score desc then item id asc.

    Duplicates merge: scores add, the highest-scoring source (ties: name asc) gives source and explanation.
    Filtered: purchased, excluded, out of stock per catalogue, sold by ``user``. Scorers add
    ``weight * score`` to the merged score. At most ``max_per_category`` items per catalogue category (items
    without a category are not capped); the result may be shorter than ``k``.
    """
    base: dict[str, float] = {}
    best: dict[str, Candidate] = {}
    sources: dict[str, list[str]] = {}
    purchased, exclude = context.purchased, context.exclude
    info_of = context.catalogue.get
    for c in candidates:
        item = c.item_id
        b = best.get(item)
        if b is None:
            if item in purchased or item in exclude:
                continue
            info = info_of(item)
            if info is not None and (not info.in_stock or info.seller_id == user):
                continue
            best[item] = c
            base[item] = 0.0 + c.score
            sources[item] = [c.source]
        else:
            base[item] += c.score
            sources[item].append(c.source)
            if c.score > b.score or (c.score == b.score and c.source < b.source):
                best[item] = c
    total = _blend(user, sorted(base), base, context, scorers) if scorers and base else base
    out: list[RankedItem] = []
    per_category: dict[str, int] = {}
    for neg, item in sorted([(-t, i) for i, t in total.items()]):
        info = info_of(item)
        cat = info.category if info is not None else ""
        if cat:
            if per_category.get(cat, 0) >= cfg.max_per_category:
                continue
            per_category[cat] = per_category.get(cat, 0) + 1
        b = best[item]
        out.append(RankedItem(item, -neg, b.source, b.explanation, tuple(sorted(set(sources[item])))))
        if len(out) == cfg.k:
            break
    return out
