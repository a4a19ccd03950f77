"""Seeded, deterministic social-commerce traffic: typed records in timestamp order.

The world: users with a latent taste over categories (Dirichlet, so most users like a few
categories), items with a category, price, tags, seller and latent quality, and a follow graph
with homophily (users follow people of similar taste) plus a few influencers. Sessions are views
that may lead to carts and one purchase; item choice follows taste, price, popularity and what
followees recently bought or shared. Purchases may be shared (followers then click with
``source.shared_by``) and reviewed (stars follow satisfaction, text in English or Chinese whose
sentiment follows the stars). The catalogue changes: price drops, stock-outs, restocks.

``generate(cfg)`` is the pure core (no Kafka). The first records are the catalogue, then the
initial follow graph, so a consumer knows every item before the first click. ``Simulation`` also
exposes the :class:`GroundTruth` so tests can check what the engine infers.
"""

from __future__ import annotations

import bisect
import heapq
import json
import math
import random
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer

from socialpulse.schemas.records import (
    RECORD_TYPES,
    Click,
    ClickSource,
    Item,
    Purchase,
    PurchaseLine,
    Record,
    Review,
    Social,
)

from .topics import BEHAVIOUR_TOPICS, TOPICS, TopicSpec, topic_name

if TYPE_CHECKING:
    from .clients import Sender
    from .settings import Settings

__all__ = ["GroundTruth", "SimConfig", "Simulation", "generate", "produce", "read_jsonl", "write_jsonl"]

_CATEGORY_NAMES = (
    "Fashion", "Shoes", "Beauty", "Electronics", "Home", "Kitchen", "Toys", "Sports", "Books", "Garden",
    "Pets", "Grocery", "Health", "Jewelry", "Music", "Games", "Office", "Auto", "Baby", "Outdoor",
)  # fmt: skip
_ADJECTIVES = ("classic", "premium", "eco", "compact", "deluxe", "smart", "vintage", "light", "pro", "mini")
_NOUNS = ("set", "kit", "pack", "edition", "bundle", "model", "series", "line")
_CHANNELS = ("search", "feed", "direct", "push", "email")
_CHANNEL_WEIGHTS = (0.4, 0.35, 0.15, 0.05, 0.05)
_DEVICES = ("ios", "android", "web")

# Review templates by sentiment: 0 negative (1-2 stars), 1 neutral (3), 2 positive (4-5).
_TEXT = {
    "en": (
        ("Terrible {c} item, it broke after two days.", "Very disappointed, the {c} product is poor quality.",
         "Not worth the money, I want a refund.", "Bad experience, would not buy this again."),
        ("It is okay, an average {c} product.", "Does the job, nothing special.",
         "Decent for the price, some flaws.", "Fine, but shipping was slow."),
        ("Excellent {c} product, I love it!", "Great quality and fast delivery, highly recommend.",
         "Perfect, exactly what I wanted.", "Amazing value, will buy again."),
    ),
    "zh": (
        ("质量很差，用了两天就坏了。", "非常失望，这个{c}商品质量不好。",
         "不值这个价，我要退款。", "体验很糟糕，不会再买了。"),
        ("还可以，一般的{c}商品。", "能用，没什么特别的。",
         "这个价格还行，有些小问题。", "不错，但是物流有点慢。"),
        ("非常好的{c}商品，很喜欢！", "质量很好，发货很快，强烈推荐。",
         "完美，正是我想要的。", "性价比超高，还会回购。"),
    ),
}  # fmt: skip


def _sentiment_bucket(stars: int) -> int:
    return 0 if stars <= 2 else 1 if stars == 3 else 2


@dataclass(frozen=True)
class SimConfig:
    """Simulation parameters. ``events`` is the total number of records emitted, catalogue included."""

    users: int = 1000
    items: int = 500
    categories: int = 20
    seed: int = 7
    events: int = 100_000
    start_ms: int = 1_704_067_200_000  # 2024-01-01T00:00:00Z
    session_gap_ms: float = 2_000.0  # mean time between session starts (whole site)
    taste_concentration: float = 0.3  # Dirichlet alpha: smaller = more focused users
    follows_per_user: float = 8.0
    influencer_fraction: float = 0.01
    seller_fraction: float = 0.02
    share_probability: float = 0.12  # per purchase; influencers share five times as often
    review_probability: float = 0.35  # per purchased item
    chinese_fraction: float = 0.3  # reviews written in Chinese
    catalogue_change_probability: float = 0.03  # per session start
    follow_probability: float = 0.01  # per session start: a new follow during the run

    def __post_init__(self) -> None:
        if self.users < 2 or self.items < 1 or self.categories < 1:
            raise ValueError("need at least 2 users, 1 item and 1 category")
        if self.events < 0:
            raise ValueError("events must be >= 0")


