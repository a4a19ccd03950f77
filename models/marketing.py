"""Marketing triggers: cart abandonment, churn risk, negative-review recovery, price drop and social proof,
behind per-user frequency caps and a deterministic holdout, with purchase attribution and uplift counters.

Everything runs on event time (ms) passed in; nothing reads the clock, so the same events in the same order
give the same decisions and the same store. One store per partition; users are partitioned by user id and
price changes reach every partition (each partition targets its own interested users).

Keys (values are plain dicts, lists, strings and numbers; every change re-assigns ``store[key]``)::

    mk:u:<user>      {"last": ts of the user's last own action | None, "lid": its event id,
                      "seen": newest ts written (expiry), "nb": orders,
                      "cart": {item: [added_ts, event_id, fired]}         # <= max_cart_items
                      "churn": the "last" a churn trigger covered | None,
                      "sent": {campaign: ts}, "day": [utc_day, count]     # frequency caps
                      "trig": [[trigger_id, campaign, [item, ...], ts, held_out], ...]  # <= max_recent_triggers
                      "exp": {campaign: [held_out, converted, last_exposure_ts]},       # uplift membership
                      "a": {source: pos}}
    mk:int:<item>    {"u": {user: last_interest_ts}, "a": {source: pos}}  # <= max_interested, interest_ttl_ms
    mk:c:<campaign>  {"t": treated users, "tc": treated converted, "h": held-out users, "hc": held-out converted}

The numbers of ``mk:u:`` and ``mk:int:`` keys are capped by ``expire`` (run it on a timer).

Replay: event handlers are no-ops on a key whose ``a[source] >= position(offset)`` and then return nothing,
so a reprocessed event never re-emits a trigger (downstream may still dedupe on ``trigger_id``, which is
derived from the causing event and the user). ``tick`` and ``sweep`` have no offset; they are idempotent by
state instead: a cart episode or an inactivity episode fires once and is marked. Price-drop and social-proof
targets are users whose latest interest is at or before the event's time, so interest recorded after it does
not change a replayed decision (short of events arriving late across topics). ``mk:c:`` counters carry no
``a``: they move only on a user's first exposure or first conversion per campaign, which that user's value
guards. The user's value is written before the counter, so a crash between the two writes loses one count
rather than doubling it (exact under Faust's exactly-once processing, where both writes commit together).

Clock trade-off. ``tick(store, user, now)`` runs after the handler of each of the user's events: cheap and
exact under replay, but a cart is only noticed when its owner acts again, and churn never (a user who acts
is not churning). ``sweep(store, users, now)`` at batch end, with ``now`` = the highest event time seen on the
partition, fires both on time; its decisions depend on where batches ended, so a replay may fire a
time-based trigger at a different ``ts_ms`` (the same ``trigger_id``), and an idle partition stalls its clock.

Caps and holdout. Frequency caps (per campaign interval, per UTC day) are checked first, for everyone; a
decision that passes is then held out when ``in_holdout(user, campaign)``. Held-out decisions are returned
(``Decisions.held_out``, for uplift logging, not for delivery), count towards the caps as "ghost sends" so
that both groups see the same eligibility stream, and never receive attribution credit.

>>> cfg = MarketingConfig(holdout_pct=0.0)
>>> store = {}
>>> on_cart(store, "u1", "i1", 0, "e1", "clicks", 7, cfg)
True
>>> [d.trigger_id for d in tick(store, "u1", 40 * 60_000, cfg).sent]
['cart_abandonment:e1:u1']
>>> tick(store, "u1", 50 * 60_000, cfg).sent
()
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._state import APPLIED, Store, already_applied, mark_applied
from .interactions import position
from .sentiment import sentiment

__all__ = [
    "CAMPAIGNS",
    "Attribution",
    "Decisions",
    "MarketingConfig",
    "TriggerDecision",
    "attribute",
    "expire",
    "in_holdout",
    "on_cart",
    "on_cart_removed",
    "on_interest",
    "on_price_change",
    "on_purchase",
    "on_review",
    "on_social_proof",
    "pooled_uplift",
    "sweep",
    "tick",
    "uplift",
]

_MINUTE = 60_000
_DAY = 86_400_000

CART_ABANDONMENT = "cart_abandonment"
CHURN_RISK = "churn_risk"
NEGATIVE_REVIEW = "negative_review_recovery"
PRICE_DROP = "price_drop"
SOCIAL_PROOF = "social_proof"
CAMPAIGNS = (CART_ABANDONMENT, CHURN_RISK, NEGATIVE_REVIEW, PRICE_DROP, SOCIAL_PROOF)

CHANNELS = ("push", "email", "in_app", "sms")
DEFAULT_CHANNELS: dict[str, str] = {
    CART_ABANDONMENT: "push",
    CHURN_RISK: "email",
    NEGATIVE_REVIEW: "email",
    PRICE_DROP: "push",
    SOCIAL_PROOF: "in_app",
}

#: Suppression reasons (the ``reason`` label of triggers_suppressed_total).
FREQUENCY_CAP = "frequency_cap"
HOLDOUT = "holdout"

USER = "mk:u:"
INTEREST = "mk:int:"
COUNTERS = "mk:c:"


@dataclass(frozen=True)
class MarketingConfig:
    """Thresholds, caps and channels. Times are event-time milliseconds."""

    cart_abandon_after_ms: int = 30 * _MINUTE  # since the latest add to cart
    max_cart_items: int = 50
    churn_after_ms: int = 14 * _DAY  # inactivity before churn_risk
    churn_min_purchases: int = 2  # orders before a user counts as previously active
    negative_stars: int = 2  # a review with stars <= this is negative
    negative_sentiment: float = -0.3  # a review whose text scores below this is negative
    coupon_pct: int = 10  # recovery coupon suggested for a negative review
    severe_coupon_pct: int = 15  # ... for a 1-star review
    price_drop_min_pct: float = 10.0
    social_proof_min_friends: int = 2  # followees who bought the item
    interest_ttl_ms: int = 30 * _DAY  # views, wishlists and carts older than this no longer count
    max_interested: int = 200  # users kept per item (most recent interest)
    campaign_interval_ms: int = _DAY  # minimum gap between two triggers of one campaign for one user
    max_per_day: int = 3  # triggers per user per UTC day, all campaigns
    holdout_pct: float = 10.0
    holdout_salt: str = ""  # change to draw a fresh holdout
    attribution_window_ms: int = 7 * _DAY
    max_recent_triggers: int = 20  # per user, for attribution
    user_ttl_ms: int = 30 * _DAY  # expire drops users idle longer
    max_users: int = 100_000  # per partition, enforced by expire
    max_items: int = 100_000  # interest lists per partition, enforced by expire
    channels: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CHANNELS))

    def __post_init__(self) -> None:
        for name in ("cart_abandon_after_ms", "max_cart_items", "churn_after_ms", "interest_ttl_ms",
                     "max_interested", "max_per_day", "attribution_window_ms", "max_recent_triggers",
                     "user_ttl_ms", "max_users", "max_items", "social_proof_min_friends"):
            if getattr(self, name) <= 0:
                raise ValueError(f"MarketingConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.campaign_interval_ms < 0 or self.churn_min_purchases < 0:
            raise ValueError("MarketingConfig.campaign_interval_ms and churn_min_purchases must be >= 0")
        if not 0.0 <= self.holdout_pct <= 100.0:
            raise ValueError(f"MarketingConfig.holdout_pct must be in [0, 100], got {self.holdout_pct}")
        for campaign in CAMPAIGNS:
            if self.channels.get(campaign) not in CHANNELS:
                raise ValueError(f"MarketingConfig.channels[{campaign!r}] must be one of {CHANNELS}")


@dataclass(frozen=True, slots=True)
class TriggerDecision:
    """One message to send (or, when ``holdout``, to log without sending). ``ts_ms`` is the decision's event time."""

    trigger_id: str  # f"{campaign}:{causing event id}:{user}"
    user_id: str
    campaign: str
    reason: str
    payload: dict[str, str]
    channel: str
    holdout: bool
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Decisions:
    """Outcome of one call: ``sent`` to deliver, ``held_out`` to log, ``suppressed`` as (campaign, reason).

    Every held-out decision also appears in ``suppressed`` with reason ``"holdout"``; capped ones with
    ``"frequency_cap"`` appear only there.
    """

    sent: tuple[TriggerDecision, ...] = ()
    held_out: tuple[TriggerDecision, ...] = ()
    suppressed: tuple[tuple[str, str], ...] = ()

    def __add__(self, other: Decisions) -> Decisions:
        return Decisions(self.sent + other.sent, self.held_out + other.held_out, self.suppressed + other.suppressed)


