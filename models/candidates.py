"""Candidate generation: every source proposes items with a score and a human explanation.

Sources: ``item_cf`` (cosine neighbours of the user's recent items), ``user_cf`` (items of similar users),
``social`` (the user's social feed), ``trending`` (the user's categories, then global), ``content`` (same
category or shared tags as a recent item, drawn from that category's trending pool) and ``popular`` (in-stock
catalogue items, only when the others find fewer than ``k``). Each source's scores are divided by its best
score and multiplied by ``cfg.source_weights[source]``, so scores are comparable across sources; a source
whose weight is 0 is not computed at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Container, Mapping
from itertools import islice
from typing import NamedTuple

from . import cooccurrence, taste, trending, user_cf
from ._state import Store, best_first
from .config import ModelConfig
from .interactions import ItemInfo
from .user_state import ITEM, profile, profile_scores, seen_items

Explain = str | Callable[[str], str]  # an explanation, or a function of the item id that writes it


class Candidate(NamedTuple):
    """A tuple, not a dataclass: a list builds a hundred or more of them, and tuples are made in C.

    ``explain`` is the explanation or the source's function that writes it: a list keeps ``k`` of its
    candidates, so only those are ever explained (read :attr:`explanation`).
    """

    item_id: str
    source: str
    score: float
    explain: Explain

    @property
    def explanation(self) -> str:
        explain = self.explain
        return explain if isinstance(explain, str) else explain(self.item_id)


_Scored = list[tuple[float, str, str, Explain]]  # (-score, item, source, explain): ascending = best first


def _title(catalogue: Mapping[str, ItemInfo], item: str) -> str:
    info = catalogue.get(item)
    return info.title if info is not None and info.title else item


def _people(n: int, verb: str) -> str:
    return f"{n} {'person' if n == 1 else 'people'} you follow {verb} this"


def _normalise(source: str, scored: dict[str, float], explain: Explain, cfg: ModelConfig) -> _Scored:
    """Best ``candidates_per_source`` of ``{item: raw score}``, scaled to the source weight.

    ``explain`` is kept, not called: one source proposes each item once, so sorting never compares it.
    """
    ranked = best_first(scored, cfg.candidates_per_source, positive=True)
    if not ranked:
        return []
    scale = cfg.source_weights.get(source, 0.0) / -ranked[0][0]
    return [(-(-s * scale), i, source, explain) for s, i in ranked]


def _item_cf(store: Store, catalogue: Mapping[str, ItemInfo], seeds: list[tuple[str, float]], seen: Container[str],
             now_ms: int, cfg: ModelConfig) -> _Scored:
    total: dict[str, float] = {}
    best: dict[str, tuple[float, str]] = {}  # strongest anchor per item
    masses: dict[str, float] = {}  # decayed item masses, shared by the seeds' reads
    for x, r in seeds:
        for j, sim in cooccurrence.similar_items(store, x, now_ms, cfg, cfg.item_cf_neighbours, masses):
            if j in seen:
                continue
            c = sim * r
            total[j] = total.get(j, 0.0) + c
            b = best.get(j)
            if b is None or c > b[0] or (c == b[0] and x < b[1]):
                best[j] = (c, x)
    return _normalise("item_cf", total,
                      lambda j: f"viewed together with {_title(catalogue, best[j][1])}", cfg)


def _social(prof: dict, seen: Container[str], cfg: ModelConfig) -> _Scored:
    scores: dict[str, float] = {}
    counts: dict[str, tuple[int, int]] = {}
    for item, sigs in prof["s"].items():
        if item in seen:
            continue
        bought = len({s[0] for s in sigs if s[1] == "bought"})
        shared = len({s[0] for s in sigs if s[1] == "shared"})
        scores[item] = 2.0 * bought + shared
        counts[item] = (bought, shared)

    def explain(item: str) -> str:
        bought, shared = counts[item]
        return _people(bought, "bought") if bought else _people(shared, "shared")

    return _normalise("social", scores, explain, cfg)


def _categories(catalogue: Mapping[str, ItemInfo], items: list[str], n: int = 2) -> list[str]:
    counts = Counter(info.category for i in items if (info := catalogue.get(i)) is not None and info.category)
    return [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


class _Trending:
    """Per-call reads of the trending lists, shared by the trending and content sources."""

    def __init__(self, store: Store, now_ms: int, cfg: ModelConfig) -> None:
        self.store, self.now_ms, self.cfg = store, now_ms, cfg
        self.n = max(cfg.candidates_per_source, cfg.content_pool)
        self.tops: dict[str | None, list[tuple[str, float]]] = {}

    def top(self, category: str | None, n: int) -> list[tuple[str, float]]:
        """The first ``n`` of ``trending.trending(...)`` for the category (global when None)."""
        found = self.tops.get(category)
        if found is None:
            found = self.tops[category] = trending.trending(self.store, category, self.now_ms, self.n, self.cfg)
        return found[:n]


def _trending(lists: _Trending, categories: list[str], seen: Container[str], cfg: ModelConfig) -> _Scored:
    scores: dict[str, float] = {}
    texts: dict[str, str] = {}
    sources = [(c, f"trending in {c}") for c in categories] + [(None, "trending now")]
    for cat, text in sources:
        for item, w in lists.top(cat, cfg.candidates_per_source):
            if item not in seen and item not in scores:
                scores[item] = w
                texts[item] = text
    return _normalise("trending", scores, texts.__getitem__, cfg)


def _taste(lists: _Trending, catalogue: Mapping[str, ItemInfo], hist: list[list], seen: Container[str],
           cfg: ModelConfig) -> _Scored:
    """Popular items of the user's categories and, through the pseudo-count, of every category (taste.py)."""
    counts = taste.affinity(hist, catalogue, cfg)
    scores: dict[str, float] = {}
    cats: dict[str, str] = {}
    terms: dict[str, tuple[float, float]] = {}  # taste.terms per category, read once per list

    def terms_of(category: str) -> tuple[float, float]:
        found = terms.get(category)
        if found is None:
            mass = trending.total(lists.store, category, lists.now_ms, cfg)
            if mass is None:  # a list stored before totals were kept: the popularity of its top items
                mass = sum(w for _, w in lists.top(category, lists.n))
            found = terms[category] = taste.terms(counts, category, mass, cfg)
        return found

    pools: list[tuple[str | None, list[tuple[str, float]]]] = [
        (c, lists.top(c, cfg.candidates_per_source)) for c in taste.top_categories(counts, cfg.taste_categories)]
    pools.append((None, lists.top(None, cfg.candidates_per_source)))
    for category, pool in pools:
        for item, w in pool:
            if item in seen or item in scores:
                continue
            if category is None:
                info = catalogue.get(item)
                cat = info.category if info is not None else ""
                if not cat:
                    continue
            else:
                cat = category
            affinity, mass = terms_of(cat)
            scores[item] = affinity * w / mass if mass > 0 else 0.0
            cats[item] = cat
    def explain(item: str) -> str:
        cat = cats[item]
        return f"popular in {cat}, which you like" if cat in counts else f"popular in {cat}"

    return _normalise("taste", scores, explain, cfg)


