"""Item-item co-occurrence with exponential time decay, and cosine item similarity.

Keys: ``c:<item>`` = ``{"nb": {neighbour: [weight, last_ts]}, "a": {...}}`` (<= 2 * neighbours_per_item,
pruned to the heaviest ``neighbours_per_item``) and ``n:<item>`` = ``{"m": [mass, last_ts], "a": {...}}``.

A user's strength for an item, ``r(u, i)``, is their strongest positive action on it within their history.
When an event raises ``r(u, i)`` from ``a`` to ``b``, the item's mass grows by ``b - a`` and each of the
user's last ``cooc_window`` distinct other items ``j`` adds ``min(b, r_j) - min(a, r_j)`` to ``co(i, j)``.
So, before decay, ``co(i, j) = sum_u min(r_ui, r_uj)`` and ``n_i = sum_u r_ui``, and the cosine
``co(i, j) / sqrt(n_i * n_j)`` stays within [0, 1]. Repeating a view adds nothing; buying after viewing
adds the difference.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ._state import APPLIED, Store, add_decayed, copy_value, derive_order, prune, top_by_weight, top_decayed, value_at
from .config import ModelConfig
from .interactions import Interaction
from .user_state import ITEM, POS, SOURCE, TS, WEIGHT

ROW = "c:"
MASS = "n:"


def _strengths(entries: Iterable[list]) -> dict[str, float]:
    out: dict[str, float] = {}
    for e in entries:
        w = e[WEIGHT]
        if w > out.get(e[ITEM], 0.0):
            out[e[ITEM]] = w
    return out


def pair_increments(
    it: Interaction, history: Iterable[list], cfg: ModelConfig
) -> tuple[float, list[tuple[str, float]]]:
    """``(mass increment, [(neighbour, co-occurrence increment), ...])`` for ``it``.

    Only history entries ordered strictly before ``it`` count, so the result is the same whether or not
    ``it`` itself is already in ``history`` (replay).
    """
    hist = history if isinstance(history, list) else list(history)
    order = it.order_key
    if hist and (hist[-1][TS], hist[-1][SOURCE], hist[-1][POS]) >= order:
        before = [e for e in hist if (e[TS], e[SOURCE], e[POS]) < order]
    else:  # the usual case: nothing at or after the event
        before = hist
    item = it.item_id
    a = 0.0
    for e in before:
        if e[ITEM] == item and e[WEIGHT] > a:
            a = e[WEIGHT]
    b = max(a, cfg.weight(it.kind, it.stars))
    if b <= a:
        return 0.0, []
    strength = _strengths(before)
    pairs: list[tuple[str, float]] = []
    seen = {item}
    for e in reversed(before):
        j = e[ITEM]
        if j in seen:
            continue
        seen.add(j)
        r = strength.get(j, 0.0)
        inc = min(b, r) - min(a, r)
        if inc > 0:
            pairs.append((j, inc))
        if len(seen) > cfg.cooc_window:
            break
    return b - a, pairs


def _add_to_row(store: Store, item: str, adds: Iterable[tuple[str, float]], it: Interaction, pos: int,
                cfg: ModelConfig) -> bool:
    k = ROW + item
    row = store.get(k)
    if row is None:
        row = {"nb": {}, APPLIED: {}}
        old = None
    elif row[APPLIED].get(it.source, -1) >= pos:
        return False
    else:  # copy_value(row, "nb"), inlined: this runs up to cooc_window + 1 times per event
        row = row.copy()
        old = row["nb"]
        nb = row["nb"] = old.copy()
        row[APPLIED] = row[APPLIED].copy()
    nb = row["nb"]
    ts, hl = it.ts_ms, cfg.half_life_ms
    for j, inc in adds:
        nb[j] = add_decayed(nb.get(j), inc, ts, hl)
    if old is not None:
        derive_order(old, nb, (j for j, _ in adds), hl)
    if len(nb) > 2 * cfg.neighbours_per_item:
        row["nb"] = prune(nb, ts, hl, cfg.neighbours_per_item)
    row[APPLIED][it.source] = pos
    store[k] = row
    return True


def _add_mass(store: Store, item: str, inc: float, it: Interaction, pos: int, cfg: ModelConfig) -> bool:
    k = MASS + item
    value = store.get(k)
    if value is None:
        value = {"m": None, APPLIED: {}}
    elif value[APPLIED].get(it.source, -1) >= pos:
        return False
    else:
        value = copy_value(value)
    value["m"] = add_decayed(value["m"], inc, it.ts_ms, cfg.half_life_ms)
    value[APPLIED][it.source] = pos
    store[k] = value
    return True


def update(store: Store, it: Interaction, history: Iterable[list], cfg: ModelConfig) -> int:
    """Apply ``it`` to ``n:<item>`` and the ``c:`` rows of the item and its window; returns keys written.

    ``history`` is the user's history (``user_state``), with or without ``it``; each key skips the event
    when its replay position for ``it.source`` is already at or past ``it``.
    """
    mass, pairs = pair_increments(it, history, cfg)
    if mass <= 0:
        return 0
    pos = it.pos
    written = int(_add_mass(store, it.item_id, mass, it, pos, cfg))
    if pairs:
        written += _add_to_row(store, it.item_id, pairs, it, pos, cfg)
        for j, inc in pairs:
            written += _add_to_row(store, j, ((it.item_id, inc),), it, pos, cfg)
    return written


def mass(store: Store, item: str, now_ms: int, cfg: ModelConfig) -> float:
    """Decayed interaction mass ``n_i`` of ``item`` at ``now_ms`` (0 when unknown)."""
    value = store.get(MASS + item)
    if value is None or value["m"] is None:
        return 0.0
    return value_at(value["m"], now_ms, cfg.half_life_ms)


def neighbours(store: Store, item: str, now_ms: int, cfg: ModelConfig) -> list[tuple[str, float]]:
    """Up to ``neighbours_per_item`` ``(neighbour, decayed co-occurrence)``, weight desc then id asc."""
    row = store.get(ROW + item)
    if row is None:
        return []
    return top_by_weight(row["nb"], now_ms, cfg.half_life_ms, cfg.neighbours_per_item)


def similar_items(store: Store, item: str, now_ms: int, cfg: ModelConfig,
                  n: int | None = None, masses: dict[str, float] | None = None) -> list[tuple[str, float]]:
    """Cosine ``co(i, j) / sqrt(n_i * n_j)`` for the item's neighbours, similarity desc then id asc.

    Reads the ``n`` heaviest neighbours by co-occurrence (default ``neighbours_per_item``). ``masses``:
    a cache of decayed masses at ``now_ms`` the caller shares between calls (filled here).
    """
    if masses is None:
        masses = {}
    n_i = masses.get(item)
    if n_i is None:
        n_i = masses[item] = _mass(store, item, now_ms, cfg.half_life_ms)
    if n_i <= 0:
        return []
    row = store.get(ROW + item)
    if row is None:
        return []
    hl = cfg.half_life_ms
    limit = cfg.neighbours_per_item if n is None else min(n, cfg.neighbours_per_item)
    out = []
    for neg_co, j in top_decayed(row["nb"], now_ms, hl, limit):
        if neg_co >= 0:
            continue
        n_j = masses.get(j)
        if n_j is None:
            n_j = masses[j] = _mass(store, j, now_ms, hl)
        if n_j > 0:
            out.append((neg_co / math.sqrt(n_i * n_j), j))  # -(co / ...) exactly: IEEE division is odd
    out.sort()
    return [(j, -s) for s, j in out]


def _mass(store: Store, item: str, now_ms: int, half_life_ms: int) -> float:
    """:func:`mass`, 0.0 when unknown (same arithmetic, fewer lookups)."""
    value = store.get(MASS + item)
    if value is None or value["m"] is None:
        return 0.0
    w, t = value["m"]
    return w if now_ms <= t else w * 2.0 ** (-(now_ms - t) / half_life_ms)
