"""Per-user profile at key ``u:<user>``: bounded history, purchases, follows, social feed, referrals.

Updates copy the profile and the containers they change (never in place). Value layout (plain lists and
dicts, so any serializer works)::

    {"h": [[item, kind, weight, ts, source, pos], ...]   # sorted by (ts, source, pos), <= history_len
     "v": {item: score}                                 # item_scores(h), kept on write (absent in old values)
     "p": [item, ...]                                   # purchased, most recent last, <= max_purchased
     "sn": {item: ts}                                   # every item acted on, <= 2*max_seen (absent in old values)
     "seen": last event ts, "rec": last recommendation ts,
     "f": {followee: ts}                                # <= max_follows
     "s": {item: [[followee, kind, ts], ...]}           # social feed, <= 2*social_items x social_per_item
     "r": {item: [sharer, ts]}                          # items reached via a share, <= 2*max_referrals
     "a": {source: pos}}                                # replay positions
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

from ._state import APPLIED, Store, already_applied, copy_value, mark_applied
from .config import ModelConfig
from .interactions import Interaction, position

PREFIX = "u:"
# A user's last few recommendations ``[[id, [[item, source], ...], event_ts], ...]``: purchase attribution
# and live quality read them (written by the engine, expired with the profile by ``learn.sweep``).
RECENT_RECS = "rr:"

SCORES = "v"  # item_scores of the history, maintained on write so readers need not recompute it
SEEN = "sn"  # items acted on, longer than the history: recommendations leave them out

# Indexes into a history entry.
ITEM, KIND, WEIGHT, TS, SOURCE, POS = range(6)


def key(user: str) -> str:
    return PREFIX + user


def new_profile() -> dict[str, Any]:
    return {"h": [], SCORES: {}, "p": [], SEEN: {}, "seen": 0, "rec": None, "f": {}, "s": {}, "r": {}, APPLIED: {}}


def profile(store: Store, user: str) -> dict[str, Any] | None:
    """The stored profile (read-only: do not mutate), or None."""
    return store.get(key(user))


def _order(entry: list) -> tuple[int, str, int]:
    return (entry[TS], entry[SOURCE], entry[POS])


def apply_interaction(store: Store, it: Interaction, cfg: ModelConfig) -> bool:
    """Add ``it`` to the user's profile; False (and no change) when its position is already applied."""
    k = PREFIX + it.user_id
    stored = store.get(k)
    pos = it.pos
    source = it.source
    if stored is None:
        prof = new_profile()
    elif stored[APPLIED].get(source, -1) >= pos:
        return False
    else:
        prof = copy_value(stored, "h")
    ts = it.ts_ms
    item = it.item_id
    entry = [item, it.kind, cfg.weight(it.kind, it.stars), ts, source, pos]
    hist = prof["h"]
    order = (ts, source, pos)
    if not hist or _order(hist[-1]) <= order:
        hist.append(entry)
    else:  # late event: insert in order (rare, history is short)
        i = len(hist)
        while i > 0 and _order(hist[i - 1]) > order:
            i -= 1
        hist.insert(i, entry)
    changed = {item}
    if len(hist) > cfg.history_len:
        changed.update(e[ITEM] for e in hist[: len(hist) - cfg.history_len])
        del hist[: len(hist) - cfg.history_len]
    prof[SCORES] = _rescore(prof.get(SCORES), hist, changed)
    prof[SEEN] = _add_seen(prof.get(SEEN), item, ts, cfg.max_seen)
    if it.kind == "purchase":
        bought = prof["p"] = list(prof["p"])
        if item in bought:
            bought.remove(item)
        bought.append(item)
        if len(bought) > cfg.max_purchased:
            del bought[: len(bought) - cfg.max_purchased]
    if it.shared_by and it.shared_by != it.user_id:
        refs = prof["r"] = dict(prof["r"])
        refs[item] = [it.shared_by, ts]
        if len(refs) > 2 * cfg.max_referrals:
            keep = sorted(refs.items(), key=lambda kv: (-kv[1][1], kv[0]))[: cfg.max_referrals]
            prof["r"] = dict(keep)
    prof["seen"] = max(prof["seen"], ts)
    prof[APPLIED][source] = pos
    store[k] = prof
    return True


