"""Live (prequential) quality of the lists a worker sends, and concept drift in it.

Each interaction a user makes is scored against the latest list the user had been sent before it: the
question a streaming recommender must answer ("was what the user did next in what we had just sent?").
The engine's whole list is scored as ``engine``; each candidate source's items, in list order, as
``engine_<source>`` (offline, :mod:`.evaluation` says ``engine/<source>``; a metric label has no slash).
:class:`LiveQuality` keeps a sliding window of those scores per model and runs River's ADWIN on each
model's hit stream, so a change in the hit rate is reported as drift. It lives in one worker's memory:
a restart starts a new window.

>>> lq = LiveQuality(window=4)
>>> [lq.observe("engine", hit, ndcg) for hit, ndcg in [(1.0, 1.0), (0.0, 0.0)]]
[False, False]
>>> lq.rates("engine")
(0.5, 0.5)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from river import drift

from .evaluation import list_metrics

ENGINE = "engine"


def score_against_next(latest: Sequence[Sequence[str]] | None, item: str, k: int) -> list[tuple[str, float, float]]:
    """(model, HR@k, NDCG@k) of the latest list ``[[item, source], ...]`` against the next ``item``.

    ``[]`` when there is no list yet: nothing was recommended, so nothing is scored.

    >>> score_against_next([["a", "item_cf"], ["b", "trending"]], "b", 10)
    [('engine', 1.0, 0.6309297535714575), ('engine_item_cf', 0.0, 0.0), ('engine_trending', 1.0, 1.0)]
    """
    if not latest:
        return []
    ranked = [entry[0] for entry in latest]
    hr, ndcg, _ = list_metrics(ranked, {item}, k)
    out = [(ENGINE, hr, ndcg)]
    by_source: dict[str, list[str]] = {}
    for entry in latest[:k]:
        by_source.setdefault(entry[1], []).append(entry[0])
    for source in sorted(by_source):
        s_hr, s_ndcg, _ = list_metrics(by_source[source], {item}, k)
        out.append((f"{ENGINE}_{source}", s_hr, s_ndcg))
    return out


class LiveQuality:
    """Sliding-window HR and NDCG per model, and an ADWIN drift detector on each model's hits."""

    def __init__(self, window: int = 1000, delta: float = 0.002) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self.window, self.delta = window, delta
        self._scores: dict[str, deque[tuple[float, float]]] = {}
        self._sums: dict[str, list[float]] = {}
        self._detectors: dict[str, drift.ADWIN] = {}

    def observe(self, model: str, hit: float, ndcg: float) -> bool:
        """Add one scored interaction; True when the model's hit rate just drifted."""
        scores = self._scores.get(model)
        if scores is None:
            scores = self._scores[model] = deque()
            self._sums[model] = [0.0, 0.0]
            self._detectors[model] = drift.ADWIN(delta=self.delta)
        sums = self._sums[model]
        scores.append((hit, ndcg))
        sums[0] += hit
        sums[1] += ndcg
        if len(scores) > self.window:
            old_hit, old_ndcg = scores.popleft()
            sums[0] -= old_hit
            sums[1] -= old_ndcg
        detector = self._detectors[model]
        detector.update(hit)
        return bool(detector.drift_detected)

    def rates(self, model: str) -> tuple[float, float]:
        """(HR, NDCG) over the window; (0, 0) for a model with no scores yet."""
        scores = self._scores.get(model)
        if not scores:
            return 0.0, 0.0
        hit, ndcg = self._sums[model]
        return max(hit, 0.0) / len(scores), max(ndcg, 0.0) / len(scores)

    def models(self) -> list[str]:
        return sorted(self._scores)
