"""The engine's logic as plain functions: typed records and partition state in, outputs out.

Agents (``agents/app.py``) only decode, call these, send what they return and flush state. Every
function here is deterministic given the same events in the same order (event time, never wall
clock), and replay-safe: a ``(source, offset)`` already applied to a key changes nothing, so an
event reprocessed after a crash neither double-counts nor emits a second recommendation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from socialpulse.models import candidates as model_candidates
from socialpulse.models import marketing, ranking, social, trending, user_state
from socialpulse.models.config import ModelConfig
from socialpulse.models.interactions import LINES_PER_OFFSET, Interaction, ItemInfo
from socialpulse.models.learn import learn_one
from socialpulse.models.live_quality import score_against_next
from socialpulse.schemas import (
    Click,
    Conversion,
    Item,
    MarketingTrigger,
    Purchase,
    Recommendation,
    RecommendedItem,
    Review,
    Social,
)

Store = MutableMapping[str, Any]
OnError = Callable[[str, Exception], None]

# Events that make a fresh recommendation worth sending (a removal or an unfollow does not). A follow
# changes none of a list's inputs (the followee's purchases and shares reach the feed only from now on),
# so it builds a list only for a user who has none yet: a cold start's first list.
MEANINGFUL = frozenset({"view", "add_to_cart", "wishlist", "purchase", "review", "share"})


@dataclass
class Fanout:
    """A message to another partition's state (keyed by user), via an internal topic."""

    topic: str  # "social-edges" or "social-signals"
    key: str
    value: dict[str, Any]


@dataclass
class Outputs:
    recommendations: list[Recommendation] = field(default_factory=list)
    fanout: list[Fanout] = field(default_factory=list)
    triggers: list[MarketingTrigger] = field(default_factory=list)  # held-out ones too, flagged
    suppressed: list[tuple[str, str]] = field(default_factory=list)  # (campaign, reason), for metrics
    conversions: list[Conversion] = field(default_factory=list)
    # (model, HR@k, NDCG@k) of the user's latest list against this interaction: live quality metrics.
    quality: list[tuple[str, float, float]] = field(default_factory=list)

    def add(self, decisions: marketing.Decisions) -> None:
        for d in (*decisions.sent, *decisions.held_out):
            self.triggers.append(MarketingTrigger(
                trigger_id=d.trigger_id, user_id=d.user_id, campaign=d.campaign, reason=d.reason,
                channel=d.channel, holdout=d.holdout, timestamp=d.ts_ms, payload=dict(d.payload)))  # type: ignore[arg-type]
        self.suppressed.extend(s for s in decisions.suppressed if s[1] != marketing.HOLDOUT)


# A user's last few recommendations, kept for purchase attribution (key ``rr:<user>``).
RECENT_RECS = user_state.RECENT_RECS
RECENT_RECS_KEPT = 5
MARKETING = marketing.MarketingConfig()


def item_info(item: Item) -> ItemInfo:
    return ItemInfo(
        item_id=item.item_id,
        category=item.category,
        category_path=tuple(item.category_path),
        tags=tuple(item.tags),
        price=item.price,
        in_stock=item.in_stock,
        seller_id=item.seller_id,
        title=item.title,
    )


def recommendation_id(trigger_event_id: str) -> str:
    """Deterministic: the same input event always yields the same id, so consumers can drop repeats."""
    return f"rec:{trigger_event_id}"


def _category(catalogue: Mapping[str, ItemInfo], item_id: str) -> str:
    info = catalogue.get(item_id)
    return info.category if info is not None else ""


def learn(store: Store, it: Interaction, cfg: ModelConfig) -> bool:
    """Update every statistic the interaction feeds; False when it was wholly applied before (replay)."""
    return learn_one(store, it, cfg) > 0


Scorers = tuple[ranking.Scorer, ...]

# Interactions a list is scored against: what a user does next with an item.
SCORED_KINDS = frozenset({"view", "add_to_cart", "wishlist", "purchase"})


def latest_list(store: Store, user_id: str) -> list[list[str]] | None:
    """The user's latest recommended ``[[item, source], ...]``, None before the first one."""
    recent = store.get(RECENT_RECS + user_id)
    return recent[-1][1] if recent else None


