"""Marketing triggers on hand-made event sequences: exact decisions, caps, holdout, replay, attribution, bounds."""

from __future__ import annotations

import copy
import doctest
import json
import pickle
import random

import pytest

from socialpulse.models import marketing as mk
from socialpulse.models.marketing import (
    Attribution,
    Decisions,
    MarketingConfig,
    TriggerDecision,
    attribute,
    expire,
    in_holdout,
    on_cart,
    on_cart_removed,
    on_interest,
    on_price_change,
    on_purchase,
    on_review,
    on_social_proof,
    sweep,
    tick,
    uplift,
)

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
CFG = MarketingConfig(holdout_pct=0.0)


def sent_ids(d: Decisions) -> list[str]:
    return [x.trigger_id for x in d.sent]


def test_docstring_examples() -> None:
    assert doctest.testmod(mk).failed == 0


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="holdout_pct"):
        MarketingConfig(holdout_pct=120.0)
    with pytest.raises(ValueError, match="max_cart_items"):
        MarketingConfig(max_cart_items=0)
    with pytest.raises(ValueError, match="channels"):
        MarketingConfig(channels={**mk.DEFAULT_CHANNELS, "price_drop": "fax"})


# --- cart abandonment ---------------------------------------------------------------------------------------


def test_cart_abandonment_fires_once_after_the_delay() -> None:
    store: dict = {}
    assert on_cart(store, "u1", "i1", T0, "e1", "clicks", 1, CFG)
    assert on_cart(store, "u1", "i2", T0 + 5 * MIN, "e2", "clicks", 2, CFG)
    assert tick(store, "u1", T0 + 5 * MIN, CFG) == Decisions()
    assert tick(store, "u1", T0 + 34 * MIN, CFG) == Decisions()  # 29 min after the latest add
    d = tick(store, "u1", T0 + 35 * MIN, CFG)
    assert d == Decisions(sent=(TriggerDecision(
        trigger_id="cart_abandonment:e2:u1", user_id="u1", campaign="cart_abandonment",
        reason="2 item(s) left in the cart for 30 min", payload={"items": "i1,i2", "cart_ts": str(T0 + 5 * MIN)},
        channel="push", holdout=False, ts_ms=T0 + 35 * MIN),))
    assert tick(store, "u1", T0 + 2 * HOUR, CFG) == Decisions()
    assert sweep(store, None, T0 + 3 * HOUR, CFG) == Decisions()


def test_cart_abandonment_not_when_bought_or_emptied() -> None:
    store: dict = {}
    on_cart(store, "u1", "i1", T0, "e1", "clicks", 1, CFG)
    on_purchase(store, "u1", "o1", [("i1", 1, 10.0)], T0 + 40 * MIN, "purchases", 1, CFG)
    assert tick(store, "u1", T0 + 40 * MIN, CFG) == Decisions()

    on_cart(store, "u2", "i1", T0, "e2", "clicks", 2, CFG)
    on_cart_removed(store, "u2", "i1", T0 + MIN, "e3", "clicks", 3, CFG)
    assert sweep(store, ["u2"], T0 + HOUR, CFG) == Decisions()


def test_cart_re_add_starts_a_new_episode_and_removal_does_not() -> None:
    store: dict = {}
    on_cart(store, "u1", "i1", T0, "e1", "clicks", 1, CFG)
    on_cart(store, "u1", "i2", T0 + MIN, "e2", "clicks", 2, CFG)
    assert sent_ids(tick(store, "u1", T0 + HOUR, CFG)) == ["cart_abandonment:e2:u1"]
    on_cart_removed(store, "u1", "i2", T0 + 2 * HOUR, "e3", "clicks", 3, CFG)
    assert sweep(store, None, T0 + 2 * DAY, CFG) == Decisions()
    on_cart(store, "u1", "i3", T0 + 2 * DAY, "e4", "clicks", 4, CFG)
    assert sent_ids(sweep(store, None, T0 + 2 * DAY + HOUR, CFG)) == ["cart_abandonment:e4:u1"]