@dataclass
class GroundTruth:
    """What the simulator knows and the engine has to infer. ``in_stock`` is as of the last record emitted."""

    seed: int
    categories: list[str]
    taste: dict[str, dict[str, float]]  # user -> category -> weight (sums to 1)
    item_category: dict[str, str]
    in_stock: dict[str, bool]
    influencers: list[str]
    follows: dict[str, list[str]] = field(default_factory=dict)

    def top_category(self, user_id: str) -> str:
        taste = self.taste[user_id]
        return max(taste, key=lambda c: taste[c])

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "categories": self.categories,
            "taste": self.taste,
            "top_category": {u: self.top_category(u) for u in self.taste},
            "item_category": self.item_category,
            "in_stock": self.in_stock,
            "influencers": self.influencers,
            "follows": self.follows,
        }

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")


class Simulation:
    """One seeded run. Iterate :meth:`records` once; :meth:`truth` reflects what was emitted so far."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self._np = np.random.default_rng(cfg.seed)
        self._rng = random.Random(cfg.seed)
        self._prefix = f"sim{cfg.seed}"
        self._seq = 0  # orders same-timestamp actions and numbers event ids
        self._heap: list[tuple[int, int, str, tuple[Any, ...]]] = []
        self._build_world()

    # --- world ---------------------------------------------------------------------------------
    def _build_world(self) -> None:
        cfg, g = self.cfg, self._np
        self.categories = [
            _CATEGORY_NAMES[i % len(_CATEGORY_NAMES)] + ("" if i < len(_CATEGORY_NAMES) else f"-{i // 20}")
            for i in range(cfg.categories)
        ]
        n_u, n_i, n_c = cfg.users, cfg.items, cfg.categories
        self.users = [f"u{i:06d}" for i in range(n_u)]
        self.taste = g.dirichlet(np.full(n_c, cfg.taste_concentration), size=n_u)  # float64 [U, C]
        self.price_sensitivity = g.uniform(0.2, 1.0, size=n_u)
        self.activity = g.lognormal(0.0, 1.0, size=n_u)
        self.device = [_DEVICES[int(d)] for d in g.integers(0, len(_DEVICES), size=n_u)]

        self.items = [f"i{i:06d}" for i in range(n_i)]
        self.item_cat = g.integers(0, n_c, size=n_i)
        cat_base = g.uniform(800, 8000, size=n_c)  # typical price per category, cents
        self.base_price = np.maximum(99, (cat_base[self.item_cat] * g.lognormal(0, 0.5, size=n_i)).astype(np.int64))
        self.price = self.base_price.copy()
        self.quality = g.beta(4, 2, size=n_i)  # latent quality in [0, 1]
        self.appeal = g.pareto(1.5, size=n_i) + 0.1  # heavy-tailed prior popularity
        self.in_stock = np.ones(n_i, dtype=bool)
        n_sellers = max(1, int(n_u * cfg.seller_fraction))
        sellers = g.choice(n_u, size=n_sellers, replace=False)
        self.seller = [self.users[int(s)] for s in g.choice(sellers, size=n_i)]
        self.by_cat: list[list[int]] = [[] for _ in range(n_c)]
        for i, c in enumerate(self.item_cat):
            self.by_cat[int(c)].append(i)
        self.sales = np.zeros(n_i)  # decayed purchase counts: the popularity signal

        n_inf = max(1, round(n_u * cfg.influencer_fraction))
        self.influencers = sorted(int(i) for i in g.choice(n_u, size=n_inf, replace=False))
        self.is_influencer = np.zeros(n_u, dtype=bool)
        self.is_influencer[self.influencers] = True
        self.following: list[set[int]] = [set() for _ in range(n_u)]
        self.followers: list[set[int]] = [set() for _ in range(n_u)]
        unit = self.taste / np.linalg.norm(self.taste, axis=1, keepdims=True)
        self._unit_taste = unit
        self._initial_follows: list[tuple[int, int]] = []
        for u in range(n_u):
            k = min(n_u - 1, int(g.poisson(cfg.follows_per_user)))
            if k == 0:
                continue
            sim = unit @ unit[u]
            weights = sim**4 + 0.01
            weights[self.is_influencer] *= 30.0
            weights[u] = 0.0
            for v in g.choice(n_u, size=k, replace=False, p=weights / weights.sum()):
                self._follow(u, int(v))
                self._initial_follows.append((u, int(v)))
        # Recent social signals per user: (timestamp, item, sharer or None for a followee's purchase).
        self.inbox: list[deque[tuple[int, int, int | None]]] = [deque(maxlen=20) for _ in range(n_u)]

    def _follow(self, u: int, v: int) -> None:
        self.following[u].add(v)
        self.followers[v].add(u)

    # --- records -------------------------------------------------------------------------------
    def _item_record(self, i: int, ts: int) -> Item:
        cat = self.categories[int(self.item_cat[i])]
        rng = random.Random(f"{self.cfg.seed}-{i}")  # title/tags stable across price and stock updates
        adj, noun = rng.choice(_ADJECTIVES), rng.choice(_NOUNS)
        tags = (cat.lower(), adj, "bestseller" if self.appeal[i] > 2 else "new")
        return Item(
            item_id=self.items[i],
            title=f"{adj.title()} {cat} {noun} {i}",
            category_path=(cat,),
            price=int(self.price[i]),
            in_stock=bool(self.in_stock[i]),
            timestamp=ts,
            currency="USD",
            tags=tags,
            seller_id=self.seller[i],
        )

    @property
    def setup_records(self) -> int:
        """Records before the first session: the catalogue and the initial follow graph."""
        return self.cfg.items + len(self._initial_follows)

    def records(self, total: int | None = None) -> Iterator[Record]:
        """Yield exactly ``total`` records (default ``cfg.events``) in non-decreasing timestamp order.

        ``setup_records + n`` gives ``n`` records of traffic after the set-up, whatever the graph's size.
        """
        cfg = self.cfg
        budget = cfg.events if total is None else total
        t0 = cfg.start_ms
        for i in range(cfg.items):
            if budget <= 0:
                return
            budget -= 1
            yield self._item_record(i, t0)
        for u, v in self._initial_follows:
            if budget <= 0:
                return
            budget -= 1
            yield self._social("follow", u, t0, target_user=v)

        act = self.activity / self.activity.sum()
        cum_act = np.cumsum(act).tolist()
        now = float(t0)
        session_no = 0
        while budget > 0:
            now += self._rng.expovariate(1.0 / cfg.session_gap_ms)
            while self._heap and self._heap[0][0] <= now and budget > 0:
                ts, _, kind, payload = heapq.heappop(self._heap)
                for rec in self._emit(kind, ts, payload):
                    if budget <= 0:
                        break
                    budget -= 1
                    yield rec
            if budget <= 0:
                return
            t = int(now)
            r = self._rng.random()
            if r < cfg.catalogue_change_probability:
                self._push(t, "catalogue", ())
            elif r < cfg.catalogue_change_probability + cfg.follow_probability:
                self._push(t, "new_follow", ())
            u = min(cfg.users - 1, _bisect(cum_act, self._rng.random()))
            session_no += 1
            self._plan_session(u, t, f"{self._prefix}-s{session_no}")

    def _push(self, ts: int, kind: str, payload: tuple[Any, ...]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (ts, self._seq, kind, payload))

    def _next_id(self, tag: str) -> str:
        self._seq += 1
        return f"{self._prefix}-{tag}{self._seq}"

    def _social(self, kind: str, u: int, ts: int, target_user: int | None = None, item: int | None = None) -> Social:
        return Social(
            event_id=self._next_id("sh" if kind == "share" else "f"),
            type=kind,  # type: ignore[arg-type]
            actor_id=self.users[u],
            timestamp=ts,
            target_user_id=None if target_user is None else self.users[target_user],
            target_item_id=None if item is None else self.items[item],
        )

    # --- behaviour -----------------------------------------------------------------------------
    def _utility(self, u: int, i: int) -> float:
        """How much user u wants item i now: taste x quality x price fit x popularity."""
        c = int(self.item_cat[i])
        rel_price = self.price[i] / self.base_price[i]
        price_fit = rel_price ** (-2.0 * self.price_sensitivity[u])  # price drops attract
        popularity = 1.0 + math.log1p(self.sales[i])
        return float(self.taste[u, c] * (0.3 + self.quality[i]) * price_fit * popularity)

    def _pick_item(self, u: int) -> int:
        rng = self._rng
        # Category from taste with some exploration, then an item within it by appeal and popularity.
        if rng.random() < 0.1:
            c = rng.randrange(self.cfg.categories)
        else:
            c = _bisect(np.cumsum(self.taste[u]).tolist(), rng.random())
            c = min(c, self.cfg.categories - 1)
        pool = self.by_cat[c]
        while not pool:
            pool = self.by_cat[rng.randrange(self.cfg.categories)]
        weights = [
            self.appeal[i] * (1.0 + math.log1p(self.sales[i])) * (1.0 if self.in_stock[i] else 0.3) for i in pool
        ]
        return pool[_bisect_weights(weights, rng.random())]

    def _plan_session(self, u: int, t: int, session: str) -> None:
        rng = self._rng
        ts = t
        views: list[tuple[int, str, int | None]] = []  # (item, channel, shared_by)
        recent = [entry for entry in self.inbox[u] if t - entry[0] < 86_400_000]
        if recent and rng.random() < 0.6:
            _, item, sharer = recent[-1]
            self.inbox[u].clear()
            views.append((item, "share" if sharer is not None else "feed", sharer))
        n_views = 1 + min(15, int(rng.expovariate(1 / 3.0)))
        for _ in range(n_views):
            if recent and rng.random() < 0.15:
                views.append((rng.choice(recent)[1], "feed", None))
            else:
                views.append((self._pick_item(u), rng.choices(_CHANNELS, _CHANNEL_WEIGHTS)[0], None))
        cart: list[int] = []
        top = float(self.taste[u].max())
        device = self.device[u]
        for item, channel, sharer in views:
            src = ClickSource(channel=channel, shared_by=None if sharer is None else self.users[sharer])
            self._push(ts, "click", (u, item, session, "view", src, device))
            ts += rng.randint(3_000, 60_000)
            match = float(self.taste[u, int(self.item_cat[item])]) / top  # 1.0 for the favourite category
            friend = 1.5 if sharer is not None or any(e[1] == item for e in recent) else 1.0
            p_cart = 0.02 + 0.18 * match**2 * friend * min(2.0, self._utility(u, item) / (top + 1e-9) + 0.5)
            if self.in_stock[item] and item not in cart and rng.random() < min(0.9, p_cart):
                cart.append(item)
                self._push(ts, "click", (u, item, session, "add_to_cart", ClickSource("direct"), device))
                ts += rng.randint(2_000, 30_000)
            elif rng.random() < 0.03 * match:
                self._push(ts, "click", (u, item, session, "wishlist", ClickSource("direct"), device))
                ts += rng.randint(2_000, 10_000)
        bought = []
        for item in cart:
            match = float(self.taste[u, int(self.item_cat[item])]) / top
            if rng.random() < 0.25 + 0.5 * match:
                bought.append(item)
            elif rng.random() < 0.3:
                self._push(ts, "click", (u, item, session, "remove_from_cart", ClickSource("direct"), device))
                ts += rng.randint(2_000, 20_000)
        if bought:
            self._push(ts + rng.randint(10_000, 120_000), "purchase", (u, tuple(bought)))

    def _emit(self, kind: str, ts: int, payload: tuple[Any, ...]) -> Iterator[Record]:
        """Turn a scheduled action into records, applying its effects on the world when it happens."""
        rng = self._rng
        if kind == "click":
            u, item, session, ctype, src, device = payload
            yield Click(
                event_id=self._next_id("c"),
                user_id=self.users[u],
                item_id=self.items[item],
                session_id=session,
                type=ctype,
                timestamp=ts,
                source=src,
                device=device,
            )
        elif kind == "purchase":
            u, items = payload
            lines = [i for i in items if self.in_stock[i]]  # it may have sold out since it was carted
            if not lines:
                return
            yield Purchase(
                order_id=self._next_id("o"),
                user_id=self.users[u],
                lines=tuple(
                    PurchaseLine(self.items[i], 2 if rng.random() < 0.1 else 1, int(self.price[i])) for i in lines
                ),
                currency="USD",
                timestamp=ts,
            )
            share_p = self.cfg.share_probability * (5.0 if self.is_influencer[u] else 1.0)
            for i in lines:
                self.sales *= 0.9999
                self.sales[i] += 1.0
                for f in self.followers[u]:
                    self.inbox[f].append((ts, i, None))
                if rng.random() < self.cfg.review_probability:
                    self._push(ts + rng.randint(600_000, 7_200_000), "review", (u, i))
                if rng.random() < min(0.9, share_p):
                    self._push(ts + rng.randint(5_000, 300_000), "share", (u, i))
        elif kind == "share":
            u, i = payload
            yield self._social("share", u, ts, item=i)
            for f in self.followers[u]:
                self.inbox[f].append((ts, i, u))
        elif kind == "review":
            u, i = payload
            yield self._review(u, i, ts)
        elif kind == "catalogue":
            yield from self._catalogue_change(ts)
        elif kind == "new_follow":
            u = rng.randrange(self.cfg.users)
            sim = self._unit_taste @ self._unit_taste[u]
            sim[u] = -1.0
            sim[list(self.following[u])] = -1.0
            v = int(np.argmax(sim + self._np.uniform(0, 0.2, size=len(sim))))
            if sim[v] > -1.0:
                self._follow(u, v)
                yield self._social("follow", u, ts, target_user=v)

    def _review(self, u: int, i: int, ts: int) -> Review:
        rng = self._rng
        c = int(self.item_cat[i])
        match = float(self.taste[u, c] / self.taste[u].max())
        satisfaction = 0.5 * match + 0.5 * float(self.quality[i]) + rng.gauss(0.0, 0.15) - 0.1
        stars = 1 + int(min(0.999, max(0.0, satisfaction)) * 5)
        lang = "zh" if rng.random() < self.cfg.chinese_fraction else "en"
        text = rng.choice(_TEXT[lang][_sentiment_bucket(stars)]).format(c=self.categories[c])
        return Review(
            review_id=self._next_id("r"),
            user_id=self.users[u],
            item_id=self.items[i],
            stars=stars,
            text=text,
            language=lang,
            timestamp=ts,
        )

    def _catalogue_change(self, ts: int) -> Iterator[Item]:
        rng = self._rng
        i = rng.randrange(self.cfg.items)
        out = np.flatnonzero(~self.in_stock)
        r = rng.random()
        if len(out) and r < 0.35:
            i = int(out[rng.randrange(len(out))])
            self.in_stock[i] = True
            self.price[i] = self.base_price[i]
        elif r < 0.7:
            self.price[i] = max(1, int(self.price[i] * rng.uniform(0.6, 0.9)))  # price drop
        else:
            self.in_stock[i] = False  # stock-out
        yield self._item_record(i, ts)

    def truth(self) -> GroundTruth:
        return GroundTruth(
            seed=self.cfg.seed,
            categories=list(self.categories),
            taste={
                self.users[u]: {self.categories[c]: round(float(w), 6) for c, w in enumerate(self.taste[u])}
                for u in range(self.cfg.users)
            },
            item_category={self.items[i]: self.categories[int(c)] for i, c in enumerate(self.item_cat)},
            in_stock={self.items[i]: bool(s) for i, s in enumerate(self.in_stock)},
            influencers=[self.users[u] for u in self.influencers],
            follows={self.users[u]: sorted(self.users[v] for v in f) for u, f in enumerate(self.following) if f},
        )


def _bisect(cumulative: list[float], x: float) -> int:
    return bisect.bisect_right(cumulative, x * cumulative[-1])


def _bisect_weights(weights: list[float], x: float) -> int:
    total = sum(weights)
    acc, target = 0.0, x * total
    for k, w in enumerate(weights):
        acc += w
        if acc > target:
            return k
    return len(weights) - 1


def generate(cfg: SimConfig) -> Iterator[Record]:
    """The simulated stream for ``cfg``: pure and deterministic (same config, same records)."""
    return Simulation(cfg).records()


def category_counts(records: list[Record], kinds: tuple[type[Record], ...] = (Purchase,)) -> dict[str, Counter[str]]:
    """Per user, how often each category appears in their purchases (what a naive engine would infer)."""
    category: dict[str, str] = {}
    counts: dict[str, Counter[str]] = {}
    for rec in records:
        if isinstance(rec, Item):
            category[rec.item_id] = rec.category
        elif isinstance(rec, Purchase) and Purchase in kinds:
            for line in rec.lines:
                counts.setdefault(rec.user_id, Counter())[category[line.item_id]] += line.quantity
        elif isinstance(rec, Click) and Click in kinds:
            counts.setdefault(rec.user_id, Counter())[category[rec.item_id]] += 1
    return counts


# --- Kafka edge and files (shared with streams.replay) --------------------------------------------
def _route(record: Record) -> TopicSpec:
    for name in (*BEHAVIOUR_TOPICS, "items"):
        spec = TOPICS[name]
        if isinstance(record, spec.record_type):
            return spec
    raise TypeError(f"no input topic carries {type(record).__name__}")


class _Pacer:
    """Sleeps so that records go out at ``rate`` per second or at ``speedup`` x their event time."""

    def __init__(self, rate: float | None, speedup: float | None) -> None:
        if (rate is not None and rate <= 0) or (speedup is not None and speedup <= 0):
            raise ValueError("rate and speedup must be > 0")
        self.rate, self.speedup = rate, speedup
        # The clock starts at the first record, not here: building a large world takes minutes, and
        # a schedule started before that would send the first minutes' records at once.
        self.start: float | None = None
        self.first_ts: int | None = None
        self.count = 0

    def wait(self, record: Record) -> None:
        if self.rate is None and self.speedup is None:
            return
        if self.start is None:
            self.start = time.monotonic()
        if self.rate is not None:
            target = self.start + self.count / self.rate
        elif self.speedup is not None:
            ts = getattr(record, "timestamp", None)
            if ts is None:
                return
            if self.first_ts is None:
                self.first_ts = ts
            target = self.start + (ts - self.first_ts) / 1000.0 / self.speedup
        self.count += 1
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def produce(
    records: Iterable[Record],
    settings: Settings,
    rate: float | None = None,
    *,
    speedup: float | None = None,
    total: int | None = None,
    sender: Sender | None = None,
    progress: bool = True,
    description: str = "producing",
) -> int:
    """Send each record to its input topic (clicks, purchases, reviews, social, items), keyed per the catalogue.

    ``rate`` paces to that many records per second, ``speedup`` replays event time that many
    times faster; neither means as fast as possible. Returns the number of records delivered;
    raises :class:`~socialpulse.streams.clients.DeliveryError` if any delivery failed.
    """
    from tqdm import tqdm

    from .clients import Sender, make_producer
    from .serde import AvroSerde

    if sender is None:
        sender = Sender(make_producer(settings), AvroSerde.from_settings(settings))
    pacer = _Pacer(rate, speedup)
    names: dict[str, str] = {}
    with tqdm(total=total, desc=description, unit="ev", disable=not progress, mininterval=0.5) as bar:
        for record in records:
            pacer.wait(record)
            spec = _route(record)
            topic = names.get(spec.name) or names.setdefault(spec.name, topic_name(spec, settings))
            sender.send(topic, spec.key_of(record), record)
            bar.update(1)
    return sender.flush()


def write_jsonl(records: Iterable[Record], path: str | Path) -> int:
    """One ``{"type": "Click", "record": {...}}`` object per line; returns the count."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps({"type": type(record).__name__, "record": record.to_avro()}, ensure_ascii=False))
            out.write("\n")
            count += 1
    return count


