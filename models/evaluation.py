"""Prequential (test-then-train) evaluation of recommendation lists against what users do next.

Feed one stream, in order, of interactions (views, carts, wishlists, purchase lines) and
recommendation lists. A list for user u is scored against u's next ``horizon`` interactions
after it in the stream (its targets); lists that never see a following interaction are counted
as ``unscored``. Metrics at K, averaged over scored lists:

* HR@K: 1 if any target is in the top K.
* NDCG@K: ``sum(1/log2(rank+1))`` over top-K items that are targets, divided by the ideal
  ``sum(1/log2(r+1) for r in 1..min(#targets, K))``; one target at rank 2 gives ``1/log2(3)``.
* MRR@K: 1/rank of the first target in the top K, 0 if none.
* coverage: distinct items in scored top-K lists / catalogue size (items seen in Item records
  or interactions).
* novelty: mean over scored top-K items of ``-log2((n_i + 1) / (N + 1))``, with ``n_i`` the
  item's interactions and ``N`` all interactions before the list.

The engine's lists are scored as a blend and per candidate source (each source's items, in list
order, as its own list). Baselines get a list at the same moment for the same user, then learn
from each interaction after it has been used for scoring. Pure: no Kafka, no Faust.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from socialpulse.schemas.records import Click, Item, Purchase, Recommendation, Record

from .baselines import BASELINES, Baseline

__all__ = ["Metrics", "PrequentialEvaluator", "interleave", "list_metrics"]

ENGINE = "engine"
_INTERACTION_CLICKS = frozenset({"view", "add_to_cart", "wishlist"})


def list_metrics(ranked: Sequence[str], targets: Collection[str], k: int) -> tuple[float, float, float]:
    """(HR@k, NDCG@k, MRR@k) of one list against a set of target items.

    >>> hr, ndcg, mrr = list_metrics(["a", "b", "c"], {"b"}, 2)
    >>> hr, round(ndcg, 4), mrr
    (1.0, 0.6309, 0.5)
    """
    top = list(ranked[:k])
    dcg, first = 0.0, 0
    for rank, item in enumerate(top, start=1):
        if item in targets:
            dcg += 1.0 / math.log2(rank + 1)
            first = first or rank
    ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(len(targets), k) + 1))
    return (1.0 if first else 0.0), (dcg / ideal if ideal else 0.0), (1.0 / first if first else 0.0)


@dataclass
class Metrics:
    """Running sums for one recommender (or one source of the engine)."""

    lists: int = 0
    hr: float = 0.0
    ndcg: float = 0.0
    mrr: float = 0.0
    novelty_sum: float = 0.0
    novelty_n: int = 0
    items: set[str] = field(default_factory=set)
    unscored: int = 0

    def summary(self, catalogue: int) -> dict[str, float]:
        n = max(self.lists, 1)
        return {
            "lists": self.lists,
            "unscored": self.unscored,
            "hr": self.hr / n,
            "ndcg": self.ndcg / n,
            "mrr": self.mrr / n,
            "coverage": len(self.items) / catalogue if catalogue else 0.0,
            "novelty": self.novelty_sum / self.novelty_n if self.novelty_n else 0.0,
        }


@dataclass
class _Pending:
    name: str
    ranked: list[str]
    timestamp: int
    novelty: float  # summed over the top-k items, fixed at recommendation time
    remaining: int
    targets: set[str] = field(default_factory=set)


class PrequentialEvaluator:
    """Scores engine lists and baselines on one ordered stream; see the module docstring.

    ``observe`` takes typed records (Item, Click, Purchase, Recommendation; others are ignored);
    ``interaction`` and ``recommendation`` take plain values for hand-made streams.

    >>> ev = PrequentialEvaluator(k=2, horizon=1, baselines={})
    >>> ev.recommendation("u", [("a", "item_cf"), ("b", "trending")], 0)
    >>> ev.interaction("u", "b", 1)
    >>> ev.report()["engine"]["hr"], ev.report()["engine/item_cf"]["hr"], ev.report()["engine/trending"]["mrr"]
    (1.0, 0.0, 1.0)
    """

    def __init__(
        self,
        k: int = 10,
        horizon: int = 1,
        baselines: Mapping[str, Callable[[], Baseline]] | None = None,
        exclude_seen: bool = False,
        history: int = 50,
    ) -> None:
        if k < 1 or horizon < 1:
            raise ValueError("k and horizon must be >= 1")
        self.k, self.horizon, self.exclude_seen = k, horizon, exclude_seen
        factories = BASELINES if baselines is None else baselines
        self.baselines: dict[str, Baseline] = {name: make() for name, make in factories.items()}
        self.metrics: dict[str, Metrics] = {}
        self.pending: dict[str, list[_Pending]] = {}
        self.catalogue: set[str] = set()
        self.counts: dict[str, int] = {}
        self.total = 0
        self.seen: dict[str, deque[str]] = {}  # recent items per user, for exclude_seen
        self._history = history
        # (timestamp, name, hr) per scored list, in scoring order: the HR-over-time plots.
        self.timeline: list[tuple[int, str, float]] = []

    # --- input ---------------------------------------------------------------------------------
    def observe(self, record: Record) -> None:
        if isinstance(record, Item):
            self.catalogue.add(record.item_id)
        elif isinstance(record, Click):
            if record.type in _INTERACTION_CLICKS:
                self.interaction(record.user_id, record.item_id, record.timestamp)
        elif isinstance(record, Purchase):
            for line in record.lines:
                self.interaction(record.user_id, line.item_id, record.timestamp)
        elif isinstance(record, Recommendation):
            items = [(i.item_id, i.source) for i in record.items]
            self.recommendation(record.user_id, items, record.event_timestamp)

    def recommendation(self, user: str, items: Sequence[tuple[str, str]], timestamp: int) -> None:
        """The engine's list (``(item, source)`` best first) for ``user``; baselines answer at the same moment."""
        queue = self.pending.setdefault(user, [])
        queue.append(self._pending(ENGINE, [item for item, _ in items], timestamp))
        sources: dict[str, list[str]] = {}
        for item, source in items:
            sources.setdefault(source, []).append(item)
        for source, ranked in sources.items():
            queue.append(self._pending(f"{ENGINE}/{source}", ranked, timestamp))
        exclude = set(self.seen.get(user, ())) if self.exclude_seen else ()
        for name, model in self.baselines.items():
            queue.append(self._pending(name, model.recommend(user, self.k, timestamp, exclude), timestamp))

    def interaction(self, user: str, item: str, timestamp: int) -> None:
        """Test every open list of ``user`` on this item, then let the baselines learn it."""
        queue = self.pending.get(user)
        seen = self.seen.get(user)
        if queue and not (self.exclude_seen and seen is not None and item in seen):
            still = []
            for pending in queue:
                pending.targets.add(item)
                pending.remaining -= 1
                if pending.remaining:
                    still.append(pending)
                else:
                    self._score(pending)
            if still:
                self.pending[user] = still
            else:
                del self.pending[user]
        for model in self.baselines.values():
            model.learn_one(user, item, timestamp)
        self.catalogue.add(item)
        self.counts[item] = self.counts.get(item, 0) + 1
        self.total += 1
        if seen is None:
            seen = self.seen[user] = deque(maxlen=self._history)
        if item not in seen:
            seen.append(item)

    # --- scoring -------------------------------------------------------------------------------
    def _pending(self, name: str, ranked: list[str], timestamp: int) -> _Pending:
        top = ranked[: self.k]
        novelty = sum(-math.log2((self.counts.get(i, 0) + 1) / (self.total + 1)) for i in top)
        return _Pending(name, top, timestamp, novelty, self.horizon)

    def _score(self, pending: _Pending) -> None:
        m = self.metrics.setdefault(pending.name, Metrics())
        hr, ndcg, mrr = list_metrics(pending.ranked, pending.targets, self.k)
        m.lists += 1
        m.hr += hr
        m.ndcg += ndcg
        m.mrr += mrr
        m.novelty_sum += pending.novelty
        m.novelty_n += len(pending.ranked)
        m.items.update(pending.ranked)
        self.timeline.append((pending.timestamp, pending.name, hr))

    def finish(self) -> None:
        """End of stream: lists with some but fewer than ``horizon`` targets are scored; the rest are unscored."""
        for queue in self.pending.values():
            for pending in queue:
                if pending.targets:
                    self._score(pending)
                else:
                    self.metrics.setdefault(pending.name, Metrics()).unscored += 1
        self.pending.clear()

    def report(self) -> dict[str, dict[str, float]]:
        """``{name: {lists, unscored, hr, ndcg, mrr, coverage, novelty}}`` for engine, engine/<source>, baselines."""
        catalogue = len(self.catalogue)
        order = sorted(self.metrics, key=lambda n: (n != ENGINE, not n.startswith(ENGINE), n))
        return {name: self.metrics[name].summary(catalogue) for name in order}

    def hr_over_time(self, buckets: int = 20) -> dict[str, list[tuple[int, float]]]:
        """HR@K per name in ``buckets`` equal spans of recommendation time: ``{name: [(bucket start ms, hr)]}``."""
        if not self.timeline:
            return {}
        lo = min(t for t, _, _ in self.timeline)
        hi = max(t for t, _, _ in self.timeline)
        width = max(1, (hi - lo) // buckets + 1)
        sums: dict[str, dict[int, list[float]]] = {}
        for t, name, hit in self.timeline:
            cell = sums.setdefault(name, {}).setdefault((t - lo) // width, [0.0, 0.0])
            cell[0] += hit
            cell[1] += 1
        return {
            name: [(lo + b * width, s / n) for b, (s, n) in sorted(cells.items())] for name, cells in sums.items()
        }


def _order_key(record: Record) -> tuple[int, int]:
    if isinstance(record, Recommendation):
        return record.event_timestamp, 1  # after every event of its trigger's millisecond
    return getattr(record, "timestamp", 0), 0


def interleave(*streams: Iterable[Record]) -> list[Record]:
    """One list in evaluation order: by timestamp (recommendations by their trigger's), events before lists."""
    merged: list[Any] = [r for stream in streams for r in stream]
    merged.sort(key=_order_key)  # stable: equal keys keep each stream's order
    return merged