def _after_learning(store: Store, it: Interaction, scorers: Scorers, cfg: ModelConfig, out: Outputs) -> None:
    """Test, then train: score the user's latest list against this interaction, then teach the scorers.

    Call it once per newly learned interaction, before the recommendation this event triggers.
    """
    if it.kind in SCORED_KINDS:
        out.quality.extend(score_against_next(latest_list(store, it.user_id), it.item_id, cfg.k))
    weight = cfg.weight(it.kind, it.stars)
    for scorer in scorers:
        scorer.learn_one(it.user_id, it.item_id, weight)


def fanout_position(origin_partition: int, offset: int, line: int = 0) -> tuple[str, int]:
    """Replay guard for a message from another partition: (source per origin partition, position).

    Messages from one origin partition arrive in order, so a per-origin source keeps positions
    monotonic; a duplicate sent again after the origin's crash is recognised and ignored.
    """
    return f"fanout@{origin_partition}", offset * LINES_PER_OFFSET + line


def recommend(
    store: Store,
    catalogue: Mapping[str, ItemInfo],
    user_id: str,
    trigger_event_id: str,
    event_ts: int,
    now_ms: int,
    cfg: ModelConfig,
    scorers: tuple[ranking.Scorer, ...] = (),
    model_versions: Mapping[str, str] | None = None,
    on_error: OnError | None = None,
) -> Recommendation | None:
    """Candidates -> filter -> diversify -> rank, or None while the user is within the debounce window.

    None always when ``cfg.recommend`` is off.
    """
    if not cfg.recommend or not user_state.should_recommend(store, user_id, event_ts, cfg):
        return None
    context = ranking.Context.of(store, catalogue, user_id, on_scorer_error=on_error)
    try:
        found = model_candidates.generate(store, catalogue, user_id, event_ts, cfg)
        ranked = ranking.rank(user_id, found, context, scorers, cfg)
    except Exception as exc:  # a model failing for one event must not stop the stream: fall back
        if on_error is None:
            raise
        on_error("candidates", exc)
        ranked = fallback(store, context, user_id, event_ts, cfg)
    user_state.mark_recommended(store, user_id, event_ts)
    rec_id = recommendation_id(trigger_event_id)
    recent = [r for r in store.get(RECENT_RECS + user_id, []) if r[0] != rec_id]
    recent.append([rec_id, [[r.item_id, r.source] for r in ranked], event_ts])
    store[RECENT_RECS + user_id] = recent[-RECENT_RECS_KEPT:]
    return Recommendation(
        recommendation_id=rec_id,
        user_id=user_id,
        trigger_event_id=trigger_event_id,
        items=tuple(
            RecommendedItem(item_id=r.item_id, score=float(r.score), source=r.source, explanation=r.explanation)
            for r in ranked
        ),
        event_timestamp=event_ts,
        timestamp=now_ms,
        model_versions=dict(model_versions or {}),
    )


def fallback(store: Store, context: ranking.Context, user_id: str, now_ms: int,
             cfg: ModelConfig) -> list[ranking.RankedItem]:
    """Globally trending items the user may buy: what a list falls back to when a model fails."""
    profile = user_state.profile(store, user_id)
    seen = {entry[user_state.ITEM] for entry in profile["h"]} if profile else set()
    found = [model_candidates.Candidate(item, "popular", float(score), "popular right now")
             for item, score in trending.trending(store, None, now_ms, cfg.k * 3 + len(seen), cfg)
             if item not in seen]
    return ranking.rank(user_id, found, context, (), cfg)


def _interaction(user: str, item: str, kind: str, ts: int, source: str, offset: int, **extra: Any) -> Interaction:
    return Interaction(user_id=user, item_id=item, kind=kind, ts_ms=ts, source=source, offset=offset, **extra)


def on_click(store: Store, catalogue: Mapping[str, ItemInfo], click: Click, offset: int, now_ms: int,
             cfg: ModelConfig, on_error: OnError | None = None,
             scorers: Scorers = ()) -> Outputs:
    out = Outputs()
    shared_by = click.source.shared_by if click.source.shared_by != click.user_id else None
    it = _interaction(click.user_id, click.item_id, click.type, click.timestamp, "clicks", offset,
                      category=_category(catalogue, click.item_id), shared_by=shared_by)
    learned = learn(store, it, cfg)
    # Marketing keys check their own replay positions: a crash can persist some of a batch's keys and
    # not others, so a replay completes marketing even when every statistic already has the event.
    _click_marketing(store, click, offset, out)
    if not learned:
        return out
    _after_learning(store, it, scorers, cfg, out)
    if shared_by:
        # The sharer's influence lives on the sharer's partition.
        out.fanout.append(Fanout("social-signals", shared_by,
                                 {"kind": "share_click", "item": click.item_id, "from": click.user_id,
                                  "ts": click.timestamp, "offset": offset, "line": 0}))
    if click.type in MEANINGFUL:
        rec = recommend(store, catalogue, click.user_id, click.event_id, click.timestamp, now_ms, cfg,
                        scorers=scorers, on_error=on_error)
        if rec is not None:
            out.recommendations.append(rec)
    return out