def _tagset(tags: tuple[str, ...]) -> frozenset[str]:
    found = _TAGSETS.get(tags)
    if found is None:
        if len(_TAGSETS) >= 65_536:
            _TAGSETS.clear()
        found = _TAGSETS[tags] = frozenset(tags)
    return found


_TAGSETS: dict[tuple[str, ...], frozenset[str]] = {}  # shared frozensets: their hashes are computed once


def _content(lists: _Trending, catalogue: Mapping[str, ItemInfo], seeds: list[tuple[str, float]],
             seen: Container[str], cfg: ModelConfig) -> _Scored:
    """The ``content_pool`` most popular items of each seed's category: ``0.5 + Jaccard(tags)``.

    The first seed with the best score explains.
    """
    # Seeds by category, in seed order; a seed with the category and tags of an earlier one scores
    # every item the same and loses ties, so it is skipped.
    by_category: dict[str, list[tuple[int, str, frozenset[str]]]] = {}
    done: set[tuple[str, frozenset[str]]] = set()
    for n, (x, _) in enumerate(seeds):
        info = catalogue.get(x)
        if info is None or not info.category:
            continue
        tags = _tagset(info.tags)
        if (info.category, tags) in done:
            continue
        done.add((info.category, tags))
        by_category.setdefault(info.category, []).append((n, x, tags))
    best: dict[str, tuple[float, int, str]] = {}  # item -> (score, index of the first seed with it, seed)
    for category, cat_seeds in by_category.items():
        # Items of the pool that share a tag set share every seed's score: score each set once.
        groups: dict[frozenset[str], list[str]] = {}
        for j, _ in lists.top(category, cfg.content_pool):
            if j not in seen and (other := catalogue.get(j)) is not None:
                groups.setdefault(_tagset(other.tags), []).append(j)
        for other_tags, items in groups.items():
            top: tuple[float, int, str] | None = None
            for n, x, tags in cat_seeds:
                size = len(tags)
                common = len(tags & other_tags) if size and other_tags else 0
                union = size + len(other_tags) - common
                score = 0.5 + (common / union if union else 0.0)
                if top is None or score > top[0]:
                    top = (score, n, x)
            assert top is not None
            for j in items:
                old = best.get(j)  # an item in two categories' pools keeps its best seed
                if old is None or top[0] > old[0] or (top[0] == old[0] and top[1] < old[1]):
                    best[j] = top
    return _normalise("content", {j: b[0] for j, b in best.items()},
                      lambda j: f"similar to {_title(catalogue, best[j][2])} you viewed", cfg)


