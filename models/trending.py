"""Decayed popularity per item, and bounded trending lists, global and per category.

Keys: ``p:<item>`` = ``{"t": [weight, last_ts], "a": {...}}`` holds the item's own decayed popularity (every
positive interaction adds 1, or its weight when not ``trending_by_count``; half-life ``trending_half_life_ms``).
``t:global`` and ``t:cat:<category>`` = ``{"e": {item: [weight, last_ts]}, "a": {...}}`` copy the item's current
popularity on each of its events; they hold at most ``2 * trending_k`` entries and prune to the ``trending_k``
heaviest. An evicted item comes back with its full popularity on its next event, since the value is copied from
``p:``, not accumulated. Each list value also keeps ``"m"``: the decayed popularity of every item of its scope,
evicted ones included (the category's mass that ``taste`` divides by, one read instead of a sum over the list).
"""

from __future__ import annotations

from ._state import APPLIED, Store, add_decayed, copy_value, derive_order, prune, top_by_weight, value_at
from .config import ModelConfig
from .interactions import Interaction

ITEM = "p:"
GLOBAL = "t:global"
TOTAL = "m"  # [decayed popularity of every item of the list's scope, last_ts]: the category's mass
CATEGORY = "t:cat:"


def list_key(category: str | None) -> str:
    return CATEGORY + category if category else GLOBAL


def _popularity(store: Store, it: Interaction, pos: int, w: float, cfg: ModelConfig) -> list:
    k = ITEM + it.item_id
    value = store.get(k)
    if value is None:
        value = {"t": None, APPLIED: {}}
    elif value[APPLIED].get(it.source, -1) >= pos:
        return value["t"]
    else:
        value = copy_value(value)
    value["t"] = add_decayed(value["t"], w, it.ts_ms, cfg.trending_half_life_ms)
    value[APPLIED][it.source] = pos
    store[k] = value
    return value["t"]


def _upsert(store: Store, k: str, it: Interaction, pos: int, entry: list, w: float, cfg: ModelConfig) -> bool:
    value = store.get(k)
    if value is None:
        value = {"e": {}, APPLIED: {}}
        old = None
    elif value[APPLIED].get(it.source, -1) >= pos:
        return False
    else:
        old = value["e"]
        value = copy_value(value, "e")
    e = value["e"]
    e[it.item_id] = list(entry)
    value[TOTAL] = add_decayed(value.get(TOTAL), w, it.ts_ms, cfg.trending_half_life_ms)
    if old is not None:
        derive_order(old, e, (it.item_id,), cfg.trending_half_life_ms)
    if len(e) > 2 * cfg.trending_k:
        value["e"] = prune(e, it.ts_ms, cfg.trending_half_life_ms, cfg.trending_k)
    value[APPLIED][it.source] = pos
    store[k] = value
    return True


def update(store: Store, it: Interaction, cfg: ModelConfig) -> int:
    """Add a positive interaction to the item's popularity and its lists; returns list keys written."""
    w = cfg.weight(it.kind, it.stars)
    if w <= 0:
        return 0
    if cfg.trending_by_count:  # next interactions are mostly views: counts predict them better
        w = 1.0
    pos = it.pos
    entry = _popularity(store, it, pos, w, cfg)
    written = int(_upsert(store, GLOBAL, it, pos, entry, w, cfg))
    if it.category:
        written += _upsert(store, CATEGORY + it.category, it, pos, entry, w, cfg)
    return written


def trending(store: Store, category: str | None = None, now_ms: int = 0, k: int = 10,
             cfg: ModelConfig | None = None) -> list[tuple[str, float]]:
    """Top ``k`` ``(item, decayed popularity at now_ms)`` of the category (global when None).

    Popularity desc, then item id asc; ``k`` is capped at ``trending_k``.
    """
    cfg = cfg or ModelConfig()
    value = store.get(list_key(category))
    if value is None:
        return []
    return top_by_weight(value["e"], now_ms, cfg.trending_half_life_ms, min(k, cfg.trending_k))


def total(store: Store, category: str | None, now_ms: int, cfg: ModelConfig) -> float | None:
    """Decayed popularity of every item of the category (global when None), None when not kept."""
    value = store.get(list_key(category))
    found = value.get(TOTAL) if value is not None else None
    return None if found is None else value_at(found, now_ms, cfg.trending_half_life_ms)
