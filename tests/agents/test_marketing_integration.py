"""Marketing triggers and conversions through the real broker and a real worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import (
    WorkerProcess,
    consume_all_of,
    create_all_topics,
    engine_settings,
    internal_topics,
    produce,
    wait_drained,
)

from socialpulse.schemas import (
    Click,
    Conversion,
    Item,
    MarketingTrigger,
    Purchase,
    PurchaseLine,
    Recommendation,
    Review,
)
from socialpulse.streams.settings import Settings

T0 = 1_760_000_000_000
MINUTE = 60_000


def item(item_id: str, price: int, t: int = 0) -> Item:
    return Item(item_id, f"Item {item_id}", ("Shop", "Things"), price, True, T0 + t)


@pytest.fixture
def engine(kafka, tmp_path: Path) -> Iterator[tuple[Settings, WorkerProcess]]:
    settings = engine_settings(kafka.bootstrap, tmp_path / "worker", partitions=1)
    create_all_topics(settings)
    produce(settings, [item("i1", 5000), item("i2", 4000), item("i3", 9000)])
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        yield settings, worker
    finally:
        worker.stop()


def step(settings: Settings, records: list) -> None:
    produce(settings, records)
    wait_drained(settings, extra_topics=internal_topics(settings))


def test_triggers_and_conversions(engine) -> None:
    settings, worker = engine
    step(settings, [
        Click("c1", "mia", "i1", "s", "add_to_cart", T0),
        Review("r1", "ned", "i1", 1, "terrible, broke after a day", "en", T0 + 1000),
        Click("c2", "oli", "i3", "s", "view", T0 + 2000),
        Click("c3", "pam", "i1", "s", "view", T0 + 3000),
    ])
    # mia comes back 31 minutes later without buying: her cart is abandoned.
    step(settings, [Click("c4", "mia", "i2", "s", "view", T0 + 31 * MINUTE)])
    # i3 drops 22%: oli viewed it.
    produce(settings, [item("i3", 7000, t=32 * MINUTE)])
    deadline = time.monotonic() + 30
    while httpx.get(f"{worker.url}/items/i3", timeout=5).json().get("price") != 7000:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # pam buys what she was recommended.
    recs = {r.recommendation_id: r for r in consume_all_of(settings, "recommendations", Recommendation, idle_s=2)}
    pam = recs["rec:c3"]
    assert isinstance(pam, Recommendation)
    bought = pam.items[0].item_id
    step(settings, [Purchase("o1", "pam", (PurchaseLine(bought, 1, 4000),), "USD", T0 + 33 * MINUTE)])
    wait_drained(settings, topics=("clicks", "purchases", "reviews", "social", "items"),
                 extra_topics=internal_topics(settings))

    triggers = {t.trigger_id: t for t in consume_all_of(settings, "marketing-triggers", MarketingTrigger, idle_s=3)}
    assert {"cart_abandonment:c1:mia", "negative_review_recovery:r1:ned", "price_drop:i3@1760001920000:oli"} <= \
        set(triggers), sorted(triggers)
    assert triggers["cart_abandonment:c1:mia"].payload.get("items", "").find("i1") >= 0 or \
        "i1" in triggers["cart_abandonment:c1:mia"].reason
    assert triggers["price_drop:i3@1760001920000:oli"].payload["new_price"].startswith("7000")

    conversions = consume_all_of(settings, "conversions", Conversion, idle_s=3)
    assert [(c.order_id, c.item_id, c.attributed_kind, c.attributed_id) for c in conversions
            ] == [("o1", bought, "recommendation", "rec:c3")]
    assert isinstance(conversions[0], Conversion) and conversions[0].revenue == 4000

    metrics = httpx.get(worker.url + "/metrics", timeout=5).text
    assert 'socialpulse_conversions_total{campaign="none",kind="recommendation"} 1.0' in metrics
