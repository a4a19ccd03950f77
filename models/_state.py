"""Helpers shared by the stores: exponential decay and per-key replay positions."""

from __future__ import annotations

import heapq
from collections.abc import MutableMapping
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


def top_by_weight(entries: dict[str, list], now_ms: int, half_life_ms: int, n: int) -> list[tuple[str, float]]:
    """The ``n`` best ``(key, decayed weight)``: weight desc, then key asc."""
    scored = decayed(entries, now_ms, half_life_ms)
    best = sorted(scored) if n >= len(scored) else heapq.nsmallest(n, scored)
    return [(k, -w) for w, k in best]


def prune(entries: dict[str, list], now_ms: int, half_life_ms: int, cap: int) -> dict[str, list]:
    """Keep the ``cap`` heaviest entries once there are more than ``2 * cap`` (amortised pruning)."""
    if len(entries) <= 2 * cap:
        return entries
    return {k: entries[k] for k, _ in top_by_weight(entries, now_ms, half_life_ms, cap)}
