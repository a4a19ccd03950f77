"""One call that feeds an interaction to every statistic, and the periodic sweep that enforces key caps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import cooccurrence, social, trending, user_cf, user_state
from ._state import Store, value_at
from .config import ModelConfig
from .interactions import Interaction


def learn_one(store: Store, it: Interaction, cfg: ModelConfig) -> int:
    """Apply ``it`` to the profile, co-occurrence, trending and user-CF index; returns keys written.

    Every key checks its own replay position, so after a crash that wrote some keys and not others,
    replaying the event completes the rest and changes nothing already done (0 when fully applied).
    """
    history = user_state.history_before(store, it.user_id, it.source, it.offset, it.ts_ms, it.line)
    written = int(user_state.apply_interaction(store, it, cfg))
    written += cooccurrence.update(store, it, history, cfg)
    written += trending.update(store, it, cfg)
    written += user_cf.update(store, it, cfg)
    return written


@dataclass(frozen=True, slots=True)
class SweepStats:
    users_removed: int
    items_removed: int
    user_keys_removed: int = 0  # recent recommendations, followers, influence (expire_user_keys)
    forgotten: tuple[str, ...] = ()  # users whose recent recommendations went: their served list can go too


_ITEM_PREFIXES = (cooccurrence.MASS, trending.ITEM, cooccurrence.ROW, user_cf.INDEX)


def expire_items(store: Store, now_ms: int, cfg: ModelConfig) -> list[str]:
    """Forget items whose decayed mass fell under ``min_mass``, then the lightest over ``max_items_tracked``.

    An item's mass is its co-occurrence mass (``n:``) plus its popularity (``p:``), decayed to ``now_ms``;
    forgetting deletes its ``n:``, ``p:``, ``c:`` and ``iu:`` keys (neighbour rows pointing at it decay out).
    Scans the store; call it on a timer. Returns the removed items, sorted.
    """
    masses: dict[str, float] = {}
    for k in list(store):
        if k.startswith(cooccurrence.MASS):
            v = store[k]["m"]
            item = k[len(cooccurrence.MASS):]
            masses[item] = masses.get(item, 0.0) + (value_at(v, now_ms, cfg.half_life_ms) if v else 0.0)
        elif k.startswith(trending.ITEM):
            v = store[k]["t"]
            item = k[len(trending.ITEM):]
            masses[item] = masses.get(item, 0.0) + (value_at(v, now_ms, cfg.trending_half_life_ms) if v else 0.0)
        elif k.startswith(cooccurrence.ROW) or k.startswith(user_cf.INDEX):  # orphans count as mass 0
            masses.setdefault(k[k.index(":") + 1:], 0.0)
    drop = {i for i, m in masses.items() if m < cfg.min_mass}
    alive = sorted((m, i) for i, m in masses.items() if i not in drop)
    if len(alive) > cfg.max_items_tracked:
        drop.update(i for _, i in alive[: len(alive) - cfg.max_items_tracked])
    for item in drop:
        for prefix in _ITEM_PREFIXES:
            store.pop(prefix + item, None)
    return sorted(drop)


# A user's keys beside the profile, and how each tells its last update.
_USER_KEYS: dict[str, Callable[[Any], int]] = {
    user_state.RECENT_RECS: lambda v: max((r[2] for r in v), default=-1),
    social.FOLLOWERS: lambda v: max(v["f"].values(), default=-1),
    social.INFLUENCE: lambda v: v.get("ts", -1),
}


def expire_user_keys(store: Store, now_ms: int, cfg: ModelConfig) -> tuple[int, list[str]]:
    """Drop a user's recent recommendations, follower list and influence once they outlive the user.

    Recent recommendations go with the profile. Followers and influence are written by other users'
    events, so a user who never acts (only followed, say) has them without a profile: those go when
    their own last update is older than ``user_ttl_ms``. Beyond ``max_users_tracked`` keys of a kind,
    the least recently updated go too. Returns (keys removed, users whose recent recommendations went).
    """
    profiles = set()
    found: dict[str, list[str]] = {prefix: [] for prefix in _USER_KEYS}
    for k in store:
        if k.startswith(user_state.PREFIX):
            profiles.add(k[len(user_state.PREFIX):])
        else:
            for prefix in _USER_KEYS:
                if k.startswith(prefix):
                    found[prefix].append(k)
                    break
    cutoff = now_ms - cfg.user_ttl_ms
    removed = 0
    forgotten: list[str] = []
    for prefix, keys in found.items():
        last_update = _USER_KEYS[prefix]
        # Values are read only where needed (a sweep may cover most of a partition's users).
        orphans = [k for k in keys if k[len(prefix):] not in profiles]
        if prefix == user_state.RECENT_RECS:
            drop = set(orphans)
        else:
            drop = {k for k in orphans if last_update(store[k]) < cutoff}
        over = len(keys) - len(drop) - cfg.max_users_tracked
        if over > 0:
            drop.update(k for _, k in sorted((last_update(store[k]), k) for k in keys if k not in drop)[:over])
        for k in sorted(drop):
            del store[k]
            if prefix == user_state.RECENT_RECS:
                forgotten.append(k[len(prefix):])
        removed += len(drop)
    return removed, forgotten


def sweep(store: Store, now_ms: int, cfg: ModelConfig) -> SweepStats:
    """``expire_users``, ``expire_user_keys``, ``expire_items``: what keeps the key count within the caps."""
    users = user_state.expire_users(store, now_ms, cfg)
    user_keys, forgotten = expire_user_keys(store, now_ms, cfg)
    items = expire_items(store, now_ms, cfg)
    return SweepStats(len(users), len(items), user_keys, tuple(forgotten))
