"""User-user collaborative filtering: cosine similarity of users' item-preference vectors.

Key ``iu:<item>`` = ``{"u": {user: last_ts}, "a": {...}}``: the users of this partition who acted positively on
the item most recently (<= 2 * users_per_item, pruned to the latest ``users_per_item``). Candidate neighbours
of a user are the users found under their items; vectors come from ``user_state.item_scores``.
"""

from __future__ import annotations

import math
from collections import Counter

from ._state import APPLIED, Store, already_applied, mark_applied
from .config import ModelConfig
from .interactions import Interaction
from .user_state import item_scores, profile

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


def vector(store: Store, user: str) -> dict[str, float]:
    """The user's preference per item (``user_state.item_scores``), zeros dropped."""
    prof = profile(store, user)
    if prof is None:
        return {}
    return {i: w for i, w in item_scores(prof["h"]).items() if w != 0}


def similar_users(store: Store, user: str, now_ms: int, cfg: ModelConfig, k: int = 20,
                  _vectors: dict[str, dict[str, float]] | None = None) -> list[tuple[str, float]]:
    """Up to ``k`` ``(user, cosine > 0)``, similarity desc then user id asc.

    Reads at most ``cf_candidate_users`` other profiles: those sharing the most positive items with ``user``.
    ``now_ms`` is accepted for a uniform signature; vectors are not decayed.
    """
    mine = vector(store, user)
    overlap: Counter[str] = Counter()
    for item, w in mine.items():
        if w <= 0:
            continue
        idx = store.get(INDEX + item)
        if idx is not None:
            overlap.update(u for u in idx["u"] if u != user)
    if not overlap:
        return []
    pool = sorted(overlap.items(), key=lambda kv: (-kv[1], kv[0]))[: cfg.cf_candidate_users]
    vectors = {} if _vectors is None else _vectors
    for v, _ in pool:
        vectors[v] = vector(store, v)
    sims = [(v, cosine(mine, vectors[v])) for v, _ in pool]
    sims = [(v, s) for v, s in sims if s > 0]
    sims.sort(key=lambda kv: (-kv[1], kv[0]))
    return sims[:k]


def candidates(store: Store, user: str, now_ms: int, cfg: ModelConfig) -> list[tuple[str, float]]:
    """Items liked by similar users that ``user`` has not interacted with.

    Score = ``sum_v sim(u, v) * r_v(item)`` over similar users ``v`` with ``r_v(item) > 0`` (so agreement
    counts); best first (score desc, item asc), at most ``candidates_per_source``.
    """
    prof = profile(store, user)
    seen = {e[0] for e in prof["h"]} if prof else set()
    scores: dict[str, float] = {}
    vectors: dict[str, dict[str, float]] = {}
    for v, sim in similar_users(store, user, now_ms, cfg, cfg.similar_users, vectors):
        for item, r in vectors[v].items():
            if r > 0 and item not in seen:
                scores[item] = scores.get(item, 0.0) + sim * r
    out = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return out[: cfg.candidates_per_source]
