"""One or more example records of every type in the contract, filled to exercise every field kind."""

from __future__ import annotations

from socialpulse.schemas.records import (
    RECORD_TYPES,
    Click,
    ClickSource,
    Conversion,
    DeadLetter,
    Item,
    MarketingTrigger,
    Purchase,
    PurchaseLine,
    Recommendation,
    RecommendedItem,
    Record,
    Review,
    Social,
)

T0 = 1_700_000_000_000

SAMPLES: dict[str, list[Record]] = {
    "Click": [
        Click("c1", "u1", "i1", "s1", "view", T0, ClickSource("feed", None, None), None),
        Click("c2", "u2", "i2", "s2", "add_to_cart", T0 + 1, ClickSource("share", "u9", "rec-1"), "ios"),
    ],
    "Purchase": [
        Purchase("o1", "u1", (PurchaseLine("i1", 2, 1999), PurchaseLine("i2", 1, 50)), "USD", T0),
    ],
    "Review": [
        Review("r1", "u1", "i1", 5, "很好 — great", "zh", T0),
        Review("r2", "u2", "i1", 1, "", "en", T0),
    ],
    "Social": [
        Social("s1", "follow", "u1", T0, target_user_id="u2"),
        Social("s2", "share", "u1", T0, target_user_id=None, target_item_id="i3"),
    ],
    "Item": [
        Item("i1", "Running shoe", ("Fashion", "Shoes", "Running"), 8999, True, T0, "CNY", ("light",), "u7"),
        Item("i2", "Mug", (), 500, False, T0),
    ],
    "Recommendation": [
        Recommendation(
            "rec-1", "u1", "c1",
            (RecommendedItem("i2", 0.9, "item_cf", "viewed with i1"), RecommendedItem("i3", -1.5e-3, "popular", "")),
            T0, T0 + 5, {"item_cf": "v3"},
        ),
        Recommendation("rec-2", "u1", "c2", (), T0, T0),
    ],
    "MarketingTrigger": [
        MarketingTrigger("t1", "u1", "cart_abandonment", "left i1 in cart", "push", False, T0, {"item_id": "i1"}),
        MarketingTrigger("t2", "u2", "churn_risk", "inactive 30 days", "email", True, T0),
    ],
    "Conversion": [
        Conversion("o1:i1", "o1", "u1", "i1", "recommendation", "rec-1", 3998, 1200, T0, None, "item_cf"),
        Conversion("o2:i2", "o2", "u2", "i2", "trigger", "t1", 50, 99, T0, "cart_abandonment", None),
    ],
    "DeadLetter": [
        DeadLetter("clicks", 3, 42, "decode_error", "bad_magic: first byte 0xff", T0, b"u1", b"\xff\x00garbage"),
        DeadLetter("reviews", 0, 0, "stars_out_of_range", "stars=9", T0),
    ],
}

assert set(SAMPLES) == set(RECORD_TYPES), "every record type needs samples"

ALL: list[Record] = [record for records in SAMPLES.values() for record in records]