@dataclass(frozen=True, slots=True)
class Attribution:
    """Credit for one purchased item of one order, to a trigger or else to a recommendation."""

    conversion_id: str  # f"{order_id}:{item}"
    kind: str  # "trigger" | "recommendation"
    attributed_id: str  # trigger_id or rec_id
    campaign: str | None
    source: str | None  # the recommendation source that proposed the item
    revenue: float
    latency_ms: int


def in_holdout(user: str, campaign: str, cfg: MarketingConfig) -> bool:
    """Stable per (user, campaign): sha256, not ``hash()``, so every process and replay agrees."""
    digest = hashlib.sha256(f"{cfg.holdout_salt}\x1f{campaign}\x1f{user}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < round(cfg.holdout_pct * 100)


class _Out:
    """Collects one call's decisions and the counter increments to apply after the user values."""

    def __init__(self) -> None:
        self.sent: list[TriggerDecision] = []
        self.held: list[TriggerDecision] = []
        self.suppressed: list[tuple[str, str]] = []
        self.bumps: list[tuple[str, str]] = []

    def finish(self, store: Store) -> Decisions:
        for campaign, name in self.bumps:
            _bump(store, campaign, name)
        self.bumps = []
        return Decisions(tuple(self.sent), tuple(self.held), tuple(self.suppressed))


def _new_user() -> dict[str, Any]:
    return {"last": None, "lid": "", "seen": 0, "nb": 0, "cart": {}, "churn": None, "sent": {}, "day": [0, 0],
            "trig": [], "exp": {}, APPLIED: {}}


def _copy_user(value: dict[str, Any] | None) -> dict[str, Any]:
    """A copy safe to change: containers are copied; their entries are replaced, never changed."""
    if value is None:
        return _new_user()
    return {**value, "cart": dict(value["cart"]), "sent": dict(value["sent"]), "day": list(value["day"]),
            "trig": list(value["trig"]), "exp": dict(value["exp"]), APPLIED: dict(value[APPLIED])}


def user_applied(store: Store, user: str, source: str, offset: int) -> bool:
    """Whether the user's marketing key has already applied the event at ``(source, offset)``."""
    return already_applied(store.get(USER + user), source, position(offset))


def _begin(store: Store, user: str, source: str, pos: int) -> dict[str, Any] | None:
    """A changeable copy of the user's value, or None when ``(source, pos)`` is already applied."""
    value = store.get(USER + user)
    if already_applied(value, source, pos):
        return None
    return _copy_user(value)


def _commit(store: Store, user: str, state: dict[str, Any], source: str | None = None, pos: int = 0) -> None:
    if source is not None:
        mark_applied(state, source, pos)
    store[USER + user] = state


def _touch(state: dict[str, Any], ts: int, event_id: str) -> None:
    """Record the user's own action; a late event does not move ``last`` back."""
    if state["last"] is None or ts >= state["last"]:
        state["last"], state["lid"] = ts, event_id
    state["seen"] = max(state["seen"], ts)


def _bump(store: Store, campaign: str, name: str) -> None:
    k = COUNTERS + campaign
    value = dict(store.get(k) or {"t": 0, "tc": 0, "h": 0, "hc": 0})
    value[name] += 1
    store[k] = value


def _decide(state: dict[str, Any], out: _Out, user: str, campaign: str, cause_id: str, ts: int, reason: str,
            payload: dict[str, str], items: Sequence[str], cfg: MarketingConfig) -> None:
    """Apply the caps, then the holdout; record the send in ``state`` and the decision in ``out``."""
    last = state["sent"].get(campaign)
    if last is not None and abs(ts - last) < cfg.campaign_interval_ms:
        out.suppressed.append((campaign, FREQUENCY_CAP))
        return
    day, count = state["day"]
    today = max(ts // _DAY, day)  # a late event counts towards the newest day seen
    if today == day and count >= cfg.max_per_day:
        out.suppressed.append((campaign, FREQUENCY_CAP))
        return
    state["day"] = [today, count + 1 if today == day else 1]
    state["sent"][campaign] = ts if last is None else max(last, ts)
    state["seen"] = max(state["seen"], ts)
    held = in_holdout(user, campaign, cfg)
    trigger_id = f"{campaign}:{cause_id}:{user}"
    trig = state["trig"]
    trig.append([trigger_id, campaign, list(items), ts, held])
    if len(trig) > cfg.max_recent_triggers:
        del trig[: len(trig) - cfg.max_recent_triggers]
    exp = state["exp"].get(campaign)
    if exp is None:
        out.bumps.append((campaign, "h" if held else "t"))
        state["exp"][campaign] = [held, False, ts]
    else:
        state["exp"][campaign] = [exp[0], exp[1], max(exp[2], ts)]
    decision = TriggerDecision(trigger_id, user, campaign, reason, payload, cfg.channels[campaign], held, ts)
    if held:
        out.held.append(decision)
        out.suppressed.append((campaign, HOLDOUT))
    else:
        out.sent.append(decision)


def _add_interest(store: Store, user: str, item: str, ts: int, source: str, pos: int, cfg: MarketingConfig) -> bool:
    k = INTEREST + item
    value = store.get(k)
    if already_applied(value, source, pos):
        return False
    users = dict(value["u"]) if value else {}
    users[user] = max(ts, users.pop(user, ts))  # re-insert: dict order is recency of the last write
    if len(users) > cfg.max_interested:
        del users[min(users, key=lambda u: (users[u], u))]
    store[k] = {"u": users, APPLIED: {**(value[APPLIED] if value else {}), source: pos}}
    return True


def _drop_interest(store: Store, user: str, item: str, source: str, pos: int) -> None:
    k = INTEREST + item
    value = store.get(k)
    if value is None or user not in value["u"] or already_applied(value, source, pos):
        return
    users = {u: t for u, t in value["u"].items() if u != user}
    store[k] = {"u": users, APPLIED: {**value[APPLIED], source: pos}}


def _interested_users(store: Store, item: str, ts: int, cfg: MarketingConfig) -> list[str]:
    """Users whose latest interest in ``item`` is at most ``interest_ttl_ms`` before ``ts``."""
    value = store.get(INTEREST + item)
    return [u for u, t in value["u"].items() if 0 <= ts - t <= cfg.interest_ttl_ms] if value else []


def on_interest(store: Store, user: str, item: str, ts: int, event_id: str, source: str, offset: int,
                cfg: MarketingConfig) -> bool:
    """A view or wishlist (or cart add): ``user`` becomes a price-drop and social-proof target for ``item``.

    Also records the action as activity. False when both keys had already applied ``(source, offset)``.
    """
    pos = position(offset)
    added = _add_interest(store, user, item, ts, source, pos, cfg)
    state = _begin(store, user, source, pos)
    if state is None:
        return added
    _touch(state, ts, event_id)
    _commit(store, user, state, source, pos)
    return True


def on_cart(store: Store, user: str, item: str, ts: int, event_id: str, source: str, offset: int,
            cfg: MarketingConfig) -> bool:
    """Put ``item`` in the user's open cart (beyond ``max_cart_items`` the oldest leaves); also an interest."""
    pos = position(offset)
    added = _add_interest(store, user, item, ts, source, pos, cfg)
    state = _begin(store, user, source, pos)
    if state is None:
        return added
    cart = state["cart"]
    cart.pop(item, None)
    cart[item] = [ts, event_id, False]
    if len(cart) > cfg.max_cart_items:
        del cart[min(cart, key=lambda i: (cart[i][0], i))]
    _touch(state, ts, event_id)
    _commit(store, user, state, source, pos)
    return True


def on_cart_removed(store: Store, user: str, item: str, ts: int, event_id: str, source: str, offset: int,
                    cfg: MarketingConfig) -> bool:
    """Take ``item`` out of the open cart; False when already applied."""
    pos = position(offset)
    state = _begin(store, user, source, pos)
    if state is None:
        return False
    state["cart"].pop(item, None)
    _touch(state, ts, event_id)
    _commit(store, user, state, source, pos)
    return True


def _merge_lines(lines: Iterable[tuple[str, int, float]]) -> dict[str, float]:
    revenue: dict[str, float] = {}
    for item, quantity, unit_price in lines:
        revenue[item] = revenue.get(item, 0.0) + quantity * unit_price
    return revenue


def attribute(store: Store, user: str, order_id: str, lines: Sequence[tuple[str, int, float]], ts: int,
              recent_recommendations: Sequence[tuple[str, Sequence[tuple[str, str]], int]] | None,
              cfg: MarketingConfig) -> list[Attribution]:
    """Credit each purchased item (lines are ``(item, quantity, unit_price)``) to a touchpoint; read-only.

    The latest delivered (not held-out) trigger for ``user`` whose items include the item, sent within
    ``attribution_window_ms`` before ``ts``; else the latest such recommendation ``(rec_id, [(item, source)],
    ts)``; else nothing for that item. Ties on time go to the later entry. One result per distinct item, in
    order of first appearance; revenue sums the item's lines.
    """
    value = store.get(USER + user)
    triggers = value["trig"] if value else []
    recs = recent_recommendations or ()
    out: list[Attribution] = []
    for item, revenue in _merge_lines(lines).items():
        best_t = None
        for t in triggers:
            if not t[4] and item in t[2] and 0 <= ts - t[3] <= cfg.attribution_window_ms and (
                    best_t is None or t[3] >= best_t[3]):
                best_t = t
        if best_t is not None:
            out.append(Attribution(f"{order_id}:{item}", "trigger", best_t[0], best_t[1], None, revenue,
                                   ts - best_t[3]))
            continue
        best_r: tuple[str, str, int] | None = None
        for rec_id, rec_items, rec_ts in recs:
            if not 0 <= ts - rec_ts <= cfg.attribution_window_ms or (best_r is not None and rec_ts < best_r[2]):
                continue
            src = next((s for i, s in rec_items if i == item), None)
            if src is not None:
                best_r = (rec_id, src, rec_ts)
        if best_r is not None:
            out.append(Attribution(f"{order_id}:{item}", "recommendation", best_r[0], None, best_r[1], revenue,
                                   ts - best_r[2]))
    return out


def on_purchase(store: Store, user: str, order_id: str, lines: Sequence[tuple[str, int, float]], ts: int,
                source: str, offset: int, cfg: MarketingConfig,
                recent_recommendations: Sequence[tuple[str, Sequence[tuple[str, str]], int]] | None = None,
                ) -> list[Attribution]:
    """An order: closes the whole cart (items left in it were left deliberately), counts the order, marks
    the user converted for every campaign that reached them within the attribution window, drops the user
    from the bought items' interest lists, and returns ``attribute(...)``; ``[]`` when already applied.
    """
    pos = position(offset)
    state = _begin(store, user, source, pos)
    if state is None:
        return []
    attributions = attribute(store, user, order_id, lines, ts, recent_recommendations, cfg)
    out = _Out()
    state["cart"] = {}
    state["nb"] += 1
    _touch(state, ts, order_id)
    for campaign, (held, converted, exposed) in sorted(state["exp"].items()):
        if not converted and 0 <= ts - exposed <= cfg.attribution_window_ms:
            state["exp"][campaign] = [held, True, exposed]
            out.bumps.append((campaign, "hc" if held else "tc"))
    _commit(store, user, state, source, pos)
    out.finish(store)
    for item, _, _ in lines:
        _drop_interest(store, user, item, source, pos)
    return attributions


def on_review(store: Store, user: str, item: str, stars: int | None, text: str, language: str, ts: int,
              event_id: str, source: str, offset: int, cfg: MarketingConfig) -> Decisions:
    """negative_review_recovery when ``stars <= negative_stars`` or ``sentiment(text, language)`` is below
    ``negative_sentiment``; the payload suggests a coupon (larger for 1 star)."""
    pos = position(offset)
    state = _begin(store, user, source, pos)
    if state is None:
        return Decisions()
    out = _Out()
    _touch(state, ts, event_id)
    score = sentiment(text, language) if text else 0.0
    low_stars = stars is not None and stars <= cfg.negative_stars
    if low_stars or score < cfg.negative_sentiment:
        coupon = cfg.severe_coupon_pct if stars is not None and stars <= 1 else cfg.coupon_pct
        why = f"{stars}-star review" if low_stars else f"negative review text (sentiment {score:.2f})"
        payload = {"item": item, "stars": "" if stars is None else str(stars), "sentiment": f"{score:.2f}",
                   "coupon_pct": str(coupon)}
        _decide(state, out, user, NEGATIVE_REVIEW, event_id, ts, f"{why} of {item}; offer {coupon}% off",
                payload, [item], cfg)
    _commit(store, user, state, source, pos)
    return out.finish(store)


def on_price_change(store: Store, item: str, old_price: float, new_price: float, ts: int, event_id: str,
                    source: str, offset: int, cfg: MarketingConfig,
                    interested_users: Iterable[str] | None = None) -> Decisions:
    """price_drop to each user interested in ``item`` (``mk:int:<item>`` within ``interest_ttl_ms``, or the
    given users) when the price fell by at least ``price_drop_min_pct`` percent."""
    if old_price <= 0 or new_price >= old_price:
        return Decisions()
    drop_pct = 100.0 * (old_price - new_price) / old_price
    if drop_pct < cfg.price_drop_min_pct:
        return Decisions()
    if interested_users is None:
        interested_users = _interested_users(store, item, ts, cfg)
    pos = position(offset)
    out = _Out()
    payload = {"item": item, "old_price": str(old_price), "new_price": str(new_price), "drop_pct": f"{drop_pct:.1f}"}
    reason = f"price of {item} fell {drop_pct:.1f}% ({old_price} -> {new_price})"
    for user in sorted(set(interested_users)):
        state = _begin(store, user, source, pos)
        if state is None:
            continue
        _decide(state, out, user, PRICE_DROP, event_id, ts, reason, dict(payload), [item], cfg)
        _commit(store, user, state, source, pos)
    return out.finish(store)


def on_social_proof(store: Store, user: str, item: str, followees_who_bought: int, ts: int, event_id: str,
                    source: str, offset: int, cfg: MarketingConfig) -> Decisions:
    """social_proof when at least ``social_proof_min_friends`` followees bought an item ``user`` showed
    interest in; other calls write nothing."""
    if followees_who_bought < cfg.social_proof_min_friends or user not in _interested_users(store, item, ts, cfg):
        return Decisions()
    pos = position(offset)
    state = _begin(store, user, source, pos)
    if state is None:
        return Decisions()
    out = _Out()
    payload = {"item": item, "followees": str(followees_who_bought)}
    _decide(state, out, user, SOCIAL_PROOF, event_id, ts, f"{followees_who_bought} people you follow bought {item}",
            payload, [item], cfg)
    _commit(store, user, state, source, pos)
    return out.finish(store)


def _due(state: dict[str, Any], out: _Out, user: str, now: int, cfg: MarketingConfig) -> bool:
    """Fire the time-based campaigns due at ``now``; True when ``state`` changed."""
    changed = False
    cart = state["cart"]
    if cart and not all(e[2] for e in cart.values()):
        latest = max(cart, key=lambda i: (cart[i][0], i))
        added, cause = cart[latest][0], cart[latest][1]
        if now - added >= cfg.cart_abandon_after_ms:
            items = list(cart)
            reason = f"{len(items)} item(s) left in the cart for {(now - added) // _MINUTE} min"
            _decide(state, out, user, CART_ABANDONMENT, cause, now, reason,
                    {"items": ",".join(items), "cart_ts": str(added)}, items, cfg)
            state["cart"] = {i: [e[0], e[1], True] for i, e in cart.items()}
            changed = True
    last = state["last"]
    if (last is not None and state["nb"] >= cfg.churn_min_purchases and now - last >= cfg.churn_after_ms
            and state["churn"] != last):
        days = (now - last) // _DAY
        _decide(state, out, user, CHURN_RISK, state["lid"], now, f"no activity for {days} days after {state['nb']} "
                f"orders", {"days_inactive": str(days), "orders": str(state["nb"])}, [], cfg)
        state["churn"] = last
        changed = True
    return changed


def _tick(store: Store, user: str, now_ts: int, out: _Out, cfg: MarketingConfig) -> None:
    value = store.get(USER + user)
    if value is None:
        return
    state = _copy_user(value)
    if _due(state, out, user, now_ts, cfg):
        _commit(store, user, state)


def tick(store: Store, user: str, now_ts: int, cfg: MarketingConfig) -> Decisions:
    """Time-based campaigns for one user at event time ``now_ts``; call it after the handler of each of the
    user's events. Trigger ids come from the causing event (the latest cart add, the last action before the
    silence), so ``tick`` and ``sweep`` name the same trigger alike."""
    out = _Out()
    _tick(store, user, now_ts, out, cfg)
    return out.finish(store)


def sweep(store: Store, users: Iterable[str] | None, now_ts: int, cfg: MarketingConfig) -> Decisions:
    """``tick`` for ``users`` (None: every ``mk:u:`` key, a scan: run it at batch end or on a timer) with
    ``now_ts`` the highest event time seen on the partition."""
    if users is None:
        users = [k[len(USER):] for k in store if k.startswith(USER)]
    out = _Out()
    for user in sorted(set(users)):
        _tick(store, user, now_ts, out, cfg)
    return out.finish(store)


def expire(store: Store, now_ts: int, cfg: MarketingConfig) -> int:
    """Drop users idle over ``user_ttl_ms`` then the least recent over ``max_users``; likewise interest lists
    (``interest_ttl_ms``, ``max_items``). A scan: run it on a timer. Returns the number of keys removed."""
    removed = 0
    for prefix, ttl, cap, newest in ((USER, cfg.user_ttl_ms, cfg.max_users, lambda v: v["seen"]),
                                     (INTEREST, cfg.interest_ttl_ms, cfg.max_items,
                                      lambda v: max(v["u"].values(), default=-1))):
        ages = sorted((newest(store[k]), k) for k in [k for k in store if k.startswith(prefix)])
        fresh = [(t, k) for t, k in ages if now_ts - t <= ttl]
        drop = [k for t, k in ages if now_ts - t > ttl] + [k for _, k in fresh[: max(0, len(fresh) - cap)]]
        for k in drop:
            del store[k]
        removed += len(drop)
    return removed


def pooled_uplift(stores: Iterable[Store], campaign: str) -> float | None:
    """:func:`uplift`'s ratio with the counters of several partitions' stores added up; None until both
    groups have users and the held-out one a conversion."""
    total = {"t": 0, "tc": 0, "h": 0, "hc": 0}
    for store in stores:
        for key, value in (store.get(COUNTERS + campaign) or {}).items():
            total[key] += value
    return _rates(total)[2] if total["t"] else None


def uplift(store: Store, campaign: str) -> tuple[float, float, float | None]:
    """(treated conversion rate, held-out conversion rate, treated / held-out or None when the latter is 0).

    A user counts once per campaign, from their first exposure; converted means an order within
    ``attribution_window_ms`` of their latest exposure. A user dropped by ``expire`` counts again if exposed
    again later.
    """
    return _rates(store.get(COUNTERS + campaign) or {"t": 0, "tc": 0, "h": 0, "hc": 0})


def _rates(c: dict[str, int]) -> tuple[float, float, float | None]:
    treated = c["tc"] / c["t"] if c["t"] else 0.0
    held = c["hc"] / c["h"] if c["h"] else 0.0
    return treated, held, (treated / held if held else None)
