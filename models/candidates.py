"""Candidate generation: every source proposes items with a score and a human explanation.

Sources: ``item_cf`` (cosine neighbours of the user's recent items), ``user_cf`` (items of similar users),
``social`` (the user's social feed), ``trending`` (the user's categories, then global), ``content`` (same
category or shared tags as a recent item, drawn from that category's trending pool) and ``popular`` (in-stock
catalogue items, only when the others find fewer than ``k``). Each source's scores are divided by its best
score and multiplied by ``cfg.source_weights[source]``, so scores are comparable across sources.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice

from . import cooccurrence, trending, user_cf
from ._state import Store
from .config import ModelConfig
from .interactions import ItemInfo
from .user_state import ITEM, item_scores, profile


@dataclass(frozen=True, slots=True)
class Candidate:
    item_id: str
    source: str
    score: float
    explanation: str


def _title(catalogue: Mapping[str, ItemInfo], item: str) -> str:
    info = catalogue.get(item)
    return info.title if info is not None and info.title else item


def _people(n: int, verb: str) -> str:
    return f"{n} {'person' if n == 1 else 'people'} you follow {verb} this"


def _normalise(source: str, scored: dict[str, tuple[float, str]], cfg: ModelConfig) -> list[Candidate]:
    """Best ``candidates_per_source`` of ``{item: (raw score, explanation)}``, scaled to the source weight."""
    ranked = sorted(((i, s, e) for i, (s, e) in scored.items() if s > 0), key=lambda t: (-t[1], t[0]))
    ranked = ranked[: cfg.candidates_per_source]
    if not ranked:
        return []
    scale = cfg.source_weights.get(source, 0.0) / ranked[0][1]
    return [Candidate(i, source, s * scale, e) for i, s, e in ranked]


def _item_cf(store: Store, catalogue: Mapping[str, ItemInfo], seeds: list[tuple[str, float]], seen: set[str],
             now_ms: int, cfg: ModelConfig) -> dict[str, tuple[float, str]]:
    total: dict[str, float] = {}
    best: dict[str, tuple[float, str]] = {}  # strongest anchor per item
    for x, r in seeds:
        for j, sim in cooccurrence.similar_items(store, x, now_ms, cfg):
            if j in seen:
                continue
            c = sim * r
            total[j] = total.get(j, 0.0) + c
            if j not in best or c > best[j][0] or (c == best[j][0] and x < best[j][1]):
                best[j] = (c, x)
    return {j: (s, f"viewed together with {_title(catalogue, best[j][1])}") for j, s in total.items()}


def _social(prof: dict, seen: set[str]) -> dict[str, tuple[float, str]]:
    out = {}
    for item, sigs in prof["s"].items():
        if item in seen:
            continue
        bought = len({s[0] for s in sigs if s[1] == "bought"})
        shared = len({s[0] for s in sigs if s[1] == "shared"})
        text = _people(bought, "bought") if bought else _people(shared, "shared")
        out[item] = (2.0 * bought + shared, text)
    return out


def _categories(catalogue: Mapping[str, ItemInfo], items: list[str], n: int = 2) -> list[str]:
    counts = Counter(info.category for i in items if (info := catalogue.get(i)) is not None and info.category)
    return [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def _trending(store: Store, categories: list[str], seen: set[str], now_ms: int,
              cfg: ModelConfig) -> dict[str, tuple[float, str]]:
    out: dict[str, tuple[float, str]] = {}
    lists = [(c, f"trending in {c}") for c in categories] + [(None, "trending now")]
    for cat, text in lists:
        for item, w in trending.trending(store, cat, now_ms, cfg.candidates_per_source, cfg):
            if item not in seen and item not in out:
                out[item] = (w, text)
    return out


def _content(store: Store, catalogue: Mapping[str, ItemInfo], seeds: list[tuple[str, float]], seen: set[str],
             now_ms: int, cfg: ModelConfig) -> dict[str, tuple[float, str]]:
    out: dict[str, tuple[float, str]] = {}
    pools: dict[str, list[str]] = {}
    for x, _ in seeds:
        info = catalogue.get(x)
        if info is None or not info.category:
            continue
        tags = set(info.tags)
        pool = pools.get(info.category)
        if pool is None:
            value = store.get(trending.list_key(info.category))
            pool = pools[info.category] = sorted(value["e"]) if value else []
        for j in pool:
            other = catalogue.get(j)
            if j in seen or other is None:
                continue
            union = tags | set(other.tags)
            score = 0.5 + (len(tags & set(other.tags)) / len(union) if union else 0.0)
            if j not in out or score > out[j][0]:
                out[j] = (score, f"similar to {_title(catalogue, x)} you viewed")
    return out


def _popular(catalogue: Mapping[str, ItemInfo], seen: set[str], n: int) -> dict[str, tuple[float, str]]:
    picks = islice((i for i, info in catalogue.items() if info.in_stock and i not in seen), n)
    return {item: (1.0 / (rank + 1), "popular") for rank, item in enumerate(picks)}


def generate(store: Store, catalogue: Mapping[str, ItemInfo], user: str, now_ms: int,
             cfg: ModelConfig) -> list[Candidate]:
    """Candidates from every source, best first (score desc, item asc, source asc); may repeat an item.

    Items the user already interacted with are left out. A user without history gets trending items.
    """
    prof = profile(store, user)
    hist = prof["h"] if prof else []
    seen = {e[ITEM] for e in hist}
    scores = item_scores(hist)
    seeds: list[tuple[str, float]] = []
    for e in reversed(hist):
        x = e[ITEM]
        if scores.get(x, 0.0) > 0 and all(x != s for s, _ in seeds):
            seeds.append((x, scores[x]))
            if len(seeds) == cfg.seed_items:
                break
    found: list[Candidate] = []
    if seeds:
        found += _normalise("item_cf", _item_cf(store, catalogue, seeds, seen, now_ms, cfg), cfg)
        found += _normalise("user_cf", {i: (s, "people with similar taste liked this")
                                        for i, s in user_cf.candidates(store, user, now_ms, cfg)}, cfg)
        found += _normalise("content", _content(store, catalogue, seeds, seen, now_ms, cfg), cfg)
    if prof:
        found += _normalise("social", _social(prof, seen), cfg)
    cats = _categories(catalogue, [x for x, _ in seeds])
    found += _normalise("trending", _trending(store, cats, seen, now_ms, cfg), cfg)
    if len({c.item_id for c in found}) < cfg.k:
        found += _normalise("popular", _popular(catalogue, seen, cfg.candidates_per_source), cfg)
    found.sort(key=lambda c: (-c.score, c.item_id, c.source))
    return found