def _add_seen(seen: dict[str, int] | None, item: str, ts: int, cap: int) -> dict[str, int]:
    """A copy of ``seen`` with ``item`` at ``max(ts, its ts)``; over ``2 * cap`` it keeps the ``cap`` latest."""
    out = {} if seen is None else seen.copy()
    out[item] = max(ts, out.get(item, ts))
    if len(out) > 2 * cap:
        out = dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))[:cap])
    return out


def seen_items(prof: dict[str, Any]) -> Container[str]:
    """Items the user acted on: the history's and the older ones in ``SEEN`` (read-only: do not mutate)."""
    scores = profile_scores(prof)
    older = prof.get(SEEN)
    # One set per list: candidate sources test a few hundred items against it, and a union built in C
    # costs less than that many calls to a Python ``__contains__`` over the two dicts.
    return scores if not older else scores.keys() | older.keys()


def _rescore(scores: dict[str, float] | None, hist: list[list], changed: set[str]) -> dict[str, float]:
    """``item_scores(hist)`` given the scores before ``changed`` items gained or lost entries."""
    if scores is None:
        return item_scores(hist)
    out = scores.copy()
    for i in changed:
        out.pop(i, None)
    out.update(item_scores([e for e in hist if e[ITEM] in changed] if len(changed) > 1 else
                           [e for e in hist if e[ITEM] == next(iter(changed))]))
    return out


def history_before(store: Store, user: str, source: str, offset: int, ts_ms: int | None = None,
                   line: int = 0) -> list[list]:
    """History entries that precede the event at ``(source, offset, line)``.

    With ``ts_ms`` this is every entry ordered before ``(ts_ms, source, pos)``; without it, every entry
    except those of ``source`` at or after that position. The result is a new list of the stored entries.
    """
    prof = store.get(key(user))
    if prof is None:
        return []
    pos = position(offset, line)
    if ts_ms is not None:
        return before(prof["h"], (ts_ms, source, pos))
    return [e for e in prof["h"] if not (e[SOURCE] == source and e[POS] >= pos)]


def before(history: list[list], order: tuple[int, str, int]) -> list[list]:
    """The prefix of a sorted ``history`` ordered strictly before ``order`` (scans back from the end)."""
    i = len(history)
    while i > 0 and _order(history[i - 1]) >= order:
        i -= 1
    return history[:i]


def item_scores(history: Iterable[list]) -> dict[str, float]:
    """The user's preference per item: their latest review's weight if any, else their strongest action."""
    scores: dict[str, float] = {}
    reviewed: set[str] | None = None
    for e in history:  # in event order, so the latest review wins
        item = e[ITEM]
        if e[KIND] == "review":
            scores[item] = e[WEIGHT]
            if reviewed is None:
                reviewed = set()
            reviewed.add(item)
        else:
            w = e[WEIGHT]
            old = scores.get(item)
            if old is None or (w > old and (reviewed is None or item not in reviewed)):
                scores[item] = w
    return scores


def profile_scores(prof: dict[str, Any]) -> dict[str, float]:
    """``item_scores`` of the profile's history, kept up to date in the profile (read-only: do not mutate)."""
    scores = prof.get(SCORES)
    return item_scores(prof["h"]) if scores is None else scores


def purchased(store: Store, user: str) -> frozenset[str]:
    prof = store.get(key(user))
    return frozenset(prof["p"]) if prof else frozenset()


def apply_follow(store: Store, user: str, target: str, follow: bool, ts: int, source: str, offset: int,
                 cfg: ModelConfig) -> bool:
    """Follow or unfollow ``target``; False when already applied or a self-follow."""
    if user == target:
        return False
    k = key(user)
    prof = store.get(k)
    pos = position(offset)
    if prof is None:
        prof = new_profile()
    elif already_applied(prof, source, pos):
        return False
    else:
        prof = copy_value(prof, "f")
    follows = prof["f"]
    if follow:
        follows[target] = ts
        if len(follows) > cfg.max_follows:  # drop the oldest follow
            oldest = min(follows.items(), key=lambda kv: (kv[1], kv[0]))[0]
            del follows[oldest]
    else:
        follows.pop(target, None)
        prof["s"] = {i: [s for s in sigs if s[0] != target] for i, sigs in prof["s"].items()}
        prof["s"] = {i: sigs for i, sigs in prof["s"].items() if sigs}
    prof["seen"] = max(prof["seen"], ts)
    mark_applied(prof, source, pos)
    store[k] = prof
    return True