def test_cart_is_bounded() -> None:
    cfg = MarketingConfig(holdout_pct=0.0, max_cart_items=3)
    store: dict = {}
    for n in range(10):
        on_cart(store, "u1", f"i{n}", T0 + n, f"e{n}", "clicks", n, cfg)
    assert list(store["mk:u:u1"]["cart"]) == ["i7", "i8", "i9"]


# --- churn --------------------------------------------------------------------------------------------------


def test_churn_risk_from_sweep_once_per_silence_and_only_for_repeat_buyers() -> None:
    store: dict = {}
    on_purchase(store, "u1", "o1", [("i1", 1, 5.0)], T0, "purchases", 1, CFG)
    on_purchase(store, "u1", "o2", [("i2", 1, 5.0)], T0 + DAY, "purchases", 2, CFG)
    on_interest(store, "u1", "i3", T0 + 2 * DAY, "v1", "clicks", 1, CFG)
    on_purchase(store, "u2", "o3", [("i1", 1, 5.0)], T0 + 2 * DAY, "purchases", 3, CFG)  # one order only
    assert tick(store, "u1", T0 + 2 * DAY, CFG) == Decisions()  # acting now: not churning
    assert sweep(store, None, T0 + 16 * DAY - 1, CFG) == Decisions()
    d = sweep(store, None, T0 + 16 * DAY, CFG)
    assert d == Decisions(sent=(TriggerDecision(
        "churn_risk:v1:u1", "u1", "churn_risk", "no activity for 14 days after 2 orders",
        {"days_inactive": "14", "orders": "2"}, "email", False, T0 + 16 * DAY),))
    assert sweep(store, None, T0 + 30 * DAY, CFG) == Decisions()
    on_interest(store, "u1", "i4", T0 + 31 * DAY, "v2", "clicks", 2, CFG)  # back, then silent again
    assert sent_ids(sweep(store, None, T0 + 45 * DAY, CFG)) == ["churn_risk:v2:u1"]


# --- caps and holdout ---------------------------------------------------------------------------------------


def test_frequency_cap_per_campaign_interval() -> None:
    store: dict = {}
    on_interest(store, "u1", "i1", T0, "v1", "clicks", 1, CFG)
    assert sent_ids(on_price_change(store, "i1", 100, 80, T0 + HOUR, "p1", "prices", 1, CFG)) == [
        "price_drop:p1:u1"]
    d = on_price_change(store, "i1", 80, 60, T0 + 2 * HOUR, "p2", "prices", 2, CFG)
    assert d == Decisions(suppressed=(("price_drop", "frequency_cap"),))
    assert sent_ids(on_price_change(store, "i1", 60, 50, T0 + HOUR + DAY, "p3", "prices", 3, CFG)) == [
        "price_drop:p3:u1"]


