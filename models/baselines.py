"""Reference recommenders for prequential evaluation: popularity, decayed popularity, item-KNN.

They learn from the same interaction stream as the engine, test-then-train, so the engine's
numbers have something to beat. Each has ``learn_one(user, item, timestamp)`` and
``recommend(user, k, timestamp, exclude=())``; ``recommend`` never mutates state. Ties break by
item id so runs are deterministic. State is bounded by constructor arguments, not by traffic,
except the per-item counters (one number per catalogue item).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Collection
from typing import Protocol

__all__ = ["BASELINES", "Baseline", "DecayedPopularity", "ItemKNN", "Popularity"]


class Baseline(Protocol):
    def learn_one(self, user: str, item: str, timestamp: int) -> None: ...

    def recommend(self, user: str, k: int, timestamp: int, exclude: Collection[str] = ()) -> list[str]: ...


class _TopScores:
    """Scores that only ever grow, with the best ``capacity`` kept exactly.

    An item outside the kept set has not grown since it was pushed out, so it cannot outrank
    the kept minimum: the kept set is the top-``capacity`` (ties at the boundary keep the incumbent).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.scores: dict[str, float] = {}
        self.top: dict[str, float] = {}
        self._worst: str | None = None  # cached arg-min of ``top``; None when it must be recomputed

    def add(self, item: str, amount: float) -> None:
        score = self.scores.get(item, 0.0) + amount
        self.scores[item] = score
        if item in self.top:
            self.top[item] = score
            if item == self._worst:
                self._worst = None
            return
        if len(self.top) < self.capacity:
            self.top[item] = score
            self._worst = None
            return
        if self._worst is None:
            self._worst = min(self.top, key=self.top.__getitem__)
        if score > self.top[self._worst]:
            del self.top[self._worst]
            self.top[item] = score
            self._worst = None

    def best(self, k: int, exclude: Collection[str] = ()) -> list[str]:
        ranked = heapq.nsmallest(k + len(exclude), self.top.items(), key=lambda kv: (-kv[1], kv[0]))
        out = [item for item, _ in ranked if item not in exclude][:k]
        if len(out) < k and len(self.top) < len(self.scores):  # many exclusions: fall back to a full scan
            ranked = heapq.nsmallest(k + len(exclude), self.scores.items(), key=lambda kv: (-kv[1], kv[0]))
            out = [item for item, _ in ranked if item not in exclude][:k]
        return out

    def rescale(self, factor: float) -> None:
        for table in (self.scores, self.top):
            for item in table:
                table[item] *= factor


class Popularity:
    """Most interacted-with items overall.

    >>> p = Popularity()
    >>> for item in "abcb":
    ...     p.learn_one("u", item, 0)
    >>> p.recommend("v", 2, 0)
    ['b', 'a']
    """

    def __init__(self, keep: int = 200) -> None:
        self._top = _TopScores(keep)

    def learn_one(self, user: str, item: str, timestamp: int) -> None:
        self._top.add(item, 1.0)

    def recommend(self, user: str, k: int, timestamp: int, exclude: Collection[str] = ()) -> list[str]:
        return self._top.best(k, exclude)


class DecayedPopularity:
    """Popularity with exponential time decay (half-life in ms): what is trending now.

    A weight of ``2 ** ((t - t_ref) / half_life)`` per interaction ranks items exactly like decaying
    every count, yet scores only grow; ``t_ref`` moves forward (rescaling) before the weights overflow.

    >>> p = DecayedPopularity(half_life_ms=1000)
    >>> for item, t in [("a", 0), ("a", 0), ("a", 0), ("b", 3000), ("b", 3000)]:
    ...     p.learn_one("u", item, t)
    >>> p.recommend("v", 2, 3000)
    ['b', 'a']
    """

    def __init__(self, half_life_ms: float = 3_600_000.0, keep: int = 200) -> None:
        self.half_life_ms = half_life_ms
        self._top = _TopScores(keep)
        self._ref: int | None = None

    def learn_one(self, user: str, item: str, timestamp: int) -> None:
        if self._ref is None:
            self._ref = timestamp
        exponent = (timestamp - self._ref) / self.half_life_ms
        if exponent > 500:  # keep weights far from float overflow
            self._top.rescale(2.0**-exponent)
            self._ref, exponent = timestamp, 0.0
        self._top.add(item, 2.0**exponent)

    def recommend(self, user: str, k: int, timestamp: int, exclude: Collection[str] = ()) -> list[str]:
        return self._top.best(k, exclude)