def _popular(catalogue: Mapping[str, ItemInfo], seen: Container[str], cfg: ModelConfig) -> _Scored:
    picks = islice((i for i, info in catalogue.items() if info.in_stock and i not in seen), cfg.candidates_per_source)
    return _normalise("popular", {item: 1.0 / (rank + 1) for rank, item in enumerate(picks)},
                      "popular", cfg)


def generate(store: Store, catalogue: Mapping[str, ItemInfo], user: str, now_ms: int,
             cfg: ModelConfig) -> list[Candidate]:
    """Candidates from every source, best first (score desc, item asc, source asc); may repeat an item.

    Items the user already interacted with are left out. A user without history gets trending items.
    """
    prof = profile(store, user)
    hist = prof["h"] if prof else []
    scores = profile_scores(prof) if prof else {}
    seen = seen_items(prof) if prof else scores
    seeds: list[tuple[str, float]] = []
    picked: set[str] = set()
    for e in reversed(hist):
        x = e[ITEM]
        if x not in picked and scores.get(x, 0.0) > 0:
            picked.add(x)
            seeds.append((x, scores[x]))
            if len(seeds) == cfg.seed_items:
                break
    found: _Scored = []
    lists = _Trending(store, now_ms, cfg)
    on = {source for source, weight in cfg.source_weights.items() if weight > 0}  # weight 0 turns a source off
    if seeds:
        if "item_cf" in on:
            found += _item_cf(store, catalogue, seeds, seen, now_ms, cfg)
        if "user_cf" in on:
            found += _normalise("user_cf", dict(user_cf.candidates(store, user, now_ms, cfg, scores)),
                                "people with similar taste liked this", cfg)
        if "content" in on:
            found += _content(lists, catalogue, seeds, seen, cfg)
        if "taste" in on:
            found += _taste(lists, catalogue, hist, seen, cfg)
    if prof and "social" in on:
        found += _social(prof, seen, cfg)
    if "trending" in on:
        found += _trending(lists, _categories(catalogue, [x for x, _ in seeds]), seen, cfg)
    if "popular" in on and len({c[1] for c in found}) < cfg.k:
        found += _popular(catalogue, seen, cfg)
    found.sort()
    new = tuple.__new__  # Candidate(...) without the generated __new__'s keyword handling
    return [new(Candidate, (i, source, -s, e)) for s, i, source, e in found]