def _click_marketing(store: Store, click: Click, offset: int, out: Outputs) -> None:
    """Carts, interest for price drops, social proof; then the user's time-based campaigns.

    Each step skips what it applied before; the time-based tick runs only when the user's own marketing
    key has not seen this event, so a replay never re-evaluates campaigns at an old event time.
    """
    args = (click.timestamp, click.event_id, "clicks", offset, MARKETING)
    fresh = not marketing.user_applied(store, click.user_id, "clicks", offset)
    if click.type == "add_to_cart":
        marketing.on_cart(store, click.user_id, click.item_id, *args)
    elif click.type == "remove_from_cart":
        marketing.on_cart_removed(store, click.user_id, click.item_id, *args)
    else:
        marketing.on_interest(store, click.user_id, click.item_id, *args)
    if click.type != "remove_from_cart":
        bought = followees_who_bought(store, click.user_id, click.item_id)
        if bought:
            out.add(marketing.on_social_proof(store, click.user_id, click.item_id, bought, *args))
    if fresh:
        out.add(marketing.tick(store, click.user_id, click.timestamp, MARKETING))


def followees_who_bought(store: Store, user: str, item: str) -> int:
    profile = user_state.profile(store, user)
    signals = profile["s"].get(item, []) if profile else []
    return len({s[0] for s in signals if s[1] == "bought"})


def _conversion(purchase: Purchase, a: marketing.Attribution) -> Conversion:
    item = a.conversion_id[len(purchase.order_id) + 1:]
    return Conversion(conversion_id=a.conversion_id, order_id=purchase.order_id, user_id=purchase.user_id,
                      item_id=item, attributed_kind=a.kind, attributed_id=a.attributed_id,  # type: ignore[arg-type]
                      revenue=round(a.revenue), latency_ms=a.latency_ms, timestamp=purchase.timestamp,
                      campaign=a.campaign, source=a.source)


def on_purchase(store: Store, catalogue: Mapping[str, ItemInfo], purchase: Purchase, offset: int, now_ms: int,
                cfg: ModelConfig, on_error: OnError | None = None,
             scorers: Scorers = ()) -> Outputs:
    out = Outputs()
    applied = False
    for n, line in enumerate(purchase.lines[:LINES_PER_OFFSET]):
        it = _interaction(purchase.user_id, line.item_id, "purchase", purchase.timestamp, "purchases", offset,
                          category=_category(catalogue, line.item_id), line=n)
        if learn(store, it, cfg):
            applied = True
            _after_learning(store, it, scorers, cfg, out)
        sharer = user_state.referrer(store, purchase.user_id, line.item_id, purchase.timestamp, cfg)
        if applied and sharer:
            out.fanout.append(Fanout("social-signals", sharer,
                                     {"kind": "share_purchase", "item": line.item_id, "from": purchase.user_id,
                                      "ts": purchase.timestamp, "offset": offset, "line": n}))
    # Guarded by the user's marketing key itself (see on_click): a replay completes it if a crash left it.
    lines = [(line.item_id, line.quantity, float(line.unit_price)) for line in purchase.lines]
    recent = store.get(RECENT_RECS + purchase.user_id, [])
    for a in marketing.on_purchase(store, purchase.user_id, purchase.order_id, lines, purchase.timestamp,
                                   "purchases", offset, MARKETING, recent):
        out.conversions.append(_conversion(purchase, a))
    if not applied:
        return out
    for follower in social.followers(store, purchase.user_id):
        for n, line in enumerate(purchase.lines[:LINES_PER_OFFSET]):
            out.fanout.append(Fanout("social-signals", follower,
                                     {"kind": "bought", "item": line.item_id, "from": purchase.user_id,
                                      "ts": purchase.timestamp, "offset": offset, "line": n}))
    rec = recommend(store, catalogue, purchase.user_id, purchase.order_id, purchase.timestamp, now_ms, cfg,
                    scorers=scorers, on_error=on_error)
    if rec is not None:
        out.recommendations.append(rec)
    return out


