"""User-user collaborative filtering: cosine similarity of users' item-preference vectors.

Key ``iu:<item>`` = ``{"u": {user: last_ts}, "a": {...}}``: the users of this partition who acted positively on
the item most recently (<= 2 * users_per_item, pruned to the latest ``users_per_item``). Candidate neighbours
of a user are the users found under their items; vectors come from ``user_state.item_scores``.
"""

from __future__ import annotations

import math
from collections import Counter

from ._state import APPLIED, Store, already_applied, best_first, copy_value, mark_applied
from .config import ModelConfig
from .interactions import Interaction
from .user_state import profile, profile_scores

INDEX = "iu:"


def update(store: Store, it: Interaction, cfg: ModelConfig) -> bool:
    """Index the user under the item for a positive interaction; False if skipped or already applied."""
    if cfg.weight(it.kind, it.stars) <= 0:
        return False
    k = INDEX + it.item_id
    value = store.get(k)
    pos = it.pos
    if value is None:
        value = {"u": {}, APPLIED: {}}
    elif already_applied(value, it.source, pos):
        return False
    else:
        value = copy_value(value, "u")
    users = value["u"]
    users[it.user_id] = max(users.get(it.user_id, it.ts_ms), it.ts_ms)
    if len(users) > 2 * cfg.users_per_item:
        latest = sorted(users.items(), key=lambda kv: (-kv[1], kv[0]))[: cfg.users_per_item]
        value["u"] = dict(latest)
    mark_applied(value, it.source, pos)
    store[k] = value
    return True


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine of two sparse vectors (0 when either is zero)."""
    if len(b) < len(a):
        a, b = b, a
    dot = sum(w * b[i] for i, w in a.items() if i in b)
    if dot == 0:
        return 0.0
    na = math.sqrt(sum(w * w for w in a.values()))
    nb = math.sqrt(sum(w * w for w in b.values()))
    return dot / (na * nb)


def _scores(store: Store, user: str) -> dict[str, float]:
    prof = profile(store, user)
    return {} if prof is None else profile_scores(prof)


def vector(store: Store, user: str) -> dict[str, float]:
    """The user's preference per item (``user_state.item_scores``), zeros dropped."""
    return {i: w for i, w in _scores(store, user).items() if w != 0}


def _similar(store: Store, user: str, mine: dict[str, float], cfg: ModelConfig,
             k: int) -> list[tuple[str, float, dict[str, float]]]:
    """``(user, cosine > 0, their scores)`` of the ``k`` most similar users; see :func:`similar_users`."""
    overlap: Counter[str] = Counter()
    get = store.get
    for item, w in mine.items():
        if w > 0:
            idx = get(INDEX + item)
            if idx is not None:
                overlap.update(idx["u"].keys())  # a keys view counts in C
    overlap.pop(user, None)
    if not overlap:
        return []
    pool = best_first(overlap, cfg.cf_candidate_users)
    norm_mine = _norm(mine)
    sims = []
    for _, v in pool:
        theirs = _scores(store, v)
        a, b = (theirs, mine) if len(theirs) < len(mine) else (mine, theirs)
        dot = 0.0
        for i, w in a.items():
            x = b.get(i)
            if x is not None:
                dot += w * x
        if dot > 0:
            sims.append((-dot / (norm_mine * _norm(theirs)), v, theirs))
    sims.sort(key=lambda t: (t[0], t[1]))
    return [(v, -s, theirs) for s, v, theirs in sims[:k]]


def _norm(scores: dict[str, float]) -> float:
    """``sqrt(sum w^2)`` of a stored score dict, remembered per dict object (stored values never change)."""
    found = _NORMS.get(id(scores))
    if found is not None and found[0] is scores:
        return found[1]
    norm = math.sqrt(sum(w * w for w in scores.values()))
    if len(_NORMS) >= 8192:
        del _NORMS[next(iter(_NORMS))]
    _NORMS[id(scores)] = (scores, norm)
    return norm


_NORMS: dict[int, tuple[dict[str, float], float]] = {}  # holds the dict, so its id is not reused while here


def similar_users(store: Store, user: str, now_ms: int, cfg: ModelConfig, k: int = 20) -> list[tuple[str, float]]:
    """Up to ``k`` ``(user, cosine > 0)``, similarity desc then user id asc.

    Reads at most ``cf_candidate_users`` other profiles: those sharing the most positive items with ``user``
    (ties: user id asc). ``now_ms`` is accepted for a uniform signature; vectors are not decayed.
    """
    return [(v, s) for v, s, _ in _similar(store, user, vector(store, user), cfg, k)]


def candidates(store: Store, user: str, now_ms: int, cfg: ModelConfig,
               mine: dict[str, float] | None = None) -> list[tuple[str, float]]:
    """Items liked by similar users that ``user`` has not interacted with.

    Score = ``sum_v sim(u, v) * r_v(item)`` over similar users ``v`` with ``r_v(item) > 0`` (so agreement
    counts); best first (score desc, item asc), at most ``candidates_per_source``. ``mine``: the user's
    ``item_scores`` when the caller already has them.
    """
    if mine is None:
        mine = _scores(store, user)
    scores: dict[str, float] = {}
    for _, sim, theirs in _similar(store, user, mine, cfg, cfg.similar_users):
        for item, r in theirs.items():
            if r > 0 and item not in mine:
                scores[item] = scores.get(item, 0.0) + sim * r
    return [(i, -s) for s, i in best_first(scores, cfg.candidates_per_source)]
