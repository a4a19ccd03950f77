"""Helpers shared by the stores: exponential decay and per-key replay positions."""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

Store = MutableMapping[str, Any]

APPLIED = "a"  # every stored dict value keeps {source: last applied position} under this key


def decay(weight: float, from_ts: int, to_ts: int, half_life_ms: int) -> float:
    """``weight`` seen at ``from_ts``, halved every ``half_life_ms`` until ``to_ts`` (never grows)."""
    if to_ts <= from_ts:
        return weight
    return weight * 2.0 ** (-(to_ts - from_ts) / half_life_ms)


def add_decayed(entry: list | None, delta: float, ts: int, half_life_ms: int) -> list:
    """New ``[weight, last_ts]`` after adding ``delta`` at ``ts``; a late ``ts`` is decayed to ``last_ts``."""
    if entry is None:
        return [delta, ts]
    weight, last = entry
    if ts >= last:
        return [decay(weight, last, ts, half_life_ms) + delta, ts]
    return [weight + decay(delta, ts, last, half_life_ms), last]


def value_at(entry: list, now_ms: int, half_life_ms: int) -> float:
    return decay(entry[0], entry[1], now_ms, half_life_ms)


def already_applied(value: dict | None, source: str, pos: int) -> bool:
    return value is not None and value[APPLIED].get(source, -1) >= pos


def mark_applied(value: dict, source: str, pos: int) -> None:
    value[APPLIED][source] = pos


def copy_value(value: dict, *containers: str) -> dict:
    """A shallow copy of a stored ``value`` with its replay positions and ``containers`` copied one level deep.

    Updates change the copy and assign it back, so a value read from the store (a cache's object, a
    snapshot a caller holds) is never changed in place. Entries inside the containers are replaced, not
    mutated, so one level is enough.
    """
    out = value.copy()
    out[APPLIED] = value[APPLIED].copy()
    for name in containers:
        out[name] = value[name].copy()
    return out


def decayed(entries: dict[str, list], now_ms: int, half_life_ms: int) -> list[tuple[float, str]]:
    """``[(-decayed weight, key)]`` of every entry: ascending order is weight desc, then key asc.

    Same arithmetic as :func:`value_at`, inlined (rows are read on every request).
    """
    return [(-w if now_ms <= t else -(w * 2.0 ** (-(now_ms - t) / half_life_ms)), k)
            for k, (w, t) in entries.items()]


# Reading the best n of a decayed row used to decay every entry and select. But the order of decayed
# weights does not depend on when they are read: w * 2 ** (-(now - t) / h) ranks like
# log2(w) + t / h for every now at or after the newest t. So each row gets that order once, kept
# beside it (never in the store) and carried over when an update copies the row; a read decays only
# the first n entries of it, plus any whose log-weight is within _MARGIN of the n-th, and ranks
# those exactly as before. Float error in the log-weights is ~1e-12, far below _MARGIN, so nothing
# outside that set can rank in the top n: the result is identical, bit for bit.
#
# Keyed by the row's identity: stored values are never changed in place (rows are copied, changed
# and re-assigned), so a row object keeps its content while this holds it.

_MARGIN = 1e-6
# Bounded by entries, not rows: rows grow as traffic accumulates (co-occurrence rows to 100 entries,
# trending lists to 200), so a count of rows let the cache's memory grow through a long run. An
# entry costs about 200 bytes here (two sorted tuples, and the row held while cached).
_ORDER_ENTRIES = 262_144


class _Order:
    __slots__ = ("by_ts", "entries", "half_life_ms", "keys")

    def __init__(self, entries: dict[str, list], half_life_ms: int, keys: list[tuple[float, str]] | None,
                 by_ts: list[tuple[int, str]]) -> None:
        self.entries = entries  # held, so its id is not reused while cached
        self.half_life_ms = half_life_ms
        self.keys = keys  # [(-log-weight, key)] ascending; None when a weight is not positive
        self.by_ts = by_ts  # [(last update, key)] ascending: the entries newer than a read are its tail