def read_jsonl(path: str | Path) -> Iterator[Record]:
    """Inverse of :func:`write_jsonl`."""
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                data = json.loads(line)
                yield RECORD_TYPES[data["type"]].from_avro(data["record"])


def simulate_command(
    users: int = typer.Option(1000, help="Number of users."),
    items: int = typer.Option(500, help="Number of items."),
    categories: int = typer.Option(20, help="Number of categories."),
    events: int = typer.Option(100_000, help="Total records, catalogue and follow graph included."),
    seed: int = typer.Option(7, help="Random seed: same seed, same stream."),
    start_ms: int = typer.Option(SimConfig.start_ms, help="Timestamp of the first record (ms since epoch)."),
    rate: float | None = typer.Option(None, help="Records per second (default: as fast as possible)."),
    truth: Path | None = typer.Option(None, help="Write the ground truth (tastes, categories, stock) here as JSON."),
    out: Path | None = typer.Option(None, help="Write JSON lines here instead of producing to Kafka."),
) -> None:
    """Generate simulated social-commerce traffic and produce it to the input topics."""
    cfg = SimConfig(users=users, items=items, categories=categories, events=events, seed=seed, start_ms=start_ms)
    sim = Simulation(cfg)
    if out is not None:
        from tqdm import tqdm

        count = write_jsonl(tqdm(sim.records(), total=events, desc="simulating", unit="ev"), out)
    else:
        from .settings import Settings

        count = produce(sim.records(), Settings.from_env(), rate, total=events, description="simulating")
    if truth is not None:
        sim.truth().write(truth)
    typer.echo(f"{count} records {'written to ' + str(out) if out else 'produced'}")