def follows(store: Store, user: str) -> list[str]:
    prof = store.get(key(user))
    return sorted(prof["f"]) if prof else []


def add_social_signal(store: Store, user: str, item: str, followee: str, kind: str, ts: int, source: str,
                      offset: int, cfg: ModelConfig) -> bool:
    """Record that ``followee`` (someone ``user`` follows) did ``kind`` ("bought"/"shared") to ``item``.

    Ignored (False) when already applied or when ``user`` does not follow ``followee``.
    """
    k = key(user)
    prof = store.get(k)
    pos = position(offset)
    if prof is None or already_applied(prof, source, pos) or followee not in prof["f"]:
        return False
    prof = copy_value(prof, "s")
    feed = prof["s"]
    sigs = [s for s in feed.get(item, []) if not (s[0] == followee and s[1] == kind)]
    sigs.append([followee, kind, ts])
    if len(sigs) > cfg.social_per_item:
        sigs.sort(key=lambda s: (-s[2], s[0], s[1]))
        sigs = sigs[: cfg.social_per_item]
    feed[item] = sigs
    if len(feed) > 2 * cfg.social_items:
        latest = sorted(feed.items(), key=lambda kv: (-max(s[2] for s in kv[1]), kv[0]))[: cfg.social_items]
        prof["s"] = dict(latest)
    mark_applied(prof, source, pos)
    store[k] = prof
    return True


def referrer(store: Store, user: str, item: str, ts: int, cfg: ModelConfig) -> str | None:
    """Who shared ``item`` that ``user`` then clicked within the attribution window before ``ts``."""
    prof = store.get(key(user))
    if prof is None:
        return None
    ref = prof["r"].get(item)
    if ref is None or not 0 <= ts - ref[1] <= cfg.attribution_window_ms:
        return None
    return ref[0]


def should_recommend(store: Store, user: str, event_ts: int, cfg: ModelConfig) -> bool:
    """False while the last recommendation for ``user`` is less than ``debounce_ms`` (event time) old."""
    prof = store.get(key(user))
    last = prof.get("rec") if prof else None
    return last is None or event_ts - last >= cfg.debounce_ms or event_ts < last


def ever_recommended(store: Store, user: str) -> bool:
    """True once a recommendation has been made for ``user`` (until the user's state expires)."""
    prof = store.get(key(user))
    return prof is not None and prof.get("rec") is not None


def mark_recommended(store: Store, user: str, event_ts: int) -> None:
    """Remember that a recommendation for ``user`` was made at ``event_ts`` (event time)."""
    k = key(user)
    prof = store.get(k)
    prof = new_profile() if prof is None else dict(prof)
    prof["rec"] = event_ts if prof.get("rec") is None else max(prof["rec"], event_ts)
    store[k] = prof


def expire_users(store: Store, now_ms: int, cfg: ModelConfig) -> list[str]:
    """Delete profiles idle over ``user_ttl_ms``, then the least recently seen over ``max_users_tracked``.

    Scans the ``u:`` keys (call it on a timer, not per event); returns the removed users, sorted.
    """
    seen = [(store[k]["seen"], k) for k in [k for k in store if k.startswith(PREFIX)]]
    cutoff = now_ms - cfg.user_ttl_ms
    drop = [k for s, k in seen if s < cutoff]
    alive = sorted((s, k) for s, k in seen if s >= cutoff)
    if len(alive) > cfg.max_users_tracked:
        drop.extend(k for _, k in alive[: len(alive) - cfg.max_users_tracked])
    for k in drop:
        del store[k]
    return sorted(k[len(PREFIX):] for k in drop)