class ItemKNN:
    """Item-to-item co-occurrence cosine over users' recent histories.

    Two items co-occur when one user interacts with both within ``window`` consecutive distinct
    items (a window of 2 pairs each item with the one before it).
    ``sim(i, j) = co(i, j) / sqrt(n(i) n(j))`` with ``n`` the interaction counts. A user's list
    scores candidates by summed similarity to their last ``query`` items, then fills up with popularity.
    Neighbours per item are capped (the weakest is dropped).

    >>> knn = ItemKNN()
    >>> for user, item in [("u", "a"), ("u", "b"), ("v", "a"), ("v", "b"), ("w", "a"), ("w", "c")]:
    ...     knn.learn_one(user, item, 0)
    >>> knn.recommend("x", 2, 0)  # unknown user: popularity
    ['a', 'b']
    >>> knn.learn_one("y", "a", 0)
    >>> knn.recommend("y", 2, 0, exclude={"a"})
    ['b', 'c']
    """

    def __init__(self, window: int = 10, query: int = 3, max_neighbours: int = 100, max_users: int = 100_000) -> None:
        self.window, self.query, self.max_neighbours, self.max_users = window, query, max_neighbours, max_users
        self.counts: dict[str, int] = {}
        self.co: dict[str, dict[str, float]] = {}
        self.history: dict[str, deque[str]] = {}
        self._popular = Popularity()

    def learn_one(self, user: str, item: str, timestamp: int) -> None:
        self.counts[item] = self.counts.get(item, 0) + 1
        self._popular.learn_one(user, item, timestamp)
        hist = self.history.pop(user, None)  # re-insert: dict order is recency, oldest user evicted first
        if hist is None:
            hist = deque(maxlen=self.window)
            if len(self.history) >= self.max_users:
                del self.history[next(iter(self.history))]
        self.history[user] = hist
        if hist and hist[-1] == item:
            return
        for other in set(list(hist)[1 - self.window :] if self.window > 1 else ()):
            if other != item:
                self._bump(item, other)
                self._bump(other, item)
        if item in hist:
            hist.remove(item)
        hist.append(item)

    def _bump(self, a: str, b: str) -> None:
        row = self.co.setdefault(a, {})
        row[b] = row.get(b, 0.0) + 1.0
        if len(row) > self.max_neighbours:
            del row[min(row, key=lambda j: (row[j], j))]

    def similarity(self, a: str, b: str) -> float:
        co = self.co.get(a, {}).get(b, 0.0)
        return co / math.sqrt(self.counts[a] * self.counts[b]) if co else 0.0

    def recommend(self, user: str, k: int, timestamp: int, exclude: Collection[str] = ()) -> list[str]:
        scores: dict[str, float] = {}
        hist = self.history.get(user)
        recent = list(hist)[-self.query :] if hist else []
        counts = self.counts
        for seed in recent:
            norm = math.sqrt(counts[seed])
            for other, co in self.co.get(seed, {}).items():
                if other not in exclude:
                    scores[other] = scores.get(other, 0.0) + co / (norm * math.sqrt(counts[other]))
        ranked = [i for i, _ in heapq.nsmallest(k, scores.items(), key=lambda kv: (-kv[1], kv[0]))]
        if len(ranked) < k:
            taken = set(ranked) | set(exclude)
            ranked += self._popular.recommend(user, k - len(ranked), timestamp, taken)
        return ranked


# Name -> factory; the evaluator builds a fresh one per run.
BASELINES: dict[str, Callable[[], Baseline]] = {
    "popularity": Popularity,
    "recent_popularity": DecayedPopularity,
    "item_knn": ItemKNN,
}