def test_frequency_cap_per_day_across_campaigns() -> None:
    cfg = MarketingConfig(holdout_pct=0.0, max_per_day=2)
    store: dict = {}
    day = (T0 // DAY + 1) * DAY  # midnight UTC
    for n, item in enumerate(["i1", "i2", "i3"]):
        on_interest(store, "u1", item, day + n, f"v{n}", "clicks", n, cfg)
    a = on_review(store, "u1", "i1", 1, "", "en", day + HOUR, "r1", "reviews", 1, cfg)
    b = on_price_change(store, "i2", 100, 50, day + 2 * HOUR, "p1", "prices", 1, cfg)
    c = on_social_proof(store, "u1", "i3", 5, day + 3 * HOUR, "s1", "social-signals", 1, cfg)
    assert [len(a.sent), len(b.sent), len(c.sent)] == [1, 1, 0]
    assert c.suppressed == (("social_proof", "frequency_cap"),)
    next_day = on_social_proof(store, "u1", "i3", 5, day + DAY, "s2", "social-signals", 2, cfg)
    assert sent_ids(next_day) == ["social_proof:s2:u1"]


def test_holdout_is_deterministic_and_near_the_percentage() -> None:
    cfg = MarketingConfig(holdout_pct=10.0)
    users = [f"user-{n}" for n in range(10_000)]
    held = [u for u in users if in_holdout(u, "price_drop", cfg)]
    assert held == [u for u in users if in_holdout(u, "price_drop", MarketingConfig(holdout_pct=10.0))]
    assert abs(len(held) / len(users) - 0.10) < 0.015
    other = {u for u in users if in_holdout(u, "social_proof", cfg)}
    assert abs(len(other & set(held)) / len(users) - 0.01) < 0.005  # independent per campaign
    salted = {u for u in users if in_holdout(u, "price_drop", MarketingConfig(holdout_salt="exp2"))}
    assert salted != set(held)
    assert not any(in_holdout(u, "price_drop", MarketingConfig(holdout_pct=0.0)) for u in users)
    assert all(in_holdout(u, "price_drop", MarketingConfig(holdout_pct=100.0)) for u in users)


def test_held_out_decisions_are_logged_count_towards_caps_and_get_no_credit() -> None:
    cfg = MarketingConfig(holdout_pct=100.0)
    store: dict = {}
    on_interest(store, "u1", "i1", T0, "v1", "clicks", 1, cfg)
    d = on_price_change(store, "i1", 100, 80, T0 + HOUR, "p1", "prices", 1, cfg)
    assert d.sent == ()
    assert [(x.trigger_id, x.holdout) for x in d.held_out] == [("price_drop:p1:u1", True)]
    assert d.suppressed == (("price_drop", "holdout"),)
    again = on_price_change(store, "i1", 80, 60, T0 + 2 * HOUR, "p2", "prices", 2, cfg)
    assert again == Decisions(suppressed=(("price_drop", "frequency_cap"),))
    assert attribute(store, "u1", "o1", [("i1", 1, 80.0)], T0 + 3 * HOUR, None, cfg) == []


# --- negative review, price drop, social proof --------------------------------------------------------------


def test_negative_review_for_one_star_and_for_negative_text() -> None:
    store: dict = {}
    d = on_review(store, "u1", "i1", 1, "", "en", T0, "r1", "reviews", 1, CFG)
    assert d.sent == (TriggerDecision(
        "negative_review_recovery:r1:u1", "u1", "negative_review_recovery", "1-star review of i1; offer 15% off",
        {"item": "i1", "stars": "1", "sentiment": "0.00", "coupon_pct": "15"}, "email", False, T0),)
    d = on_review(store, "u2", "i1", 4, "terrible, it broke after a day", "en", T0, "r2", "reviews", 2, CFG)
    assert d.sent[0].payload == {"item": "i1", "stars": "4", "sentiment": "-0.67", "coupon_pct": "10"}
    assert d.sent[0].reason == "negative review text (sentiment -0.67) of i1; offer 10% off"
    assert len(on_review(store, "u3", "i1", None, "质量很差，太失望了", "zh-CN", T0, "r3", "reviews", 3, CFG).sent) == 1
    assert on_review(store, "u4", "i1", 4, "good value, works fine", "en", T0, "r4", "reviews", 4, CFG) == Decisions()
    assert on_review(store, "u5", "i1", 3, "", "en", T0, "r5", "reviews", 5, CFG) == Decisions()
    assert len(on_review(store, "u6", "i1", 2, "", "en", T0, "r6", "reviews", 6, CFG).sent) == 1


def test_price_drop_reaches_interested_users_only_above_the_threshold() -> None:
    store: dict = {}
    on_interest(store, "u1", "i1", T0, "v1", "clicks", 1, CFG)  # view
    on_cart(store, "u2", "i1", T0, "c1", "clicks", 2, CFG)  # cart
    on_interest(store, "u3", "i2", T0, "v2", "clicks", 3, CFG)  # other item
    on_interest(store, "u4", "i1", T0, "v3", "clicks", 4, CFG)
    on_purchase(store, "u4", "o1", [("i1", 1, 100.0)], T0 + MIN, "purchases", 1, CFG)  # bought: not a target
    on_interest(store, "u5", "i1", T0 - 31 * DAY, "v4", "clicks", 5, CFG)  # stale interest
    assert on_price_change(store, "i1", 100, 91, T0 + HOUR, "p1", "prices", 1, CFG) == Decisions()  # 9%
    assert on_price_change(store, "i1", 100, 120, T0 + HOUR, "p2", "prices", 2, CFG) == Decisions()
    d = on_price_change(store, "i1", 100, 90, T0 + HOUR, "p3", "prices", 3, CFG)
    assert sent_ids(d) == ["price_drop:p3:u1", "price_drop:p3:u2"]
    assert d.sent[0].payload == {"item": "i1", "old_price": "100", "new_price": "90", "drop_pct": "10.0"}
    assert d.sent[0].reason == "price of i1 fell 10.0% (100 -> 90)"
    explicit = on_price_change(store, "i2", 50, 25, T0 + HOUR, "p4", "prices", 4, CFG, interested_users=["u9"])
    assert sent_ids(explicit) == ["price_drop:p4:u9"]


def test_interest_list_is_bounded_to_the_most_recent_users() -> None:
    cfg = MarketingConfig(holdout_pct=0.0, max_interested=3)
    store: dict = {}
    for n in range(6):
        on_interest(store, f"u{n}", "i1", T0 + n, f"v{n}", "clicks", n, cfg)
    on_interest(store, "u3", "i1", T0 + 10, "v9", "clicks", 9, cfg)
    assert store["mk:int:i1"]["u"] == {"u4": T0 + 4, "u5": T0 + 5, "u3": T0 + 10}


def test_social_proof_threshold_and_interest() -> None:
    store: dict = {}
    on_interest(store, "u1", "i1", T0, "v1", "clicks", 1, CFG)
    assert on_social_proof(store, "u1", "i1", 1, T0 + MIN, "s1", "social-signals", 1, CFG) == Decisions()
    assert on_social_proof(store, "u2", "i1", 5, T0 + MIN, "s2", "social-signals", 2, CFG) == Decisions()
    d = on_social_proof(store, "u1", "i1", 2, T0 + 2 * MIN, "s3", "social-signals", 3, CFG)
    assert d.sent == (TriggerDecision("social_proof:s3:u1", "u1", "social_proof", "2 people you follow bought i1",
                                      {"item": "i1", "followees": "2"}, "in_app", False, T0 + 2 * MIN),)
    assert "mk:u:u2" not in store  # ineligible calls write nothing
    assert (d + Decisions(suppressed=(("price_drop", "holdout"),))).suppressed == (("price_drop", "holdout"),)


# --- attribution and uplift ---------------------------------------------------------------------------------


def test_attribution_picks_the_latest_trigger_then_the_latest_recommendation() -> None:
    store: dict = {}
    on_interest(store, "u1", "i1", T0, "v1", "clicks", 1, CFG)
    on_interest(store, "u1", "i2", T0, "v2", "clicks", 2, CFG)
    on_price_change(store, "i1", 100, 80, T0 + HOUR, "p1", "prices", 1, CFG)
    on_social_proof(store, "u1", "i1", 3, T0 + 2 * HOUR, "s1", "social-signals", 1, CFG)  # later, same item
    recs = [("rec-1", [("i2", "item_cf"), ("i3", "trending")], T0 + HOUR),
            ("rec-2", [("i2", "social"), ("i1", "popular")], T0 + 3 * HOUR),
            ("rec-old", [("i4", "item_cf")], T0 - 8 * DAY)]
    lines = [("i1", 2, 80.0), ("i2", 1, 15.5), ("i1", 1, 80.0), ("i3", 1, 9.0), ("i4", 1, 1.0), ("i5", 1, 2.0)]
    ts = T0 + 5 * HOUR
    got = on_purchase(store, "u1", "o9", lines, ts, "purchases", 1, CFG, recent_recommendations=recs)
    assert got == [
        Attribution("o9:i1", "trigger", "social_proof:s1:u1", "social_proof", None, 240.0, 3 * HOUR),
        Attribution("o9:i2", "recommendation", "rec-2", None, "social", 15.5, 2 * HOUR),
        Attribution("o9:i3", "recommendation", "rec-1", None, "trending", 9.0, 4 * HOUR),
    ]
    later = T0 + 2 * HOUR + 7 * DAY + 1  # both triggers outside the window, rec-2 still inside
    assert attribute(store, "u1", "o10", [("i1", 1, 80.0)], later, recs, CFG) == [
        Attribution("o10:i1", "recommendation", "rec-2", None, "popular", 80.0, later - (T0 + 3 * HOUR))]
    assert attribute(store, "u1", "o11", [("i1", 1, 80.0)], T0 + 3 * HOUR + 7 * DAY + 1, recs, CFG) == []


def test_uplift_counts_each_user_once_per_campaign() -> None:
    cfg = MarketingConfig(holdout_pct=50.0)
    store: dict = {}
    users = [f"u{n}" for n in range(40)]
    for n, u in enumerate(users):
        on_interest(store, u, "i1", T0, f"v{n}", "clicks", n, cfg)
    d = on_price_change(store, "i1", 100, 50, T0 + HOUR, "p1", "prices", 1, cfg)
    treated = [x.user_id for x in d.sent]
    held = [x.user_id for x in d.held_out]
    assert sorted(treated + held) == sorted(users) and treated and held
    buyers = treated[:3] + held[:1]
    for n, u in enumerate(buyers):
        on_purchase(store, u, f"o{n}", [("i1", 1, 50.0)], T0 + 2 * HOUR, "purchases", n, cfg)
        on_purchase(store, u, f"o{n}b", [("i9", 1, 5.0)], T0 + 3 * HOUR, "purchases", 100 + n, cfg)  # counted once
    on_purchase(store, treated[-1], "late", [("i1", 1, 50.0)], T0 + HOUR + 8 * DAY, "purchases", 500, cfg)
    assert store["mk:c:price_drop"] == {"t": len(treated), "tc": 3, "h": len(held), "hc": 1}
    t_rate, h_rate, ratio = uplift(store, "price_drop")
    assert (t_rate, h_rate) == (3 / len(treated), 1 / len(held))
    assert ratio == pytest.approx(t_rate / h_rate)
    assert uplift(store, "churn_risk") == (0.0, 0.0, None)


# --- replay, purity, bounds ---------------------------------------------------------------------------------


def _script(store: dict, cfg: MarketingConfig) -> list[Decisions | list | bool]:
    """A mixed sequence of handler calls, ticks and sweeps; returns every result."""
    out: list[Decisions | list | bool] = [
        on_interest(store, "u1", "i1", T0, "v1", "clicks", 1, cfg),
        on_cart(store, "u1", "i2", T0 + MIN, "c1", "clicks", 2, cfg),
        on_cart(store, "u2", "i1", T0 + MIN, "c2", "clicks", 3, cfg),
        on_purchase(store, "u3", "o1", [("i3", 1, 5.0)], T0, "purchases", 1, cfg),
        on_purchase(store, "u3", "o2", [("i3", 1, 5.0)], T0 + MIN, "purchases", 2, cfg),
        on_review(store, "u2", "i9", 1, "", "en", T0 + 2 * MIN, "r1", "reviews", 1, cfg),
        tick(store, "u1", T0 + HOUR, cfg),
        on_price_change(store, "i1", 100, 70, T0 + 2 * HOUR, "p1", "prices", 1, cfg),
        on_social_proof(store, "u1", "i2", 4, T0 + 3 * HOUR, "s1", "social-signals", 1, cfg),
        on_cart_removed(store, "u2", "i1", T0 + 3 * HOUR, "c3", "clicks", 4, cfg),
        on_purchase(store, "u1", "o3", [("i2", 1, 30.0)], T0 + 4 * HOUR, "purchases", 3, cfg,
                    [("rec", [("i2", "item_cf")], T0)]),
        sweep(store, None, T0 + 20 * DAY, cfg),
    ]
    return out


def test_replay_produces_nothing_new_and_leaves_the_store_identical() -> None:
    cfg = MarketingConfig(holdout_pct=30.0)
    store: dict = {}
    first = _script(store, cfg)
    assert any(isinstance(r, Decisions) and (r.sent or r.held_out) for r in first)
    snapshot = pickle.dumps(store)
    again = _script(store, cfg)
    assert all(r in (False, [], Decisions()) for r in again), again
    assert pickle.dumps(store) == snapshot
    json.dumps(store)  # plain values only


def test_calls_never_mutate_stored_values_in_place() -> None:
    store: dict = {}
    _script(store, CFG)
    before = {k: (v, copy.deepcopy(v)) for k, v in store.items()}
    on_cart(store, "u1", "i7", T0 + 21 * DAY, "c9", "clicks", 9, CFG)
    on_price_change(store, "i7", 100, 10, T0 + 21 * DAY + 1, "p9", "prices", 9, CFG)
    sweep(store, None, T0 + 22 * DAY, CFG)
    on_purchase(store, "u1", "o9", [("i7", 1, 10.0)], T0 + 22 * DAY, "purchases", 9, CFG)
    for old, frozen in before.values():
        assert old == frozen


def test_memory_bounded_under_100k_random_events() -> None:
    cfg = MarketingConfig(holdout_pct=10.0, max_cart_items=5, max_interested=20, max_recent_triggers=5,
                          max_users=300, max_items=150, user_ttl_ms=3 * DAY, interest_ttl_ms=3 * DAY)
    rng = random.Random(7)
    store: dict = {}
    ts = T0
    for n in range(100_000):
        ts += rng.randrange(0, 20_000)
        user, item = f"u{rng.randrange(5_000)}", f"i{rng.randrange(2_000)}"
        r = rng.random()
        if r < 0.5:
            on_interest(store, user, item, ts, f"e{n}", "clicks", n, cfg)
        elif r < 0.7:
            on_cart(store, user, item, ts, f"e{n}", "clicks", n, cfg)
        elif r < 0.75:
            on_cart_removed(store, user, item, ts, f"e{n}", "clicks", n, cfg)
        elif r < 0.85:
            on_purchase(store, user, f"o{n}", [(item, 1, 10.0)], ts, "purchases", n, cfg)
        elif r < 0.9:
            on_review(store, user, item, rng.randint(1, 5), "", "en", ts, f"e{n}", "reviews", n, cfg)
        elif r < 0.95:
            on_price_change(store, item, 100, rng.randrange(50, 100), ts, f"e{n}", "prices", n, cfg)
        else:
            on_social_proof(store, user, item, rng.randrange(4), ts, f"e{n}", "social-signals", n, cfg)
        tick(store, user, ts, cfg)
        if n % 5_000 == 4_999:
            sweep(store, None, ts, cfg)
            expire(store, ts, cfg)
            users = [k for k in store if k.startswith("mk:u:")]
            items = [k for k in store if k.startswith("mk:int:")]
            assert len(users) <= cfg.max_users and len(items) <= cfg.max_items
            assert len(store) <= cfg.max_users + cfg.max_items + len(mk.CAMPAIGNS)
    for k, v in store.items():
        if k.startswith("mk:u:"):
            assert len(v["cart"]) <= cfg.max_cart_items and len(v["trig"]) <= cfg.max_recent_triggers
            assert len(v["exp"]) <= len(mk.CAMPAIGNS) and len(v["sent"]) <= len(mk.CAMPAIGNS)
            assert len(v["a"]) <= 5
        elif k.startswith("mk:int:"):
            assert len(v["u"]) <= cfg.max_interested
        else:
            assert k.startswith("mk:c:") and set(v) == {"t", "tc", "h", "hc"}
