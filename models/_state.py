"""Helpers shared by the stores: exponential decay and per-key replay positions."""

from __future__ import annotations

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


def top_by_weight(entries: dict[str, list], now_ms: int, half_life_ms: int, n: int) -> list[tuple[str, float]]:
    """The ``n`` best ``(key, decayed weight)``: weight desc, then key asc."""
    scored = [(k, value_at(e, now_ms, half_life_ms)) for k, e in entries.items()]
    scored.sort(key=lambda kv: (-kv[1], kv[0]))
    return scored[:n]


def prune(entries: dict[str, list], now_ms: int, half_life_ms: int, cap: int) -> dict[str, list]:
    """Keep the ``cap`` heaviest entries once there are more than ``2 * cap`` (amortised pruning)."""
    if len(entries) <= 2 * cap:
        return entries
    return {k: entries[k] for k, _ in top_by_weight(entries, now_ms, half_life_ms, cap)}