def on_review(store: Store, catalogue: Mapping[str, ItemInfo], review: Review, offset: int, now_ms: int,
              cfg: ModelConfig, on_error: OnError | None = None,
             scorers: Scorers = ()) -> Outputs:
    out = Outputs()
    it = _interaction(review.user_id, review.item_id, "review", review.timestamp, "reviews", offset,
                      stars=review.stars, category=_category(catalogue, review.item_id))
    out.add(marketing.on_review(store, review.user_id, review.item_id, review.stars, review.text, review.language,
                                review.timestamp, review.review_id, "reviews", offset, MARKETING))
    if learn(store, it, cfg):
        _after_learning(store, it, scorers, cfg, out)
        rec = recommend(store, catalogue, review.user_id, review.review_id, review.timestamp, now_ms, cfg,
                        scorers=scorers, on_error=on_error)
        if rec is not None:
            out.recommendations.append(rec)
    return out


def on_social(store: Store, catalogue: Mapping[str, ItemInfo], event: Social, offset: int, now_ms: int,
              cfg: ModelConfig, on_error: OnError | None = None,
             scorers: Scorers = ()) -> Outputs:
    out = Outputs()
    if event.type in ("follow", "unfollow"):
        assert event.target_user_id is not None  # validated at ingest
        follow = event.type == "follow"
        if user_state.apply_follow(store, event.actor_id, event.target_user_id, follow, event.timestamp, "social",
                                   offset, cfg):
            # The followee's partition keeps the reverse edge, to fan its purchases out to followers.
            out.fanout.append(Fanout("social-edges", event.target_user_id,
                                     {"follower": event.actor_id, "follow": follow, "ts": event.timestamp,
                                      "offset": offset, "line": 0}))
        else:
            return out
    else:
        assert event.target_item_id is not None
        it = _interaction(event.actor_id, event.target_item_id, "share", event.timestamp, "social", offset,
                          category=_category(catalogue, event.target_item_id))
        learned = learn(store, it, cfg)
        social.record_share(store, event.actor_id, event.timestamp, "social", offset)  # guarded on its own
        if not learned:
            return out
        _after_learning(store, it, scorers, cfg, out)
        for follower in social.followers(store, event.actor_id):
            out.fanout.append(Fanout("social-signals", follower,
                                     {"kind": "shared", "item": event.target_item_id, "from": event.actor_id,
                                      "ts": event.timestamp, "offset": offset, "line": 0}))
    if event.type in MEANINGFUL or (event.type == "follow" and not user_state.ever_recommended(store, event.actor_id)):
        rec = recommend(store, catalogue, event.actor_id, event.event_id, event.timestamp, now_ms, cfg,
                        scorers=scorers, on_error=on_error)
        if rec is not None:
            out.recommendations.append(rec)
    return out


def on_price_drop(store: Store, value: Mapping[str, Any], cfg: ModelConfig) -> Outputs:
    """A catalogue price change broadcast to every partition: price_drop for this partition's interested users."""
    out = Outputs()
    out.add(marketing.on_price_change(store, value["item"], float(value["old"]), float(value["new"]),
                                      int(value["ts"]), value["event_id"], f"prices@{value['origin']}",
                                      int(value["offset"]), MARKETING))
    return out


def on_social_edge(store: Store, followee: str, value: Mapping[str, Any], origin_partition: int,
                   cfg: ModelConfig) -> None:
    source, pos = fanout_position(origin_partition, int(value["offset"]), int(value.get("line", 0)))
    social.apply_follower(store, followee, value["follower"], bool(value["follow"]), int(value["ts"]),
                          source + ":edges", pos, cfg)


def on_social_signal(store: Store, user: str, value: Mapping[str, Any], origin_partition: int,
                     cfg: ModelConfig) -> None:
    source, pos = fanout_position(origin_partition, int(value["offset"]), int(value.get("line", 0)))
    kind, ts = value["kind"], int(value["ts"])
    if kind == "share_click":
        social.record_share_click(store, user, ts, source + ":clicks", pos)
    elif kind == "share_purchase":
        social.record_share_purchase(store, user, ts, source + ":purchases", pos)
    else:
        # One replay source per kind: "bought" carries purchases offsets and "shared" social ones, and a
        # shared source would take every purchase after a share for a replay and drop it.
        user_state.add_social_signal(store, user, value["item"], value["from"], kind, ts, f"{source}:feed:{kind}",
                                     pos, cfg)