class _OrderCache:
    """Orders by ``id(entries)``, oldest dropped first once they hold more than ``capacity`` entries."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries = 0  # sum of len(order.entries): stored rows are never changed in place
        self._by_id: dict[int, _Order] = {}

    def get(self, key: int) -> _Order | None:
        return self._by_id.get(key)

    def put(self, order: _Order) -> None:
        self.pop(id(order.entries))
        self._by_id[id(order.entries)] = order
        self.entries += len(order.entries)
        while self.entries > self.capacity and len(self._by_id) > 1:
            self.pop(next(iter(self._by_id)))

    def pop(self, key: int) -> None:
        found = self._by_id.pop(key, None)
        if found is not None:
            self.entries -= len(found.entries)

    def __len__(self) -> int:
        return len(self._by_id)


_orders = _OrderCache(_ORDER_ENTRIES)


def _log_weight(entry: list, half_life_ms: int) -> float:
    return math.log2(entry[0]) + entry[1] / half_life_ms


def _cache(order: _Order) -> _Order:
    _orders.put(order)
    return order


def _order(entries: dict[str, list], half_life_ms: int) -> _Order:
    found = _orders.get(id(entries))
    if found is not None and found.entries is entries and found.half_life_ms == half_life_ms:
        return found
    keys = None
    by_ts: list[tuple[int, str]] = []
    if all(w > 0 for w, _ in entries.values()):
        keys = sorted([(-_log_weight(e, half_life_ms), k) for k, e in entries.items()])
        by_ts = sorted([(e[1], k) for k, e in entries.items()])
    return _cache(_Order(entries, half_life_ms, keys, by_ts))


def derive_order(old: dict[str, list], new: dict[str, list], changed: Iterable[str], half_life_ms: int) -> None:
    """``new`` is ``old`` with the entries of ``changed`` set: carry ``old``'s order over, if it has one.

    Only an optimisation for the next :func:`top_decayed` of ``new``; calling it or not changes no result.
    """
    found = _orders.get(id(old))
    if found is None or found.entries is not old or found.half_life_ms != half_life_ms or found.keys is None:
        return
    keys = found.keys.copy()
    by_ts = found.by_ts.copy()
    for k in set(changed):
        before = old.get(k)
        if before is not None:
            i = bisect_left(keys, (-_log_weight(before, half_life_ms), k))
            j = bisect_left(by_ts, (before[1], k))
            if i == len(keys) or keys[i][1] != k or j == len(by_ts) or by_ts[j][1] != k:
                return
            del keys[i]
            del by_ts[j]
        entry = new[k]
        if entry[0] <= 0:
            return
        insort(keys, (-_log_weight(entry, half_life_ms), k))
        insort(by_ts, (entry[1], k))
    _orders.pop(id(old))
    _cache(_Order(new, half_life_ms, keys, by_ts))


def top_decayed(entries: dict[str, list], now_ms: int, half_life_ms: int, n: int) -> list[tuple[float, str]]:
    """``sorted(decayed(entries, now_ms, half_life_ms))[:n]``, reading about ``n`` entries instead of all."""
    order = _order(entries, half_life_ms) if n < len(entries) else None
    future: list[str] = []
    if order is not None and order.by_ts and now_ms < order.by_ts[-1][0]:
        # Read before some entries' last update (topics read at different paces, as when a worker
        # catches up): those entries do not decay yet, so they fall out of the order and count at
        # their stored weight. The best n are among the order's best n of the rest and the n
        # heaviest of them; past about half of the row, decaying it all is as cheap.
        by_ts = order.by_ts
        future = [k for _, k in by_ts[bisect_right(by_ts, now_ms, key=_first):]]
    if order is None or order.keys is None or 2 * len(future) > len(entries):
        scored = decayed(entries, now_ms, half_life_ms)
        if n >= len(scored):
            scored.sort()
            return scored
        return heapq.nsmallest(n, scored)
    keys = order.keys
    if future:
        heaviest = future if len(future) <= 2 * n else [
            k for _, k in heapq.nsmallest(n, [(-entries[k][0], k) for k in future])]
        picked = _past_top(keys, set(future), n) + heaviest
    else:
        m = n
        cut = keys[n - 1][0] + _MARGIN
        while m < len(keys) and keys[m][0] <= cut:
            m += 1
        picked = [k for _, k in keys[:m]]
    scored = [(-w if now_ms <= t else -(w * 2.0 ** (-(now_ms - t) / half_life_ms)), k)
              for k, (w, t) in zip(picked, map(entries.__getitem__, picked), strict=True)]
    scored.sort()
    return scored[:n] if len(scored) > n else scored


def _first(pair: tuple[int, str]) -> int:
    return pair[0]


def _past_top(keys: list[tuple[float, str]], skip: set[str], n: int) -> list[str]:
    """The first ``n`` keys of the order not in ``skip``, plus those within ``_MARGIN`` of the n-th."""
    picked: list[str] = []
    cut = 0.0
    for neg_log, k in keys:
        if k in skip:
            continue
        if len(picked) < n:
            picked.append(k)
            cut = neg_log + _MARGIN
        elif neg_log <= cut:
            picked.append(k)
        else:
            break
    return picked


def best_first(scores: Mapping[str, float], n: int, positive: bool = False) -> list[tuple[float, str]]:
    """``sorted((-s, k) for k, s in scores.items())[:n]``, only ``s > 0`` when ``positive``.

    Sorts the scores (floats, in C) to find the n-th best, then orders only the keys at or above it:
    the same list as a full sort or ``heapq.nsmallest``, a few times faster for a few hundred keys.
    """
    values = [s for s in scores.values() if s > 0] if positive else list(scores.values())
    if n < len(values):
        values.sort(reverse=True)
        floor = values[n - 1]  # > 0 when positive
        ranked = [(-s, k) for k, s in scores.items() if s >= floor]
    elif positive:
        ranked = [(-s, k) for k, s in scores.items() if s > 0]
    else:
        ranked = [(-s, k) for k, s in scores.items()]
    ranked.sort()
    return ranked[:n] if n < len(ranked) else ranked


def top_by_weight(entries: dict[str, list], now_ms: int, half_life_ms: int, n: int) -> list[tuple[str, float]]:
    """The ``n`` best ``(key, decayed weight)``: weight desc, then key asc."""
    return [(k, -w) for w, k in top_decayed(entries, now_ms, half_life_ms, n)]


def prune(entries: dict[str, list], now_ms: int, half_life_ms: int, cap: int) -> dict[str, list]:
    """Keep the ``cap`` heaviest entries once there are more than ``2 * cap`` (amortised pruning)."""
    if len(entries) <= 2 * cap:
        return entries
    kept = {k: entries[k] for k, _ in top_by_weight(entries, now_ms, half_life_ms, cap)}
    found = _orders.get(id(entries))
    if found is not None and found.entries is entries and found.keys is not None:
        _cache(_Order(kept, half_life_ms, [x for x in found.keys if x[1] in kept],
                      [x for x in found.by_ts if x[1] in kept]))
    return kept
