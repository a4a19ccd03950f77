"""Social graph state and sharer influence.

Keys: ``fo:<user>`` = ``{"f": {follower: ts}, "a": {...}}`` (<= max_follows; the reverse of ``u:<user>["f"]``,
kept on the followee's partition so its purchases and shares can be fanned out), and ``inf:<user>`` =
``{"shares": n, "clicks": n, "purchases": n, "a": {...}}`` counted on the sharer's partition.

Influence is smoothed so that a new sharer starts at the prior (1 click per 2 shares) and one lucky share
does not dominate: ``(clicks + 3 * purchases + 1) / (shares + 2)``.
"""

from __future__ import annotations

from ._state import APPLIED, Store, already_applied, copy_value, mark_applied
from .config import ModelConfig
from .interactions import position
from .user_state import add_social_signal, apply_follow, follows

__all__ = [
    "add_social_signal",
    "apply_follow",
    "apply_follower",
    "followers",
    "follows",
    "influence",
    "record_share",
    "record_share_click",
    "record_share_purchase",
]

FOLLOWERS = "fo:"
INFLUENCE = "inf:"
PURCHASE_WEIGHT = 3.0


def apply_follower(store: Store, followee: str, follower: str, follow: bool, ts: int, source: str, offset: int,
                   cfg: ModelConfig) -> bool:
    """Add or remove ``follower`` on ``followee``'s follower list; beyond ``max_follows`` the oldest goes."""
    if followee == follower:
        return False
    k = FOLLOWERS + followee
    value = store.get(k)
    pos = position(offset)
    if value is None:
        value = {"f": {}, APPLIED: {}}
    elif already_applied(value, source, pos):
        return False
    else:
        value = copy_value(value, "f")
    fs = value["f"]
    if follow:
        fs[follower] = ts
        if len(fs) > cfg.max_follows:
            del fs[min(fs.items(), key=lambda kv: (kv[1], kv[0]))[0]]
    else:
        fs.pop(follower, None)
    mark_applied(value, source, pos)
    store[k] = value
    return True


def followers(store: Store, user: str) -> list[str]:
    """Known followers of ``user`` on this partition, sorted."""
    value = store.get(FOLLOWERS + user)
    return sorted(value["f"]) if value else []


def _count(store: Store, user: str, field: str, source: str, offset: int, ts: int) -> bool:
    k = INFLUENCE + user
    value = store.get(k)
    pos = position(offset)
    if value is None:
        value = {"shares": 0, "clicks": 0, "purchases": 0, "ts": ts, APPLIED: {}}
    elif already_applied(value, source, pos):
        return False
    else:
        value = copy_value(value)
    value[field] += 1
    value["ts"] = max(value.get("ts", ts), ts)  # last update: how the sweep ages it (learn.py)
    mark_applied(value, source, pos)
    store[k] = value
    return True


def record_share(store: Store, user: str, ts: int, source: str, offset: int) -> bool:
    """Count one share by ``user`` at event time ``ts``."""
    return _count(store, user, "shares", source, offset, ts)


def record_share_click(store: Store, user: str, ts: int, source: str, offset: int) -> bool:
    """Count one click that came through a share by ``user`` (``ClickSource.shared_by``)."""
    return _count(store, user, "clicks", source, offset, ts)


def record_share_purchase(store: Store, user: str, ts: int, source: str, offset: int) -> bool:
    """Count one purchase attributed to a share by ``user`` (see ``user_state.referrer``)."""
    return _count(store, user, "purchases", source, offset, ts)


def influence(store: Store, user: str) -> float:
    """``(clicks + 3 * purchases + 1) / (shares + 2)``; 0.5 for an unknown user."""
    value = store.get(INFLUENCE + user)
    if value is None:
        return 0.5
    return (value["clicks"] + PURCHASE_WEIGHT * value["purchases"] + 1.0) / (value["shares"] + 2.0)
